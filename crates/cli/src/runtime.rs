//! Client commands for request-time decisions (issue 6): an agent asks with its
//! just-in-time credential, humans answer step-ups, the action log, the post-action
//! review queue, accountability signals and the runtime policy set.

use crate::client::Conn;
use crate::client::{q, wire, Client};
use crate::output::{self, Format, PolicyCheckView};
use crate::serve;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use countersign_api::{
    ActionContextParams, ActionDecisionView, ActionRequestParams, ActionView, AnswerParams,
    ApprovalView, EmptyParams, OutcomeParams, PolicySetView, PolicyView, PostReviewParams,
    RevokeApprovalParams, SignalsView,
};
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

/// `decide` answered deny (and `approval wait`: denied, expired or used).
pub const DENIED: u8 = 3;
/// `decide` answered step_up and no human has answered yet.
pub const PENDING: u8 = 4;

/// The server answers one long-poll for at most 60 seconds; the client waits 60.
const POLL_SECONDS: u64 = 50;

/// A JSON value given inline or as `@FILE`.
fn json_arg(flag: &str, s: &str) -> Result<Value> {
    let (text, from) = match s.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?,
            path.to_owned(),
        ),
        None => (s.to_owned(), format!("--{flag}")),
    };
    serde_json::from_str(&text).with_context(|| format!("{from} is not valid JSON"))
}

fn request_body(a: &DecideArgs) -> Result<ActionRequestParams> {
    Ok(ActionRequestParams {
        action: a.action.clone(),
        system: a.system.clone(),
        resource: a.resource.clone(),
        task: a.task.clone(),
        arguments: match &a.arguments {
            Some(args) => json_arg("arguments", args)?,
            None => Value::Null,
        },
        context: ActionContextParams {
            confidence: a.confidence,
            risk_score: a.risk_score,
            data_classes: a.data_classes.clone(),
            ai_input: a.ai_input.clone(),
            ai_input_digest: a
                .ai_input_digest
                .as_deref()
                .map(|d| wire("ai-input-digest", d))
                .transpose()?,
            ai_output: a.ai_output.clone(),
            data_used: a.data_used.clone(),
            impact: a.impact.clone().unwrap_or_default(),
        },
        approval_id: a.approval.clone(),
    })
}

/// The exit code of a decision; one that does not read as a decision denies.
fn decision_code(v: &Value) -> ExitCode {
    match ActionDecisionView::deserialize(v).map(|d| d.decision) {
        Ok(d) if d == "allow" => ExitCode::SUCCESS,
        Ok(d) if d == "step_up" => ExitCode::from(PENDING),
        _ => ExitCode::from(DENIED),
    }
}

/// An approval request's state, if the response reads as one.
fn approval_state(v: &Value) -> Option<String> {
    ApprovalView::deserialize(v).ok().map(|a| a.state)
}

fn approval_code(v: &Value) -> ExitCode {
    match approval_state(v).as_deref() {
        Some("approved") => ExitCode::SUCCESS,
        Some("pending") => ExitCode::from(PENDING),
        _ => ExitCode::from(DENIED),
    }
}

/// Long-polls an approval request with the agent's credential until it is answered
/// or `seconds` pass; returns the request as last read.
async fn wait_for(c: &Client, id: &str, seconds: u64) -> Result<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let left = deadline
            .saturating_duration_since(std::time::Instant::now())
            .as_secs()
            .min(POLL_SECONDS);
        let v = c
            .get(&format!("/v1/approvals/{}/wait?timeout={left}", q(id)))
            .await?;
        if approval_state(&v).as_deref() != Some("pending") || left == 0 {
            return Ok(v);
        }
    }
}

