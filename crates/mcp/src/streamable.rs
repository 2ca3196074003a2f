//! The Streamable HTTP reverse proxy (`countersign mcp serve`): fronts the config's
//! remote MCP servers at `/mcp/<name>`. Clients authenticate with a bearer token
//! countersign issued (an agent's just-in-time credential, introspected before any
//! request is relayed; a `tools/call` with a token already introspected skips that,
//! since its decision checks the token at countersign anyway, so a revoked credential
//! is denied there); it is an OAuth protected resource: a request without a valid token
//! gets 401 with `WWW-Authenticate: Bearer resource_metadata="…"`, and the RFC 9728
//! metadata is at `/.well-known/oauth-protected-resource/mcp/<name>`. The client's
//! token is never forwarded upstream; each `tools/call` is decided as the token's
//! agent (`gateway.rs`, one per server, agent and task, so a retry finds its
//! approval), everything else is relayed (POST bodies, the GET event stream, DELETE)
//! with the MCP headers, and responses stream back as they come, JSON or SSE. An
//! allowed call's reply is read on its way through for the outcome.

use crate::client::{Credential, HttpCountersign};
use crate::config::{GatewayConfig, ServerConfig};
use crate::decision::lost;
use crate::error::{chain, McpError};
use crate::gateway::{Answer, Gateway, Settings};
use crate::wire::{self, ClientHello, ErrorKind, FromClient, RpcId};
use bytes::Bytes;
use countersign_api::IntrospectionView;
use countersign_core::Digest;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type Body = BoxBody<Bytes, Infallible>;

/// The largest request body relayed.
const MAX_BODY: usize = 8 << 20;

/// Request headers relayed upstream (never `Authorization`).
const REQUEST_HEADERS: &[&str] = &[
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];
/// Response headers relayed back.
const RESPONSE_HEADERS: &[&str] = &["content-type", "mcp-session-id", "cache-control"];

/// How the HTTP gateway is set up.
pub struct HttpSettings {
    pub config: GatewayConfig,
    /// The countersign server's URL.
    pub countersign: String,
    /// This gateway's public URL (what clients call), for the metadata.
    pub public_url: String,
    /// Where people answer step-ups.
    pub console: String,
    /// The client for countersign and the upstreams (no overall timeout: event
    /// streams stay open).
    pub http: reqwest::Client,
}

type Key = (String, String, String);
type Agents = HashMap<Key, (Arc<Gateway<HttpCountersign>>, Credential)>;

/// The running HTTP gateway.
pub struct HttpGateway {
    s: HttpSettings,
    /// One gateway per server, agent and task (so a retry finds its approval).
    gateways: Mutex<Agents>,
    /// What each session's client declared in `initialize` (before 2026-07-28).
    hellos: Mutex<HashMap<String, ClientHello>>,
    /// Tokens introspected as active: whose they are and until when (by digest).
    tokens: Mutex<HashMap<Digest, (Agent, i64)>>,
}

/// The most sessions whose `initialize` is remembered; beyond it all are forgotten
/// and their clients answered as if they could not elicit (a tool error naming the
/// approval page), which every client understands.
const MAX_SESSIONS: usize = 10_000;

