//! The release gate's commands: create, revise, submit, review, attach evidence,
//! accept risk, decide, promote, roll back, retire.

use super::friction::Opening;
use super::gate::{evaluate_revision, GateReport};
use super::sod::{add_revision, parties};
use super::unit::App;
use super::{
    events, lineage, load_current, load_release, new_id, record, systems, users, AppError, Ctx,
};
use countersign_core::canonical::Digest;
use countersign_core::gap::{GapCode, GapKey};
use countersign_core::problem::ProblemCode;
use countersign_core::release::{
    next_status, Attributes, Bundle, Decision, DeploymentAction, ReleaseKind, ReleaseStatus,
    Transition, MAX_AUTONOMY_LEVEL,
};
use countersign_core::review::{validate_review, Answer, ReviewDraft, Verdict};
use countersign_core::sod::{check_owner, check_reviewer, Parties, Shaping};
use countersign_core::{ReleaseId, Role, SystemId, UserId};
use countersign_store::prelude::*;
use countersign_store::records::*;
use serde_json::json;
use std::collections::BTreeMap;

/// Roles that may create, revise and submit releases.
pub const AUTHOR_ROLES: &[Role] = &[Role::Mlops];
/// Roles that may promote, roll back and retire releases.
pub const DEPLOY_ROLES: &[Role] = &[Role::Mlops, Role::Operations];
/// Roles that may attach evidence.
pub const EVIDENCE_ROLES: &[Role] = &[
    Role::Mlops,
    Role::Security,
    Role::Privacy,
    Role::Legal,
    Role::Compliance,
    Role::DataGovernance,
    Role::Operations,
    Role::Risk,
];

fn transition(r: &ReleaseRecord, t: Transition) -> Result<ReleaseStatus, AppError> {
    next_status(r.status, t).map_err(AppError::IllegalTransition)
}

fn validate_attributes(a: &Attributes) -> Result<(), AppError> {
    if a.autonomy_level > MAX_AUTONOMY_LEVEL {
        return Err(AppError::invalid(
            ProblemCode::InvalidAttributes,
            "autonomy_level must be between 0 and 3",
        ));
    }
    if !a.data_classes.is_empty() && !a.data_connected {
        return Err(AppError::invalid(
            ProblemCode::InvalidAttributes,
            "data_classes are given but data_connected is false",
        ));
    }
    Ok(())
}

/// INVARIANT (I1): one named human decision owner.
async fn check_user_exists(tx: &mut dyn Tx, owner: &UserId) -> Result<(), AppError> {
    users::get(tx, owner).await.map_err(|_| {
        AppError::invalid(
            ProblemCode::UnknownOwner,
            format!("decision owner {:?} is not a user", owner.as_str()),
        )
    })?;
    Ok(())
}

async fn check_trainer(tx: &mut dyn Tx, bundle: &Bundle) -> Result<(), AppError> {
    if let Some(trainer) = &bundle.trainer {
        users::get(tx, trainer).await.map_err(|_| {
            AppError::invalid(
                ProblemCode::UnknownTrainer,
                format!("trainer {:?} is not a user", trainer.as_str()),
            )
        })?;
    }
    lineage::check_bundle_trainer(tx, bundle).await
}

fn new_revision(
    ctx: &Ctx,
    release: &ReleaseId,
    number: u32,
    kind: ReleaseKind,
    attributes: &Attributes,
    bundle: Bundle,
) -> RevisionRecord {
    let tiering = ctx.profile.tier_for(kind, attributes);
    RevisionRecord {
        release_id: release.clone(),
        number,
        bundle_digest: bundle.digest(),
        bundle,
        tier: tiering.tier.name.clone(),
        matched_rules: tiering.matched_rules,
        profile_digest: ctx.profile.digest(),
        created_by: ctx.actor.id.clone(),
        created_at: ctx.now,
        submitted_by: None,
        submitted_at: None,
    }
}

pub struct NewRelease {
    pub title: String,
    pub kind: ReleaseKind,
    pub system: SystemId,
    pub decision_owner: UserId,
    pub attributes: Attributes,
    pub bundle: Bundle,
}

