//! AuthZEN 1.0 access evaluation (OpenID Authorization API 1.0, §6 and §7): the
//! standard shape in which other policy enforcement points (gateways, proxies) ask
//! countersign, and its mapping onto a runtime decision request.
//!
//! The subject is the agent (`{"type": "agent", "id": <agent id>}`), the action's name
//! is countersign's action, the resource is `{"type": <system id>, "id": <resource>}`,
//! and the context carries what `POST /v1/decide` reads (`arguments`, `risk_score`,
//! `data_classes`, …). As the specification requires, unknown fields are ignored and a
//! missing subject, action or resource is a bad request ([`IncompleteEvaluation`]).

use crate::runtime::{ActionContextParams, ActionRequestParams, ApprovalRefView};
use countersign_core::Digest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who asks (AuthZEN §5.1): the agent whose credential is the bearer token.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubjectWire {
    /// `agent`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The agent's id.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Value>,
}

/// What it acts on (AuthZEN §5.2): `type` is the system's id, `id` the resource within it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ResourceWire {
    /// The target system's id.
    #[serde(rename = "type")]
    pub kind: String,
    /// The resource within the system, e.g. `orders/42`.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Value>,
}

/// What it does (AuthZEN §5.3): the countersign action, e.g. `read`, `write`, `payments`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ActionWire {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Value>,
}

/// The environment (AuthZEN §5.4): what a decision and a human approver need, as in
/// `POST /v1/decide`. Other keys are ignored.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct AccessContextWire {
    /// The task; defaults to the credential's task, and must equal it.
    pub task: Option<String>,
    /// The tool arguments, exactly as the tool will receive them (an approval binds to them).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
    /// An approval request answered for this exact action (after a step-up).
    pub approval_id: Option<String>,
    pub confidence: Option<f64>,
    #[serde(default)]
    pub risk_score: u32,
    #[serde(default)]
    pub data_classes: Vec<String>,
    pub ai_input: Option<String>,
    #[schema(value_type = Option<String>)]
    pub ai_input_digest: Option<Digest>,
    pub ai_output: Option<String>,
    #[serde(default)]
    pub data_used: Vec<String>,
    #[serde(default)]
    pub impact: String,
}

/// One access evaluation request (AuthZEN §6.1). Each entity is required; they are
/// optional here so that a missing one is a bad request, not a schema mismatch.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct AccessEvaluationParams {
    pub subject: Option<SubjectWire>,
    pub action: Option<ActionWire>,
    pub resource: Option<ResourceWire>,
    pub context: Option<AccessContextWire>,
}

/// How a batch is evaluated (AuthZEN §7.1.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessSemantic {
    /// Every evaluation, in order.
    #[default]
    ExecuteAll,
    /// Stop after the first that is not permitted.
    DenyOnFirstDeny,
    /// Stop after the first that is permitted.
    PermitOnFirstPermit,
}

/// Options of a batch (AuthZEN §7.1.2); other keys are ignored.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct AccessOptions {
    #[serde(default)]
    pub evaluations_semantic: AccessSemantic,
}

/// A batch of access evaluations (AuthZEN §7.1): the top-level entities are defaults
/// that each evaluation may override, entity by entity. Without `evaluations` it is
/// one evaluation.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct AccessEvaluationsParams {
    pub subject: Option<SubjectWire>,
    pub action: Option<ActionWire>,
    pub resource: Option<ResourceWire>,
    pub context: Option<AccessContextWire>,
    #[serde(default)]
    pub evaluations: Vec<AccessEvaluationParams>,
    #[serde(default)]
    pub options: AccessOptions,
}

/// A required AuthZEN entity is missing (the specification's "Bad Request"). This
/// crate depends on core only, so the error is written out rather than derived.
#[derive(Debug)]
pub struct IncompleteEvaluation {
    pub index: usize,
    pub entity: &'static str,
}

impl std::fmt::Display for IncompleteEvaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "evaluation {} has no {} (and the request gives no default)",
            self.index, self.entity
        )
    }
}

impl std::error::Error for IncompleteEvaluation {}

/// One evaluation as countersign decides it: who asks, and the decision request.
#[derive(Debug)]
pub struct AccessRequest {
    pub subject: SubjectWire,
    pub params: ActionRequestParams,
}

impl AccessEvaluationParams {
    /// This evaluation, each missing entity taken from `defaults`.
    fn or(self, defaults: &AccessEvaluationParams) -> AccessEvaluationParams {
        AccessEvaluationParams {
            subject: self.subject.or_else(|| defaults.subject.clone()),
            action: self.action.or_else(|| defaults.action.clone()),
            resource: self.resource.or_else(|| defaults.resource.clone()),
            context: self.context.or_else(|| defaults.context.clone()),
        }
    }

