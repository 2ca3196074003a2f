//! HTTP handlers for runtime decisions, step-up approvals, the action log and the policy set.

use super::extract::{answer, ok, ok_replayed, AgentBody, Auth, Cmd, Credential, PathId, Q};
use super::problem::{ApiResult, Problem};
use super::view::View;
use crate::app;
use crate::app::decide::commit::DecisionKey;
use crate::app::unit::App as AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use countersign_api::*;
use countersign_core::{AgentId, SystemId, UserId};
use countersign_store::records::*;

impl From<ActionRequestParams> for app::decide::evaluate::DecideInput {
    fn from(p: ActionRequestParams) -> Self {
        let c = p.context;
        app::decide::evaluate::DecideInput {
            action: p.action,
            system: SystemId(p.system),
            resource: p.resource,
            task: p.task,
            arguments: p.arguments,
            context: app::decide::evaluate::DecideContext {
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

pub fn action_decision_view(w: &app::decide::evaluate::DecisionWrite) -> ActionDecisionView {
    let a = &w.action;
    ActionDecisionView {
        id: a.id.clone(),
        decision: a.decision.to_string(),
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

impl View<app::approvals::ApprovalView> for ApprovalView {
    fn view(v: app::approvals::ApprovalView) -> Self {
        let a = v.approval;
        ApprovalView {
            id: a.id,
            state: v.state.to_string(),
            action_id: a.action_id,
            agent: a.agent_id,
            delegation: v.delegation,
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

impl View<ActionRecord> for ActionView {
    fn view(a: ActionRecord) -> Self {
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
            decision: a.decision.to_string(),
            reasons: a.reasons,
            policies: a.policies,
            policy_digest: a.policy_digest,
            approval_id: a.approval_id,
            approval: None,
            decided_at: a.decided_at,
            review_state: a.review_state.map(|s| s.to_string()),
            review: a.review.map(|r| PostReviewView {
                by: r.by,
                at: r.at,
                verdict: r.verdict.to_string(),
                comment: r.comment,
            }),
            outcome: a.outcome.map(|o| OutcomeView {
                status: o.status.to_string(),
                detail: o.detail,
                at: o.at,
            }),
            delegation: Vec::new(),
        }
    }
}

pub fn linked_action_view(v: app::actions::ActionView, now: DateTime<Utc>) -> ActionView {
    let mut out = ActionView::view(v.action.clone());
    out.delegation = v.delegation;
    out.approval = v.approval.map(|a| {
        ApprovalView::view(app::approvals::ApprovalView {
            state: app::decide::evaluate::effective_state(&a, now),
            approval: a,
            action: Some(v.action),
            delegation: Vec::new(),
            friction: Default::default(),
        })
    });
    out
}

impl View<app::accountability::Signals> for SignalsView {
    fn view(s: app::accountability::Signals) -> Self {
        SignalsView {
            user: s.user,
            kind: s.kind.to_owned(),
            decisions: s.decisions,
            approvals: s.approvals,
            approval_pct: s.approval_pct,
            median_seconds_from_assignment: s.median_seconds_from_assignment,
            median_seconds_from_open: s.median_seconds_from_open,
            decided_without_opening: s.decided_without_opening,
            friction_enforced: s
                .friction_enforced
                .iter()
                .map(|(r, n)| (r.as_str().to_owned(), *n))
                .collect(),
            flagged: !s.flags.is_empty(),
            flags: s.flags,
        }
    }
}

pub fn policy_set_view(p: &app::policies::LoadedPolicies) -> PolicySetView {
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

/// An agent asks before it acts (I10): allow, deny or step_up, with reasons and the policies that determined it. Authenticated by the agent's just-in-time credential (`Authorization: Bearer <JWT>`). Grants, time windows and risk limits are enforced before policy; anything unevaluable denies. Answered only after the decision's ledger entry is durable (I11). A request that steps up for an action a human has already approved (the same action digest: agent, system, action, resource, task and arguments; approved, unused and unexpired) uses that approval, once, as if `approval_id` named it: asking again after the approval is enough. A retry with the same `Idempotency-Key` gets the first answer (`Idempotent-Replayed: true`) and writes nothing.
#[utoipa::path(post, path = "/v1/decide", tag = "runtime", security(("bearer" = [])), request_body = ActionRequestParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key is answered with the first decision and writes nothing")),
    responses((status = 200, body = ActionDecisionView), (status = 503, body = Problem)))]
pub async fn decide_action(
    State(s): State<AppState>,
    Credential(p): Credential,
    b: AgentBody<ActionRequestParams>,
) -> ApiResult {
    let key = b.idempotency.map(|idempotency| DecisionKey {
        agent: p.agent.id.to_string(),
        idempotency,
    });
    let a = app::decide::run(&s, &p, b.body.into(), key).await?;
    ok_replayed(action_decision_view(&a.write), a.replayed)
}

/// What an action request would be decided now, without deciding it (for enforcement points that show an agent what it may do, like the MCP gateway's `tools/list`): the same checks and policies as `POST /v1/decide`, but nothing is recorded, no approval request is opened, and the answer cannot be used to act. `approval_id` is ignored. Authenticated by the agent's just-in-time credential.
#[utoipa::path(post, path = "/v1/decide/preview", tag = "runtime", security(("bearer" = [])), request_body = ActionRequestParams,
    responses((status = 200, body = DecisionPreviewView)))]
pub async fn preview_decision(
    State(s): State<AppState>,
    Credential(p): Credential,
    b: AgentBody<ActionRequestParams>,
) -> ApiResult {
    let w = app::decide::preview(&s, &p, b.body.into())?;
    ok(DecisionPreviewView {
        decision: w.action.decision.to_string(),
        reasons: w.action.reasons,
        policies: w.action.policies,
        policy_digest: w.action.policy_digest,
        action_digest: w.action.action_digest,
        assignee: w.new_approval.map(|a| a.assignee),
    })
}

/// The agent waits for a human's answer to its step-up (long-poll, `timeout` seconds), or polls with `timeout=0`. Authenticated by the agent's credential.
#[utoipa::path(get, path = "/v1/approvals/{id}/wait", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path), WaitQuery),
    responses((status = 200, body = ApprovalView)))]
pub async fn wait_approval(
    State(s): State<AppState>,
    Credential(p): Credential,
    PathId(id): PathId,
    Q(q): Q<WaitQuery>,
) -> ApiResult {
    ok(ApprovalView::view(
        app::approvals::wait_for_agent(&s, &p, &id, q.timeout).await?,
    ))
}

/// Approval requests: by default the caller's pending ones. Others' (assignee=...) need admin, security, risk or compliance.
#[utoipa::path(get, path = "/v1/approvals", tag = "runtime", security(("bearer" = [])), params(ApprovalsQuery),
    responses((status = 200, body = Vec<ApprovalView>)))]
pub async fn list_approvals(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<ApprovalsQuery>,
) -> ApiResult {
    let filter = app::approvals::ApprovalQuery {
        assignee: q.assignee.map(UserId),
        state: q.state,
        agent: q.agent.map(AgentId),
        limit: q.limit,
    };
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let v = app::approvals::list(tx, &ctx, filter).await?;
                Ok(v.into_iter().map(ApprovalView::view).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One approval request with its context: what the AI produced, the data it used, what it will change. The assignee's first opening is recorded (accountability). The assignee, admin, security, risk or compliance.
#[utoipa::path(get, path = "/v1/approvals/{id}", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ApprovalView)))]
pub async fn get_approval(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
) -> ApiResult {
    ok(ApprovalView::view(
        app::approvals::open_for(&s, ctx, &id).await?,
    ))
}

/// Approve a step-up: valid once, for the exact action digest, until it expires. The assignee only, with a comment.
#[utoipa::path(post, path = "/v1/approvals/{id}/approve", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = AnswerParams,
    responses((status = 200, body = ApprovalView), (status = 409, body = Problem)))]
pub async fn approve_approval(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<AnswerParams>,
) -> ApiResult {
    answer_step_up(s, id, cmd, true).await
}

/// Deny a step-up. The assignee only, with a comment.
#[utoipa::path(post, path = "/v1/approvals/{id}/deny", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = AnswerParams,
    responses((status = 200, body = ApprovalView), (status = 409, body = Problem)))]
