//! Releases through the gate: revisions, reviews, evidence, risk acceptances, the decision and deployments.

use chrono::{DateTime, Utc};
use countersign_core::gap::GapKey;
use countersign_core::release::{Attributes, Bundle, Decision, ReleaseKind};
use countersign_core::review::{Answer, Verdict};
use countersign_core::{Digest, Role, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::{IntoParams, ToSchema};

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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevisionParams {
    /// The revision this request was made against; a stale one is refused with 409.
    pub revision: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
    /// The first 8 hex characters of the revision's bundle digest, when the tier's
    /// `confirm_digest` friction rule asks the reviewer to type them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_digest: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRiskParams {
    pub revision: u32,
    /// A gap key from the gate status, e.g. `missing_review:legal`.
    #[schema(value_type = String)]
    pub gap: GapKey,
    pub justification: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EvidenceQuery {
    pub revision: u32,
    /// An evidence kind from the profile.
    pub kind: String,
    /// A file name for the document.
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

/// A release and the revision a command just produced or touched.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReleaseWithRevisionView {
    pub release: ReleaseView,
    pub revision: RevisionView,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeploymentView {
    pub id: String,
    pub revision: u32,
    pub action: String,
    pub environment: String,
    pub reason: String,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

/// A release with its whole history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReleaseDetailView {
    pub release: ReleaseView,
    pub revisions: Vec<RevisionView>,
    pub reviews: Vec<ReviewView>,
    pub evidence: Vec<EvidenceView>,
    pub acceptances: Vec<AcceptanceView>,
    pub decisions: Vec<DecisionView>,
    pub deployments: Vec<DeploymentView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProfileView {
    pub name: String,
    pub version: String,
    pub digest: String,
    #[schema(value_type = Object)]
    pub profile: serde_json::Value,
}

/// Withdraw the go of the current revision before promotion: the release is in review
/// again. Decision owner only.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawParams {
    pub revision: u32,
    /// Why (at least 10 characters); recorded in the ledger.
    pub reason: String,
}

/// Block the current revision: a no-go with a reason. Decision owner only.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockParams {
    pub revision: u32,
    /// Why (at least 10 characters); recorded in the ledger.
    pub reason: String,
}
