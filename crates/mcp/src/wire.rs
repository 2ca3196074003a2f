//! The MCP wire: reading and writing JSON-RPC 2.0 messages, one per line. The only
//! module that names the MCP SDK (`rmcp`); the rest of the crate sees the gateway's
//! own types (`RpcId`, `ToolCall`, `ClientHello`, `Reply`).
//!
//! Why not rmcp's service layer: the gateway is a transparent proxy. rmcp's
//! `serve_server`/`serve_client` run their own `initialize` handshake and hand typed
//! requests to a handler, re-serializing every message; an upstream result would not
//! reach the client byte for byte, and methods or fields rmcp does not know would be
//! refused or dropped. So the gateway reads each line once as JSON, inspects only what
//! it governs (`tools/call` with rmcp's `CallToolRequestParams`, the client's
//! `initialize` with `InitializeRequestParams`) and forwards every other line as the
//! bytes it arrived in; what the gateway answers itself (tool errors, JSON-RPC errors,
//! the URL elicitation error, the 2026-07-28 `InputRequiredResult`) is built from
//! rmcp's model types, and a step-up's `requestState` is sealed with rmcp's
//! `RequestStateCodec` (HMAC-SHA256, an expiry, bound to the exact call).

use crate::decision::Approval;
use crate::message::{Reply, ToolCall};
use countersign_core::Digest;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, ElicitRequest, ElicitRequestParams,
    ErrorCode, ErrorData, InitializeRequestParams, InputRequest, InputRequiredResult, JsonRpcError,
    JsonRpcResponse, JsonRpcVersion2_0, NumberOrString, RequestStateCodec, SealOptions,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::fmt;

/// The method the gateway governs.
pub const TOOLS_CALL: &str = "tools/call";
/// The method whose answer the gateway notes with each tool's standing.
pub const TOOLS_LIST: &str = "tools/list";
/// The JSON-RPC code of the 2025-11-25 revision's URL elicitation error.
pub const URL_ELICITATION_REQUIRED: i32 = -32042;
/// The revision whose results carry `resultType` (and the multi-round-trip pattern).
pub const MODERN: &str = "2026-07-28";
/// The key of the gateway's approval request in an `InputRequiredResult`'s
/// `inputRequests` (and of the client's answer in `inputResponses`).
pub const APPROVAL_INPUT: &str = "countersign_approval";
/// What starts a `requestState` the gateway sealed; any other is the upstream's own.
const STATE_PREFIX: &str = "countersign.";
/// 2026-07-28 requests carry the client's revision and capabilities in `_meta`.
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// A JSON-RPC request id (a string or an integer; never null in MCP).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RpcId(NumberOrString);

impl RpcId {
    /// A string id of the gateway's own.
    pub fn named(id: &str) -> Self {
        Self(NumberOrString::String(id.into()))
    }
}

impl fmt::Display for RpcId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            NumberOrString::Number(n) => write!(f, "{n}"),
            NumberOrString::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// What the client said about itself in `initialize`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    pub protocol_version: String,
    /// The client declared `capabilities.elicitation.url` (2025-11-25 and later).
    pub url_elicitation: bool,
}

impl ClientHello {
    /// This call's view of the client: a 2026-07-28 request's `_meta` says which
    /// revision and capabilities it speaks; an older one relies on `initialize` (self)
    /// and on the version the upstream agreed to (`negotiated`).
    pub fn for_call(&self, meta: &CallMeta, negotiated: Option<&str>) -> ClientHello {
        ClientHello {
            protocol_version: meta
                .protocol_version
                .clone()
                .or_else(|| negotiated.map(str::to_owned))
                .unwrap_or_else(|| self.protocol_version.clone()),
            url_elicitation: meta.url_elicitation.unwrap_or(self.url_elicitation),
        }
    }

