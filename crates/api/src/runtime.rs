//! Runtime decisions, step-up approvals, the action log and the policy set.

use chrono::{DateTime, Utc};
use countersign_core::{AgentId, Digest, SystemId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// The context a decision and a human approver need.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

/// The approval request a step_up created.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

/// What an action request would be decided now, without deciding it: nothing is
/// recorded, no approval request is opened, and nothing can be done with it. For
/// enforcement points that show an agent what it may do (the MCP gateway's
/// `tools/list`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionPreviewView {
    /// `allow`, `deny` or `step_up`.
    pub decision: String,
    pub reasons: Vec<String>,
    /// The policies that would determine it.
    pub policies: Vec<String>,
    #[schema(value_type = Option<String>)]
    pub policy_digest: Option<Digest>,
    #[schema(value_type = String)]
    pub action_digest: Digest,
    /// For step_up: who would be asked to approve.
    #[schema(value_type = Option<String>)]
    pub assignee: Option<UserId>,
}

/// An approval request and the context to decide it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    pub id: String,
    /// `pending`, `approved`, `denied`, `expired`, `used` or `revoked`.
    pub state: String,
    pub action_id: String,
    #[schema(value_type = String)]
    pub agent: AgentId,
    /// The delegation chain the action was asked under, from the task's root agent to
    /// `agent` (just `agent` when not delegated). Given when one request is shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub delegation: Vec<AgentId>,
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerParams {
    /// Why: what was checked.
    pub comment: String,
    /// The first 8 hex characters of the action digest, when the tier's
    /// `confirm_digest` friction rule asks the approver to type them (approving only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_digest: Option<String>,
}

/// Take back an approval its action has not used yet.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeApprovalParams {
    /// Why it no longer stands (required); recorded in the ledger.
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, IntoParams)]
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

#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// Seconds to wait for a human's answer (0-60, default 30).
    pub timeout: Option<u64>,
}

/// The final outcome of an allowed action.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeParams {
    /// `succeeded`, `failed` or `abandoned`.
    pub status: String,
    /// What happened (ids created, errors).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostReviewParams {
    /// `ok` or `flagged`.
    pub verdict: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Serialize, Deserialize, IntoParams)]
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

#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PostReviewView {
    #[schema(value_type = String)]
    pub by: UserId,
    pub at: DateTime<Utc>,
    pub verdict: String,
    pub comment: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OutcomeView {
    pub status: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// One entry of the action log: the AI input, the decision, the human decision (if
/// any) and the final outcome.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

/// One reviewer's accountability signals.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
    /// How many of the approvals were accepted under each friction rule (the tier's
    /// `min_review_seconds`, `require_opened_evidence`, `confirm_digest`), by rule.
    #[schema(value_type = BTreeMap<String, u32>)]
    pub friction_enforced: BTreeMap<String, u32>,
    /// Non-empty when the reviewer looks like a rubber stamp by the profile's thresholds.
    pub flags: Vec<String>,
    pub flagged: bool,
}

/// One runtime policy.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicySetView {
    #[schema(value_type = String)]
    pub digest: Digest,
    /// The directory it was loaded from; none for the built-in example set.
    pub dir: Option<String>,
    pub loaded_at: DateTime<Utc>,
    pub policies: Vec<PolicyView>,
}
