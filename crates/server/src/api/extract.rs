//! Request extractors: authentication, JSON command bodies, raw uploads, agents'
//! bodies and credentials, and running a command through the application's unit of
//! work ([`Cmd::run`], [`AgentBody::run`]) with its answer as a response.

use super::problem::{ApiError, ApiResult, OperationDoc, Refusal, INTERNAL};
use crate::app::auth::Unauthenticated;
use crate::app::idempotency::Idempotency;
use crate::app::unit::{Answered, App as AppState, Work};
use crate::app::{AgentCtx, Ctx};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use countersign_core::problem::ProblemCode;
use countersign_store::Tx;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// An authenticated human principal with at least one role.
pub struct Auth(pub Ctx);

fn bearer(headers: &HeaderMap) -> ApiResult<&str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token> header"))?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("Authorization header must be Bearer <token>"))
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> ApiResult<Ctx> {
    let token = bearer(headers)?;
    crate::app::auth::authenticate(state, token)
        .await
        .map_err(|e| match e {
            Unauthenticated::UnknownToken => ApiError::unauthorized("the token is not valid"),
            Unauthenticated::NoRole => ApiError::new(
                StatusCode::FORBIDDEN,
                ProblemCode::MissingRole,
                "this user holds no role and can do nothing; an admin must grant one",
            ),
            Unauthenticated::Failed(e) => e.into(),
        })
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        Ok(Auth(authenticate(state, &parts.headers).await?))
    }
}

fn idempotency(parts: &Parts, body: &[u8]) -> ApiResult<Option<Idempotency>> {
    let Some(v) = parts.headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..0x7f).contains(&b)))
        .ok_or_else(|| {
            ApiError::bad_request(
                ProblemCode::InvalidIdempotencyKey,
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
        })?;
    let mut h = Sha256::new();
    h.update(parts.method.as_str().as_bytes());
    h.update([0]);
    h.update(
        parts
            .uri
            .path_and_query()
            .map_or("", |p| p.as_str())
            .as_bytes(),
    );
    h.update([0]);
    h.update(body);
    Ok(Some(Idempotency {
        key: key.to_owned(),
        request_hash: hex::encode(h.finalize()),
    }))
}

async fn body_bytes(req: Request, state: &AppState) -> ApiResult<(Parts, Bytes)> {
    let (parts, body) = req.into_parts();
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
        .await
        .map_err(|e| {
            let status = e.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    status,
                    ProblemCode::BodyTooLarge,
                    "the request body is larger than this endpoint accepts",
                )
            } else {
                ApiError::bad_request(ProblemCode::UnreadableBody, e.body_text())
            }
        })?;
    Ok((parts, bytes))
}

/// A write command: who, its JSON body, and its idempotency key.
pub struct Cmd<T> {
    pub ctx: Ctx,
    pub body: T,
    pub idempotency: Option<Idempotency>,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Cmd<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> ApiResult<Self> {
        let ctx = authenticate(state, req.headers()).await?;
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ok = ct.to_str().is_ok_and(|c| {
                let m = c.split(';').next().unwrap_or("").trim();
                m == "application/json" || m.ends_with("+json")
            });
            if !ok {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ProblemCode::UnsupportedMediaType,
                    "send the body as application/json",
                ));
            }
        }
        let (parts, bytes) = body_bytes(req, state).await?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request(
                ProblemCode::MalformedJson,
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        if contains_nul(&value) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProblemCode::InvalidBody,
                "text in the body must not contain NUL characters",
            ));
        }
        let body = serde_json::from_value::<T>(value).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProblemCode::InvalidBody,
                format!("the body does not fit the schema: {e}"),
            )
        })?;
        let idempotency = idempotency(&parts, &bytes)?;
        Ok(Cmd {
            ctx,
            body,
            idempotency,
        })
    }
}

