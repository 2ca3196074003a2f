//! countersign's server: the HTTP API over the application layer, authentication,
//! and start-up (migrations, profile, bootstrap admin, demo seed).
//!
//! Requests flow one way: handler (`api`) -> application function (`app`) -> core
//! decides -> store commits state and ledger entry together -> response.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod app;
pub mod clock;
pub mod demo;
pub mod jwt;
pub mod outbound;
pub mod runtime;

use clock::Clock;
use countersign_core::profile::Profile;
use countersign_store::Store;
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub profile: Arc<Profile>,
    pub clock: Arc<dyn Clock>,
    /// Runtime decisions: policies, resolved credentials, the group committer.
    pub runtime: Arc<runtime::Runtime>,
}

impl AppState {
    /// The state with the built-in example runtime policy set. Starts the decision
    /// committer, so call it inside a Tokio runtime.
    pub fn new(
        store: Arc<dyn Store>,
        profile: Arc<Profile>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, countersign_policy::LoadError> {
        let set = runtime::example_policies()?;
        Ok(Self::with_policies(store, profile, clock, set, None))
    }

    /// The state with a loaded policy set (`dir` is where it came from, for reloads).
    pub fn with_policies(
        store: Arc<dyn Store>,
        profile: Arc<Profile>,
        clock: Arc<dyn Clock>,
        set: countersign_policy::PolicySet,
        dir: Option<std::path::PathBuf>,
    ) -> Self {
        let loaded = runtime::LoadedPolicies {
            set,
            dir,
            loaded_at: clock.now(),
        };
        let runtime = runtime::Runtime::start(store.clone(), loaded);
        AppState {
            store,
            profile,
            clock,
            runtime,
        }
    }
}

/// The full HTTP application.
pub fn app(state: AppState) -> axum::Router {
    let (router, _) = api::router(state);
    router
        .layer(axum::middleware::from_fn(method_not_allowed_as_problem))
        .layer(tower_http::trace::TraceLayer::new_for_http())
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
            "method-not-allowed",
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
