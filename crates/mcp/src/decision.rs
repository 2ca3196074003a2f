//! The `tools/call` decision as plain functions over the gateway's own types: which
//! action request a call is (`plan`), what countersign's answer means (`verdict`),
//! the key that remembers a step-up for a retry of the same call (`call_key`), the
//! texts a model reads when a call is denied or waits for a human, and the outcome an
//! upstream's reply reports on the action (`outcome`). No IO; `gateway.rs` runs them.

use crate::config::{ServerConfig, ToolMapping};
use crate::message::{Reply, ToolCall};
use chrono::{DateTime, Utc};
use countersign_api::{
    ActionContextParams, ActionDecisionView, ActionRequestParams, ApprovalView, OutcomeParams,
};
use countersign_core::Digest;
use serde_json::json;

/// What to do with a call before asking countersign.
#[derive(Debug)]
pub enum Plan {
    /// Deny without asking: the tool is not mapped, or its arguments cannot name
    /// the resource. The reason is for the model.
    Refuse(String),
    /// Ask countersign with this request.
    Ask(Box<ActionRequestParams>),
}

/// The action request for one call on `server`, or why it is refused outright.
pub fn plan(server: &ServerConfig, task: Option<&str>, call: &ToolCall) -> Plan {
    let Some(m) = server.mapping(&call.name) else {
        return Plan::Refuse(format!(
            "tool {:?} is not in the gateway's map for server {:?}, and unmapped tools are denied",
            call.name, server.name
        ));
    };
    let arguments = call.arguments_value();
    let resource = match m.resource.render(&call.name, Some(&arguments)) {
        Ok(r) => r,
        Err(e) => {
            return Plan::Refuse(format!(
                "the gateway cannot name the resource {} for this call: {e}",
                m.resource
            ))
        }
    };
    let said = format!("MCP tools/call {} on server {}", call.name, server.name);
    Plan::Ask(Box::new(request(m, task, resource, arguments, Some(said))))
}

/// The action request a mapping makes of one call (or, for a preview, of none).
fn request(
    m: &ToolMapping,
    task: Option<&str>,
    resource: String,
    arguments: serde_json::Value,
    ai_output: Option<String>,
) -> ActionRequestParams {
    ActionRequestParams {
        action: m.action.clone(),
        system: m.system.clone(),
        resource,
        task: task.map(str::to_owned),
        arguments,
        context: ActionContextParams {
            confidence: None,
            risk_score: m.risk_score,
            data_classes: m.data_classes.clone(),
            ai_input: None,
            ai_input_digest: None,
            ai_output,
            data_used: Vec::new(),
            impact: m.impact.clone(),
        },
        approval_id: None,
    }
}

/// The request that previews what a call of `tool` would be decided now, for
/// `tools/list`: no arguments, the resource of the template's shape (`_` in each
/// argument's place). `None`: the tool is not mapped (denied).
pub fn preview_plan(
    server: &ServerConfig,
    task: Option<&str>,
    tool: &str,
) -> Option<ActionRequestParams> {
    let m = server.mapping(tool)?;
    let resource = m.resource.example(tool);
    Some(request(m, task, resource, serde_json::Value::Null, None))
}

/// What a tool would get now, as `tools/list` shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum Standing {
    /// `allow`, `step_up` or `deny`, and why.
    Decided {
        decision: String,
        reasons: Vec<String>,
    },
    /// Not in the gateway's map: every call is denied.
    Unmapped,
    /// countersign could not say (unreachable, refused): shown as unknown, never hidden.
    Unknown(String),
}

impl Standing {
    /// The standing's one word, as `_meta["countersign/decision"]` carries it.
    pub fn word(&self) -> &str {
        match self {
            Standing::Decided { decision, .. } => decision,
            Standing::Unmapped => "deny",
            Standing::Unknown(_) => "unknown",
        }
    }

    /// Whether every call of the tool would be denied now.
    pub fn denied(&self) -> bool {
        matches!(self, Standing::Unmapped)
            || matches!(self, Standing::Decided { decision, .. } if decision == "deny")
    }

    /// The sentence a model reads at the end of the tool's description; `None` for
    /// an allowed tool.
    pub fn sentence(&self) -> Option<String> {
        match self {
            Standing::Decided { decision, reasons } => match decision.as_str() {
                "allow" => None,
                "step_up" => Some(
                    "countersign: a named human must approve each call first; the call \
                     answers where to approve and is retried once approved."
                        .to_owned(),
                ),
                _ => Some(format!(
                    "countersign: calls are denied now ({}).",
                    reasons.join("; ")
                )),
            },
            Standing::Unmapped => Some(
                "countersign: this tool is not in the gateway's map; calls are denied.".to_owned(),
            ),
            Standing::Unknown(_) => None,
        }
    }
}

