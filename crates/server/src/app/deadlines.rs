//! Deadlines (I5): every review is due `review_deadline_hours` (from its tier) after the
//! revision was submitted. A review still missing at its due time escalates to the
//! decision owner, who must accept the gap (`missing_review:<role>`) or block the
//! release. Nothing waits silently.
//!
//! [`run_deadlines_once`] is what the background job calls every interval (and tests call
//! directly after moving a `ManualClock`). Each escalation is its own write transaction
//! with exactly one `release.escalate` ledger entry; the candidate is re-checked inside
//! the transaction (writers are serialized) and the store refuses a second escalation
//! of the same release, revision and role, so repeated runs and several replicas
//! escalate once.

use super::unit::App;
use super::AppError;
use chrono::{DateTime, Duration, Utc};
use countersign_core::gap::{GapCode, GapKey};
use countersign_core::profile::Profile;
use countersign_core::release::ReleaseStatus;
use countersign_core::{ReleaseId, Role};
use countersign_ledger::EntryDraft;
use countersign_store::prelude::*;
use countersign_store::records::{EscalationRecord, ReleaseRecord, RevisionRecord};
use countersign_store::StoreError;
use serde_json::json;

/// The ledger actor of background jobs.
pub const SYSTEM_ACTOR: &str = "system";

/// Where an escalation stands now (derived, never stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscalationState {
    /// Overdue and neither reviewed nor accepted: the owner must act.
    Open,
    /// The review arrived after all.
    Reviewed,
    /// The owner accepted the missing review as risk (unexpired).
    Accepted,
    /// The release left review (decided, blocked) or the revision was superseded.
    Closed,
}

impl EscalationState {
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationState::Open => "open",
            EscalationState::Reviewed => "reviewed",
            EscalationState::Accepted => "accepted",
            EscalationState::Closed => "closed",
        }
    }
}

/// When reviews of a submitted revision are due.
pub fn due_at(profile: &Profile, revision: &RevisionRecord) -> Option<DateTime<Utc>> {
    let tier = profile.tier(&revision.tier)?;
    revision
        .submitted_at
        .map(|t| t + Duration::hours(i64::from(tier.review_deadline_hours)))
}

/// The state of each escalation of a release, for its current revision's view.
pub async fn states(
    tx: &mut dyn Tx,
    release: &ReleaseRecord,
    revision: &RevisionRecord,
    now: DateTime<Utc>,
) -> Result<Vec<(EscalationRecord, EscalationState)>, AppError> {
    let escalations = tx.list_escalations(&release.id).await?;
    if escalations.is_empty() {
        return Ok(Vec::new());
    }
    let reviews = tx.list_reviews(&release.id).await?;
    let acceptances = tx.list_acceptances(&release.id).await?;
    let bound =
        |n: u32, d: &countersign_core::Digest| n == revision.number && *d == revision.bundle_digest;
    Ok(escalations
        .into_iter()
        .filter(|e| e.revision == revision.number)
        .map(|e| {
            let gap = GapKey {
                code: GapCode::MissingReview,
                subject: e.role.to_string(),
            };
            let state = if reviews
                .iter()
                .any(|r| bound(r.revision, &r.bundle_digest) && r.role == e.role)
            {
                EscalationState::Reviewed
            } else if release.status != ReleaseStatus::InReview {
                EscalationState::Closed
            } else if acceptances
                .iter()
                .any(|a| bound(a.revision, &a.bundle_digest) && a.gap == gap && a.expires_at > now)
            {
                EscalationState::Accepted
            } else {
                EscalationState::Open
            };
            (e, state)
        })
        .collect())
}

/// A review past its due time that has not escalated yet.
#[derive(Clone, Debug)]
struct Overdue {
    release: ReleaseId,
    revision: u32,
    role: Role,
    due_at: DateTime<Utc>,
}

