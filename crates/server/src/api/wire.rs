//! Wire types: request params and response views. Separate from domain types and
//! rows; conversions happen here, at the edge.

use crate::app::gate::{CheckOutcome, Evaluation, GateReport};
use crate::app::releases::ReleaseDetail;
use chrono::{DateTime, Utc};
use countersign_core::gap::GapKey;
use countersign_core::gate::Gap;
use countersign_core::problem::ProblemCode;
use countersign_core::release::{Attributes, Bundle, Decision, ReleaseKind};
use countersign_core::review::{Answer, Verdict};
use countersign_core::{AgentId, Digest, Role, SystemId, UserId};
use countersign_ledger::Entry;
use countersign_store::records::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::{IntoParams, ToSchema};

// ---------- params ----------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserParams {
    pub name: String,
    pub email: String,
    /// Any of mlops, security, privacy, legal, compliance, data-governance, operations, risk, admin.
    #[schema(value_type = Vec<String>)]
    #[serde(default)]
    pub roles: BTreeSet<Role>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenParams {
    #[serde(default)]
    pub label: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSystemParams {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The user id of the one accountable human owner.
    pub owner: String,
}

/// Declared risk attributes; the governance profile maps them to a tier.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributesWire {
    #[serde(default)]
    pub customer_facing: bool,
    #[serde(default)]
    pub agentic: bool,
    #[serde(default)]
    pub data_connected: bool,
    #[serde(default)]
    pub data_classes: BTreeSet<String>,
    #[serde(default)]
    pub regulated: bool,
    #[serde(default)]
    pub third_party: bool,
    /// 0 suggests only, 1 human in the loop, 2 human on the loop, 3 autonomous.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 3)]
    pub autonomy_level: u8,
    /// The declared intended use, e.g. `customer-support`. Model and retrain releases
    /// need one: lineage checks every dataset of the training run permits it (I6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_use: Option<String>,
}

impl From<AttributesWire> for Attributes {
    fn from(a: AttributesWire) -> Self {
        Attributes {
            customer_facing: a.customer_facing,
            agentic: a.agentic,
            data_connected: a.data_connected,
            data_classes: a.data_classes,
            regulated: a.regulated,
            third_party: a.third_party,
            autonomy_level: a.autonomy_level,
            intended_use: a.intended_use,
        }
    }
}

impl From<&Attributes> for AttributesWire {
    fn from(a: &Attributes) -> Self {
        AttributesWire {
            customer_facing: a.customer_facing,
            agentic: a.agentic,
            data_connected: a.data_connected,
            data_classes: a.data_classes.clone(),
            regulated: a.regulated,
            third_party: a.third_party,
            autonomy_level: a.autonomy_level,
            intended_use: a.intended_use.clone(),
        }
    }
}

/// The exact things a release approves. Any change makes a new revision.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleWire {
    /// `sha256:<64 hex>` of the artifact.
    #[schema(value_type = String, example = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    pub artifact_digest: Digest,
    #[serde(default)]
    pub dataset_versions: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_run_id: Option<String>,
    /// User id of the person who trained the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_commit: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub prompt_package_digest: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub runtime_policy_digest: Option<Digest>,
    #[serde(default)]
    pub tool_permissions: BTreeSet<String>,
    #[serde(default)]
    pub secret_scopes: BTreeSet<String>,
    /// For a `retrain`: the id of the promoted release it retrains and supersedes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
}

impl From<BundleWire> for Bundle {
    fn from(b: BundleWire) -> Self {
        Bundle {
            artifact_digest: b.artifact_digest,
            dataset_versions: b.dataset_versions,
            training_run_id: b.training_run_id,
            trainer: b.trainer.map(UserId),
            code_commit: b.code_commit,
            parameters: b.parameters,
            prompt_package_digest: b.prompt_package_digest,
            runtime_policy_digest: b.runtime_policy_digest,
            tool_permissions: b.tool_permissions,
            secret_scopes: b.secret_scopes,
            supersedes: b.supersedes,
        }
    }
}

