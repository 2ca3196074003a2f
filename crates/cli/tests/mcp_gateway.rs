#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The MCP gateway end to end (issue 13, I10, I11), with third-party MCP peers none of
//! which was written for countersign: the Python `mcp` SDK's client
//! (`tests/mcp/drive.py`) drives `countersign mcp proxy` over stdio, in front of a
//! server written with the same SDK (`tests/mcp/shop_server.py`) or of the reference
//! server from npm (`@modelcontextprotocol/server-everything`, installed in
//! `tests/mcp` by scripts/test); raw JSON-RPC lines check what an SDK would hide
//! (byte-for-byte results, malformed messages). A real `serve --demo` decides, the
//! demo system's owner approves step-ups through the API, and `countersign action
//! list` shows every gated call.

mod support;

use countersign_core::Digest;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::{demo_env, demo_var, promoted_release, refund_bot, serve_demo, Cli, RefundBot};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's interpreter with the `mcp` SDK (scripts/test prepares it).
fn python() -> String {
    let python = std::env::var("COUNTERSIGN_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| root().join(".venv/bin/python").display().to_string());
    let ok = Command::new(&python)
        .args(["-c", "import mcp.client.stdio, mcp.server.mcpserver"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the MCP tests need the Python `mcp` SDK in {python}: run scripts/test, which \
         installs scripts/requirements-test.txt into .venv, or set COUNTERSIGN_PYTHON"
    );
    python
}

/// The reference server from npm (tests/mcp, installed by scripts/test with npm ci).
fn everything() -> PathBuf {
    let js =
        root().join("tests/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        js.exists(),
        "tests/mcp has no node_modules: run scripts/test, which installs them (npm ci)"
    );
    js
}

/// `serve --demo`, the refund bot with its credential, and the demo system.
struct World {
    _server: support::Server,
    dir: tempfile::TempDir,
    url: String,
    env: std::collections::HashMap<String, String>,
    jit: String,
    agent: String,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let (server, url) = serve_demo(dir.path());
        let env = demo_env(dir.path());
        let t = |k: &str| demo_var(&env, k);
        let cli = Cli {
            dir: dir.path(),
            server: url.clone(),
            env: Vec::new(),
        };
        let rel = promoted_release(&cli, &t);
        let RefundBot { agent, jit, .. } = refund_bot(&cli, &t, &rel);
        World {
            _server: server,
            dir,
            url,
            env,
            jit,
            agent,
        }
    }

    fn t(&self, k: &str) -> String {
        demo_var(&self.env, k)
    }

    fn cli(&self) -> Cli<'_> {
        Cli {
            dir: self.dir.path(),
            server: self.url.clone(),
            env: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The gateway's command line for `config`, around `upstream`.
    fn proxy(&self, config: &str, wait: u64, upstream: &[String]) -> Vec<String> {
        let mut c = vec![
            env!("CARGO_BIN_EXE_countersign").to_owned(),
            "mcp".into(),
            "proxy".into(),
            "--config".into(),
            self.path(config).display().to_string(),
            "--approval-wait".into(),
            wait.to_string(),
            "--".into(),
        ];
        c.extend(upstream.iter().cloned());
        c
    }

    /// The agent's action log, newest first.
    fn actions(&self) -> Vec<Value> {
        let v = self.cli().json(
            &self.t("CS_OLU"),
            &["action", "list", "--agent", &self.agent],
            0,
        );
        v.as_array().unwrap().clone()
    }

    fn approve(&self, apr: &str) {
        let out = self.cli().ok(
            &self.t("CS_OLU"),
            &[
                "approval",
                "approve",
                apr,
                "--comment",
                "checked the order and the amount",
            ],
        );
        assert!(out.contains("APPROVED"), "{out}");
    }
}

/// The shop fixture's gateway config: reads allowed, refunds step up, payments outside
/// the agent's grants, and a tool that is not mapped at all.
fn shop_config(w: &World) -> &'static str {
    std::fs::write(w.path("shop.toml"), shop_mappings(w, "")).unwrap();
    "shop.toml"
}

/// The shop's mappings; `head` goes in `[servers.shop]` (e.g. its url).
fn shop_mappings(w: &World, head: &str) -> String {
    let sys = w.t("CS_SYSTEM");
    format!(
        r#"
[servers.shop]
{head}

[servers.shop.tools.seen_headers]
system = "{sys}"
action = "read"
resource = "orders/headers"
risk_score = 10

[servers.shop.tools.get_order]
system = "{sys}"
action = "read"
resource = "orders/{{/order_id}}"
risk_score = 10

[servers.shop.tools.refund_order]
system = "{sys}"
action = "write"
resource = "orders/{{/order_id}}"
risk_score = 40
data_classes = ["pii"]
impact = "money leaves the company"

[servers.shop.tools.pay_invoice]
system = "{sys}"
action = "payments"
resource = "invoices/{{/invoice_id}}"

[servers.shop.tools.crash]
system = "{sys}"
action = "read"
resource = "orders/{{/order_id}}"
risk_score = 10
"#
    )
}

/// The fixture server's command line (stdio).
fn shop_server() -> Vec<String> {
    vec![
        python(),
        root()
            .join("tests/mcp/shop_server.py")
            .display()
            .to_string(),
    ]
}

/// The Python SDK's client script and its interpreter.
fn drive_py() -> Vec<String> {
    vec![
        python(),
        root().join("tests/mcp/drive.py").display().to_string(),
    ]
}

/// An SDK's client, driven one step at a time (tests/mcp/drive.py, drive.mjs).
struct Driver {
    child: Child,
    stdin: ChildStdin,
    out: mpsc::Receiver<String>,
    /// The gateway's log lines that announce a wait for a human or a restarted upstream.
    waits: mpsc::Receiver<String>,
}

impl Driver {
    fn start(w: &World, elicit: bool, command: &[String]) -> Driver {
        Self::start_with(w, elicit, command, Some(&w.jit))
    }

    /// `token`: the credential in COUNTERSIGN_TOKEN, if any.
    fn start_with(w: &World, elicit: bool, command: &[String], token: Option<&str>) -> Driver {
        let mut args = vec![];
        if elicit {
            args.push("--elicit".to_owned());
        }
        args.push("--".into());
        args.extend(command.iter().cloned());
        Self::spawn(
            w,
            &drive_py(),
            &args,
            token.map(|t| ("COUNTERSIGN_TOKEN", t)),
        )
    }

    /// The Python SDK's client speaking the 2026-07-28 revision (`server/discover`,
    /// `_meta` on each request, multi-round-trip results) and declaring URL
    /// elicitation, with the credential in COUNTERSIGN_TOKEN.
    fn modern(w: &World, command: &[String]) -> Driver {
        let mut args = vec!["--elicit".to_owned(), "--modern".into(), "--".into()];
        args.extend(command.iter().cloned());
        Self::spawn(w, &drive_py(), &args, Some(("COUNTERSIGN_TOKEN", &w.jit)))
    }

    /// The TypeScript SDK's client (tests/mcp/drive.mjs, the same line protocol) on
    /// stdio, with the credential in COUNTERSIGN_TOKEN.
    fn typescript(w: &World, command: &[String]) -> Driver {
        let mut args = vec!["--".to_owned()];
        args.extend(command.iter().cloned());
        let drive = vec![
            "node".to_owned(),
            root().join("tests/mcp/drive.mjs").display().to_string(),
        ];
        Self::spawn(w, &drive, &args, Some(("COUNTERSIGN_TOKEN", &w.jit)))
    }

    /// The client over Streamable HTTP at `url`, sending `token` as its bearer.
    fn http(w: &World, url: &str, token: &str) -> Driver {
        Self::spawn(
            w,
            &drive_py(),
            &["--http".to_owned(), url.to_owned()],
            Some(("DRIVE_TOKEN", token)),
        )
    }

    /// `client`: the client's program and script; `args` follow them.
    fn spawn(w: &World, client: &[String], args: &[String], token: Option<(&str, &str)>) -> Driver {
        let mut c = Command::new(&client[0]);
        c.args(&client[1..]);
        c.env_remove("COUNTERSIGN_TOKEN");
        if let Some((k, v)) = token {
            c.env(k, v);
        }
        let mut child = c
            .args(args)
            .current_dir(w.dir.path())
            .env("COUNTERSIGN_SERVER", &w.url)
            .env("COUNTERSIGN_LOG", "info")
            .env("NO_COLOR", "1")
            .env("SHOP_LOG", w.path("shop.log"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let out = support::lines(&mut child);
        let stderr = child.stderr.take().unwrap();
        let (tx, waits) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                if line.contains("waiting for a human")
                    || line.contains("the upstream MCP server is back")
                {
                    let _ = tx.send(line);
                }
            }
        });
        let mut d = Driver {
            child,
            stdin,
            out,
            waits,
        };
        let hello = d.next();
        assert!(hello["initialized"].is_string(), "{hello}");
        d
    }

    fn next(&mut self) -> Value {
        let line = self
            .out
            .recv_timeout(Duration::from_secs(90))
            .expect("the MCP client answered nothing in 90 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    fn send(&mut self, cmd: Value) -> Value {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        self.next()
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.send(json!({"op": "call", "tool": tool, "arguments": arguments}))
    }

    /// Ends a session whose client can no longer say goodbye (its token is revoked).
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Ends the session: the client closes the gateway's input and waits for it.
    fn close(mut self) {
        let bye = self.send(json!({"op": "close"}));
        assert_eq!(bye, json!({"closed": true}));
        assert!(self.child.wait().unwrap().success());
    }
}

/// A tool result's text, asserting it is a tool error.
fn tool_error(r: &Value) -> String {
    assert_eq!(
        (&r["ok"], &r["is_error"]),
        (&json!(true), &json!(true)),
        "{r}"
    );
    r["text"].as_str().unwrap().to_owned()
}

/// A tool result's text, asserting it succeeded.
fn tool_ok(r: &Value) -> String {
    assert_eq!(
        (&r["ok"], &r["is_error"]),
        (&json!(true), &json!(false)),
        "{r}"
    );
    r["text"].as_str().unwrap().to_owned()
}

/// The approval request named in an "approval required at …" text.
fn approval_in(text: &str, console: &str) -> String {
    let prefix = format!("approval required at {console}/console/approvals/");
    let rest = text
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("not an approval-required text: {text}"));
    let id = rest.split_whitespace().next().unwrap().to_owned();
    assert!(
        rest.contains(&format!("(id {id},")),
        "the id is named: {text}"
    );
    assert!(text.contains("retry the same call"), "{text}");
    id
}

