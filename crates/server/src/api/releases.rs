//! HTTP handlers for releases through the gate: revisions, reviews, evidence, risk acceptances, the decision and deployments.

use super::extract::{answer, ok, Auth, Cmd, PathDigest, PathId, Upload};
use super::problem::{ApiResult, Problem};
use super::view::View;
use crate::app;
use crate::app::releases::ReleaseDetail;
use crate::app::unit::App as AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use countersign_api::*;
use countersign_core::release::DeploymentAction;
use countersign_core::{ReleaseId, SystemId, UserId};
use countersign_store::records::*;

impl View<&ReleaseRecord> for ReleaseView {
    fn view(r: &ReleaseRecord) -> Self {
        ReleaseView {
            id: r.id.to_string(),
            title: r.title.clone(),
            kind: r.kind.as_str().into(),
            system: r.system_id.to_string(),
            decision_owner: r.decision_owner.to_string(),
            created_by: r.created_by.to_string(),
            attributes: (&r.attributes).into(),
            status: r.status.as_str().into(),
            current_revision: r.current_revision,
            environment: r.environment.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl View<&RevisionRecord> for RevisionView {
    fn view(r: &RevisionRecord) -> Self {
        RevisionView {
            number: r.number,
            bundle: (&r.bundle).into(),
            bundle_digest: r.bundle_digest.to_string(),
            tier: r.tier.clone(),
            matched_rules: r.matched_rules.clone(),
            profile_digest: r.profile_digest.to_string(),
            created_by: r.created_by.to_string(),
            created_at: r.created_at,
            submitted_by: r.submitted_by.as_ref().map(|u| u.to_string()),
            submitted_at: r.submitted_at,
        }
    }
}

impl View<&ReviewRecord> for ReviewView {
    fn view(r: &ReviewRecord) -> Self {
        ReviewView {
            id: r.id.clone(),
            revision: r.revision,
            bundle_digest: r.bundle_digest.to_string(),
            role: r.role.to_string(),
            reviewer: r.reviewer.to_string(),
            verdict: r.verdict.as_str().into(),
            answers: r.answers.clone(),
            conditions: r.conditions.clone(),
            comment: r.comment.clone(),
            created_at: r.created_at,
        }
    }
}

impl View<&EvidenceRecord> for EvidenceView {
    fn view(e: &EvidenceRecord) -> Self {
        EvidenceView {
            id: e.id.clone(),
            revision: e.revision,
            kind: e.kind.clone(),
            name: e.name.clone(),
            media_type: e.media_type.clone(),
            digest: e.digest.to_string(),
            size: e.size,
            attached_by: e.attached_by.to_string(),
            created_at: e.created_at,
        }
    }
}

impl View<&AcceptanceRecord> for AcceptanceView {
    fn view(a: &AcceptanceRecord) -> Self {
        AcceptanceView {
            id: a.id.clone(),
            revision: a.revision,
            bundle_digest: a.bundle_digest.to_string(),
            gap: a.gap.to_string(),
            justification: a.justification.clone(),
            expires_at: a.expires_at,
            accepted_by: a.accepted_by.to_string(),
            created_at: a.created_at,
        }
    }
}

impl View<&DecisionRecord> for DecisionView {
    fn view(d: &DecisionRecord) -> Self {
        DecisionView {
            id: d.id.clone(),
            revision: d.revision,
            bundle_digest: d.bundle_digest.to_string(),
            decision: d.decision.as_str().into(),
            environment: d.environment.clone(),
            comment: d.comment.clone(),
            decided_by: d.decided_by.to_string(),
            created_at: d.created_at,
        }
    }
}

impl View<&DeploymentRecord> for DeploymentView {
    fn view(d: &DeploymentRecord) -> Self {
        DeploymentView {
            id: d.id.clone(),
            revision: d.revision,
            action: d.action.as_str().into(),
            environment: d.environment.clone(),
            reason: d.reason.clone(),
            actor: d.actor.to_string(),
            created_at: d.created_at,
        }
    }
}

impl View<ReleaseDetail> for ReleaseDetailView {
    fn view(d: ReleaseDetail) -> Self {
        ReleaseDetailView {
            release: ReleaseView::view(&d.release),
            revisions: d.revisions.iter().map(View::view).collect(),
            reviews: d.reviews.iter().map(View::view).collect(),
            evidence: d.evidence.iter().map(View::view).collect(),
            acceptances: d.acceptances.iter().map(View::view).collect(),
            decisions: d.decisions.iter().map(View::view).collect(),
            deployments: d.deployments.iter().map(View::view).collect(),
        }
    }
}

/// The governance profile in force, with its digest. Any role.
#[utoipa::path(get, path = "/v1/profile", tag = "releases", security(("bearer" = [])),
    responses((status = 200, body = ProfileView)))]
pub async fn profile(Auth(ctx): Auth) -> ApiResult {
    let p = &ctx.profile;
    ok(ProfileView {
        name: p.name.clone(),
        version: p.version.clone(),
        digest: p.digest().to_string(),
        profile: serde_json::to_value(&**p).unwrap_or_default(),
    })
}

/// Create a release (revision 1, draft). The tier and bundle digest are computed. Role: mlops.
#[utoipa::path(post, path = "/v1/releases", tag = "releases", security(("bearer" = [])), request_body = CreateReleaseParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key write once")),
    responses((status = 201, body = ReleaseWithRevisionView)))]
