//! Evaluation gates (I7): per-tier thresholds on named metrics, eval report parsing
//! (pure: bytes in), and the comparison that turns a report into gate findings.
//!
//! Two report formats are accepted (see `docs/formats.md`):
//!
//! * countersign's own JSON: `{"format": "countersign.eval/v1", "run_id": "...",
//!   "results": [{"metric": "accuracy", "value": 0.93, "dataset": "...", "slice": "..."}]}`
//! * a CycloneDX 1.6 ML-BOM: every `components[].modelCard.quantitativeAnalysis
//!   .performanceMetrics[]` entry (`type` is the metric, `value` a number or a
//!   numeric string, `slice` optional).
//!
//! A metric reported for several slices must pass on every slice (the worst one decides).

use crate::gap::{Finding, GapCode};
use serde::{Deserialize, Serialize};

/// How a parsed CycloneDX ML-BOM report is labelled.
pub const CYCLONEDX_FORMAT: &str = "cyclonedx";

/// The evidence kind that carries eval reports.
pub const EVAL_EVIDENCE: &str = "eval_report";

/// The identifier of countersign's own eval report format.
pub const EVAL_FORMAT: &str = "countersign.eval/v1";

/// One threshold of a tier: the metric must be at least `min` and/or at most `max`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalGate {
    pub metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl EvalGate {
    /// Checks the gate's own shape; the reason is written for a profile error.
    pub fn validate(&self) -> Result<(), String> {
        if self.min.is_none() && self.max.is_none() {
            return Err(format!("metric {:?} needs min, max or both", self.metric));
        }
        for v in [self.min, self.max].into_iter().flatten() {
            if !v.is_finite() {
                return Err(format!(
                    "metric {:?} has a threshold that is not a finite number",
                    self.metric
                ));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min, self.max) {
            if lo > hi {
                return Err(format!(
                    "metric {:?} has min {lo} above max {hi}",
                    self.metric
                ));
            }
        }
        Ok(())
    }

    /// Whether `value` passes this gate.
    pub fn passes(&self, value: f64) -> bool {
        value.is_finite()
            && self.min.is_none_or(|lo| value >= lo)
            && self.max.is_none_or(|hi| value <= hi)
    }

    /// The threshold as text, e.g. `>= 0.9` or `>= 0.1 and <= 0.2`.
    pub fn describe(&self) -> String {
        match (self.min, self.max) {
            (Some(lo), Some(hi)) => format!(">= {lo} and <= {hi}"),
            (Some(lo), None) => format!(">= {lo}"),
            (None, Some(hi)) => format!("<= {hi}"),
            (None, None) => "any value".to_owned(),
        }
    }
}

/// One measured value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricResult {
    pub metric: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<String>,
}

/// A parsed eval report.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalReport {
    /// [`EVAL_FORMAT`] or [`CYCLONEDX_FORMAT`].
    pub format: &'static str,
    pub run_id: Option<String>,
    pub results: Vec<MetricResult>,
}

/// Why an eval report could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("eval report is not readable: {reason}")]
pub struct EvalReportError {
    pub reason: String,
}