pub async fn create(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    n: NewRelease,
) -> Result<(ReleaseRecord, RevisionRecord), AppError> {
    ctx.require_any(AUTHOR_ROLES)?;
    if n.title.trim().is_empty() || n.title.len() > 200 {
        return Err(AppError::invalid(
            ProblemCode::InvalidTitle,
            "title must be 1 to 200 characters",
        ));
    }
    validate_attributes(&n.attributes)?;
    systems::get(tx, &n.system).await.map_err(|_| {
        AppError::invalid(
            ProblemCode::UnknownSystem,
            format!("system {:?} does not exist", n.system.as_str()),
        )
    })?;
    check_user_exists(tx, &n.decision_owner).await?;
    check_trainer(tx, &n.bundle).await?;
    let id = ReleaseId(new_id("rel"));
    let revision = new_revision(ctx, &id, 1, n.kind, &n.attributes, n.bundle);
    // INVARIANT (I4): the owner neither created nor wrote nor trained revision 1.
    let mut p = Parties::new(n.decision_owner.clone());
    p.shaped(Some(&ctx.actor.id), Shaping::Creator, 1);
    add_revision(tx, &mut p, &revision).await?;
    check_owner(&p).map_err(AppError::Segregation)?;
    let release = ReleaseRecord {
        id: id.clone(),
        title: n.title,
        kind: n.kind,
        system_id: n.system,
        decision_owner: n.decision_owner,
        created_by: ctx.actor.id.clone(),
        attributes: n.attributes,
        status: ReleaseStatus::Draft,
        current_revision: 1,
        environment: None,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    tx.insert_release(&release).await?;
    tx.insert_revision(&revision).await?;
    record(
        tx,
        ctx,
        "release.create",
        id.as_str(),
        json!({
            "kind": release.kind.as_str(), "system": release.system_id, "decision_owner": release.decision_owner,
            "revision": 1, "bundle_digest": revision.bundle_digest, "tier": revision.tier,
            "profile_digest": revision.profile_digest,
        }),
    )
    .await?;
    Ok((release, revision))
}

/// A new bundle (and optionally new attributes): a new revision, back to draft (I3).
pub async fn revise(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &ReleaseId,
    based_on: u32,
    bundle: Bundle,
    attributes: Option<Attributes>,
    decision_owner: Option<UserId>,
) -> Result<(ReleaseRecord, RevisionRecord), AppError> {
    ctx.require_any(AUTHOR_ROLES)?;
    let (mut release, current) = load_current(tx, id, based_on).await?;
    let status = transition(&release, Transition::Revise)?;
    let attributes = attributes.unwrap_or_else(|| release.attributes.clone());
    validate_attributes(&attributes)?;
    let owner_changes = decision_owner
        .as_ref()
        .is_some_and(|o| *o != release.decision_owner);
    if bundle.digest() == current.bundle_digest
        && attributes == release.attributes
        && !owner_changes
    {
        return Err(AppError::invalid(
            ProblemCode::BundleUnchanged,
            "the bundle and attributes are unchanged; nothing to revise",
        ));
    }
    check_trainer(tx, &bundle).await?;
    if let Some(owner) = decision_owner {
        check_user_exists(tx, &owner).await?;
        release.decision_owner = owner;
    }
    let number = release.current_revision + 1;
    let revision = new_revision(ctx, id, number, release.kind, &attributes, bundle);
    // INVARIANT (I4): the owner (a new one too) shaped none of revisions 1..=number.
    let mut p = parties(tx, &release, number).await?;
    add_revision(tx, &mut p, &revision).await?;
    check_owner(&p).map_err(AppError::Segregation)?;
    release.status = status;
    release.current_revision = number;
    release.environment = None;
    release.attributes = attributes;
    release.updated_at = ctx.now;
    tx.insert_revision(&revision).await?;
    tx.update_release(&release).await?;
    record(
        tx,
        ctx,
        "release.revise",
        id.as_str(),
        json!({
            "revision": number, "previous_revision": based_on, "bundle_digest": revision.bundle_digest,
            "tier": revision.tier, "decision_owner": release.decision_owner,
        }),
    )
    .await?;
    Ok((release, revision))
}

pub async fn submit(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &ReleaseId,
    revision_no: u32,
) -> Result<ReleaseRecord, AppError> {
    ctx.require_any(AUTHOR_ROLES)?;
    let (mut release, mut revision) = load_current(tx, id, revision_no).await?;
    let status = transition(&release, Transition::Submit)?;
    revision.submitted_by = Some(ctx.actor.id.clone());
    let mut p = parties(tx, &release, revision_no).await?;
    p.shaped(Some(&ctx.actor.id), Shaping::Submitter, revision_no);
    check_owner(&p).map_err(AppError::Segregation)?;
    revision.submitted_at = Some(ctx.now);
    release.status = status;
    release.updated_at = ctx.now;
    tx.update_revision(&revision).await?;
    tx.update_release(&release).await?;
    let roles: Vec<String> = ctx
        .profile
        .tier(&revision.tier)
        .map(|t| t.required_roles.iter().map(|r| r.to_string()).collect())
        .unwrap_or_default();
    let due_at =
        super::deadlines::due_at(&ctx.profile, &revision).map(countersign_ledger::format_time);
    events::emit(
        tx,
        ctx.now,
        "review_requested",
        id.as_str(),
        json!({"release": id, "revision": revision_no, "roles": roles, "due_at": due_at, "tier": revision.tier}),
    )
    .await?;
    record(
        tx,
        ctx,
        "release.submit",
        id.as_str(),
        json!({"revision": revision_no, "bundle_digest": revision.bundle_digest, "reviews_requested": roles}),
    )
    .await?;
    Ok(release)
}

pub struct NewReview {
    pub revision: u32,
    pub role: Role,
    pub verdict: Verdict,
    pub answers: BTreeMap<String, Answer>,
    pub conditions: Option<String>,
    pub comment: Option<String>,
    /// The first hex characters of the bundle digest, typed by the reviewer (the
    /// tier's `confirm_digest` friction rule).
    pub confirm_digest: Option<String>,
}

pub async fn review(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &ReleaseId,
    r: NewReview,
) -> Result<ReviewRecord, AppError> {
    ctx.require_any(&[r.role])?;
    let (release, revision) = load_current(tx, id, r.revision).await?;
    if release.status != ReleaseStatus::InReview {
        return Err(AppError::invalid(
            ProblemCode::NotInReview,
            format!("the release is {}, not in_review", release.status),
        ));
    }
    let tier = ctx.profile.tier(&revision.tier).ok_or_else(|| {
        AppError::invalid(
            ProblemCode::UnknownTier,
            format!("tier {:?} is not in the current profile", revision.tier),
        )
    })?;
    if !tier.required_roles.contains(&r.role) {
        return Err(AppError::invalid(
            ProblemCode::RoleNotRequired,
            format!("tier {} does not require a {} review", tier.name, r.role),
        ));
    }
    let existing: Vec<(UserId, Role)> = tx
        .list_reviews(id)
        .await?
        .into_iter()
        .filter(|x| x.revision == r.revision)
        .map(|x| (x.reviewer, x.role))
        .collect();
    if existing.iter().any(|(_, role)| *role == r.role) {
        return Err(AppError::Duplicate {
            what: format!("a {} review of revision {}", r.role, r.revision),
        });
    }
    check_reviewer(
        &parties(tx, &release, revision.number).await?,
        &ctx.actor.id,
        r.role,
        &existing,
    )
    .map_err(AppError::Segregation)?;
    let draft = ReviewDraft {
        role: r.role,
        verdict: r.verdict,
        answers: r.answers,
        conditions: r.conditions,
        comment: r.comment,
    };
    validate_review(ctx.profile.checklist(r.role), &draft).map_err(AppError::Review)?;
    // Friction slows approving only; a rejection is always welcome at once.
    let friction = if draft.verdict == Verdict::Reject {
        vec![]
    } else {
        super::friction::check_revision(tx, ctx, &revision, tier, r.confirm_digest.as_deref())
            .await?
    };
    let review = ReviewRecord {
        id: new_id("rev"),
        release_id: id.clone(),
        revision: r.revision,
        role: draft.role,
        reviewer: ctx.actor.id.clone(),
        verdict: draft.verdict,
        answers: draft.answers,
        conditions: draft.conditions,
        comment: draft.comment,
        bundle_digest: revision.bundle_digest.clone(),
        created_at: ctx.now,
        friction,
    };
    tx.insert_review(&review).await?;
    record(
        tx,
        ctx,
        "review.record",
        id.as_str(),
        json!({
            "review": review.id, "revision": review.revision, "bundle_digest": review.bundle_digest,
            "role": review.role, "verdict": review.verdict.as_str(), "answers": review.answers,
            "conditions": review.conditions, "friction": review.friction,
        }),
    )
    .await?;
    Ok(review)
}

pub struct NewEvidence {
    pub revision: u32,
    pub kind: String,
    pub name: String,
    pub media_type: String,
    pub content: Vec<u8>,
}

pub async fn attach_evidence(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &ReleaseId,
    e: NewEvidence,
) -> Result<EvidenceRecord, AppError> {
    ctx.require_any(EVIDENCE_ROLES)?;
    if !ctx.profile.evidence_kinds.contains(&e.kind) {
        let kinds: Vec<&str> = ctx
            .profile
            .evidence_kinds
            .iter()
            .map(String::as_str)
            .collect();
        return Err(AppError::invalid(
            ProblemCode::UnknownEvidenceKind,
            format!(
                "evidence kind {:?} is not in the profile (expected one of {})",
                e.kind,
                kinds.join(", ")
            ),
        ));
    }
    if e.name.trim().is_empty() || e.name.len() > 255 {
        return Err(AppError::invalid(
            ProblemCode::InvalidName,
            "name must be 1 to 255 characters",
        ));
    }
    let (release, _) = load_current(tx, id, e.revision).await?;
    if !matches!(
        release.status,
        ReleaseStatus::Draft | ReleaseStatus::InReview
    ) {
        return Err(AppError::invalid(
            ProblemCode::EvidenceClosed,
            format!(
                "evidence can be attached in draft or in_review; the release is {}",
                release.status
            ),
        ));
    }
    let digest = Digest::of(&e.content);
    tx.put_blob(&digest, &e.content).await?;
    let evidence = EvidenceRecord {
        id: new_id("evd"),
        release_id: id.clone(),
        revision: e.revision,
        kind: e.kind,
        name: e.name,
        media_type: e.media_type,
        digest,
        size: e.content.len() as u64,
        attached_by: ctx.actor.id.clone(),
        created_at: ctx.now,
    };
    tx.insert_evidence(&evidence).await?;
    record(
        tx,
        ctx,
        "evidence.attach",
        id.as_str(),
        json!({"evidence": evidence.id, "revision": evidence.revision, "kind": evidence.kind, "digest": evidence.digest, "size": evidence.size}),
    )
    .await?;
    Ok(evidence)
}

pub async fn evidence_content(tx: &mut dyn Tx, digest: &Digest) -> Result<Vec<u8>, AppError> {
    tx.get_blob(digest)
        .await?
        .ok_or_else(|| AppError::NotFound {
            what: "evidence",
            id: digest.to_string(),
        })
}

fn require_owner(ctx: &Ctx, release: &ReleaseRecord) -> Result<(), AppError> {
    if ctx.actor.id != release.decision_owner {
        return Err(AppError::NotDecisionOwner {
            owner: release.decision_owner.to_string(),
        });
    }
    Ok(())
}

fn require_in_review(release: &ReleaseRecord) -> Result<(), AppError> {
    if release.status != ReleaseStatus::InReview {
        return Err(AppError::invalid(
            ProblemCode::NotInReview,
            format!("the release is {}, not in_review", release.status),
        ));
    }
    Ok(())
}

pub struct NewAcceptance {
    pub revision: u32,
    pub gap: GapKey,
    pub justification: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

pub async fn accept_risk(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &ReleaseId,
    a: NewAcceptance,
) -> Result<AcceptanceRecord, AppError> {
    let release = load_release(tx, id).await?;
    require_owner(ctx, &release)?;
    let (release, revision) = load_current(tx, id, a.revision).await?;
    require_in_review(&release)?;
    if a.gap.code == GapCode::VetoRejection {
        return Err(AppError::VetoNotAcceptable { gap: a.gap });
    }
    if !a.gap.code.acceptable() {
        return Err(AppError::GapNotAcceptable { gap: a.gap });
    }
    if a.justification.trim().len() < 10 {
        return Err(AppError::invalid(
            ProblemCode::InvalidJustification,
            "a risk acceptance needs a justification of at least 10 characters",
        ));
    }
    if a.expires_at <= ctx.now {
        return Err(AppError::invalid(
            ProblemCode::InvalidExpiry,
            "expires_at must be in the future",
        ));
    }
    let report = evaluate_revision(tx, ctx, &release, &revision).await?;
    if !report.status.gaps.iter().any(|g| g.key == a.gap) {
        let open: Vec<String> = report
            .status
            .gaps
            .iter()
            .map(|g| g.key.to_string())
            .collect();
        return Err(AppError::invalid(
            ProblemCode::UnknownGap,
            format!(
                "{} is not a gap of revision {} (gaps: {})",
                a.gap,
                a.revision,
                if open.is_empty() {
                    "none".into()
                } else {
                    open.join(", ")
                }
            ),
        ));
    }
    let acceptance = AcceptanceRecord {
        id: new_id("acc"),
        release_id: id.clone(),
        revision: a.revision,
        gap: a.gap,
        justification: a.justification,
        expires_at: a.expires_at,
        accepted_by: ctx.actor.id.clone(),
        bundle_digest: revision.bundle_digest.clone(),
        created_at: ctx.now,
    };
    tx.insert_acceptance(&acceptance).await?;
    record(
        tx,
        ctx,
        "risk.accept",
        id.as_str(),
        json!({
            "acceptance": acceptance.id, "revision": acceptance.revision, "bundle_digest": acceptance.bundle_digest,
            "gap": acceptance.gap, "justification": acceptance.justification,
            "expires_at": countersign_ledger::format_time(acceptance.expires_at),
        }),
    )
    .await?;
    Ok(acceptance)
}

pub struct NewDecision {
    pub revision: u32,
    pub decision: Decision,
    pub environment: String,
    pub comment: String,
}

fn validate_environment(env: &str) -> Result<(), AppError> {
    let ok = !env.is_empty()
        && env.len() <= 64
        && env
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            ProblemCode::InvalidEnvironment,
            "environment must be 1 to 64 lowercase letters, digits, - or _",
        ))
    }
}

