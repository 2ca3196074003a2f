//! countersign's server: the HTTP API and the web console over the application layer,
//! authentication, and start-up (migrations, profile, bootstrap admin, demo seed).
//!
//! Requests flow one way: handler (`api`) -> application function (`app`) -> core
//! decides -> store commits state and ledger entry together -> response.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use countersign_core::problem::ProblemCode;
pub mod api;
pub mod app;
pub mod clock;
pub mod console;
pub mod demo;
pub mod jwt;
pub mod oidc;
pub mod outbound;

/// What every surface shares: the application and its unit of work.
pub use app::unit::App as AppState;

/// The full HTTP application.
pub fn app(state: AppState) -> axum::Router {
    let (api, _) = api::router(state.clone());
    console::router()
        .with_state(state)
        .merge(api)
        .layer(axum::middleware::from_fn(method_not_allowed_as_problem))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_as_problem,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// A handler that panicked answers a 500 problem instead of dropping the connection.
/// Its transaction was dropped with it, so nothing was changed (I11, I12).
fn panic_as_problem(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned());
    let e = api::problem::ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        ProblemCode::Internal,
        "an internal error occurred; nothing was changed",
    );
    let api::problem::ApiError::Problem(p) = &e;
    tracing::error!(request_id = %p.request_id, panic = %what, "handler panicked");
    e.into_response()
}

/// The OpenAPI document.
pub fn openapi(state: AppState) -> utoipa::openapi::OpenApi {
    api::router(state).1
}

/// axum answers 405 with an empty body; turn it into a problem like every other error.
async fn method_not_allowed_as_problem(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let resp = next.run(req).await;
    if resp.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED {
        let allow = resp.headers().get(axum::http::header::ALLOW).cloned();
        let mut p = api::problem::ApiError::new(
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            ProblemCode::MethodNotAllowed,
            "this route does not accept that method",
        )
        .into_response();
        if let Some(a) = allow {
            p.headers_mut().insert(axum::http::header::ALLOW, a);
        }
        return p;
    }
    resp
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem() {
        let resp = panic_as_problem(Box::new("index out of bounds"));
        assert_eq!(resp.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            resp.headers()[axum::http::header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["type"], "urn:countersign:problem:internal");
        assert!(!v["detail"].as_str().unwrap().contains("index"), "{v}");
    }
}
