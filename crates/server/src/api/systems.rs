//! HTTP handlers for systems and their accountable owners.

use super::extract::{ok, Auth, Cmd, PathId};
use super::problem::{ApiResult, Problem};
use super::view::View;
use crate::app;
use crate::app::unit::App as AppState;
use axum::extract::State;
use axum::http::StatusCode;
use countersign_api::*;
use countersign_core::{SystemId, UserId};
use countersign_store::records::*;

impl View<SystemRecord> for SystemView {
    fn view(s: SystemRecord) -> Self {
        SystemView {
            id: s.id.0,
            name: s.name,
            description: s.description,
            owner: s.owner.0,
            created_at: s.created_at,
        }
    }
}

/// Create a system with its one accountable owner. Role: admin.
#[utoipa::path(post, path = "/v1/systems", tag = "systems", security(("bearer" = [])), request_body = CreateSystemParams,
    responses((status = 201, body = SystemView),
              (status = 409, body = Problem)))]
pub async fn create_system(State(s): State<AppState>, cmd: Cmd<CreateSystemParams>) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |p, tx, ctx| {
        Box::pin(async move {
            let new = app::systems::NewSystem {
                name: p.name,
                description: p.description,
                owner: UserId(p.owner),
            };
            let sys = app::systems::create(tx, ctx, new).await?;
            Ok(SystemView::view(sys))
        })
    })
    .await
}

/// List systems. Any role.
#[utoipa::path(get, path = "/v1/systems", tag = "systems", security(("bearer" = [])),
    responses((status = 200, body = Vec<SystemView>)))]
pub async fn list_systems(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                Ok(app::systems::list(tx)
                    .await?
                    .into_iter()
                    .map(SystemView::view)
                    .collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One system. Any role.
#[utoipa::path(get, path = "/v1/systems/{id}", tag = "systems", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = SystemView)))]
pub async fn get_system(State(s): State<AppState>, Auth(_): Auth, PathId(id): PathId) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                Ok(SystemView::view(
                    app::systems::get(tx, &SystemId(id)).await?,
                ))
            })
        })
        .await?;
    ok(v)
}
