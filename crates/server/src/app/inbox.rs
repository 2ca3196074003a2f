//! Everything waiting on one person, for the console's landing page: reviews their
//! roles owe (due, overdue, escalated), step-up approvals assigned to them, and the
//! releases they own that are ready to decide or escalated to them.

use super::approvals::{self, ApprovalQuery, ApprovalView};
use super::gate::{evaluate_revision, review_requests_in_review, GateReport};
use super::{AppError, Ctx};
use chrono::{DateTime, Utc};
use countersign_core::Role;
use countersign_store::prelude::*;
use countersign_store::records::ReleaseRecord;

/// A review one of the person's roles owes on a release's current revision.
#[derive(Clone, Debug)]
pub struct ReviewTask {
    pub release: ReleaseRecord,
    pub revision: u32,
    pub role: Role,
    pub due_at: Option<DateTime<Utc>>,
    pub overdue: bool,
}

/// A release the person owns that waits on their decision.
#[derive(Clone, Debug)]
pub struct DecisionTask {
    pub release: ReleaseRecord,
    pub revision: u32,
    /// Every requirement is met or accepted: `go` may be recorded.
    pub ready: bool,
    /// A review passed its due time and escalated to the owner (I5).
    pub escalated: bool,
    /// Requirements still unmet.
    pub unmet: usize,
}

/// What waits on the person.
#[derive(Clone, Debug, Default)]
pub struct Inbox {
    pub reviews: Vec<ReviewTask>,
    pub approvals: Vec<ApprovalView>,
    pub decisions: Vec<DecisionTask>,
}

impl Inbox {
    pub fn is_empty(&self) -> bool {
        self.reviews.is_empty() && self.approvals.is_empty() && self.decisions.is_empty()
    }
}

/// The inbox of the person acting in `ctx`. The releases in review and their review
/// requests come in a few reads whatever their number; the full gate is evaluated
/// only for the releases the person owns.
pub async fn for_person(tx: &mut dyn Tx, ctx: &Ctx) -> Result<Inbox, AppError> {
    let mut inbox = Inbox {
        approvals: approvals::list(tx, ctx, ApprovalQuery::default()).await?,
        ..Inbox::default()
    };
    let me = &ctx.actor;
    for (release, revision, requests) in
        review_requests_in_review(tx, &ctx.profile, ctx.now).await?
    {
        if release.decision_owner == me.id {
            let report = evaluate_revision(tx, ctx, &release, &revision).await?;
            inbox.decisions.push(decision_task(&report));
            continue;
        }
        let asks_me = ctx.profile.tier(&revision.tier).is_some_and(|t| {
            t.required_roles
                .iter()
                .any(|r| *r != Role::Admin && me.has_role(*r))
        });
        if !asks_me {
            continue;
        }
        if requests.excluded.iter().any(|x| x.user == me.id) {
            continue;
        }
        if requests.reviews.iter().any(|x| x.reviewer == me.id) {
            // One person fills at most one required role on a revision (I4).
            continue;
        }
        for r in &requests.requested {
            if r.review.is_none() && me.has_role(r.role) {
                inbox.reviews.push(ReviewTask {
                    release: release.clone(),
                    revision: revision.number,
                    role: r.role,
                    due_at: r.due_at,
                    overdue: r.overdue,
                });
            }
        }
    }
    // Most urgent first: overdue, then by due time.
    inbox.reviews.sort_by_key(|r| (!r.overdue, r.due_at));
    inbox
        .decisions
        .sort_by_key(|d| (!d.escalated, !d.ready, d.release.updated_at));
    Ok(inbox)
}

fn decision_task(report: &GateReport) -> DecisionTask {
    DecisionTask {
        release: report.release.clone(),
        revision: report.revision.number,
        ready: report.status.clear,
        escalated: report.escalated(),
        unmet: report.status.unmet().count(),
    }
}
