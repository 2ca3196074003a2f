//! What every console page shares, and nothing else in the console imports from:
//! rendering a template as an HTML response, and [`Refusal`], why a page cannot be
//! shown or a form was refused (a plain sentence and the stable code), with its page.

use crate::app::AppError;
use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Where the console lives.
pub const BASE: &str = "/console";

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

    pub fn internal() -> Self {
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
        let words = match &e {
            AppError::Segregation(v) => v.to_string(),
            AppError::Store(_) => return Refusal::internal(),
            other => other.to_string(),
        };
        let crate::api::problem::ApiError::Problem(p) = crate::api::problem::ApiError::from(e);
        Refusal {
            status: StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST),
            sentence: sentence(&words),
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

/// A refusal's words as a sentence: capitalised, with a full stop.
pub fn sentence(s: &str) -> String {
    let mut c = s.chars();
    let mut out: String = c
        .next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}