/// Whether any string (or object key) in a JSON value holds a NUL character, which
/// no backend stores faithfully and no legitimate field needs.
fn contains_nul(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(contains_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// A raw upload (evidence documents).
pub struct Upload {
    pub ctx: Ctx,
    /// The request URI, for query parameters parsed after authentication.
    pub uri: axum::http::Uri,
    pub content: Bytes,
    pub media_type: String,
    pub idempotency: Option<Idempotency>,
}

impl FromRequest<AppState> for Upload {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> ApiResult<Self> {
        let ctx = authenticate(state, req.headers()).await?;
        let (parts, content) = body_bytes(req, state).await?;
        let media_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let idempotency = idempotency(&parts, &content)?;
        Ok(Upload {
            ctx,
            uri: parts.uri.clone(),
            content,
            media_type,
            idempotency,
        })
    }
}

impl<T: Send + 'static> Cmd<T> {
    /// Runs the command in the application's unit of work with its body, and answers
    /// with `status` (or, for a retry with the same `Idempotency-Key`, the first
    /// answer).
    pub async fn run<V, F>(self, state: &AppState, status: StatusCode, work: F) -> ApiResult
    where
        V: Serialize + Send + 'static,
        F: for<'a> FnOnce(T, &'a mut dyn Tx, &'a Ctx) -> Work<'a, V> + Send,
    {
        let Cmd {
            ctx,
            body,
            idempotency,
        } = self;
        let answered = state
            .command(ctx, idempotency, status.as_u16(), move |tx, ctx| {
                work(body, tx, ctx)
            })
            .await?;
        answer(answered)
    }
}

/// A command's answer as a JSON response, marked `Idempotent-Replayed: true` when it
/// answers a retry.
pub fn answer(a: Answered) -> ApiResult {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, a.body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if a.replayed {
        resp.headers_mut().insert(
            "idempotent-replayed",
            header::HeaderValue::from_static("true"),
        );
    }
    Ok(resp)
}

/// A JSON response for queries.
pub fn ok<V: Serialize>(v: V) -> ApiResult<Response> {
    Ok(Json(v).into_response())
}

/// A JSON response, marked `Idempotent-Replayed: true` when it answers a retry.
pub fn ok_replayed<V: Serialize>(v: V, replayed: bool) -> ApiResult<Response> {
    let mut resp = Json(v).into_response();
    if replayed {
        resp.headers_mut().insert(
            "idempotent-replayed",
            header::HeaderValue::from_static("true"),
        );
    }
    Ok(resp)
}

impl Upload {
    /// The query parameters, parsed now that the caller is authenticated.
    pub fn query<T: DeserializeOwned>(&self) -> ApiResult<T> {
        axum::extract::Query::<T>::try_from_uri(&self.uri)
            .map(|q| q.0)
            .map_err(|e| ApiError::bad_request(ProblemCode::InvalidQuery, e.body_text()))
    }
}

/// Query parameters, with a problem (not plain text) when they do not parse.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let axum::extract::Query(v) = axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(ProblemCode::InvalidQuery, e.body_text()))?;
        Ok(Q(v))
    }
}

/// A single `{id}` (or `{digest}`) path segment. Identifiers are short visible
/// strings; anything else cannot name a stored object, so it is a 404 problem.
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let not_found = || {
            ApiError::new(
                StatusCode::NOT_FOUND,
                ProblemCode::NotFound,
                "no object has this id",
            )
        };
        let axum::extract::Path(id) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| not_found())?;
        if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
            return Err(not_found());
        }
        Ok(PathId(id))
    }
}

/// A `{digest}` path segment: `sha256:<hex>`. Not an identifier at all is a 404, like
/// `PathId`; an identifier that is no digest is a 422 `invalid-digest`.
pub struct PathDigest(pub countersign_core::Digest);

impl<S: Send + Sync> FromRequestParts<S> for PathDigest {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let PathId(s) = PathId::from_request_parts(parts, state).await?;
        s.parse()
            .map(PathDigest)
            .map_err(|e: countersign_core::canonical::DigestParseError| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ProblemCode::InvalidDigest,
                    e.to_string(),
                )
            })
    }
}

// ---------- agents (issue 5) ----------

/// A request body from a caller that is not a human API-token holder: an agent
/// authenticating inside the body with its client assertion (RFC 7523), or a target
/// system introspecting a token. JSON, or `application/x-www-form-urlencoded` as OAuth
/// clients send. Carries the `Host`, for the token endpoint URL as an audience.
pub struct AgentBody<T> {
    pub body: T,
    pub host: Option<String>,
    pub idempotency: Option<Idempotency>,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for AgentBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> ApiResult<Self> {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);
        let form = req.headers().get(header::CONTENT_TYPE).is_some_and(|c| {
            c.to_str()
                .is_ok_and(|c| c.starts_with("application/x-www-form-urlencoded"))
        });
        let (parts, bytes) = body_bytes(req, state).await?;
        let idempotency = idempotency(&parts, &bytes)?;
        let invalid = |e: String| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProblemCode::InvalidBody,
                format!("the body does not fit the schema: {e}"),
            )
        };
        let body = if form {
            let req = Request::builder()
                .method("POST")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(bytes))
                .map_err(|e| invalid(e.to_string()))?;
            axum::Form::<T>::from_request(req, state)
                .await
                .map(|f| f.0)
                .map_err(|e| invalid(e.body_text()))?
        } else {
            let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::bad_request(
                    ProblemCode::MalformedJson,
                    format!("the body is not valid JSON: {e}"),
                )
            })?;
            if contains_nul(&value) {
                return Err(invalid("text must not contain NUL characters".into()));
            }
            serde_json::from_value::<T>(value).map_err(|e| invalid(e.to_string()))?
        };
        Ok(AgentBody {
            body,
            host,
            idempotency,
        })
    }
}

