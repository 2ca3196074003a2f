//! RFC 9457 problem details. Every error the API returns is one of these, with a
//! stable `type` per cause: `urn:countersign:problem:<code>`.

use crate::app::AppError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_core::problem::ProblemCode;
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
    pub gaps: Option<Vec<countersign_api::GapView>>,
    /// For `stale-revision`: the release's current revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<u32>,
}

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub enum ApiError {
    Problem(Box<Problem>),
}

pub type ApiResult<T = Response> = Result<T, ApiError>;

fn title(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").to_owned()
}

impl ApiError {
    pub fn new(status: StatusCode, code: ProblemCode, detail: impl Into<String>) -> Self {
        Self::with_code(status, code.as_str(), detail)
    }

    /// A problem whose code is built from a value (`<thing>-not-found`,
    /// `segregation-of-duties/<violation>`).
    fn with_code(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
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

    pub fn bad_request(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ProblemCode::Unauthenticated,
            detail,
        )
    }

    fn internal(source: &dyn std::error::Error) -> Self {
        let e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ProblemCode::Internal,
            "an internal error occurred; nothing was changed",
        );
        let ApiError::Problem(p) = &e;
        tracing::error!(request_id = %p.request_id, error = %error_chain(source), "internal error");
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
        let fixed = |status, code: ProblemCode| (status, code.as_str().to_owned());
        let (status, code): (StatusCode, String) = match &e {
            AppError::NotFound { what, .. } => (
                S::NOT_FOUND,
                format!("{}-not-found", what.replace(' ', "-")),
            ),
            AppError::MissingRole { .. } => fixed(S::FORBIDDEN, ProblemCode::MissingRole),
            AppError::NotDecisionOwner { .. } => fixed(S::FORBIDDEN, ProblemCode::NotDecisionOwner),
            AppError::Segregation(v) => (
                S::FORBIDDEN,
                format!("segregation-of-duties/{}", v.code().replace('_', "-")),
            ),
            AppError::IllegalTransition(_) => fixed(S::CONFLICT, ProblemCode::IllegalTransition),
            AppError::StaleRevision { .. } => fixed(S::CONFLICT, ProblemCode::StaleRevision),
            AppError::Duplicate { .. } => fixed(S::CONFLICT, ProblemCode::AlreadyExists),
            AppError::GateUnmet { .. } => fixed(S::CONFLICT, ProblemCode::GateUnmet),
            AppError::VetoNotAcceptable { .. } => {
                fixed(S::UNPROCESSABLE_ENTITY, ProblemCode::VetoNotAcceptable)
            }
            AppError::GapNotAcceptable { .. } => {
                fixed(S::UNPROCESSABLE_ENTITY, ProblemCode::GapNotAcceptable)
            }
            AppError::Invalid { code, .. } => fixed(S::UNPROCESSABLE_ENTITY, *code),
            AppError::Review(_) => fixed(S::UNPROCESSABLE_ENTITY, ProblemCode::InvalidReview),
            AppError::AgentUnauthenticated { .. } => {
                fixed(S::UNAUTHORIZED, ProblemCode::InvalidClient)
            }
            AppError::Forbidden { code, .. } => fixed(S::FORBIDDEN, *code),
            AppError::Conflict { code, .. } => fixed(S::CONFLICT, *code),
            AppError::Unavailable { .. } => fixed(S::SERVICE_UNAVAILABLE, ProblemCode::Unavailable),
            AppError::Store(source) => return ApiError::internal(source),
        };
        let mut api = ApiError::with_code(status, &code, detail);
        let ApiError::Problem(p) = &mut api;
        match e {
            AppError::GateUnmet { gaps } => {
                p.gaps = Some(gaps.iter().map(countersign_api::GapView::from).collect());
            }
            AppError::StaleRevision { current, .. } => p.current_revision = Some(current),
            _ => {}
        }
        api
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
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

// ---------- the problem responses of the OpenAPI document ----------

/// One problem an operation can answer with: its status and stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: ProblemCode,
}

