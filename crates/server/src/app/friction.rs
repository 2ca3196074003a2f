//! Friction against rubber-stamping, for every interface (the rules are in
//! [`countersign_core::friction`]): first openings of a revision and of an evidence
//! document are recorded when a person reads them through the API or the console,
//! and an approving review or step-up approval is checked against its tier's rules.
//! The console asks the same questions to show a disabled button with its reasons.

use super::{record, AppError, Ctx};
use crate::app::unit::App;
use countersign_core::friction::{self, Facts, Friction, Rule, Unmet};
use countersign_core::profile::TierPolicy;
use countersign_core::{Digest, ReleaseId};
use countersign_store::prelude::*;
use countersign_store::records::{
    ApprovalRecord, ContextViewRecord, EvidenceRecord, RevisionRecord,
};
use serde_json::json;

/// The kind of view a revision's opening is recorded as.
const REVISION: &str = "release";
/// The kind of view an evidence document's opening is recorded as (by digest).
const EVIDENCE: &str = "evidence";

/// The subject a revision's opening is recorded under: `<release>@<revision>`.
pub fn revision_subject(id: &ReleaseId, revision: u32) -> String {
    format!("{id}@{revision}")
}

/// Something a person opens.
#[derive(Clone, Debug)]
pub enum Opening {
    /// A release's revision (its page, or the release read through the API).
    Revision(ReleaseId, u32),
    /// An evidence document (downloaded or previewed).
    Evidence(Digest),
}

impl Opening {
    fn key(&self) -> (&'static str, String) {
        match self {
            Opening::Revision(id, n) => (REVISION, revision_subject(id, *n)),
            Opening::Evidence(d) => (EVIDENCE, d.to_string()),
        }
    }
}

/// Records the person's first opening, with its ledger entry (`release.open` under
/// the release, `evidence.open` under the digest); a later opening writes nothing.
pub async fn open(tx: &mut dyn Tx, ctx: &Ctx, what: &Opening) -> Result<(), AppError> {
    let (kind, subject) = what.key();
    let first = tx
        .record_view(&ContextViewRecord {
            kind: kind.into(),
            subject: subject.clone(),
            user: ctx.actor.id.clone(),
            first_opened_at: ctx.now,
        })
        .await?;
    if first {
        match what {
            Opening::Revision(id, n) => {
                record(tx, ctx, "release.open", id.as_str(), json!({"revision": n})).await?
            }
            Opening::Evidence(d) => record(tx, ctx, "evidence.open", d.as_str(), json!({})).await?,
        }
    }
    Ok(())
}

/// Opens `what` as the person: a read when they opened it before, otherwise one
/// command (the view and its ledger entry).
pub async fn open_for(app: &App, ctx: &Ctx, what: Opening) -> Result<(), AppError> {
    let (kind, subject) = what.key();
    let user = ctx.actor.id.clone();
    let seen = app
        .query(move |tx| {
            Box::pin(async move { Ok(tx.get_view(kind, &subject, &user).await?.is_some()) })
        })
        .await?;
    if seen {
        return Ok(());
    }
    app.command(ctx.clone(), None, 200, move |tx, ctx| {
        Box::pin(async move { open(tx, ctx, &what).await })
    })
    .await
    .map(drop)
}

/// The revision's documents of a kind the tier requires that the person has not
/// opened (one per digest).
async fn unopened_evidence(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    revision: &RevisionRecord,
    tier: &TierPolicy,
) -> Result<Vec<EvidenceRecord>, AppError> {
    let mut out: Vec<EvidenceRecord> = Vec::new();
    for e in tx.list_evidence(&revision.release_id).await? {
        if e.revision != revision.number
            || !tier.required_evidence.contains(&e.kind)
            || out.iter().any(|o| o.digest == e.digest)
        {
            continue;
        }
        let seen = tx
            .get_view(EVIDENCE, e.digest.as_str(), &ctx.actor.id)
            .await?;
        if seen.is_none() {
            out.push(e);
        }
    }
    Ok(out)
}

/// The rules of `tier` this person has not met yet for approving `revision`
/// (`typed`: the digest characters typed, `None` when only showing the rules), and
/// the required documents they have not opened.
async fn revision_unmet(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    revision: &RevisionRecord,
    tier: &TierPolicy,
    typed: Option<&str>,
) -> Result<(Vec<Unmet>, Vec<EvidenceRecord>), AppError> {
    let f = &tier.friction;
    if f.is_empty() {
        return Ok((vec![], vec![]));
    }
    let subject = revision_subject(&revision.release_id, revision.number);
    let unopened = if f.require_opened_evidence {
        unopened_evidence(tx, ctx, revision, tier).await?
    } else {
        vec![]
    };
    let facts = Facts {
        now: ctx.now,
        first_opened_at: tx.get_view(REVISION, &subject, &ctx.actor.id).await?,
        has_evidence: true,
        unopened_evidence: unopened.iter().map(|e| e.name.clone()).collect(),
        digest: &revision.bundle_digest,
        typed_digest: typed,
    };
    let unmet = match typed {
        Some(_) => friction::check(f, &facts).err().unwrap_or_default(),
        None => friction::unmet(f, &facts),
    };
    Ok((unmet, unopened))
}

