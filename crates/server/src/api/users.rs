//! HTTP handlers for users and their API tokens.

use super::extract::{ok, Auth, Cmd, PathId};
use super::problem::{ApiResult, Problem};
use super::view::View;
use crate::app;
use crate::app::unit::App as AppState;
use axum::extract::State;
use axum::http::StatusCode;
use countersign_api::*;
use countersign_core::UserId;
use countersign_store::records::*;

impl View<UserRecord> for UserView {
    fn view(u: UserRecord) -> Self {
        UserView {
            id: u.id.0,
            name: u.name,
            email: u.email,
            roles: u.roles.iter().map(|r| r.to_string()).collect(),
            created_at: u.created_at,
        }
    }
}

/// The authenticated user.
#[utoipa::path(get, path = "/v1/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView)))]
pub async fn me(Auth(ctx): Auth) -> ApiResult {
    ok(UserView::view(ctx.actor))
}

/// Create a user with roles. Role: admin.
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("bearer" = [])), request_body = CreateUserParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key write once")),
    responses((status = 201, body = UserView),
              (status = 409, body = Problem)))]
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
            Ok(UserView::view(u))
        })
    })
    .await
}

/// List users. Role: admin.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserView>)))]
pub async fn list_users(State(s): State<AppState>, Auth(ctx): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let users = app::users::list(tx, &ctx).await?;
                Ok(users.into_iter().map(UserView::view).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One user. Any role.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = UserView)))]
pub async fn get_user(State(s): State<AppState>, Auth(_): Auth, PathId(id): PathId) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move { Ok(UserView::view(app::users::get(tx, &UserId(id)).await?)) })
        })
        .await?;
    ok(v)
}

/// Issue an API token for a user; the secret is shown once. Role: admin.
#[utoipa::path(post, path = "/v1/users/{id}/tokens", tag = "users", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = CreateTokenParams,
    responses((status = 201, body = TokenView)))]
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
