#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The README's five-minute walk-through, run for real: `serve --demo` in a child
//! process, then the same CLI commands with the tokens from the demo env file.

mod support;

use support::{demo_env, demo_var, serve_demo, Cli};

#[test]
fn readme_walkthrough_works_against_serve_demo() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = serve_demo(dir.path());
    let env = demo_env(dir.path());
    let t = |k: &str| demo_var(&env, k);
    let cli = Cli {
        dir: dir.path(),
        server: url,
        env: Vec::new(),
    };
    let rel = t("CS_RELEASE");

    let out = cli.ok(&t("CS_DANA"), &["release", "gate", &rel]);
    assert!(
        out.contains("tier medium") && out.contains("NOT CLEAR"),
        "{out}"
    );
    assert!(out.contains("missing_review:security"), "{out}");

    let (code, out) = cli.run(
        &t("CS_MAYA"),
        &[
            "release",
            "review",
            &rel,
            "--role",
            "mlops",
            "--verdict",
            "approve",
            "--all-yes",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("segregation-of-duties/submitter-cannot-review"),
        "{out}"
    );

    cli.ok(
        &t("CS_NOAH"),
        &[
            "release",
            "review",
            &rel,
            "--role",
            "mlops",
            "--verdict",
            "approve",
            "--all-yes",
        ],
    );
    cli.ok(
        &t("CS_SAM"),
        &[
            "release",
            "review",
            &rel,
            "--role",
            "security",
            "--verdict",
            "approve",
            "--answer",
            "threat-model=yes",
            "--answer",
            "secrets=yes",
            "--answer",
            "supply-chain=n/a",
        ],
    );
    cli.ok(
        &t("CS_OLU"),
        &[
            "release",
            "review",
            &rel,
            "--role",
            "operations",
            "--verdict",
            "approve_with_conditions",
            "--all-yes",
            "--conditions",
            "alert on p99 > 2s for the first week",
        ],
    );

    let (code, out) = cli.run(&t("CS_DANA"), &["release", "decide", &rel, "--go"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("gate-unmet") && out.contains("missing_evidence:threat_model"),
        "{out}"
    );

    std::fs::write(
        dir.path().join("threat-model.md"),
        "# Threat model\nPrompt injection via ticket text: tool allow-list.\n",
    )
    .unwrap();
    cli.ok(
        &t("CS_SAM"),
        &[
            "release",
            "evidence",
            &rel,
            "--kind",
            "threat_model",
            "--file",
            "threat-model.md",
        ],
    );
    // The eval report: toxicity misses its threshold, so the gate names that metric.
    std::fs::write(
        dir.path().join("eval.json"),
        r#"{"format": "countersign.eval/v1", "run_id": "run-2026-11-20-001", "results": [
  {"metric": "accuracy", "value": 0.93, "dataset": "support-tickets@2026-10", "slice": "all"},
  {"metric": "toxicity", "value": 0.012, "dataset": "support-tickets@2026-10", "slice": "all"}]}
"#,
    )
    .unwrap();
    cli.ok(
        &t("CS_NOAH"),
        &[
            "release",
            "evidence",
            &rel,
            "--kind",
            "eval_report",
            "--file",
            "eval.json",
        ],
    );
    let out = cli.ok(&t("CS_DANA"), &["release", "gate", &rel]);
    assert!(out.contains("eval_metric_failed:toxicity"), "{out}");
    assert!(!out.contains("eval_metric_missing"), "{out}");
    cli.ok(
        &t("CS_DANA"),
        &[
            "release",
            "accept",
            &rel,
            "--gap",
            "eval_metric_failed:toxicity",
            "--justification",
            "0.012 on adversarial slice only; output filter in front",
            "--expires",
            "14d",
        ],
    );
    cli.ok(
        &t("CS_DANA"),
        &[
            "release",
            "decide",
            &rel,
            "--go",
            "--comment",
            "ship behind the flag",
        ],
    );

    let artifact = t("CS_ARTIFACT");
    let out = cli.ok(
        &t("CS_MAYA"),
        &[
            "gate",
            "check",
            "--artifact",
            &artifact,
            "--env",
            "production",
        ],
    );
    assert!(out.contains("ALLOWED"), "{out}");
    let (code, out) = cli.run(
        &t("CS_MAYA"),
        &["gate", "check", "--artifact", &artifact, "--env", "staging"],
    );
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("NOT ALLOWED") && out.contains("not \"staging\""),
        "{out}"
    );
    cli.ok(&t("CS_OLU"), &["release", "promote", &rel]);

    let out = cli.ok(&t("CS_DANA"), &["release", "show", &rel]);
    assert!(out.contains("status promoted"), "{out}");
    let out = cli.ok(&t("CS_ADMIN"), &["ledger", "list"]);
    assert!(out.contains("release.promote"), "{out}");
    let out = cli.ok("", &["ledger", "verify", "--db", "countersign.db"]);
    assert!(out.contains("ledger OK"), "{out}");

    // --output json prints the API's JSON.
    let out = cli.ok(
        &t("CS_DANA"),
        &["release", "gate", &rel, "--output", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "promoted");
}
