//! The HTTP API under `/v1`, its OpenAPI document, and its problem errors.

pub mod extract;
pub mod problem;
pub mod view;

pub mod access;
pub mod agents;
pub mod credentials;
pub mod gate;
pub mod grants;
pub mod health;
pub mod ledger;
pub mod lineage;
pub mod releases;
pub mod runtime;
pub mod systems;
pub mod users;
pub mod webhooks;

use crate::app::unit::App as AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use countersign_core::problem::ProblemCode;
use problem::ApiError;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa::Modify;
use utoipa_axum::router::OpenApiRouter;

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

/// `utoipa_axum::routes!`, and then each handler's operation gets the problem
/// responses (and the `Idempotency-Key` parameter) its extractors document
/// (`extract::Documented`): derived from the handler's arguments, never listed by hand.
macro_rules! documented {
    ($($handler:ident),+ $(,)?) => {{
        let (schemas, mut paths, router) = utoipa_axum::routes!($($handler),+);
        $(
            utoipa_axum::paste! {
                document(
                    &mut paths,
                    &<[<__path_ $handler>] as utoipa::Path>::path(),
                    &<[<__path_ $handler>] as utoipa::Path>::methods(),
                    &extract::document_handler(&$handler),
                );
            }
        )+
        (schemas, paths, router)
    }};
}

/// Applies what a handler's extractors document to its operations in `paths`.
fn document(
    paths: &mut utoipa::openapi::path::Paths,
    path: &str,
    methods: &[utoipa::openapi::path::HttpMethod],
    doc: &problem::OperationDoc,
) {
    use utoipa::openapi::path::HttpMethod as M;
    let Some(item) = paths.paths.get_mut(path) else {
        return;
    };
    for m in methods {
        let op = match m {
            M::Get => &mut item.get,
            M::Put => &mut item.put,
            M::Post => &mut item.post,
            M::Delete => &mut item.delete,
            M::Options => &mut item.options,
            M::Head => &mut item.head,
            M::Patch => &mut item.patch,
            M::Trace => &mut item.trace,
        };
        if let Some(op) = op {
            doc.apply(op);
        }
    }
}

/// The router and the OpenAPI document, built from the same route list so that
/// every route is documented, with every problem it can answer.
pub fn router(state: AppState) -> (Router, OpenApi) {
    use self::{
        access::*, agents::*, credentials::*, gate::*, grants::*, health::*, ledger::*, lineage::*,
        releases::*, runtime::*, systems::*, users::*, webhooks::*,
    };
    let evidence = OpenApiRouter::new()
        .routes(documented!(attach_evidence))
        .layer(DefaultBodyLimit::max(EVIDENCE_BODY_LIMIT));
    let (router, api) =
        OpenApiRouter::<AppState>::with_openapi(<ApiDoc as utoipa::OpenApi>::openapi())
            .routes(documented!(healthz))
            .routes(documented!(readyz))
            .routes(documented!(me))
            .routes(documented!(create_user, list_users))
            .routes(documented!(get_user))
            .routes(documented!(create_token))
            .routes(documented!(create_system, list_systems))
            .routes(documented!(get_system))
            .routes(documented!(profile))
            .routes(documented!(create_release, list_releases))
            .routes(documented!(get_release))
            .routes(documented!(revise))
            .routes(documented!(submit))
            .routes(documented!(gate_status))
            .routes(documented!(review))
            .routes(documented!(download_evidence))
            .routes(documented!(accept_risk))
            .routes(documented!(decide))
            .routes(documented!(promote))
            .routes(documented!(rollback))
            .routes(documented!(retire))
            .routes(documented!(gate_check))
            .routes(documented!(ledger))
            .routes(documented!(ledger_verify))
            // The ledger as a transparency log (issue 14): public.
            .routes(documented!(ledger_checkpoint))
            .routes(documented!(ledger_inclusion))
            .routes(documented!(ledger_consistency))
            .routes(documented!(ledger_keys))
            .routes(documented!(ledger_cosign))
            // Agents, grants and credentials (issue 5).
            .routes(documented!(register_agent, list_agents))
            .routes(documented!(get_agent))
            .routes(documented!(suspend_agent))
            .routes(documented!(request_grant, list_grants))
            .routes(documented!(due_grants))
            .routes(documented!(approve_grant))
            .routes(documented!(recertify_grant))
            .routes(documented!(revoke_grant))
            .routes(documented!(token))
            .routes(documented!(introspect))
            .routes(documented!(revoke_credentials))
            .routes(documented!(rotate_keys))
            .routes(documented!(jwks))
            // Runtime decisions, approvals, the action log (issue 6).
            .routes(documented!(decide_action))
            .routes(documented!(preview_decision))
            .routes(documented!(wait_approval))
            .routes(documented!(list_approvals))
            .routes(documented!(get_approval))
            .routes(documented!(approve_approval))
            .routes(documented!(deny_approval))
            .routes(documented!(revoke_approval))
            .routes(documented!(list_actions))
            .routes(documented!(get_action))
            .routes(documented!(report_outcome))
            .routes(documented!(review_action))
            .routes(documented!(review_queue))
            .routes(documented!(accountability))
            .routes(documented!(policies))
            .routes(documented!(reload_policies))
            // AuthZEN 1.0 access evaluation, on the same decision path (issue 13).
            .routes(documented!(access_evaluation))
            .routes(documented!(access_evaluations))
            // Lineage (I6).
            .routes(documented!(register_dataset, list_datasets))
            .routes(documented!(get_dataset))
            .routes(documented!(approve_dataset))
            .routes(documented!(register_run, list_runs))
            .routes(documented!(get_run))
            // Evaluation (I7).
            .routes(documented!(evaluation))
            // Deadlines (I5).
            .routes(documented!(block))
            .routes(documented!(withdraw))
            // Webhooks.
            .routes(documented!(create_webhook, list_webhooks))
            .routes(documented!(webhook_deliveries))
            .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
            .merge(evidence)
            .split_for_parts();
    let mut api = api;
    problem::problem_responses(&mut api);
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
        .route(
            "/ledger/tile/{*path}",
            axum::routing::get(self::ledger::ledger_tile),
        )
        .fallback(not_found)
        .with_state(state);
    (router, api)
}

/// Unknown routes answer with a problem too.
pub async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ProblemCode::RouteNotFound,
        "no such route; see /openapi.json",
    )
    .into_response()
}
