//! HTTP handlers for liveness and readiness.

use super::extract::ok;
use super::problem::{ApiError, ApiResult, Problem};
use crate::app::unit::App as AppState;
use axum::extract::State;
use axum::http::StatusCode;
use countersign_api::*;
use countersign_core::problem::ProblemCode;

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
