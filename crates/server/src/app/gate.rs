//! Gate status of a revision, and the CI/CD gate check by artifact digest.

use super::deadlines::{self, EscalationState};
use super::{load_release, AppError, Ctx};
use chrono::{DateTime, Utc};
use countersign_core::canonical::Digest;
use countersign_core::eval::{self, ReportFact, EVAL_EVIDENCE};
use countersign_core::gate::{evaluate, AcceptanceFact, GateInput, GateStatus, ReviewFact};
use countersign_core::problem::ProblemCode;
use countersign_core::profile::Profile;
use countersign_core::release::ReleaseStatus;
use countersign_core::sod::{excluded_reviewers, Exclusion};
use countersign_core::{ReleaseId, Role};
use countersign_store::prelude::*;
use countersign_store::records::{
    EscalationRecord, EvidenceRecord, ReleaseRecord, ReviewRecord, RevisionRecord,
};
use std::collections::BTreeSet;

/// A review the gate waits for, with its due time once the revision is submitted.
#[derive(Clone, Debug)]
pub struct RequestedReview {
    pub role: Role,
    pub due_at: Option<DateTime<Utc>>,
    pub review: Option<ReviewRecord>,
    /// Still missing while the release is in review, and past its due time (I5).
    pub overdue: bool,
}

/// The gate status of one revision, with the reviews it asked for.
#[derive(Clone, Debug)]
pub struct GateReport {
    pub release: ReleaseRecord,
    pub revision: RevisionRecord,
    pub status: GateStatus,
    pub requested: Vec<RequestedReview>,
    /// Reviews that passed their due time and escalated to the owner (I5), with where
    /// each stands now.
    pub escalations: Vec<(EscalationRecord, EscalationState)>,
    /// Who may not review this revision, and why (I4), so nobody is surprised by a 403.
    pub excluded: Vec<Exclusion>,
    pub now: DateTime<Utc>,
}

impl GateReport {
    /// True while an escalation waits for the owner to accept the gap or block.
    pub fn escalated(&self) -> bool {
        self.escalations
            .iter()
            .any(|(_, s)| *s == EscalationState::Open)
    }
}

/// Evaluates the gate for a revision, counting only what is bound to its bundle (I3).
pub async fn evaluate_revision(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    release: &ReleaseRecord,
    revision: &RevisionRecord,
) -> Result<GateReport, AppError> {
    evaluate_with(tx, &ctx.profile, ctx.now, release, revision).await
}

async fn evaluate_with(
    tx: &mut dyn Tx,
    profile: &Profile,
    now: DateTime<Utc>,
    release: &ReleaseRecord,
    revision: &RevisionRecord,
) -> Result<GateReport, AppError> {
    let tier = profile.tier(&revision.tier).ok_or_else(|| {
        AppError::invalid(
            ProblemCode::UnknownTier,
            format!("tier {:?} is not in the current profile", revision.tier),
        )
    })?;
    // INVARIANT (I3): only records bound to this revision's bundle digest count.
    let bound = |n: u32, d: &Digest| n == revision.number && *d == revision.bundle_digest;
    let requests = review_requests(tx, profile, now, release, revision).await?;
    let reviews = &requests.reviews;
    let facts: Vec<ReviewFact> = reviews
        .iter()
        .map(|r| ReviewFact {
            role: r.role,
            reviewer: r.reviewer.clone(),
            verdict: r.verdict,
        })
        .collect();
    let evidence: Vec<EvidenceRecord> = tx
        .list_evidence(&release.id)
        .await?
        .into_iter()
        .filter(|e| e.revision == revision.number)
        .collect();
    let evidence_kinds: BTreeSet<String> = evidence.iter().map(|e| e.kind.clone()).collect();
    let mut findings = super::lineage::findings(tx, release, revision, &evidence_kinds).await?;
    let report = latest_eval_report(tx, &evidence).await?;
    findings.extend(eval::check(&tier.eval_gates, &report));
    findings.extend(
        super::lineage::retrain_findings(
            tx,
            &profile.retrain_drift_gates,
            release,
            revision,
            &report,
        )
        .await?,
    );
    let acceptances: Vec<AcceptanceFact> = tx
        .list_acceptances(&release.id)
        .await?
        .into_iter()
        .filter(|a| bound(a.revision, &a.bundle_digest))
        .map(|a| AcceptanceFact {
            gap: a.gap,
            expires_at: a.expires_at,
        })
        .collect();
    let status = evaluate(&GateInput {
        tier,
        reviews: &facts,
        evidence_kinds: &evidence_kinds,
        acceptances: &acceptances,
        findings: &findings,
        now,
    });
    let escalations = deadlines::states(tx, release, revision, now).await?;
    Ok(GateReport {
        release: release.clone(),
        revision: revision.clone(),
        status,
        requested: requests.requested,
        escalations,
        excluded: requests.excluded,
        now,
    })
}