    /// How this client is told that a human must approve first.
    pub fn step_up_shape(&self) -> StepUpShape {
        match (self.protocol_version.as_str(), self.url_elicitation) {
            (MODERN, true) => StepUpShape::InputRequired,
            (_, true) => StepUpShape::UrlElicitationError,
            _ => StepUpShape::ToolError,
        }
    }
}

/// How a step-up is answered, by what the client can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepUpShape {
    /// 2026-07-28 with URL elicitation: an `InputRequiredResult` whose input request
    /// is the console's approval page and whose `requestState` is sealed to the call.
    InputRequired,
    /// 2025-11-25 with URL elicitation: the -32042 error naming the approval page.
    UrlElicitationError,
    /// A client that cannot elicit: a tool error saying where to approve and to retry.
    ToolError,
}

/// What a `tools/call` says beyond the call itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallMeta {
    /// `_meta["io.modelcontextprotocol/protocolVersion"]` (2026-07-28 and later).
    pub protocol_version: Option<String>,
    /// Whether `_meta["io.modelcontextprotocol/clientCapabilities"]` declares URL
    /// elicitation; `None` when the request carries no capabilities.
    pub url_elicitation: Option<bool>,
    /// The gateway's own sealed `requestState`, echoed back by the client (the
    /// retry of a step-up), without its prefix.
    pub gateway_state: Option<String>,
}

/// One message from the client, as far as the gateway needs to know it.
#[derive(Debug, PartialEq)]
pub enum FromClient {
    /// A `tools/call` to decide.
    ToolCall {
        id: RpcId,
        call: ToolCall,
        meta: CallMeta,
    },
    /// `initialize`: forwarded, and its hello remembered.
    Initialize { id: RpcId, hello: ClientHello },
    /// Any other request: forwarded.
    Request { id: RpcId, method: String },
    /// A notification: forwarded.
    Notification { method: String },
    /// A response to a request the upstream sent the client: forwarded.
    Response,
}

/// A line from the client that is not a JSON-RPC message the gateway can forward:
/// the error response to send back, and why (for the log).
#[derive(Debug, PartialEq)]
pub struct Malformed {
    pub response: Vec<u8>,
    pub reason: String,
}

/// Why the gateway answers a JSON-RPC error itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Parse,
    InvalidRequest,
    InvalidParams,
    /// The upstream could not answer (it exited, or is not running).
    Upstream,
}

/// Reads one line from the client.
pub fn read_client(line: &[u8]) -> Result<FromClient, Malformed> {
    let malformed = |id: Option<&RpcId>, kind, reason: String| Malformed {
        response: error(id, kind, &reason),
        reason,
    };
    let v: Value = serde_json::from_slice(line)
        .map_err(|e| malformed(None, ErrorKind::Parse, format!("not JSON: {e}")))?;
    let Value::Object(m) = v else {
        let why = if v.is_array() {
            "a JSON-RPC batch; MCP sends one message per line"
        } else {
            "not a JSON-RPC message (an object)"
        };
        return Err(malformed(None, ErrorKind::InvalidRequest, why.to_owned()));
    };
    // A readable id is echoed in the error even when the rest is wrong.
    let id = match m.get("id") {
        None => None,
        Some(raw) => Some(NumberOrString::deserialize(raw).map(RpcId).map_err(|_| {
            malformed(
                None,
                ErrorKind::InvalidRequest,
                "id must be a string or an integer".into(),
            )
        })?),
    };
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(malformed(
            id.as_ref(),
            ErrorKind::InvalidRequest,
            "jsonrpc must be \"2.0\"".into(),
        ));
    }
    let Some(method) = m.get("method") else {
        return match (&id, m.contains_key("result"), m.contains_key("error")) {
            (Some(_), true, false) | (Some(_), false, true) => Ok(FromClient::Response),
            _ => Err(malformed(
                id.as_ref(),
                ErrorKind::InvalidRequest,
                "a message needs a method, or an id with one of result and error".into(),
            )),
        };
    };
    let Some(method) = method.as_str().map(str::to_owned) else {
        return Err(malformed(
            id.as_ref(),
            ErrorKind::InvalidRequest,
            "method must be a string".into(),
        ));
    };
    let params = m.get("params");
    if params.is_some_and(|p| !p.is_object()) {
        return Err(malformed(
            id.as_ref(),
            ErrorKind::InvalidParams,
            format!("{method}: params must be an object"),
        ));
    }
    let Some(id) = id else {
        return Ok(FromClient::Notification { method });
    };
    match method.as_str() {
        TOOLS_CALL => {
            let p = params
                .ok_or_else(|| "params is missing".to_owned())
                .and_then(|p| CallToolRequestParams::deserialize(p).map_err(|e| e.to_string()));
            match p {
                Ok(p) => Ok(FromClient::ToolCall {
                    call: ToolCall {
                        name: p.name.into_owned(),
                        arguments: p.arguments,
                    },
                    meta: call_meta(params),
                    id,
                }),
                Err(e) => Err(malformed(
                    Some(&id),
                    ErrorKind::InvalidParams,
                    format!("tools/call needs params.name (a string) and params.arguments (an object, if any): {e}"),
                )),
            }
        }
        "initialize" => {
            let hello = params
                .and_then(|p| InitializeRequestParams::deserialize(p).ok())
                .map(|p| ClientHello {
                    protocol_version: p.protocol_version.to_string(),
                    url_elicitation: p
                        .capabilities
                        .elicitation
                        .as_ref()
                        .is_some_and(|e| e.url.is_some()),
                })
                .unwrap_or_default();
            Ok(FromClient::Initialize { id, hello })
        }
        _ => Ok(FromClient::Request { id, method }),
    }
}

