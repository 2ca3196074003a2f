//! One gateway in front of one upstream server: decides each `tools/call` through
//! countersign and remembers step-ups, so a retry of the same call (same tool, same
//! arguments, so the same action digest) uses the approval a human gave it, once.
//!
//! For a call: unmapped or unnameable → denied without asking. Otherwise, if an
//! earlier identical call is waiting for a human, wait for that approval again (up to
//! the bound); else ask countersign: allow → forward; deny → a tool error saying why;
//! step-up → remember the approval request and wait up to the bound. Approved → ask
//! again naming the approval (the server checks it is for exactly this action and
//! spends it) and forward on allow; still pending → "approval required at …";
//! denied, expired, used or revoked → a tool error saying so, and the request is
//! forgotten (the next identical call asks anew). Anything countersign cannot answer
//! denies: the call is never forwarded without an allow.
//!
//! A 2026-07-28 client is answered a step-up with a sealed `requestState` naming the
//! approval request (`wire::StateSeal`: this gateway's key, bound to the call's key,
//! expiring with the request); its retry carries it back, and the gateway goes on
//! with that approval, remembered or not. A state that does not open for this call
//! (other arguments, another gateway, expired, forged) is refused and nothing is
//! forwarded.

use crate::client::Countersign;
use crate::config::ServerConfig;
use crate::decision::{
    answered, approval_required_text, approval_url, call_key, denied_text, outcome, plan,
    preview_plan, verdict, Answered, Approval, CallKey, Plan, Standing, Verdict,
};
use crate::error::chain;
use crate::message::{Reply, ToolCall};
use crate::wire::{self, ClientHello, ErrorKind, RpcId, StateSeal, StepUpShape};
use countersign_api::{ActionRequestParams, OutcomeParams};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// What the gateway does with one call.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// Forward it to the upstream; report the outcome on `action`.
    Forward { action: String },
    /// Answer a tool error with this text.
    Denied { text: String },
    /// A human must approve first: the request, its console page, the text, and the
    /// sealed `requestState` a 2026-07-28 client retries with.
    ApprovalRequired {
        approval: Approval,
        url: String,
        text: String,
        state: String,
    },
    /// The call carried a gateway `requestState` that does not open for it: a
    /// JSON-RPC invalid-params error with this message; nothing is forwarded.
    BadState { message: String },
}

impl Answer {
    /// The line that answers the client for a call not forwarded, in the shape this
    /// client understands (`hello` as it stands for this call); `None` for a forward.
    pub fn reply(&self, id: &RpcId, hello: &ClientHello) -> Option<Vec<u8>> {
        let version = Some(hello.protocol_version.as_str()).filter(|v| !v.is_empty());
        Some(match self {
            Answer::Forward { .. } => return None,
            Answer::Denied { text } => wire::tool_error(id, text, version),
            Answer::BadState { message } => {
                wire::error(Some(id), ErrorKind::InvalidParams, message)
            }
            Answer::ApprovalRequired {
                approval,
                url,
                text,
                state,
            } => match hello.step_up_shape() {
                StepUpShape::InputRequired => {
                    wire::input_required(id, &approval.id, url, text, state)
                }
                StepUpShape::UrlElicitationError => {
                    wire::url_elicitation_required(id, &approval.id, url, text)
                }
                StepUpShape::ToolError => wire::tool_error(id, text, version),
            },
        })
    }
}

/// How the gateway is set up for one upstream.
#[derive(Clone, Debug)]
pub struct Settings {
    pub server: ServerConfig,
    /// The task decisions are asked under; `None`: the credential's.
    pub task: Option<String>,
    /// Where people answer step-ups (the console's base URL).
    pub console: String,
    /// How long a call waits for the human.
    pub approval_wait: Duration,
}

/// The gateway for one upstream server.
pub struct Gateway<C> {
    settings: Settings,
    countersign: C,
    /// Step-ups waiting for (or approved by) a human, by the call they are for.
    pending: Mutex<HashMap<CallKey, Approval>>,
    /// Seals and opens 2026-07-28 clients' `requestState`.
    seal: StateSeal,
}

