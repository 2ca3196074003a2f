//! Request-time decisions (I10): an agent asks with its just-in-time credential, and
//! the answer is allow, deny or step_up.
//!
//! Before any policy runs, the credential must be active (signature, expiry,
//! revocation, agent, grants); [`evaluate`] has the order of the other checks.
//!
//! The request path is here: resolve the credential (cached), read the approval it
//! names, [`evaluate::evaluate`] (pure), and submit the result to the group committer
//! ([`commit`]), answering once it is durable.

pub mod access;
pub mod commit;
pub mod evaluate;

use super::credentials::active_credential;
use super::runtime::Principal;
use super::unit::App;
use super::{new_id, AppError};
use chrono::{DateTime, Utc};
use commit::{Committed, DecisionKey};
use countersign_core::runtime::{ActionDecision, ApprovalState};
use countersign_store::prelude::*;
use countersign_store::records::{ApprovalFilter, ApprovalRecord};
use evaluate::{evaluate, validate, DecideInput, DecisionIds, DecisionWrite};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Resolves a bearer token to a [`Principal`], or `None` if it is not an active
/// credential now.
pub async fn resolve(
    tx: &mut dyn Tx,
    token: &str,
    now: DateTime<Utc>,
    recertify_every_days: u32,
) -> Result<Option<Principal>, AppError> {
    let Some(credential) = active_credential(tx, token, now, recertify_every_days).await? else {
        return Ok(None);
    };
    let Some(agent) = tx.get_agent(&credential.agent_id).await? else {
        return Ok(None);
    };
    let mut grants = Vec::new();
    let mut systems = BTreeMap::new();
    for gid in &credential.grant_ids {
        if let Some(g) = tx.get_grant(gid).await? {
            if !systems.contains_key(&g.terms.system) {
                if let Some(s) = tx.get_system(&g.terms.system).await? {
                    systems.insert(s.id.clone(), s);
                }
            }
            grants.push(g);
        }
    }
    let mut approvers = BTreeMap::new();
    for u in tx.list_users().await? {
        for r in &u.roles {
            approvers
                .entry(r.as_str().to_owned())
                .or_insert_with(|| u.id.clone());
        }
    }
    Ok(Some(Principal {
        credential,
        agent,
        grants,
        systems,
        approvers,
        prepared: Default::default(),
    }))
}

/// A decision as answered: written now, or replayed for a retried request.
#[derive(Clone, Debug)]
pub struct Answer {
    pub write: DecisionWrite,
    /// The request was a retry (same `Idempotency-Key`); nothing new was written.
    pub replayed: bool,
}

/// A decided action as it was recorded, for answering a retried request.
pub async fn recorded(tx: &mut dyn Tx, action_id: &str) -> Result<DecisionWrite, AppError> {
    let action = tx
        .get_action(action_id)
        .await?
        .ok_or_else(|| AppError::NotFound {
            what: "action",
            id: action_id.to_owned(),
        })?;
    let new_approval = match (&action.approval_id, action.decision) {
        (Some(id), ActionDecision::StepUp) => tx.get_approval(id).await?,
        _ => None,
    };
    Ok(DecisionWrite {
        action,
        new_approval,
        consume: None,
    })
}

/// Decides one request and returns once its ledger entry is durable. With a key, a
/// retried request is answered with the action decided the first time.
pub async fn run(
    app: &App,
    p: &Principal,
    input: DecideInput,
    key: Option<DecisionKey>,
) -> Result<Answer, AppError> {
    validate(&input)?;
    let approval = match input.approval_id.clone() {
        Some(id) => {
            app.query(move |tx| Box::pin(async move { Ok(tx.get_approval(&id).await?) }))
                .await?
        }
        None => None,
    };
    let policies = app.runtime.policies();
    let ids = DecisionIds {
        action: new_id("act"),
        approval: new_id("apr"),
    };
    let now = app.now();
    let named = input.approval_id.is_some();
    let mut write = evaluate(
        p,
        input.clone(),
        &policies,
        approval.as_ref(),
        ids.clone(),
        now,
        &app.profile,
    );
    if !named && write.action.decision == ActionDecision::StepUp {
        // The same action asked again without naming its approval (a client that
        // retries the call, a gateway that restarted): a human's approval of exactly
        // this action, unused and unexpired, is used, once, as if it were named.
        if let Some(a) = approved_for(app, p, &write.action.action_digest, now).await? {
            let input = DecideInput {
                approval_id: Some(a.id.clone()),
                ..input
            };
            write = evaluate(p, input, &policies, Some(&a), ids, now, &app.profile);
        }
    }
    match app.decisions.submit(write, key).await? {
        Committed::Decided(write) => Ok(Answer {
            write: *write,
            replayed: false,
        }),
        Committed::Replayed { action_id } => Ok(Answer {
            write: app
                .query(move |tx| Box::pin(async move { recorded(tx, &action_id).await }))
                .await?,
            replayed: true,
        }),
    }
}

/// An approval a human gave for exactly this action (`digest`) of this agent, still
/// unused and unexpired, if there is one. The committer re-checks it is unused.
async fn approved_for(
    app: &App,
    p: &Principal,
    digest: &countersign_core::Digest,
    now: DateTime<Utc>,
) -> Result<Option<ApprovalRecord>, AppError> {
    let agent = p.agent.id.clone();
    let approved = app
        .query(move |tx| {
            Box::pin(async move {
                Ok(tx
                    .list_approvals(&ApprovalFilter {
                        assignee: None,
                        state: Some(ApprovalState::Approved),
                        agent: Some(agent),
                        limit: 100,
                    })
                    .await?)
            })
        })
        .await?;
    Ok(approved
        .into_iter()
        .filter(|a| a.action_digest == *digest && a.expires_at > now)
        .min_by_key(|a| a.created_at))
}

/// What `input` would be decided now, without deciding it: the same validation and
/// [`evaluate::evaluate`] as [`run`], with no approval named, and nothing submitted —
/// no action, no ledger entry, no approval request. A read: it changes nothing and
/// can be used for nothing (an approval binds to a decided action, never a preview).
pub fn preview(
    app: &App,
    p: &Principal,
    mut input: DecideInput,
) -> Result<DecisionWrite, AppError> {
    validate(&input)?;
    input.approval_id = None;
    let ids = DecisionIds {
        action: new_id("act"),
        approval: new_id("apr"),
    };
    Ok(evaluate(
        p,
        input,
        &app.runtime.policies(),
        None,
        ids,
        app.now(),
        &app.profile,
    ))
}

/// The agent presenting `token` as its just-in-time credential, resolved for
/// decisions: from the runtime's cache when it can be. `None`: not an active
/// credential now.
pub async fn principal(app: &App, token: &str) -> Result<Option<Arc<Principal>>, AppError> {
    let now = app.now();
    if let Some(p) = app.runtime.cached(token, now) {
        return Ok(Some(p));
    }
    let generation = app.runtime.generation();
    let every = app.profile.grants.recertify_every_days;
    let owned = token.to_owned();
    let Some(p) = app
        .query(move |tx| Box::pin(async move { resolve(tx, &owned, now, every).await }))
        .await?
    else {
        return Ok(None);
    };
    let p = Arc::new(p);
    app.runtime.remember(token, generation, p.clone());
    Ok(Some(p))
}
