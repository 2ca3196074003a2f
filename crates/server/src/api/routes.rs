//! HTTP handlers: extract, authenticate, call one application function, map the
//! result. No SQL and no business rule here.

use super::extract::{
    ok, ok_replayed, AgentBody, AgentWrite, Auth, Cmd, Credential, PathDigest, PathId, Upload,
    Write, Q,
};
use super::problem::{ApiError, ApiResult, Problem};
use super::wire::*;
use crate::app::{self, ledger::Verification};
use crate::runtime::DecisionKey;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_core::release::DeploymentAction;
use countersign_core::{AgentId, Digest, GrantId, ReleaseId, Role, SystemId, UserId};

fn parse_digest(s: &str) -> ApiResult<Digest> {
    s.parse()
        .map_err(|e: countersign_core::canonical::DigestParseError| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-digest",
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
    s.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let p = cmd.body;
    let (tx, ctx) = w.parts();
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
    w.finish(StatusCode::CREATED, UserView::from(u)).await
}

/// List users. Role: admin.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_users(State(s): State<AppState>, Auth(ctx): Auth) -> ApiResult {
    let mut tx = s.store.read().await?;
    let users = app::users::list(&mut *tx, &ctx).await?;
    ok(users.into_iter().map(UserView::from).collect::<Vec<_>>())
}

/// One user. Any role.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_user(State(s): State<AppState>, Auth(_): Auth, PathId(id): PathId) -> ApiResult {
    let mut tx = s.store.read().await?;
    ok(UserView::from(
        app::users::get(&mut *tx, &UserId(id)).await?,
    ))
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let (t, secret) = app::users::create_token(tx, ctx, &UserId(id), cmd.body.label).await?;
    let view = TokenView {
        id: t.id,
        user_id: t.user_id.0,
        label: t.label,
        token: secret,
        created_at: t.created_at,
    };
    w.finish(StatusCode::CREATED, view).await
}

