//! The gateway's side of countersign's runtime API over HTTP, as an agent with its
//! just-in-time credential (the way `countersign decide` asks): `POST /v1/decide`,
//! the approval long-poll `GET /v1/approvals/{id}/wait` and `POST
//! /v1/actions/{id}/outcome`. The gateway is a policy enforcement point; the server
//! decides. Agents' calls carry no `Idempotency-Key` and are never retried blindly: a
//! retry could decide twice or spend an approval.

use crate::error::McpError;
use countersign_api::{
    ActionDecisionView, ActionRequestParams, ApprovalView, DecisionPreviewView, OutcomeParams,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// What the gateway asks countersign. `HttpCountersign` is the real one; tests of the
/// decision flow give another.
pub trait Countersign: Send + Sync + 'static {
    /// Decides one action request.
    fn decide(
        &self,
        request: &ActionRequestParams,
    ) -> impl Future<Output = Result<ActionDecisionView, McpError>> + Send;
    /// What an action request would be decided now, recording nothing.
    fn preview(
        &self,
        request: &ActionRequestParams,
    ) -> impl Future<Output = Result<DecisionPreviewView, McpError>> + Send;
    /// Waits up to `seconds` (0: asks once) for a human to answer an approval request.
    fn wait(
        &self,
        approval: &str,
        seconds: u64,
    ) -> impl Future<Output = Result<ApprovalView, McpError>> + Send;
    /// Reports what an allowed action did, once.
    fn outcome(
        &self,
        action: &str,
        outcome: &OutcomeParams,
    ) -> impl Future<Output = Result<(), McpError>> + Send;
}

/// The agent's just-in-time credential, shared with whoever renews it before it
/// expires (credentials are minutes long; a gateway runs for hours).
#[derive(Clone, Debug)]
pub struct Credential(Arc<RwLock<String>>);

impl Credential {
    pub fn new(token: String) -> Self {
        Self(Arc::new(RwLock::new(token)))
    }

    /// Replaces the credential; the next request uses the new one.
    pub fn set(&self, token: String) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = token;
    }

    fn get(&self) -> String {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// countersign over HTTP with an agent's credential.
pub struct HttpCountersign {
    base: String,
    credential: Credential,
    http: reqwest::Client,
}

impl HttpCountersign {
    /// `http` is built by the caller (it decides which CAs to trust); `credential`
    /// holds the agent's just-in-time credential.
    pub fn new(base: &str, credential: Credential, http: reqwest::Client) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            credential,
            http,
        }
    }

    /// The server's URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send<T: DeserializeOwned>(
        &self,
        what: String,
        rb: reqwest::RequestBuilder,
        expected: &'static str,
    ) -> Result<T, McpError> {
        let resp = rb
            .bearer_auth(self.credential.get())
            .send()
            .await
            .map_err(|e| McpError::Unreachable {
                url: self.base.clone(),
                source: e.without_url(),
            })?;
        let status = resp.status();
        if !status.is_success() {
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            return Err(McpError::Refused {
                what,
                status: status.as_u16(),
                code: body["code"].as_str().unwrap_or("unknown").to_owned(),
                detail: body["detail"]
                    .as_str()
                    .map_or_else(|| status.to_string(), str::to_owned),
            });
        }
        resp.json().await.map_err(|e| McpError::BadAnswer {
            what,
            expected,
            source: e.without_url(),
        })
    }

    fn post(
        &self,
        path: &str,
        body: &impl Serialize,
        timeout: Duration,
    ) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .timeout(timeout)
            .json(body)
    }
}

/// Percent-encodes a path segment (ids are opaque strings).
fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Countersign for HttpCountersign {
    async fn decide(&self, request: &ActionRequestParams) -> Result<ActionDecisionView, McpError> {
        let rb = self.post("/v1/decide", request, Duration::from_secs(30));
        self.send("the decision".into(), rb, "a decision").await
    }

    async fn preview(
        &self,
        request: &ActionRequestParams,
    ) -> Result<DecisionPreviewView, McpError> {
        let rb = self.post("/v1/decide/preview", request, Duration::from_secs(30));
        self.send("the preview".into(), rb, "a decision preview")
            .await
    }

    async fn wait(&self, approval: &str, seconds: u64) -> Result<ApprovalView, McpError> {
        let rb = self
            .http
            .get(format!(
                "{}/v1/approvals/{}/wait?timeout={seconds}",
                self.base,
                seg(approval)
            ))
            .timeout(Duration::from_secs(seconds + 15));
        self.send(format!("waiting for {approval}"), rb, "an approval request")
            .await
    }

    async fn outcome(&self, action: &str, outcome: &OutcomeParams) -> Result<(), McpError> {
        let path = format!("/v1/actions/{}/outcome", seg(action));
        let rb = self.post(&path, outcome, Duration::from_secs(30));
        self.send::<Value>(format!("the outcome of {action}"), rb, "an action")
            .await
            .map(|_| ())
    }
}