    /// The decision request this evaluation asks for; `index` names it in the error.
    pub fn request(self, index: usize) -> Result<AccessRequest, IncompleteEvaluation> {
        let missing = |entity| IncompleteEvaluation { index, entity };
        let subject = self.subject.ok_or_else(|| missing("subject"))?;
        let action = self.action.ok_or_else(|| missing("action"))?;
        let resource = self.resource.ok_or_else(|| missing("resource"))?;
        let c = self.context.unwrap_or_default();
        Ok(AccessRequest {
            subject,
            params: ActionRequestParams {
                action: action.name,
                system: resource.kind,
                resource: resource.id,
                task: c.task,
                arguments: c.arguments,
                context: ActionContextParams {
                    confidence: c.confidence,
                    risk_score: c.risk_score,
                    data_classes: c.data_classes,
                    ai_input: c.ai_input,
                    ai_input_digest: c.ai_input_digest,
                    ai_output: c.ai_output,
                    data_used: c.data_used,
                    impact: c.impact,
                },
                approval_id: c.approval_id,
            },
        })
    }
}

/// A batch as countersign evaluates it.
#[derive(Debug)]
pub struct AccessBatch {
    pub requests: Vec<AccessRequest>,
    pub semantic: AccessSemantic,
    /// Asked with `evaluations` (answered the same way); else the one top-level
    /// evaluation, answered at the top level.
    pub boxcar: bool,
}

impl AccessEvaluationsParams {
    /// The evaluations of the batch with the defaults applied, in order.
    pub fn batch(self) -> Result<AccessBatch, IncompleteEvaluation> {
        let defaults = AccessEvaluationParams {
            subject: self.subject,
            action: self.action,
            resource: self.resource,
            context: self.context,
        };
        let semantic = self.options.evaluations_semantic;
        if self.evaluations.is_empty() {
            return Ok(AccessBatch {
                requests: vec![defaults.request(0)?],
                semantic,
                boxcar: false,
            });
        }
        let requests = self
            .evaluations
            .into_iter()
            .enumerate()
            .map(|(i, e)| e.or(&defaults).request(i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AccessBatch {
            requests,
            semantic,
            boxcar: true,
        })
    }
}

/// Why an evaluation could not be decided (AuthZEN §7.2.1: an error in one
/// evaluation of a batch); the decision is then `false`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessErrorView {
    /// The HTTP status the same request alone would have been answered with.
    pub status: u16,
    /// The problem type, `urn:countersign:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// What countersign adds to a decision (AuthZEN §5.5.1).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct AccessDecisionContextView {
    /// The action id: report its outcome under `/v1/actions/{id}/outcome`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// countersign's decision: `allow`, `deny` or `step_up` (a step-up is not permitted
    /// until a human approves; retry with `context.approval_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// The reasons, joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// The policies that determined it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub action_digest: Option<Digest>,
    /// The approval request a step-up created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalRefView>,
    /// Where the human approves it: the console's approval page, relative to the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<AccessErrorView>,
}

/// An access decision (AuthZEN §5.5): `true` only for countersign's `allow`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessDecisionView {
    pub decision: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<AccessDecisionContextView>,
}

/// The answer to a batch (AuthZEN §7.2): one decision per evaluation evaluated, in
/// order; for a request without `evaluations`, the one decision at the top level.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessEvaluationsView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<AccessDecisionContextView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluations: Option<Vec<AccessDecisionView>>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_what_an_evaluation_omits_and_it_overrides_them() {
        let p: AccessEvaluationsParams = serde_json::from_value(json!({
            "subject": {"type": "agent", "id": "agt_1"},
            "action": {"name": "read"},
            "context": {"time": "2024-05-31T15:22-07:00", "risk_score": 5},
            "evaluations": [
                {"resource": {"type": "shop", "id": "orders/1"}},
                {"action": {"name": "write"}, "resource": {"type": "shop", "id": "orders/2"},
                 "context": {"arguments": {"refund": 3}}}
            ],
            "options": {"evaluations_semantic": "deny_on_first_deny", "another_option": 1}
        }))
        .unwrap();
        let b = p.batch().unwrap();
        assert!(b.boxcar);
        assert_eq!(b.semantic, AccessSemantic::DenyOnFirstDeny);
        let v = b.requests;
        assert_eq!(v[0].params.action, "read");
        assert_eq!(v[0].params.context.risk_score, 5);
        assert_eq!(v[1].params.action, "write");
        assert_eq!(v[1].params.resource, "orders/2");
        assert_eq!(v[1].params.system, "shop");
        // The context is replaced as a whole, not merged.
        assert_eq!(v[1].params.context.risk_score, 0);
        assert_eq!(v[1].params.arguments, json!({"refund": 3}));
    }

    #[test]
    fn a_missing_entity_is_named() {
        let p: AccessEvaluationsParams = serde_json::from_value(json!({
            "evaluations": [{"subject": {"type": "agent", "id": "a"}, "action": {"name": "read"}}]
        }))
        .unwrap();
        let e = p.batch().unwrap_err();
        assert_eq!((e.index, e.entity), (0, "resource"));
        let one: AccessEvaluationParams = serde_json::from_value(json!({})).unwrap();
        assert_eq!(one.request(0).unwrap_err().entity, "subject");
    }
}