/// Identifies a call for a retry: the server, the tool and the exact arguments
/// (canonical JSON). Within one gateway the system, action and resource follow from
/// the tool and its arguments, and the agent and task are the gateway's, so two calls
/// with one key have one action digest at the server, and a call whose arguments
/// changed has another key and never rides on an earlier approval.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallKey(Digest);

impl CallKey {
    /// The key's bytes: what a sealed `requestState` is bound to.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_str().as_bytes()
    }
}

pub fn call_key(server: &str, call: &ToolCall) -> CallKey {
    let v = json!({"server": server, "tool": call.name, "arguments": call.arguments_value()});
    // INVARIANT: a JSON value always serializes.
    CallKey(Digest::of_canonical(&v).unwrap_or_else(|_| Digest::zero()))
}

/// A step-up's approval request, as the gateway remembers it (and seals into a
/// 2026-07-28 client's `requestState`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Approval {
    pub id: String,
    pub assignee: String,
    pub expires_at: DateTime<Utc>,
    pub action_digest: Digest,
}

/// What countersign decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Allow {
        action: String,
    },
    Deny {
        action: String,
        reasons: Vec<String>,
    },
    StepUp {
        action: String,
        approval: Approval,
    },
}

/// Reads a decision; anything that is not an allow or a step-up with its approval
/// request denies (fail closed).
pub fn verdict(v: &ActionDecisionView) -> Verdict {
    match (v.decision.as_str(), &v.approval) {
        ("allow", _) => Verdict::Allow {
            action: v.id.clone(),
        },
        ("step_up", Some(a)) => Verdict::StepUp {
            action: v.id.clone(),
            approval: Approval {
                id: a.id.clone(),
                assignee: a.assignee.to_string(),
                expires_at: a.expires_at,
                action_digest: v.action_digest.clone(),
            },
        },
        _ => Verdict::Deny {
            action: v.id.clone(),
            reasons: if v.reasons.is_empty() {
                vec![format!("countersign answered {}", v.decision)]
            } else {
                v.reasons.clone()
            },
        },
    }
}

/// Where a person answers an approval request in the console.
pub fn approval_url(console: &str, id: &str) -> String {
    format!("{}/console/approvals/{id}", console.trim_end_matches('/'))
}

/// The text of a denied call.
pub fn denied_text(tool: &str, reasons: &[String]) -> String {
    format!(
        "countersign denied the call to {tool}: {}. The call was not forwarded.",
        reasons.join("; ")
    )
}

/// The text of a call waiting for a human.
pub fn approval_required_text(tool: &str, console: &str, a: &Approval) -> String {
    format!(
        "approval required at {} (id {}, assigned to {}, open until {}); retry the same call \
         with the same arguments once it is approved. The call to {tool} was not forwarded.",
        approval_url(console, &a.id),
        a.id,
        a.assignee,
        a.expires_at.to_rfc3339(),
    )
}

/// What the gateway does once the human's answer is known.
#[derive(Clone, Debug, PartialEq)]
pub enum Answered {
    /// Approved: ask again with the approval (valid once, for exactly this action).
    Approved,
    /// Still waiting for the human.
    Pending,
    /// Denied, expired, used or revoked: the text says which; forget the request.
    Closed(String),
}

/// Reads an approval request's state.
pub fn answered(a: &ApprovalView) -> Answered {
    let comment = a
        .comment
        .as_deref()
        .map(|c| format!(": {c:?}"))
        .unwrap_or_default();
    match a.state.as_str() {
        "approved" => Answered::Approved,
        "pending" => Answered::Pending,
        "denied" => Answered::Closed(format!(
            "{} denied approval request {}{comment}",
            a.decided_by.as_ref().unwrap_or(&a.assignee),
            a.id
        )),
        "expired" => Answered::Closed(format!(
            "approval request {} expired unanswered; call again to ask anew",
            a.id
        )),
        "used" => Answered::Closed(format!(
            "approval request {} was already used (an approval is valid once); call again to ask anew",
            a.id
        )),
        "revoked" => Answered::Closed(format!(
            "{} revoked approval request {}{comment}",
            a.assignee, a.id
        )),
        other => Answered::Closed(format!("approval request {} is {other}", a.id)),
    }
}

/// The outcome an upstream's reply reports on the action: the digest of the exact
/// result bytes and whether the tool said it failed.
pub fn outcome(reply: &Reply) -> OutcomeParams {
    match reply {
        Reply::Result {
            digest, is_error, ..
        } => OutcomeParams {
            status: if *is_error { "failed" } else { "succeeded" }.into(),
            detail: json!({"result_digest": digest, "is_error": is_error}),
        },
        Reply::Error { code, message } => OutcomeParams {
            status: "failed".into(),
            detail: json!({"error": {"code": code, "message": message}}),
        },
    }
}

