#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Request-time decisions through the CLI (I10, I11): `serve --demo` in a child
//! process; an agent with a promoted release, approved grants and a just-in-time
//! credential asks with `countersign decide`, a human answers with `countersign
//! approval`, and the action log shows it all linked. Exit codes are what scripts
//! branch on: 0 allow, 3 deny, 4 step-up still pending.

mod support;

use std::path::Path;
use std::time::Duration;
use support::{
    demo_env, demo_var, id, lines, promoted_release, refund_bot, serve_demo, Cli, RefundBot,
};

const ALLOW: i32 = 0;
const DENY: i32 = 3;
const PENDING: i32 = 4;

fn write_args<'a>(system: &'a str, resource: &'a str, arguments: &'a str) -> Vec<&'a str> {
    vec![
        "decide",
        "--system",
        system,
        "--action",
        "write",
        "--resource",
        resource,
        "--arguments",
        arguments,
        "--risk-score",
        "40",
        "--confidence",
        "0.91",
        "--data-class",
        "pii",
        "--ai-input",
        "customer asks for a refund of order 4711",
        "--ai-output",
        "refund 120 EUR on order 4711",
        "--data-used",
        "orders/4711",
        "--impact",
        "120 EUR leaves the company",
    ]
}

#[test]
fn i10_decide_step_up_and_approval_through_the_cli() {
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
    let olu = t("CS_OLU"); // the demo system's owner: step-ups are assigned to him
    let rel = promoted_release(&cli, &t);

    let RefundBot { agent, bot, jit } = refund_bot(&cli, &t, &rel);
    let read_scope = format!("{sys}:read:orders/*");

    // A low-risk read is allowed on its own: exit 0.
    let (code, out) = bot.run(
        &jit,
        &[
            "decide",
            "--system",
            &sys,
            "--action",
            "read",
            "--resource",
            "orders/4711",
            "--risk-score",
            "10",
        ],
    );
    assert_eq!(code, ALLOW, "{out}");
    assert!(
        out.starts_with("ALLOW") && out.contains("allow-low-risk-reads"),
        "{out}"
    );
    let read_action = out.split_whitespace().nth(2).unwrap().to_owned();
    assert!(read_action.starts_with("act_"), "{out}");

    // A production write steps up: exit 4, with the approval request to wait for.
    let args = r#"{"refund": 120, "currency": "EUR"}"#;
    let step = bot.json(&jit, &write_args(&sys, "orders/4711", args), PENDING);
    assert_eq!(step["decision"], "step_up", "{step}");
    assert_eq!(step["policies"][0], "step-up-production-writes");
    assert_eq!(step["approval"]["assignee"], t("CS_OLU_ID").as_str());
    let apr = step["approval"]["id"].as_str().unwrap().to_owned();
    let (code, out) = bot.run(&jit, &["approval", "wait", &apr, "--timeout", "0"]);
    assert_eq!(code, PENDING, "{out}");
    assert!(out.contains("PENDING"), "{out}");

    // The human sees it in their list and opens the context the AI acted on.
    let out = cli.ok(&olu, &["approval", "list"]);
    assert!(out.contains(&apr) && out.contains("orders/4711"), "{out}");
    let out = cli.ok(&olu, &["approval", "show", &apr]);
    assert!(out.contains("refund 120 EUR on order 4711"), "{out}");
    assert!(out.contains("120 EUR leaves the company"), "{out}");
    assert!(out.contains(r#""refund":120"#), "{out}");
    // Only the assignee answers, and only with a comment.
    let (code, out) = cli.run(
        &t("CS_MAYA"),
        &["approval", "approve", &apr, "--comment", "looks fine"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not-assignee"), "{out}");
    let (code, out) = cli.run(&olu, &["approval", "approve", &apr, "--comment", " "]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missing-comment"), "{out}");
    let out = cli.ok(
        &olu,
        &[
            "approval",
            "approve",
            &apr,
            "--comment",
            "order 4711 checked: refund matches the ticket",
        ],
    );
    assert!(out.contains("APPROVED"), "{out}");
    let (code, out) = bot.run(&jit, &["approval", "wait", &apr, "--timeout", "0"]);
    assert_eq!(code, ALLOW, "{out}");

    // The approval does not authorise a different action (a larger refund): exit 3.
    let mut bigger = write_args(
        &sys,
        "orders/4711",
        r#"{"refund": 12000, "currency": "EUR"}"#,
    );
    bigger.extend(["--approval", &apr]);
    let (code, out) = bot.run(&jit, &bigger);
    assert_eq!(code, DENY, "{out}");
    assert!(
        out.starts_with("DENY") && out.contains("different action"),
        "{out}"
    );
    // The exact action runs, once.
    let mut exact = write_args(&sys, "orders/4711", args);
    exact.extend(["--approval", &apr]);
    let ran = bot.json(&jit, &exact, ALLOW);
    assert_eq!(ran["decision"], "allow", "{ran}");
    assert_eq!(ran["action_digest"], step["action_digest"]);
    let olu_id = t("CS_OLU_ID");
    assert!(
        ran["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap() == format!("approved by {olu_id} in {apr}")),
        "{ran}"
    );
    let (code, out) = bot.run(&jit, &exact);
    assert_eq!(code, DENY, "{out}");
    assert!(out.contains("single-use"), "{out}");

    // The agent reports the outcome, once.
    let ran_id = id(&ran);
    let out = bot.ok(
        &jit,
        &[
            "action",
            "outcome",
            &ran_id,
            "--status",
            "succeeded",
            "--detail",
            r#"{"refund_id": "rf-981"}"#,
        ],
    );
    assert!(out.contains("outcome succeeded"), "{out}");
    let (code, out) = bot.run(&jit, &["action", "outcome", &ran_id, "--status", "failed"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("outcome-reported"), "{out}");

    // The action log links the decision, the human decision and the outcome.
    let out = cli.ok(&olu, &["action", "list", "--task", "ticket-4711"]);
    let line = out
        .lines()
        .find(|l| l.starts_with(&ran_id))
        .unwrap_or_else(|| panic!("{ran_id} not in the log: {out}"));
    assert!(
        line.contains("allow") && line.contains(&apr) && line.contains("outcome succeeded"),
        "{line}"
    );
    assert_eq!(
        out.lines().count(),
        5,
        "read, step-up, deny, allow, deny: {out}"
    );
    let logged = cli.json(&olu, &["action", "list", "--agent", &agent], 0);
    assert_eq!(logged.as_array().unwrap().len(), 5, "{logged}");
    let step_id = id(&step);
    let out = cli.ok(&olu, &["action", "show", &step_id]);
    assert!(out.contains("STEP_UP"), "{out}");
    assert!(
        out.contains(&format!("approved by {olu_id}"))
            && out.contains("refund matches the ticket")
            && out.contains(&format!("used by action {ran_id}")),
        "{out}"
    );

    // The read ran without a human, so it waits for the system owner's review.
    let out = cli.ok(&olu, &["action", "queue"]);
    assert!(
        out.contains(&read_action) && !out.contains(&ran_id),
        "{out}"
    );
    cli.ok(
        &olu,
        &[
            "action",
            "review",
            &read_action,
            "--verdict",
            "ok",
            "--comment",
            "expected lookup",
        ],
    );
    assert!(cli.ok(&olu, &["action", "queue"]).contains("no actions"));

    // --wait: the agent waits for the human, then asks again with the approval.
    let mut waiting = write_args(&sys, "orders/4712", r#"{"refund": 30}"#);
    waiting.extend(["--wait", "60"]);
    let mut child = bot.spawn(&jit, &waiting);
    let rx = lines(&mut child);
    let mut printed = Vec::new();
    let apr2 = loop {
        let l = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no approval request printed: {printed:?}"));
        printed.push(l.clone());
        if let Some(rest) = l.trim_start().strip_prefix("approval ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    assert!(printed[0].starts_with("STEP_UP"), "{printed:?}");
    cli.ok(
        &olu,
        &["approval", "approve", &apr2, "--comment", "30 EUR is fine"],
    );
    let status = child.wait().unwrap();
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(status.code(), Some(ALLOW), "{printed:?} {rest:?}");
    assert!(
        rest.iter().any(|l| l.starts_with("ALLOW")),
        "{printed:?} {rest:?}"
    );

    // Accountability: Olu answered two step-ups (compliance may read the signals).
    let signals = cli.json(&t("CS_CARMEN"), &["accountability"], 0);
    let olu_step_ups = signals
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["user"] == olu_id.as_str() && s["kind"] == "step_up")
        .unwrap_or_else(|| panic!("{signals}"));
    assert_eq!(olu_step_ups["decisions"], 2);
    let (code, out) = cli.run(&olu, &["accountability"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missing-role"), "{out}");

    // Delegation (I8): a helper agent takes over the read under the bot's credential.
    // It keeps the task: another task is refused, and the task's log shows the helper's
    // action with its chain.
    let helper_key = cli.ok("", &["agent", "keygen", "--out", "helper.key"]);
    let helper = id(&cli.json(
        &t("CS_MAYA"),
        &[
            "agent",
            "register",
            "--name",
            "lookup-helper",
            "--owner",
            &t("CS_MAYA_ID"),
            "--use-case",
            "refunds",
            "--release",
            &rel,
            &format!("--public-key={}", helper_key.trim()),
        ],
        0,
    ));
    let helper_cli = cli.as_agent(&helper, "helper.key");
    let g = helper_cli.json(
        "",
        &[
            "grant",
            "request",
            "--system",
            &sys,
            "--action",
            "read",
            "--resource",
            "orders/*",
        ],
        0,
    );
    cli.ok(&olu, &["grant", "approve", &id(&g)]);
    let (code, out) = helper_cli.run(
        "",
        &[
            "credential",
            "exchange",
            "--subject-token",
            &jit,
            "--scope",
            &read_scope,
            "--task",
            "another-task",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("delegation-changes-task"), "{out}");
    let delegated = helper_cli.json(
        "",
        &[
            "credential",
            "exchange",
            "--subject-token",
            &jit,
            "--scope",
            &read_scope,
        ],
        0,
    );
    let helper_jit = delegated["access_token"].as_str().unwrap().to_owned();
    let (code, out) = helper_cli.run(
        &helper_jit,
        &[
            "decide",
            "--system",
            &sys,
            "--action",
            "read",
            "--resource",
            "orders/4711",
            "--risk-score",
            "10",
        ],
    );
    assert_eq!(code, ALLOW, "{out}");
    let helper_action = out.split_whitespace().nth(2).unwrap().to_owned();
    let out = cli.ok(&olu, &["action", "list", "--task", "ticket-4711"]);
    let line = out
        .lines()
        .find(|l| l.starts_with(&helper_action))
        .unwrap_or_else(|| panic!("{helper_action} not in the task's log: {out}"));
    assert!(
        line.contains(&format!("agent {agent} > {helper}")),
        "{line}"
    );
    let show = cli.ok(&olu, &["action", "show", &helper_action]);
    assert!(
        show.contains(&format!("delegation {agent} > {helper}")),
        "{show}"
    );

    // The running policy set, and the ledger holds every decision and verifies.
    let out = cli.ok(&olu, &["policy", "show"]);
    assert!(
        out.contains("built-in example set") && out.contains("step-up-production-writes"),
        "{out}"
    );
    let out = cli.ok(&t("CS_ADMIN"), &["ledger", "list", "--limit", "1000"]);
    assert_eq!(out.matches("action.decide").count(), 8, "{out}");
    assert!(
        out.contains("approval.approve") && out.contains("action.outcome"),
        "{out}"
    );
    let out = cli.ok("", &["ledger", "verify", "--db", "countersign.db"]);
    assert!(out.contains("ledger OK"), "{out}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn policy_check_accepts_the_shipped_set_and_refuses_a_broken_copy() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli {
        dir: dir.path(),
        server: "http://127.0.0.1:9".into(), // unused: the check is offline
        env: Vec::new(),
    };
    let shipped_s = shipped.to_str().unwrap();
    let out = cli.ok("", &["policy", "check", shipped_s]);
    assert!(
        out.contains("a valid policy set of 9 policies, digest sha256:"),
        "{out}"
    );
    assert!(
        out.contains("step-up-payments") && out.contains("approver risk"),
        "{out}"
    );
    // The same digest serve reports for the built-in copy of policies/.
    let built_in = cli.json("", &["policy", "check"], 0);
    let on_disk = cli.json("", &["policy", "check", shipped_s], 0);
    assert_eq!(built_in["digest"], on_disk["digest"]);

    // A policy that refers to a context field the schema does not declare.
    let broken = dir.path().join("broken");
    copy_dir(&shipped, &broken);
    let file = broken.join("runtime.cedar");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("context.risk_score <= 30"));
    std::fs::write(
        &file,
        text.replace("context.risk_score <= 30", "context.risk_scor <= 30"),
    )
    .unwrap();
    let (code, out) = cli.run("", &["policy", "check", "broken"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("error: broken: invalid policy set")
            && out.contains("allow-low-risk-reads")
            && out.contains("risk_scor"),
        "{out}"
    );

    // No schema file.
    std::fs::remove_file(broken.join("runtime.cedarschema")).unwrap();
    let (code, out) = cli.run("", &["policy", "check", "broken"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("expected exactly one *.cedarschema file, found 0"),
        "{out}"
    );
}
