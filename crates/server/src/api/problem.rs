//! RFC 9457 problem details. Every error the API returns is one of these, with a
//! stable `type` per cause: `urn:countersign:problem:<code>`.

use crate::app::AppError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The problem type URI prefix.
pub const PROBLEM_PREFIX: &str = "urn:countersign:problem:";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:countersign:problem:<code>`; stable per cause.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The code part of `type`, for convenience.
    pub code: String,
    /// Correlates with the server log.
    pub request_id: String,
    /// For `gate-unmet`: the requirements still open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gaps: Option<Vec<crate::api::wire::GapView>>,
    /// For `stale-revision`: the release's current revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<u32>,
}

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub enum ApiError {
    Problem(Box<Problem>),
    /// A retried write: the stored response of the first attempt (not an error).
    Replay(Box<Response>),
}

pub type ApiResult<T = Response> = Result<T, ApiError>;

fn title(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").to_owned()
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        ApiError::Problem(Box::new(Problem {
            type_: format!("{PROBLEM_PREFIX}{code}"),
            title: title(status),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            request_id: uuid::Uuid::new_v4().simple().to_string(),
            gaps: None,
            current_revision: None,
        }))
    }

    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail)
    }

    fn internal(source: &dyn std::error::Error) -> Self {
        let e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; nothing was changed",
        );
        if let ApiError::Problem(p) = &e {
            tracing::error!(request_id = %p.request_id, error = %error_chain(source), "internal error");
        }
        e
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        use StatusCode as S;
        let detail = e.to_string();
        let (status, code): (StatusCode, String) = match &e {
            AppError::NotFound { what, .. } => (
                S::NOT_FOUND,
                format!("{}-not-found", what.replace(' ', "-")),
            ),
            AppError::MissingRole { .. } => (S::FORBIDDEN, "missing-role".into()),
            AppError::NotDecisionOwner { .. } => (S::FORBIDDEN, "not-decision-owner".into()),
            AppError::Segregation(v) => (
                S::FORBIDDEN,
                format!("segregation-of-duties/{}", v.code().replace('_', "-")),
            ),
            AppError::IllegalTransition(_) => (S::CONFLICT, "illegal-transition".into()),
            AppError::StaleRevision { .. } => (S::CONFLICT, "stale-revision".into()),
            AppError::Duplicate { .. } => (S::CONFLICT, "already-exists".into()),
            AppError::GateUnmet { .. } => (S::CONFLICT, "gate-unmet".into()),
            AppError::VetoNotAcceptable { .. } => {
                (S::UNPROCESSABLE_ENTITY, "veto-not-acceptable".into())
            }
            AppError::GapNotAcceptable { .. } => {
                (S::UNPROCESSABLE_ENTITY, "gap-not-acceptable".into())
            }
            AppError::Invalid { code, .. } => (S::UNPROCESSABLE_ENTITY, (*code).to_owned()),
            AppError::Review(_) => (S::UNPROCESSABLE_ENTITY, "invalid-review".into()),
            AppError::AgentUnauthenticated { .. } => (S::UNAUTHORIZED, "invalid-client".into()),
            AppError::Forbidden { code, .. } => (S::FORBIDDEN, (*code).to_owned()),
            AppError::Conflict { code, .. } => (S::CONFLICT, (*code).to_owned()),
            AppError::Unavailable { .. } => (S::SERVICE_UNAVAILABLE, "unavailable".into()),
            AppError::Store(source) => return ApiError::internal(source),
        };
        let mut api = ApiError::new(status, &code, detail);
        if let ApiError::Problem(p) = &mut api {
            match e {
                AppError::GateUnmet { gaps } => {
                    p.gaps = Some(gaps.iter().map(crate::api::wire::GapView::from).collect());
                }
                AppError::StaleRevision { current, .. } => p.current_revision = Some(current),
                _ => {}
            }
        }
        api
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Replay(r) => *r,
            ApiError::Problem(p) => {
                let status =
                    StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let body = serde_json::to_vec(&p).unwrap_or_default();
                let mut resp = (status, body).into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                if status == StatusCode::UNAUTHORIZED {
                    resp.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                resp
            }
        }
    }
}
