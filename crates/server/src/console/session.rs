//! Who is looking at a console page, and whether a form may change anything.
//!
//! - [`Viewer`] reads the `cs_session` cookie and asks the application whose live
//!   session it is. Without one, a page (GET) redirects to the sign-in page and comes
//!   back afterwards; a form (POST) is refused with a page saying the session ended.
//! - [`Posted`] is a signed-in person's form: refused when the browser says it came
//!   from another site (`Sec-Fetch-Site`, `Origin`), and unless it carries the
//!   session's CSRF token.
//! - Sign-in through the company's OpenID Connect provider (authorization code with
//!   PKCE; the flow's secrets wait in a ten-minute `cs_oidc` cookie), sign-in with an
//!   API token (unless turned off), and sign-out.
//!
//! The cookie is HttpOnly, SameSite=Lax, scoped to `/console`, and `Secure` when the
//! request came over TLS (a proxy's `X-Forwarded-Proto: https`).

use super::page::{render, Refusal, BASE};
use super::view::SignInPage;
use crate::app::sessions::{self, NoSession};
use crate::app::unit::App as AppState;
use crate::app::users::random_hex;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use countersign_core::problem::ProblemCode;
use serde::Deserialize;

const SESSION_COOKIE: &str = "cs_session";
/// The sign-in form's own CSRF token, before there is a session (double submit).
const SIGN_IN_COOKIE: &str = "cs_signin";
/// An OpenID Connect sign-in under way: its state, nonce and PKCE verifier.
const OIDC_COOKIE: &str = "cs_oidc";
/// How long a sign-in at the provider may take.
const OIDC_FLOW_SECONDS: i64 = 600;
/// Largest console form.
const FORM_LIMIT: usize = 64 * 1024;

pub use crate::app::sessions::Viewer;

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn behind_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// A `Set-Cookie` value for the console's cookies.
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if behind_tls(headers) { "; Secure" } else { "" };
    let v =
        format!("{name}={value}; Path={BASE}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Equal without an early exit, so the comparison's time says nothing about the token.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A local console path to come back to after signing in; anything else is the inbox.
fn local_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with(BASE) && !n.contains("//") && !n.contains('\\') => n.to_owned(),
        _ => BASE.to_owned(),
    }
}

fn sign_in_url(next: &str, why: Option<&str>) -> String {
    let mut url = format!("{BASE}/sign-in?next={}", urlencode(next));
    if let Some(w) = why {
        url.push_str("&why=");
        url.push_str(w);
    }
    url
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Refuses a request the browser says came from another site.
fn same_site(headers: &HeaderMap) -> Result<(), Refusal> {
    let cross = || {
        Refusal::new(
            StatusCode::FORBIDDEN,
            ProblemCode::CrossSiteRequest.as_str(),
            "This form was sent from another site, so it was refused; nothing was changed. \
             Open the console page and submit the form from there.",
        )
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return Err(cross());
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, h)| h.as_bytes());
        if origin_host.is_none() || origin_host != host {
            return Err(cross());
        }
    }
    Ok(())
}

fn no_session(parts: &Parts, why: &NoSession) -> Response {
    let why_word = match why {
        NoSession::Expired => Some("expired"),
        NoSession::Ended => Some("ended"),
        _ => None,
    };
    if let NoSession::Failed(e) = why {
        tracing::error!(error = %e, "cannot read a console session");
    }
    if parts.method == Method::GET || parts.method == Method::HEAD {
        // The console is nested under BASE, so the full path is the original URI's.
        let here = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or(&parts.uri, |o| &o.0)
            .path_and_query()
            .map_or(BASE.to_owned(), |p| p.to_string());
        // An htmx refresh follows the sign-in page as a whole page, not inside a panel.
        let next = if parts.headers.contains_key("hx-request") {
            BASE.to_owned()
        } else {
            here
        };
        let url = sign_in_url(&next, why_word);
        if parts.headers.contains_key("hx-request") {
            let mut r = StatusCode::OK.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert("hx-redirect", v);
            }
            return r;
        }
        return Redirect::to(&url).into_response();
    }
    Refusal::new(
        StatusCode::UNAUTHORIZED,
        ProblemCode::SessionEnded.as_str(),
        "Your session has ended, so this was not sent and nothing was changed. \
         Sign in again and repeat it.",
    )
    .into_response()
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(no_session(parts, &NoSession::Unknown));
        };
        sessions::resolve(app, secret)
            .await
            .map_err(|why| no_session(parts, &why))
    }
}