/// The outcome of a call whose upstream went away before answering.
pub fn lost(reason: &str) -> OutcomeParams {
    OutcomeParams {
        status: "failed".into(),
        detail: json!({"error": {"message": reason}, "may_have_run": true}),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::config::GatewayConfig;
    use serde_json::Value;

    fn shop() -> ServerConfig {
        let c = GatewayConfig::parse(
            "gw.toml",
            r#"
[servers.shop.tools.refund_order]
system = "sys_1"
action = "write"
resource = "orders/{/order_id}"
data_classes = ["pii"]
risk_score = 40
impact = "money leaves"
"#,
        )
        .unwrap();
        c.servers["shop"].clone()
    }

    fn call(name: &str, args: Value) -> ToolCall {
        ToolCall {
            name: name.into(),
            arguments: args.as_object().cloned(),
        }
    }

    #[test]
    fn a_mapped_call_is_asked_with_its_exact_arguments() {
        let c = call("refund_order", json!({"order_id": 4711, "amount": 120}));
        let Plan::Ask(r) = plan(&shop(), Some("t-1"), &c) else {
            panic!()
        };
        assert_eq!(
            (r.system.as_str(), r.action.as_str(), r.resource.as_str()),
            ("sys_1", "write", "orders/4711")
        );
        assert_eq!(r.task.as_deref(), Some("t-1"));
        assert_eq!(r.arguments, json!({"order_id": 4711, "amount": 120}));
        assert_eq!(r.context.risk_score, 40);
        assert_eq!(r.context.data_classes, ["pii"]);
        assert_eq!(r.context.impact, "money leaves");
        assert_eq!(r.approval_id, None);
    }

    #[test]
    fn unmapped_tools_and_unnameable_resources_are_refused() {
        let Plan::Refuse(why) = plan(&shop(), None, &call("drop_db", json!({}))) else {
            panic!()
        };
        assert!(
            why.contains("\"drop_db\"") && why.contains("unmapped tools are denied"),
            "{why}"
        );
        let Plan::Refuse(why) = plan(&shop(), None, &call("refund_order", json!({"amount": 1})))
        else {
            panic!()
        };
        assert!(why.contains("no argument at /order_id"), "{why}");
    }

    #[test]
    fn the_call_key_covers_the_exact_arguments_only() {
        let a = call_key(
            "shop",
            &call("refund_order", json!({"order_id": 1, "amount": 120})),
        );
        let same = call_key(
            "shop",
            &call("refund_order", json!({"amount": 120, "order_id": 1})),
        );
        let more = call_key(
            "shop",
            &call("refund_order", json!({"order_id": 1, "amount": 12000})),
        );
        let other_tool = call_key(
            "shop",
            &call("refund", json!({"order_id": 1, "amount": 120})),
        );
        let other_server = call_key(
            "shop2",
            &call("refund_order", json!({"order_id": 1, "amount": 120})),
        );
        assert_eq!(a, same, "key order does not matter: canonical JSON");
        assert_ne!(a, more);
        assert_ne!(a, other_tool);
        assert_ne!(a, other_server);
    }

    #[test]
    fn texts_say_why_and_where() {
        let a = Approval {
            id: "apr_1".into(),
            assignee: "usr_olu".into(),
            expires_at: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            action_digest: Digest::zero(),
        };
        let t = approval_required_text("refund_order", "http://cs:8080/", &a);
        assert!(
            t.starts_with("approval required at http://cs:8080/console/approvals/apr_1 (id apr_1"),
            "{t}"
        );
        assert!(t.contains("retry the same call"), "{t}");
        let t = denied_text("refund_order", &["no active grant".into(), "x".into()]);
        assert_eq!(
            t,
            "countersign denied the call to refund_order: no active grant; x. The call was not forwarded."
        );
    }

    #[test]
    fn outcomes_carry_the_result_digest() {
        let o = outcome(&Reply::Result {
            digest: Digest::of(b"{}"),
            is_error: false,
            protocol_version: None,
        });
        assert_eq!(o.status, "succeeded");
        assert_eq!(o.detail["result_digest"], Digest::of(b"{}").as_str());
        let o = outcome(&Reply::Result {
            digest: Digest::of(b"{}"),
            is_error: true,
            protocol_version: None,
        });
        assert_eq!(o.status, "failed");
        let o = outcome(&Reply::Error {
            code: -32603,
            message: "boom".into(),
        });
        assert_eq!(
            (o.status.as_str(), o.detail["error"]["code"].clone()),
            ("failed", json!(-32603))
        );
    }
}
