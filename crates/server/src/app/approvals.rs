//! Step-up approval requests (I10): a named human sees what the AI produced, the
//! data it used and what it will change, and approves or denies with a comment. An
//! approval is bound to the action digest and used at most once; a request nobody
//! answers expires to deny.

use super::deadlines::SYSTEM_ACTOR;
use super::decide::evaluate::effective_state;
use super::runtime::Principal;
use super::unit::App;
use super::{record, AppError, Ctx};
use chrono::{DateTime, Utc};
use countersign_core::problem::ProblemCode;
use countersign_core::runtime::ApprovalState;
use countersign_core::{AgentId, Role, UserId};
use countersign_ledger::EntryDraft;
use countersign_store::prelude::*;
use countersign_store::records::{ActionRecord, ApprovalFilter, ApprovalRecord, ContextViewRecord};
use serde_json::json;

/// An approval request with the decision that created it.
#[derive(Clone, Debug)]
pub struct ApprovalView {
    pub approval: ApprovalRecord,
    /// The state now (a pending request past its expiry is expired).
    pub state: ApprovalState,
    pub action: Option<ActionRecord>,
    /// The delegation chain the action was asked under, root agent first; filled when
    /// one request is opened (empty in lists and answers).
    pub delegation: Vec<AgentId>,
    /// The friction rules on approving it, for the person who opened it (filled when
    /// one request is opened by its assignee while it waits).
    pub friction: super::friction::Status,
}

fn view(a: ApprovalRecord, action: Option<ActionRecord>, now: DateTime<Utc>) -> ApprovalView {
    ApprovalView {
        state: effective_state(&a, now),
        approval: a,
        action,
        delegation: Vec::new(),
        friction: Default::default(),
    }
}

async fn load(tx: &mut dyn Tx, id: &str) -> Result<ApprovalRecord, AppError> {
    tx.get_approval(id)
        .await?
        .ok_or_else(|| AppError::NotFound {
            what: "approval request",
            id: id.to_owned(),
        })
}