impl HttpGateway {
    pub fn new(s: HttpSettings) -> Arc<Self> {
        Arc::new(Self {
            s,
            gateways: Mutex::new(HashMap::new()),
            hellos: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Notes whose a token is, until its expiry (unix seconds), by its digest.
    fn remember_token(&self, token: &str, who: &Agent, exp: i64) {
        let mut k = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if k.len() >= MAX_SESSIONS {
            k.clear();
        }
        k.insert(Digest::of(token.as_bytes()), (who.clone(), exp));
    }

    /// Whose an unexpired token is, if it was introspected before.
    fn known(&self, token: &str) -> Option<Agent> {
        let now = chrono::Utc::now().timestamp();
        let k = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        k.get(&Digest::of(token.as_bytes()))
            .filter(|(_, exp)| *exp > now)
            .map(|(who, _)| who.clone())
    }

    fn remember_hello(&self, session: &str, hello: ClientHello) {
        let mut h = self.hellos.lock().unwrap_or_else(|p| p.into_inner());
        if h.len() >= MAX_SESSIONS {
            h.clear();
        }
        h.insert(session.to_owned(), hello);
    }

    /// What the client of `session` declared in `initialize`, if it is known.
    fn hello(&self, session: Option<&str>) -> ClientHello {
        let h = self.hellos.lock().unwrap_or_else(|p| p.into_inner());
        session.and_then(|s| h.get(s)).cloned().unwrap_or_default()
    }

    /// The gateway for this server and the token's agent and task, using `token`.
    fn gateway(
        &self,
        server: &ServerConfig,
        who: &Agent,
        token: &str,
    ) -> Arc<Gateway<HttpCountersign>> {
        let key = (server.name.clone(), who.agent.clone(), who.task.clone());
        let mut all = self.gateways.lock().unwrap_or_else(|p| p.into_inner());
        let (g, credential) = all.entry(key).or_insert_with(|| {
            let credential = Credential::new(token.to_owned());
            let g = Gateway::new(
                Settings {
                    server: server.clone(),
                    task: self.s.config.task.clone(),
                    console: self.s.console.clone(),
                    approval_wait: self.s.config.approval_wait,
                },
                HttpCountersign::new(&self.s.countersign, credential.clone(), self.s.http.clone()),
            );
            (Arc::new(g), credential)
        });
        credential.set(token.to_owned());
        g.clone()
    }

    fn metadata_url(&self, name: &str) -> String {
        format!(
            "{}/.well-known/oauth-protected-resource/mcp/{name}",
            self.s.public_url.trim_end_matches('/')
        )
    }
}

/// Who a valid token speaks for.
#[derive(Clone)]
struct Agent {
    agent: String,
    task: String,
}

/// Serves until `shutdown` completes.
pub async fn serve(
    gw: Arc<HttpGateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), McpError> {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted.map_err(|source| McpError::Io {
                what: "accept a connection",
                source,
            })?,
        };
        // Answers are small and come in pieces (a streamed reply): without this,
        // Nagle's algorithm holds each back for the client's delayed ACK (~40 ms).
        let _ = stream.set_nodelay(true);
        let gw = gw.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(gw.clone(), req));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    full(
        status,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

fn problem(status: StatusCode, detail: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({"status": status.as_u16(), "detail": detail}),
    )
}

async fn handle(
    gw: Arc<HttpGateway>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    if let Some(name) = path.strip_prefix("/.well-known/oauth-protected-resource/mcp/") {
        if gw.s.config.servers.contains_key(name) && req.method() == Method::GET {
            let resource = format!("{}/mcp/{name}", gw.s.public_url.trim_end_matches('/'));
            return Ok(json(
                StatusCode::OK,
                &serde_json::json!({
                    "resource": resource,
                    "authorization_servers": [gw.s.countersign],
                    "bearer_methods_supported": ["header"],
                    "resource_name": format!("countersign MCP gateway: {name}"),
                }),
            ));
        }
        return Ok(problem(StatusCode::NOT_FOUND, "no such MCP server"));
    }
    let Some(name) = path.strip_prefix("/mcp/") else {
        return Ok(problem(
            StatusCode::NOT_FOUND,
            "MCP servers are at /mcp/<name>",
        ));
    };
    let Some(server) = gw.s.config.servers.get(name).filter(|s| s.url.is_some()) else {
        return Ok(problem(StatusCode::NOT_FOUND, "no such MCP server"));
    };
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let method = req.method().clone();
    let headers = req.headers().clone();
    if token.is_some() && ![Method::GET, Method::DELETE, Method::POST].contains(&method) {
        return Ok(problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST, GET or DELETE",
        ));
    }
    let body = if token.is_some() && method == Method::POST {
        match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return Ok(problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the body is too large",
                ))
            }
        }
    } else {
        Bytes::new()
    };
    // A tools/call is decided with the token, which countersign checks then (a
    // revoked or expired credential is refused there, and the call denied), so a
    // token already known needs no introspection first; anything else is relayed
    // only after its token is introspected now.
    let call = method == Method::POST && wire::is_tool_call(&body);
    let who = match &token {
        None => None,
        Some(t) => match gw.known(t).filter(|_| call) {
            Some(who) => Some(who),
            None => introspect(&gw, t).await,
        },
    };
    let (Some(token), Some(who)) = (token.clone(), who) else {
        let challenge = match token {
            None => format!("Bearer resource_metadata=\"{}\"", gw.metadata_url(name)),
            Some(_) => format!(
                "Bearer error=\"invalid_token\", error_description=\"not an active countersign credential\", resource_metadata=\"{}\"",
                gw.metadata_url(name)
            ),
        };
        let mut r = problem(
            StatusCode::UNAUTHORIZED,
            "a countersign agent credential is required as the bearer token",
        );
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        return Ok(r);
    };
    if method == Method::GET || method == Method::DELETE {
        return Ok(relay(&gw, server, method, &headers, Bytes::new(), None, None).await);
    }
    let version = headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match wire::read_client(&body) {
        Err(m) => Ok(full(
            StatusCode::BAD_REQUEST,
            "application/json",
            m.response,
        )),
        Ok(FromClient::ToolCall { id, call, meta }) => {
            let g = gw.gateway(server, &who, &token);
            match g.decide(&call, meta.gateway_state.as_deref()).await {
                Answer::Forward { action } => Ok(relay(
                    &gw,
                    server,
                    method,
                    &headers,
                    Bytes::from(wire::without_gateway_state(&body)),
                    Some(Watch {
                        gateway: g,
                        action,
                        id,
                    }),
                    None,
                )
                .await),
                other => {
                    let session = headers.get("mcp-session-id").and_then(|v| v.to_str().ok());
                    let hello = gw.hello(session).for_call(&meta, version.as_deref());
                    Ok(full(
                        StatusCode::OK,
                        "application/json",
                        other.reply(&id, &hello).unwrap_or_default(),
                    ))
                }
            }
        }
        Ok(FromClient::Initialize { hello, .. }) => {
            // Before 2026-07-28 a client says what it can do once, in `initialize`;
            // the upstream names the session it starts, and later calls carry it.
            let out = relay(&gw, server, method, &headers, body, None, None).await;
            if let Some(session) = out
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
            {
                gw.remember_hello(session, hello);
            }
            Ok(out)
        }
        Ok(FromClient::Request { method: m, .. }) if m == wire::TOOLS_LIST => {
            let g = gw.gateway(server, &who, &token);
            Ok(relay(&gw, server, method, &headers, body, None, Some(g)).await)
        }
        Ok(_) => Ok(relay(&gw, server, method, &headers, body, None, None).await),
    }
}

