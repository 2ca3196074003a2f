//! The console's charts: SVG rendered on the server with plotters. No script and no
//! inline style (the CSP forbids both): plotters writes presentation attributes only,
//! and text as `<text>` that the browser lays out (no font is loaded here). Every
//! chart is hidden from screen readers and printed beside a text table that says the
//! same.

use plotters::prelude::*;

/// The palette of the CSS file: met (green), unmet (red), the threshold (ink).
const MET: RGBColor = RGBColor(0x11, 0x63, 0x29);
const UNMET: RGBColor = RGBColor(0xa4, 0x0e, 0x26);
const INK: RGBColor = RGBColor(0x1f, 0x23, 0x28);

/// One metric's value against its threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricBar {
    pub value: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub passes: bool,
}

/// Width and height of one metric's chart, in CSS pixels.
const SIZE: (u32, u32) = (320, 56);

/// The upper end of the axis: room past the value and every threshold.
fn axis_end(m: &MetricBar) -> f64 {
    let top = [Some(m.value), m.min, m.max]
        .into_iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    if top <= 0.0 {
        1.0
    } else if top <= 1.0 && m.value >= 0.0 {
        // Ratios (accuracy, toxicity, rates) read best on their own 0–1 scale when
        // the threshold is not tiny; a tiny one gets a zoomed axis.
        if top < 0.1 {
            top * 1.5
        } else {
            1.0
        }
    } else {
        top * 1.25
    }
}

/// A horizontal bar for the value (green when it passes, red when not) with a line
/// at each threshold. `None` for a value that cannot be drawn (not finite, negative).
pub fn metric_svg(m: &MetricBar) -> Option<String> {
    if !m.value.is_finite() || m.value < 0.0 {
        return None;
    }
    let end = axis_end(m);
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin_left(6)
            .margin_right(14)
            .margin_top(4)
            .x_label_area_size(20)
            .build_cartesian_2d(0.0..end, 0.0..1.0)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .disable_x_mesh()
            .x_labels(5)
            .x_label_style(("sans-serif", 11).into_font().color(&INK))
            .axis_style(INK)
            .draw()?;
        let color = if m.passes { MET } else { UNMET };
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, 0.25), (m.value.min(end), 0.75)],
            color.filled(),
        )))?;
        for t in [m.min, m.max].into_iter().flatten() {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(t, 0.05), (t, 0.95)],
                INK.stroke_width(2),
            )))?;
        }
        root.present()?;
        Ok(())
    })();
    drawn.ok()?;
    // The table beside says the same in words.
    Some(svg.replacen("<svg ", "<svg aria-hidden=\"true\" focusable=\"false\" ", 1))
}

/// One box of the lineage graph: what it is, and whether the gate is content with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub label: String,
    /// The state in a word or two (`approved`, `not approved`, …).
    pub state: String,
    pub ok: bool,
}