/// The reviews a revision asks for and who may not give them: the part of the gate
/// the inbox needs for the reviews a person owes, without the rest of the report.
pub struct ReviewRequests {
    /// The reviews bound to this revision's bundle (I3).
    pub reviews: Vec<ReviewRecord>,
    pub requested: Vec<RequestedReview>,
    /// Who may not review this revision, and why (I4).
    pub excluded: Vec<Exclusion>,
}

/// The reviews `revision`'s tier requires, each with its review if given and its due
/// time, and the segregation-of-duties exclusions.
pub async fn review_requests(
    tx: &mut dyn Tx,
    profile: &Profile,
    now: DateTime<Utc>,
    release: &ReleaseRecord,
    revision: &RevisionRecord,
) -> Result<ReviewRequests, AppError> {
    let reviews = tx.list_reviews(&release.id).await?;
    let parties = super::sod::parties(tx, release, revision.number).await?;
    Ok(requests_from(
        profile, now, release, revision, reviews, &parties,
    ))
}

/// The review requests of every release in review (the console's inbox): three
/// reads whatever their number, and one per bound training run for its trainer.
pub async fn review_requests_in_review(
    tx: &mut dyn Tx,
    profile: &Profile,
    now: DateTime<Utc>,
) -> Result<Vec<(ReleaseRecord, RevisionRecord, ReviewRequests)>, AppError> {
    let mut out = Vec::new();
    for r in tx.in_review().await? {
        let Some(revision) = r.current().cloned() else {
            continue;
        };
        let parties = super::sod::parties_of(tx, &r.release, &r.revisions, revision.number).await?;
        let requests = requests_from(profile, now, &r.release, &revision, r.reviews, &parties);
        out.push((r.release, revision, requests));
    }
    Ok(out)
}

/// [`review_requests`] from what was read (pure).
fn requests_from(
    profile: &Profile,
    now: DateTime<Utc>,
    release: &ReleaseRecord,
    revision: &RevisionRecord,
    reviews: Vec<ReviewRecord>,
    parties: &countersign_core::sod::Parties,
) -> ReviewRequests {
    // INVARIANT (I3): only reviews bound to this revision's bundle digest count.
    let reviews: Vec<ReviewRecord> = reviews
        .into_iter()
        .filter(|r| r.revision == revision.number && r.bundle_digest == revision.bundle_digest)
        .collect();
    let due_at = deadlines::due_at(profile, revision);
    let requested = profile
        .tier(&revision.tier)
        .map(|t| t.required_roles.iter().copied().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|role| {
            let review = reviews.iter().find(|r| r.role == role).cloned();
            RequestedReview {
                role,
                due_at,
                overdue: review.is_none()
                    && release.status == ReleaseStatus::InReview
                    && due_at.is_some_and(|d| now >= d),
                review,
            }
        })
        .collect();
    ReviewRequests {
        excluded: excluded_reviewers(parties),
        requested,
        reviews,
    }
}

/// The latest `eval_report` attached to a revision (evidence is listed in attach
/// order), parsed (I7).
pub async fn latest_eval_report(
    tx: &mut dyn Tx,
    evidence: &[EvidenceRecord],
) -> Result<ReportFact, AppError> {
    let Some(e) = evidence.iter().rev().find(|e| e.kind == EVAL_EVIDENCE) else {
        return Ok(ReportFact::None);
    };
    let bytes = tx.get_blob(&e.digest).await?.unwrap_or_default();
    Ok(match eval::parse_report(&bytes) {
        Ok(r) => ReportFact::Parsed(r),
        Err(error) => ReportFact::Invalid {
            name: e.name.clone(),
            error,
        },
    })
}

/// The gate status of a release's current revision, or of an older one.
pub async fn status(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &ReleaseId,
    revision: Option<u32>,
) -> Result<GateReport, AppError> {
    let release = load_release(tx, id).await?;
    let n = revision.unwrap_or(release.current_revision);
    let rev = tx
        .get_revision(id, n)
        .await?
        .ok_or_else(|| AppError::NotFound {
            what: "revision",
            id: format!("{id}/{n}"),
        })?;
    evaluate_revision(tx, ctx, &release, &rev).await
}

