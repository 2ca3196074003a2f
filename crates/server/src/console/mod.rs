//! The web console under `/console`: server-rendered pages for reviewers, decision
//! owners and approvers. A page handler authenticates the session ([`session::Viewer`]),
//! calls one application query or command (the same ones the API calls), converts
//! the answer into a page (`view`) and renders its template (compiled into the
//! binary from `templates/console/`). No rule lives here or in a template.
//!
//! Every response carries a strict Content-Security-Policy (no inline script or
//! style) and the usual security headers; every state-changing form carries the
//! session's CSRF token and is refused from another site ([`session::Posted`]).

pub mod assets;
pub mod chart;
pub mod page;
pub mod pages;
pub mod session;
pub mod view;

use crate::app::unit::App as AppState;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
pub use page::{render, Page, Refusal, BASE};

/// The console's routes, with its security headers.
pub fn router() -> Router<AppState> {
    use pages::*;
    let pages = Router::new()
        .route("/", get(inbox))
        .route("/inbox/items", get(inbox_items))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-in/oidc", get(session::oidc_start))
        .route("/oidc/callback", get(session::oidc_callback))
        .route("/sign-out", post(session::sign_out))
        .route("/releases/{id}", get(release))
        .route("/releases/{id}/acceptances", post(accept_submit))
        .route("/releases/{id}/evidence/{digest}", get(evidence_preview))
        .route("/releases/{id}/decision", post(decision_submit))
        .route("/releases/{id}/withdraw", post(withdraw_submit))
        .route(
            "/releases/{id}/review/{role}",
            get(review_form).post(review_submit),
        )
        .route("/evidence/{digest}", get(evidence))
        .route("/approvals/{id}", get(approval).post(approval_answer))
        .route("/approvals/{id}/revoke", post(approval_revoke))
        .route("/assets/{file}", get(assets::serve))
        .fallback(page_not_found)
        .layer(axum::middleware::map_response(security_headers));
    Router::new()
        .route("/", get(|| async { Redirect::to(BASE) }))
        .nest(BASE, pages)
}

/// The headers every console response carries.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(
        h,
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    resp
}

async fn page_not_found() -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        countersign_core::problem::ProblemCode::RouteNotFound.as_str(),
        "There is no such page in the console.",
    )
}
