//! The action log: every decided request, the human decision on it (if any), and the
//! final outcome the agent reports; and the post-action review queue, where actions
//! allowed without a human wait for their system owner's review.

use super::runtime::Principal;
use super::unit::App;
use super::{record, record_agent_at, AppError, Ctx};
use chrono::{DateTime, Utc};
use countersign_core::problem::ProblemCode;
use countersign_core::runtime::{ActionDecision, OutcomeStatus, PostReviewVerdict, ReviewState};
use countersign_core::{AgentId, Role, SystemId};
use countersign_store::prelude::*;
use countersign_store::records::{
    ActionFilter, ActionOutcome, ActionRecord, ApprovalRecord, PostReview,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One action with its human decision and the delegation chain it was asked under.
#[derive(Clone, Debug)]
pub struct ActionView {
    pub action: ActionRecord,
    pub approval: Option<ApprovalRecord>,
    /// The agents from the task's root to the one that acted (one agent when the
    /// credential was not delegated), I8.
    pub delegation: Vec<AgentId>,
}

/// Attaches each action's delegation chain, reading each credential's chain once.
async fn views(tx: &mut dyn Tx, rows: Vec<ActionRecord>) -> Result<Vec<ActionView>, AppError> {
    let mut chains: BTreeMap<String, Vec<AgentId>> = BTreeMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for action in rows {
        let delegation = match chains.get(&action.jti) {
            Some(c) => c.clone(),
            None => {
                let c =
                    super::credentials::delegation_chain(tx, &action.jti, &action.agent_id).await?;
                chains.insert(action.jti.clone(), c.clone());
                c
            }
        };
        out.push(ActionView {
            action,
            approval: None,
            delegation,
        });
    }
    Ok(out)
}

async fn view(tx: &mut dyn Tx, action: ActionRecord) -> Result<ActionView, AppError> {
    let delegation =
        super::credentials::delegation_chain(tx, &action.jti, &action.agent_id).await?;
    Ok(ActionView {
        action,
        approval: None,
        delegation,
    })
}

async fn load(tx: &mut dyn Tx, id: &str) -> Result<ActionRecord, AppError> {
    tx.get_action(id).await?.ok_or_else(|| AppError::NotFound {
        what: "action",
        id: id.to_owned(),
    })
}

/// Who may read the whole action log.
const AUDITORS: &[Role] = &[
    Role::Admin,
    Role::Security,
    Role::Risk,
    Role::Compliance,
    Role::Operations,
];

async fn may_read(tx: &mut dyn Tx, ctx: &Ctx, a: &ActionRecord) -> Result<(), AppError> {
    if a.owner == ctx.actor.id {
        return Ok(());
    }
    if let Some(s) = tx.get_system(&a.system_id).await? {
        if s.owner == ctx.actor.id {
            return Ok(());
        }
    }
    ctx.require_any(AUDITORS)
}

/// One action, linked to its approval request.
pub async fn get(tx: &mut dyn Tx, ctx: &Ctx, id: &str) -> Result<ActionView, AppError> {
    let action = load(tx, id).await?;
    may_read(tx, ctx, &action).await?;
    let approval = match &action.approval_id {
        Some(a) => tx.get_approval(a).await?,
        None => None,
    };
    let mut v = view(tx, action).await?;
    v.approval = approval;
    Ok(v)
}

/// Which actions to list.
#[derive(Clone, Debug, Default)]
pub struct ActionQuery {
    pub agent: Option<AgentId>,
    pub system: Option<SystemId>,
    pub task: Option<String>,
    /// The post-action review state.
    pub review: Option<String>,
    /// Default 100, at most 1000.
    pub limit: Option<u32>,
}

/// The log, newest first, filtered by agent, system, task or review state. Auditors
/// see everything; others see the actions of their agents and systems.
pub async fn list(tx: &mut dyn Tx, ctx: &Ctx, q: ActionQuery) -> Result<Vec<ActionView>, AppError> {
    let review_state = match q.review.as_deref().map(ReviewState::parse) {
        None => None,
        Some(Some(s)) => Some(s),
        // A review state no action can be in matches none.
        Some(None) => return Ok(Vec::new()),
    };
    let filter = ActionFilter {
        agent: q.agent,
        system: q.system,
        task: q.task,
        review_state,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    };
    let auditor = AUDITORS.iter().any(|r| ctx.actor.has_role(*r));
    let rows = tx.list_actions(&filter).await?;
    if auditor {
        return views(tx, rows).await;
    }
    let mine: Vec<_> = tx
        .list_systems()
        .await?
        .into_iter()
        .filter(|s| s.owner == ctx.actor.id)
        .map(|s| s.id)
        .collect();
    let rows = rows
        .into_iter()
        .filter(|a| a.owner == ctx.actor.id || mine.contains(&a.system_id))
        .collect();
    views(tx, rows).await
}

/// The post-action review queue of the systems the caller owns (default 100, at most
/// 1000).
pub async fn review_queue(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    limit: Option<u32>,
) -> Result<Vec<ActionView>, AppError> {
    let limit = limit.unwrap_or(100);
    let mine: Vec<_> = tx
        .list_systems()
        .await?
        .into_iter()
        .filter(|s| s.owner == ctx.actor.id)
        .map(|s| s.id)
        .collect();
    let rows = tx
        .list_actions(&ActionFilter {
            review_state: Some(ReviewState::Pending),
            limit: 10_000,
            ..Default::default()
        })
        .await?;
    let rows = rows
        .into_iter()
        .filter(|a| mine.contains(&a.system_id))
        .take(limit.clamp(1, 1000) as usize)
        .collect();
    views(tx, rows).await
}

/// The system owner reviews an action allowed without a human: `ok` or `flagged`.
pub async fn review(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
    verdict: String,
    comment: String,
) -> Result<ActionView, AppError> {
    let mut a = load(tx, id).await?;
    let system = tx.get_system(&a.system_id).await?;
    if system.as_ref().is_none_or(|s| s.owner != ctx.actor.id) {
        return Err(AppError::forbidden(
            ProblemCode::NotSystemOwner,
            format!(
                "only the owner of system {} reviews its actions",
                a.system_id
            ),
        ));
    }
    let Some(verdict) = PostReviewVerdict::parse(&verdict) else {
        return Err(AppError::invalid(
            ProblemCode::InvalidVerdict,
            "verdict must be ok or flagged",
        ));
    };
    if verdict == PostReviewVerdict::Flagged && comment.trim().is_empty() {
        return Err(AppError::invalid(
            ProblemCode::MissingComment,
            "flagging an action needs a comment",
        ));
    }
    if a.review_state != Some(ReviewState::Pending) {
        return Err(AppError::conflict(
            ProblemCode::NotInReviewQueue,
            format!("action {id} is not waiting for a post-action review"),
        ));
    }
    a.review_state = Some(ReviewState::Reviewed);
    a.review = Some(PostReview {
        by: ctx.actor.id.clone(),
        at: ctx.now,
        verdict,
        comment: comment.clone(),
    });
    tx.update_action(&a).await?;
    record(
        tx,
        ctx,
        "action.review",
        &a.id,
        json!({"verdict": verdict, "comment": comment, "agent": a.agent_id}),
    )
    .await?;
    view(tx, a).await
}

/// The agent reports what finally happened to an allowed action; once (the same
/// report again is answered with the recorded one, a different one is refused).
pub async fn report_outcome(
    tx: &mut dyn Tx,
    p: &Principal,
    id: &str,
    status: String,
    detail: Value,
    now: DateTime<Utc>,
) -> Result<ActionView, AppError> {
    let mut a = load(tx, id).await?;
    if a.agent_id != p.agent.id {
        return Err(AppError::NotFound {
            what: "action",
            id: id.to_owned(),
        });
    }
    let Some(status) = OutcomeStatus::parse(&status) else {
        return Err(AppError::invalid(
            ProblemCode::InvalidOutcome,
            "status must be succeeded, failed or abandoned",
        ));
    };
    if a.decision != ActionDecision::Allow {
        return Err(AppError::conflict(
            ProblemCode::ActionNotAllowed,
            format!(
                "action {id} was decided {}; only an allowed action has an outcome",
                a.decision
            ),
        ));
    }
    if let Some(o) = &a.outcome {
        // A retry of the same report is answered with what was recorded, once.
        if o.status == status && o.detail == detail {
            return view(tx, a).await;
        }
        return Err(AppError::conflict(
            ProblemCode::OutcomeReported,
            format!("a different outcome of action {id} was already reported"),
        ));
    }
    a.outcome = Some(ActionOutcome {
        status,
        detail: detail.clone(),
        at: now,
    });
    tx.update_action(&a).await?;
    record_agent_at(
        tx,
        p.agent.id.as_str(),
        now,
        "action.outcome",
        &a.id,
        json!({"status": status, "detail_digest": countersign_core::Digest::of_canonical(&detail).ok()}),
    )
    .await?;
    view(tx, a).await
}

/// [`report_outcome`] as its own write, at the clock's now.
pub async fn report(
    app: &App,
    p: Arc<Principal>,
    id: String,
    status: String,
    detail: Value,
) -> Result<(ActionView, DateTime<Utc>), AppError> {
    app.job(move |tx, now| {
        Box::pin(async move {
            let v = report_outcome(tx, &p, &id, status, detail, now).await?;
            Ok((v, now))
        })
    })
    .await
}