/// An AuthZEN 1.0 request's body: an [`AgentBody`], except that a body that is JSON
/// but does not fit is refused 400 Bad Request, as AuthZEN answers a request it cannot
/// read (countersign's own API says 422).
pub struct AuthzenBody<T>(pub AgentBody<T>);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for AuthzenBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> ApiResult<Self> {
        AgentBody::from_request(req, state)
            .await
            .map(AuthzenBody)
            .map_err(|ApiError::Problem(mut p)| {
                if p.status == StatusCode::UNPROCESSABLE_ENTITY.as_u16() {
                    p.status = StatusCode::BAD_REQUEST.as_u16();
                    p.title = "Bad Request".into();
                }
                ApiError::Problem(p)
            })
    }
}

/// The caller's `X-Request-ID`, if it sent one (AuthZEN's HTTPS binding echoes it).
pub struct RequestId(pub Option<axum::http::HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(parts.headers.get("x-request-id").cloned()))
    }
}

impl<T: Send + 'static> AgentBody<T> {
    /// Runs an agent's command, authenticated by `assertion` (its client assertion,
    /// checked and its `jti` recorded inside the command's transaction), and answers
    /// `status` with the view.
    pub async fn run<V, F>(
        self,
        state: &AppState,
        assertion: &str,
        status: StatusCode,
        work: F,
    ) -> ApiResult
    where
        V: Serialize + Send + 'static,
        F: for<'a> FnOnce(T, &'a mut dyn Tx, &'a AgentCtx) -> Work<'a, V> + Send,
    {
        let AgentBody { body, host, .. } = self;
        let view = state
            .agent_command(assertion, host.as_deref(), move |tx, actx| {
                work(body, tx, actx)
            })
            .await?;
        Ok((status, Json(view)).into_response())
    }
}

// ---------- runtime decisions (issue 6) ----------

/// An agent presenting its just-in-time credential as a bearer token, resolved for
/// decisions (from the runtime's cache when it can be).
pub struct Credential(pub std::sync::Arc<crate::app::runtime::Principal>);

impl FromRequestParts<AppState> for Credential {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let token = bearer(&parts.headers).map_err(|_| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                ProblemCode::InvalidCredential,
                "this route needs the agent's just-in-time credential: Authorization: Bearer <JWT>",
            )
        })?;
        crate::app::decide::principal(state, token)
            .await?
            .map(Credential)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ProblemCode::InvalidCredential,
                    "the credential is not active: unknown, expired, revoked, or its agent or grants are no longer active",
                )
            })
    }
}

// ---------- what each extractor documents ----------

/// A part of a request that documents itself: the problems it can refuse with, and
/// whether the operation honours `Idempotency-Key`. Every handler argument implements
/// it, so the OpenAPI document derives each operation's problem responses from the
/// extractors the handler takes (`api::router`), and a new route cannot forget them.
pub trait Documented {
    fn document(doc: &mut OperationDoc);
}

/// A handler whose every argument is `Documented`.
pub trait DocumentedHandler<Args> {
    fn document(&self, doc: &mut OperationDoc);
}

macro_rules! documented_handler {
    ($($arg:ident),*) => {
        impl<F, Fut, $($arg,)*> DocumentedHandler<($($arg,)*)> for F
        where
            F: Fn($($arg),*) -> Fut,
            $($arg: Documented,)*
        {
            #[allow(unused_variables)]
            fn document(&self, doc: &mut OperationDoc) {
                $(<$arg as Documented>::document(doc);)*
            }
        }
    };
}

documented_handler!();
documented_handler!(A1);
documented_handler!(A1, A2);
documented_handler!(A1, A2, A3);
documented_handler!(A1, A2, A3, A4);
documented_handler!(A1, A2, A3, A4, A5);
documented_handler!(A1, A2, A3, A4, A5, A6);

/// What `handler` documents.
pub fn document_handler<Args, H: DocumentedHandler<Args>>(handler: &H) -> OperationDoc {
    let mut doc = OperationDoc::default();
    handler.document(&mut doc);
    doc
}

