//! HTTP handlers for agents' grants: request, approval, recertification, revocation.

use super::extract::{ok, AgentBody, Auth, Cmd, PathId, Q};
use super::problem::{ApiResult, Problem};
use super::view::View;
use crate::app;
use crate::app::unit::App as AppState;
use axum::extract::State;
use axum::http::StatusCode;
use countersign_api::*;
use countersign_core::{AgentId, GrantId, SystemId};

impl View<app::grants::GrantView> for GrantView {
    fn view(v: app::grants::GrantView) -> Self {
        use countersign_core::grant::State;
        let missing_approvals = match &v.state {
            State::Pending { missing } => missing.iter().map(|a| a.as_str().to_owned()).collect(),
            _ => vec![],
        };
        let g = v.grant;
        GrantView {
            id: g.id.0,
            agent: g.agent_id.0,
            mutating: g.terms.mutating(),
            system: g.terms.system.0,
            actions: g.terms.actions,
            resources: g.terms.resources,
            constraints: ConstraintsWire::from(&g.terms.constraints),
            expires_at: g.terms.expires_at,
            state: v.state.as_str().into(),
            missing_approvals,
            system_owner: v.system_owner.0,
            agent_owner: v.agent_owner.0,
            system_owner_approved_by: g.system_owner_approved_by.map(|u| u.0),
            agent_owner_approved_by: g.agent_owner_approved_by.map(|u| u.0),
            certified_by: g.certified_by.map(|u| u.0),
            certified_at: g.certified_at,
            recertify_by: v.recertify_by,
            revoked_by: g.revoked_by,
            revoked_at: g.revoked_at,
            revoke_reason: g.revoke_reason,
            requested_at: g.requested_at,
        }
    }
}

impl From<RequestGrantParams> for app::grants::NewGrant {
    fn from(p: RequestGrantParams) -> Self {
        Self {
            system: SystemId(p.system),
            actions: p.actions,
            resources: p.resources,
            constraints: p.constraints.into(),
            expires_at: p.expires_at,
        }
    }
}

/// An agent requests a grant on a system; it stays pending until its owners approve. Authenticated by the agent's client assertion, never a human token.
#[utoipa::path(post, path = "/v1/grants", tag = "grants", request_body = RequestGrantParams,
    responses((status = 201, body = GrantView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn request_grant(
    State(s): State<AppState>,
    b: AgentBody<RequestGrantParams>,
) -> ApiResult {
    let assertion = b.body.client_assertion.clone();
    b.run(&s, &assertion, StatusCode::CREATED, |body, tx, actx| {
        Box::pin(async move {
            let g = app::grants::request(tx, actx, body.into()).await?;
            Ok(GrantView::view(g))
        })
    })
    .await
}

/// List grants with their state now, optionally one agent's. Any role.
#[utoipa::path(get, path = "/v1/grants", tag = "grants", security(("bearer" = [])), params(GrantsQuery),
    responses((status = 200, body = Vec<GrantView>), (status = 404, body = Problem)))]
pub async fn list_grants(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<GrantsQuery>,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let grants = app::grants::list_for(tx, &ctx, q.agent.map(AgentId)).await?;
                Ok(grants.into_iter().map(GrantView::view).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// Grants the caller owns (system or agent owner; admin: all) that have lapsed or are due for recertification. Any role.
#[utoipa::path(get, path = "/v1/grants/due", tag = "grants", security(("bearer" = [])), params(DueQuery),
    responses((status = 200, body = Vec<GrantView>)))]
pub async fn due_grants(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<DueQuery>,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let grants = app::grants::due(tx, &ctx, q.within_days).await?;
                Ok(grants.into_iter().map(GrantView::view).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// Approve a grant as its system owner or (mutating actions) its agent owner. Humans only.
#[utoipa::path(post, path = "/v1/grants/{id}/approve", tag = "grants", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = EmptyParams,
    responses((status = 200, body = GrantView)))]
pub async fn approve_grant(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<EmptyParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |_, tx, ctx| {
        Box::pin(async move {
            let g = app::grants::approve(tx, ctx, &GrantId(id)).await?;
            Ok(GrantView::view(g))
        })
    })
    .await
}

/// Recertify an active or lapsed grant for another cadence. Its system owner or agent owner.
#[utoipa::path(post, path = "/v1/grants/{id}/recertify", tag = "grants", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = EmptyParams,
    responses((status = 200, body = GrantView)))]
pub async fn recertify_grant(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<EmptyParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |_, tx, ctx| {
        Box::pin(async move {
            let g = app::grants::recertify(tx, ctx, &GrantId(id)).await?;
            Ok(GrantView::view(g))
        })
    })
    .await
}

/// Revoke a grant and every credential issued under it. Its owners, admin or security.
#[utoipa::path(post, path = "/v1/grants/{id}/revoke", tag = "grants", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ReasonParams,
    responses((status = 200, body = GrantView)))]
pub async fn revoke_grant(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<ReasonParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |body, tx, ctx| {
        Box::pin(async move {
            let g = app::grants::revoke(tx, ctx, &GrantId(id), body.reason).await?;
            Ok(GrantView::view(g))
        })
    })
    .await
}
