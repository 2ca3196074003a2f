//! The gateway's own types for what crosses the wire, shared by the MCP side
//! (`wire`) and the decision side (`decision`, `gateway`); a leaf: it imports nothing
//! of the crate and nothing of the MCP SDK.

use countersign_core::Digest;
use serde_json::{Map, Value};

/// A `tools/call` as the gateway sees it: the tool and its exact arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub name: String,
    /// `None` when the call carries no arguments.
    pub arguments: Option<Map<String, Value>>,
}

impl ToolCall {
    /// The arguments as one value (`null` for none): what the action digest covers.
    pub fn arguments_value(&self) -> Value {
        self.arguments
            .as_ref()
            .map_or(Value::Null, |a| Value::Object(a.clone()))
    }
}

/// How an upstream answered a request.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// A result: the digest of its exact bytes, whether it is a tool error
    /// (`isError: true`), and the protocol version an `initialize` result names.
    Result {
        digest: Digest,
        is_error: bool,
        protocol_version: Option<String>,
    },
    /// A JSON-RPC error.
    Error { code: i64, message: String },
}