pub async fn decide(args: DecideArgs, conn: Conn) -> Result<ExitCode> {
    let c = conn.client()?;
    let mut body = request_body(&args)?;
    let first = c.post_once("/v1/decide", &body).await?;
    let approval = ActionDecisionView::deserialize(&first)
        .ok()
        .and_then(|d| d.approval);
    let (Some(seconds), Some(apr)) = (args.wait, approval) else {
        output::show::<ActionDecisionView>(conn.output, &first);
        return Ok(decision_code(&first));
    };
    if conn.output == Format::Text {
        output::show::<ActionDecisionView>(conn.output, &first);
    }
    let id = apr.id;
    eprintln!(
        "waiting up to {seconds}s for {} to answer {id}...",
        apr.assignee
    );
    let answered = wait_for(&c, &id, seconds).await?;
    match approval_state(&answered).as_deref() {
        Some("approved") => {
            body.approval_id = Some(id);
            let again = c.post_once("/v1/decide", &body).await?;
            output::show::<ActionDecisionView>(conn.output, &again);
            Ok(decision_code(&again))
        }
        Some("pending") => {
            if conn.output == Format::Json {
                output::show::<ActionDecisionView>(conn.output, &first);
            } else {
                output::line(format!(
                    "still waiting after {seconds}s; once {id} is approved, ask again with --approval {id}"
                ));
            }
            Ok(ExitCode::from(PENDING))
        }
        _ => {
            output::show::<ApprovalView>(conn.output, &answered);
            Ok(ExitCode::from(DENIED))
        }
    }
}

