//! Application functions: one per command or query. Each command takes the open
//! write transaction, loads what it needs, asks the pure core to decide, writes the
//! state change and exactly one ledger entry. [`unit::App`] owns the transaction:
//! every surface runs commands and queries through it, and it commits (or, on any
//! error, drops the transaction, which rolls everything back).

pub mod accountability;
pub mod actions;
pub mod agents;
pub mod approvals;
pub mod auth;
pub mod credentials;
pub mod deadlines;
pub mod decide;
pub mod error;
pub mod events;
pub mod friction;
pub mod gate;
pub mod grants;
pub mod idempotency;
pub mod inbox;
pub mod ledger;
pub mod ledger_tree;
pub mod lineage;
pub mod policies;
pub mod releases;
pub mod runtime;
pub mod sessions;
pub mod sign_in;
pub mod sod;
pub mod systems;
pub mod transparency;
pub mod unit;
pub mod users;
pub mod webhooks;

use chrono::{DateTime, Utc};
use countersign_core::profile::Profile;
use countersign_core::{ReleaseId, Role};
use countersign_ledger::EntryDraft;
use countersign_store::prelude::*;
use countersign_store::records::{ReleaseRecord, RevisionRecord, UserRecord};
pub use error::AppError;
use std::sync::Arc;

/// Who is acting, when, and under which governance profile.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub actor: UserRecord,
    pub now: DateTime<Utc>,
    pub profile: Arc<Profile>,
}

impl Ctx {
    /// Refuses unless the actor holds one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), AppError> {
        if roles.iter().any(|r| self.actor.has_role(*r)) {
            Ok(())
        } else {
            Err(AppError::MissingRole {
                needed: roles.to_vec(),
            })
        }
    }
}

/// A fresh opaque identifier with a readable prefix, e.g. `rel_3f2a…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Appends the command's one ledger entry.
pub async fn record(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    action: &str,
    subject: &str,
    payload: serde_json::Value,
) -> Result<(), AppError> {
    tx.append(EntryDraft {
        at: ctx.now,
        actor: ctx.actor.id.to_string(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        payload,
    })
    .await?;
    Ok(())
}

/// An authenticated agent acting (issue 5): its identity, the time and the profile.
/// Agents never get a [`Ctx`], so no human-only command can run as an agent (I4).
#[derive(Clone, Debug)]
pub struct AgentCtx {
    pub agent: countersign_store::records::AgentRecord,
    pub now: DateTime<Utc>,
    pub profile: Arc<Profile>,
}

/// Appends an agent's command's one ledger entry; the actor is the agent id.
pub async fn record_agent(
    tx: &mut dyn Tx,
    actx: &AgentCtx,
    action: &str,
    subject: &str,
    payload: serde_json::Value,
) -> Result<(), AppError> {
    tx.append(EntryDraft {
        at: actx.now,
        actor: actx.agent.id.to_string(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        payload,
    })
    .await?;
    Ok(())
}

/// Appends an agent's entry given its id and the time (decisions' follow-ups).
pub async fn record_agent_at(
    tx: &mut dyn Tx,
    agent: &str,
    at: DateTime<Utc>,
    action: &str,
    subject: &str,
    payload: serde_json::Value,
) -> Result<(), AppError> {
    tx.append(EntryDraft {
        at,
        actor: agent.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        payload,
    })
    .await?;
    Ok(())
}

pub(crate) async fn load_release(
    tx: &mut dyn Tx,
    id: &ReleaseId,
) -> Result<ReleaseRecord, AppError> {
    tx.get_release(id).await?.ok_or_else(|| AppError::NotFound {
        what: "release",
        id: id.to_string(),
    })
}

/// The release and its current revision, refusing a request made against another one.
pub(crate) async fn load_current(
    tx: &mut dyn Tx,
    id: &ReleaseId,
    given: u32,
) -> Result<(ReleaseRecord, RevisionRecord), AppError> {
    let release = load_release(tx, id).await?;
    if given != release.current_revision {
        return Err(AppError::StaleRevision {
            current: release.current_revision,
            given,
        });
    }
    let revision = tx
        .get_revision(id, given)
        .await?
        .ok_or_else(|| AppError::NotFound {
            what: "revision",
            id: format!("{id}/{given}"),
        })?;
    Ok((release, revision))
}
