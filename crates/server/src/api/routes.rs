//! HTTP handlers: extract, authenticate, call one application function, map the
//! result. No SQL and no business rule here.

use super::extract::{
    answer, ok, ok_replayed, AgentBody, Auth, Cmd, Credential, PathDigest, PathId, Upload, Q,
};
use super::problem::{ApiError, ApiResult, Problem};
use super::wire::*;
use crate::app;
use crate::app::decide::commit::DecisionKey;
use crate::app::unit::App as AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_core::problem::ProblemCode;
use countersign_core::release::DeploymentAction;
use countersign_core::{AgentId, Digest, GrantId, ReleaseId, SystemId, UserId};

fn parse_digest(s: &str) -> ApiResult<Digest> {
    s.parse()
        .map_err(|e: countersign_core::canonical::DigestParseError| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProblemCode::InvalidDigest,
                e.to_string(),
            )
        })
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = HealthView)))]
pub async fn healthz() -> ApiResult {
    ok(HealthView {
        status: "ok".into(),
    })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = HealthView), (status = 503, body = Problem)))]
pub async fn readyz(State(s): State<AppState>) -> ApiResult {
    s.ready().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ProblemCode::NotReady,
            "the database does not answer",
        )
    })?;
    ok(HealthView {
        status: "ready".into(),
    })
}

/// The authenticated user.
#[utoipa::path(get, path = "/v1/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn me(Auth(ctx): Auth) -> ApiResult {
    ok(UserView::from(ctx.actor))
}

/// Create a user with roles. Role: admin.
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("bearer" = [])), request_body = CreateUserParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key write once")),
    responses((status = 201, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(State(s): State<AppState>, cmd: Cmd<CreateUserParams>) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |p, tx, ctx| {
        Box::pin(async move {
            let u = app::users::create(
                tx,
                ctx,
                app::users::NewUser {
                    name: p.name,
                    email: p.email,
                    roles: p.roles,
                },
            )
            .await?;
            Ok(UserView::from(u))
        })
    })
    .await
}

/// List users. Role: admin.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_users(State(s): State<AppState>, Auth(ctx): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let users = app::users::list(tx, &ctx).await?;
                Ok(users.into_iter().map(UserView::from).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One user. Any role.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_user(State(s): State<AppState>, Auth(_): Auth, PathId(id): PathId) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move { Ok(UserView::from(app::users::get(tx, &UserId(id)).await?)) })
        })
        .await?;
    ok(v)
}

/// Issue an API token for a user; the secret is shown once. Role: admin.
#[utoipa::path(post, path = "/v1/users/{id}/tokens", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = CreateTokenParams,
    responses((status = 201, body = TokenView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn create_token(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<CreateTokenParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |body, tx, ctx| {
        Box::pin(async move {
            let (t, secret) = app::users::create_token(tx, ctx, &UserId(id), body.label).await?;
            let view = TokenView {
                id: t.id,
                user_id: t.user_id.0,
                label: t.label,
                token: secret,
                created_at: t.created_at,
            };
            Ok(view)
        })
    })
    .await
}

/// Create a system with its one accountable owner. Role: admin.
#[utoipa::path(post, path = "/v1/systems", tag = "systems", security(("bearer" = [])), request_body = CreateSystemParams,
    responses((status = 201, body = SystemView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_system(State(s): State<AppState>, cmd: Cmd<CreateSystemParams>) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |p, tx, ctx| {
        Box::pin(async move {
            let new = app::systems::NewSystem {
                name: p.name,
                description: p.description,
                owner: UserId(p.owner),
            };
            let sys = app::systems::create(tx, ctx, new).await?;
            Ok(SystemView::from(sys))
        })
    })
    .await
}

/// List systems. Any role.
#[utoipa::path(get, path = "/v1/systems", tag = "systems", security(("bearer" = [])),
    responses((status = 200, body = Vec<SystemView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_systems(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                Ok(app::systems::list(tx)
                    .await?
                    .into_iter()
                    .map(SystemView::from)
                    .collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One system. Any role.
#[utoipa::path(get, path = "/v1/systems/{id}", tag = "systems", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = SystemView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_system(State(s): State<AppState>, Auth(_): Auth, PathId(id): PathId) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                Ok(SystemView::from(
                    app::systems::get(tx, &SystemId(id)).await?,
                ))
            })
        })
        .await?;
    ok(v)
}