/// Asks countersign whether a token is an active credential, and whose.
async fn introspect(gw: &HttpGateway, token: &str) -> Option<Agent> {
    let url = format!(
        "{}/v1/oauth/introspect",
        gw.s.countersign.trim_end_matches('/')
    );
    let resp =
        gw.s.http
            .post(url)
            .timeout(Duration::from_secs(15))
            .json(&serde_json::json!({"token": token}))
            .send()
            .await
            .map_err(|e| tracing::warn!(error = %chain(&e), "cannot introspect a token"))
            .ok()?;
    let v: IntrospectionView = resp.json().await.ok()?;
    match (v.active, v.agent, v.task) {
        (true, Some(agent), Some(task)) => {
            let who = Agent { agent, task };
            gw.remember_token(token, &who, v.exp.unwrap_or(0));
            Some(who)
        }
        _ => None,
    }
}

/// An allowed call whose reply reports the outcome.
struct Watch {
    gateway: Arc<Gateway<HttpCountersign>>,
    action: String,
    id: RpcId,
}

/// The response to send back for an upstream's: its status and the relayed
/// headers; and whether it is an event stream.
fn head(resp: &reqwest::Response) -> (Response<Body>, bool) {
    let mut out = Response::new(Full::new(Bytes::new()).boxed());
    *out.status_mut() = resp.status();
    for h in RESPONSE_HEADERS {
        for v in resp.headers().get_all(*h) {
            out.headers_mut().append(*h, v.clone());
        }
    }
    let sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    (out, sse)
}