/// The overdue, not yet escalated reviews of one release's current revision.
async fn overdue(
    tx: &mut dyn Tx,
    profile: &Profile,
    now: DateTime<Utc>,
    release: &ReleaseRecord,
) -> Result<Vec<Overdue>, AppError> {
    if release.status != ReleaseStatus::InReview {
        return Ok(Vec::new());
    }
    let Some(revision) = tx
        .get_revision(&release.id, release.current_revision)
        .await?
    else {
        return Ok(Vec::new());
    };
    let (Some(due), Some(tier)) = (due_at(profile, &revision), profile.tier(&revision.tier)) else {
        return Ok(Vec::new());
    };
    if now < due {
        return Ok(Vec::new());
    }
    let reviews = tx.list_reviews(&release.id).await?;
    let escalated = tx.list_escalations(&release.id).await?;
    Ok(tier
        .required_roles
        .iter()
        .filter(|role| {
            !reviews.iter().any(|r| {
                r.revision == revision.number
                    && r.bundle_digest == revision.bundle_digest
                    && r.role == **role
            })
        })
        .filter(|role| {
            !escalated
                .iter()
                .any(|e| e.revision == revision.number && e.role == **role)
        })
        .map(|role| Overdue {
            release: release.id.clone(),
            revision: revision.number,
            role: *role,
            due_at: due,
        })
        .collect())
}

/// Escalates one overdue review in its own transaction, if it is still overdue.
async fn escalate(
    tx: &mut dyn Tx,
    profile: &Profile,
    o: &Overdue,
    now: DateTime<Utc>,
) -> Result<Option<EscalationRecord>, AppError> {
    // Re-checked under the write lock: another run or replica may have got here first.
    let Some(release) = tx.get_release(&o.release).await? else {
        return Ok(None);
    };
    let still = overdue(tx, profile, now, &release).await?;
    if !still
        .iter()
        .any(|x| x.revision == o.revision && x.role == o.role)
    {
        return Ok(None);
    }
    let esc = EscalationRecord {
        id: super::new_id("esc"),
        release_id: release.id.clone(),
        revision: o.revision,
        role: o.role,
        due_at: o.due_at,
        escalated_to: release.decision_owner.clone(),
        created_at: now,
    };
    match tx.insert_escalation(&esc).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let payload = json!({
        "release": release.id, "revision": esc.revision, "role": esc.role,
        "due_at": countersign_ledger::format_time(esc.due_at), "escalated_to": esc.escalated_to,
        "gap": format!("{}:{}", GapCode::MissingReview.as_str(), esc.role),
    });
    super::events::emit(
        &mut *tx,
        now,
        "review_overdue",
        release.id.as_str(),
        payload.clone(),
    )
    .await?;
    super::events::emit(&mut *tx, now, "escalated", release.id.as_str(), payload).await?;
    tx.append(EntryDraft {
        at: now,
        actor: SYSTEM_ACTOR.to_owned(),
        action: "release.escalate".to_owned(),
        subject: release.id.to_string(),
        payload: json!({
            "escalation": esc.id, "revision": esc.revision, "role": esc.role,
            "due_at": countersign_ledger::format_time(esc.due_at),
            "escalated_to": esc.escalated_to,
            "gap": format!("{}:{}", GapCode::MissingReview.as_str(), esc.role),
        }),
    })
    .await?;
    Ok(Some(esc))
}

/// Marks every overdue review and escalates it to the decision owner, at the clock's
/// now. Returns the escalations made by this run (none when they already exist).
pub async fn run_deadlines_once(app: &App) -> Result<Vec<EscalationRecord>, AppError> {
    let now = app.now();
    let profile = app.profile.clone();
    let candidates = app
        .query(move |tx| {
            Box::pin(async move {
                let mut candidates = Vec::new();
                for release in tx.list_releases().await? {
                    candidates.extend(overdue(tx, &profile, now, &release).await?);
                }
                Ok(candidates)
            })
        })
        .await?;
    let mut made = Vec::new();
    for o in candidates {
        let profile = app.profile.clone();
        let escalated = app
            .job(move |tx, _| Box::pin(async move { escalate(tx, &profile, &o, now).await }))
            .await?;
        if let Some(e) = escalated {
            tracing::info!(release = %e.release_id, role = %e.role, owner = %e.escalated_to, "review overdue: escalated");
            made.push(e);
        }
    }
    Ok(made)
}

/// The background job: runs [`run_deadlines_once`] every `every` until the task is dropped.
pub async fn deadline_loop(state: App, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = run_deadlines_once(&state).await {
            tracing::warn!(error = %e, "deadline job failed; retrying at the next tick");
        }
    }
}