/// Node size and the gaps between columns, in CSS pixels.
const NODE: (i32, i32) = (230, 46);
const COLUMN_GAP: i32 = 40;
const ROW_GAP: i32 = 10;

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// The lineage graph, left to right: datasets → training run → artifact, each box
/// outlined green when the gate is content with it and red when not, with its state.
pub fn lineage_svg(datasets: &[Node], run: &Node, artifact: &Node) -> Option<String> {
    let rows = i32::try_from(datasets.len().max(1)).ok()?;
    let height = rows * (NODE.1 + ROW_GAP) + ROW_GAP;
    let width = 3 * NODE.0 + 2 * COLUMN_GAP + 2 * ROW_GAP;
    let x = |col: i32| ROW_GAP + col * (NODE.0 + COLUMN_GAP);
    let mid = height / 2 - NODE.1 / 2;
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root =
            SVGBackend::with_string(&mut svg, (u32::try_from(width)?, u32::try_from(height)?))
                .into_drawing_area();
        root.fill(&WHITE)?;
        let label = ("sans-serif", 13).into_font().color(&INK);
        let state_font = |ok: bool| {
            ("sans-serif", 12)
                .into_font()
                .color(if ok { &MET } else { &UNMET })
        };
        let boxed = |n: &Node, x0: i32, y0: i32| -> Result<(), Box<dyn std::error::Error + '_>> {
            let color = if n.ok { MET } else { UNMET };
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + NODE.0, y0 + NODE.1)],
                WHITE.filled(),
            ))?;
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + NODE.0, y0 + NODE.1)],
                color.stroke_width(2),
            ))?;
            root.draw(&Text::new(
                clip(&n.label, 30),
                (x0 + 8, y0 + 8),
                label.clone(),
            ))?;
            let mark = if n.ok { "✓" } else { "✕" };
            root.draw(&Text::new(
                format!("{mark} {}", clip(&n.state, 30)),
                (x0 + 8, y0 + 26),
                state_font(n.ok),
            ))?;
            Ok(())
        };
        let arrow =
            |from: (i32, i32), to: (i32, i32)| -> Result<(), Box<dyn std::error::Error + '_>> {
                root.draw(&PathElement::new(
                    vec![from, (to.0 - 6, to.1)],
                    INK.stroke_width(1),
                ))?;
                root.draw(&Polygon::new(
                    vec![(to.0, to.1), (to.0 - 7, to.1 - 4), (to.0 - 7, to.1 + 4)],
                    INK.filled(),
                ))?;
                Ok(())
            };
        let run_in = (x(1), mid + NODE.1 / 2);
        for (i, d) in (0..).zip(datasets) {
            let y0 = ROW_GAP + i * (NODE.1 + ROW_GAP);
            boxed(d, x(0), y0)?;
            arrow((x(0) + NODE.0, y0 + NODE.1 / 2), run_in)?;
        }
        boxed(run, x(1), mid)?;
        arrow((x(1) + NODE.0, mid + NODE.1 / 2), (x(2), mid + NODE.1 / 2))?;
        boxed(artifact, x(2), mid)?;
        root.present()?;
        Ok(())
    })();
    drawn.ok()?;
    Some(svg.replacen("<svg ", "<svg aria-hidden=\"true\" focusable=\"false\" ", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_metric_is_a_green_bar_with_its_threshold_line() {
        let svg = metric_svg(&MetricBar {
            value: 0.94,
            min: Some(0.9),
            max: None,
            passes: true,
        })
        .unwrap();
        assert!(svg.starts_with("<svg aria-hidden=\"true\""), "{svg}");
        assert!(svg.contains("#116329"), "the bar is green: {svg}");
        assert!(!svg.contains("#A40E26") && !svg.contains("#a40e26"));
        assert!(svg.contains("<polyline") || svg.contains("<path") || svg.contains("<line"));
        assert!(!svg.contains("style="), "no inline style (CSP): {svg}");
        assert!(!svg.contains("<script"));
    }

    #[test]
    fn a_failing_metric_is_red_and_nonsense_values_are_not_drawn() {
        let svg = metric_svg(&MetricBar {
            value: 0.05,
            min: None,
            max: Some(0.01),
            passes: false,
        })
        .unwrap();
        assert!(svg.to_lowercase().contains("#a40e26"), "{svg}");
        for v in [f64::NAN, f64::INFINITY, -1.0] {
            let m = MetricBar {
                value: v,
                min: Some(0.9),
                max: None,
                passes: false,
            };
            assert!(metric_svg(&m).is_none());
        }
    }

    #[test]
    fn the_lineage_graph_draws_every_node_with_its_state() {
        let n = |label: &str, state: &str, ok| Node {
            label: label.into(),
            state: state.into(),
            ok,
        };
        let svg = lineage_svg(
            &[
                n("tickets@2026-10", "approved", true),
                n("chats@1", "not approved", false),
            ],
            &n("run-7", "registered", true),
            &n("sha256:ab12", "produced by run-7", true),
        )
        .unwrap();
        for text in [
            "tickets@2026-10",
            "✕ not approved",
            "run-7",
            "✓ produced by run-7",
        ] {
            assert!(svg.contains(text), "{text} missing: {svg}");
        }
        assert!(
            svg.to_lowercase().contains("#a40e26"),
            "the unapproved dataset is red"
        );
        assert!(!svg.contains("style="), "no inline style (CSP)");
        assert_eq!(clip("abcdef", 4), "abc…");
    }

    #[test]
    fn the_axis_leaves_room_for_the_value_and_the_thresholds() {
        let m = |value, min, max| MetricBar {
            value,
            min,
            max,
            passes: true,
        };
        assert_eq!(axis_end(&m(0.94, Some(0.9), None)), 1.0);
        assert!((axis_end(&m(0.002, None, Some(0.01))) - 0.015).abs() < 1e-9);
        assert_eq!(axis_end(&m(120.0, None, Some(200.0))), 250.0);
        assert_eq!(axis_end(&m(0.0, None, None)), 1.0);
    }
}