/// A signed-in person's form, sent from the console itself with the session's CSRF
/// token; its fields in order.
pub struct Posted {
    pub viewer: Viewer,
    pub fields: Vec<(String, String)>,
}

impl Posted {
    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn form_fields(req: Request) -> Result<Vec<(String, String)>, Refusal> {
    let bytes = axum::body::to_bytes(req.into_body(), FORM_LIMIT)
        .await
        .map_err(|_| {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ProblemCode::BodyTooLarge.as_str(),
                "The form was too large to accept.",
            )
        })?;
    serde_urlencoded::from_bytes(&bytes).map_err(|_| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::UnreadableBody.as_str(),
            "The form could not be read; reload the page and try again.",
        )
    })
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        same_site(&parts.headers).map_err(IntoResponse::into_response)?;
        let viewer = Viewer::from_request_parts(&mut parts, app).await?;
        let fields = form_fields(Request::from_parts(parts, body))
            .await
            .map_err(IntoResponse::into_response)?;
        let token = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str());
        if !token.is_some_and(|t| same(t, &viewer.csrf)) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                ProblemCode::CrossSiteRequest.as_str(),
                "This form did not carry the token of your session (it may be from an older \
                 page or another site), so it was refused; nothing was changed. Reload the \
                 page and try again.",
            )
            .into_response());
        }
        Ok(Posted { viewer, fields })
    }
}

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    why: Option<String>,
}

fn sign_in_form(
    app: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    message: Option<String>,
) -> Response {
    let token = cookie(headers, SIGN_IN_COOKIE)
        .filter(|t| t.len() == 32)
        .map_or_else(|| random_hex(16), str::to_owned);
    let page = SignInPage {
        csrf: token.clone(),
        next: next.to_owned(),
        message,
        provider: app.sign_in.oidc.as_ref().map(|o| o.config.provider_name()),
        provider_href: format!("{BASE}/sign-in/oidc?next={}", urlencode(next)),
        token: app.sign_in.token,
    };
    let mut resp = render(status, &page).unwrap_or_else(IntoResponse::into_response);
    resp.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(headers, SIGN_IN_COOKIE, &token, 3600),
    );
    resp
}

/// `GET /console/sign-in`: the sign-in page.
pub async fn sign_in_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Response {
    let message = match q.why.as_deref() {
        Some("expired") => Some("Your session expired. Sign in again to continue.".to_owned()),
        Some("ended") => Some("You were signed out. Sign in again to continue.".to_owned()),
        Some("fresh") => {
            Some("This approval needs a recent sign-in. Sign in again, then repeat it.".to_owned())
        }
        _ => None,
    };
    sign_in_form(
        &app,
        &headers,
        StatusCode::OK,
        &local_next(q.next.as_deref()),
        message,
    )
}