/// The governance profile in force, with its digest. Any role.
#[utoipa::path(get, path = "/v1/profile", tag = "releases", security(("bearer" = [])),
    responses((status = 200, body = ProfileView), (status = 401, body = Problem), (status = 403, body = Problem)))]
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
    responses((status = 201, body = ReleaseWithRevisionView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
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
                release: (&rel).into(),
                revision: (&rev).into(),
            })
        })
    })
    .await
}

/// List releases, newest first. Any role.
#[utoipa::path(get, path = "/v1/releases", tag = "releases", security(("bearer" = [])),
    responses((status = 200, body = Vec<ReleaseView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_releases(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                Ok(app::releases::list(tx)
                    .await?
                    .iter()
                    .map(ReleaseView::from)
                    .collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// A release with every revision, review, evidence, acceptance, decision and deployment. Any role.
#[utoipa::path(get, path = "/v1/releases/{id}", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ReleaseDetailView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_release(
    State(s): State<AppState>,
    Auth(_): Auth,
    PathId(id): PathId,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                Ok(ReleaseDetailView::from(
                    app::releases::detail(tx, &ReleaseId(id)).await?,
                ))
            })
        })
        .await?;
    ok(v)
}

/// Change the bundle (or attributes): a new revision, back to draft; nothing approved before counts (I3). Role: mlops.
#[utoipa::path(post, path = "/v1/releases/{id}/revisions", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ReviseParams,
    responses((status = 201, body = ReleaseWithRevisionView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
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
                release: (&rel).into(),
                revision: (&rev).into(),
            })
        })
    })
    .await
}

/// Submit the current revision for review; opens one review per required role. Role: mlops.
#[utoipa::path(post, path = "/v1/releases/{id}/submit", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = RevisionParams,
    responses((status = 200, body = ReleaseView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn submit(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<RevisionParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |body, tx, ctx| {
        Box::pin(async move {
            let rel = app::releases::submit(tx, ctx, &ReleaseId(id), body.revision).await?;
            Ok(ReleaseView::from(&rel))
        })
    })
    .await
}

/// The gate status: every unmet requirement with a stable reason code. Any role.
#[utoipa::path(get, path = "/v1/releases/{id}/gate", tag = "releases", security(("bearer" = [])),
    params(("id" = String, Path), GateQuery),
    responses((status = 200, body = GateView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn gate_status(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
    Q(q): Q<GateQuery>,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                Ok(GateView::from(
                    app::gate::status(tx, &ctx, &ReleaseId(id), q.revision).await?,
                ))
            })
        })
        .await?;
    ok(v)
}

/// Review the current revision in a role you hold, answering its checklist. Role: the reviewed role.
#[utoipa::path(post, path = "/v1/releases/{id}/reviews", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ReviewParams,
    responses((status = 201, body = ReviewView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
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
            };
            let r = app::releases::review(tx, ctx, &ReleaseId(id), new).await?;
            Ok(ReviewView::from(&r))
        })
    })
    .await
}

/// Attach an evidence document (the raw request body) to the current revision; stored by sha256. Role: any reviewer role.
#[utoipa::path(post, path = "/v1/releases/{id}/evidence", tag = "releases", security(("bearer" = [])),
    params(("id" = String, Path), EvidenceQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = EvidenceView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
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
                Ok(EvidenceView::from(&e))
            })
        })
        .await?;
    answer(answered)
}

/// Download an evidence document byte for byte. Any role.
#[utoipa::path(get, path = "/v1/evidence/{digest}", tag = "releases", security(("bearer" = [])), params(("digest" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn download_evidence(
    State(s): State<AppState>,
    Auth(_): Auth,
    PathDigest(digest): PathDigest,
) -> ApiResult {
    let bytes = s
        .query(move |tx| {
            Box::pin(async move { app::releases::evidence_content(tx, &digest).await })
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// Accept one named gap as residual risk, with a justification and an expiry. Decision owner only.
#[utoipa::path(post, path = "/v1/releases/{id}/acceptances", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = AcceptRiskParams,
    responses((status = 201, body = AcceptanceView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
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
            Ok(AcceptanceView::from(&a))
        })
    })
    .await
}