pub async fn deny_approval(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<AnswerParams>,
) -> ApiResult {
    answer_step_up(s, id, cmd, false).await
}

/// Revoke an approval the action has not used yet: the agent's retry is denied. The
/// assignee only, with a reason.
#[utoipa::path(post, path = "/v1/approvals/{id}/revoke", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = RevokeApprovalParams,
    responses((status = 200, body = ApprovalView), (status = 409, body = Problem)))]
pub async fn revoke_approval(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<RevokeApprovalParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |body, tx, ctx| {
        Box::pin(async move {
            let v = app::approvals::revoke(tx, ctx, &id, body.reason).await?;
            Ok(ApprovalView::view(v))
        })
    })
    .await
}

async fn answer_step_up(
    s: AppState,
    id: String,
    cmd: Cmd<AnswerParams>,
    approve: bool,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |body, tx, ctx| {
        Box::pin(async move {
            let v =
                app::approvals::answer(tx, ctx, &id, approve, body.comment, body.confirm_digest)
                    .await?;
            Ok(ApprovalView::view(v))
        })
    })
    .await
}

/// The action log, newest first: decision, human decision, outcome. Filter by agent, system, task or review state. Auditors (admin, security, risk, compliance, operations) see all; others their agents' and systems' actions.
#[utoipa::path(get, path = "/v1/actions", tag = "runtime", security(("bearer" = [])), params(ActionsQuery),
    responses((status = 200, body = Vec<ActionView>)))]