/// `POST /console/sign-in`: an API token becomes a session.
pub async fn sign_in(State(app): State<AppState>, req: Request) -> Response {
    let headers = req.headers().clone();
    if let Err(r) = same_site(&headers) {
        return r.into_response();
    }
    let fields = match form_fields(req).await {
        Ok(f) => f,
        Err(r) => return r.into_response(),
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let next = local_next(field("next"));
    let form_ok = match (cookie(&headers, SIGN_IN_COOKIE), field("csrf")) {
        (Some(c), Some(f)) => same(c, f),
        _ => false,
    };
    if !form_ok {
        return sign_in_form(
            &app,
            &headers,
            StatusCode::FORBIDDEN,
            &next,
            Some("The sign-in form had expired. Try again.".into()),
        );
    }
    let token = field("token").unwrap_or("").trim();
    if token.is_empty() {
        return sign_in_form(
            &app,
            &headers,
            StatusCode::BAD_REQUEST,
            &next,
            Some("Paste your API token to sign in.".into()),
        );
    }
    match sessions::sign_in_with_token(&app, token).await {
        Ok((session, secret)) => signed_in(&headers, &session, &secret, &next, SIGN_IN_COOKIE),
        Err(e) => {
            let r = Refusal::from(e);
            sign_in_form(&app, &headers, r.status, &next, Some(r.sentence))
        }
    }
}

/// The answer to a sign-in: the session cookie, the sign-in's own cookie cleared, and
/// on to `next`.
fn signed_in(
    headers: &HeaderMap,
    session: &countersign_store::records::SessionRecord,
    secret: &str,
    next: &str,
    spent_cookie: &str,
) -> Response {
    let age = (session.expires_at - session.created_at).num_seconds();
    let mut resp = Redirect::to(next).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(headers, SESSION_COOKIE, secret, age),
    );
    h.append(header::SET_COOKIE, set_cookie(headers, spent_cookie, "", 0));
    resp
}

/// Before a console approval: when the tier wants a more recent sign-in than the
/// viewer's, the answer is a redirect that signs them in again (through the provider
/// with `prompt=login` for a provider session, the sign-in page for a token one) and
/// comes back to `back_to`, the page the form is on; nothing was sent.
pub async fn recent_sign_in(
    app: &AppState,
    viewer: &Viewer,
    of: sessions::Approving,
    back_to: &str,
) -> Result<(), Response> {
    match sessions::require_recent_sign_in(app, viewer, of).await {
        Ok(()) => Ok(()),
        Err(crate::app::AppError::Forbidden {
            code: ProblemCode::FreshSignInRequired,
            ..
        }) => {
            let url = if viewer.session.method == countersign_core::session::SignInMethod::Oidc
                && app.sign_in.oidc.is_some()
            {
                format!("{BASE}/sign-in/oidc?fresh=1&next={}", urlencode(back_to))
            } else {
                sign_in_url(back_to, Some("fresh"))
            };
            Err(Redirect::to(&url).into_response())
        }
        Err(e) => Err(Refusal::from(e).into_response()),
    }
}

#[derive(Deserialize)]
pub struct OidcStartQuery {
    next: Option<String>,
    fresh: Option<String>,
}

/// `GET /console/sign-in/oidc`: off to the identity provider, the flow's secrets in
/// a short-lived cookie.
pub async fn oidc_start(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<OidcStartQuery>,
) -> Response {
    let next = local_next(q.next.as_deref());
    let Some(oidc) = app.sign_in.oidc.clone() else {
        return sign_in_form(
            &app,
            &headers,
            StatusCode::NOT_FOUND,
            &next,
            Some("No identity provider is configured on this server.".into()),
        );
    };
    let fresh = q.fresh.as_deref() == Some("1");
    match oidc.begin(&next, fresh, app.now()).await {
        Ok((flow, url)) => {
            let mut resp = Redirect::to(&url).into_response();
            resp.headers_mut().insert(
                header::SET_COOKIE,
                set_cookie(&headers, OIDC_COOKIE, &flow.to_cookie(), OIDC_FLOW_SECONDS),
            );
            resp
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot start an OpenID Connect sign-in");
            sign_in_form(
                &app,
                &headers,
                StatusCode::BAD_GATEWAY,
                &next,
                Some(format!(
                    "Signing in with {} failed: {e}.",
                    oidc.config.provider_name()
                )),
            )
        }
    }
}