/// The decision owner's go or no-go (I1, I2).
pub async fn decide(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &ReleaseId,
    d: NewDecision,
) -> Result<(ReleaseRecord, DecisionRecord), AppError> {
    let release = load_release(tx, id).await?;
    require_owner(ctx, &release)?;
    validate_environment(&d.environment)?;
    let (mut release, revision) = load_current(tx, id, d.revision).await?;
    let status = transition(
        &release,
        match d.decision {
            Decision::Go => Transition::DecideGo,
            Decision::NoGo => Transition::DecideNoGo,
            Decision::Withdrawn => {
                return Err(AppError::invalid(
                    ProblemCode::InvalidVerdict,
                    "a go is withdrawn with its own command (POST /v1/releases/{id}/withdraw, \
                     with a reason), not as a decision",
                ))
            }
        },
    )?;
    check_owner(&parties(tx, &release, revision.number).await?).map_err(AppError::Segregation)?;
    let report: GateReport = evaluate_revision(tx, ctx, &release, &revision).await?;
    if d.decision == Decision::Go && !report.status.clear {
        return Err(AppError::GateUnmet {
            gaps: report.status.unmet().cloned().collect(),
        });
    }
    let decision = DecisionRecord {
        id: replaced_decision_id(tx, id, d.revision).await?,
        release_id: id.clone(),
        revision: d.revision,
        decision: d.decision,
        environment: d.environment,
        comment: d.comment,
        decided_by: ctx.actor.id.clone(),
        bundle_digest: revision.bundle_digest.clone(),
        created_at: ctx.now,
    };
    release.status = status;
    release.environment = (d.decision == Decision::Go).then(|| decision.environment.clone());
    release.updated_at = ctx.now;
    put_decision(tx, &decision).await?;
    tx.update_release(&release).await?;
    let accepted: Vec<String> = report
        .status
        .gaps
        .iter()
        .filter(|g| g.accepted)
        .map(|g| g.key.to_string())
        .collect();
    events::emit(
        tx,
        ctx.now,
        "decided",
        id.as_str(),
        json!({
            "release": id, "revision": decision.revision, "decision": decision.decision.as_str(),
            "environment": decision.environment, "decided_by": decision.decided_by,
        }),
    )
    .await?;
    record(
        tx,
        ctx,
        "release.decide",
        id.as_str(),
        json!({
            "decision": decision.decision.as_str(), "revision": decision.revision, "bundle_digest": decision.bundle_digest,
            "environment": decision.environment, "accepted_gaps": accepted, "profile_digest": revision.profile_digest,
        }),
    )
    .await?;
    Ok((release, decision))
}