/// `authenticate`: no, a malformed or an unknown token; a user without a role.
const AUTH: &[Refusal] = &[
    Refusal::new(StatusCode::UNAUTHORIZED, ProblemCode::Unauthenticated),
    Refusal::new(StatusCode::FORBIDDEN, ProblemCode::MissingRole),
    INTERNAL,
];
/// `body_bytes`.
const BODY: &[Refusal] = &[
    Refusal::new(StatusCode::BAD_REQUEST, ProblemCode::UnreadableBody),
    Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, ProblemCode::BodyTooLarge),
];
/// A JSON body against its strict schema.
const JSON_BODY: &[Refusal] = &[
    Refusal::new(StatusCode::BAD_REQUEST, ProblemCode::MalformedJson),
    Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, ProblemCode::InvalidBody),
];
/// `idempotency`: a key that is not 1 to 255 visible ASCII characters.
const BAD_IDEMPOTENCY_KEY: &[Refusal] = &[Refusal::new(
    StatusCode::BAD_REQUEST,
    ProblemCode::InvalidIdempotencyKey,
)];
/// The unit of work (`App::command`): the key was used for a different request.
const IDEMPOTENCY_REUSED: &[Refusal] = &[Refusal::new(
    StatusCode::UNPROCESSABLE_ENTITY,
    ProblemCode::IdempotencyKeyReused,
)];
const QUERY: &[Refusal] = &[Refusal::new(
    StatusCode::BAD_REQUEST,
    ProblemCode::InvalidQuery,
)];
const PATH_ID: &[Refusal] = &[Refusal::new(StatusCode::NOT_FOUND, ProblemCode::NotFound)];

/// The handler reads or writes the store, which can fail (nothing is changed then).
impl<T> Documented for axum::extract::State<T> {
    fn document(doc: &mut OperationDoc) {
        doc.refuses(&[INTERNAL]);
    }
}

impl Documented for Auth {
    fn document(doc: &mut OperationDoc) {
        doc.refuses(AUTH);
    }
}

/// Every `Cmd` handler runs its command with `Cmd::run`, which applies the key.
impl<T> Documented for Cmd<T> {
    fn document(doc: &mut OperationDoc) {
        doc.refuses(AUTH);
        doc.refuses(&[Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemCode::UnsupportedMediaType,
        )]);
        doc.refuses(BODY);
        doc.refuses(JSON_BODY);
        doc.refuses(BAD_IDEMPOTENCY_KEY);
        doc.refuses(IDEMPOTENCY_REUSED);
        doc.honours_idempotency_key();
    }
}

/// An upload's query is parsed by `Upload::query`; its handler runs its command with
/// the key.
impl Documented for Upload {
    fn document(doc: &mut OperationDoc) {
        doc.refuses(AUTH);
        doc.refuses(BODY);
        doc.refuses(QUERY);
        doc.refuses(BAD_IDEMPOTENCY_KEY);
        doc.refuses(IDEMPOTENCY_REUSED);
        doc.honours_idempotency_key();
    }
}

impl<T> Documented for Q<T> {
    fn document(doc: &mut OperationDoc) {
        doc.refuses(QUERY);
    }
}

impl Documented for PathId {
    fn document(doc: &mut OperationDoc) {
        doc.refuses(PATH_ID);
    }
}

impl Documented for PathDigest {
    fn document(doc: &mut OperationDoc) {
        doc.refuses(PATH_ID);
        doc.refuses(&[Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::InvalidDigest,
        )]);
    }
}

/// The key is checked, but only handlers that pass it on honour it (they document
/// the header themselves): an agent's body is no human command.
impl<T> Documented for AgentBody<T> {
    fn document(doc: &mut OperationDoc) {
        doc.refuses(BODY);
        doc.refuses(JSON_BODY);
        doc.refuses(BAD_IDEMPOTENCY_KEY);
    }
}

impl<T> Documented for AuthzenBody<T> {
    fn document(doc: &mut OperationDoc) {
        doc.refuses(BODY);
        doc.refuses(&[
            Refusal::new(StatusCode::BAD_REQUEST, ProblemCode::MalformedJson),
            Refusal::new(StatusCode::BAD_REQUEST, ProblemCode::InvalidBody),
        ]);
        doc.refuses(BAD_IDEMPOTENCY_KEY);
        // The decision path applies the key (a reused one is refused 422).
        doc.refuses(IDEMPOTENCY_REUSED);
    }
}

/// A handler that takes an extractor's refusal to answer it in its own way (with a
/// header added, say) refuses the same.
impl<T: Documented, E> Documented for Result<T, E> {
    fn document(doc: &mut OperationDoc) {
        T::document(doc);
    }
}

/// Read, never refused.
impl Documented for RequestId {
    fn document(_: &mut OperationDoc) {}
}

impl Documented for Credential {
    fn document(doc: &mut OperationDoc) {
        doc.refuses(&[
            Refusal::new(StatusCode::UNAUTHORIZED, ProblemCode::InvalidCredential),
            INTERNAL,
        ]);
    }
}

/// A `sha256:<hex>` digest from a path or query, or a 422 problem.
pub fn parse_digest(s: &str) -> ApiResult<countersign_core::Digest> {
    s.parse()
        .map_err(|e: countersign_core::canonical::DigestParseError| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProblemCode::InvalidDigest,
                e.to_string(),
            )
        })
}