/// The request, when the actor is its assignee (who alone answers or revokes it).
async fn load_assigned(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<ApprovalRecord, AppError> {
    let a = load(tx, id).await?;
    if a.assignee != ctx.actor.id {
        return Err(AppError::forbidden(
            ProblemCode::NotAssignee,
            format!("approval request {id} is assigned to {}", a.assignee),
        ));
    }
    Ok(a)
}

/// Who may read an approval request's context: its assignee, and auditors of the
/// runtime (admin, security, risk, compliance).
const READERS: &[Role] = &[Role::Admin, Role::Security, Role::Risk, Role::Compliance];

/// Opens a request's context. The assignee's first opening is recorded (it counts
/// for accountability) with its own ledger entry.
pub async fn open(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<ApprovalView, AppError> {
    let mut a = load(tx, id).await?;
    if a.assignee != ctx.actor.id {
        ctx.require_any(READERS)?;
    } else if a.first_opened_at.is_none() {
        a.first_opened_at = Some(ctx.now);
        tx.update_approval(&a).await?;
        tx.record_view(&ContextViewRecord {
            kind: "approval".into(),
            subject: a.id.clone(),
            user: ctx.actor.id.clone(),
            first_opened_at: ctx.now,
        })
        .await?;
        record(
            tx,
            ctx,
            "approval.open",
            &a.id,
            json!({"action_id": a.action_id}),
        )
        .await?;
    }
    let action = tx.get_action(&a.action_id).await?;
    let delegation = match &action {
        Some(x) => super::credentials::delegation_chain(tx, &x.jti, &x.agent_id).await?,
        None => vec![a.agent_id.clone()],
    };
    let friction =
        if a.assignee == ctx.actor.id && effective_state(&a, ctx.now) == ApprovalState::Pending {
            super::friction::step_up_status(tx, ctx, &a).await?
        } else {
            Default::default()
        };
    Ok(ApprovalView {
        delegation,
        friction,
        ..view(a, action, ctx.now)
    })
}

/// Whether `open` would write (the assignee opening for the first time).
pub async fn opens_first_time(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<bool, AppError> {
    let a = load(tx, id).await?;
    Ok(a.assignee == ctx.actor.id && a.first_opened_at.is_none())
}

/// The approver takes back an approval the action has not used yet: the request is
/// `revoked`, and the agent's retry is denied (one `approval.revoke` entry). Only its
/// assignee, with a reason; a used, denied, expired or pending request is refused.
pub async fn revoke(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    reason: String,
) -> Result<ApprovalView, AppError> {
    let mut a = load_assigned(tx, ctx, id).await?;
    let reason = reason.trim().to_owned();
    if reason.is_empty() || reason.len() > 4000 {
        return Err(AppError::invalid(
            ProblemCode::MissingComment,
            "revoking an approval needs a reason (1-4000 characters)",
        ));
    }
    let state = effective_state(&a, ctx.now);
    if state != ApprovalState::Approved {
        let detail = match state {
            ApprovalState::Used => format!(
                "approval request {id} was already used by action {}; only an unused approval \
                 can be revoked",
                a.used_by.as_deref().unwrap_or("?")
            ),
            other => format!(
                "approval request {id} is {other}; only an approved, unused approval can be \
                 revoked"
            ),
        };
        return Err(AppError::conflict(ProblemCode::ApprovalAnswered, detail));
    }
    a.state = ApprovalState::Revoked;
    a.revoked_at = Some(ctx.now);
    a.revoke_reason = Some(reason.clone());
    tx.update_approval(&a).await?;
    record(
        tx,
        ctx,
        "approval.revoke",
        &a.id,
        json!({
            "action_id": a.action_id, "action_digest": a.action_digest,
            "agent": a.agent_id, "reason": reason,
        }),
    )
    .await?;
    let action = tx.get_action(&a.action_id).await?;
    Ok(view(a, action, ctx.now))
}

/// Which approval requests to list; every field has a default.
#[derive(Clone, Debug, Default)]
pub struct ApprovalQuery {
    /// Default: the caller.
    pub assignee: Option<UserId>,
    /// Default: `pending`; `all` for every state.
    pub state: Option<String>,
    pub agent: Option<AgentId>,
    /// Default 100, at most 500.
    pub limit: Option<u32>,
}

/// A human opens a request: its first opening by the assignee is recorded (a write,
/// with its ledger entry); any other opening is a read.
pub async fn open_for(app: &App, ctx: Ctx, id: &str) -> Result<ApprovalView, AppError> {
    let (c, owned) = (ctx.clone(), id.to_owned());
    let first = app
        .query(move |tx| Box::pin(async move { opens_first_time(tx, &c, &owned).await }))
        .await?;
    let owned = id.to_owned();
    if !first {
        return app
            .query(move |tx| Box::pin(async move { open(tx, &ctx, &owned).await }))
            .await;
    }
    let done = app
        .command_then(ctx, None, 200, move |tx, ctx| {
            Box::pin(async move { Ok(((), open(tx, ctx, &owned).await?)) })
        })
        .await?;
    done.value.ok_or_else(|| AppError::Unavailable {
        detail: "the approval request was not opened".into(),
    })
}

/// The approval requests a human may see: by default their own pending ones.
pub async fn list(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    q: ApprovalQuery,
) -> Result<Vec<ApprovalView>, AppError> {
    // `None`: every state; `Some(None)`: a state no request can be in.
    let state = match q.state.as_deref() {
        None => Some(Some(ApprovalState::Pending)),
        Some("all") => None,
        Some(other) => Some(ApprovalState::parse(other)),
    };
    let mut filter = ApprovalFilter {
        assignee: Some(q.assignee.unwrap_or_else(|| ctx.actor.id.clone())),
        state: state.flatten(),
        agent: q.agent,
        limit: q.limit.unwrap_or(100),
    };
    if filter.assignee.as_ref() != Some(&ctx.actor.id) {
        ctx.require_any(READERS)?;
    }
    if state == Some(None) {
        return Ok(Vec::new());
    }
    filter.limit = filter.limit.clamp(1, 500);
    // Expired-but-unwritten requests count as expired, not pending.
    let want = filter.state;
    if want == Some(ApprovalState::Expired) {
        filter.state = None;
    }
    let rows = tx.list_approvals(&filter).await?;
    let mut out = Vec::with_capacity(rows.len());
    for a in rows {
        if want.is_some_and(|w| effective_state(&a, ctx.now) != w) {
            continue;
        }
        // The view carries the decision's reasons, so the list shows why each waits.
        let action = tx.get_action(&a.action_id).await?;
        out.push(view(a, action, ctx.now));
    }
    Ok(out)
}

/// The assignee approves or denies, with a comment.
pub async fn answer(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    approve: bool,
    comment: String,
    confirm_digest: Option<String>,
) -> Result<ApprovalView, AppError> {
    let mut a = load_assigned(tx, ctx, id).await?;
    if comment.trim().is_empty() || comment.len() > 4000 {
        return Err(AppError::invalid(
            ProblemCode::MissingComment,
            "approving or denying needs a comment (1-4000 characters)",
        ));
    }
    match effective_state(&a, ctx.now) {
        ApprovalState::Pending => {}
        ApprovalState::Expired => {
            return Err(AppError::conflict(
                ProblemCode::ApprovalExpired,
                format!(
                    "approval request {id} expired at {}; the action was denied",
                    a.expires_at.to_rfc3339()
                ),
            ))
        }
        other => {
            return Err(AppError::conflict(
                ProblemCode::ApprovalAnswered,
                format!("approval request {id} is already {other}"),
            ))
        }
    }
    // Friction slows approving only; a denial is always welcome at once.
    if approve {
        a.friction = super::friction::check_step_up(tx, ctx, &a, confirm_digest.as_deref()).await?;
    }
    a.state = if approve {
        ApprovalState::Approved
    } else {
        ApprovalState::Denied
    };
    a.decided_by = Some(ctx.actor.id.clone());
    a.decided_at = Some(ctx.now);
    a.comment = Some(comment.clone());
    tx.update_approval(&a).await?;
    let verb = if approve {
        "approval.approve"
    } else {
        "approval.deny"
    };
    record(
        tx,
        ctx,
        verb,
        &a.id,
        json!({
            "action_id": a.action_id,
            "action_digest": a.action_digest,
            "agent": a.agent_id,
            "comment": comment,
            "context_opened": a.first_opened_at.is_some(),
            "friction": a.friction,
        }),
    )
    .await?;
    let action = tx.get_action(&a.action_id).await?;
    Ok(view(a, action, ctx.now))
}

/// An agent reads its own approval request.
pub async fn for_agent(
    tx: &mut dyn Tx,
    p: &Principal,
    id: &str,
    now: DateTime<Utc>,
) -> Result<ApprovalView, AppError> {
    let a = load(tx, id).await?;
    if a.agent_id != p.agent.id {
        return Err(AppError::NotFound {
            what: "approval request",
            id: id.to_owned(),
        });
    }
    let action = tx.get_action(&a.action_id).await?;
    Ok(view(a, action, now))
}

/// Long-poll: waits until the request is no longer pending or `timeout_secs` (default
/// 30, at most 60) pass.
pub async fn wait_for_agent(
    app: &App,
    p: &Principal,
    id: &str,
    timeout_secs: Option<u64>,
) -> Result<ApprovalView, AppError> {
    let wait = std::time::Duration::from_secs(timeout_secs.unwrap_or(30).min(60));
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = app.runtime.watch_approvals();
    let read = || {
        let (p, id, now) = (p.clone(), id.to_owned(), app.now());
        app.query(move |tx| Box::pin(async move { for_agent(tx, &p, &id, now).await }))
    };
    loop {
        changes.borrow_and_update();
        let v = read().await?;
        if v.state != ApprovalState::Pending {
            return Ok(v);
        }
        let until_expiry = (v.approval.expires_at - app.now())
            .to_std()
            .unwrap_or_default();
        let wake = deadline.min(tokio::time::Instant::now() + until_expiry);
        tokio::select! {
            r = changes.changed() => { if r.is_err() { return Ok(v); } }
            _ = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= deadline {
                    return read().await;
                }
            }
        }
    }
}

/// Writes `expired` on pending requests past their expiry, one ledger entry each.
/// Returns how many expired.
pub async fn expire_due(app: &App) -> Result<usize, AppError> {
    let n = app
        .job(|tx, now| {
            Box::pin(async move {
                let due = tx.due_approvals(now, 500).await?;
                let mut drafts = Vec::with_capacity(due.len());
                for mut a in due {
                    a.state = ApprovalState::Expired;
                    tx.update_approval(&a).await?;
                    drafts.push(EntryDraft {
                        at: now,
                        actor: SYSTEM_ACTOR.to_owned(),
                        action: "approval.expire".into(),
                        subject: a.id.clone(),
                        payload: json!({"action_id": a.action_id, "assignee": a.assignee, "expires_at": a.expires_at}),
                    });
                }
                let n = drafts.len();
                if n > 0 {
                    tx.append_batch(drafts).await?;
                }
                Ok(n)
            })
        })
        .await?;
    if n > 0 {
        app.runtime.approvals_changed();
    }
    Ok(n)
}

/// The background job: [`expire_due`] every `every`.
pub async fn expiry_loop(state: App, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match expire_due(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "approval requests expired unanswered"),
            Err(e) => {
                tracing::warn!(error = %e, "approval expiry failed; retrying at the next tick")
            }
        }
    }
}
