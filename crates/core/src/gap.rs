//! Gap codes: the stable reason codes of unmet gate requirements, the `code:subject`
//! keys risk acceptances name, and the findings other checks (lineage, evaluation,
//! retraining) hand the gate. A leaf: it imports nothing from the crate, so every
//! check can depend on it without depending on the gate.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Stable reason codes for unmet requirements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapCode {
    /// A required role has not reviewed this revision.
    MissingReview,
    /// A required role rejected this revision.
    RejectedReview,
    /// A veto role rejected this revision; no risk acceptance can clear it.
    VetoRejection,
    /// A required evidence kind is not attached to this revision.
    MissingEvidence,
    /// Lineage (I6): the bundle names no training run, or one that is not registered.
    LineageUnregisteredRun,
    /// Lineage (I6): the bundle's artifact digest is not the one the run produced.
    LineageArtifactMismatch,
    /// Lineage (I6): the bundle's dataset versions differ from the run's.
    LineageDatasetMismatch,
    /// Lineage (I6): a dataset of the run is not registered or not approved.
    LineageDatasetUnapproved,
    /// Lineage (I6): a dataset of the run is not permitted for the release's intended use.
    LineageDatasetNotPermitted,
    /// Lineage (I6): the release declares no intended use to check datasets against.
    LineageUseUndeclared,
    /// Lineage (I6): a third-party model has no vendor_assurance evidence.
    LineageVendorAssuranceMissing,
    /// Evaluation (I7): the latest eval report has no value for a gated metric.
    EvalMetricMissing,
    /// Evaluation (I7): a gated metric is outside its threshold.
    EvalMetricFailed,
    /// Evaluation (I7): the latest eval report cannot be parsed.
    EvalReportInvalid,
    /// Retraining: no promoted release to retrain is named.
    RetrainBaselineMissing,
    /// Retraining: the intended use differs from the promoted release's.
    RetrainUseChanged,
    /// Retraining: a dataset's classification is outside the promoted revision's.
    RetrainClassificationWidened,
    /// Retraining: a drift metric has no value in the latest eval report.
    RetrainDriftMissing,
    /// Retraining: a drift metric is outside the profile's retrain threshold.
    RetrainDriftExceeded,
}

/// Every gap code, in declaration order.
pub const ALL_GAP_CODES: [GapCode; 19] = [
    GapCode::MissingReview,
    GapCode::RejectedReview,
    GapCode::VetoRejection,
    GapCode::MissingEvidence,
    GapCode::LineageUnregisteredRun,
    GapCode::LineageArtifactMismatch,
    GapCode::LineageDatasetMismatch,
    GapCode::LineageDatasetUnapproved,
    GapCode::LineageDatasetNotPermitted,
    GapCode::LineageUseUndeclared,
    GapCode::LineageVendorAssuranceMissing,
    GapCode::EvalMetricMissing,
    GapCode::EvalMetricFailed,
    GapCode::EvalReportInvalid,
    GapCode::RetrainBaselineMissing,
    GapCode::RetrainUseChanged,
    GapCode::RetrainClassificationWidened,
    GapCode::RetrainDriftMissing,
    GapCode::RetrainDriftExceeded,
];

