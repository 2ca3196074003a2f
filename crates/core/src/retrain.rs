//! Retraining: a `retrain` release names (bundle field `supersedes`) the promoted release
//! it retrains, and stays inside what was approved for it: the same intended use, no
//! dataset classification the promoted revision's datasets did not have, and drift
//! metrics within the profile's `retrain_drift_gates`.
//!
//! Scope gaps (`retrain_baseline_missing`, `retrain_use_changed`,
//! `retrain_classification_widened`) cannot be accepted away: a retrain outside the
//! approved scope is a new model and goes through the gate as one. Drift gaps
//! (`retrain_drift_missing`, `retrain_drift_exceeded`) are acceptable like evaluation gaps.

use crate::eval::{EvalGate, MetricResult, ReportFact};
use crate::gap::{Finding, GapCode};
use crate::release::ReleaseKind;
use std::collections::{BTreeMap, BTreeSet};

/// The promoted release a retrain supersedes, as the check sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Baseline {
    pub release_id: String,
    /// Whether the release is promoted (only a release in production can be retrained).
    pub promoted: bool,
    pub intended_use: Option<String>,
    /// Classifications of the datasets of its promoted revision's training run.
    pub classifications: BTreeSet<String>,
}

/// What the retrain check needs about one revision.
#[derive(Clone, Debug)]
pub struct RetrainInput<'a> {
    pub kind: ReleaseKind,
    /// The bundle's `supersedes`.
    pub supersedes: Option<&'a str>,
    /// The superseded release, when it exists.
    pub baseline: Option<&'a Baseline>,
    pub intended_use: Option<&'a str>,
    /// Classification of each dataset (`name@version`) of this revision's run.
    pub classifications: &'a BTreeMap<String, String>,
    pub drift_gates: &'a [EvalGate],
    pub report: &'a ReportFact,
}

/// Retrain findings for one revision, in a stable order. Nothing unless kind is retrain.
pub fn check(input: &RetrainInput<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    if input.kind != ReleaseKind::Retrain {
        return out;
    }
    let Some(target) = input.supersedes else {
        out.push(Finding::new(
            GapCode::RetrainBaselineMissing,
            "none",
            "a retrain must name the release it supersedes (bundle field supersedes)",
        ));
        return out;
    };
    let Some(base) = input.baseline.filter(|b| b.promoted) else {
        out.push(Finding::new(
            GapCode::RetrainBaselineMissing,
            target,
            format!("release {target} does not exist or is not promoted"),
        ));
        return out;
    };
    if input.intended_use != base.intended_use.as_deref() {
        out.push(Finding::new(
            GapCode::RetrainUseChanged,
            input.intended_use.unwrap_or("none"),
            format!(
                "release {} was approved for {:?}; a retrain may not change the intended use",
                base.release_id,
                base.intended_use.as_deref().unwrap_or("none")
            ),
        ));
    }
    for (key, class) in input.classifications {
        if !base.classifications.contains(class) {
            out.push(Finding::new(
                GapCode::RetrainClassificationWidened,
                key.clone(),
                format!(
                    "dataset {key} is {class}; release {} was approved for data classified {:?}",
                    base.release_id, base.classifications
                ),
            ));
        }
    }
    let results: &[MetricResult] = match input.report {
        ReportFact::Parsed(r) => &r.results,
        _ => &[],
    };
    for g in input.drift_gates {
        let values: Vec<f64> = results
            .iter()
            .filter(|r| r.metric == g.metric)
            .map(|r| r.value)
            .collect();
        if values.is_empty() {
            out.push(Finding::new(
                GapCode::RetrainDriftMissing,
                g.metric.clone(),
                format!(
                    "the eval report has no {} against the promoted revision",
                    g.metric
                ),
            ));
        } else if let Some(bad) = values.iter().find(|v| !g.passes(**v)) {
            out.push(Finding::new(
                GapCode::RetrainDriftExceeded,
                g.metric.clone(),
                format!("{} is {bad}, needs {}", g.metric, g.describe()),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::EvalReport;

    fn keys(f: &[Finding]) -> Vec<String> {
        f.iter()
            .map(|f| format!("{}:{}", f.code.as_str(), f.subject))
            .collect()
    }

    #[test]
    fn retrain_scope_and_drift() {
        let base = Baseline {
            release_id: "rel_1".into(),
            promoted: true,
            intended_use: Some("support".into()),
            classifications: ["internal".to_owned()].into(),
        };
        let gates = [EvalGate {
            metric: "drift_psi".into(),
            min: None,
            max: Some(0.2),
        }];
        let report = ReportFact::Parsed(EvalReport {
            format: crate::eval::EVAL_FORMAT,
            run_id: None,
            results: vec![MetricResult {
                metric: "drift_psi".into(),
                value: 0.1,
                dataset: None,
                slice: None,
            }],
        });
        let ok: BTreeMap<String, String> = [("t@2".to_owned(), "internal".to_owned())].into();
        let input = RetrainInput {
            kind: ReleaseKind::Retrain,
            supersedes: Some("rel_1"),
            baseline: Some(&base),
            intended_use: Some("support"),
            classifications: &ok,
            drift_gates: &gates,
            report: &report,
        };
        assert!(check(&input).is_empty());
        let wide: BTreeMap<String, String> = [("t@2".to_owned(), "pii".to_owned())].into();
        let f = check(&RetrainInput {
            classifications: &wide,
            intended_use: Some("marketing"),
            ..input.clone()
        });
        assert_eq!(
            keys(&f),
            [
                "retrain_use_changed:marketing",
                "retrain_classification_widened:t@2"
            ]
        );
        let high = ReportFact::Parsed(EvalReport {
            format: crate::eval::EVAL_FORMAT,
            run_id: None,
            results: vec![MetricResult {
                metric: "drift_psi".into(),
                value: 0.3,
                dataset: None,
                slice: None,
            }],
        });
        assert_eq!(
            keys(&check(&RetrainInput {
                report: &high,
                ..input.clone()
            })),
            ["retrain_drift_exceeded:drift_psi"]
        );
        assert_eq!(
            keys(&check(&RetrainInput {
                report: &ReportFact::None,
                ..input.clone()
            })),
            ["retrain_drift_missing:drift_psi"]
        );
        assert_eq!(
            keys(&check(&RetrainInput {
                supersedes: None,
                ..input.clone()
            })),
            ["retrain_baseline_missing:none"]
        );
        let draft = Baseline {
            promoted: false,
            ..base.clone()
        };
        assert_eq!(
            keys(&check(&RetrainInput {
                baseline: Some(&draft),
                ..input.clone()
            })),
            ["retrain_baseline_missing:rel_1"]
        );
        assert!(check(&RetrainInput {
            kind: ReleaseKind::Model,
            supersedes: None,
            ..input
        })
        .is_empty());
    }
}
