//! countersign's MCP gateway (issue 13): a policy enforcement point between MCP
//! clients and MCP servers. Every `tools/call` is decided at request time, on its
//! exact arguments, by the countersign server's runtime decision API (`POST
//! /v1/decide`, as an agent with its just-in-time credential); a step-up waits for a
//! named human, and the whole exchange lands in the action log and the ledger.
//!
//! * `config`: the gateway's TOML (upstream servers, tools mapped to system, action,
//!   resource template and data classes; unmapped tools denied) and its validation.
//! * `template`: resource templates over the arguments (`orders/{/order_id}`).
//! * `decision`: the decision flow as plain functions (plan, verdict, call keys, texts).
//! * `gateway`: the flow run against countersign, remembering step-ups for retries.
//! * `client`: countersign's runtime API over HTTP.
//! * `message`: the gateway's own types for a call and an upstream's reply (a leaf).
//! * `wire`: JSON-RPC lines and MCP shapes; the only module that names `rmcp`.
//! * `proxy`: the stdio proxy around a child server.
//! * `streamable`: the Streamable HTTP reverse proxy in front of remote servers.
//!
//! The crate is a client of the server's API: it never imports the store, the server
//! or sqlx (the tidy test enforces it).

pub mod client;
pub mod config;
pub mod decision;
mod error;
pub mod gateway;
pub mod message;
pub mod proxy;
pub mod streamable;
pub mod template;
pub mod wire;

pub use client::{Countersign, Credential, HttpCountersign};
pub use config::{ConfigError, GatewayConfig, ServerConfig, ToolMapping};
pub use error::{chain, McpError};
pub use gateway::{Answer, Gateway, Settings};
pub use message::{Reply, ToolCall};
pub use proxy::Upstream;