impl GapCode {
    pub fn as_str(self) -> &'static str {
        match self {
            GapCode::MissingReview => "missing_review",
            GapCode::RejectedReview => "rejected_review",
            GapCode::VetoRejection => "veto_rejection",
            GapCode::MissingEvidence => "missing_evidence",
            GapCode::LineageUnregisteredRun => "lineage_unregistered_run",
            GapCode::LineageArtifactMismatch => "lineage_artifact_mismatch",
            GapCode::LineageDatasetMismatch => "lineage_dataset_mismatch",
            GapCode::LineageDatasetUnapproved => "lineage_dataset_unapproved",
            GapCode::LineageDatasetNotPermitted => "lineage_dataset_not_permitted",
            GapCode::LineageUseUndeclared => "lineage_use_undeclared",
            GapCode::LineageVendorAssuranceMissing => "lineage_vendor_assurance_missing",
            GapCode::EvalMetricMissing => "eval_metric_missing",
            GapCode::EvalMetricFailed => "eval_metric_failed",
            GapCode::EvalReportInvalid => "eval_report_invalid",
            GapCode::RetrainBaselineMissing => "retrain_baseline_missing",
            GapCode::RetrainUseChanged => "retrain_use_changed",
            GapCode::RetrainClassificationWidened => "retrain_classification_widened",
            GapCode::RetrainDriftMissing => "retrain_drift_missing",
            GapCode::RetrainDriftExceeded => "retrain_drift_exceeded",
        }
    }

    /// Whether a decision owner may accept this gap as residual risk.
    ///
    /// Not acceptable: a veto rejection (I2), and every lineage gap that says the
    /// artifact's provenance is unknown or the data was not cleared for this use
    /// (unregistered run, artifact or dataset mismatch, unapproved or not-permitted
    /// dataset, undeclared use). Those are fixed at the source: register the run,
    /// approve the dataset, declare the use, or revise the bundle. Acceptable with a
    /// justification and an expiry: missing or rejected non-veto reviews, missing
    /// evidence, missing vendor assurance, and evaluation gaps (a missing or failing
    /// metric, an unreadable report). A retrain outside its approved scope (no promoted
    /// baseline, a changed use, a wider data classification) is not acceptable; retrain
    /// drift gaps are, like evaluation gaps.
    pub fn acceptable(self) -> bool {
        !matches!(
            self,
            GapCode::VetoRejection
                | GapCode::LineageUnregisteredRun
                | GapCode::LineageArtifactMismatch
                | GapCode::LineageDatasetMismatch
                | GapCode::LineageDatasetUnapproved
                | GapCode::LineageDatasetNotPermitted
                | GapCode::LineageUseUndeclared
                | GapCode::RetrainBaselineMissing
                | GapCode::RetrainUseChanged
                | GapCode::RetrainClassificationWidened
        )
    }
}

/// A named gap: a code and what it is about (a role or an evidence kind), written
/// `code:subject`, e.g. `missing_review:security`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GapKey {
    pub code: GapCode,
    pub subject: String,
}

impl fmt::Display for GapKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.code.as_str(), self.subject)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("gap must be written code:subject with a known gap code (e.g. missing_review, missing_evidence, eval_metric_failed); got {got:?}")]
pub struct GapKeyParseError {
    pub got: String,
}

impl FromStr for GapKey {
    type Err = GapKeyParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || GapKeyParseError {
            got: s.chars().take(100).collect(),
        };
        let (code, subject) = s.split_once(':').ok_or_else(bad)?;
        let code = ALL_GAP_CODES
            .into_iter()
            .find(|c| c.as_str() == code)
            .ok_or_else(bad)?;
        if subject.is_empty() {
            return Err(bad());
        }
        Ok(GapKey {
            code,
            subject: subject.to_owned(),
        })
    }
}

impl TryFrom<String> for GapKey {
    type Error = GapKeyParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<GapKey> for String {
    fn from(k: GapKey) -> Self {
        k.to_string()
    }
}

/// A gap found by another check (lineage, evaluation) before the gate sums up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub code: GapCode,
    pub subject: String,
    pub detail: String,
}

impl Finding {
    pub fn new(code: GapCode, subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding {
            code,
            subject: subject.into(),
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gap_code_round_trips_through_its_key_and_serde() {
        for code in ALL_GAP_CODES {
            let key: GapKey = format!("{}:x", code.as_str()).parse().unwrap();
            assert_eq!(key.code, code);
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
        }
    }

    #[test]
    fn a_gap_key_needs_a_known_code_and_a_subject() {
        assert!("missing_review".parse::<GapKey>().is_err());
        assert!("missing_review:".parse::<GapKey>().is_err());
        assert!("no_such_code:x".parse::<GapKey>().is_err());
    }
}
