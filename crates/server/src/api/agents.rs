//! HTTP handlers for agents and their lifecycle.

use super::extract::{ok, Auth, Cmd, PathId};
use super::problem::{ApiResult, Problem};
use super::view::View;
use crate::app;
use crate::app::unit::App as AppState;
use axum::extract::State;
use axum::http::StatusCode;
use countersign_api::*;
use countersign_core::{AgentId, UserId};
use countersign_store::records::*;

impl View<AgentRecord> for AgentView {
    fn view(a: AgentRecord) -> Self {
        AgentView {
            id: a.id.0,
            name: a.name,
            owner: a.owner.0,
            use_case: a.use_case,
            environment: a.environment,
            release: a.release_id.0,
            public_key: a.public_key,
            status: a.status.as_str().into(),
            created_by: a.created_by.0,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

impl From<RegisterAgentParams> for app::agents::NewAgent {
    fn from(p: RegisterAgentParams) -> Self {
        Self {
            name: p.name,
            owner: UserId(p.owner),
            use_case: p.use_case,
            environment: p.environment,
            release: countersign_core::ReleaseId(p.release),
            public_key: p.public_key,
        }
    }
}

/// Register an agent: one human owner, one use case, one environment, the promoted release that put it in production, and its own Ed25519 key. Role: admin, mlops or operations.
#[utoipa::path(post, path = "/v1/agents", tag = "agents", security(("bearer" = [])), request_body = RegisterAgentParams,
    responses((status = 201, body = AgentView),
              (status = 409, body = Problem)))]
pub async fn register_agent(State(s): State<AppState>, cmd: Cmd<RegisterAgentParams>) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |body, tx, ctx| {
        Box::pin(async move {
            let a = app::agents::register(tx, ctx, body.into()).await?;
            Ok(AgentView::view(a))
        })
    })
    .await
}

/// List agents. Any role.
#[utoipa::path(get, path = "/v1/agents", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = Vec<AgentView>)))]
pub async fn list_agents(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let agents = app::agents::list(tx).await?;
                Ok(agents.into_iter().map(AgentView::view).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One agent. Any role.
#[utoipa::path(get, path = "/v1/agents/{id}", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = AgentView)))]
pub async fn get_agent(State(s): State<AppState>, Auth(_): Auth, PathId(id): PathId) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move { Ok(AgentView::view(app::agents::get(tx, &AgentId(id)).await?)) })
        })
        .await?;
    ok(v)
}

/// Suspend an agent and revoke its credentials. Its owner, admin or security.
#[utoipa::path(post, path = "/v1/agents/{id}/suspend", tag = "agents", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = ReasonParams,
    responses((status = 200, body = AgentView)))]
pub async fn suspend_agent(
    State(s): State<AppState>,
    PathId(id): PathId,
    cmd: Cmd<ReasonParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::OK, move |body, tx, ctx| {
        Box::pin(async move {
            let a = app::agents::suspend(tx, ctx, &AgentId(id), body.reason).await?;
            Ok(AgentView::view(a))
        })
    })
    .await
}
