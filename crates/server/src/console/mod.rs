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
pub mod pages;
pub mod session;
pub mod view;

use crate::app::unit::App as AppState;
use crate::app::AppError;
use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

/// Where the console lives.
pub const BASE: &str = "/console";

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
        .route("/sign-out", post(session::sign_out))
        .route("/releases/{id}", get(release))
        .route(
            "/releases/{id}/review/{role}",
            get(review_form).post(review_submit),
        )
        .route("/evidence/{digest}", get(evidence))
        .route("/approvals/{id}", get(approval).post(approval_answer))
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

/// A rendered page, or the page explaining why not.
pub type Page = Result<Response, Refusal>;

/// Renders a template as an HTML response with `status`.
pub fn render(status: StatusCode, t: &impl Template) -> Page {
    let html = t.render().map_err(|e| {
        tracing::error!(error = %e, "a console template failed to render");
        Refusal::internal()
    })?;
    Ok((
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response())
}

/// Why a page cannot be shown or a form was refused: a plain sentence for the
/// person, and the stable code in small print for whoever files a ticket.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: StatusCode,
    pub sentence: String,
    pub code: String,
}

impl Refusal {
    pub fn new(status: StatusCode, code: &str, sentence: impl Into<String>) -> Self {
        Refusal {
            status,
            sentence: sentence.into(),
            code: code.to_owned(),
        }
    }

    fn internal() -> Self {
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            countersign_core::problem::ProblemCode::Internal.as_str(),
            "Something went wrong on our side; nothing was changed. Try again.",
        )
    }
}

/// The one mapping of application errors (the API's) gives the status and code; the
/// sentence is the error's own words, segregation-of-duties ones without a prefix.
impl From<AppError> for Refusal {
    fn from(e: AppError) -> Self {
        let sentence = match &e {
            AppError::Segregation(v) => v.to_string(),
            AppError::Store(_) => return Refusal::internal(),
            other => other.to_string(),
        };
        let crate::api::problem::ApiError::Problem(p) = crate::api::problem::ApiError::from(e);
        Refusal {
            status: StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST),
            sentence: view::sentence(&sentence),
            code: p.code,
        }
    }
}

#[derive(Template)]
#[template(path = "console/refusal.html")]
struct RefusalPage<'a> {
    r: &'a Refusal,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match render(self.status, &RefusalPage { r: &self }) {
            Ok(resp) => resp,
            Err(_) => (self.status, self.sentence).into_response(),
        }
    }
}

async fn page_not_found() -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        countersign_core::problem::ProblemCode::RouteNotFound.as_str(),
        "There is no such page in the console.",
    )
}