pub async fn list_actions(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<ActionsQuery>,
) -> ApiResult {
    let filter = app::actions::ActionQuery {
        agent: q.agent.map(AgentId),
        system: q.system.map(SystemId),
        task: q.task,
        review: q.review,
        limit: q.limit,
    };
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let v = app::actions::list(tx, &ctx, filter).await?;
                Ok(v.into_iter()
                    .map(|a| linked_action_view(a, ctx.now))
                    .collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One action, linked to its approval request and outcome.
#[utoipa::path(get, path = "/v1/actions/{id}", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ActionView)))]
pub async fn get_action(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let v = app::actions::get(tx, &ctx, &id).await?;
                Ok(linked_action_view(v, ctx.now))
            })
        })
        .await?;
    ok(v)
}

/// The agent reports the final outcome of an allowed action, once. Authenticated by the agent's credential.
#[utoipa::path(post, path = "/v1/actions/{id}/outcome", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = OutcomeParams,
    responses((status = 200, body = ActionView),
              (status = 409, body = Problem)))]
pub async fn report_outcome(
    State(s): State<AppState>,
    Credential(p): Credential,
    PathId(id): PathId,
    b: AgentBody<OutcomeParams>,
) -> ApiResult {
    let (a, now) = app::actions::report(&s, p, id, b.body.status, b.body.detail).await?;
    ok(linked_action_view(a, now))
}

/// The post-action review queue: actions allowed without a human on the systems the caller owns.
#[utoipa::path(get, path = "/v1/reviews/queue", tag = "runtime", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, body = Vec<ActionView>)))]
pub async fn review_queue(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<LimitQuery>,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let v = app::actions::review_queue(tx, &ctx, q.limit).await?;
                Ok(v.into_iter()
                    .map(|a| linked_action_view(a, ctx.now))
                    .collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// Review an action from the queue: `ok` or `flagged` (with a comment). The system's owner.
#[utoipa::path(post, path = "/v1/actions/{id}/review", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = PostReviewParams,
    responses((status = 200, body = ActionView), (status = 409, body = Problem)))]
pub async fn review_action(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<PostReviewParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |body, tx, ctx| {
        Box::pin(async move {
            let a = app::actions::review(tx, ctx, &id, body.verdict, body.comment).await?;
            let now = ctx.now;
            Ok(linked_action_view(a, now))
        })
    })
    .await
}

/// Accountability signals per reviewer and approver, with rubber-stamp flags by the profile's thresholds. Admin, risk or compliance.
#[utoipa::path(get, path = "/v1/accountability", tag = "runtime", security(("bearer" = [])),
    responses((status = 200, body = Vec<SignalsView>)))]
pub async fn accountability(State(s): State<AppState>, Auth(ctx): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let v = app::accountability::report(tx, &ctx).await?;
                Ok(v.into_iter().map(SignalsView::view).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// The running runtime policy set: digest, source directory, policies. Any role.
#[utoipa::path(get, path = "/v1/policies", tag = "runtime", security(("bearer" = [])),
    responses((status = 200, body = PolicySetView)))]
pub async fn policies(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    ok(policy_set_view(&s.runtime.policies()))
}

/// Reload the policy set from its directory; an invalid set is refused (422) and the running set stays. Admin or security.
#[utoipa::path(post, path = "/v1/policies/reload", tag = "runtime", security(("bearer" = [])), request_body = EmptyParams,
    responses((status = 200, body = PolicySetView),
              (status = 409, body = Problem)))]
pub async fn reload_policies(State(s): State<AppState>, cmd: Cmd<EmptyParams>) -> ApiResult {
    let answered =
        app::policies::reload::reload_command(&s, cmd.ctx, cmd.idempotency, policy_set_view)
            .await?;
    answer(answered)
}