impl From<&Bundle> for BundleWire {
    fn from(b: &Bundle) -> Self {
        BundleWire {
            artifact_digest: b.artifact_digest.clone(),
            dataset_versions: b.dataset_versions.clone(),
            training_run_id: b.training_run_id.clone(),
            trainer: b.trainer.as_ref().map(|t| t.to_string()),
            code_commit: b.code_commit.clone(),
            parameters: b.parameters.clone(),
            prompt_package_digest: b.prompt_package_digest.clone(),
            runtime_policy_digest: b.runtime_policy_digest.clone(),
            tool_permissions: b.tool_permissions.clone(),
            secret_scopes: b.secret_scopes.clone(),
            supersedes: b.supersedes.clone(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReleaseParams {
    pub title: String,
    /// model, agent, prompt, config or retrain.
    #[schema(value_type = String)]
    pub kind: ReleaseKind,
    /// System id.
    pub system: String,
    /// User id of the one human who decides go or no-go.
    pub decision_owner: String,
    #[serde(default)]
    pub attributes: AttributesWire,
    pub bundle: BundleWire,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviseParams {
    /// The revision this change was made against; a stale one is refused with 409.
    pub based_on_revision: u32,
    pub bundle: BundleWire,
    /// New attributes; the current ones when absent.
    #[serde(default)]
    pub attributes: Option<AttributesWire>,
    /// A new decision owner from this revision on; the current one when absent. Like
    /// every owner, it must not have shaped this or an earlier revision (I4).
    #[serde(default)]
    pub decision_owner: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevisionParams {
    /// The revision this request was made against; a stale one is refused with 409.
    pub revision: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewParams {
    pub revision: u32,
    /// The reviewer role this review is given in; the reviewer must hold it.
    #[schema(value_type = String)]
    pub role: Role,
    /// approve, approve_with_conditions or reject.
    #[schema(value_type = String)]
    pub verdict: Verdict,
    /// Every checklist item id of the role, answered yes, no or n/a.
    #[schema(value_type = BTreeMap<String, String>)]
    pub answers: BTreeMap<String, Answer>,
    #[serde(default)]
    pub conditions: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRiskParams {
    pub revision: u32,
    /// A gap key from the gate status, e.g. `missing_review:legal`.
    #[schema(value_type = String)]
    pub gap: GapKey,
    pub justification: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideParams {
    pub revision: u32,
    /// go or no_go.
    #[schema(value_type = String)]
    pub decision: Decision,
    /// The environment a go approves; default production.
    #[serde(default = "production")]
    pub environment: String,
    #[serde(default)]
    pub comment: String,
}

fn production() -> String {
    "production".into()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployParams {
    pub revision: u32,
    /// Must be the environment the go approved; defaults to it.
    #[serde(default)]
    pub environment: Option<String>,
    /// Required for rollback and retire.
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EvidenceQuery {
    pub revision: u32,
    /// An evidence kind from the profile.
    pub kind: String,
    /// A file name for the document.
    pub name: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GateQuery {
    /// A revision number; the current revision when absent.
    pub revision: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CheckQuery {
    /// `sha256:<hex>` of the artifact about to be deployed.
    pub artifact: String,
    /// Target environment; default production.
    pub env: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    /// Entries with a sequence number greater than this; default 0.
    pub after: Option<u64>,
    /// At most this many, 1 to 1000; default 100.
    pub limit: Option<u32>,
}

// ---------- views ----------

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        UserView {
            id: u.id.0,
            name: u.name,
            email: u.email,
            roles: u.roles.iter().map(|r| r.to_string()).collect(),
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub user_id: String,
    pub label: String,
    /// The secret, shown this once. Only its hash is stored.
    pub token: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SystemView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub created_at: DateTime<Utc>,
}

impl From<SystemRecord> for SystemView {
    fn from(s: SystemRecord) -> Self {
        SystemView {
            id: s.id.0,
            name: s.name,
            description: s.description,
            owner: s.owner.0,
            created_at: s.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseView {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub system: String,
    pub decision_owner: String,
    pub created_by: String,
    pub attributes: AttributesWire,
    /// draft, in_review, approved, rejected, promoted, rolled_back or retired.
    pub status: String,
    pub current_revision: u32,
    /// The environment a go approved (and promotion targets).
    pub environment: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&ReleaseRecord> for ReleaseView {
    fn from(r: &ReleaseRecord) -> Self {
        ReleaseView {
            id: r.id.to_string(),
            title: r.title.clone(),
            kind: r.kind.as_str().into(),
            system: r.system_id.to_string(),
            decision_owner: r.decision_owner.to_string(),
            created_by: r.created_by.to_string(),
            attributes: (&r.attributes).into(),
            status: r.status.as_str().into(),
            current_revision: r.current_revision,
            environment: r.environment.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionView {
    pub number: u32,
    pub bundle: BundleWire,
    pub bundle_digest: String,
    pub tier: String,
    pub matched_rules: Vec<String>,
    /// Digest of the governance profile this revision was judged under.
    pub profile_digest: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
}

impl From<&RevisionRecord> for RevisionView {
    fn from(r: &RevisionRecord) -> Self {
        RevisionView {
            number: r.number,
            bundle: (&r.bundle).into(),
            bundle_digest: r.bundle_digest.to_string(),
            tier: r.tier.clone(),
            matched_rules: r.matched_rules.clone(),
            profile_digest: r.profile_digest.to_string(),
            created_by: r.created_by.to_string(),
            created_at: r.created_at,
            submitted_by: r.submitted_by.as_ref().map(|u| u.to_string()),
            submitted_at: r.submitted_at,
        }
    }
}

/// A release and the revision a command just produced or touched.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseWithRevisionView {
    pub release: ReleaseView,
    pub revision: RevisionView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewView {
    pub id: String,
    pub revision: u32,
    pub bundle_digest: String,
    pub role: String,
    pub reviewer: String,
    pub verdict: String,
    #[schema(value_type = BTreeMap<String, String>)]
    pub answers: BTreeMap<String, Answer>,
    pub conditions: Option<String>,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&ReviewRecord> for ReviewView {
    fn from(r: &ReviewRecord) -> Self {
        ReviewView {
            id: r.id.clone(),
            revision: r.revision,
            bundle_digest: r.bundle_digest.to_string(),
            role: r.role.to_string(),
            reviewer: r.reviewer.to_string(),
            verdict: r.verdict.as_str().into(),
            answers: r.answers.clone(),
            conditions: r.conditions.clone(),
            comment: r.comment.clone(),
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceView {
    pub id: String,
    pub revision: u32,
    pub kind: String,
    pub name: String,
    pub media_type: String,
    /// Content address; download at /v1/evidence/{digest}.
    pub digest: String,
    pub size: u64,
    pub attached_by: String,
    pub created_at: DateTime<Utc>,
}

impl From<&EvidenceRecord> for EvidenceView {
    fn from(e: &EvidenceRecord) -> Self {
        EvidenceView {
            id: e.id.clone(),
            revision: e.revision,
            kind: e.kind.clone(),
            name: e.name.clone(),
            media_type: e.media_type.clone(),
            digest: e.digest.to_string(),
            size: e.size,
            attached_by: e.attached_by.to_string(),
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptanceView {
    pub id: String,
    pub revision: u32,
    pub bundle_digest: String,
    pub gap: String,
    pub justification: String,
    pub expires_at: DateTime<Utc>,
    pub accepted_by: String,
    pub created_at: DateTime<Utc>,
}

impl From<&AcceptanceRecord> for AcceptanceView {
    fn from(a: &AcceptanceRecord) -> Self {
        AcceptanceView {
            id: a.id.clone(),
            revision: a.revision,
            bundle_digest: a.bundle_digest.to_string(),
            gap: a.gap.to_string(),
            justification: a.justification.clone(),
            expires_at: a.expires_at,
            accepted_by: a.accepted_by.to_string(),
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    pub id: String,
    pub revision: u32,
    pub bundle_digest: String,
    pub decision: String,
    pub environment: String,
    pub comment: String,
    pub decided_by: String,
    pub created_at: DateTime<Utc>,
}

impl From<&DecisionRecord> for DecisionView {
    fn from(d: &DecisionRecord) -> Self {
        DecisionView {
            id: d.id.clone(),
            revision: d.revision,
            bundle_digest: d.bundle_digest.to_string(),
            decision: d.decision.as_str().into(),
            environment: d.environment.clone(),
            comment: d.comment.clone(),
            decided_by: d.decided_by.to_string(),
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentView {
    pub id: String,
    pub revision: u32,
    pub action: String,
    pub environment: String,
    pub reason: String,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

impl From<&DeploymentRecord> for DeploymentView {
    fn from(d: &DeploymentRecord) -> Self {
        DeploymentView {
            id: d.id.clone(),
            revision: d.revision,
            action: d.action.as_str().into(),
            environment: d.environment.clone(),
            reason: d.reason.clone(),
            actor: d.actor.to_string(),
            created_at: d.created_at,
        }
    }
}

/// A release with its whole history.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseDetailView {
    pub release: ReleaseView,
    pub revisions: Vec<RevisionView>,
    pub reviews: Vec<ReviewView>,
    pub evidence: Vec<EvidenceView>,
    pub acceptances: Vec<AcceptanceView>,
    pub decisions: Vec<DecisionView>,
    pub deployments: Vec<DeploymentView>,
}

impl From<ReleaseDetail> for ReleaseDetailView {
    fn from(d: ReleaseDetail) -> Self {
        ReleaseDetailView {
            release: (&d.release).into(),
            revisions: d.revisions.iter().map(Into::into).collect(),
            reviews: d.reviews.iter().map(Into::into).collect(),
            evidence: d.evidence.iter().map(Into::into).collect(),
            acceptances: d.acceptances.iter().map(Into::into).collect(),
            decisions: d.decisions.iter().map(Into::into).collect(),
            deployments: d.deployments.iter().map(Into::into).collect(),
        }
    }
}

/// One unmet (or accepted) requirement.
#[derive(Debug, Clone, Serialize, ToSchema)]
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

#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
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

#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct ExclusionView {
    pub user: String,
    pub reasons: Vec<ExclusionReasonView>,
}

#[derive(Debug, Serialize, ToSchema)]
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

impl From<GateReport> for GateView {
    fn from(g: GateReport) -> Self {
        GateView {
            release: g.release.id.to_string(),
            revision: g.revision.number,
            bundle_digest: g.revision.bundle_digest.to_string(),
            status: g.release.status.as_str().into(),
            tier: g.status.tier.clone(),
            clear: g.status.clear,
            unmet: g.status.unmet().map(Into::into).collect(),
            gaps: g.status.gaps.iter().map(Into::into).collect(),
            reviews: g
                .requested
                .iter()
                .map(|r| RequestedReviewView {
                    role: r.role.to_string(),
                    state: r
                        .review
                        .as_ref()
                        .map_or("pending", |x| x.verdict.as_str())
                        .into(),
                    reviewer: r.review.as_ref().map(|x| x.reviewer.to_string()),
                    due_at: r.due_at,
                    overdue: r.review.is_none()
                        && g.release.status == countersign_core::release::ReleaseStatus::InReview
                        && r.due_at.is_some_and(|d| g.now >= d),
                })
                .collect(),
            escalated: g.escalated(),
            escalations: g
                .escalations
                .iter()
                .map(|(e, s)| EscalationView {
                    id: e.id.clone(),
                    revision: e.revision,
                    role: e.role.to_string(),
                    due_at: e.due_at,
                    escalated_to: e.escalated_to.to_string(),
                    escalated_at: e.created_at,
                    state: s.as_str().into(),
                    gap: format!("missing_review:{}", e.role),
                })
                .collect(),
            excluded_reviewers: g.excluded.iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    pub allowed: bool,
    pub artifact: String,
    pub environment: String,
    pub reasons: Vec<String>,
    pub release: Option<String>,
    pub revision: Option<u32>,
}

impl CheckView {
    pub fn new(o: CheckOutcome, artifact: &Digest, environment: &str) -> Self {
        CheckView {
            allowed: o.allowed,
            artifact: artifact.to_string(),
            environment: environment.into(),
            reasons: o.reasons,
            release: o.release.map(|r| r.to_string()),
            revision: o.revision,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerEntryView {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub payload_digest: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<Entry> for LedgerEntryView {
    fn from(e: Entry) -> Self {
        LedgerEntryView {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            payload: e.payload,
            payload_digest: e.payload_digest.to_string(),
            prev_hash: e.prev_hash.to_string(),
            hash: e.hash.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerVerifyView {
    pub valid: bool,
    pub entries: u64,
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
    /// The first bad entry, when invalid.
    pub first_bad_seq: Option<u64>,
    pub error: Option<String>,
    /// The checkpoint signing key (base64url Ed25519) and its id.
    pub public_key: String,
    pub key_id: String,
}

impl LedgerVerifyView {
    pub fn new(
        key: &countersign_ledger::LedgerPublicKey,
        v: crate::app::ledger::Verification,
    ) -> Self {
        use crate::app::ledger::Verification;
        let mut view = LedgerVerifyView {
            valid: false,
            entries: 0,
            head_seq: None,
            head_hash: None,
            first_bad_seq: None,
            error: None,
            public_key: key.to_base64(),
            key_id: key.key_id(),
        };
        match v {
            Verification::Valid(r) => {
                view.valid = true;
                view.entries = r.entries;
                view.head_seq = r.head.as_ref().map(|h| h.seq);
                view.head_hash = r.head.map(|h| h.hash.to_string());
            }
            Verification::Invalid(e) => {
                view.first_bad_seq = Some(e.seq);
                view.error = Some(e.to_string());
            }
        }
        view
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub name: String,
    pub version: String,
    pub digest: String,
    #[schema(value_type = Object)]
    pub profile: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    pub status: String,
}

pub fn system_id(s: &str) -> SystemId {
    SystemId(s.to_owned())
}

// ---------- agents, grants and credentials (issue 5) ----------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgentParams {
    pub name: String,
    /// The user id of the agent's one accountable human owner.
    pub owner: String,
    pub use_case: String,
    /// e.g. `production`; an identity serves one environment.
    pub environment: String,
    /// The release that put the agent in production (must be promoted).
    pub release: String,
    /// Ed25519 public key: an OKP JWK (JSON text) or base64url of the 32 raw bytes.
    pub public_key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonParams {
    pub reason: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyParams {
    #[serde(default)]
    pub comment: Option<String>,
}

/// A daily UTC window `[start_hour, end_hour)`; start > end wraps past midnight.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HourWindowWire {
    pub start_hour: u8,
    pub end_hour: u8,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConstraintsWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<HourWindowWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_risk_score: Option<u32>,
}

impl From<ConstraintsWire> for countersign_core::grant::Constraints {
    fn from(c: ConstraintsWire) -> Self {
        Self {
            window: c.window.map(|w| countersign_core::grant::HourWindow {
                start_hour: w.start_hour,
                end_hour: w.end_hour,
            }),
            max_risk_score: c.max_risk_score,
        }
    }
}

impl From<&countersign_core::grant::Constraints> for ConstraintsWire {
    fn from(c: &countersign_core::grant::Constraints) -> Self {
        Self {
            window: c.window.map(|w| HourWindowWire {
                start_hour: w.start_hour,
                end_hour: w.end_hour,
            }),
            max_risk_score: c.max_risk_score,
        }
    }
}

/// An agent's grant request, authenticated by its client assertion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestGrantParams {
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` (optional).
    #[serde(default)]
    pub client_assertion_type: Option<String>,
    /// A JWT signed with the agent's key: iss = sub = agent id, aud, exp, jti.
    pub client_assertion: String,
    pub system: String,
    /// Anything but `read`, `list`, `get` mutates production state and needs the agent owner's approval too.
    pub actions: BTreeSet<String>,
    /// Resource patterns; `*` only at the end.
    pub resources: BTreeSet<String>,
    #[serde(default)]
    pub constraints: ConstraintsWire,
    pub expires_at: DateTime<Utc>,
}

/// The token endpoint: a credential for a task, or (token exchange) a delegated one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenParams {
    /// `client_credentials`, or `urn:ietf:params:oauth:grant-type:token-exchange` for delegation.
    pub grant_type: String,
    #[serde(default)]
    pub client_assertion_type: Option<String>,
    pub client_assertion: String,
    /// The task the credential is for: required for `client_credentials`; for token
    /// exchange it defaults to, and must equal, the delegator's task (I8).
    #[serde(default)]
    pub task: String,
    /// Space-separated scopes, each `system:action:resource`.
    pub scope: String,
    /// Seconds; default 900, at most 3600; never past the grants' expiry.
    #[serde(default)]
    pub lifetime: Option<i64>,
    /// The task's declared risk score, checked against grants' `max_risk_score`.
    #[serde(default)]
    pub risk_score: Option<u32>,
    /// Token exchange: the delegating agent's credential.
    #[serde(default)]
    pub subject_token: Option<String>,
    #[serde(default)]
    pub subject_token_type: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectParams {
    pub token: String,
    #[serde(default)]
    pub token_type_hint: Option<String>,
}

/// Exactly one of `jti`, `agent`, `grant`, `release`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeCredentialsParams {
    #[serde(default)]
    pub jti: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub grant: Option<String>,
    #[serde(default)]
    pub release: Option<String>,
    pub reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantsQuery {
    /// Only this agent's grants.
    pub agent: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// Also list grants due within this many days (default 14).
    pub within_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub use_case: String,
    pub environment: String,
    pub release: String,
    pub public_key: String,
    /// `active` or `suspended`.
    pub status: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<AgentRecord> for AgentView {
    fn from(a: AgentRecord) -> Self {
        AgentView {
            id: a.id.0,
            name: a.name,
            owner: a.owner.0,
            use_case: a.use_case,
            environment: a.environment,
            release: a.release_id.0,
            public_key: a.public_key,
            status: a.status.as_str().into(),
            created_by: a.created_by.0,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    pub id: String,
    pub agent: String,
    pub system: String,
    pub actions: BTreeSet<String>,
    pub resources: BTreeSet<String>,
    pub constraints: ConstraintsWire,
    pub expires_at: DateTime<Utc>,
    /// Whether any action mutates production state (then the agent owner approves too).
    pub mutating: bool,
    /// `pending`, `active`, `expired`, `lapsed` or `revoked`, now.
    pub state: String,
    /// For `pending`: `system_owner` and/or `agent_owner`.
    pub missing_approvals: Vec<String>,
    pub system_owner: String,
    pub agent_owner: String,
    pub system_owner_approved_by: Option<String>,
    pub agent_owner_approved_by: Option<String>,
    pub certified_by: Option<String>,
    pub certified_at: Option<DateTime<Utc>>,
    /// Lapses unless recertified by then.
    pub recertify_by: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
    pub requested_at: DateTime<Utc>,
}

impl From<crate::app::grants::GrantView> for GrantView {
    fn from(v: crate::app::grants::GrantView) -> Self {
        use countersign_core::grant::State;
        let missing_approvals = match &v.state {
            State::Pending { missing } => missing.iter().map(|a| a.as_str().to_owned()).collect(),
            _ => vec![],
        };
        let g = v.grant;
        GrantView {
            id: g.id.0,
            agent: g.agent_id.0,
            mutating: g.terms.mutating(),
            system: g.terms.system.0,
            actions: g.terms.actions,
            resources: g.terms.resources,
            constraints: ConstraintsWire::from(&g.terms.constraints),
            expires_at: g.terms.expires_at,
            state: v.state.as_str().into(),
            missing_approvals,
            system_owner: v.system_owner.0,
            agent_owner: v.agent_owner.0,
            system_owner_approved_by: g.system_owner_approved_by.map(|u| u.0),
            agent_owner_approved_by: g.agent_owner_approved_by.map(|u| u.0),
            certified_by: g.certified_by.map(|u| u.0),
            certified_at: g.certified_at,
            recertify_by: v.recertify_by,
            revoked_by: g.revoked_by,
            revoked_at: g.revoked_at,
            revoke_reason: g.revoke_reason,
            requested_at: g.requested_at,
        }
    }
}

/// A token response (RFC 6749 §5.1, RFC 8693 §2.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessTokenView {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
    /// For token exchange: `urn:ietf:params:oauth:token-type:jwt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
}

impl AccessTokenView {
    pub fn new(i: crate::app::credentials::Issued, now: DateTime<Utc>) -> Self {
        let c = i.credential;
        AccessTokenView {
            access_token: i.token,
            token_type: "Bearer".into(),
            expires_in: (c.expires_at - now).num_seconds(),
            scope: c.scopes.join(" "),
            issued_token_type: c
                .parent_jti
                .as_ref()
                .map(|_| "urn:ietf:params:oauth:token-type:jwt".into()),
            jti: c.jti,
            expires_at: c.expires_at,
        }
    }
}

// ---------- lineage (I6) ----------

/// Register a dataset version. Role: data-governance or mlops.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDatasetParams {
    pub name: String,
    pub version: String,
    /// `sha256:<64 hex>` of the dataset's content.
    #[schema(value_type = String)]
    pub digest: Digest,
    /// Where the data comes from.
    pub source: String,
    /// e.g. `internal`, `pii`, `phi`.
    pub classification: String,
    /// Intended uses this data may serve, matched against a release's `intended_use`.
    pub permitted_uses: BTreeSet<String>,
}

/// Block the current revision: a no-go with a reason. Decision owner only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockParams {
    pub revision: u32,
    /// Why (at least 10 characters); recorded in the ledger.
    pub reason: String,
}

/// Approve a dataset version. Role: data-governance.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveDatasetParams {
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetView {
    /// `name@version`, as bundles and runs name it.
    pub key: String,
    pub name: String,
    pub version: String,
    pub digest: String,
    pub source: String,
    pub classification: String,
    pub permitted_uses: BTreeSet<String>,
    pub registered_by: String,
    pub created_at: DateTime<Utc>,
    pub approved: bool,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
}

impl From<DatasetRecord> for DatasetView {
    fn from(d: DatasetRecord) -> Self {
        DatasetView {
            key: d.key(),
            approved: d.approved_by.is_some(),
            name: d.name,
            version: d.version,
            digest: d.digest.to_string(),
            source: d.source,
            classification: d.classification,
            permitted_uses: d.permitted_uses,
            registered_by: d.registered_by.to_string(),
            created_at: d.created_at,
            approved_by: d.approved_by.map(|u| u.to_string()),
            approved_at: d.approved_at,
        }
    }
}

/// Register a training run. Role: mlops.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRunParams {
    pub id: String,
    pub code_commit: String,
    /// `name@version` of every registered dataset it trained on.
    pub datasets: BTreeSet<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// User id of the person who trained it (kept off the review and the decision, I4).
    pub trainer: String,
    /// `sha256:<64 hex>` of the artifact the run produced.
    #[schema(value_type = String)]
    pub artifact_digest: Digest,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub code_commit: String,
    pub datasets: BTreeSet<String>,
    #[schema(value_type = Object)]
    pub parameters: BTreeMap<String, serde_json::Value>,
    pub trainer: String,
    pub artifact_digest: String,
    pub registered_by: String,
    pub created_at: DateTime<Utc>,
}

impl From<TrainingRunRecord> for RunView {
    fn from(r: TrainingRunRecord) -> Self {
        RunView {
            id: r.id,
            code_commit: r.code_commit,
            datasets: r.datasets,
            parameters: r.parameters,
            trainer: r.trainer.to_string(),
            artifact_digest: r.artifact_digest.to_string(),
            registered_by: r.registered_by.to_string(),
            created_at: r.created_at,
        }
    }
}

// ---------- webhooks ----------

/// Subscribe a URL to event types. Role: admin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookParams {
    /// http:// or https:// URL the events are POSTed to.
    pub url: String,
    /// Any of review_requested, review_overdue, escalated, decided, promoted, rolled_back, retired.
    pub events: BTreeSet<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: BTreeSet<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The signing secret; present only in the response that created the webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookView {
    pub fn new(w: WebhookRecord, with_secret: bool) -> Self {
        WebhookView {
            id: w.id,
            url: w.url,
            events: w.events,
            created_by: w.created_by.to_string(),
            created_at: w.created_at,
            secret: with_secret.then_some(w.secret),
        }
    }
}

/// Introspection (RFC 7662): `active`, and the token's claims when active.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntrospectionView {
    pub active: bool,
    pub sub: Option<String>,
    pub agent: Option<String>,
    pub owner: Option<String>,
    pub task: Option<String>,
    pub scope: Option<String>,
    pub release: Option<String>,
    pub jti: Option<String>,
    pub exp: Option<i64>,
    /// The delegation chain (RFC 8693 `act`), current actor outermost.
    #[schema(value_type = Option<Object>)]
    pub act: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JwkView {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JwksView {
    pub keys: Vec<JwkView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub public_key: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedView {
    pub revoked: u64,
}

impl From<RegisterAgentParams> for crate::app::agents::NewAgent {
    fn from(p: RegisterAgentParams) -> Self {
        Self {
            name: p.name,
            owner: UserId(p.owner),
            use_case: p.use_case,
            environment: p.environment,
            release: countersign_core::ReleaseId(p.release),
            public_key: p.public_key,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub event_id: String,
    /// pending, delivered or dead (attempts exhausted).
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub event_id: String,
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, 0 when there was no response.
    pub status_code: u16,
    pub error: String,
    /// delivered, retry or dead.
    pub outcome: String,
}

/// A webhook's delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryLogView {
    pub webhook: WebhookView,
    pub deliveries: Vec<DeliveryView>,
    pub attempts: Vec<AttemptView>,
}

impl DeliveryLogView {
    pub fn new(w: WebhookRecord, d: Vec<DeliveryRecord>, a: Vec<AttemptRecord>) -> Self {
        DeliveryLogView {
            webhook: WebhookView::new(w, false),
            deliveries: d
                .into_iter()
                .map(|d| DeliveryView {
                    event_id: d.event_id,
                    state: d.state,
                    attempts: d.attempts,
                    next_attempt_at: d.next_attempt_at,
                })
                .collect(),
            attempts: a
                .into_iter()
                .map(|a| AttemptView {
                    event_id: a.event_id,
                    attempt: a.attempt,
                    at: a.at,
                    status_code: a.status_code,
                    error: a.error,
                    outcome: a.outcome,
                })
                .collect(),
        }
    }
}

impl From<RequestGrantParams> for crate::app::grants::NewGrant {
    fn from(p: RequestGrantParams) -> Self {
        Self {
            system: SystemId(p.system),
            actions: p.actions,
            resources: p.resources,
            constraints: p.constraints.into(),
            expires_at: p.expires_at,
        }
    }
}

impl TryFrom<TokenParams> for crate::app::credentials::TokenRequest {
    type Error = crate::app::AppError;
    fn try_from(p: TokenParams) -> Result<Self, Self::Error> {
        use crate::app::credentials::TOKEN_EXCHANGE;
        let exchange = match p.grant_type.as_str() {
            "client_credentials" => false,
            TOKEN_EXCHANGE => true,
            other => {
                return Err(crate::app::AppError::invalid(
                    ProblemCode::UnsupportedGrantType,
                    format!("grant_type {other:?}: use client_credentials or {TOKEN_EXCHANGE}"),
                ))
            }
        };
        if exchange != p.subject_token.is_some() {
            return Err(crate::app::AppError::invalid(
                ProblemCode::InvalidTokenRequest,
                "a subject_token is required for token exchange and only there",
            ));
        }
        Ok(Self {
            task: p.task,
            scopes: p.scope.split_whitespace().map(str::to_owned).collect(),
            lifetime: p.lifetime,
            risk_score: p.risk_score,
            subject_token: p.subject_token,
        })
    }
}

impl From<RevokeCredentialsParams> for crate::app::credentials::RevokeRequest {
    fn from(p: RevokeCredentialsParams) -> Self {
        Self {
            jti: p.jti,
            agent: p.agent.map(countersign_core::AgentId),
            grant: p.grant.map(countersign_core::GrantId),
            release: p.release.map(countersign_core::ReleaseId),
            reason: p.reason,
        }
    }
}

// ---------- evaluation (I7) ----------

#[derive(Debug, Serialize, ToSchema)]
pub struct MetricValueView {
    pub value: f64,
    pub dataset: Option<String>,
    pub slice: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
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

#[derive(Debug, Serialize, ToSchema)]
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

impl From<Evaluation> for EvaluationView {
    fn from(e: Evaluation) -> Self {
        use countersign_core::eval::ReportFact;
        let (format, run_id, error, results) = match &e.report {
            ReportFact::Parsed(r) => (
                Some(r.format.to_owned()),
                r.run_id.clone(),
                None,
                r.results.clone(),
            ),
            ReportFact::Invalid { error, .. } => (None, None, Some(error.to_string()), Vec::new()),
            ReportFact::None => (None, None, None, Vec::new()),
        };
        let check = |g: &countersign_core::eval::EvalGate, source: &str| {
            let values: Vec<MetricValueView> = results
                .iter()
                .filter(|r| r.metric == g.metric)
                .map(|r| MetricValueView {
                    value: r.value,
                    dataset: r.dataset.clone(),
                    slice: r.slice.clone(),
                })
                .collect();
            let result = if values.is_empty() {
                "missing"
            } else if values.iter().all(|v| g.passes(v.value)) {
                "passed"
            } else {
                "failed"
            };
            GateCheckView {
                metric: g.metric.clone(),
                min: g.min,
                max: g.max,
                source: source.to_owned(),
                values,
                result: result.to_owned(),
            }
        };
        let mut checks: Vec<GateCheckView> = e.gates.iter().map(|g| check(g, "tier")).collect();
        checks.extend(e.drift_gates.iter().map(|g| check(g, "retrain_drift")));
        EvaluationView {
            release: e.release.id.to_string(),
            revision: e.revision.number,
            tier: e.tier,
            evidence_id: e.evidence.as_ref().map(|x| x.id.clone()),
            evidence_name: e.evidence.as_ref().map(|x| x.name.clone()),
            evidence_digest: e.evidence.as_ref().map(|x| x.digest.to_string()),
            format,
            run_id,
            error,
            checks,
        }
    }
}

// ---------- runtime decisions, approvals, the action log (issue 6) ----------

/// The context a decision and a human approver need.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionContextParams {
    /// The model's confidence, 0 to 1.
    pub confidence: Option<f64>,
    /// 0 (none) to 100 (highest).
    #[serde(default)]
    pub risk_score: u32,
    /// Classes of data the action touches, e.g. `pii`, `restricted`.
    #[serde(default)]
    pub data_classes: Vec<String>,
    /// The AI input (prompt, message) that led to the action.
    pub ai_input: Option<String>,
    /// Its digest, when the input itself must not leave the agent.
    #[schema(value_type = Option<String>)]
    pub ai_input_digest: Option<Digest>,
    /// What the AI produced (the draft, the proposed change).
    pub ai_output: Option<String>,
    /// The data it used (dataset names, record ids).
    #[serde(default)]
    pub data_used: Vec<String>,
    /// The expected downstream impact.
    #[serde(default)]
    pub impact: String,
}

/// An agent asks before it acts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequestParams {
    /// The action, e.g. `read`, `write`, `pay`, `send_email`.
    pub action: String,
    /// The target system's id.
    pub system: String,
    /// The resource within the system, e.g. `orders/42`.
    pub resource: String,
    /// The task; defaults to the credential's task, and must equal it.
    pub task: Option<String>,
    /// The tool arguments, exactly as the tool will receive them (an approval binds to them).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
    #[serde(default)]
    pub context: ActionContextParams,
    /// An approval request answered for this exact action (after a step_up).
    pub approval_id: Option<String>,
}

impl From<ActionRequestParams> for crate::app::decide::evaluate::DecideInput {
    fn from(p: ActionRequestParams) -> Self {
        let c = p.context;
        crate::app::decide::evaluate::DecideInput {
            action: p.action,
            system: SystemId(p.system),
            resource: p.resource,
            task: p.task,
            arguments: p.arguments,
            context: crate::app::decide::evaluate::DecideContext {
                confidence: c.confidence,
                risk_score: c.risk_score,
                data_classes: c.data_classes,
                ai_input: c.ai_input,
                ai_input_digest: c.ai_input_digest,
                ai_output: c.ai_output,
                data_used: c.data_used,
                impact: c.impact,
            },
            approval_id: p.approval_id,
        }
    }
}

/// The approval request a step_up created.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalRefView {
    pub id: String,
    #[schema(value_type = String)]
    pub assignee: UserId,
    pub approver_role: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// Long-poll this (with the same credential) until a human answers.
    pub wait_url: String,
}

/// The answer to an action request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionDecisionView {
    /// The action id: report its outcome under `/v1/actions/{id}/outcome`.
    pub id: String,
    /// `allow`, `deny` or `step_up`.
    pub decision: String,
    pub reasons: Vec<String>,
    /// The policies that determined it.
    pub policies: Vec<String>,
    #[schema(value_type = Option<String>)]
    pub policy_digest: Option<Digest>,
    /// What an approval binds to: agent, system, action, resource, task, arguments.
    #[schema(value_type = String)]
    pub action_digest: Digest,
    /// For step_up: the request a named human must answer.
    pub approval: Option<ApprovalRefView>,
    pub decided_at: DateTime<Utc>,
}

impl ActionDecisionView {
    pub fn new(w: &crate::app::decide::evaluate::DecisionWrite) -> Self {
        let a = &w.action;
        ActionDecisionView {
            id: a.id.clone(),
            decision: a.decision.clone(),
            reasons: a.reasons.clone(),
            policies: a.policies.clone(),
            policy_digest: a.policy_digest.clone(),
            action_digest: a.action_digest.clone(),
            approval: w.new_approval.as_ref().map(|ap| ApprovalRefView {
                id: ap.id.clone(),
                assignee: ap.assignee.clone(),
                approver_role: ap.approver_role.clone(),
                expires_at: ap.expires_at,
                wait_url: format!("/v1/approvals/{}/wait", ap.id),
            }),
            decided_at: a.decided_at,
        }
    }
}

/// An approval request and the context to decide it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalView {
    pub id: String,
    /// `pending`, `approved`, `denied`, `expired` or `used`.
    pub state: String,
    pub action_id: String,
    #[schema(value_type = String)]
    pub agent: AgentId,
    #[schema(value_type = String)]
    pub system: SystemId,
    pub action: String,
    pub resource: String,
    pub task: String,
    #[schema(value_type = String)]
    pub action_digest: Digest,
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
    /// What the AI produced, the data it used, the expected impact, risk and confidence.
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    #[schema(value_type = String)]
    pub assignee: UserId,
    pub approver_role: Option<String>,
    pub policies: Vec<String>,
    /// Why the policy asked for a human.
    pub reasons: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub first_opened_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>)]
    pub decided_by: Option<UserId>,
    pub decided_at: Option<DateTime<Utc>>,
    pub comment: Option<String>,
    pub used_by: Option<String>,
}

impl From<crate::app::approvals::ApprovalView> for ApprovalView {
    fn from(v: crate::app::approvals::ApprovalView) -> Self {
        let a = v.approval;
        ApprovalView {
            id: a.id,
            state: v.state,
            action_id: a.action_id,
            agent: a.agent_id,
            system: a.system_id,
            action: a.action,
            resource: a.resource,
            task: a.task,
            action_digest: a.action_digest,
            arguments: a.arguments,
            context: a.context,
            assignee: a.assignee,
            approver_role: a.approver_role,
            policies: a.policies,
            reasons: v.action.map(|x| x.reasons).unwrap_or_default(),
            created_at: a.created_at,
            expires_at: a.expires_at,
            first_opened_at: a.first_opened_at,
            decided_by: a.decided_by,
            decided_at: a.decided_at,
            comment: a.comment,
            used_by: a.used_by,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerParams {
    /// Why: what was checked.
    pub comment: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsQuery {
    /// `pending` (default), `approved`, `denied`, `expired`, `used` or `all`.
    pub state: Option<String>,
    /// Another user's requests (admin, security, risk, compliance); default: mine.
    pub assignee: Option<String>,
    pub agent: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// Seconds to wait for a human's answer (0-60, default 30).
    pub timeout: Option<u64>,
}

/// The final outcome of an allowed action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeParams {
    /// `succeeded`, `failed` or `abandoned`.
    pub status: String,
    /// What happened (ids created, errors).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostReviewParams {
    /// `ok` or `flagged`.
    pub verdict: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ActionsQuery {
    pub agent: Option<String>,
    pub system: Option<String>,
    pub task: Option<String>,
    /// `pending` for the post-action review queue, `reviewed`.
    pub review: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostReviewView {
    #[schema(value_type = String)]
    pub by: UserId,
    pub at: DateTime<Utc>,
    pub verdict: String,
    pub comment: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeView {
    pub status: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// One entry of the action log: the AI input, the decision, the human decision (if
/// any) and the final outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionView {
    pub id: String,
    #[schema(value_type = String)]
    pub agent: AgentId,
    #[schema(value_type = String)]
    pub owner: UserId,
    pub credential: String,
    #[schema(value_type = String)]
    pub system: SystemId,
    pub action: String,
    pub resource: String,
    pub task: String,
    #[schema(value_type = String)]
    pub action_digest: Digest,
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    pub risk_score: u32,
    pub decision: String,
    pub reasons: Vec<String>,
    pub policies: Vec<String>,
    #[schema(value_type = Option<String>)]
    pub policy_digest: Option<Digest>,
    pub approval_id: Option<String>,
    /// The human decision, when the action stepped up.
    pub approval: Option<ApprovalView>,
    pub decided_at: DateTime<Utc>,
    /// `pending` while it waits in the post-action review queue.
    pub review_state: Option<String>,
    pub review: Option<PostReviewView>,
    pub outcome: Option<OutcomeView>,
    /// The delegation chain it was asked under: agent ids from the task's root agent to
    /// the one that acted (just that agent when its credential was not delegated).
    #[schema(value_type = Vec<String>)]
    pub delegation: Vec<AgentId>,
}

impl From<ActionRecord> for ActionView {
    fn from(a: ActionRecord) -> Self {
        ActionView {
            id: a.id,
            agent: a.agent_id,
            owner: a.owner,
            credential: a.jti,
            system: a.system_id,
            action: a.action,
            resource: a.resource,
            task: a.task,
            action_digest: a.action_digest,
            arguments: a.arguments,
            context: a.context,
            risk_score: a.risk_score,
            decision: a.decision,
            reasons: a.reasons,
            policies: a.policies,
            policy_digest: a.policy_digest,
            approval_id: a.approval_id,
            approval: None,
            decided_at: a.decided_at,
            review_state: a.review_state,
            review: a.review.map(|r| PostReviewView {
                by: r.by,
                at: r.at,
                verdict: r.verdict,
                comment: r.comment,
            }),
            outcome: a.outcome.map(|o| OutcomeView {
                status: o.status,
                detail: o.detail,
                at: o.at,
            }),
            delegation: Vec::new(),
        }
    }
}

impl ActionView {
    pub fn linked(v: crate::app::actions::ActionView, now: DateTime<Utc>) -> Self {
        let mut out = ActionView::from(v.action.clone());
        out.delegation = v.delegation;
        out.approval = v.approval.map(|a| {
            ApprovalView::from(crate::app::approvals::ApprovalView {
                state: crate::app::decide::evaluate::effective_state(&a, now).to_owned(),
                approval: a,
                action: Some(v.action),
            })
        });
        out
    }
}

/// One reviewer's accountability signals.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalsView {
    #[schema(value_type = String)]
    pub user: UserId,
    /// `release_review` or `step_up`.
    pub kind: String,
    pub decisions: u32,
    pub approvals: u32,
    pub approval_pct: u32,
    pub median_seconds_from_assignment: Option<i64>,
    pub median_seconds_from_open: Option<i64>,
    pub decided_without_opening: u32,
    /// Non-empty when the reviewer looks like a rubber stamp by the profile's thresholds.
    pub flags: Vec<String>,
    pub flagged: bool,
}

impl From<crate::app::accountability::Signals> for SignalsView {
    fn from(s: crate::app::accountability::Signals) -> Self {
        SignalsView {
            user: s.user,
            kind: s.kind.to_owned(),
            decisions: s.decisions,
            approvals: s.approvals,
            approval_pct: s.approval_pct,
            median_seconds_from_assignment: s.median_seconds_from_assignment,
            median_seconds_from_open: s.median_seconds_from_open,
            decided_without_opening: s.decided_without_opening,
            flagged: !s.flags.is_empty(),
            flags: s.flags,
        }
    }
}

/// One runtime policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    pub id: String,
    pub file: String,
    /// `permit` or `forbid`.
    pub effect: String,
    /// `allow`, `step_up` or `deny`.
    pub decision: String,
    pub approver: Option<String>,
    pub text: String,
}

/// The running policy set.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicySetView {
    #[schema(value_type = String)]
    pub digest: Digest,
    /// The directory it was loaded from; none for the built-in example set.
    pub dir: Option<String>,
    pub loaded_at: DateTime<Utc>,
    pub policies: Vec<PolicyView>,
}

impl PolicySetView {
    pub fn new(p: &crate::app::policies::LoadedPolicies) -> Self {
        PolicySetView {
            digest: p.set.digest().clone(),
            dir: p.dir.as_ref().map(|d| d.display().to_string()),
            loaded_at: p.loaded_at,
            policies: p
                .set
                .policies()
                .iter()
                .map(|s| PolicyView {
                    id: s.id.clone(),
                    file: s.file.clone(),
                    effect: s.effect.clone(),
                    decision: s.decision.clone(),
                    approver: s.approver.clone(),
                    text: s.text.clone(),
                })
                .collect(),
        }
    }
}