/// Refuses unless the actor owns the release's decision and gives a reason of at
/// least 10 characters for `doing` (blocking, withdrawing a go).
async fn owner_with_reason(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &ReleaseId,
    reason: &str,
    doing: &str,
) -> Result<(), AppError> {
    let release = load_release(tx, id).await?;
    require_owner(ctx, &release)?;
    if reason.trim().len() < 10 {
        return Err(AppError::invalid(
            ProblemCode::InvalidReason,
            format!("{doing} needs a reason of at least 10 characters"),
        ));
    }
    Ok(())
}

/// The revision's standing decision, if any (one row per revision).
async fn standing_decision(
    tx: &mut dyn Tx,
    id: &ReleaseId,
    revision: u32,
) -> Result<Option<DecisionRecord>, AppError> {
    Ok(tx
        .list_decisions(id)
        .await?
        .into_iter()
        .find(|d| d.revision == revision))
}

/// The id a new decision on `revision` is stored under: the withdrawn go's it
/// replaces, or a new one.
async fn replaced_decision_id(
    tx: &mut dyn Tx,
    id: &ReleaseId,
    revision: u32,
) -> Result<String, AppError> {
    Ok(match standing_decision(tx, id, revision).await? {
        Some(d) if d.decision == Decision::Withdrawn => d.id,
        _ => new_id("dec"),
    })
}