/// An event stream with the tool list in it noted (`Gateway::annotate_tools`); every
/// other event as it came.
async fn annotate_events(g: &Gateway<HttpCountersign>, body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body).replace('\r', "");
    let mut out = String::new();
    for event in text.split_inclusive("\n\n") {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        let joined = data.join("\n");
        if wire::tool_names(joined.as_bytes()).is_none() {
            out.push_str(event);
            continue;
        }
        let noted = g.annotate_tools(joined.as_bytes()).await;
        for l in event
            .lines()
            .filter(|l| !l.starts_with("data:") && !l.is_empty())
        {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str("data: ");
        out.push_str(&String::from_utf8_lossy(&noted));
        out.push_str("\n\n");
    }
    out.into_bytes()
}

/// Relays one request upstream and streams the answer back; with `notes`, the
/// answer is a tool list, noted by that gateway.
async fn relay(
    gw: &HttpGateway,
    server: &ServerConfig,
    method: Method,
    headers: &HeaderMap,
    body: Bytes,
    watch: Option<Watch>,
    notes: Option<Arc<Gateway<HttpCountersign>>>,
) -> Response<Body> {
    let url = server.url.clone().unwrap_or_default();
    let mut rb = gw.s.http.request(method, &url).body(body);
    for h in REQUEST_HEADERS {
        for v in headers.get_all(*h) {
            rb = rb.header(*h, v);
        }
    }
    let mut resp = match rb.send().await {
        Ok(r) => r,
        Err(e) => {
            let text = format!(
                "cannot reach the upstream MCP server {}: {}",
                server.name,
                chain(&e.without_url())
            );
            tracing::warn!("{text}");
            if let Some(w) = watch {
                w.gateway.report_outcome(&w.action, &lost(&text)).await;
                return full(
                    StatusCode::BAD_GATEWAY,
                    "application/json",
                    wire::error(Some(&w.id), ErrorKind::Upstream, &text),
                );
            }
            return problem(StatusCode::BAD_GATEWAY, &text);
        }
    };
    let (mut out, sse) = head(&resp);
    if let Some(g) = notes {
        // A tool list is read whole (it is one answer), noted, and sent on.
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_BODY => {
                    body.extend_from_slice(&chunk)
                }
                Ok(Some(_)) => {
                    return problem(
                        StatusCode::BAD_GATEWAY,
                        "the upstream's tool list is too large",
                    )
                }
                Ok(None) => break,
                Err(e) => {
                    let text = format!("the upstream's answer broke off: {}", chain(&e));
                    return problem(StatusCode::BAD_GATEWAY, &text);
                }
            }
        }
        let noted = if sse {
            annotate_events(&g, &body).await
        } else {
            g.annotate_tools(&body).await
        };
        out.headers_mut().remove(header::CONTENT_LENGTH);
        *out.body_mut() = Full::new(Bytes::from(noted)).boxed();
        return out;
    }
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    *out.body_mut() = BodyExt::boxed(ChannelBody(rx));
    tokio::spawn(async move {
        let mut seen = Scan::new(sse);
        let mut reported = false;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if let Some(w) = &watch {
                        if !reported {
                            if let Some(reply) = seen.push(&chunk, &w.id) {
                                reported = true;
                                // Relay first, then report.
                                let _ = tx.send(chunk).await;
                                w.gateway.report(&w.action, &reply).await;
                                continue;
                            }
                        }
                    }
                    if tx.send(chunk).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %chain(&e), "the upstream's answer broke off");
                    break;
                }
            }
        }
        if let Some(w) = watch {
            if !reported {
                match seen.finish(&w.id) {
                    Some(reply) => w.gateway.report(&w.action, &reply).await,
                    None => {
                        let text = "the upstream's answer ended without a reply to the call";
                        w.gateway.report_outcome(&w.action, &lost(text)).await;
                    }
                }
            }
        }
    });
    out
}