/// A request line with its id replaced by the string `id` (a replayed request).
pub fn with_id(line: &[u8], id: &str) -> Vec<u8> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(mut m)) => {
            m.insert("id".into(), Value::String(id.to_owned()));
            self::line(&Value::Object(m))
        }
        _ => line.to_vec(),
    }
}

/// Reads a `tools/call`'s `_meta` and `requestState` (the params are an object).
fn call_meta(params: Option<&Value>) -> CallMeta {
    let p = params.and_then(Value::as_object);
    let meta = p.and_then(|p| p.get("_meta")).and_then(Value::as_object);
    CallMeta {
        protocol_version: meta
            .and_then(|m| m.get(META_VERSION))
            .and_then(Value::as_str)
            .map(str::to_owned),
        url_elicitation: meta
            .and_then(|m| m.get(META_CAPABILITIES))
            .and_then(Value::as_object)
            .map(|c| {
                c.get("elicitation")
                    .and_then(Value::as_object)
                    .is_some_and(|e| e.contains_key("url"))
            }),
        gateway_state: p
            .and_then(|p| p.get("requestState"))
            .and_then(Value::as_str)
            .and_then(|s| s.strip_prefix(STATE_PREFIX))
            .map(str::to_owned),
    }
}

/// The `tools/call` line to forward once the gateway's own round trip is done: the
/// gateway's `requestState` and its answer in `inputResponses` are the gateway's, not
/// the upstream's, and are taken out; everything else stays as the client sent it.
/// A line with neither is returned as it is (the exact bytes).
pub fn without_gateway_state(line: &[u8]) -> Vec<u8> {
    let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(line) else {
        return line.to_vec();
    };
    let Some(Value::Object(p)) = m.get_mut("params") else {
        return line.to_vec();
    };
    let ours = p
        .get("requestState")
        .and_then(Value::as_str)
        .is_some_and(|s| s.starts_with(STATE_PREFIX));
    let answered = p
        .get("inputResponses")
        .and_then(Value::as_object)
        .is_some_and(|r| r.contains_key(APPROVAL_INPUT));
    if !ours && !answered {
        return line.to_vec();
    }
    if ours {
        p.remove("requestState");
    }
    if let Some(Value::Object(r)) = p.get_mut("inputResponses") {
        r.remove(APPROVAL_INPUT);
        if r.is_empty() {
            p.remove("inputResponses");
        }
    }
    self::line(&Value::Object(m))
}

