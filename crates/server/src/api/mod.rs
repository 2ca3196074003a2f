//! The HTTP API under `/v1`, its OpenAPI document, and its problem errors.

pub mod extract;
pub mod problem;
pub mod routes;
pub mod wire;

use crate::AppState;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa::Modify;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest JSON command body.
pub const JSON_BODY_LIMIT: usize = 256 * 1024;
/// Largest evidence document.
pub const EVIDENCE_BODY_LIMIT: usize = 32 * 1024 * 1024;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "countersign",
        description = "The control plane that keeps humans accountable for AI in production. \
                       Errors are RFC 9457 problem documents with a stable `type` (urn:countersign:problem:<code>). \
                       Writes accept an `Idempotency-Key` header. Authenticate with `Authorization: Bearer <token>`."
    ),
    modifiers(&BearerAuth),
    components(schemas(problem::Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The router and the OpenAPI document, built from the same route list so that
/// every route is documented.
pub fn router(state: AppState) -> (Router, OpenApi) {
    use routes::*;
    let evidence = OpenApiRouter::new()
        .routes(routes!(attach_evidence))
        .layer(DefaultBodyLimit::max(EVIDENCE_BODY_LIMIT));
    let (router, api) =
        OpenApiRouter::<AppState>::with_openapi(<ApiDoc as utoipa::OpenApi>::openapi())
            .routes(routes!(healthz))
            .routes(routes!(readyz))
            .routes(routes!(me))
            .routes(routes!(create_user, list_users))
            .routes(routes!(get_user))
            .routes(routes!(create_token))
            .routes(routes!(create_system, list_systems))
            .routes(routes!(get_system))
            .routes(routes!(profile))
            .routes(routes!(create_release, list_releases))
            .routes(routes!(get_release))
            .routes(routes!(revise))
            .routes(routes!(submit))
            .routes(routes!(gate_status))
            .routes(routes!(review))
            .routes(routes!(download_evidence))
            .routes(routes!(accept_risk))
            .routes(routes!(decide))
            .routes(routes!(promote))
            .routes(routes!(rollback))
            .routes(routes!(retire))
            .routes(routes!(gate_check))
            .routes(routes!(ledger))
            .routes(routes!(ledger_verify))
            // Agents, grants and credentials (issue 5).
            .routes(routes!(register_agent, list_agents))
            .routes(routes!(get_agent))
            .routes(routes!(suspend_agent))
            .routes(routes!(request_grant, list_grants))
            .routes(routes!(due_grants))
            .routes(routes!(approve_grant))
            .routes(routes!(recertify_grant))
            .routes(routes!(revoke_grant))
            .routes(routes!(token))
            .routes(routes!(introspect))
            .routes(routes!(revoke_credentials))
            .routes(routes!(rotate_keys))
            .routes(routes!(jwks))
            // Runtime decisions, approvals, the action log (issue 6).
            .routes(routes!(decide_action))
            .routes(routes!(wait_approval))
            .routes(routes!(list_approvals))
            .routes(routes!(get_approval))
            .routes(routes!(approve_approval))
            .routes(routes!(deny_approval))
            .routes(routes!(list_actions))
            .routes(routes!(get_action))
            .routes(routes!(report_outcome))
            .routes(routes!(review_action))
            .routes(routes!(review_queue))
            .routes(routes!(accountability))
            .routes(routes!(policies))
            .routes(routes!(reload_policies))
            // Lineage (I6).
            .routes(routes!(register_dataset, list_datasets))
            .routes(routes!(get_dataset))
            .routes(routes!(approve_dataset))
            .routes(routes!(register_run, list_runs))
            .routes(routes!(get_run))
            // Evaluation (I7).
            .routes(routes!(evaluation))
            // Deadlines (I5).
            .routes(routes!(block))
            // Webhooks.
            .routes(routes!(create_webhook, list_webhooks))
            .routes(routes!(webhook_deliveries))
            .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
            .merge(evidence)
            .split_for_parts();
    let doc = api.clone();
    let doc_json = serde_json::to_string(&doc).unwrap_or_default();
    let router = router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let body = doc_json.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                }
            }),
        )
        .fallback(not_found)
        .with_state(state);
    (router, api)
}
