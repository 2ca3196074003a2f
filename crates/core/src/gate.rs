//! Gate evaluation (I2): what is still unmet on a revision, each with a stable code.

use crate::ids::UserId;
use crate::profile::TierPolicy;
use crate::review::Verdict;
use crate::role::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
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

/// A review as the gate sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewFact {
    pub role: Role,
    pub reviewer: UserId,
    pub verdict: Verdict,
}

/// A risk acceptance as the gate sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptanceFact {
    pub gap: GapKey,
    pub expires_at: DateTime<Utc>,
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

/// Everything the gate needs about one revision.
#[derive(Clone, Debug)]
pub struct GateInput<'a> {
    pub tier: &'a TierPolicy,
    pub reviews: &'a [ReviewFact],
    pub evidence_kinds: &'a BTreeSet<String>,
    pub acceptances: &'a [AcceptanceFact],
    /// Lineage (I6) and evaluation (I7) findings, see [`crate::lineage`] and [`crate::eval`].
    pub findings: &'a [Finding],
    pub now: DateTime<Utc>,
}

/// One gap and whether an unexpired risk acceptance covers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub key: GapKey,
    pub code: GapCode,
    pub subject: String,
    pub detail: String,
    pub acceptable: bool,
    pub accepted: bool,
}

/// The gate's verdict on a revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GateStatus {
    pub tier: String,
    /// Every gap, accepted or not, in a stable order.
    pub gaps: Vec<Gap>,
    /// True when every gap is covered by an acceptance (so `go` may be recorded).
    pub clear: bool,
}

impl GateStatus {
    /// Gaps still blocking a `go`.
    pub fn unmet(&self) -> impl Iterator<Item = &Gap> {
        self.gaps.iter().filter(|g| !g.accepted)
    }
}

/// Evaluates the gate for one revision.
pub fn evaluate(input: &GateInput<'_>) -> GateStatus {
    let mut gaps = Vec::new();
    let tier = input.tier;
    for role in &tier.required_roles {
        let review = input.reviews.iter().find(|r| r.role == *role);
        let (code, detail) = match review {
            None => (GapCode::MissingReview, format!("no {role} review yet")),
            Some(r) if r.verdict.approves() => continue,
            Some(r) if tier.veto_roles.contains(role) => (
                GapCode::VetoRejection,
                format!(
                    "{} rejected as {role}, a veto role of tier {}",
                    r.reviewer, tier.name
                ),
            ),
            Some(r) => (
                GapCode::RejectedReview,
                format!("{} rejected as {role}", r.reviewer),
            ),
        };
        gaps.push((code, role.to_string(), detail));
    }
    for kind in &tier.required_evidence {
        if !input.evidence_kinds.contains(kind) {
            gaps.push((
                GapCode::MissingEvidence,
                kind.clone(),
                format!("no {kind} evidence attached"),
            ));
        }
    }
    for f in input.findings {
        gaps.push((f.code, f.subject.clone(), f.detail.clone()));
    }
    let gaps: Vec<Gap> = gaps
        .into_iter()
        .map(|(code, subject, detail)| {
            let key = GapKey {
                code,
                subject: subject.clone(),
            };
            // INVARIANT: a veto rejection (or another unacceptable gap) is never
            // accepted, whatever was recorded (I2).
            let accepted = code.acceptable()
                && input
                    .acceptances
                    .iter()
                    .any(|a| a.gap == key && a.expires_at > input.now);
            Gap {
                key,
                code,
                subject,
                detail,
                acceptable: code.acceptable(),
                accepted,
            }
        })
        .collect();
    let clear = gaps.iter().all(|g| g.accepted);
    GateStatus {
        tier: tier.name.clone(),
        gaps,
        clear,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tier() -> TierPolicy {
        TierPolicy {
            name: "medium".into(),
            description: String::new(),
            review_deadline_hours: 72,
            required_roles: [Role::Mlops, Role::Security].into(),
            required_evidence: ["threat_model".to_owned()].into(),
            veto_roles: [Role::Security].into(),
            eval_gates: vec![],
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn review(role: Role, verdict: Verdict) -> ReviewFact {
        ReviewFact {
            role,
            reviewer: UserId::from(role.as_str()),
            verdict,
        }
    }

    #[test]
    fn i2_everything_unmet_is_listed_with_codes() {
        let t = tier();
        let s = evaluate(&GateInput {
            tier: &t,
            reviews: &[],
            evidence_kinds: &BTreeSet::new(),
            acceptances: &[],
            findings: &[],
            now: now(),
        });
        let keys: Vec<String> = s.gaps.iter().map(|g| g.key.to_string()).collect();
        assert_eq!(
            keys,
            [
                "missing_review:mlops",
                "missing_review:security",
                "missing_evidence:threat_model"
            ]
        );
        assert!(!s.clear);
    }

    #[test]
    fn i2_accepted_gap_clears_but_expired_acceptance_does_not() {
        let t = tier();
        let reviews = [
            review(Role::Mlops, Verdict::Approve),
            review(Role::Security, Verdict::Approve),
        ];
        let ev = BTreeSet::new();
        let gap: GapKey = "missing_evidence:threat_model".parse().unwrap();
        let live = [AcceptanceFact {
            gap: gap.clone(),
            expires_at: now() + chrono::Duration::days(1),
        }];
        let s = evaluate(&GateInput {
            tier: &t,
            reviews: &reviews,
            evidence_kinds: &ev,
            acceptances: &live,
            findings: &[],
            now: now(),
        });
        assert!(s.clear);
        let expired = [AcceptanceFact {
            gap,
            expires_at: now(),
        }];
        let s = evaluate(&GateInput {
            tier: &t,
            reviews: &reviews,
            evidence_kinds: &ev,
            acceptances: &expired,
            findings: &[],
            now: now(),
        });
        assert!(!s.clear);
    }

    #[test]
    fn i2_veto_rejection_cannot_be_accepted() {
        let t = tier();
        let reviews = [
            review(Role::Mlops, Verdict::Approve),
            review(Role::Security, Verdict::Reject),
        ];
        let ev: BTreeSet<String> = ["threat_model".to_owned()].into();
        let acc = [AcceptanceFact {
            gap: "veto_rejection:security".parse().unwrap(),
            expires_at: now() + chrono::Duration::days(1),
        }];
        let s = evaluate(&GateInput {
            tier: &t,
            reviews: &reviews,
            evidence_kinds: &ev,
            acceptances: &acc,
            findings: &[],
            now: now(),
        });
        assert_eq!(s.gaps.len(), 1);
        assert_eq!(s.gaps[0].code, GapCode::VetoRejection);
        assert!(!s.gaps[0].accepted);
        assert!(!s.clear);
    }

    #[test]
    fn non_veto_rejection_is_acceptable() {
        let t = tier();
        let reviews = [
            review(Role::Mlops, Verdict::Reject),
            review(Role::Security, Verdict::ApproveWithConditions),
        ];
        let ev: BTreeSet<String> = ["threat_model".to_owned()].into();
        let s = evaluate(&GateInput {
            tier: &t,
            reviews: &reviews,
            evidence_kinds: &ev,
            acceptances: &[],
            findings: &[],
            now: now(),
        });
        assert_eq!(s.gaps[0].key.to_string(), "rejected_review:mlops");
        assert!(s.gaps[0].acceptable);
    }
}
