//! HTTP handlers for AuthZEN 1.0 access evaluation (`/access/v1/evaluation` and the
//! batch `/access/v1/evaluations`), authenticated like `POST /v1/decide` by the
//! agent's just-in-time credential, and the mapping between AuthZEN's wire shape and
//! the application's evaluations.

use super::extract::{ok_replayed, AuthzenBody, Credential, RequestId};
use super::problem::{ApiError, ApiResult, Problem};
use super::runtime::action_decision_view;
use crate::app;
use crate::app::decide::access::{Access, Batch, Evaluation, Semantic, Subject};
use crate::app::decide::commit::DecisionKey;
use crate::app::decide::Answer;
use crate::app::idempotency::Idempotency;
use crate::app::runtime::Principal;
use crate::app::unit::App as AppState;
use axum::extract::State;
use axum::http::HeaderName;
use axum::response::IntoResponse;
use countersign_api::*;
use countersign_core::problem::ProblemCode;
use countersign_core::runtime::ActionDecision;

impl From<IncompleteEvaluation> for ApiError {
    fn from(e: IncompleteEvaluation) -> Self {
        ApiError::bad_request(ProblemCode::IncompleteEvaluation, e.to_string())
    }
}

impl From<AccessRequest> for Evaluation {
    fn from(r: AccessRequest) -> Self {
        Evaluation {
            subject: Subject {
                kind: r.subject.kind,
                id: r.subject.id,
            },
            input: r.params.into(),
        }
    }
}

impl From<AccessBatch> for Batch {
    fn from(b: AccessBatch) -> Self {
        Batch {
            evaluations: b.requests.into_iter().map(Evaluation::from).collect(),
            semantic: match b.semantic {
                AccessSemantic::ExecuteAll => Semantic::ExecuteAll,
                AccessSemantic::DenyOnFirstDeny => Semantic::DenyOnFirstDeny,
                AccessSemantic::PermitOnFirstPermit => Semantic::PermitOnFirstPermit,
            },
        }
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The answer with the caller's `X-Request-ID` echoed (AuthZEN 1.0's HTTPS binding),
/// a refusal as much as a decision.
fn echo_request_id(id: RequestId, r: ApiResult) -> ApiResult {
    let mut resp = r.unwrap_or_else(IntoResponse::into_response);
    if let Some(id) = id.0 {
        resp.headers_mut().insert(X_REQUEST_ID, id);
    }
    Ok(resp)
}

fn key(p: &Principal, i: Option<Idempotency>) -> Option<DecisionKey> {
    i.map(|idempotency| DecisionKey {
        agent: p.agent.id.to_string(),
        idempotency,
    })
}

/// The AuthZEN decision for a countersign decision: `true` only for `allow`; the
/// context says which, why, and for a step-up where the human approves.
fn decision_view(a: &Answer) -> AccessDecisionView {
    let v = action_decision_view(&a.write);
    let approval_url = v
        .approval
        .as_ref()
        .map(|ap| format!("/console/approvals/{}", ap.id));
    AccessDecisionView {
        decision: a.write.action.decision == ActionDecision::Allow,
        context: Some(AccessDecisionContextView {
            id: Some(v.id),
            reason: (!v.reasons.is_empty()).then(|| v.reasons.join("; ")),
            decision: Some(v.decision),
            reasons: v.reasons,
            policies: v.policies,
            action_digest: Some(v.action_digest),
            approval: v.approval,
            approval_url,
            error: None,
        }),
    }
}

/// One evaluation of a batch: decided, or refused in its place (AuthZEN §7.2.1).
fn access_view(a: Access) -> AccessDecisionView {
    match a {
        Access::Decided(a) => decision_view(&a),
        Access::Refused(e) => {
            let ApiError::Problem(p) = ApiError::from(e);
            AccessDecisionView {
                decision: false,
                context: Some(AccessDecisionContextView {
                    reason: Some(p.detail.clone()),
                    error: Some(AccessErrorView {
                        status: p.status,
                        kind: p.type_,
                        message: p.detail,
                    }),
                    ..Default::default()
                }),
            }
        }
    }
}

/// An AuthZEN 1.0 access evaluation (§6): may this agent do this action on this resource now? The subject is `{"type": "agent", "id": <the credential's agent>}`, the action's name a countersign action, the resource `{"type": <system>, "id": <resource>}`, the context what `POST /v1/decide` reads (`arguments`, `risk_score`, `data_classes`, `approval_id`, …; other keys are ignored). Decided and recorded exactly as `POST /v1/decide`; `decision` is `true` only for allow. A step-up is `false` with the approval request and its console page in `context`; retry with `context.approval_id` once a human approved. Authenticated by the agent's just-in-time credential.
#[utoipa::path(post, path = "/access/v1/evaluation", tag = "runtime", security(("bearer" = [])), request_body = AccessEvaluationParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key is answered with the first decision and writes nothing"),
        ("X-Request-ID" = Option<String>, Header, description = "echoed on the answer")),
    responses((status = 200, body = AccessDecisionView), (status = 403, body = Problem), (status = 503, body = Problem)))]