impl<C: Countersign> Gateway<C> {
    pub fn new(settings: Settings, countersign: C) -> Self {
        Self {
            settings,
            countersign,
            pending: Mutex::new(HashMap::new()),
            seal: StateSeal::random(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn remembered(&self, key: &CallKey) -> Option<Approval> {
        self.pending.lock().ok()?.get(key).cloned()
    }

    fn remember(&self, key: CallKey, a: Approval) {
        if let Ok(mut p) = self.pending.lock() {
            // Requests that expired unretried are of no use to anyone.
            let now = chrono::Utc::now();
            p.retain(|_, a| a.expires_at > now);
            p.insert(key, a);
        }
    }

    fn forget(&self, key: &CallKey) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(key);
        }
    }

    /// Decides one call; `state` is the gateway `requestState` a 2026-07-28 client
    /// echoed back on its retry (without the prefix), if any.
    pub async fn decide(&self, call: &ToolCall, state: Option<&str>) -> Answer {
        let s = &self.settings;
        let request = match plan(&s.server, s.task.as_deref(), call) {
            Plan::Refuse(why) => return self.denied(call, &[why]),
            Plan::Ask(r) => r,
        };
        let key = call_key(&s.server.name, call);
        if let Some(state) = state {
            return match self.seal.open(state, key.as_bytes()) {
                Ok(a) => {
                    self.remember(key.clone(), a.clone());
                    self.await_human(call, key, *request, a).await
                }
                Err(why) => {
                    tracing::warn!(tool = %call.name, %why, "a requestState that is not this call's; refused");
                    Answer::BadState {
                        message: format!(
                            "requestState is not the gateway's for this call of {} ({why}): \
                             it was issued for other arguments, by another gateway, or has \
                             expired; call again without it to ask anew",
                            call.name
                        ),
                    }
                }
            };
        }
        if let Some(a) = self.remembered(&key) {
            if a.expires_at > chrono::Utc::now() {
                return self.await_human(call, key, *request, a).await;
            }
            self.forget(&key);
        }
        let v = match self.countersign.decide(&request).await {
            Ok(v) => v,
            Err(e) => return self.unanswered(call, &e),
        };
        match verdict(&v) {
            Verdict::Allow { action } => Answer::Forward { action },
            Verdict::Deny { reasons, .. } => self.denied(call, &reasons),
            Verdict::StepUp { approval, .. } => {
                tracing::info!(tool = %call.name, approval = %approval.id, assignee = %approval.assignee, "step-up: waiting for a human");
                self.remember(key.clone(), approval.clone());
                self.await_human(call, key, *request, approval).await
            }
        }
    }

    /// Waits up to the bound for the human's answer to `a`, then acts on it.
    async fn await_human(
        &self,
        call: &ToolCall,
        key: CallKey,
        mut request: ActionRequestParams,
        a: Approval,
    ) -> Answer {
        let seconds = self.settings.approval_wait.as_secs();
        let view = match self.countersign.wait(&a.id, seconds).await {
            Ok(v) => v,
            Err(e) => return self.unanswered(call, &e),
        };
        match answered(&view) {
            Answered::Pending => self.approval_required(call, &key, a),
            Answered::Closed(why) => {
                self.forget(&key);
                self.denied(call, &[why])
            }
            Answered::Approved => {
                // Valid once: whatever the server answers now, this request is spent.
                self.forget(&key);
                request.approval_id = Some(a.id.clone());
                let v = match self.countersign.decide(&request).await {
                    Ok(v) => v,
                    Err(e) => return self.unanswered(call, &e),
                };
                match verdict(&v) {
                    Verdict::Allow { action } => Answer::Forward { action },
                    Verdict::Deny { reasons, .. } => self.denied(call, &reasons),
                    Verdict::StepUp { approval, .. } => {
                        self.remember(key.clone(), approval.clone());
                        self.approval_required(call, &key, approval)
                    }
                }
            }
        }
    }

    fn denied(&self, call: &ToolCall, reasons: &[String]) -> Answer {
        tracing::info!(tool = %call.name, reasons = %reasons.join("; "), "denied");
        Answer::Denied {
            text: denied_text(&call.name, reasons),
        }
    }

    fn unanswered(&self, call: &ToolCall, e: &dyn std::error::Error) -> Answer {
        tracing::warn!(tool = %call.name, error = %chain(e), "countersign did not answer; denying");
        Answer::Denied {
            text: denied_text(
                &call.name,
                &[format!("countersign could not decide ({})", chain(e))],
            ),
        }
    }

    fn approval_required(&self, call: &ToolCall, key: &CallKey, a: Approval) -> Answer {
        let console = &self.settings.console;
        Answer::ApprovalRequired {
            url: approval_url(console, &a.id),
            text: approval_required_text(&call.name, console, &a),
            state: self.seal.seal(&a, key.as_bytes(), chrono::Utc::now()),
            approval: a,
        }
    }

    /// What a call of `tool` would get now (for `tools/list`); records nothing.
    pub async fn standing(&self, tool: &str) -> Standing {
        let s = &self.settings;
        let Some(request) = preview_plan(&s.server, s.task.as_deref(), tool) else {
            return Standing::Unmapped;
        };
        match self.countersign.preview(&request).await {
            Ok(v) => Standing::Decided {
                decision: v.decision,
                reasons: v.reasons,
            },
            Err(e) => Standing::Unknown(chain(&e)),
        }
    }

    /// The upstream's `tools/list` result line with each tool's standing: in
    /// `_meta["countersign/decision"]`, a sentence at the end of the description for a
    /// tool that is not simply allowed, and the denied ones left out when the server's
    /// `hide_denied_tools` says so. A line that is not a tool list is returned as is.
    pub async fn annotate_tools(&self, line: &[u8]) -> Vec<u8> {
        let Some(names) = wire::tool_names(line) else {
            return line.to_vec();
        };
        let mut standings = HashMap::new();
        for name in names {
            let st = self.standing(&name).await;
            standings.insert(name, st);
        }
        let hide = self.settings.server.hide_denied_tools;
        wire::annotate_tools(line, |name| {
            let st = standings.get(name)?;
            Some(wire::ToolNote {
                hide: hide && st.denied(),
                decision: st.word().to_owned(),
                sentence: st.sentence(),
            })
        })
    }

    /// Reports an allowed call's outcome from the upstream's reply.
    pub async fn report(&self, action: &str, reply: &Reply) {
        self.report_outcome(action, &outcome(reply)).await;
    }

    /// Reports an outcome; a failure is logged (the call already ran).
    pub async fn report_outcome(&self, action: &str, o: &OutcomeParams) {
        if let Err(e) = self.countersign.outcome(action, o).await {
            tracing::warn!(action, error = %chain(&e), "cannot report the outcome");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::config::GatewayConfig;
    use crate::error::McpError;
    use chrono::{Duration as Days, Utc};
    use countersign_api::{ActionDecisionView, ApprovalView, DecisionPreviewView};
    use countersign_core::Digest;
    use serde_json::json;
    use std::sync::Mutex as StdMutex;

    /// A scripted countersign: answers in order, and records what was asked.
    #[derive(Default)]
    struct Script {
        decisions: StdMutex<Vec<ActionDecisionView>>,
        waits: StdMutex<Vec<&'static str>>,
        asked: StdMutex<Vec<ActionRequestParams>>,
    }

    fn decision(id: &str, d: &str) -> ActionDecisionView {
        serde_json::from_value(json!({
            "id": id, "decision": d, "reasons": ["because"], "policies": [],
            "policy_digest": null, "action_digest": Digest::zero(),
            "approval": if d == "step_up" { json!({
                "id": "apr_1", "assignee": "usr_olu", "approver_role": null,
                "expires_at": Utc::now() + Days::minutes(30), "wait_url": "/v1/approvals/apr_1/wait"
            }) } else { json!(null) },
            "decided_at": Utc::now(),
        }))
        .unwrap()
    }

    fn approval(state: &str) -> ApprovalView {
        serde_json::from_value(json!({
            "id": "apr_1", "state": state, "action_id": "act_1", "agent": "agt_1",
            "delegation": [], "system": "sys_1", "action": "write", "resource": "orders/1",
            "task": "t", "action_digest": Digest::zero(), "arguments": {}, "context": {},
            "assignee": "usr_olu", "approver_role": null, "policies": [], "reasons": [],
            "created_at": Utc::now(), "expires_at": Utc::now() + Days::minutes(30),
            "first_opened_at": null, "decided_by": null, "decided_at": null,
            "comment": null, "used_by": null,
        }))
        .unwrap()
    }

    impl Countersign for Script {
        async fn decide(&self, r: &ActionRequestParams) -> Result<ActionDecisionView, McpError> {
            self.asked.lock().unwrap().push(ActionRequestParams {
                action: r.action.clone(),
                system: r.system.clone(),
                resource: r.resource.clone(),
                task: r.task.clone(),
                arguments: r.arguments.clone(),
                context: Default::default(),
                approval_id: r.approval_id.clone(),
            });
            let mut d = self.decisions.lock().unwrap();
            Ok(d.remove(0))
        }
        async fn wait(&self, _: &str, _: u64) -> Result<ApprovalView, McpError> {
            Ok(approval(self.waits.lock().unwrap().remove(0)))
        }
        async fn preview(&self, r: &ActionRequestParams) -> Result<DecisionPreviewView, McpError> {
            let decision = match r.action.as_str() {
                "read" => "allow",
                "write" => "step_up",
                _ => "deny",
            };
            Ok(DecisionPreviewView {
                decision: decision.into(),
                reasons: vec![format!("{} on {}", r.action, r.resource)],
                policies: vec![],
                policy_digest: None,
                action_digest: Digest::zero(),
                assignee: None,
            })
        }
        async fn outcome(&self, _: &str, _: &OutcomeParams) -> Result<(), McpError> {
            Ok(())
        }
    }

    fn gateway(decisions: Vec<ActionDecisionView>, waits: Vec<&'static str>) -> Gateway<Script> {
        gateway_with(decisions, waits, "")
    }

    fn gateway_with(
        decisions: Vec<ActionDecisionView>,
        waits: Vec<&'static str>,
        more: &str,
    ) -> Gateway<Script> {
        let c = GatewayConfig::parse(
            "gw.toml",
            &format!("[servers.shop]\n{more}\n[servers.shop.tools.refund]\nsystem = \"sys_1\"\naction = \"write\"\nresource = \"orders/{{/id}}\"\n[servers.shop.tools.get]\nsystem = \"sys_1\"\naction = \"read\"\nresource = \"orders/{{/id}}\"\n[servers.shop.tools.pay]\nsystem = \"sys_1\"\naction = \"payments\"\nresource = \"{{tool}}\"\n"),
        )
        .unwrap();
        Gateway::new(
            Settings {
                server: c.servers["shop"].clone(),
                task: None,
                console: "http://cs".into(),
                approval_wait: Duration::ZERO,
            },
            Script {
                decisions: StdMutex::new(decisions),
                waits: StdMutex::new(waits),
                asked: StdMutex::default(),
            },
        )
    }

    fn call(args: serde_json::Value) -> ToolCall {
        ToolCall {
            name: "refund".into(),
            arguments: args.as_object().cloned(),
        }
    }

    #[tokio::test]
    async fn a_retry_of_the_same_call_uses_its_approval_once() {
        let g = gateway(
            vec![decision("act_1", "step_up"), decision("act_2", "allow")],
            vec!["pending", "approved"],
        );
        let c = call(json!({"id": 1, "amount": 120}));
        let first = g.decide(&c, None).await;
        let Answer::ApprovalRequired { url, text, .. } = first else {
            panic!("{first:?}")
        };
        assert_eq!(url, "http://cs/console/approvals/apr_1");
        assert!(
            text.starts_with("approval required at http://cs/console/approvals/apr_1 (id apr_1")
        );
        // The human approved; the same call goes through, naming the approval.
        assert_eq!(
            g.decide(&c, None).await,
            Answer::Forward {
                action: "act_2".into()
            }
        );
        let asked = g.countersign.asked.lock().unwrap();
        assert_eq!(asked.len(), 2);
        assert_eq!(asked[0].approval_id, None);
        assert_eq!(asked[1].approval_id.as_deref(), Some("apr_1"));
        assert_eq!(asked[1].resource, "orders/1");
        drop(asked);
        assert!(g.pending.lock().unwrap().is_empty(), "spent");
    }

    #[tokio::test]
    async fn a_sealed_request_state_carries_the_approval_to_the_same_call_only() {
        let g = gateway(
            vec![decision("act_1", "step_up"), decision("act_2", "allow")],
            vec!["pending", "approved"],
        );
        let c = call(json!({"id": 1, "amount": 120}));
        let Answer::ApprovalRequired { state, .. } = g.decide(&c, None).await else {
            panic!()
        };
        let state = state.strip_prefix("countersign.").unwrap().to_owned();
        // The gateway forgets (as a restarted HTTP replica would not, but a lost
        // entry must not matter): the state alone carries the approval.
        g.pending.lock().unwrap().clear();
        let other = call(json!({"id": 1, "amount": 12000}));
        let Answer::BadState { message } = g.decide(&other, Some(&state)).await else {
            panic!()
        };
        assert!(message.contains("call again without it"), "{message}");
        assert_eq!(
            g.decide(&c, Some(&state)).await,
            Answer::Forward {
                action: "act_2".into()
            }
        );
        let asked = g.countersign.asked.lock().unwrap();
        assert_eq!(asked.len(), 2, "the bad state asked nothing");
        assert_eq!(asked[1].approval_id.as_deref(), Some("apr_1"));
    }

    #[tokio::test]
    async fn a_tool_list_says_what_each_tool_would_get_and_can_hide_the_denied() {
        let list = br#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"get","inputSchema":{}},{"name":"refund","description":"Refunds.","inputSchema":{}},{"name":"pay","inputSchema":{}},{"name":"drop","inputSchema":{}}]}}"#;
        let g = gateway(vec![], vec![]);
        let out: serde_json::Value = serde_json::from_slice(&g.annotate_tools(list).await).unwrap();
        let tools = out["result"]["tools"].as_array().unwrap();
        let seen: Vec<(&str, &str)> = tools
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap(),
                    t["_meta"]["countersign/decision"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("get", "allow"),
                ("refund", "step_up"),
                ("pay", "deny"),
                ("drop", "deny")
            ]
        );
        assert!(tools[1]["description"]
            .as_str()
            .unwrap()
            .starts_with("Refunds.\n\ncountersign: a named human must approve"));
        assert!(tools[2]["description"]
            .as_str()
            .unwrap()
            .contains("denied now (payments on pay)"));
        assert!(tools[3]["description"]
            .as_str()
            .unwrap()
            .contains("not in the gateway's map"));
        // The preview asked with the template's shape, no arguments.
        let hidden = gateway_with(vec![], vec![], "hide_denied_tools = true");
        let out: serde_json::Value =
            serde_json::from_slice(&hidden.annotate_tools(list).await).unwrap();
        let names: Vec<&str> = out["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["get", "refund"]);
        assert!(
            g.countersign.asked.lock().unwrap().is_empty(),
            "nothing decided"
        );
    }

    #[tokio::test]
    async fn changed_arguments_ask_anew() {
        let g = gateway(
            vec![decision("act_1", "step_up"), decision("act_2", "step_up")],
            vec!["pending", "pending"],
        );
        g.decide(&call(json!({"id": 1, "amount": 120})), None).await;
        let again = g
            .decide(&call(json!({"id": 1, "amount": 12000})), None)
            .await;
        assert!(
            matches!(again, Answer::ApprovalRequired { .. }),
            "{again:?}"
        );
        let asked = g.countersign.asked.lock().unwrap();
        assert_eq!(asked.len(), 2, "a new decision, not the earlier approval");
        assert_eq!(asked[1].approval_id, None);
    }

    #[tokio::test]
    async fn a_denied_approval_denies_and_is_forgotten() {
        let g = gateway(
            vec![decision("act_1", "step_up")],
            vec!["pending", "denied"],
        );
        let c = call(json!({"id": 1}));
        g.decide(&c, None).await;
        let Answer::Denied { text } = g.decide(&c, None).await else {
            panic!()
        };
        assert!(
            text.contains("usr_olu denied approval request apr_1"),
            "{text}"
        );
        assert!(g.pending.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn unmapped_and_denied_calls_are_tool_errors() {
        let g = gateway(vec![decision("act_1", "deny")], vec![]);
        let Answer::Denied { text } = g
            .decide(
                &ToolCall {
                    name: "other".into(),
                    arguments: None,
                },
                None,
            )
            .await
        else {
            panic!()
        };
        assert!(text.contains("not in the gateway's map"), "{text}");
        assert!(g.countersign.asked.lock().unwrap().is_empty(), "not asked");
        let Answer::Denied { text } = g.decide(&call(json!({"id": 2})), None).await else {
            panic!()
        };
        assert!(text.contains("because"), "{text}");
    }
}