/// Stores a revision's decision: replacing its withdrawn go, or as its first.
async fn put_decision(tx: &mut dyn Tx, d: &DecisionRecord) -> Result<(), AppError> {
    match standing_decision(tx, &d.release_id, d.revision).await? {
        Some(old) if old.id == d.id => tx.update_decision(d).await?,
        _ => tx.insert_decision(d).await?,
    }
    Ok(())
}

/// The decision owner withdraws the go of the current revision before it is promoted:
/// the release is in review again (the go becomes a `withdrawn` decision, one
/// `release.withdraw` entry; the owner's next decision replaces it), and promotion is
/// refused until a new go.
pub async fn withdraw(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &ReleaseId,
    revision_no: u32,
    reason: String,
) -> Result<(ReleaseRecord, DecisionRecord), AppError> {
    owner_with_reason(tx, ctx, id, &reason, "withdrawing a go").await?;
    let (mut release, revision) = load_current(tx, id, revision_no).await?;
    let status = transition(&release, Transition::Withdraw)?;
    let standing = standing_decision(tx, id, revision_no).await?;
    let decision = DecisionRecord {
        id: standing.map_or_else(|| new_id("dec"), |d| d.id),
        release_id: id.clone(),
        revision: revision_no,
        decision: Decision::Withdrawn,
        environment: release.environment.clone().unwrap_or_default(),
        comment: reason.trim().to_owned(),
        decided_by: ctx.actor.id.clone(),
        bundle_digest: revision.bundle_digest.clone(),
        created_at: ctx.now,
    };
    release.status = status;
    release.environment = None;
    release.updated_at = ctx.now;
    put_decision(tx, &decision).await?;
    tx.update_release(&release).await?;
    events::emit(
        tx,
        ctx.now,
        "decided",
        id.as_str(),
        json!({
            "release": id, "revision": decision.revision, "decision": decision.decision.as_str(),
            "environment": decision.environment, "reason": decision.comment, "decided_by": decision.decided_by,
        }),
    )
    .await?;
    record(
        tx,
        ctx,
        "release.withdraw",
        id.as_str(),
        json!({
            "decision": decision.decision.as_str(), "revision": decision.revision,
            "bundle_digest": decision.bundle_digest, "environment": decision.environment,
            "reason": decision.comment,
        }),
    )
    .await?;
    Ok((release, decision))
}