pub async fn access_evaluation(
    State(s): State<AppState>,
    id: RequestId,
    p: Result<Credential, ApiError>,
    b: Result<AuthzenBody<AccessEvaluationParams>, ApiError>,
) -> ApiResult {
    let answer = async {
        let Credential(p) = p?;
        let AuthzenBody(b) = b?;
        let e = b.body.request(0)?.into();
        let a = app::decide::access::evaluate(&s, &p, e, key(&p, b.idempotency)).await?;
        ok_replayed(decision_view(&a), a.replayed)
    };
    echo_request_id(id, answer.await)
}

/// AuthZEN 1.0 access evaluations (§7): a batch, the top-level `subject`, `action`, `resource` and `context` the defaults of each of `evaluations`; `options.evaluations_semantic` is `execute_all` (default), `deny_on_first_deny` or `permit_on_first_permit`. Each evaluation is decided and recorded as `POST /v1/decide`, in order; one that cannot be decided (another subject, a bad action) is `false` with `context.error`. Without `evaluations` it is one evaluation, answered at the top level. Authenticated by the agent's just-in-time credential.
#[utoipa::path(post, path = "/access/v1/evaluations", tag = "runtime", security(("bearer" = [])), request_body = AccessEvaluationsParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retried batch is answered with the first decisions and writes nothing"),
        ("X-Request-ID" = Option<String>, Header, description = "echoed on the answer")),
    responses((status = 200, body = AccessEvaluationsView), (status = 503, body = Problem)))]
pub async fn access_evaluations(
    State(s): State<AppState>,
    id: RequestId,
    p: Result<Credential, ApiError>,
    b: Result<AuthzenBody<AccessEvaluationsParams>, ApiError>,
) -> ApiResult {
    let answer = async {
        let Credential(p) = p?;
        let AuthzenBody(b) = b?;
        let batch = b.body.batch()?;
        let boxcar = batch.boxcar;
        let v =
            app::decide::access::evaluate_all(&s, &p, batch.into(), key(&p, b.idempotency)).await?;
        let (view, replayed) = evaluations_view(v, boxcar);
        ok_replayed(view, replayed)
    };
    echo_request_id(id, answer.await)
}

/// The batch's answer, and whether it replays a retried batch's.
fn evaluations_view(v: Vec<Access>, boxcar: bool) -> (AccessEvaluationsView, bool) {
    let replayed = v
        .iter()
        .any(|a| matches!(a, Access::Decided(a) if a.replayed));
    let mut decisions: Vec<AccessDecisionView> = v.into_iter().map(access_view).collect();
    let view = match (boxcar, decisions.pop()) {
        (false, Some(one)) => AccessEvaluationsView {
            decision: Some(one.decision),
            context: one.context,
            evaluations: None,
        },
        (_, last) => {
            decisions.extend(last);
            AccessEvaluationsView {
                decision: None,
                context: None,
                evaluations: Some(decisions),
            }
        }
    };
    (view, replayed)
}
