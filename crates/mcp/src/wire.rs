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
//! the URL elicitation error) is built from rmcp's model types.

use crate::message::{Reply, ToolCall};
use countersign_core::Digest;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, ErrorCode, ErrorData,
    InitializeRequestParams, JsonRpcError, JsonRpcResponse, JsonRpcVersion2_0, NumberOrString,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::fmt;

/// The method the gateway governs.
pub const TOOLS_CALL: &str = "tools/call";
/// The JSON-RPC code of the 2025-11-25 revision's URL elicitation error.
pub const URL_ELICITATION_REQUIRED: i32 = -32042;
/// The revision whose results carry `resultType` (and the multi-round-trip pattern).
const MODERN: &str = "2026-07-28";

/// A JSON-RPC request id (a string or an integer; never null in MCP).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RpcId(NumberOrString);

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

/// One message from the client, as far as the gateway needs to know it.
#[derive(Debug, PartialEq)]
pub enum FromClient {
    /// A `tools/call` to decide.
    ToolCall { id: RpcId, call: ToolCall },
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
        let FromClient::ToolCall { id, call } = m else {
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
    }
}