/// The answer to "may this exact artifact run in this environment?".
#[derive(Clone, Debug)]
pub struct CheckOutcome {
    pub allowed: bool,
    pub reasons: Vec<String>,
    pub release: Option<ReleaseId>,
    pub revision: Option<u32>,
}

/// The environment a check asks about when it names none.
pub fn environment(env: Option<String>) -> String {
    env.unwrap_or_else(|| "production".into())
}

/// Allowed only when a release's current revision carries exactly this artifact
/// digest and is approved (or promoted) for exactly this environment, and, while it is
/// approved but not yet promoted, its gate is still clear now (a risk acceptance the go
/// relied on may have expired since; promotion re-checks the same).
pub async fn check(
    tx: &mut dyn Tx,
    profile: &Profile,
    now: DateTime<Utc>,
    artifact: &Digest,
    environment: &str,
) -> Result<CheckOutcome, AppError> {
    let candidates = tx.revisions_by_artifact(artifact).await?;
    if candidates.is_empty() {
        return Ok(CheckOutcome {
            allowed: false,
            reasons: vec![format!("no release has artifact {artifact}")],
            release: None,
            revision: None,
        });
    }
    let mut reasons = Vec::new();
    for (rel, rev) in &candidates {
        let at = format!("release {} revision {}", rel.id, rev.number);
        if rev.number != rel.current_revision {
            reasons.push(format!(
                "{at} was superseded by revision {}",
                rel.current_revision
            ));
            continue;
        }
        if !matches!(
            rel.status,
            ReleaseStatus::Approved | ReleaseStatus::Promoted
        ) {
            reasons.push(format!("{at} is {}, not approved", rel.status));
            continue;
        }
        if rel.environment.as_deref() != Some(environment) {
            reasons.push(format!(
                "{at} is approved for {:?}, not {environment:?}",
                rel.environment.as_deref().unwrap_or("")
            ));
            continue;
        }
        if rel.status == ReleaseStatus::Approved {
            let report = evaluate_with(tx, profile, now, rel, rev).await?;
            if !report.status.clear {
                let gaps: Vec<String> = report.status.unmet().map(|g| g.key.to_string()).collect();
                reasons.push(format!(
                    "{at} is approved but its gate is no longer clear: {}",
                    gaps.join(", ")
                ));
                continue;
            }
        }
        return Ok(CheckOutcome {
            allowed: true,
            reasons: vec![format!("{at} is {} for {environment}", rel.status)],
            release: Some(rel.id.clone()),
            revision: Some(rev.number),
        });
    }
    let (rel, rev) = &candidates[candidates.len() - 1];
    Ok(CheckOutcome {
        allowed: false,
        reasons,
        release: Some(rel.id.clone()),
        revision: Some(rev.number),
    })
}

/// The evaluation of one revision (I7): the latest eval report, parsed, and the tier's
/// gates (and, for a retrain, the profile's drift gates) with the values they saw.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub release: ReleaseRecord,
    pub revision: RevisionRecord,
    pub tier: String,
    /// The latest eval_report evidence, if any.
    pub evidence: Option<EvidenceRecord>,
    pub report: ReportFact,
    pub gates: Vec<eval::EvalGate>,
    pub drift_gates: Vec<eval::EvalGate>,
}

pub async fn evaluation(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &ReleaseId,
    revision: Option<u32>,
) -> Result<Evaluation, AppError> {
    let release = load_release(tx, id).await?;
    let n = revision.unwrap_or(release.current_revision);
    let rev = tx
        .get_revision(id, n)
        .await?
        .ok_or_else(|| AppError::NotFound {
            what: "revision",
            id: format!("{id}/{n}"),
        })?;
    let evidence: Vec<EvidenceRecord> = tx
        .list_evidence(id)
        .await?
        .into_iter()
        .filter(|e| e.revision == n)
        .collect();
    let report = latest_eval_report(tx, &evidence).await?;
    let gates = ctx
        .profile
        .tier(&rev.tier)
        .map(|t| t.eval_gates.clone())
        .unwrap_or_default();
    let drift_gates = if release.kind == countersign_core::release::ReleaseKind::Retrain {
        ctx.profile.retrain_drift_gates.clone()
    } else {
        Vec::new()
    };
    Ok(Evaluation {
        tier: rev.tier.clone(),
        evidence: evidence.into_iter().rev().find(|e| e.kind == EVAL_EVIDENCE),
        release,
        revision: rev,
        report,
        gates,
        drift_gates,
    })
}