/// What reached the upstream (the fixture logs every tool it runs).
fn upstream_ran(w: &World) -> Vec<Value> {
    std::fs::read_to_string(w.path("shop.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn i10_python_sdk_client_through_the_gateway_allow_deny_step_up_and_retry() {
    let w = World::new();
    let python = python();
    let config = shop_config(&w);
    let shop = vec![
        python.clone(),
        root()
            .join("tests/mcp/shop_server.py")
            .display()
            .to_string(),
    ];
    let mut d = Driver::start(&w, false, &w.proxy(config, 0, &shop));

    // The upstream's own tool list, each tool with what a call would get now (a
    // preview: nothing recorded), and a sentence for the model where it is not allowed.
    let before = w.actions().len();
    let tools = d.send(json!({"op": "list"}));
    assert_eq!(
        tools["tools"],
        json!([
            "get_order",
            "refund_order",
            "pay_invoice",
            "delete_everything",
            "crash",
            "seen_headers"
        ])
    );
    assert_eq!(
        tools["decisions"],
        json!({"get_order": "allow", "refund_order": "step_up", "pay_invoice": "deny",
               "delete_everything": "deny", "crash": "allow", "seen_headers": "allow"}),
        "{tools}"
    );
    let said = |t: &str| {
        tools["descriptions"][t]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        said("refund_order").contains("a named human must approve"),
        "{tools}"
    );
    assert!(
        said("pay_invoice").contains("calls are denied now"),
        "{tools}"
    );
    assert!(
        said("delete_everything").contains("not in the gateway's map"),
        "{tools}"
    );
    assert!(!said("get_order").contains("countersign"), "{tools}");
    assert_eq!(w.actions().len(), before, "a tool list decides nothing");

    // Allowed: a low-risk read runs and the model gets the upstream's result.
    let r = d.call("get_order", json!({"order_id": 4711}));
    assert_eq!(tool_ok(&r), "order 4711: 2 items, 120 EUR, delivered");

    // Denied: payments are outside the agent's grants; the text says why.
    let text = tool_error(&d.call("pay_invoice", json!({"invoice_id": 9})));
    assert!(
        text.starts_with("countersign denied the call to pay_invoice: "),
        "{text}"
    );
    assert!(text.contains("payments"), "the server's reason: {text}");

    // Unmapped: denied without asking.
    let text = tool_error(&d.call("delete_everything", json!({})));
    assert!(
        text.contains("\"delete_everything\" is not in the gateway's map"),
        "{text}"
    );

    // Step-up: a refund waits for the system's owner; nothing runs meanwhile.
    let refund = json!({"order_id": 4711, "amount": 120, "currency": "EUR"});
    let text = tool_error(&d.call("refund_order", refund.clone()));
    let apr = approval_in(&text, &w.url);
    assert!(text.contains(&w.t("CS_OLU_ID")), "the assignee: {text}");
    // The same call again, still unanswered: the same request, not a new one.
    let text = tool_error(&d.call("refund_order", refund.clone()));
    assert_eq!(approval_in(&text, &w.url), apr);
    let pending = w.cli().json(
        &w.t("CS_OLU"),
        &["approval", "list", "--agent", &w.agent],
        0,
    );
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(pending[0]["arguments"], refund, "{pending}");

    // The human approves through the API.
    w.approve(&apr);

    // Other arguments do not ride on it: a new approval is needed.
    let bigger = json!({"order_id": 4711, "amount": 12000, "currency": "EUR"});
    let text = tool_error(&d.call("refund_order", bigger));
    let apr_bigger = approval_in(&text, &w.url);
    assert_ne!(apr_bigger, apr);

    // The same call goes through, once.
    let r = d.call("refund_order", refund.clone());
    assert_eq!(tool_ok(&r), "refunded 120 EUR on order 4711");
    let text = tool_error(&d.call("refund_order", refund.clone()));
    let apr_again = approval_in(&text, &w.url);
    assert!(apr_again != apr && apr_again != apr_bigger, "{text}");

    // Only the allowed calls reached the upstream, each once.
    let ran = upstream_ran(&w);
    let names: Vec<&str> = ran.iter().map(|r| r["tool"].as_str().unwrap()).collect();
    assert_eq!(names, ["get_order", "refund_order"], "{ran:?}");
    assert_eq!(ran[1]["arguments"], refund);

    // The upstream crashes mid-call: a clear error for the call in flight.
    let r = d.call("crash", json!({"order_id": 1}));
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["code"], -32603, "{r}");
    let message = r["message"].as_str().unwrap();
    assert!(
        message.contains("the upstream MCP server exited")
            && message.contains("before answering tools/call")
            && message.contains("may or may not have run"),
        "{message}"
    );
    // The gateway starts the upstream again (replaying the client's initialize): the
    // next call goes through without the client reconnecting.
    loop {
        let line = d
            .waits
            .recv_timeout(Duration::from_secs(30))
            .expect("the gateway never started the upstream again");
        if line.contains("the upstream MCP server is back") {
            break;
        }
    }
    let again = d.call("get_order", json!({"order_id": 4711}));
    assert!(tool_ok(&again).contains("4711"), "{again}");
    d.close();

    // Every gated call is in the action log, with the decision, the human's
    // decision and the outcome.
    let actions = w.actions();
    let of = |action: &str, decision: &str| -> Vec<&Value> {
        actions
            .iter()
            .filter(|a| a["action"] == action && a["decision"] == decision)
            .collect()
    };
    let reads = of("read", "allow");
    assert_eq!(
        reads.len(),
        3,
        "get_order, crash, get_order after the restart: {actions:?}"
    );
    let read = reads
        .iter()
        .find(|a| a["arguments"] == json!({"order_id": 4711}))
        .unwrap();
    assert_eq!(read["resource"], "orders/4711");
    assert_eq!(read["outcome"]["status"], "succeeded", "{read}");
    assert!(read["outcome"]["detail"]["result_digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let crashed = reads
        .iter()
        .find(|a| a["arguments"] == json!({"order_id": 1}))
        .unwrap();
    assert_eq!(crashed["outcome"]["status"], "failed", "{crashed}");
    assert_eq!(crashed["outcome"]["detail"]["may_have_run"], true);
    assert_eq!(of("payments", "deny").len(), 1, "{actions:?}");
    assert_eq!(
        of("write", "step_up").len(),
        3,
        "120 EUR (asked once), 12000 EUR, 120 EUR again: {actions:?}"
    );
    let allowed = of("write", "allow");
    assert_eq!(allowed.len(), 1, "{actions:?}");
    let ran = allowed[0];
    assert_eq!(ran["approval_id"], apr.as_str());
    let shown = w.cli().json(
        &w.t("CS_OLU"),
        &["action", "show", ran["id"].as_str().unwrap()],
        0,
    );
    assert_eq!(shown["approval"]["state"], "used", "{shown}");
    assert_eq!(shown["approval"]["decided_by"], w.t("CS_OLU_ID").as_str());
    assert_eq!(ran["arguments"], refund);
    assert_eq!(ran["outcome"]["status"], "succeeded", "{ran}");
    let step = actions
        .iter()
        .find(|a| a["approval_id"] == apr.as_str() && a["decision"] == "step_up")
        .unwrap();
    assert_eq!(step["action_digest"], ran["action_digest"], "one digest");
    // The CLI's text view shows them too.
    let out = w
        .cli()
        .ok(&w.t("CS_OLU"), &["action", "list", "--agent", &w.agent]);
    assert_eq!(out.lines().count(), actions.len(), "{out}");
    assert!(out.contains("outcome succeeded"), "{out}");

    // And the ledger: each decision is an entry naming its action, with its digest;
    // the human's approval and the outcomes are entries too; the chain verifies.
    let entries = w
        .cli()
        .json(&w.t("CS_ADMIN"), &["ledger", "list", "--limit", "1000"], 0);
    let entries = entries.as_array().unwrap();
    for a in &actions {
        let decided = entries
            .iter()
            .find(|e| e["action"] == "action.decide" && e["subject"] == a["id"])
            .unwrap_or_else(|| panic!("no ledger entry for {a}"));
        assert_eq!(
            decided["payload"]["action_digest"], a["action_digest"],
            "{decided}"
        );
    }
    assert!(entries
        .iter()
        .any(|e| e["action"] == "approval.approve" && e["subject"] == apr.as_str()));
    assert!(entries
        .iter()
        .any(|e| e["action"] == "action.outcome" && e["subject"] == ran["id"]));
    let out = w
        .cli()
        .ok("", &["ledger", "verify", "--db", "countersign.db"]);
    assert!(out.contains("ledger OK"), "{out}");
}

#[test]
fn i10_typescript_sdk_client_through_the_gateway_allowed_and_denied() {
    let w = World::new();
    let config = shop_config(&w);
    let shop = shop_server();
    everything(); // tests/mcp's node_modules, where the SDK is pinned
    let mut d = Driver::typescript(&w, &w.proxy(config, 0, &shop));

    let tools = d.send(json!({"op": "list"}));
    assert!(
        tools["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("get_order")),
        "{tools}"
    );
    // Allowed: the upstream's result, as the Python client gets it.
    let r = d.call("get_order", json!({"order_id": 4711}));
    assert_eq!(tool_ok(&r), "order 4711: 2 items, 120 EUR, delivered");
    // Denied: outside the agent's grants; the model reads why.
    let text = tool_error(&d.call("pay_invoice", json!({"invoice_id": 9})));
    assert!(
        text.starts_with("countersign denied the call to pay_invoice: "),
        "{text}"
    );
    // Unmapped: denied without asking.
    let text = tool_error(&d.call("delete_everything", json!({})));
    assert!(
        text.contains("\"delete_everything\" is not in the gateway's map"),
        "{text}"
    );
    d.close();

    // Only the allowed call reached the upstream; both decisions are in the log.
    let ran: Vec<String> = upstream_ran(&w)
        .iter()
        .map(|e| e["tool"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ran, ["get_order"], "{ran:?}");
    let actions = w.actions();
    let decisions: Vec<(&str, &str)> = actions
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap(),
                a["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(decisions.contains(&("read", "allow")), "{decisions:?}");
    assert!(decisions.contains(&("payments", "deny")), "{decisions:?}");
}

#[test]
fn i10_the_gateway_waits_for_the_human_and_answers_each_client_its_way() {
    let w = World::new();
    let python = python();
    let config = shop_config(&w);
    let shop = vec![
        python.clone(),
        root()
            .join("tests/mcp/shop_server.py")
            .display()
            .to_string(),
    ];

    // The human answers while the gateway waits: the call runs in one go. This
    // gateway issues its own credential as the agent (and would renew it).
    let sys = w.t("CS_SYSTEM");
    let mut command = w.proxy(config, 40, &shop);
    let at = command.iter().position(|a| a == "--").unwrap();
    let own = [
        "--agent".to_owned(),
        w.agent.clone(),
        "--key-file".into(),
        w.path("bot.key").display().to_string(),
        "--task".into(),
        "ticket-4711".into(),
        "--scope".into(),
        format!("{sys}:read:orders/*"),
        "--scope".into(),
        format!("{sys}:write:orders/*"),
    ];
    command.splice(at..at, own);
    let mut d = Driver::start_with(&w, false, &command, None);
    let refund = json!({"order_id": 4712, "amount": 30, "currency": "EUR"});
    writeln!(
        d.stdin,
        "{}",
        json!({"op": "call", "tool": "refund_order", "arguments": refund})
    )
    .unwrap();
    d.stdin.flush().unwrap();
    let waiting = d
        .waits
        .recv_timeout(Duration::from_secs(60))
        .expect("the gateway never waited for a human");
    let start = waiting.find("apr_").expect("an approval id in the log");
    let apr: String = waiting[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    w.approve(&apr);
    assert_eq!(tool_ok(&d.next()), "refunded 30 EUR on order 4712");
    d.close();

    // A client that declared URL elicitation (2025-11-25) gets the URL elicitation
    // error pointing at the console's approval page, and its retry runs once approved.
    let mut d = Driver::start(&w, true, &w.proxy(config, 0, &shop));
    let refund = json!({"order_id": 4713, "amount": 50, "currency": "EUR"});
    let r = d.call("refund_order", refund.clone());
    assert_eq!(
        (&r["ok"], &r["code"]),
        (&json!(false), &json!(-32042)),
        "{r}"
    );
    let elicitation = &r["data"]["elicitations"][0];
    assert_eq!(elicitation["mode"], "url", "{r}");
    let apr = elicitation["elicitationId"].as_str().unwrap().to_owned();
    assert_eq!(
        elicitation["url"],
        format!("{}/console/approvals/{apr}", w.url),
        "{r}"
    );
    w.approve(&apr);
    assert_eq!(
        tool_ok(&d.call("refund_order", refund)),
        "refunded 50 EUR on order 4713"
    );
    d.close();
    let names: Vec<String> = upstream_ran(&w)
        .iter()
        .map(|r| r["arguments"]["order_id"].to_string())
        .collect();
    assert_eq!(names, ["4712", "4713"]);
}

#[test]
fn i10_a_2026_07_28_client_gets_input_required_and_its_retry_runs_once_approved() {
    let w = World::new();
    let config = shop_config(&w);
    let shop = shop_server();
    let mut d = Driver::modern(&w, &w.proxy(config, 0, &shop));
    let refund = json!({"order_id": 4714, "amount": 70, "currency": "EUR"});
    let r = d.call("refund_order", refund.clone());
    assert_eq!(r["input_required"], true, "{r}");
    let ask = &r["input_requests"]["countersign_approval"];
    assert_eq!(ask["method"], "elicitation/create", "{r}");
    assert_eq!(ask["params"]["mode"], "url", "{r}");
    let url = ask["params"]["url"].as_str().unwrap();
    let apr = url
        .strip_prefix(&format!("{}/console/approvals/", w.url))
        .unwrap_or_else(|| panic!("the console's approval page: {url}"))
        .to_owned();
    let state = r["request_state"].as_str().unwrap().to_owned();
    let retry = |d: &mut Driver, arguments: &Value, state: &str| {
        d.send(
            json!({"op": "retry", "tool": "refund_order", "arguments": arguments,
                      "request_state": state, "accept": ["countersign_approval"]}),
        )
    };

    // Retried before the human answered: asked again, same request.
    let again = retry(&mut d, &refund, &state);
    assert_eq!(again["input_required"], true, "{again}");
    assert!(
        again["input_requests"]["countersign_approval"]["params"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&apr),
        "{again}"
    );
    // Other arguments never ride on the state (or the approval): refused, nothing runs.
    let more = json!({"order_id": 4714, "amount": 7000, "currency": "EUR"});
    let bad = retry(&mut d, &more, &state);
    assert_eq!(
        (&bad["ok"], &bad["code"]),
        (&json!(false), &json!(-32602)),
        "{bad}"
    );
    assert!(
        bad["message"].as_str().unwrap().contains("requestState"),
        "{bad}"
    );
    // A forged state likewise.
    let forged = format!("{state}x");
    let bad = retry(&mut d, &refund, &forged);
    assert_eq!(bad["code"], -32602, "{bad}");

    w.approve(&apr);
    assert_eq!(
        tool_ok(&retry(&mut d, &refund, &state)),
        "refunded 70 EUR on order 4714"
    );
    // The approval was spent by that call: the same state again is refused.
    let spent = tool_error(&retry(&mut d, &refund, &state));
    assert!(spent.contains("already used"), "{spent}");
    d.close();

    let ran = upstream_ran(&w);
    assert_eq!(ran.len(), 1, "only the approved call ran: {ran:?}");
    assert_eq!(ran[0]["arguments"], refund);
    // The action log: the step-up and the allowed retry, one digest, the outcome.
    let acts = w.actions();
    let with = |d: &str| -> Vec<&Value> {
        acts.iter()
            .filter(|a| a["approval_id"] == apr.as_str() && a["decision"] == d)
            .collect()
    };
    let (step, ran) = (with("step_up"), with("allow"));
    assert_eq!((step.len(), ran.len()), (1, 1), "{acts:#?}");
    assert_eq!(step[0]["action_digest"], ran[0]["action_digest"]);
    assert_eq!(ran[0]["outcome"]["status"], "succeeded", "{acts:#?}");
}

/// `@modelcontextprotocol/inspector-cli` (pinned in tests/mcp) run once against
/// `target` with `args`: its exit status, standard output and standard error.
fn inspector(w: &World, target: &[String], args: &[&str]) -> (bool, String, String) {
    let build = root().join("tests/mcp/node_modules/@modelcontextprotocol/inspector-cli/build");
    assert!(
        build.exists(),
        "tests/mcp has no inspector-cli: run scripts/test, which installs it (npm ci)"
    );
    // 1.0.3 finds its own package.json relative to the working directory.
    // The server's program, its own options, then after `--` the rest of the
    // server's command line (the gateway's options and `--` included).
    let out = Command::new("node")
        .arg(build.join("index.js"))
        .arg(&target[0])
        .args(args)
        .arg("--")
        .args(&target[1..])
        .current_dir(&build)
        .env("COUNTERSIGN_SERVER", &w.url)
        .env("COUNTERSIGN_TOKEN", &w.jit)
        .env("SHOP_LOG", w.path("shop.log"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn i10_the_inspector_cli_through_the_gateway() {
    let w = World::new();
    let config = shop_config(&w);
    let shop = shop_server();
    let proxy = w.proxy(config, 0, &shop);
    let call = |tool: &str, arg: &[&str]| -> Value {
        let mut args = vec!["--method", "tools/call", "--tool-name", tool];
        if !arg.is_empty() {
            args.push("--tool-arg");
            args.extend_from_slice(arg);
        }
        let (ok, out, err) = inspector(&w, &proxy, &args);
        assert!(ok, "inspector-cli failed: {out}\n{err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    // The tool list, noted.
    let (ok, out, err) = inspector(&w, &proxy, &["--method", "tools/list"]);
    assert!(ok, "{out}\n{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    let decision = |name: &str| {
        list["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["_meta"]["countersign/decision"].clone())
    };
    assert_eq!(decision("get_order"), Some(json!("allow")), "{list}");
    assert_eq!(decision("pay_invoice"), Some(json!("deny")), "{list}");
    // Allowed: the upstream's answer.
    let r = call("get_order", &["order_id=4711"]);
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(
        r["content"][0]["text"],
        "order 4711: 2 items, 120 EUR, delivered"
    );
    // Denied and unmapped: tool errors saying why.
    let r = call("pay_invoice", &["invoice_id=9"]);
    assert_eq!(r["isError"], true, "{r}");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("countersign denied the call to pay_invoice"),
        "{r}"
    );
    let r = call("delete_everything", &[]);
    assert_eq!(r["isError"], true, "{r}");
    // A step-up: this client cannot elicit, so it is told where to approve.
    let r = call(
        "refund_order",
        &["order_id=4715", "amount=10", "currency=EUR"],
    );
    assert_eq!(r["isError"], true, "{r}");
    let apr = approval_in(r["content"][0]["text"].as_str().unwrap(), &w.url);
    w.approve(&apr);
    let r = call(
        "refund_order",
        &["order_id=4715", "amount=10", "currency=EUR"],
    );
    assert_eq!(
        r["content"][0]["text"], "refunded 10 EUR on order 4715",
        "{r}"
    );
    let ran: Vec<String> = upstream_ran(&w)
        .iter()
        .map(|r| r["tool"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ran, ["get_order", "refund_order"], "only allowed calls ran");
}

/// Runs an MCP server command with `lines` on its input, waits for `answers` answers
/// (lines with an id and no method), closes its input and returns every line it wrote.
fn exchange(
    command: &[String],
    env: &[(&str, &str)],
    lines: &[String],
    answers: usize,
) -> Vec<String> {
    let mut c = Command::new(&command[0]);
    c.args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let rx = support::lines(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    stdin.flush().unwrap();
    let is_answer = |l: &str| {
        serde_json::from_str::<Value>(l)
            .is_ok_and(|v| v.get("method").is_none() && v.get("id").is_some())
    };
    let mut got: Vec<String> = Vec::new();
    while got.iter().filter(|l| is_answer(l)).count() < answers {
        let l = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{command:?} answered {got:#?} and then nothing"));
        got.push(l);
    }
    drop(stdin);
    got.extend(rx.iter());
    assert!(child.wait().unwrap().success(), "{command:?}: {got:?}");
    got
}

/// The line that answers request `id`.
fn answer(lines: &[String], id: Value) -> &str {
    let hits: Vec<&String> = lines
        .iter()
        .filter(|l| {
            serde_json::from_str::<Value>(l)
                .is_ok_and(|v| v.get("method").is_none() && v.get("id") == Some(&id))
        })
        .collect();
    assert_eq!(hits.len(), 1, "one answer to {id}: {lines:#?}");
    hits[0]
}

#[test]
fn i10_raw_json_rpc_through_the_gateway_to_the_npm_reference_server() {
    let w = World::new();
    let sys = w.t("CS_SYSTEM");
    std::fs::write(
        w.path("everything.toml"),
        format!(
            r#"
[servers.everything.tools.echo]
system = "{sys}"
action = "read"
resource = "orders/{{/message}}"
risk_score = 5

[servers.everything.tools.get-env]
system = "{sys}"
action = "read"
resource = "orders/env"
"#
        ),
    )
    .unwrap();
    let node = vec![
        "node".to_owned(),
        everything().display().to_string(),
        "stdio".into(),
    ];
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw-lines", "version": "1"}}})
    .to_string();
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned();
    let echo = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello, wörld \"quoted\" \u00e9"}}}"#.to_owned();

    // The reference server answered directly, and through the gateway.
    let direct = exchange(
        &node,
        &[],
        &[init.clone(), initialized.clone(), echo.clone()],
        2,
    );
    let via = exchange(
        &w.proxy("everything.toml", 0, &node),
        &[
            ("COUNTERSIGN_SERVER", &w.url),
            ("COUNTERSIGN_TOKEN", &w.jit),
        ],
        &[
            init,
            initialized,
            echo,
            // Malformed: nothing is forwarded, each gets a JSON-RPC error.
            "{not json".into(),
            r#"[{"jsonrpc":"2.0","id":30,"method":"ping"}]"#.into(),
            r#"{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"arguments":{}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":32,"method":"tools/call","params":{"name":"echo","arguments":"hi"}}"#.into(),
            r#"{"jsonrpc":"1.0","id":33,"method":"ping"}"#.into(),
            // Unmapped on this server: denied.
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get-sum","arguments":{"a":1,"b":2}}}"#.into(),
            // The upstream's environment: the gateway's credential is not in it.
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get-env","arguments":{}}}"#.into(),
            r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#.into(),
        ],
        10,
    );

    // Byte for byte.
    let direct_echo = answer(&direct, json!(2));
    assert_eq!(answer(&via, json!(2)), direct_echo);
    assert!(direct_echo.contains("Echo: hello"), "{direct_echo}");

    let error = |id: Value| -> Value {
        let v: Value = serde_json::from_str(answer(&via, id)).unwrap();
        v["error"].clone()
    };
    let parse: Vec<&String> = via
        .iter()
        .filter(|l| l.contains("\"code\":-32700"))
        .collect();
    assert_eq!(parse.len(), 1, "{via:#?}");
    assert!(parse[0].contains("\"id\":null"), "{}", parse[0]);
    let batch: Vec<&String> = via.iter().filter(|l| l.contains("batch")).collect();
    assert_eq!(batch.len(), 1, "{via:#?}");
    assert!(batch[0].contains("-32600"), "{}", batch[0]);
    assert!(
        !via.iter().any(|l| l.contains("\"id\":30")),
        "the batch's request was not forwarded: {via:#?}"
    );
    assert_eq!(error(json!(31))["code"], -32602);
    assert!(error(json!(31))["message"]
        .as_str()
        .unwrap()
        .contains("params.name"));
    assert_eq!(error(json!(32))["code"], -32602);
    assert_eq!(error(json!(33))["code"], -32600);

    let result = |id: Value| -> Value {
        let v: Value = serde_json::from_str(answer(&via, id)).unwrap();
        v["result"].clone()
    };
    let denied = result(json!(4));
    assert_eq!(denied["isError"], true, "{denied}");
    assert!(denied["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("\"get-sum\" is not in the gateway's map"));
    let env_text = result(json!(5))["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(env_text.contains("PATH"), "{env_text}");
    assert!(
        !env_text.contains("COUNTERSIGN_TOKEN") && !env_text.contains(&w.jit),
        "the upstream saw the gateway's credential: {env_text}"
    );
    assert_eq!(result(json!(6)), json!({}));

    // The allowed call's outcome carries the digest of the exact result bytes.
    #[derive(serde::Deserialize)]
    struct Answered<'a> {
        #[serde(borrow)]
        result: &'a serde_json::value::RawValue,
    }
    let result_bytes = serde_json::from_str::<Answered<'_>>(direct_echo)
        .unwrap()
        .result
        .get();
    let actions = w.actions();
    let echoed = actions
        .iter()
        .find(|a| a["resource"].as_str().unwrap().starts_with("orders/hello"))
        .unwrap_or_else(|| panic!("{actions:?}"));
    assert_eq!(echoed["decision"], "allow");
    assert_eq!(
        echoed["resource"],
        "orders/hello%2C%20w%C3%B6rld%20%22quoted%22%20%C3%A9"
    );
    assert_eq!(echoed["outcome"]["status"], "succeeded", "{echoed}");
    assert_eq!(
        echoed["outcome"]["detail"]["result_digest"],
        Digest::of(result_bytes.as_bytes()).as_str()
    );
    assert_eq!(actions.len(), 2, "echo and get-env: {actions:?}");
}

#[test]
fn mcp_check_validates_a_config_offline_and_against_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = serve_demo(dir.path());
    let env = demo_env(dir.path());
    let t = |k: &str| demo_var(&env, k);
    let cli = Cli {
        dir: dir.path(),
        server: url.clone(),
        env: Vec::new(),
    };
    let sys = t("CS_SYSTEM");
    let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "gw.toml",
        format!(
            r#"
[servers.shop.tools.refund_order]
system = "{sys}"
action = "write"
resource = "orders/{{/order_id}}"
data_classes = ["pii"]

[servers.files]
default = {{ system = "sys_elsewhere", action = "read", resource = "files/{{tool}}" }}
"#
        ),
    );
    // Offline: the file alone is valid.
    let out = cli.ok("", &["mcp", "check", "gw.toml"]);
    assert!(
        out.starts_with("gw.toml is valid: 2 server(s), 1 tool(s) mapped"),
        "{out}"
    );
    assert!(out.contains("unmapped tools: denied"), "{out}");
    assert!(
        out.contains(&format!(
            "refund_order             {sys} write orders/{{/order_id}} [pii]"
        )),
        "{out}"
    );
    // Against the server: the default mapping names a system it does not have.
    let (code, out) = cli.run(
        &t("CS_MAYA"),
        &["mcp", "check", "gw.toml", "--server", &url],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "gw.toml: servers.files.default.system: no system \"sys_elsewhere\" on {url}"
        )),
        "{out}"
    );
    write(
        "one.toml",
        format!("[servers.shop.tools.t]\nsystem = \"{sys}\"\naction = \"read\"\nresource = \"orders/1\"\n"),
    );
    let out = cli.ok(
        &t("CS_MAYA"),
        &["mcp", "check", "one.toml", "--server", &url],
    );
    assert!(out.contains(&format!("system {sys} (")), "{out}");
    // A broken file: the file, the field and the reason.
    write(
        "bad.toml",
        "[servers.shop.tools.t]\nsystem = \"s\"\naction = \"read\"\nresource = \"orders/{order_id}\"\n".into(),
    );
    let (code, out) = cli.run("", &["mcp", "check", "bad.toml"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("bad.toml: servers.shop.tools.t.resource: \"orders/{order_id}\": placeholder `{order_id}` is neither `{tool}` nor a JSON pointer starting with `/`"),
        "{out}"
    );
}

#[test]
fn mcp_check_names_the_tools_an_agent_holds_no_grant_for() {
    let w = World::new();
    let config = shop_config(&w);
    let sys = w.t("CS_SYSTEM");
    let out = w.cli().ok(
        &w.t("CS_MAYA"),
        &[
            "mcp", "check", config, "--server", &w.url, "--agent", &w.agent,
        ],
    );
    assert!(out.contains("policy set sha256:"), "{out}");
    assert!(
        out.contains(&format!(
            "  shop.get_order: {sys} read orders/_ granted to {}",
            w.agent
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "  warning: shop.pay_invoice: {} holds no active grant for {sys} payments invoices/_; every call will be denied",
            w.agent
        )),
        "{out}"
    );
    assert!(out.contains("1 mapped tool(s) without a grant"), "{out}");
    // --agent needs --server.
    let (code, out) = w.cli().run(
        &w.t("CS_MAYA"),
        &["mcp", "check", config, "--agent", &w.agent],
    );
    assert_eq!(code, 2, "{out}");
}

/// A child process's standard error, forwarded to the test's, until a line
/// containing `ready` shows.
fn wait_for_stderr(child: &mut Child, ready: &str) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let ready = ready.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if line.contains(&ready) {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the upstream did not start");
}

/// `countersign mcp serve` with `config` (in the world's directory): the running
/// gateway and the address it listens on.
fn mcp_serve(w: &World, config: &str) -> (support::Server, String) {
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .current_dir(w.dir.path())
        .args([
            "mcp",
            "serve",
            "--config",
            config,
            "--listen",
            "127.0.0.1:0",
        ])
        .env("COUNTERSIGN_SERVER", &w.url)
        .env_remove("COUNTERSIGN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = support::lines(&mut gateway);
    let server = support::Server(gateway);
    let addr = loop {
        let l = out
            .recv_timeout(Duration::from_secs(60))
            .expect("mcp serve did not start");
        if let Some(a) = l.strip_prefix("countersign mcp: listening on ") {
            break a.trim().to_owned();
        }
    };
    (server, addr)
}

#[test]
fn i10_the_npm_reference_server_over_streamable_http_through_the_gateway() {
    let w = World::new();
    let sys = w.t("CS_SYSTEM");
    let port = support::free_port();
    let mut child = Command::new("node")
        .arg(everything())
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_stderr(&mut child, "listening on port");
    let _upstream = support::Server(child);
    std::fs::write(
        w.path("everything.toml"),
        format!(
            r#"
approval_wait_seconds = 0
[servers.everything]
url = "http://127.0.0.1:{port}/mcp"
# Unmapped tools are asked as an action no grant covers: denied, and recorded.
default = {{ system = "{sys}", action = "unmapped", resource = "tools/{{tool}}" }}

[servers.everything.tools.echo]
system = "{sys}"
action = "read"
resource = "orders/echo"
risk_score = 10
"#
        ),
    )
    .unwrap();
    let (_gateway, addr) = mcp_serve(&w, "everything.toml");
    let mut d = Driver::http(&w, &format!("http://{addr}/mcp/everything"), &w.jit);
    let tools = d.send(json!({"op": "list"}));
    assert_eq!(tools["decisions"]["echo"], "allow", "{tools}");
    let names = tools["tools"].as_array().unwrap();
    let other = names
        .iter()
        .filter_map(Value::as_str)
        .find(|n| *n != "echo")
        .expect("the reference server has more tools than echo")
        .to_owned();
    assert_eq!(tools["decisions"][&other], "deny", "{tools}");
    // Allowed: the reference server's own answer.
    assert_eq!(
        tool_ok(&d.call("echo", json!({"message": "hi over http"}))),
        "Echo: hi over http"
    );
    // Not in the map: the default mapping asks countersign, which denies (no grant
    // covers it) and records the attempt; nothing reaches the server.
    let text = tool_error(&d.call(&other, json!({})));
    assert!(
        text.starts_with(&format!("countersign denied the call to {other}")),
        "{text}"
    );
    d.close();
    let actions = w.actions();
    assert_eq!(actions.len(), 2, "{actions:?}");
    let denied = actions.iter().find(|a| a["decision"] == "deny").unwrap();
    assert_eq!(denied["action"], "unmapped", "{denied}");
    assert_eq!(denied["resource"], format!("tools/{other}"), "{denied}");
    let echo = actions.iter().find(|a| a["decision"] == "allow").unwrap();
    assert_eq!(echo["arguments"], json!({"message": "hi over http"}));
    assert_eq!(echo["outcome"]["status"], "succeeded", "{actions:?}");
    assert!(echo["outcome"]["detail"]["result_digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
}

#[test]
fn i10_streamable_http_gateway_authenticates_decides_and_keeps_the_token_from_the_upstream() {
    let w = World::new();
    // The upstream: the fixture server over Streamable HTTP.
    let port = support::free_port();
    let mut child = Command::new(python())
        .arg(root().join("tests/mcp/shop_server.py"))
        .args(["--http", &port.to_string()])
        .env("SHOP_LOG", w.path("shop.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_stderr(&mut child, "Uvicorn running on");
    let _upstream = support::Server(child);
    let head = format!("url = \"http://127.0.0.1:{port}/mcp\"\nhide_denied_tools = true");
    let text = format!("approval_wait_seconds = 0\n{}", shop_mappings(&w, &head));
    std::fs::write(w.path("http.toml"), text).unwrap();

    // The gateway.
    let (_gateway, addr) = mcp_serve(&w, "http.toml");
    let endpoint = format!("http://{addr}/mcp/shop");
    let metadata = format!("http://{addr}/.well-known/oauth-protected-resource/mcp/shop");

    // An OAuth protected resource: no token, or one countersign did not issue, is
    // refused with the way to its metadata.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let post = |token: Option<&str>| {
        let mut rb = http
            .post(&endpoint)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(ping);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rt.block_on(rb.send()).unwrap()
    };
    let r = post(None);
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert_eq!(
        challenge,
        format!("Bearer resource_metadata=\"{metadata}\"")
    );
    let r = post(Some("eyJhbGciOiJFZERTQSJ9.e30.c2ln"));
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let doc: Value = rt
        .block_on(async { http.get(&metadata).send().await?.json().await })
        .unwrap();
    assert_eq!(doc["resource"], endpoint.as_str());
    assert_eq!(doc["authorization_servers"], json!([w.url]));

    // The Python SDK's Streamable HTTP client with the agent's credential.
    let mut d = Driver::http(&w, &endpoint, &w.jit);
    // This server hides what the agent may not call (hide_denied_tools); the rest
    // come noted with what a call would get now. The list reads whole (JSON or SSE).
    let tools = d.send(json!({"op": "list"}));
    assert_eq!(
        tools["tools"],
        json!(["get_order", "refund_order", "crash", "seen_headers"]),
        "{tools}"
    );
    assert_eq!(tools["decisions"]["refund_order"], "step_up", "{tools}");
    assert_eq!(tools["decisions"]["get_order"], "allow", "{tools}");
    assert_eq!(
        tool_ok(&d.call("get_order", json!({"order_id": 7}))),
        "order 7: 2 items, 120 EUR, delivered"
    );
    let text = tool_error(&d.call("pay_invoice", json!({"invoice_id": 3})));
    assert!(
        text.starts_with("countersign denied the call to pay_invoice"),
        "{text}"
    );
    let text = tool_error(&d.call("delete_everything", json!({})));
    assert!(text.contains("not in the gateway's map"), "{text}");
    let refund = json!({"order_id": 8, "amount": 20, "currency": "EUR"});
    let apr = approval_in(&tool_error(&d.call("refund_order", refund.clone())), &w.url);
    w.approve(&apr);
    let other = json!({"order_id": 8, "amount": 2000, "currency": "EUR"});
    assert_ne!(
        approval_in(&tool_error(&d.call("refund_order", other)), &w.url),
        apr
    );
    assert_eq!(
        tool_ok(&d.call("refund_order", refund)),
        "refunded 20 EUR on order 8"
    );
    // The upstream never sees the client's token.
    let seen: Value = serde_json::from_str(&tool_ok(&d.call("seen_headers", json!({})))).unwrap();
    assert!(seen.get("mcp-session-id").is_some(), "{seen}");
    assert!(seen.get("authorization").is_none(), "{seen}");
    assert!(!seen.to_string().contains(&w.jit), "{seen}");
    // Revoked: a known token's next call is denied at once (its decision checks the
    // token at countersign), and nothing reaches the upstream.
    w.cli().ok(
        &w.t("CS_SAM"),
        &[
            "credential",
            "revoke",
            "--agent",
            &w.agent,
            "--reason",
            "the laptop was stolen",
        ],
    );
    let text = tool_error(&d.call("get_order", json!({"order_id": 9})));
    assert!(
        text.starts_with("countersign denied the call to get_order") && text.contains("401"),
        "{text}"
    );
    d.kill();

    let ran: Vec<String> = upstream_ran(&w)
        .iter()
        .map(|r| r["tool"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ran, ["get_order", "refund_order", "seen_headers"]);
    let actions = w.actions();
    let allowed: Vec<&Value> = actions
        .iter()
        .filter(|a| a["decision"] == "allow")
        .collect();
    assert_eq!(allowed.len(), 3, "{actions:?}");
    for a in allowed {
        assert_eq!(a["outcome"]["status"], "succeeded", "{a}");
    }
    assert_eq!(
        actions.len(),
        6,
        "3 allowed, 1 denied, 2 step-ups: {actions:?}"
    );
}