pub async fn create_release(State(s): State<AppState>, cmd: Cmd<CreateReleaseParams>) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |p, tx, ctx| {
        Box::pin(async move {
            let new = app::releases::NewRelease {
                title: p.title,
                kind: p.kind,
                system: SystemId(p.system),
                decision_owner: UserId(p.decision_owner),
                attributes: p.attributes.into(),
                bundle: p.bundle.into(),
            };
            let (rel, rev) = app::releases::create(tx, ctx, new).await?;
            Ok(ReleaseWithRevisionView {
                release: ReleaseView::view(&rel),
                revision: RevisionView::view(&rev),
            })
        })
    })
    .await
}

/// List releases, newest first. Any role.
#[utoipa::path(get, path = "/v1/releases", tag = "releases", security(("bearer" = [])),
    responses((status = 200, body = Vec<ReleaseView>)))]
pub async fn list_releases(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                Ok(app::releases::list(tx)
                    .await?
                    .iter()
                    .map(ReleaseView::view)
                    .collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// A release with every revision, review, evidence, acceptance, decision and deployment. The caller's first opening of the current revision is recorded (friction rules and accountability count from it). Any role.
#[utoipa::path(get, path = "/v1/releases/{id}", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ReleaseDetailView)))]
pub async fn get_release(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
) -> ApiResult {
    let d = app::releases::read_for(&s, &ctx, ReleaseId(id)).await?;
    ok(ReleaseDetailView::view(d))
}

/// Change the bundle (or attributes): a new revision, back to draft; nothing approved before counts (I3). Role: mlops.
#[utoipa::path(post, path = "/v1/releases/{id}/revisions", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ReviseParams,
    responses((status = 201, body = ReleaseWithRevisionView), (status = 409, body = Problem)))]
pub async fn revise(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<ReviseParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |p, tx, ctx| {
        Box::pin(async move {
            let (rel, rev) = app::releases::revise(
                tx,
                ctx,
                &ReleaseId(id),
                p.based_on_revision,
                p.bundle.into(),
                p.attributes.map(Into::into),
                p.decision_owner.map(UserId),
            )
            .await?;
            Ok(ReleaseWithRevisionView {
                release: ReleaseView::view(&rel),
                revision: RevisionView::view(&rev),
            })
        })
    })
    .await
}

/// Submit the current revision for review; opens one review per required role. Role: mlops.
#[utoipa::path(post, path = "/v1/releases/{id}/submit", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = RevisionParams,
    responses((status = 200, body = ReleaseView), (status = 409, body = Problem)))]
pub async fn submit(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<RevisionParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |body, tx, ctx| {
        Box::pin(async move {
            let rel = app::releases::submit(tx, ctx, &ReleaseId(id), body.revision).await?;
            Ok(ReleaseView::view(&rel))
        })
    })
    .await
}

/// Review the current revision in a role you hold, answering its checklist. Role: the reviewed role.
#[utoipa::path(post, path = "/v1/releases/{id}/reviews", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ReviewParams,
    responses((status = 201, body = ReviewView), (status = 409, body = Problem)))]
pub async fn review(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<ReviewParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |p, tx, ctx| {
        Box::pin(async move {
            let new = app::releases::NewReview {
                revision: p.revision,
                role: p.role,
                verdict: p.verdict,
                answers: p.answers,
                conditions: p.conditions,
                comment: p.comment,
                confirm_digest: p.confirm_digest,
            };
            let r = app::releases::review(tx, ctx, &ReleaseId(id), new).await?;
            Ok(ReviewView::view(&r))
        })
    })
    .await
}

/// Attach an evidence document (the raw request body) to the current revision; stored by sha256. Role: any reviewer role.
#[utoipa::path(post, path = "/v1/releases/{id}/evidence", tag = "releases", security(("bearer" = [])),
    params(("id" = String, Path), EvidenceQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = EvidenceView), (status = 409, body = Problem)))]
pub async fn attach_evidence(
    State(s): State<AppState>,
    PathId(id): PathId,
    up: Upload,
) -> ApiResult {
    let q: EvidenceQuery = up.query()?;
    let new = app::releases::NewEvidence {
        revision: q.revision,
        kind: q.kind,
        name: q.name,
        media_type: up.media_type,
        content: up.content.to_vec(),
    };
    let answered = s
        .command(up.ctx, up.idempotency, 201, move |tx, ctx| {
            Box::pin(async move {
                let e = app::releases::attach_evidence(tx, ctx, &ReleaseId(id), new).await?;
                Ok(EvidenceView::view(&e))
            })
        })
        .await?;
    answer(answered)
}