/// Go or no-go on the current revision. Go is refused while any gap is unaccepted. Decision owner only.
#[utoipa::path(post, path = "/v1/releases/{id}/decision", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DecideParams,
    responses((status = 201, body = DecisionView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
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
            Ok(DecisionView::from(&d))
        })
    })
    .await
}

/// Block the current revision (no-go with a reason), e.g. to end an escalation (I5). Decision owner only.
#[utoipa::path(post, path = "/v1/releases/{id}/block", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = BlockParams,
    responses((status = 201, body = DecisionView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn block(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<BlockParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |body, tx, ctx| {
        Box::pin(async move {
            let (_, d) =
                app::releases::block(tx, ctx, &ReleaseId(id), body.revision, body.reason).await?;
            Ok(DecisionView::from(&d))
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
            Ok(DeploymentView::from(&d))
        })
    })
    .await
}

/// Promote the approved revision to the environment its go named. Role: mlops or operations.
#[utoipa::path(post, path = "/v1/releases/{id}/promote", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = DeployParams,
    responses((status = 201, body = DeploymentView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
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
    responses((status = 201, body = DeploymentView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
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
    responses((status = 201, body = DeploymentView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn retire(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<DeployParams>,
) -> ApiResult {
    deploy(s, id, cmd, DeploymentAction::Retire).await
}

/// May this exact artifact run in this environment? `allowed` is true only for an approved or promoted current revision. Any role.
#[utoipa::path(get, path = "/v1/gate/check", tag = "releases", security(("bearer" = [])), params(CheckQuery),
    responses((status = 200, body = CheckView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn gate_check(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<CheckQuery>,
) -> ApiResult {
    let artifact = parse_digest(&q.artifact)?;
    let env = app::gate::environment(q.env);
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let outcome = app::gate::check(tx, &ctx.profile, ctx.now, &artifact, &env).await?;
                Ok(CheckView::new(outcome, &artifact, &env))
            })
        })
        .await?;
    ok(v)
}

/// Ledger entries in order. Role: admin, compliance or risk.
#[utoipa::path(get, path = "/v1/ledger", tag = "ledger", security(("bearer" = [])), params(LedgerQuery),
    responses((status = 200, body = Vec<LedgerEntryView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn ledger(State(s): State<AppState>, Auth(ctx): Auth, Q(q): Q<LedgerQuery>) -> ApiResult {
    let entries = app::ledger::page(&s, &ctx, q.after, q.limit).await?;
    ok(entries
        .into_iter()
        .map(LedgerEntryView::from)
        .collect::<Vec<_>>())
}

/// Verify the whole hash chain and its signed head. Role: admin, compliance or risk.
#[utoipa::path(get, path = "/v1/ledger/verify", tag = "ledger", security(("bearer" = [])),
    responses((status = 200, body = LedgerVerifyView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn ledger_verify(State(s): State<AppState>, Auth(ctx): Auth) -> ApiResult {
    let (key, v) = app::ledger::verify_for(&s, &ctx).await?;
    ok(LedgerVerifyView::new(&key, v))
}

// ---------- lineage (I6) ----------

/// Register a dataset version with its classification and permitted uses. Role: data-governance or mlops.
#[utoipa::path(post, path = "/v1/datasets", tag = "lineage", security(("bearer" = [])), request_body = RegisterDatasetParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key write once")),
    responses((status = 201, body = DatasetView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn register_dataset(
    State(s): State<AppState>,
    cmd: Cmd<RegisterDatasetParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |p, tx, ctx| {
        Box::pin(async move {
            let new = app::lineage::NewDataset {
                name: p.name,
                version: p.version,
                digest: p.digest,
                source: p.source,
                classification: p.classification,
                permitted_uses: p.permitted_uses,
            };
            let d = app::lineage::register_dataset(tx, ctx, new).await?;
            Ok(DatasetView::from(d))
        })
    })
    .await
}

/// List datasets. Any role.
#[utoipa::path(get, path = "/v1/datasets", tag = "lineage", security(("bearer" = [])),
    responses((status = 200, body = Vec<DatasetView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_datasets(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let all = app::lineage::list_datasets(tx).await?;
                Ok(all.into_iter().map(DatasetView::from).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One dataset version, by `name@version`. Any role.
#[utoipa::path(get, path = "/v1/datasets/{key}", tag = "lineage", security(("bearer" = [])), params(("key" = String, Path, description = "name@version")),
    responses((status = 200, body = DatasetView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_dataset(
    State(s): State<AppState>,
    Auth(_): Auth,
    PathId(key): PathId,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                Ok(DatasetView::from(
                    app::lineage::get_dataset(tx, &key).await?,
                ))
            })
        })
        .await?;
    ok(v)
}

/// Approve a dataset version for the uses it permits; not by whoever registered it. Role: data-governance.
#[utoipa::path(post, path = "/v1/datasets/{key}/approval", tag = "lineage", security(("bearer" = [])), params(("key" = String, Path, description = "name@version")),
    request_body = ApproveDatasetParams,
    responses((status = 201, body = DatasetView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn approve_dataset(
    State(s): State<AppState>,
    PathId(key): PathId,
    cmd: Cmd<ApproveDatasetParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |body, tx, ctx| {
        Box::pin(async move {
            let d = app::lineage::approve_dataset(tx, ctx, &key, body.comment).await?;
            Ok(DatasetView::from(d))
        })
    })
    .await
}

/// Register a training run: code commit, datasets, parameters, trainer, produced artifact. Role: mlops.
#[utoipa::path(post, path = "/v1/runs", tag = "lineage", security(("bearer" = [])), request_body = RegisterRunParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key write once")),
    responses((status = 201, body = RunView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn register_run(State(s): State<AppState>, cmd: Cmd<RegisterRunParams>) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |p, tx, ctx| {
        Box::pin(async move {
            let new = app::lineage::NewRun {
                id: p.id,
                code_commit: p.code_commit,
                datasets: p.datasets,
                parameters: p.parameters,
                trainer: UserId(p.trainer),
                artifact_digest: p.artifact_digest,
            };
            let r = app::lineage::register_run(tx, ctx, new).await?;
            Ok(RunView::from(r))
        })
    })
    .await
}

/// List training runs. Any role.
#[utoipa::path(get, path = "/v1/runs", tag = "lineage", security(("bearer" = [])),
    responses((status = 200, body = Vec<RunView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_runs(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let all = app::lineage::list_runs(tx).await?;
                Ok(all.into_iter().map(RunView::from).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One training run. Any role.
#[utoipa::path(get, path = "/v1/runs/{id}", tag = "lineage", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RunView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_run(State(s): State<AppState>, Auth(_): Auth, PathId(id): PathId) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move { Ok(RunView::from(app::lineage::get_run(tx, &id).await?)) })
        })
        .await?;
    ok(v)
}

/// The evaluation (I7): the latest eval report, parsed, against the tier's gates and, for a retrain, the drift gates. Any role.
#[utoipa::path(get, path = "/v1/releases/{id}/evaluation", tag = "releases", security(("bearer" = [])),
    params(("id" = String, Path), GateQuery),
    responses((status = 200, body = EvaluationView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn evaluation(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
    Q(q): Q<GateQuery>,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                Ok(EvaluationView::from(
                    app::gate::evaluation(tx, &ctx, &ReleaseId(id), q.revision).await?,
                ))
            })
        })
        .await?;
    ok(v)
}

// ---------- webhooks ----------

/// Subscribe a URL to event types; the signing secret is shown once. Role: admin.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = CreateWebhookParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key write once")),
    responses((status = 201, body = WebhookView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_webhook(State(s): State<AppState>, cmd: Cmd<CreateWebhookParams>) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |body, tx, ctx| {
        Box::pin(async move {
            let new = app::webhooks::NewWebhook {
                url: body.url,
                events: body.events,
            };
            let hook = app::webhooks::create(tx, ctx, new).await?;
            Ok(WebhookView::new(hook, true))
        })
    })
    .await
}

/// List webhooks (without secrets). Role: admin.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<WebhookView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_webhooks(State(s): State<AppState>, Auth(ctx): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let all = app::webhooks::list(tx, &ctx).await?;
                Ok(all
                    .into_iter()
                    .map(|w| WebhookView::new(w, false))
                    .collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// A webhook's deliveries and every delivery attempt. Role: admin.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = DeliveryLogView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn webhook_deliveries(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let (w, d, a) = app::webhooks::deliveries(tx, &ctx, &id).await?;
                Ok(DeliveryLogView::new(w, d, a))
            })
        })
        .await?;
    ok(v)
}

/// Unknown routes answer with a problem too.
pub async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ProblemCode::RouteNotFound,
        "no such route; see /openapi.json",
    )
    .into_response()
}

// ---------- agents, grants and credentials (issue 5) ----------

/// Register an agent: one human owner, one use case, one environment, the promoted release that put it in production, and its own Ed25519 key. Role: admin, mlops or operations.
#[utoipa::path(post, path = "/v1/agents", tag = "agents", security(("bearer" = [])), request_body = RegisterAgentParams,
    responses((status = 201, body = AgentView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn register_agent(State(s): State<AppState>, cmd: Cmd<RegisterAgentParams>) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |body, tx, ctx| {
        Box::pin(async move {
            let a = app::agents::register(tx, ctx, body.into()).await?;
            Ok(AgentView::from(a))
        })
    })
    .await
}

/// List agents. Any role.
#[utoipa::path(get, path = "/v1/agents", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = Vec<AgentView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_agents(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let agents = app::agents::list(tx).await?;
                Ok(agents.into_iter().map(AgentView::from).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One agent. Any role.
#[utoipa::path(get, path = "/v1/agents/{id}", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = AgentView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_agent(State(s): State<AppState>, Auth(_): Auth, PathId(id): PathId) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move { Ok(AgentView::from(app::agents::get(tx, &AgentId(id)).await?)) })
        })
        .await?;
    ok(v)
}

/// Suspend an agent and revoke its credentials. Its owner, admin or security.
#[utoipa::path(post, path = "/v1/agents/{id}/suspend", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ReasonParams,
    responses((status = 200, body = AgentView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn suspend_agent(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<ReasonParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |body, tx, ctx| {
        Box::pin(async move {
            let a = app::agents::suspend(tx, ctx, &AgentId(id), body.reason).await?;
            Ok(AgentView::from(a))
        })
    })
    .await
}

/// An agent requests a grant on a system; it stays pending until its owners approve. Authenticated by the agent's client assertion, never a human token.
#[utoipa::path(post, path = "/v1/grants", tag = "grants", request_body = RequestGrantParams,
    responses((status = 201, body = GrantView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn request_grant(
    State(s): State<AppState>,
    b: AgentBody<RequestGrantParams>,
) -> ApiResult {
    let assertion = b.body.client_assertion.clone();
    b.run(&s, &assertion, StatusCode::CREATED, |body, tx, actx| {
        Box::pin(async move {
            let g = app::grants::request(tx, actx, body.into()).await?;
            Ok(GrantView::from(g))
        })
    })
    .await
}

/// List grants with their state now, optionally one agent's. Any role.
#[utoipa::path(get, path = "/v1/grants", tag = "grants", security(("bearer" = [])), params(GrantsQuery),
    responses((status = 200, body = Vec<GrantView>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_grants(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<GrantsQuery>,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let grants = app::grants::list_for(tx, &ctx, q.agent.map(AgentId)).await?;
                Ok(grants.into_iter().map(GrantView::from).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// Grants the caller owns (system or agent owner; admin: all) that have lapsed or are due for recertification. Any role.
#[utoipa::path(get, path = "/v1/grants/due", tag = "grants", security(("bearer" = [])), params(DueQuery),
    responses((status = 200, body = Vec<GrantView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn due_grants(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<DueQuery>,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let grants = app::grants::due(tx, &ctx, q.within_days).await?;
                Ok(grants.into_iter().map(GrantView::from).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// Approve a grant as its system owner or (mutating actions) its agent owner. Humans only.
#[utoipa::path(post, path = "/v1/grants/{id}/approve", tag = "grants", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = EmptyParams,
    responses((status = 200, body = GrantView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn approve_grant(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<EmptyParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |_, tx, ctx| {
        Box::pin(async move {
            let g = app::grants::approve(tx, ctx, &GrantId(id)).await?;
            Ok(GrantView::from(g))
        })
    })
    .await
}

/// Recertify an active or lapsed grant for another cadence. Its system owner or agent owner.
#[utoipa::path(post, path = "/v1/grants/{id}/recertify", tag = "grants", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = EmptyParams,
    responses((status = 200, body = GrantView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn recertify_grant(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<EmptyParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |_, tx, ctx| {
        Box::pin(async move {
            let g = app::grants::recertify(tx, ctx, &GrantId(id)).await?;
            Ok(GrantView::from(g))
        })
    })
    .await
}

/// Revoke a grant and every credential issued under it. Its owners, admin or security.
#[utoipa::path(post, path = "/v1/grants/{id}/revoke", tag = "grants", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ReasonParams,
    responses((status = 200, body = GrantView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn revoke_grant(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<ReasonParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |body, tx, ctx| {
        Box::pin(async move {
            let g = app::grants::revoke(tx, ctx, &GrantId(id), body.reason).await?;
            Ok(GrantView::from(g))
        })
    })
    .await
}

/// The token endpoint: a just-in-time credential (EdDSA JWT, 15 minutes by default) for one task and a subset of the agent's active grants, or, with `grant_type` token-exchange, a delegated one (RFC 8693). Authenticated by the agent's client assertion (RFC 7523).
#[utoipa::path(post, path = "/v1/oauth/token", tag = "credentials", request_body = TokenParams,
    responses((status = 201, body = AccessTokenView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn token(State(s): State<AppState>, b: AgentBody<TokenParams>) -> ApiResult {
    let assertion = b.body.client_assertion.clone();
    b.run(&s, &assertion, StatusCode::CREATED, |body, tx, actx| {
        Box::pin(async move {
            let issued = app::credentials::token(tx, actx, body.try_into()?).await?;
            Ok(AccessTokenView::new(issued, actx.now))
        })
    })
    .await
}

/// Token introspection (RFC 7662 style): whether a credential is active now. Reads revocations on every call. The token is the caller's proof; no other credential is needed.
#[utoipa::path(post, path = "/v1/oauth/introspect", tag = "credentials", request_body = IntrospectParams,
    responses((status = 200, body = IntrospectionView), (status = 422, body = Problem)))]
pub async fn introspect(State(s): State<AppState>, b: AgentBody<IntrospectParams>) -> ApiResult {
    ok(app::credentials::introspect_now(&s, b.body.token).await?)
}

/// Revoke credentials by token (jti), agent, grant or release. Admin or security; an agent's owner for its agent.
#[utoipa::path(post, path = "/v1/credentials/revoke", tag = "credentials", security(("bearer" = [])), request_body = RevokeCredentialsParams,
    responses((status = 200, body = RevokedView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn revoke_credentials(
    State(s): State<AppState>,
    cmd: Cmd<RevokeCredentialsParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |body, tx, ctx| {
        Box::pin(async move {
            let revoked = app::credentials::revoke(tx, ctx, body.into()).await?;
            Ok(RevokedView { revoked })
        })
    })
    .await
}

/// Rotate the credential signing key; retired keys stay published until their tokens expire. Admin or security.
#[utoipa::path(post, path = "/v1/keys/rotate", tag = "credentials", security(("bearer" = [])), request_body = EmptyParams,
    responses((status = 201, body = KeyView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn rotate_keys(State(s): State<AppState>, cmd: Cmd<EmptyParams>) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |_, tx, ctx| {
        Box::pin(async move {
            let k = app::credentials::rotate(tx, ctx).await?;
            Ok(KeyView {
                kid: k.kid,
                public_key: k.public_key,
                created_at: k.created_at,
            })
        })
    })
    .await
}

/// The credential signing keys (JWKS, OKP/Ed25519 with `kid`). Public.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "credentials", responses((status = 200, body = JwksView)))]
pub async fn jwks(State(s): State<AppState>) -> ApiResult {
    ok(app::credentials::jwks_now(&s).await?)
}

// ---------- runtime decisions, approvals, the action log (issue 6) ----------

/// An agent asks before it acts (I10): allow, deny or step_up, with reasons and the policies that determined it. Authenticated by the agent's just-in-time credential (`Authorization: Bearer <JWT>`). Grants, time windows and risk limits are enforced before policy; anything unevaluable denies. Answered only after the decision's ledger entry is durable (I11). A retry with the same `Idempotency-Key` gets the first answer (`Idempotent-Replayed: true`) and writes nothing.
#[utoipa::path(post, path = "/v1/decide", tag = "runtime", security(("bearer" = [])), request_body = ActionRequestParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key is answered with the first decision and writes nothing")),
    responses((status = 200, body = ActionDecisionView), (status = 401, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn decide_action(
    State(s): State<AppState>,
    Credential(p): Credential,
    b: AgentBody<ActionRequestParams>,
) -> ApiResult {
    let key = b.idempotency.map(|idempotency| DecisionKey {
        agent: p.agent.id.to_string(),
        idempotency,
    });
    let a = app::decide::run(&s, &p, b.body.into(), key).await?;
    ok_replayed(ActionDecisionView::new(&a.write), a.replayed)
}

/// The agent waits for a human's answer to its step-up (long-poll, `timeout` seconds), or polls with `timeout=0`. Authenticated by the agent's credential.
#[utoipa::path(get, path = "/v1/approvals/{id}/wait", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path), WaitQuery),
    responses((status = 200, body = ApprovalView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn wait_approval(
    State(s): State<AppState>,
    Credential(p): Credential,
    PathId(id): PathId,
    Q(q): Q<WaitQuery>,
) -> ApiResult {
    ok(ApprovalView::from(
        app::approvals::wait_for_agent(&s, &p, &id, q.timeout).await?,
    ))
}

/// Approval requests: by default the caller's pending ones. Others' (assignee=...) need admin, security, risk or compliance.
#[utoipa::path(get, path = "/v1/approvals", tag = "runtime", security(("bearer" = [])), params(ApprovalsQuery),
    responses((status = 200, body = Vec<ApprovalView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_approvals(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<ApprovalsQuery>,
) -> ApiResult {
    let filter = app::approvals::ApprovalQuery {
        assignee: q.assignee.map(UserId),
        state: q.state,
        agent: q.agent.map(AgentId),
        limit: q.limit,
    };
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let v = app::approvals::list(tx, &ctx, filter).await?;
                Ok(v.into_iter().map(ApprovalView::from).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One approval request with its context: what the AI produced, the data it used, what it will change. The assignee's first opening is recorded (accountability). The assignee, admin, security, risk or compliance.
#[utoipa::path(get, path = "/v1/approvals/{id}", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ApprovalView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_approval(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
) -> ApiResult {
    ok(ApprovalView::from(
        app::approvals::open_for(&s, ctx, &id).await?,
    ))
}

/// Approve a step-up: valid once, for the exact action digest, until it expires. The assignee only, with a comment.
#[utoipa::path(post, path = "/v1/approvals/{id}/approve", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = AnswerParams,
    responses((status = 200, body = ApprovalView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn approve_approval(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<AnswerParams>,
) -> ApiResult {
    answer_step_up(s, id, cmd, true).await
}

/// Deny a step-up. The assignee only, with a comment.
#[utoipa::path(post, path = "/v1/approvals/{id}/deny", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = AnswerParams,
    responses((status = 200, body = ApprovalView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn deny_approval(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<AnswerParams>,
) -> ApiResult {
    answer_step_up(s, id, cmd, false).await
}

async fn answer_step_up(
    s: AppState,
    id: String,
    cmd: Cmd<AnswerParams>,
    approve: bool,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |body, tx, ctx| {
        Box::pin(async move {
            let v = app::approvals::answer(tx, ctx, &id, approve, body.comment).await?;
            Ok(ApprovalView::from(v))
        })
    })
    .await
}

/// The action log, newest first: decision, human decision, outcome. Filter by agent, system, task or review state. Auditors (admin, security, risk, compliance, operations) see all; others their agents' and systems' actions.
#[utoipa::path(get, path = "/v1/actions", tag = "runtime", security(("bearer" = [])), params(ActionsQuery),
    responses((status = 200, body = Vec<ActionView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_actions(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<ActionsQuery>,
) -> ApiResult {
    let filter = app::actions::ActionQuery {
        agent: q.agent.map(AgentId),
        system: q.system.map(SystemId),
        task: q.task,
        review: q.review,
        limit: q.limit,
    };
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let v = app::actions::list(tx, &ctx, filter).await?;
                Ok(v.into_iter()
                    .map(|a| ActionView::linked(a, ctx.now))
                    .collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One action, linked to its approval request and outcome.
#[utoipa::path(get, path = "/v1/actions/{id}", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ActionView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_action(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let v = app::actions::get(tx, &ctx, &id).await?;
                Ok(ActionView::linked(v, ctx.now))
            })
        })
        .await?;
    ok(v)
}

/// The agent reports the final outcome of an allowed action, once. Authenticated by the agent's credential.
#[utoipa::path(post, path = "/v1/actions/{id}/outcome", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = OutcomeParams,
    responses((status = 200, body = ActionView), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn report_outcome(
    State(s): State<AppState>,
    Credential(p): Credential,
    PathId(id): PathId,
    b: AgentBody<OutcomeParams>,
) -> ApiResult {
    let (a, now) = app::actions::report(&s, p, id, b.body.status, b.body.detail).await?;
    ok(ActionView::linked(a, now))
}

/// The post-action review queue: actions allowed without a human on the systems the caller owns.
#[utoipa::path(get, path = "/v1/reviews/queue", tag = "runtime", security(("bearer" = [])), params(LimitQuery),
    responses((status = 200, body = Vec<ActionView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn review_queue(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<LimitQuery>,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let v = app::actions::review_queue(tx, &ctx, q.limit).await?;
                Ok(v.into_iter()
                    .map(|a| ActionView::linked(a, ctx.now))
                    .collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// Review an action from the queue: `ok` or `flagged` (with a comment). The system's owner.
#[utoipa::path(post, path = "/v1/actions/{id}/review", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = PostReviewParams,
    responses((status = 200, body = ActionView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn review_action(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<PostReviewParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |body, tx, ctx| {
        Box::pin(async move {
            let a = app::actions::review(tx, ctx, &id, body.verdict, body.comment).await?;
            let now = ctx.now;
            Ok(ActionView::linked(a, now))
        })
    })
    .await
}

/// Accountability signals per reviewer and approver, with rubber-stamp flags by the profile's thresholds. Admin, risk or compliance.
#[utoipa::path(get, path = "/v1/accountability", tag = "runtime", security(("bearer" = [])),
    responses((status = 200, body = Vec<SignalsView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn accountability(State(s): State<AppState>, Auth(ctx): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let v = app::accountability::report(tx, &ctx).await?;
                Ok(v.into_iter().map(SignalsView::from).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// The running runtime policy set: digest, source directory, policies. Any role.
#[utoipa::path(get, path = "/v1/policies", tag = "runtime", security(("bearer" = [])),
    responses((status = 200, body = PolicySetView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn policies(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    ok(PolicySetView::new(&s.runtime.policies()))
}

/// Reload the policy set from its directory; an invalid set is refused (422) and the running set stays. Admin or security.
#[utoipa::path(post, path = "/v1/policies/reload", tag = "runtime", security(("bearer" = [])), request_body = EmptyParams,
    responses((status = 200, body = PolicySetView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn reload_policies(State(s): State<AppState>, cmd: Cmd<EmptyParams>) -> ApiResult {
    let answered =
        app::policies::reload::reload_command(&s, cmd.ctx, cmd.idempotency, PolicySetView::new)
            .await?;
    answer(answered)
}