pub async fn approval(cmd: ApprovalCmd, conn: Conn) -> Result<ExitCode> {
    let c = conn.client()?;
    let f = conn.output;
    let path = |id: &str, rest: &str| format!("/v1/approvals/{}{rest}", q(id));
    match cmd {
        ApprovalCmd::List {
            state,
            assignee,
            agent,
            limit,
        } => {
            let mut qs = format!("?state={}&limit={limit}", q(&state));
            if let Some(a) = assignee {
                qs.push_str(&format!("&assignee={}", q(&a)));
            }
            if let Some(a) = agent {
                qs.push_str(&format!("&agent={}", q(&a)));
            }
            output::show::<Vec<ApprovalView>>(f, &c.get(&format!("/v1/approvals{qs}")).await?);
        }
        ApprovalCmd::Show { id } => output::show::<ApprovalView>(f, &c.get(&path(&id, "")).await?),
        ApprovalCmd::Wait { id, timeout } => {
            let v = wait_for(&c, &id, timeout).await?;
            output::show::<ApprovalView>(f, &v);
            return Ok(approval_code(&v));
        }
        ApprovalCmd::Approve {
            id,
            comment,
            confirm_digest,
        } => {
            let body = AnswerParams {
                comment,
                confirm_digest,
            };
            output::show::<ApprovalView>(f, &c.post(&path(&id, "/approve"), &body).await?)
        }
        ApprovalCmd::Deny { id, comment } => {
            let body = AnswerParams {
                comment,
                confirm_digest: None,
            };
            output::show::<ApprovalView>(f, &c.post(&path(&id, "/deny"), &body).await?)
        }
        ApprovalCmd::Revoke { id, reason } => output::show::<ApprovalView>(
            f,
            &c.post(&path(&id, "/revoke"), &RevokeApprovalParams { reason })
                .await?,
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn action(cmd: ActionCmd, conn: Conn) -> Result<()> {
    let c = conn.client()?;
    let f = conn.output;
    let path = |id: &str, rest: &str| format!("/v1/actions/{}{rest}", q(id));
    match cmd {
        ActionCmd::List {
            agent,
            system,
            task,
            review,
            limit,
        } => {
            let mut qs = format!("?limit={limit}");
            for (k, v) in [
                ("agent", agent),
                ("system", system),
                ("task", task),
                ("review", review),
            ] {
                if let Some(v) = v {
                    qs.push_str(&format!("&{k}={}", q(&v)));
                }
            }
            output::show::<Vec<ActionView>>(f, &c.get(&format!("/v1/actions{qs}")).await?);
        }
        ActionCmd::Show { id } => output::show::<ActionView>(f, &c.get(&path(&id, "")).await?),
        ActionCmd::Outcome { id, status, detail } => {
            let body = OutcomeParams {
                status,
                detail: match detail {
                    Some(d) => json_arg("detail", &d)?,
                    None => Value::Null,
                },
            };
            output::show::<ActionView>(f, &c.post_once(&path(&id, "/outcome"), &body).await?);
        }
        ActionCmd::Queue { limit } => output::show::<Vec<ActionView>>(
            f,
            &c.get(&format!("/v1/reviews/queue?limit={limit}")).await?,
        ),
        ActionCmd::Review {
            id,
            verdict,
            comment,
        } => output::show::<ActionView>(
            f,
            &c.post(
                &path(&id, "/review"),
                &PostReviewParams { verdict, comment },
            )
            .await?,
        ),
    }
    Ok(())
}

pub async fn accountability(conn: Conn) -> Result<()> {
    let c = conn.client()?;
    output::show::<Vec<SignalsView>>(conn.output, &c.get("/v1/accountability").await?);
    Ok(())
}

pub async fn policy(cmd: PolicyCmd) -> Result<()> {
    match cmd {
        PolicyCmd::Check {
            dir,
            output: format,
        } => {
            let set = serve::load_policies(dir.as_ref())?;
            let check = PolicyCheckView {
                valid: true,
                digest: set.digest().clone(),
                dir: dir.as_ref().map(|d| d.display().to_string()),
                policies: set
                    .policies()
                    .iter()
                    .map(|p| PolicyView {
                        id: p.id.clone(),
                        file: p.file.clone(),
                        effect: p.effect.clone(),
                        decision: p.decision.clone(),
                        approver: p.approver.clone(),
                        text: p.text.clone(),
                    })
                    .collect(),
            };
            check
                .show(format)
                .context("cannot render the policy summaries")?;
        }
        PolicyCmd::Show { conn } => {
            let c = conn.client()?;
            output::show::<PolicySetView>(conn.output, &c.get("/v1/policies").await?);
        }
        PolicyCmd::Reload { conn } => {
            let c = conn.client()?;
            output::show::<PolicySetView>(
                conn.output,
                &c.post("/v1/policies/reload", &EmptyParams::default())
                    .await?,
            );
        }
    }
    Ok(())
}

// ---------- the command line ----------

/// One action request: what the agent wants to do, and the context a human would need.
#[derive(Args)]
pub(crate) struct DecideArgs {
    /// The target system's id.
    #[arg(long)]
    pub(crate) system: String,
    /// The action, e.g. read, write, refund, send_email.
    #[arg(long)]
    pub(crate) action: String,
    /// The resource within the system, e.g. orders/42.
    #[arg(long)]
    pub(crate) resource: String,
    /// The task. Default: the credential's (any other task is denied).
    #[arg(long)]
    pub(crate) task: Option<String>,
    /// The tool arguments exactly as the tool will receive them, as JSON or @FILE; an
    /// approval binds to them.
    #[arg(long, value_name = "JSON|@FILE")]
    pub(crate) arguments: Option<String>,
    /// The model's confidence, 0 to 1.
    #[arg(long)]
    pub(crate) confidence: Option<f64>,
    /// 0 (none) to 100 (highest).
    #[arg(long, default_value_t = 0)]
    pub(crate) risk_score: u32,
    /// A class of data the action touches, e.g. pii or restricted (repeat).
    #[arg(long = "data-class")]
    pub(crate) data_classes: Vec<String>,
    /// The AI input (prompt, message) that led to the action.
    #[arg(long, conflicts_with = "ai_input_digest")]
    pub(crate) ai_input: Option<String>,
    /// sha256:<hex> of the AI input, when the input itself must not leave the agent.
    #[arg(long)]
    pub(crate) ai_input_digest: Option<String>,
    /// What the AI produced: the draft, the proposed change.
    #[arg(long)]
    pub(crate) ai_output: Option<String>,
    /// Data the AI used: a dataset, a record id (repeat).
    #[arg(long = "data-used")]
    pub(crate) data_used: Vec<String>,
    /// The expected downstream impact.
    #[arg(long)]
    pub(crate) impact: Option<String>,
    /// An approval request a human approved for exactly this action (after a step_up).
    #[arg(long)]
    pub(crate) approval: Option<String>,
    /// On step_up, wait up to SECONDS for the human's answer; once approved, ask again
    /// with the approval.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) wait: Option<u64>,
}

#[derive(Subcommand)]
pub(crate) enum ApprovalCmd {
    /// Approval requests assigned to you (others' need admin, security, risk or compliance).
    List {
        #[arg(long, default_value = "pending",
              value_parser = ["pending", "approved", "denied", "expired", "used", "revoked", "all"])]
        state: String,
        /// Another user's requests (a user id).
        #[arg(long)]
        assignee: Option<String>,
        /// Only this agent's requests.
        #[arg(long)]
        agent: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show a request and its context: what the AI produced, the data it used, the
    /// impact. The assignee's first opening is recorded.
    Show {
        /// The approval request (apr_…).
        id: String,
    },
    /// As the agent (its credential in COUNTERSIGN_TOKEN), wait for the human's answer.
    /// Exit 0 approved; 3 denied, expired, used or revoked; 4 still pending.
    Wait {
        /// The approval request (apr_…).
        id: String,
        /// Seconds to wait; 0 asks once.
        #[arg(long, default_value_t = 30, value_name = "SECONDS")]
        timeout: u64,
    },
    /// Approve: valid once, for exactly this action, until it expires (the assignee).
    Approve {
        /// The approval request (apr_…).
        id: String,
        /// What you checked (required).
        #[arg(long)]
        comment: String,
        /// The first 8 hex characters of the action digest (`approval show`), when
        /// the tier's `confirm_digest` friction rule asks for them.
        #[arg(long, value_name = "HEX")]
        confirm_digest: Option<String>,
    },
    /// Deny: the action does not run (the assignee).
    Deny {
        /// The approval request (apr_…).
        id: String,
        /// Why (required).
        #[arg(long)]
        comment: String,
    },
    /// Revoke an approval the action has not used yet: the agent's retry is denied
    /// (the assignee).
    Revoke {
        /// The approval request (apr_…).
        id: String,
        /// Why it no longer stands (required).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum ActionCmd {
    /// The action log, newest first. Auditors (admin, security, risk, compliance,
    /// operations) see all; others their agents' and systems' actions.
    List {
        #[arg(long)]
        agent: Option<String>,
        #[arg(long)]
        system: Option<String>,
        #[arg(long)]
        task: Option<String>,
        /// Post-action review state.
        #[arg(long, value_parser = ["pending", "reviewed"])]
        review: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// One action: the AI's input, the decision, the human decision and the outcome.
    Show {
        /// The action (act_…).
        id: String,
    },
    /// As the agent (its credential in COUNTERSIGN_TOKEN), report the outcome of an
    /// allowed action, once.
    Outcome {
        /// The action (act_…).
        id: String,
        /// What finally happened.
        #[arg(long, value_parser = ["succeeded", "failed", "abandoned"])]
        status: String,
        /// What happened (ids created, errors), as JSON or @FILE.
        #[arg(long, value_name = "JSON|@FILE")]
        detail: Option<String>,
    },
    /// The post-action review queue: actions allowed without a human on the systems you own.
    Queue {
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Review an action from your queue: ok, or flagged with a comment (the system's owner).
    Review {
        /// The action (act_…).
        id: String,
        /// ok, or flagged (needs a comment).
        #[arg(long, value_parser = ["ok", "flagged"])]
        verdict: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum PolicyCmd {
    /// Validate a policy directory offline, as `serve --policies DIR` loads it: one
    /// *.cedarschema and the *.cedar files. Prints the digest and the policies; exit 1
    /// with the file and reason when the set is invalid.
    Check {
        /// The directory. Default: the built-in example set (policies/).
        dir: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Show the policy set the server is running (any role).
    Show {
        #[command(flatten)]
        conn: Conn,
    },
    /// Reload the server's set from its --policies directory (admin or security); an
    /// invalid set is refused and the running set stays. SIGHUP does the same.
    Reload {
        #[command(flatten)]
        conn: Conn,
    },
}