impl Refusal {
    pub const fn new(status: StatusCode, code: ProblemCode) -> Self {
        Refusal { status, code }
    }
}

/// The store failed underneath a handler; nothing was changed.
pub const INTERNAL: Refusal =
    Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, ProblemCode::Internal);

/// What the parts of one operation (its extractors) add to its OpenAPI operation: the
/// problems they can answer with, and whether the operation honours `Idempotency-Key`.
#[derive(Debug, Default, Clone)]
pub struct OperationDoc {
    refusals: Vec<Refusal>,
    idempotent: bool,
}

impl OperationDoc {
    /// This operation can answer with these problems.
    pub fn refuses(&mut self, refusals: &[Refusal]) {
        for r in refusals {
            if !self.refusals.contains(r) {
                self.refusals.push(*r);
            }
        }
    }

    /// This operation stores its answer for a retried `Idempotency-Key`.
    pub fn honours_idempotency_key(&mut self) {
        self.idempotent = true;
    }

    pub fn refusals(&self) -> &[Refusal] {
        &self.refusals
    }

    pub fn idempotent(&self) -> bool {
        self.idempotent
    }

    /// Writes this into `op`: one problem response per status (its description names
    /// the problem codes), and the `Idempotency-Key` header parameter where honoured.
    pub fn apply(&self, op: &mut utoipa::openapi::path::Operation) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ObjectBuilder, Required, Type};
        if self.idempotent {
            let params = op.parameters.get_or_insert_with(Vec::new);
            let present = params.iter().any(|p| {
                p.parameter_in == ParameterIn::Header
                    && p.name.eq_ignore_ascii_case(IDEMPOTENCY_KEY)
            });
            if !present {
                params.push(
                    ParameterBuilder::new()
                        .name(IDEMPOTENCY_KEY)
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(
                            "1 to 255 visible ASCII characters; a retry with the same key and \
                             the same request is answered with the first response and writes nothing",
                        ))
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .min_length(Some(1))
                                .max_length(Some(255))
                                .pattern(Some("^[\\x21-\\x7e]+$")),
                        ))
                        .build(),
                );
            }
        }
        for r in &self.refusals {
            add_problem_code(op, r.status, r.code.as_str());
        }
    }
}

/// The `Idempotency-Key` header.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

const CODES: &str = "Problem types (urn:countersign:problem:<code>): ";

/// Makes sure `op` documents `status` as a problem response whose description names `code`.
fn add_problem_code(op: &mut utoipa::openapi::path::Operation, status: StatusCode, code: &str) {
    use utoipa::openapi::{RefOr, Response};
    let key = status.as_str().to_owned();
    let entry = op
        .responses
        .responses
        .entry(key)
        .or_insert_with(|| RefOr::T(Response::new(title(status))));
    if let RefOr::T(resp) = entry {
        let listed = resp
            .description
            .split_once(CODES)
            .is_some_and(|(_, codes)| codes.split(", ").any(|c| c == code));
        if !listed {
            if resp.description.contains(CODES) {
                resp.description.push_str(", ");
            } else {
                if resp.description.is_empty() {
                    resp.description = title(status);
                }
                resp.description.push_str(". ");
                resp.description.push_str(CODES);
            }
            resp.description.push_str(code);
        }
    }
}

/// Every 4xx and 5xx response of the document is an RFC 9457 problem: its content is
/// `application/problem+json` with the `Problem` schema, whatever the route declared.
pub fn problem_responses(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr};
    for item in openapi.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for op in ops.into_iter().flatten() {
            for (status, resp) in op.responses.responses.iter_mut() {
                let is_error = status.parse::<u16>().is_ok_and(|s| s >= 400);
                let RefOr::T(resp) = resp else { continue };
                if !is_error {
                    continue;
                }
                if resp.description.is_empty() {
                    resp.description = status
                        .parse::<u16>()
                        .ok()
                        .and_then(|s| StatusCode::from_u16(s).ok())
                        .map_or_else(|| "Error".to_owned(), title);
                }
                resp.content.clear();
                resp.content.insert(
                    "application/problem+json".to_owned(),
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                );
            }
        }
    }
}
