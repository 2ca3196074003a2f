//! The gate: a release's gaps, the deploy-time check and the evaluation report.

use chrono::{DateTime, Utc};
use countersign_core::gate::Gap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GateQuery {
    /// A revision number; the current revision when absent.
    pub revision: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CheckQuery {
    /// `sha256:<hex>` of the artifact about to be deployed.
    pub artifact: String,
    /// Target environment; default production.
    pub env: Option<String>,
}

/// One unmet (or accepted) requirement.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GapView {
    /// `code:subject`, the name a risk acceptance uses.
    pub gap: String,
    /// A stable gap code: missing_review, rejected_review, veto_rejection, missing_evidence,
    /// lineage_* (I6) or eval_* (I7).
    pub code: String,
    /// The role or evidence kind concerned.
    pub subject: String,
    pub detail: String,
    /// False for veto rejections, which no acceptance clears.
    pub acceptable: bool,
    pub accepted: bool,
}

impl From<&Gap> for GapView {
    fn from(g: &Gap) -> Self {
        GapView {
            gap: g.key.to_string(),
            code: g.code.as_str().into(),
            subject: g.subject.clone(),
            detail: g.detail.clone(),
            acceptable: g.acceptable,
            accepted: g.accepted,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RequestedReviewView {
    pub role: String,
    /// pending, or the verdict given.
    pub state: String,
    pub reviewer: Option<String>,
    /// Submission time plus the tier's review deadline.
    pub due_at: Option<DateTime<Utc>>,
    /// Pending past its due time (I5).
    pub overdue: bool,
}

/// A review that passed its deadline and escalated to the decision owner (I5).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EscalationView {
    pub id: String,
    pub revision: u32,
    pub role: String,
    pub due_at: DateTime<Utc>,
    pub escalated_to: String,
    pub escalated_at: DateTime<Utc>,
    /// open (the owner must accept `missing_review:<role>` or block), reviewed,
    /// accepted, or closed (decided, blocked or superseded).
    pub state: String,
    /// The gap a risk acceptance names to clear it.
    pub gap: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GateView {
    pub release: String,
    pub revision: u32,
    pub bundle_digest: String,
    pub status: String,
    pub tier: String,
    /// True when every gap is accepted, so the owner may decide go.
    pub clear: bool,
    /// Gaps not yet accepted.
    pub unmet: Vec<GapView>,
    /// Every gap, accepted or not.
    pub gaps: Vec<GapView>,
    pub reviews: Vec<RequestedReviewView>,
    /// True while an escalation is open: the owner must accept the gap or block (I5).
    pub escalated: bool,
    pub escalations: Vec<EscalationView>,
    /// Who may not review this revision and why (I4): everyone who shaped it or an
    /// earlier revision, and the decision owner. A review by one of them is refused
    /// with the first reason's problem type.
    pub excluded_reviewers: Vec<ExclusionView>,
}

/// One person segregation of duties keeps off a revision's reviews (I4).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExclusionView {
    pub user: String,
    pub reasons: Vec<ExclusionReasonView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExclusionReasonView {
    /// The stable code, e.g. `author_cannot_review`; the problem type of a refused
    /// review is `segregation-of-duties/<code with - for _>`.
    pub code: String,
    /// The revision they shaped, where the reason is about one.
    pub revision: Option<u32>,
    /// The reason in plain words.
    pub detail: String,
}

impl From<&countersign_core::sod::Exclusion> for ExclusionView {
    fn from(e: &countersign_core::sod::Exclusion) -> Self {
        ExclusionView {
            user: e.user.to_string(),
            reasons: e
                .reasons
                .iter()
                .map(|v| ExclusionReasonView {
                    code: v.code().into(),
                    revision: v.revision(),
                    detail: v.to_string(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckView {
    pub allowed: bool,
    pub artifact: String,
    pub environment: String,
    pub reasons: Vec<String>,
    pub release: Option<String>,
    pub revision: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MetricValueView {
    pub value: f64,
    pub dataset: Option<String>,
    pub slice: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GateCheckView {
    pub metric: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// `tier` (an evaluation gate) or `retrain_drift`.
    pub source: String,
    /// Every value the latest report gives for the metric (one per slice).
    pub values: Vec<MetricValueView>,
    /// passed, failed or missing.
    pub result: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EvaluationView {
    pub release: String,
    pub revision: u32,
    pub tier: String,
    /// The latest eval_report evidence id, name and digest, when one is attached.
    pub evidence_id: Option<String>,
    pub evidence_name: Option<String>,
    pub evidence_digest: Option<String>,
    /// countersign.eval/v1 or cyclonedx; absent when there is no readable report.
    pub format: Option<String>,
    pub run_id: Option<String>,
    /// Why the latest report could not be read.
    pub error: Option<String>,
    pub checks: Vec<GateCheckView>,
}