/// Seals a step-up's approval into a `requestState` for one call, and opens it when
/// the client echoes it back: HMAC-SHA256 under a key of this gateway's own (made at
/// start; a restarted gateway cannot open an older state, and the client is told to
/// call again), expiring with the approval request, and bound to the call's key, so a
/// state cannot carry an approval to other arguments. The state is signed, not
/// encrypted: it names only the approval request, which the client is shown anyway.
/// Single use is the server's: an approval is spent by the one call it allows.
pub struct StateSeal(RequestStateCodec);

impl StateSeal {
    /// A seal under a fresh random key.
    pub fn random() -> Self {
        let key: [u8; 32] = rand::random();
        // INVARIANT: 32 bytes is the codec's minimum key length.
        Self(RequestStateCodec::new_unchecked(key.to_vec()))
    }

    /// The `requestState` for `approval`, bound to `call` (a call key's bytes).
    pub fn seal(
        &self,
        approval: &Approval,
        call: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let ttl = (approval.expires_at - now)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(1));
        let payload = serde_json::to_vec(approval).unwrap_or_default();
        let sealed = self
            .0
            .seal_with(&payload, &SealOptions::new().associated_data(call).ttl(ttl));
        format!("{STATE_PREFIX}{sealed}")
    }

    /// The approval a `requestState` (without its prefix) carries, if it was sealed
    /// by this gateway for this call and has not expired; else why not.
    pub fn open(&self, state: &str, call: &[u8]) -> Result<Approval, String> {
        let bytes = self.0.open_with(state, call).map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }
}

/// The 2026-07-28 answer to a step-up: an `InputRequiredResult` asking the client to
/// open the console's approval page (a URL elicitation) and to retry with `state`.
pub fn input_required(
    id: &RpcId,
    approval: &str,
    url: &str,
    message: &str,
    state: &str,
) -> Vec<u8> {
    let mut requests = rmcp::model::InputRequests::new();
    requests.insert(
        APPROVAL_INPUT.to_owned(),
        InputRequest::Elicitation(ElicitRequest::new(
            ElicitRequestParams::UrlElicitationParams {
                meta: None,
                message: message.to_owned(),
                url: url.to_owned(),
                elicitation_id: approval.to_owned(),
            },
        )),
    );
    let mut result = InputRequiredResult::from_request_state(state);
    result.input_requests = Some(requests);
    line(&JsonRpcResponse {
        jsonrpc: JsonRpcVersion2_0,
        id: id.0.clone(),
        result,
    })
}

/// What the gateway adds to one tool of a `tools/list` result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolNote {
    /// Leave the tool out.
    pub hide: bool,
    /// `_meta["countersign/decision"]`: `allow`, `step_up`, `deny` or `unknown`.
    pub decision: String,
    /// Appended to the description, for the model.
    pub sentence: Option<String>,
}

/// The key under a tool's `_meta` that says what a call would be decided now.
pub const DECISION_META: &str = "countersign/decision";

/// The tool names of a `tools/list` result line (a JSON-RPC response whose result
/// has a `tools` array); `None` for any other line.
pub fn tool_names(line: &[u8]) -> Option<Vec<String>> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let tools = v.get("result")?.get("tools")?.as_array()?;
    Some(
        tools
            .iter()
            .filter_map(|t| t.get("name")?.as_str().map(str::to_owned))
            .collect(),
    )
}

