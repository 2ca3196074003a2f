#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]
//! A schema-driven fuzzer against the real binary (issue 10): schemathesis (from
//! PyPI, in the venv scripts/test prepares) reads `/openapi.json` of a `serve --demo`
//! and sends what the document allows and what it does not, for a bounded time with
//! a fixed seed. Every answer must be a documented status (`status_code_conformance`),
//! never a 5xx (`not_a_server_error`), and fit its documented schema
//! (`response_schema_conformance`); the run must report no failure at all.

mod support;

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use support::{demo_env, demo_var, serve_demo};

/// The seed: a failure reproduces with the same run.
const SEED: &str = "20261125";
/// The wall time schemathesis may spend testing, in seconds.
const MAX_TIME: &str = "100";
/// Test cases per operation and phase.
const MAX_EXAMPLES: &str = "25";
const CHECKS: &str = "status_code_conformance,not_a_server_error,response_schema_conformance";

/// The interpreter of the venv scripts/test prepares (or COUNTERSIGN_PYTHON), and
/// the schemathesis command installed next to it. Never skipped: without it, fail
/// and say how to get it.
fn schemathesis() -> PathBuf {
    let python = std::env::var("COUNTERSIGN_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| format!("{}/../../.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
    let cli = PathBuf::from(&python).with_file_name("schemathesis");
    let ok = Command::new(&cli)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the fuzzer needs schemathesis next to the Python interpreter ({} is missing or broken).\n\
         Run the tests with scripts/test, which creates the venv at the repository root,\n\
         or set COUNTERSIGN_PYTHON to an interpreter of a venv with the packages of scripts/requirements-test.txt.",
        cli.display()
    );
    cli
}

/// A user holding every role, so the fuzzer gets past role checks into the commands.
async fn fuzzer_token(base: &str, admin: &str) -> String {
    let client = reqwest::Client::new();
    let roles = [
        "admin",
        "mlops",
        "security",
        "privacy",
        "legal",
        "compliance",
        "data-governance",
        "operations",
        "risk",
    ];
    let user: Value = client
        .post(format!("{base}/v1/users"))
        .bearer_auth(admin)
        .json(&json!({"name": "Fuzz", "email": "fuzz@demo.countersign", "roles": roles}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = user["id"].as_str().unwrap_or_else(|| panic!("{user}"));
    let token: Value = client
        .post(format!("{base}/v1/users/{id}/tokens"))
        .bearer_auth(admin)
        .json(&json!({"label": "schemathesis"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{token}"))
        .to_owned()
}

#[tokio::test]
async fn schemathesis_finds_no_undocumented_status_no_server_error_and_no_schema_mismatch() {
    let cli = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = serve_demo(dir.path());
    let base = addr;
    let env = demo_env(dir.path());
    let token = fuzzer_token(&base, &demo_var(&env, "CS_ADMIN")).await;

    let out = tokio::task::spawn_blocking({
        let (dir, base) = (dir.path().to_owned(), base.clone());
        move || {
            Command::new(&cli)
                // In the scratch directory: no schemathesis.toml of anyone else applies,
                // and its report lands there.
                .current_dir(&dir)
                .env("NO_COLOR", "1")
                .args(["run", &format!("{base}/openapi.json")])
                .args(["--checks", CHECKS])
                .args(["--seed", SEED, "--max-examples", MAX_EXAMPLES])
                .args(["--max-time", MAX_TIME, "--workers", "1"])
                .args(["--request-timeout", "10"])
                .args(["-H", &format!("Authorization: Bearer {token}")])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis reported failures (exit {:?}):\n{text}",
        out.status.code()
    );
    // The summary's count line: "N generated, N passed" and nothing failed or errored.
    let cases = text
        .lines()
        .find(|l| l.contains(" generated, "))
        .unwrap_or_else(|| panic!("schemathesis printed no test case summary:\n{text}"));
    assert!(
        !cases.contains("failed") && !cases.contains("errored") && cases.contains(" passed"),
        "schemathesis did not report a clean run ({}):\n{text}",
        cases.trim()
    );
    println!("{text}");
}