/// Checks an approving review of `revision`: the rules it was accepted under, or a
/// refusal naming the first rule not met.
pub async fn check_revision(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    revision: &RevisionRecord,
    tier: &TierPolicy,
    typed: Option<&str>,
) -> Result<Vec<Rule>, AppError> {
    let (unmet, _) = revision_unmet(tx, ctx, revision, tier, Some(typed.unwrap_or(""))).await?;
    refuse(ctx, &unmet)?;
    Ok(tier.friction.rules(true))
}

/// The tier a step-up approval is judged in: its agent's release's current revision's
/// (none for an agent without a release, or a tier the profile no longer has).
pub async fn step_up_tier(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    a: &ApprovalRecord,
) -> Result<Option<TierPolicy>, AppError> {
    let Some(agent) = tx.get_agent(&a.agent_id).await? else {
        return Ok(None);
    };
    let Some(r) = tx.get_release(&agent.release_id).await? else {
        return Ok(None);
    };
    let tier = tx
        .get_revision(&agent.release_id, r.current_revision)
        .await?
        .and_then(|rev| ctx.profile.tier(&rev.tier).cloned());
    Ok(tier)
}

/// The rules not yet met for approving the step-up `a` (see [`revision_unmet`]).
pub async fn step_up_unmet(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    a: &ApprovalRecord,
    typed: Option<&str>,
) -> Result<(Friction, Vec<Unmet>), AppError> {
    let Some(tier) = step_up_tier(tx, ctx, a).await? else {
        return Ok((Friction::default(), vec![]));
    };
    let facts = Facts {
        now: ctx.now,
        first_opened_at: a.first_opened_at,
        has_evidence: false,
        unopened_evidence: vec![],
        digest: &a.action_digest,
        typed_digest: typed,
    };
    let unmet = match typed {
        Some(_) => friction::check(&tier.friction, &facts)
            .err()
            .unwrap_or_default(),
        None => friction::unmet(&tier.friction, &facts),
    };
    Ok((tier.friction, unmet))
}

/// Checks approving the step-up `a`: the rules it was accepted under, or a refusal.
pub async fn check_step_up(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    a: &ApprovalRecord,
    typed: Option<&str>,
) -> Result<Vec<Rule>, AppError> {
    let (f, unmet) = step_up_unmet(tx, ctx, a, Some(typed.unwrap_or(""))).await?;
    refuse(ctx, &unmet)?;
    Ok(f.rules(false))
}

/// The refusal for unmet rules: the first rule's code, every rule's sentence.
fn refuse(ctx: &Ctx, unmet: &[Unmet]) -> Result<(), AppError> {
    let Some(first) = unmet.first() else {
        return Ok(());
    };
    let detail = unmet
        .iter()
        .map(|u| u.sentence(ctx.now))
        .collect::<Vec<_>>()
        .join(" ");
    Err(match first {
        Unmet::DigestNotConfirmed { .. } => AppError::invalid(first.code(), detail),
        _ => AppError::conflict(first.code(), detail),
    })
}

/// What a page shows beside the approve control: the rules the tier sets and those
/// this person has not met yet (a typed digest is asked for in the form, so it is
/// never among `unmet`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub rules: Vec<Rule>,
    pub min_review_seconds: Option<u32>,
    pub unmet: Vec<Unmet>,
    /// The required documents not opened yet (name, digest), to open from the page.
    pub to_open: Vec<(String, Digest)>,
}

impl Status {
    fn of(f: &Friction, evidence: bool, unmet: Vec<Unmet>) -> Self {
        Status {
            rules: f.rules(evidence),
            min_review_seconds: f.min_review_seconds,
            unmet,
            to_open: vec![],
        }
    }

    /// Whether approving waits on a rule.
    pub fn blocks(&self) -> bool {
        !self.unmet.is_empty()
    }
}

/// The friction status of approving the release's current revision, for the person.
pub async fn revision_status(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &ReleaseId,
) -> Result<Status, AppError> {
    let release = super::load_release(tx, id).await?;
    let Some(revision) = tx.get_revision(id, release.current_revision).await? else {
        return Ok(Status::default());
    };
    let Some(tier) = ctx.profile.tier(&revision.tier) else {
        return Ok(Status::default());
    };
    let (unmet, unopened) = revision_unmet(tx, ctx, &revision, tier, None).await?;
    Ok(Status {
        to_open: unopened.into_iter().map(|e| (e.name, e.digest)).collect(),
        ..Status::of(&tier.friction, true, unmet)
    })
}

/// The friction status of approving the step-up `a`, for the person.
pub async fn step_up_status(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    a: &ApprovalRecord,
) -> Result<Status, AppError> {
    let (f, unmet) = step_up_unmet(tx, ctx, a, None).await?;
    Ok(Status::of(&f, false, unmet))
}