/// Finds the reply to one request in a JSON body or an event stream.
struct Scan {
    sse: bool,
    buf: Vec<u8>,
}

impl Scan {
    fn new(sse: bool) -> Self {
        Self {
            sse,
            buf: Vec::new(),
        }
    }

    /// Adds a chunk; the reply to `id` once an event carrying it is complete.
    fn push(&mut self, chunk: &[u8], id: &RpcId) -> Option<crate::message::Reply> {
        if !self.sse {
            self.buf.extend_from_slice(chunk);
            return None;
        }
        // Events end with a blank line; JSON never holds a raw CR, so CRs can go.
        self.buf.extend(chunk.iter().filter(|b| **b != b'\r'));
        loop {
            let end = self.buf.windows(2).position(|w| w == b"\n\n")?;
            let event: Vec<u8> = self.buf.drain(..end + 2).collect();
            let event = String::from_utf8_lossy(&event[..end]);
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if let Some((got, reply)) = wire::read_upstream(data.join("\n").as_bytes()) {
                if &got == id {
                    return Some(reply);
                }
            }
        }
    }

    /// The reply in a whole JSON body.
    fn finish(&mut self, id: &RpcId) -> Option<crate::message::Reply> {
        if self.sse {
            return self.push(b"\n\n", id);
        }
        wire::read_upstream(&self.buf)
            .filter(|(got, _)| got == id)
            .map(|(_, r)| r)
    }
}

/// A response body fed by a channel.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::message::Reply;

    fn id(n: i64) -> RpcId {
        match wire::read_upstream(
            format!(r#"{{"jsonrpc":"2.0","id":{n},"result":{{}}}}"#).as_bytes(),
        ) {
            Some((id, _)) => id,
            None => unreachable!(),
        }
    }

    #[test]
    fn the_reply_is_found_in_an_event_stream_split_anywhere() {
        let stream = "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[],\"isError\":true}}\r\n\r\n";
        for split in [1, 20, 60, stream.len() - 1] {
            let mut scan = Scan::new(true);
            let (a, b) = stream.as_bytes().split_at(split);
            let found = scan.push(a, &id(7)).or_else(|| scan.push(b, &id(7)));
            assert!(
                matches!(found, Some(Reply::Result { is_error: true, .. })),
                "split at {split}"
            );
        }
        let wide = "data: {\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"é\"}]}}\n\n";
        let at = wide.find('é').unwrap() + 1;
        let mut scan = Scan::new(true);
        assert!(scan.push(&wide.as_bytes()[..at], &id(9)).is_none());
        assert!(
            scan.push(&wide.as_bytes()[at..], &id(9)).is_some(),
            "a character split across chunks"
        );
        let mut other = Scan::new(true);
        assert!(other.push(stream.as_bytes(), &id(8)).is_none());
    }

    #[test]
    fn the_reply_is_read_from_a_whole_json_body() {
        let mut scan = Scan::new(false);
        assert!(scan.push(br#"{"jsonrpc":"2.0","id":3,"#, &id(3)).is_none());
        assert!(scan.push(br#""result":{"content":[]}}"#, &id(3)).is_none());
        assert!(matches!(
            scan.finish(&id(3)),
            Some(Reply::Result {
                is_error: false,
                ..
            })
        ));
    }
}