/// The decision owner blocks the current revision: a no-go with a reason, the answer
/// to an escalation the owner will not accept (I5).
pub async fn block(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &ReleaseId,
    revision_no: u32,
    reason: String,
) -> Result<(ReleaseRecord, DecisionRecord), AppError> {
    owner_with_reason(tx, ctx, id, &reason, "blocking").await?;
    let (mut release, revision) = load_current(tx, id, revision_no).await?;
    let status = transition(&release, Transition::DecideNoGo)?;
    let report = evaluate_revision(tx, ctx, &release, &revision).await?;
    let escalated: Vec<String> = report
        .escalations
        .iter()
        .filter(|(_, s)| *s == super::deadlines::EscalationState::Open)
        .map(|(e, _)| e.role.to_string())
        .collect();
    let decision = DecisionRecord {
        id: replaced_decision_id(tx, id, revision_no).await?,
        release_id: id.clone(),
        revision: revision_no,
        decision: Decision::NoGo,
        environment: String::new(),
        comment: reason,
        decided_by: ctx.actor.id.clone(),
        bundle_digest: revision.bundle_digest.clone(),
        created_at: ctx.now,
    };
    release.status = status;
    release.environment = None;
    release.updated_at = ctx.now;
    put_decision(tx, &decision).await?;
    tx.update_release(&release).await?;
    events::emit(
        tx,
        ctx.now,
        "decided",
        id.as_str(),
        json!({
            "release": id, "revision": decision.revision, "decision": decision.decision.as_str(),
            "blocked": true, "reason": decision.comment, "decided_by": decision.decided_by,
        }),
    )
    .await?;
    record(
        tx,
        ctx,
        "release.block",
        id.as_str(),
        json!({
            "decision": decision.decision.as_str(), "revision": decision.revision,
            "bundle_digest": decision.bundle_digest, "reason": decision.comment,
            "escalated_roles": escalated,
        }),
    )
    .await?;
    Ok((release, decision))
}