/// A `tools/list` result line with each tool noted by `note` (a tool it gives no
/// note for is left as it is); any other line is returned as it is.
pub fn annotate_tools(line: &[u8], note: impl Fn(&str) -> Option<ToolNote>) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(line) else {
        return line.to_vec();
    };
    let Some(tools) = v
        .get_mut("result")
        .and_then(|r| r.get_mut("tools"))
        .and_then(Value::as_array_mut)
    else {
        return line.to_vec();
    };
    tools.retain_mut(|t| {
        let Some(n) = t.get("name").and_then(Value::as_str).and_then(&note) else {
            return true;
        };
        if n.hide {
            return false;
        }
        if let Some(obj) = t.as_object_mut() {
            if let Some(sentence) = &n.sentence {
                let d = obj
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let joined = if d.is_empty() {
                    sentence.clone()
                } else {
                    format!("{d}\n\n{sentence}")
                };
                obj.insert("description".into(), Value::String(joined));
            }
            let meta = obj
                .entry("_meta")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(m) = meta.as_object_mut() {
                m.insert(DECISION_META.into(), Value::String(n.decision.clone()));
            }
        }
        true
    });
    self::line(&v)
}

/// Whether a body is a `tools/call` request (read cheaply, before authentication
/// decides how the request is checked; `read_client` reads it properly after).
pub fn is_tool_call(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Method<'a> {
        #[serde(borrow)]
        method: Option<&'a str>,
    }
    serde_json::from_slice::<Method<'_>>(body).is_ok_and(|m| m.method == Some(TOOLS_CALL))
}

/// The fields of an upstream line the gateway reads; the result stays raw.
#[derive(Deserialize)]
struct UpstreamLine<'a> {
    id: Option<NumberOrString>,
    method: Option<&'a str>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    error: Option<ErrorData>,
}

/// The result fields that say how a call went.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultFields {
    is_error: Option<bool>,
    protocol_version: Option<String>,
}

/// Reads one line from the upstream: the reply it carries, if it answers a request.
/// Any line is forwarded to the client as it is, whatever this says.
pub fn read_upstream(line: &[u8]) -> Option<(RpcId, Reply)> {
    let l: UpstreamLine<'_> = serde_json::from_slice(line).ok()?;
    if l.method.is_some() {
        return None;
    }
    let id = RpcId(l.id?);
    let reply = match (l.result, l.error) {
        (Some(raw), None) => {
            let fields = serde_json::from_str::<ResultFields>(raw.get()).ok();
            Reply::Result {
                digest: Digest::of(raw.get().as_bytes()),
                is_error: fields.as_ref().and_then(|f| f.is_error) == Some(true),
                protocol_version: fields.and_then(|f| f.protocol_version),
            }
        }
        (None, Some(e)) => Reply::Error {
            code: i64::from(e.code.0),
            message: e.message.into_owned(),
        },
        _ => return None,
    };
    Some((id, reply))
}

/// A `tools/call` result with `isError: true` and one text block: how the gateway
/// tells the model a call was denied or needs approval, so it can adapt. `version`
/// is the negotiated protocol version (`resultType` is sent only from 2026-07-28).
pub fn tool_error(id: &RpcId, text: &str, version: Option<&str>) -> Vec<u8> {
    let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
    if version != Some(MODERN) {
        result.result_type = None;
    }
    line(&JsonRpcResponse {
        jsonrpc: JsonRpcVersion2_0,
        id: id.0.clone(),
        result,
    })
}

/// The 2025-11-25 URL elicitation error (-32042): the client shows the person `url`
/// and the call is retried once they are done there.
pub fn url_elicitation_required(
    id: &RpcId,
    elicitation_id: &str,
    url: &str,
    message: &str,
) -> Vec<u8> {
    let data = json!({
        "elicitations": [{
            "mode": "url",
            "elicitationId": elicitation_id,
            "url": url,
            "message": message,
        }]
    });
    line(&JsonRpcError::new(
        Some(id.0.clone()),
        ErrorData::new(
            ErrorCode(URL_ELICITATION_REQUIRED),
            message.to_owned(),
            Some(data),
        ),
    ))
}