/// Download an evidence document byte for byte. The caller's first opening is recorded (the `require_opened_evidence` friction rule counts it). Any role.
#[utoipa::path(get, path = "/v1/evidence/{digest}", tag = "releases", security(("bearer" = [])), params(("digest" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>)))]
pub async fn download_evidence(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathDigest(digest): PathDigest,
) -> ApiResult {
    let bytes = app::releases::read_evidence_for(&s, &ctx, digest).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// Accept one named gap as residual risk, with a justification and an expiry. Decision owner only.
#[utoipa::path(post, path = "/v1/releases/{id}/acceptances", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = AcceptRiskParams,
    responses((status = 201, body = AcceptanceView), (status = 409, body = Problem)))]
pub async fn accept_risk(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<AcceptRiskParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |p, tx, ctx| {
        Box::pin(async move {
            let new = app::releases::NewAcceptance {
                revision: p.revision,
                gap: p.gap,
                justification: p.justification,
                expires_at: p.expires_at,
            };
            let a = app::releases::accept_risk(tx, ctx, &ReleaseId(id), new).await?;
            Ok(AcceptanceView::view(&a))
        })
    })
    .await
}

/// Go or no-go on the current revision. Go is refused while any gap is unaccepted. Decision owner only.
#[utoipa::path(post, path = "/v1/releases/{id}/decision", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DecideParams,
    responses((status = 201, body = DecisionView), (status = 409, body = Problem)))]
pub async fn decide(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<DecideParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |p, tx, ctx| {
        Box::pin(async move {
            let new = app::releases::NewDecision {
                revision: p.revision,
                decision: p.decision,
                environment: p.environment,
                comment: p.comment,
            };
            let (_, d) = app::releases::decide(tx, ctx, &ReleaseId(id), new).await?;
            Ok(DecisionView::view(&d))
        })
    })
    .await
}

/// Block the current revision (no-go with a reason), e.g. to end an escalation (I5). Decision owner only.
#[utoipa::path(post, path = "/v1/releases/{id}/block", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = BlockParams,
    responses((status = 201, body = DecisionView), (status = 409, body = Problem)))]
pub async fn block(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<BlockParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |body, tx, ctx| {
        Box::pin(async move {
            let (_, d) =
                app::releases::block(tx, ctx, &ReleaseId(id), body.revision, body.reason).await?;
            Ok(DecisionView::view(&d))
        })
    })
    .await
}

/// Withdraw the go of the current revision before it is promoted: the release is in
/// review again, and promotion is refused until a new go. Decision owner only.
#[utoipa::path(post, path = "/v1/releases/{id}/withdraw", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = WithdrawParams,
    responses((status = 201, body = DecisionView), (status = 409, body = Problem)))]
pub async fn withdraw(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<WithdrawParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |body, tx, ctx| {
        Box::pin(async move {
            let (_, d) =
                app::releases::withdraw(tx, ctx, &ReleaseId(id), body.revision, body.reason)
                    .await?;
            Ok(DecisionView::view(&d))
        })
    })
    .await
}

async fn deploy(
    s: AppState,
    id: String,
    cmd: Cmd<DeployParams>,
    action: DeploymentAction,
) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |p, tx, ctx| {
        Box::pin(async move {
            let new = app::releases::NewDeployment {
                revision: p.revision,
                action,
                environment: p.environment,
                reason: p.reason,
            };
            let (_, d) = app::releases::deploy(tx, ctx, &ReleaseId(id), new).await?;
            Ok(DeploymentView::view(&d))
        })
    })
    .await
}

/// Promote the approved revision to the environment its go named. Role: mlops or operations.
#[utoipa::path(post, path = "/v1/releases/{id}/promote", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DeployParams,
    responses((status = 201, body = DeploymentView), (status = 409, body = Problem)))]
pub async fn promote(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<DeployParams>,
) -> ApiResult {
    deploy(s, id, cmd, DeploymentAction::Promote).await
}

/// Roll back a promoted revision (a reason is required). Role: mlops or operations.
#[utoipa::path(post, path = "/v1/releases/{id}/rollback", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DeployParams,
    responses((status = 201, body = DeploymentView), (status = 409, body = Problem)))]
pub async fn rollback(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<DeployParams>,
) -> ApiResult {
    deploy(s, id, cmd, DeploymentAction::Rollback).await
}

/// Retire a promoted revision (a reason is required). Role: mlops or operations.
#[utoipa::path(post, path = "/v1/releases/{id}/retire", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DeployParams,
    responses((status = 201, body = DeploymentView), (status = 409, body = Problem)))]
pub async fn retire(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<DeployParams>,
) -> ApiResult {
    deploy(s, id, cmd, DeploymentAction::Retire).await
}