pub struct NewDeployment {
    pub revision: u32,
    pub action: DeploymentAction,
    pub environment: Option<String>,
    pub reason: String,
}

/// Promote, roll back or retire the current revision.
pub async fn deploy(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &ReleaseId,
    d: NewDeployment,
) -> Result<(ReleaseRecord, DeploymentRecord), AppError> {
    ctx.require_any(DEPLOY_ROLES)?;
    let (mut release, revision) = load_current(tx, id, d.revision).await?;
    let status = transition(
        &release,
        match d.action {
            DeploymentAction::Promote => Transition::Promote,
            DeploymentAction::Rollback => Transition::Rollback,
            DeploymentAction::Retire => Transition::Retire,
        },
    )?;
    let approved_env = release.environment.clone().unwrap_or_default();
    let environment = d.environment.unwrap_or_else(|| approved_env.clone());
    if environment != approved_env {
        return Err(AppError::invalid(
            ProblemCode::EnvironmentNotApproved,
            format!(
                "revision {} is approved for {approved_env:?}, not {environment:?}",
                d.revision
            ),
        ));
    }
    if d.action == DeploymentAction::Promote {
        // The gate is checked again: an acceptance may have expired since the decision.
        let report = evaluate_revision(tx, ctx, &release, &revision).await?;
        if !report.status.clear {
            return Err(AppError::GateUnmet {
                gaps: report.status.unmet().cloned().collect(),
            });
        }
    } else if d.reason.trim().is_empty() {
        return Err(AppError::invalid(
            ProblemCode::MissingReason,
            format!("{} needs a reason", d.action.as_str()),
        ));
    }
    let deployment = DeploymentRecord {
        id: new_id("dep"),
        release_id: id.clone(),
        revision: d.revision,
        action: d.action,
        environment,
        reason: d.reason,
        actor: ctx.actor.id.clone(),
        created_at: ctx.now,
    };
    release.status = status;
    release.updated_at = ctx.now;
    tx.insert_deployment(&deployment).await?;
    tx.update_release(&release).await?;
    let mut payload = json!({"revision": deployment.revision, "bundle_digest": revision.bundle_digest, "environment": deployment.environment, "reason": deployment.reason});
    // --- issue 5 (I9): rolling back or retiring a release suspends its agents and
    // revokes every credential issued under it, in this transaction and this entry.
    if d.action != DeploymentAction::Promote {
        let (suspended, revoked) =
            super::credentials::on_release_withdrawn(tx, ctx, id, &deployment.reason).await?;
        if let serde_json::Value::Object(m) = &mut payload {
            m.insert("suspended_agents".into(), json!(suspended));
            m.insert("revoked_credentials".into(), json!(revoked));
        }
    }
    // --- end issue 5
    let kind = match d.action {
        DeploymentAction::Promote => "promoted",
        DeploymentAction::Rollback => "rolled_back",
        DeploymentAction::Retire => "retired",
    };
    events::emit(
        tx,
        ctx.now,
        kind,
        id.as_str(),
        json!({
            "release": id, "revision": deployment.revision, "environment": deployment.environment,
            "reason": deployment.reason, "artifact_digest": revision.bundle.artifact_digest,
        }),
    )
    .await?;
    record(
        tx,
        ctx,
        &format!("release.{}", d.action.as_str()),
        id.as_str(),
        payload,
    )
    .await?;
    Ok((release, deployment))
}