/// A JSON-RPC error response; `id` is null when the request's id could not be read.
pub fn error(id: Option<&RpcId>, kind: ErrorKind, message: &str) -> Vec<u8> {
    let code = match kind {
        ErrorKind::Parse => ErrorCode::PARSE_ERROR,
        ErrorKind::InvalidRequest => ErrorCode::INVALID_REQUEST,
        ErrorKind::InvalidParams => ErrorCode::INVALID_PARAMS,
        ErrorKind::Upstream => ErrorCode::INTERNAL_ERROR,
    };
    let data = ErrorData::new(code, message.to_owned(), None);
    match id {
        Some(id) => line(&JsonRpcError::new(Some(id.0.clone()), data)),
        // JSON-RPC 2.0: "If there was an error in detecting the id ..., it MUST be Null."
        None => line(&json!({"jsonrpc": "2.0", "id": null, "error": data})),
    }
}

fn line<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // INVARIANT: the model types and JSON values always serialize.
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn v(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    fn malformed(line: &str) -> Value {
        match read_client(line.as_bytes()) {
            Err(m) => v(&m.response),
            Ok(other) => panic!("{line} read as {other:?}"),
        }
    }

    #[test]
    fn tool_calls_are_read_with_their_arguments() {
        let m = read_client(
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"refund","arguments":{"order_id":4711}}}"#,
        )
        .unwrap();
        let FromClient::ToolCall { id, call, .. } = m else {
            panic!("{m:?}")
        };
        assert_eq!(id.to_string(), "7");
        assert_eq!(call.name, "refund");
        assert_eq!(call.arguments.unwrap()["order_id"], 4711);
        let m = read_client(
            br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"t"}}"#,
        )
        .unwrap();
        assert!(matches!(
            m,
            FromClient::ToolCall {
                call: ToolCall {
                    arguments: None,
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn other_messages_are_classified_for_forwarding() {
        let init = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{"url":{}}},"clientInfo":{"name":"c","version":"1"}}}"#;
        assert_eq!(
            read_client(init).unwrap(),
            FromClient::Initialize {
                id: RpcId(NumberOrString::Number(0)),
                hello: ClientHello {
                    protocol_version: "2025-11-25".into(),
                    url_elicitation: true
                }
            }
        );
        assert!(matches!(
            read_client(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap(),
            FromClient::Request { method, .. } if method == "tools/list"
        ));
        assert!(matches!(
            read_client(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap(),
            FromClient::Notification { .. }
        ));
        assert_eq!(
            read_client(br#"{"jsonrpc":"2.0","id":"s1","result":{"roots":[]}}"#).unwrap(),
            FromClient::Response
        );
    }

    #[test]
    fn malformed_lines_get_json_rpc_errors() {
        let e = malformed("{not json");
        assert_eq!(e["error"]["code"], -32700);
        assert_eq!(e["id"], Value::Null);
        assert_eq!(malformed("[1,2]")["error"]["code"], -32600);
        assert_eq!(malformed("42")["error"]["code"], -32600);
        let e = malformed(r#"{"jsonrpc":"1.0","id":3,"method":"tools/list"}"#);
        assert_eq!(
            (e["error"]["code"].clone(), e["id"].clone()),
            (json!(-32600), json!(3))
        );
        assert_eq!(
            malformed(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#)["error"]["code"],
            -32600
        );
        assert_eq!(
            malformed(r#"{"jsonrpc":"2.0","id":4,"method":5}"#)["error"]["code"],
            -32600
        );
        assert_eq!(
            malformed(r#"{"jsonrpc":"2.0","id":4}"#)["error"]["code"],
            -32600
        );
        let e = malformed(
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"arguments":{}}}"#,
        );
        assert_eq!(
            (e["error"]["code"].clone(), e["id"].clone()),
            (json!(-32602), json!(5))
        );
        let e = malformed(
            r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"t","arguments":[1]}}"#,
        );
        assert_eq!(e["error"]["code"], -32602);
        assert_eq!(
            malformed(r#"{"jsonrpc":"2.0","id":6,"method":"tools/call"}"#)["error"]["code"],
            -32602
        );
        assert_eq!(
            malformed(r#"{"jsonrpc":"2.0","id":6,"method":"tools/list","params":[]}"#)["error"]
                ["code"],
            -32602
        );
    }

    #[test]
    fn upstream_replies_are_digested_as_their_exact_bytes() {
        let line =
            br#"{"result":{"content":[{"type":"text","text":"Echo: hi"}]},"jsonrpc":"2.0","id":3}"#;
        let (id, reply) = read_upstream(line).unwrap();
        assert_eq!(id, RpcId(NumberOrString::Number(3)));
        assert_eq!(
            reply,
            Reply::Result {
                digest: Digest::of(br#"{"content":[{"type":"text","text":"Echo: hi"}]}"#),
                is_error: false,
                protocol_version: None,
            }
        );
        let (_, reply) =
            read_upstream(br#"{"jsonrpc":"2.0","id":"x","result":{"content":[],"isError":true}}"#)
                .unwrap();
        assert!(matches!(reply, Reply::Result { is_error: true, .. }));
        let (_, reply) =
            read_upstream(br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"nope"}}"#)
                .unwrap();
        assert_eq!(
            reply,
            Reply::Error {
                code: -32601,
                message: "nope".into()
            }
        );
        assert!(read_upstream(br#"{"jsonrpc":"2.0","id":1,"method":"roots/list"}"#).is_none());
        assert!(read_upstream(br#"{"jsonrpc":"2.0","method":"notifications/progress"}"#).is_none());
        assert!(read_upstream(b"garbage").is_none());
    }

    #[test]
    fn a_modern_call_says_its_revision_capabilities_and_state() {
        let m = read_client(
            br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"refund","arguments":{"id":1},"requestState":"countersign.abc","inputResponses":{"countersign_approval":{"action":"accept"}},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{"url":{}}}}}}"#,
        )
        .unwrap();
        let FromClient::ToolCall { meta, .. } = m else {
            panic!("{m:?}")
        };
        assert_eq!(
            meta,
            CallMeta {
                protocol_version: Some("2026-07-28".into()),
                url_elicitation: Some(true),
                gateway_state: Some("abc".into()),
            }
        );
        let hello = ClientHello::default().for_call(&meta, Some("2025-11-25"));
        assert_eq!(hello.step_up_shape(), StepUpShape::InputRequired);
        // The upstream's own requestState is not the gateway's.
        let m = read_client(
            br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"t","requestState":"theirs"}}"#,
        )
        .unwrap();
        let FromClient::ToolCall { meta, .. } = m else {
            panic!()
        };
        assert_eq!(meta, CallMeta::default());
        // Before 2026-07-28 the session's initialize decides the shape.
        let session = ClientHello {
            protocol_version: "2025-11-25".into(),
            url_elicitation: true,
        };
        assert_eq!(
            session.for_call(&meta, None).step_up_shape(),
            StepUpShape::UrlElicitationError
        );
        assert_eq!(
            ClientHello::default()
                .for_call(&meta, Some("2026-07-28"))
                .step_up_shape(),
            StepUpShape::ToolError,
            "a client that cannot elicit gets the tool error"
        );
    }

    #[test]
    fn a_tool_list_is_noted_and_denied_tools_can_be_left_out() {
        let list = br#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"get","description":"Reads.","inputSchema":{}},{"name":"refund","inputSchema":{}},{"name":"drop","inputSchema":{},"_meta":{"x":1}},{"name":"other","inputSchema":{}}]}}"#;
        assert_eq!(
            tool_names(list).unwrap(),
            ["get", "refund", "drop", "other"]
        );
        let note = |name: &str| match name {
            "get" => Some(ToolNote {
                hide: false,
                decision: "allow".into(),
                sentence: None,
            }),
            "refund" => Some(ToolNote {
                hide: false,
                decision: "step_up".into(),
                sentence: Some("ask first.".into()),
            }),
            "drop" => Some(ToolNote {
                hide: true,
                decision: "deny".into(),
                sentence: Some("no.".into()),
            }),
            _ => None,
        };
        let out = v(&annotate_tools(list, note));
        let tools = out["result"]["tools"].as_array().unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["get", "refund", "other"]);
        assert_eq!(tools[0]["description"], "Reads.");
        assert_eq!(tools[0]["_meta"][DECISION_META], "allow");
        assert_eq!(tools[1]["description"], "ask first.");
        assert_eq!(tools[1]["_meta"][DECISION_META], "step_up");
        assert_eq!(tools[2], json!({"name":"other","inputSchema":{}}));
        assert!(tool_names(br#"{"jsonrpc":"2.0","id":2,"result":{}}"#).is_none());
    }

    #[test]
    fn the_gateway_state_is_taken_out_before_forwarding() {
        let ours = br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"t","arguments":{"a":1},"requestState":"countersign.x","inputResponses":{"countersign_approval":{"action":"accept"},"theirs":{"x":1}}}}"#;
        assert_eq!(
            v(&without_gateway_state(ours)),
            json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"t","arguments":{"a":1},"inputResponses":{"theirs":{"x":1}}}})
        );
        let theirs = br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"t","requestState":"up.1"}}"#;
        assert_eq!(
            without_gateway_state(theirs),
            theirs.to_vec(),
            "exact bytes"
        );
    }

    #[test]
    fn a_sealed_state_opens_only_for_its_call_and_gateway() {
        let now = chrono::Utc::now();
        let a = Approval {
            id: "apr_1".into(),
            assignee: "usr_olu".into(),
            expires_at: now + chrono::Duration::minutes(30),
            action_digest: Digest::of(b"act"),
        };
        let seal = StateSeal::random();
        let state = seal.seal(&a, b"call-1", now);
        let inner = state.strip_prefix(STATE_PREFIX).unwrap();
        assert_eq!(seal.open(inner, b"call-1").unwrap(), a);
        assert!(seal.open(inner, b"call-2").is_err(), "other arguments");
        assert!(
            StateSeal::random().open(inner, b"call-1").is_err(),
            "another gateway"
        );
        let mut forged = inner.to_owned();
        forged.insert(5, 'A');
        assert!(seal.open(&forged, b"call-1").is_err(), "tampered");
    }

    #[test]
    fn the_gateway_answers_in_mcp_shapes() {
        let id = RpcId(NumberOrString::String("r1".into()));
        let e = v(&tool_error(&id, "denied: no grant", Some("2025-11-25")));
        assert_eq!(
            e,
            json!({"jsonrpc":"2.0","id":"r1","result":{"content":[{"type":"text","text":"denied: no grant"}],"isError":true}})
        );
        let e = v(&tool_error(&id, "denied", Some("2026-07-28")));
        assert_eq!(e["result"]["resultType"], "complete");
        let e = v(&url_elicitation_required(
            &id,
            "apr_1",
            "http://cs/console/approvals/apr_1",
            "approve first",
        ));
        assert_eq!(e["error"]["code"], -32042);
        assert_eq!(
            e["error"]["data"]["elicitations"][0]["url"],
            "http://cs/console/approvals/apr_1"
        );
        assert_eq!(
            e["error"]["data"]["elicitations"][0]["elicitationId"],
            "apr_1"
        );
        let e = v(&error(
            Some(&id),
            ErrorKind::Upstream,
            "the upstream exited",
        ));
        assert_eq!(e["error"]["code"], -32603);
        let e = v(&input_required(
            &id,
            "apr_1",
            "http://cs/console/approvals/apr_1",
            "approve first",
            "countersign.s",
        ));
        assert_eq!(e["result"]["resultType"], "input_required");
        assert_eq!(e["result"]["requestState"], "countersign.s");
        let r = &e["result"]["inputRequests"][APPROVAL_INPUT];
        assert_eq!(r["method"], "elicitation/create", "{e}");
        assert_eq!(r["params"]["mode"], "url");
        assert_eq!(r["params"]["url"], "http://cs/console/approvals/apr_1");
    }
}
