//! HTTP handlers for just-in-time credentials: the token endpoint, introspection, revocation, signing keys.

use super::extract::{ok, AgentBody, Cmd};
use super::problem::{ApiResult, Problem};
use crate::app;
use crate::app::unit::App as AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use countersign_api::*;
use countersign_core::problem::ProblemCode;

pub fn access_token_view(i: app::credentials::Issued, now: DateTime<Utc>) -> AccessTokenView {
    let c = i.credential;
    AccessTokenView {
        access_token: i.token,
        token_type: "Bearer".into(),
        expires_in: (c.expires_at - now).num_seconds(),
        scope: c.scopes.join(" "),
        issued_token_type: c
            .parent_jti
            .as_ref()
            .map(|_| "urn:ietf:params:oauth:token-type:jwt".into()),
        jti: c.jti,
        expires_at: c.expires_at,
    }
}

impl TryFrom<TokenParams> for app::credentials::TokenRequest {
    type Error = app::AppError;
    fn try_from(p: TokenParams) -> Result<Self, Self::Error> {
        use app::credentials::TOKEN_EXCHANGE;
        let exchange = match p.grant_type.as_str() {
            "client_credentials" => false,
            TOKEN_EXCHANGE => true,
            other => {
                return Err(app::AppError::invalid(
                    ProblemCode::UnsupportedGrantType,
                    format!("grant_type {other:?}: use client_credentials or {TOKEN_EXCHANGE}"),
                ))
            }
        };
        if exchange != p.subject_token.is_some() {
            return Err(app::AppError::invalid(
                ProblemCode::InvalidTokenRequest,
                "a subject_token is required for token exchange and only there",
            ));
        }
        Ok(Self {
            task: p.task,
            scopes: p.scope.split_whitespace().map(str::to_owned).collect(),
            lifetime: p.lifetime,
            risk_score: p.risk_score,
            subject_token: p.subject_token,
        })
    }
}

impl From<RevokeCredentialsParams> for app::credentials::RevokeRequest {
    fn from(p: RevokeCredentialsParams) -> Self {
        Self {
            jti: p.jti,
            agent: p.agent.map(countersign_core::AgentId),
            grant: p.grant.map(countersign_core::GrantId),
            release: p.release.map(countersign_core::ReleaseId),
            reason: p.reason,
        }
    }
}

/// The token endpoint: a just-in-time credential (EdDSA JWT, 15 minutes by default) for one task and a subset of the agent's active grants, or, with `grant_type` token-exchange, a delegated one (RFC 8693). Authenticated by the agent's client assertion (RFC 7523).
#[utoipa::path(post, path = "/v1/oauth/token", tag = "credentials", request_body = TokenParams,
    responses((status = 201, body = AccessTokenView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn token(State(s): State<AppState>, b: AgentBody<TokenParams>) -> ApiResult {
    let assertion = b.body.client_assertion.clone();
    b.run(&s, &assertion, StatusCode::CREATED, |body, tx, actx| {
        Box::pin(async move {
            let issued = app::credentials::token(tx, actx, body.try_into()?).await?;
            Ok(access_token_view(issued, actx.now))
        })
    })
    .await
}

/// Token introspection (RFC 7662 style): whether a credential is active now. Reads revocations on every call. The token is the caller's proof; no other credential is needed.
#[utoipa::path(post, path = "/v1/oauth/introspect", tag = "credentials", request_body = IntrospectParams,
    responses((status = 200, body = IntrospectionView)))]
pub async fn introspect(State(s): State<AppState>, b: AgentBody<IntrospectParams>) -> ApiResult {
    ok(app::credentials::introspect_now(&s, b.body.token).await?)
}

/// Revoke credentials by token (jti), agent, grant or release. Admin or security; an agent's owner for its agent.
#[utoipa::path(post, path = "/v1/credentials/revoke", tag = "credentials", security(("bearer" = [])), request_body = RevokeCredentialsParams,
    responses((status = 200, body = RevokedView),
              (status = 404, body = Problem)))]
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
    responses((status = 201, body = KeyView)))]
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