fn bad(reason: impl Into<String>) -> EvalReportError {
    EvalReportError {
        reason: reason.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeReport {
    format: String,
    #[serde(default)]
    run_id: Option<String>,
    results: Vec<NativeResult>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NativeResult {
    metric: String,
    value: f64,
    #[serde(default)]
    dataset: Option<String>,
    #[serde(default)]
    slice: Option<String>,
}

/// Parses an eval report in either accepted format.
pub fn parse_report(bytes: &[u8]) -> Result<EvalReport, EvalReportError> {
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON ({e})")))?;
    if doc.get("bomFormat").and_then(|v| v.as_str()) == Some("CycloneDX") {
        return parse_cyclonedx(&doc);
    }
    let native: NativeReport = serde_json::from_value(doc).map_err(|e| {
        bad(format!(
            "neither a {EVAL_FORMAT} report nor a CycloneDX ML-BOM ({e})"
        ))
    })?;
    if native.format != EVAL_FORMAT {
        return Err(bad(format!(
            "format is {:?}, expected {EVAL_FORMAT:?}",
            native.format
        )));
    }
    let mut results = Vec::new();
    for (i, r) in native.results.into_iter().enumerate() {
        if r.metric.trim().is_empty() {
            return Err(bad(format!("results[{i}].metric is empty")));
        }
        if !r.value.is_finite() {
            return Err(bad(format!("results[{i}].value is not a finite number")));
        }
        results.push(MetricResult {
            metric: r.metric,
            value: r.value,
            dataset: r.dataset,
            slice: r.slice,
        });
    }
    Ok(EvalReport {
        format: EVAL_FORMAT,
        run_id: native.run_id,
        results,
    })
}

fn parse_cyclonedx(doc: &serde_json::Value) -> Result<EvalReport, EvalReportError> {
    let components = doc
        .get("components")
        .and_then(|c| c.as_array())
        .ok_or_else(|| bad("CycloneDX document has no components"))?;
    let mut results = Vec::new();
    for (ci, c) in components.iter().enumerate() {
        let Some(metrics) = c
            .pointer("/modelCard/quantitativeAnalysis/performanceMetrics")
            .and_then(|m| m.as_array())
        else {
            continue;
        };
        for (mi, m) in metrics.iter().enumerate() {
            let at =
                format!("components[{ci}].modelCard.quantitativeAnalysis.performanceMetrics[{mi}]");
            let metric = m
                .get("type")
                .and_then(|t| t.as_str())
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| bad(format!("{at}.type is missing")))?;
            let value = match m.get("value") {
                Some(serde_json::Value::Number(n)) => n.as_f64(),
                Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|v| v.is_finite())
            .ok_or_else(|| bad(format!("{at}.value is not a number")))?;
            results.push(MetricResult {
                metric: metric.to_owned(),
                value,
                dataset: None,
                slice: m.get("slice").and_then(|s| s.as_str()).map(str::to_owned),
            });
        }
    }
    if results.is_empty() {
        return Err(bad(
            "CycloneDX document has no modelCard.quantitativeAnalysis.performanceMetrics",
        ));
    }
    Ok(EvalReport {
        format: CYCLONEDX_FORMAT,
        run_id: None,
        results,
    })
}

/// The latest eval report of a revision, as the gate sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum ReportFact {
    /// No eval report is attached (required evidence reports that separately).
    None,
    Parsed(EvalReport),
    /// The report named `name` could not be parsed.
    Invalid {
        name: String,
        error: EvalReportError,
    },
}

/// Compares the latest report with the tier's gates. A gated metric without a value
/// fails (I7).
pub fn check(gates: &[EvalGate], report: &ReportFact) -> Vec<Finding> {
    if gates.is_empty() {
        return Vec::new();
    }
    let results: &[MetricResult] = match report {
        ReportFact::Parsed(r) => &r.results,
        ReportFact::None => &[],
        ReportFact::Invalid { name, error } => {
            let mut out = vec![Finding::new(
                GapCode::EvalReportInvalid,
                name.clone(),
                error.to_string(),
            )];
            out.extend(gates.iter().map(|g| {
                Finding::new(
                    GapCode::EvalMetricMissing,
                    g.metric.clone(),
                    format!("no readable value for {}", g.metric),
                )
            }));
            return out;
        }
    };
    let mut out = Vec::new();
    for g in gates {
        let values: Vec<&MetricResult> = results.iter().filter(|r| r.metric == g.metric).collect();
        if values.is_empty() {
            out.push(Finding::new(
                GapCode::EvalMetricMissing,
                g.metric.clone(),
                format!(
                    "the eval report has no value for {} (needs {})",
                    g.metric,
                    g.describe()
                ),
            ));
            continue;
        }
        let failing: Vec<String> = values
            .iter()
            .filter(|r| !g.passes(r.value))
            .map(|r| match &r.slice {
                Some(s) => format!("{} on slice {s}", r.value),
                None => r.value.to_string(),
            })
            .collect();
        if !failing.is_empty() {
            out.push(Finding::new(
                GapCode::EvalMetricFailed,
                g.metric.clone(),
                format!(
                    "{} is {}, needs {}",
                    g.metric,
                    failing.join(", "),
                    g.describe()
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates() -> Vec<EvalGate> {
        vec![
            EvalGate {
                metric: "accuracy".into(),
                min: Some(0.9),
                max: None,
            },
            EvalGate {
                metric: "toxicity".into(),
                min: None,
                max: Some(0.01),
            },
        ]
    }

    fn codes(f: &[Finding]) -> Vec<String> {
        f.iter()
            .map(|f| format!("{}:{}", f.code.as_str(), f.subject))
            .collect()
    }

    #[test]
    fn i7_passing_metrics_clear() {
        let r = parse_report(
            br#"{"format":"countersign.eval/v1","run_id":"r1","results":[
            {"metric":"accuracy","value":0.93,"dataset":"d@1","slice":"all"},
            {"metric":"toxicity","value":0.001}]}"#,
        )
        .unwrap();
        assert_eq!(r.run_id.as_deref(), Some("r1"));
        assert!(check(&gates(), &ReportFact::Parsed(r)).is_empty());
    }

    #[test]
    fn i7_missing_and_failing_metrics_are_gaps() {
        let r = parse_report(
            br#"{"format":"countersign.eval/v1","results":[
            {"metric":"accuracy","value":0.95,"slice":"en"},
            {"metric":"accuracy","value":0.85,"slice":"de"}]}"#,
        )
        .unwrap();
        let f = check(&gates(), &ReportFact::Parsed(r));
        assert_eq!(
            codes(&f),
            [
                "eval_metric_failed:accuracy",
                "eval_metric_missing:toxicity"
            ]
        );
        assert!(f[0].detail.contains("0.85 on slice de"));
        let none = check(&gates(), &ReportFact::None);
        assert_eq!(
            codes(&none),
            [
                "eval_metric_missing:accuracy",
                "eval_metric_missing:toxicity"
            ]
        );
    }

    #[test]
    fn i7_cyclonedx_performance_metrics_are_read() {
        let r = parse_report(br#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[
            {"type":"machine-learning-model","name":"m","modelCard":{"quantitativeAnalysis":{"performanceMetrics":[
              {"type":"accuracy","value":"0.91","slice":"all"},{"type":"toxicity","value":0.02}]}}}]}"#).unwrap();
        assert_eq!(
            codes(&check(&gates(), &ReportFact::Parsed(r))),
            ["eval_metric_failed:toxicity"]
        );
    }

    #[test]
    fn i7_unreadable_reports_are_refused_with_a_reason() {
        for bytes in [
            &b"eval_report document"[..],
            br#"{"format":"other/v1","results":[]}"#,
            br#"{"format":"countersign.eval/v1","results":[{"metric":"accuracy","value":"high"}]}"#,
            br#"{"bomFormat":"CycloneDX","components":[{"name":"m"}]}"#,
        ] {
            let e = parse_report(bytes).unwrap_err();
            assert!(!e.reason.is_empty());
            let f = check(
                &gates(),
                &ReportFact::Invalid {
                    name: "r.json".into(),
                    error: e,
                },
            );
            assert_eq!(f[0].code, GapCode::EvalReportInvalid);
            assert_eq!(f.len(), 3);
        }
    }

    #[test]
    fn gate_shape_is_validated() {
        assert!(EvalGate {
            metric: "a".into(),
            min: None,
            max: None
        }
        .validate()
        .is_err());
        assert!(EvalGate {
            metric: "a".into(),
            min: Some(0.5),
            max: Some(0.1)
        }
        .validate()
        .is_err());
        assert!(EvalGate {
            metric: "a".into(),
            min: Some(f64::NAN),
            max: None
        }
        .validate()
        .is_err());
        assert!(EvalGate {
            metric: "a".into(),
            min: Some(0.1),
            max: Some(0.5)
        }
        .validate()
        .is_ok());
        let g = EvalGate {
            metric: "a".into(),
            min: Some(0.1),
            max: Some(0.5),
        };
        assert!(g.passes(0.1) && g.passes(0.5) && !g.passes(0.51) && !g.passes(f64::NAN));
    }
}