/// Create a system with its one accountable owner. Role: admin.
#[utoipa::path(post, path = "/v1/systems", tag = "systems", security(("bearer" = [])), request_body = CreateSystemParams,
    responses((status = 201, body = SystemView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_system(State(s): State<AppState>, cmd: Cmd<CreateSystemParams>) -> ApiResult {
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let p = cmd.body;
    let new = app::systems::NewSystem {
        name: p.name,
        description: p.description,
        owner: UserId(p.owner),
    };
    let (tx, ctx) = w.parts();
    let sys = app::systems::create(tx, ctx, new).await?;
    w.finish(StatusCode::CREATED, SystemView::from(sys)).await
}

/// List systems. Any role.
#[utoipa::path(get, path = "/v1/systems", tag = "systems", security(("bearer" = [])),
    responses((status = 200, body = Vec<SystemView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_systems(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let mut tx = s.store.read().await?;
    ok(tx
        .list_systems()
        .await?
        .into_iter()
        .map(SystemView::from)
        .collect::<Vec<_>>())
}

/// One system. Any role.
#[utoipa::path(get, path = "/v1/systems/{id}", tag = "systems", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = SystemView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_system(State(s): State<AppState>, Auth(_): Auth, PathId(id): PathId) -> ApiResult {
    let mut tx = s.store.read().await?;
    ok(SystemView::from(
        app::systems::get(&mut *tx, &SystemId(id)).await?,
    ))
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let p = cmd.body;
    let new = app::releases::NewRelease {
        title: p.title,
        kind: p.kind,
        system: SystemId(p.system),
        decision_owner: UserId(p.decision_owner),
        attributes: p.attributes.into(),
        bundle: p.bundle.into(),
    };
    let (tx, ctx) = w.parts();
    let (rel, rev) = app::releases::create(tx, ctx, new).await?;
    w.finish(
        StatusCode::CREATED,
        ReleaseWithRevisionView {
            release: (&rel).into(),
            revision: (&rev).into(),
        },
    )
    .await
}

/// List releases, newest first. Any role.
#[utoipa::path(get, path = "/v1/releases", tag = "releases", security(("bearer" = [])),
    responses((status = 200, body = Vec<ReleaseView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_releases(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let mut tx = s.store.read().await?;
    ok(tx
        .list_releases()
        .await?
        .iter()
        .map(ReleaseView::from)
        .collect::<Vec<_>>())
}

/// A release with every revision, review, evidence, acceptance, decision and deployment. Any role.
#[utoipa::path(get, path = "/v1/releases/{id}", tag = "releases", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ReleaseDetailView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_release(
    State(s): State<AppState>,
    Auth(_): Auth,
    PathId(id): PathId,
) -> ApiResult {
    let mut tx = s.store.read().await?;
    ok(ReleaseDetailView::from(
        app::releases::detail(&mut *tx, &ReleaseId(id)).await?,
    ))
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let p = cmd.body;
    let (tx, ctx) = w.parts();
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
    w.finish(
        StatusCode::CREATED,
        ReleaseWithRevisionView {
            release: (&rel).into(),
            revision: (&rev).into(),
        },
    )
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let rel = app::releases::submit(tx, ctx, &ReleaseId(id), cmd.body.revision).await?;
    w.finish(StatusCode::OK, ReleaseView::from(&rel)).await
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
    let mut tx = s.store.read().await?;
    ok(GateView::from(
        app::gate::status(&mut *tx, &ctx, &ReleaseId(id), q.revision).await?,
    ))
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let p = cmd.body;
    let new = app::releases::NewReview {
        revision: p.revision,
        role: p.role,
        verdict: p.verdict,
        answers: p.answers,
        conditions: p.conditions,
        comment: p.comment,
    };
    let (tx, ctx) = w.parts();
    let r = app::releases::review(tx, ctx, &ReleaseId(id), new).await?;
    w.finish(StatusCode::CREATED, ReviewView::from(&r)).await
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
    let mut w = Write::begin(&s, up.ctx, up.idempotency).await?;
    let new = app::releases::NewEvidence {
        revision: q.revision,
        kind: q.kind,
        name: q.name,
        media_type: up.media_type,
        content: up.content.to_vec(),
    };
    let (tx, ctx) = w.parts();
    let e = app::releases::attach_evidence(tx, ctx, &ReleaseId(id), new).await?;
    w.finish(StatusCode::CREATED, EvidenceView::from(&e)).await
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
    let mut tx = s.store.read().await?;
    let bytes = app::releases::evidence_content(&mut *tx, &digest).await?;
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let p = cmd.body;
    let new = app::releases::NewAcceptance {
        revision: p.revision,
        gap: p.gap,
        justification: p.justification,
        expires_at: p.expires_at,
    };
    let (tx, ctx) = w.parts();
    let a = app::releases::accept_risk(tx, ctx, &ReleaseId(id), new).await?;
    w.finish(StatusCode::CREATED, AcceptanceView::from(&a))
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let p = cmd.body;
    let new = app::releases::NewDecision {
        revision: p.revision,
        decision: p.decision,
        environment: p.environment,
        comment: p.comment,
    };
    let (tx, ctx) = w.parts();
    let (_, d) = app::releases::decide(tx, ctx, &ReleaseId(id), new).await?;
    w.finish(StatusCode::CREATED, DecisionView::from(&d)).await
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let (_, d) =
        app::releases::block(tx, ctx, &ReleaseId(id), cmd.body.revision, cmd.body.reason).await?;
    w.finish(StatusCode::CREATED, DecisionView::from(&d)).await
}

async fn deploy(
    s: AppState,
    id: String,
    cmd: Cmd<DeployParams>,
    action: DeploymentAction,
) -> ApiResult {
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let p = cmd.body;
    let new = app::releases::NewDeployment {
        revision: p.revision,
        action,
        environment: p.environment,
        reason: p.reason,
    };
    let (tx, ctx) = w.parts();
    let (_, d) = app::releases::deploy(tx, ctx, &ReleaseId(id), new).await?;
    w.finish(StatusCode::CREATED, DeploymentView::from(&d))
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
    let env = q.env.unwrap_or_else(|| "production".into());
    let mut tx = s.store.read().await?;
    let outcome = app::gate::check(&mut *tx, &ctx.profile, ctx.now, &artifact, &env).await?;
    ok(CheckView::new(outcome, &artifact, &env))
}

/// Ledger entries in order. Role: admin, compliance or risk.
#[utoipa::path(get, path = "/v1/ledger", tag = "ledger", security(("bearer" = [])), params(LedgerQuery),
    responses((status = 200, body = Vec<LedgerEntryView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn ledger(State(s): State<AppState>, Auth(ctx): Auth, Q(q): Q<LedgerQuery>) -> ApiResult {
    ctx.require_any(LEDGER_ROLES)?;
    let entries =
        app::ledger::page(&*s.store, q.after.unwrap_or(0), q.limit.unwrap_or(100)).await?;
    ok(entries
        .into_iter()
        .map(LedgerEntryView::from)
        .collect::<Vec<_>>())
}

/// Roles that may read and verify the ledger.
pub const LEDGER_ROLES: &[Role] = &[Role::Admin, Role::Compliance, Role::Risk];

/// Verify the whole hash chain and its signed head. Role: admin, compliance or risk.
#[utoipa::path(get, path = "/v1/ledger/verify", tag = "ledger", security(("bearer" = [])),
    responses((status = 200, body = LedgerVerifyView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn ledger_verify(State(s): State<AppState>, Auth(ctx): Auth) -> ApiResult {
    ctx.require_any(LEDGER_ROLES)?;
    let key = s.store.ledger_public_key();
    let v = app::ledger::verify(&*s.store, &key, |_| {}).await?;
    let mut view = LedgerVerifyView {
        valid: false,
        entries: 0,
        head_seq: None,
        head_hash: None,
        first_bad_seq: None,
        error: None,
        public_key: key.to_base64(),
        key_id: key.key_id(),
    };
    match v {
        Verification::Valid(r) => {
            view.valid = true;
            view.entries = r.entries;
            view.head_seq = r.head.as_ref().map(|h| h.seq);
            view.head_hash = r.head.map(|h| h.hash.to_string());
        }
        Verification::Invalid(e) => {
            view.first_bad_seq = Some(e.seq);
            view.error = Some(e.to_string());
        }
    }
    ok(view)
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let p = cmd.body;
    let new = app::lineage::NewDataset {
        name: p.name,
        version: p.version,
        digest: p.digest,
        source: p.source,
        classification: p.classification,
        permitted_uses: p.permitted_uses,
    };
    let (tx, ctx) = w.parts();
    let d = app::lineage::register_dataset(tx, ctx, new).await?;
    w.finish(StatusCode::CREATED, DatasetView::from(d)).await
}

/// List datasets. Any role.
#[utoipa::path(get, path = "/v1/datasets", tag = "lineage", security(("bearer" = [])),
    responses((status = 200, body = Vec<DatasetView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_datasets(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let mut tx = s.store.read().await?;
    let all = tx.list_datasets().await?;
    ok(all.into_iter().map(DatasetView::from).collect::<Vec<_>>())
}

/// One dataset version, by `name@version`. Any role.
#[utoipa::path(get, path = "/v1/datasets/{key}", tag = "lineage", security(("bearer" = [])), params(("key" = String, Path, description = "name@version")),
    responses((status = 200, body = DatasetView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_dataset(
    State(s): State<AppState>,
    Auth(_): Auth,
    PathId(key): PathId,
) -> ApiResult {
    let mut tx = s.store.read().await?;
    ok(DatasetView::from(
        app::lineage::get_dataset(&mut *tx, &key).await?,
    ))
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let d = app::lineage::approve_dataset(tx, ctx, &key, cmd.body.comment).await?;
    w.finish(StatusCode::CREATED, DatasetView::from(d)).await
}

/// Register a training run: code commit, datasets, parameters, trainer, produced artifact. Role: mlops.
#[utoipa::path(post, path = "/v1/runs", tag = "lineage", security(("bearer" = [])), request_body = RegisterRunParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key write once")),
    responses((status = 201, body = RunView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn register_run(State(s): State<AppState>, cmd: Cmd<RegisterRunParams>) -> ApiResult {
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let p = cmd.body;
    let new = app::lineage::NewRun {
        id: p.id,
        code_commit: p.code_commit,
        datasets: p.datasets,
        parameters: p.parameters,
        trainer: UserId(p.trainer),
        artifact_digest: p.artifact_digest,
    };
    let (tx, ctx) = w.parts();
    let r = app::lineage::register_run(tx, ctx, new).await?;
    w.finish(StatusCode::CREATED, RunView::from(r)).await
}

/// List training runs. Any role.
#[utoipa::path(get, path = "/v1/runs", tag = "lineage", security(("bearer" = [])),
    responses((status = 200, body = Vec<RunView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_runs(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let mut tx = s.store.read().await?;
    let all = tx.list_training_runs().await?;
    ok(all.into_iter().map(RunView::from).collect::<Vec<_>>())
}

/// One training run. Any role.
#[utoipa::path(get, path = "/v1/runs/{id}", tag = "lineage", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RunView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_run(State(s): State<AppState>, Auth(_): Auth, PathId(id): PathId) -> ApiResult {
    let mut tx = s.store.read().await?;
    ok(RunView::from(app::lineage::get_run(&mut *tx, &id).await?))
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
    let mut tx = s.store.read().await?;
    ok(EvaluationView::from(
        app::gate::evaluation(&mut *tx, &ctx, &ReleaseId(id), q.revision).await?,
    ))
}

// ---------- webhooks ----------

/// Subscribe a URL to event types; the signing secret is shown once. Role: admin.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = CreateWebhookParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key write once")),
    responses((status = 201, body = WebhookView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_webhook(State(s): State<AppState>, cmd: Cmd<CreateWebhookParams>) -> ApiResult {
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let new = app::webhooks::NewWebhook {
        url: cmd.body.url,
        events: cmd.body.events,
    };
    let (tx, ctx) = w.parts();
    let hook = app::webhooks::create(tx, ctx, new).await?;
    w.finish(StatusCode::CREATED, WebhookView::new(hook, true))
        .await
}

/// List webhooks (without secrets). Role: admin.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<WebhookView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_webhooks(State(s): State<AppState>, Auth(ctx): Auth) -> ApiResult {
    let mut tx = s.store.read().await?;
    let all = app::webhooks::list(&mut *tx, &ctx).await?;
    ok(all
        .into_iter()
        .map(|w| WebhookView::new(w, false))
        .collect::<Vec<_>>())
}

/// A webhook's deliveries and every delivery attempt. Role: admin.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = DeliveryLogView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn webhook_deliveries(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
) -> ApiResult {
    let mut tx = s.store.read().await?;
    let (w, d, a) = app::webhooks::deliveries(&mut *tx, &ctx, &id).await?;
    ok(DeliveryLogView::new(w, d, a))
}

/// Unknown routes answer with a problem too.
pub async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route-not-found",
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let a = app::agents::register(tx, ctx, cmd.body.into()).await?;
    w.finish(StatusCode::CREATED, AgentView::from(a)).await
}

/// List agents. Any role.
#[utoipa::path(get, path = "/v1/agents", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = Vec<AgentView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_agents(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let mut tx = s.store.read().await?;
    let agents = app::agents::list(&mut *tx).await?;
    ok(agents.into_iter().map(AgentView::from).collect::<Vec<_>>())
}

/// One agent. Any role.
#[utoipa::path(get, path = "/v1/agents/{id}", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = AgentView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_agent(State(s): State<AppState>, Auth(_): Auth, PathId(id): PathId) -> ApiResult {
    let mut tx = s.store.read().await?;
    ok(AgentView::from(
        app::agents::get(&mut *tx, &AgentId(id)).await?,
    ))
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let a = app::agents::suspend(tx, ctx, &AgentId(id), cmd.body.reason).await?;
    w.finish(StatusCode::OK, AgentView::from(a)).await
}

/// An agent requests a grant on a system; it stays pending until its owners approve. Authenticated by the agent's client assertion, never a human token.
#[utoipa::path(post, path = "/v1/grants", tag = "grants", request_body = RequestGrantParams,
    responses((status = 201, body = GrantView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn request_grant(
    State(s): State<AppState>,
    b: AgentBody<RequestGrantParams>,
) -> ApiResult {
    let mut w = AgentWrite::begin(&s, &b.body.client_assertion, b.host.as_deref()).await?;
    let (tx, actx) = w.parts();
    let g = app::grants::request(tx, actx, b.body.into()).await?;
    w.finish(StatusCode::CREATED, GrantView::from(g)).await
}

/// List grants with their state now, optionally one agent's. Any role.
#[utoipa::path(get, path = "/v1/grants", tag = "grants", security(("bearer" = [])), params(GrantsQuery),
    responses((status = 200, body = Vec<GrantView>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_grants(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<GrantsQuery>,
) -> ApiResult {
    let mut tx = s.store.read().await?;
    let grants = app::grants::list_for(&mut *tx, &ctx, q.agent.map(AgentId)).await?;
    ok(grants.into_iter().map(GrantView::from).collect::<Vec<_>>())
}

/// Grants the caller owns (system or agent owner; admin: all) that have lapsed or are due for recertification. Any role.
#[utoipa::path(get, path = "/v1/grants/due", tag = "grants", security(("bearer" = [])), params(DueQuery),
    responses((status = 200, body = Vec<GrantView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn due_grants(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<DueQuery>,
) -> ApiResult {
    let mut tx = s.store.read().await?;
    let grants = app::grants::due(&mut *tx, &ctx, q.within_days.unwrap_or(14)).await?;
    ok(grants.into_iter().map(GrantView::from).collect::<Vec<_>>())
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let g = app::grants::approve(tx, ctx, &GrantId(id)).await?;
    w.finish(StatusCode::OK, GrantView::from(g)).await
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let g = app::grants::recertify(tx, ctx, &GrantId(id)).await?;
    w.finish(StatusCode::OK, GrantView::from(g)).await
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let g = app::grants::revoke(tx, ctx, &GrantId(id), cmd.body.reason).await?;
    w.finish(StatusCode::OK, GrantView::from(g)).await
}

/// The token endpoint: a just-in-time credential (EdDSA JWT, 15 minutes by default) for one task and a subset of the agent's active grants, or, with `grant_type` token-exchange, a delegated one (RFC 8693). Authenticated by the agent's client assertion (RFC 7523).
#[utoipa::path(post, path = "/v1/oauth/token", tag = "credentials", request_body = TokenParams,
    responses((status = 201, body = AccessTokenView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn token(State(s): State<AppState>, b: AgentBody<TokenParams>) -> ApiResult {
    let mut w = AgentWrite::begin(&s, &b.body.client_assertion, b.host.as_deref()).await?;
    let (tx, actx) = w.parts();
    let issued = app::credentials::token(tx, actx, b.body.try_into()?).await?;
    let now = w.actx.now;
    w.finish(StatusCode::CREATED, AccessTokenView::new(issued, now))
        .await
}

/// Token introspection (RFC 7662 style): whether a credential is active now. Reads revocations on every call. The token is the caller's proof; no other credential is needed.
#[utoipa::path(post, path = "/v1/oauth/introspect", tag = "credentials", request_body = IntrospectParams,
    responses((status = 200, body = IntrospectionView), (status = 422, body = Problem)))]
pub async fn introspect(State(s): State<AppState>, b: AgentBody<IntrospectParams>) -> ApiResult {
    let mut tx = s.store.read().await?;
    let every = s.profile.grants.recertify_every_days;
    ok(app::credentials::introspect(&mut *tx, &b.body.token, s.clock.now(), every).await?)
}

/// Revoke credentials by token (jti), agent, grant or release. Admin or security; an agent's owner for its agent.
#[utoipa::path(post, path = "/v1/credentials/revoke", tag = "credentials", security(("bearer" = [])), request_body = RevokeCredentialsParams,
    responses((status = 200, body = RevokedView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn revoke_credentials(
    State(s): State<AppState>,
    cmd: Cmd<RevokeCredentialsParams>,
) -> ApiResult {
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let revoked = app::credentials::revoke(tx, ctx, cmd.body.into()).await?;
    w.finish(StatusCode::OK, RevokedView { revoked }).await
}

/// Rotate the credential signing key; retired keys stay published until their tokens expire. Admin or security.
#[utoipa::path(post, path = "/v1/keys/rotate", tag = "credentials", security(("bearer" = [])), request_body = EmptyParams,
    responses((status = 201, body = KeyView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn rotate_keys(State(s): State<AppState>, cmd: Cmd<EmptyParams>) -> ApiResult {
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let k = app::credentials::rotate(tx, ctx).await?;
    w.finish(
        StatusCode::CREATED,
        KeyView {
            kid: k.kid,
            public_key: k.public_key,
            created_at: k.created_at,
        },
    )
    .await
}

/// The credential signing keys (JWKS, OKP/Ed25519 with `kid`). Public.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "credentials", responses((status = 200, body = JwksView)))]
pub async fn jwks(State(s): State<AppState>) -> ApiResult {
    let mut tx = s.store.read().await?;
    ok(app::credentials::jwks(&mut *tx, s.clock.now()).await?)
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
    let key = b.idempotency.map(|i| DecisionKey {
        agent: p.agent.id.to_string(),
        key: i.key,
        request_hash: i.request_hash,
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
    let wait = std::time::Duration::from_secs(q.timeout.unwrap_or(30).min(60));
    ok(ApprovalView::from(
        app::approvals::wait_for_agent(&s, &p, &id, wait).await?,
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
    let filter = countersign_store::records::ApprovalFilter {
        assignee: Some(
            q.assignee
                .map(UserId)
                .unwrap_or_else(|| ctx.actor.id.clone()),
        ),
        state: match q.state.as_deref() {
            None => Some("pending".into()),
            Some("all") => None,
            Some(other) => Some(other.to_owned()),
        },
        agent: q.agent.map(AgentId),
        limit: q.limit.unwrap_or(100),
    };
    let mut tx = s.store.read().await?;
    let v = app::approvals::list(&mut *tx, &ctx, filter).await?;
    ok(v.into_iter().map(ApprovalView::from).collect::<Vec<_>>())
}

/// One approval request with its context: what the AI produced, the data it used, what it will change. The assignee's first opening is recorded (accountability). The assignee, admin, security, risk or compliance.
#[utoipa::path(get, path = "/v1/approvals/{id}", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ApprovalView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_approval(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
) -> ApiResult {
    let first = app::approvals::opens_first_time(&mut *s.store.read().await?, &ctx, &id).await?;
    if !first {
        let mut tx = s.store.read().await?;
        return ok(ApprovalView::from(
            app::approvals::open(&mut *tx, &ctx, &id).await?,
        ));
    }
    let mut w = Write::begin(&s, ctx, None).await?;
    let (tx, ctx) = w.parts();
    let v = app::approvals::open(tx, ctx, &id).await?;
    w.finish(StatusCode::OK, ApprovalView::from(v)).await
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
    answer(s, id, cmd, true).await
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
    answer(s, id, cmd, false).await
}

async fn answer(s: AppState, id: String, cmd: Cmd<AnswerParams>, approve: bool) -> ApiResult {
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let v = app::approvals::answer(tx, ctx, &id, approve, cmd.body.comment).await?;
    let resp = w.finish(StatusCode::OK, ApprovalView::from(v)).await;
    s.runtime.approvals_changed();
    resp
}

/// The action log, newest first: decision, human decision, outcome. Filter by agent, system, task or review state. Auditors (admin, security, risk, compliance, operations) see all; others their agents' and systems' actions.
#[utoipa::path(get, path = "/v1/actions", tag = "runtime", security(("bearer" = [])), params(ActionsQuery),
    responses((status = 200, body = Vec<ActionView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_actions(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<ActionsQuery>,
) -> ApiResult {
    let filter = countersign_store::records::ActionFilter {
        agent: q.agent.map(AgentId),
        system: q.system.map(SystemId),
        task: q.task,
        review_state: q.review,
        limit: q.limit.unwrap_or(100),
    };
    let mut tx = s.store.read().await?;
    let v = app::actions::list(&mut *tx, &ctx, filter).await?;
    ok(v.into_iter()
        .map(|a| ActionView::linked(a, ctx.now))
        .collect::<Vec<_>>())
}

/// One action, linked to its approval request and outcome.
#[utoipa::path(get, path = "/v1/actions/{id}", tag = "runtime", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ActionView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_action(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
) -> ApiResult {
    let mut tx = s.store.read().await?;
    let v = app::actions::get(&mut *tx, &ctx, &id).await?;
    ok(ActionView::linked(v, ctx.now))
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
    let mut tx = s.store.write().await?;
    let now = s.clock.now();
    let a =
        app::actions::report_outcome(&mut *tx, &p, &id, b.body.status, b.body.detail, now).await?;
    tx.commit().await?;
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
    let mut tx = s.store.read().await?;
    let v = app::actions::review_queue(&mut *tx, &ctx, q.limit.unwrap_or(100)).await?;
    ok(v.into_iter()
        .map(|a| ActionView::linked(a, ctx.now))
        .collect::<Vec<_>>())
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
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let a = app::actions::review(tx, ctx, &id, cmd.body.verdict, cmd.body.comment).await?;
    let now = ctx.now;
    w.finish(StatusCode::OK, ActionView::linked(a, now)).await
}

/// Accountability signals per reviewer and approver, with rubber-stamp flags by the profile's thresholds. Admin, risk or compliance.
#[utoipa::path(get, path = "/v1/accountability", tag = "runtime", security(("bearer" = [])),
    responses((status = 200, body = Vec<SignalsView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn accountability(State(s): State<AppState>, Auth(ctx): Auth) -> ApiResult {
    let mut tx = s.store.read().await?;
    let v = app::accountability::report(&mut *tx, &ctx).await?;
    ok(v.into_iter().map(SignalsView::from).collect::<Vec<_>>())
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
    let _reloading = s.runtime.reload_guard().await;
    let running = s.runtime.policies();
    let mut w = Write::begin(&s, cmd.ctx, cmd.idempotency).await?;
    let (tx, ctx) = w.parts();
    let Some(next) = app::policies::reload(tx, ctx, &running).await? else {
        return w.finish(StatusCode::OK, PolicySetView::new(&running)).await;
    };
    let resp = w.finish(StatusCode::OK, PolicySetView::new(&next)).await?;
    s.runtime.set_policies(next);
    Ok(resp)
}