/// Everything about a release, every revision included (history is never dropped).
pub struct ReleaseDetail {
    pub release: ReleaseRecord,
    pub revisions: Vec<RevisionRecord>,
    pub reviews: Vec<ReviewRecord>,
    pub evidence: Vec<EvidenceRecord>,
    pub acceptances: Vec<AcceptanceRecord>,
    pub decisions: Vec<DecisionRecord>,
    pub deployments: Vec<DeploymentRecord>,
}

/// Every release, newest first. Any role.
pub async fn list(tx: &mut dyn Tx) -> Result<Vec<ReleaseRecord>, AppError> {
    Ok(tx.list_releases().await?)
}

/// A person reads a release: its detail; their first opening of the current
/// revision is recorded (see [`super::friction`]).
pub async fn read_for(app: &App, ctx: &Ctx, id: ReleaseId) -> Result<ReleaseDetail, AppError> {
    let d = app
        .query(move |tx| Box::pin(async move { detail(tx, &id).await }))
        .await?;
    let opening = Opening::Revision(d.release.id.clone(), d.release.current_revision);
    super::friction::open_for(app, ctx, opening).await?;
    Ok(d)
}

/// A person reads an evidence document; their first opening is recorded.
pub async fn read_evidence_for(app: &App, ctx: &Ctx, digest: Digest) -> Result<Vec<u8>, AppError> {
    let d = digest.clone();
    let bytes = app
        .query(move |tx| Box::pin(async move { evidence_content(tx, &d).await }))
        .await?;
    super::friction::open_for(app, ctx, Opening::Evidence(digest)).await?;
    Ok(bytes)
}

pub async fn detail(tx: &mut dyn Tx, id: &ReleaseId) -> Result<ReleaseDetail, AppError> {
    let release = load_release(tx, id).await?;
    Ok(ReleaseDetail {
        revisions: tx.list_revisions(id).await?,
        reviews: tx.list_reviews(id).await?,
        evidence: tx.list_evidence(id).await?,
        acceptances: tx.list_acceptances(id).await?,
        decisions: tx.list_decisions(id).await?,
        deployments: tx.list_deployments(id).await?,
        release,
    })
}