#[derive(Deserialize)]
pub struct OidcCallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /console/oidc/callback`: the provider sends the browser back here.
pub async fn oidc_callback(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<OidcCallbackQuery>,
) -> Response {
    let flow = cookie(&headers, OIDC_COOKIE).and_then(crate::oidc::Flow::from_cookie);
    let next = flow
        .as_ref()
        .map_or(BASE.to_owned(), |f| local_next(Some(&f.next)));
    let refuse = |status: StatusCode, message: String| {
        let mut resp = sign_in_form(&app, &headers, status, &next, Some(message));
        resp.headers_mut()
            .append(header::SET_COOKIE, set_cookie(&headers, OIDC_COOKIE, "", 0));
        resp
    };
    let Some(oidc) = app.sign_in.oidc.clone() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "No identity provider is configured on this server.".into(),
        );
    };
    let provider = oidc.config.provider_name();
    if let Some(error) = q.error {
        let why = q.error_description.unwrap_or(error);
        return refuse(
            StatusCode::FORBIDDEN,
            format!("{provider} did not sign you in: {why}."),
        );
    }
    let Some(flow) = flow else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started here, or took longer than ten minutes. Start again."
                .into(),
        );
    };
    let (code, state) = (q.code.unwrap_or_default(), q.state.unwrap_or_default());
    let identity = match oidc.finish(&flow, &code, &state, app.now()).await {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "an OpenID Connect sign-in failed");
            return refuse(
                StatusCode::FORBIDDEN,
                format!("Signing in with {provider} failed: {e}."),
            );
        }
    };
    // A fresh sign-in of the person already signed in moves their session's sign-in time.
    if flow.fresh {
        if let Some(viewer) = match cookie(&headers, SESSION_COOKIE) {
            Some(secret) => sessions::resolve(&app, secret).await.ok(),
            None => None,
        } {
            if sessions::is_viewer(&app, &viewer, &identity)
                .await
                .unwrap_or(false)
            {
                return match sessions::reauthenticate(&app, viewer, &identity).await {
                    Ok(()) => {
                        let mut resp = Redirect::to(&next).into_response();
                        resp.headers_mut()
                            .append(header::SET_COOKIE, set_cookie(&headers, OIDC_COOKIE, "", 0));
                        resp
                    }
                    Err(e) => {
                        let r = Refusal::from(e);
                        refuse(r.status, r.sentence)
                    }
                };
            }
        }
    }
    match sessions::sign_in_with_identity(&app, identity).await {
        Ok((session, secret)) => signed_in(&headers, &session, &secret, &next, OIDC_COOKIE),
        Err(e) => {
            let r = Refusal::from(e);
            refuse(r.status, r.sentence)
        }
    }
}

/// `POST /console/sign-out`.
pub async fn sign_out(State(app): State<AppState>, headers: HeaderMap, form: Posted) -> Response {
    match sessions::sign_out(&app, form.viewer).await {
        Ok(()) => {
            let mut resp = Redirect::to(&sign_in_url(BASE, Some("ended"))).into_response();
            resp.headers_mut().insert(
                header::SET_COOKIE,
                set_cookie(&headers, SESSION_COOKIE, "", 0),
            );
            resp
        }
        Err(e) => Refusal::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_console_paths_are_followed_after_sign_in() {
        assert_eq!(
            local_next(Some("/console/releases/rel_1")),
            "/console/releases/rel_1"
        );
        assert_eq!(local_next(Some("https://evil.example/")), "/console");
        assert_eq!(local_next(Some("/console//evil.example")), "/console");
        assert_eq!(local_next(Some("/v1/me")), "/console");
        assert_eq!(local_next(None), "/console");
    }

    #[test]
    fn a_form_from_another_site_is_refused() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_site(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_site(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(same_site(&h).is_err());
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(same_site(&h).is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_site(&h).is_ok());
    }
}
