#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The console in a real browser (issue 12): `serve --demo` in a child process, and
//! `tests/browser/console.mjs` (playwright-core driving Debian's Chromium, axe-core on
//! every page) against it: sign-in through a real OpenID Connect provider
//! (`tests/browser/oidc-provider.mjs`, panva's oidc-provider from npm) and with a
//! token, refusals of people the provider cannot vouch for, reviews, a
//! segregation-of-duties refusal, friction rules that refuse and then allow (on the
//! medium tier of a profile the test writes), and a step-up approved from a 390 px screen while
//! the agent waits in `decide --wait`; and, against a server whose sessions last 10
//! seconds, a cross-site form and a form after expiry refused (`refusals.mjs`). `scripts/test` installs the npm packages; Chromium comes
//! from Debian (`apt-get install -y chromium`). Screenshots land in
//! `target/console-screenshots/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{
    demo_env, demo_var, free_port, lines, promoted_release, refund_bot, serve_demo_at, Cli, Server,
};

/// Starts the test's OpenID Connect provider for a client redirecting to `redirect`;
/// returns it and its issuer URL.
fn start_provider(browser_dir: &Path, redirect: &str, secret: &str) -> (Server, String) {
    let child = Command::new("node")
        .arg(browser_dir.join("oidc-provider.mjs"))
        .current_dir(browser_dir)
        .env("REDIRECT_URI", redirect)
        .env("CLIENT_SECRET", secret)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("node runs (install Node.js)");
    let mut provider = Server(child);
    let rx = lines(&mut provider.0);
    loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the OpenID provider did not start");
        if let Some(issuer) = line.strip_prefix("oidc-provider listening on ") {
            return (provider, issuer.trim().to_owned());
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the browser tests save their screenshots.
fn screenshots() -> PathBuf {
    repo_root().join("target/console-screenshots")
}

/// Runs one browser test script with `vars` (and SCREENSHOTS, CHROMIUM); fails the
/// test unless it passed. Answers what it printed.
fn run_script(browser_dir: &Path, script: &str, chromium: &str, vars: &[(&str, String)]) -> String {
    let out = Command::new("node")
        .arg(browser_dir.join(script))
        .current_dir(browser_dir)
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .env("SCREENSHOTS", screenshots())
        .env("CHROMIUM", chromium)
        .output()
        .expect("node runs (install Node.js)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("browser test passed"), "{stdout}");
    stdout
}

/// Debian's Chromium and the browser tests' folder, with their npm packages.
fn browser() -> (String, PathBuf) {
    let chromium =
        std::env::var("COUNTERSIGN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's Chromium (apt-get install -y chromium), or set COUNTERSIGN_CHROMIUM"
    );
    let browser_dir = repo_root().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "tests/browser has no node_modules: run scripts/test, which installs them (npm ci)"
    );
    (chromium, browser_dir)
}

#[test]
fn the_console_works_in_chromium_with_no_serious_accessibility_violation() {
    let (chromium, browser_dir) = browser();
    let dir = tempfile::tempdir().unwrap();
    // The example profile with every friction rule on the medium tier (the demo
    // release's), the time rule short enough for a test.
    let example = std::fs::read_to_string(repo_root().join("profiles/example.toml")).unwrap();
    let medium = "veto_roles = [\"security\"]\n";
    assert!(
        example.contains(medium),
        "the example profile's medium tier moved"
    );
    let strict = example.replacen(
        medium,
        &format!("{medium}friction = {{ min_review_seconds = 3, require_opened_evidence = true, confirm_digest = true }}\n"),
        1,
    );
    let profile = dir.path().join("friction-profile.toml");
    std::fs::write(&profile, strict).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let secret = "test-client-secret";
    let (_provider, issuer) = start_provider(
        &browser_dir,
        &format!("http://{listen}/console/oidc/callback"),
        secret,
    );
    let (_server, url) = serve_demo_at(
        dir.path(),
        &listen,
        &[
            "--profile",
            profile.to_str().unwrap(),
            "--oidc-issuer",
            &issuer,
            "--oidc-client-id",
            "countersign",
            "--oidc-client-secret",
            secret,
            "--oidc-scope",
            "email",
            "--oidc-scope",
            "profile",
            "--oidc-scope",
            "groups",
            "--oidc-groups-claim",
            "groups",
            "--oidc-name",
            "Test IdP",
        ],
    );
    let env = demo_env(dir.path());
    let t = |k: &str| demo_var(&env, k);
    // An agent with a write grant on the demo system, for the step-up part.
    let cli = Cli {
        dir: dir.path(),
        server: url.clone(),
        env: Vec::new(),
    };
    let rel = promoted_release(&cli, &t);
    let bot = refund_bot(&cli, &t, &rel);
    // The demo release's two missing documents, so the owner can walk it to go in the
    // browser: a threat model and an eval report that passes the medium tier's gates.
    let demo = demo_var(&env, "CS_RELEASE");
    std::fs::write(
        dir.path().join("threat-model.md"),
        "# Threat model\nPrompt injection: tool allow-list.\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("eval.json"),
        r#"{"format": "countersign.eval/v1", "run_id": "run-1", "results": [
  {"metric": "accuracy", "value": 0.94, "dataset": "support-tickets@2026-10", "slice": "all"},
  {"metric": "toxicity", "value": 0.002, "dataset": "support-tickets@2026-10", "slice": "all"}]}"#,
    )
    .unwrap();
    for (who, kind, file) in [
        ("CS_SAM", "threat_model", "threat-model.md"),
        ("CS_NOAH", "eval_report", "eval.json"),
    ] {
        cli.ok(
            &t(who),
            &["release", "evidence", &demo, "--kind", kind, "--file", file],
        );
    }
    let stdout = run_script(
        &browser_dir,
        "console.mjs",
        &chromium,
        &[
            ("BASE_URL", url.clone()),
            ("ISSUER", issuer.clone()),
            ("RELEASE", demo_var(&env, "CS_RELEASE")),
            ("MAYA", demo_var(&env, "CS_MAYA")),
            ("SAM", demo_var(&env, "CS_SAM")),
            ("NOAH", t("CS_NOAH")),
            ("DANA", t("CS_DANA")),
            ("OLU", t("CS_OLU")),
            ("SYSTEM", t("CS_SYSTEM")),
            (
                "COUNTERSIGN_BIN",
                env!("CARGO_BIN_EXE_countersign").to_owned(),
            ),
            ("BOT_DIR", dir.path().display().to_string()),
            ("AGENT", bot.agent.clone()),
            ("JIT", bot.jit.clone()),
        ],
    );
    let shots = screenshots();
    // axe ran on every page the script visits.
    for page in [
        "sign-in",
        "sign-in refused",
        "release",
        "release (owner)",
        "evidence",
        "review refused",
        "review (friction)",
        "review refused (friction)",
        "review",
        "review (noah)",
        "release (go)",
        "inbox (390 px)",
    ] {
        assert!(
            stdout.contains(&format!("axe {page}:")),
            "axe did not run on {page}: {stdout}"
        );
    }
    for shot in [
        "sign-in-refused",
        "inbox",
        "release",
        "review",
        "review-refused",
        "review-friction",
        "release-go",
        "inbox-390",
        "approval-390",
    ] {
        assert!(
            shots.join(format!("{shot}.png")).exists(),
            "no screenshot {shot}"
        );
    }
}

/// A form posted from another site and a form sent after the session expired are
/// refused in the browser (`tests/browser/refusals.mjs`), against a demo server whose
/// sessions last 10 seconds.
#[test]
fn cross_site_forms_and_expired_sessions_are_refused_in_chromium() {
    let (chromium, browser_dir) = browser();
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let (_server, url) = serve_demo_at(dir.path(), &listen, &["--session-lifetime", "10s"]);
    let env = demo_env(dir.path());
    let stdout = run_script(
        &browser_dir,
        "refusals.mjs",
        &chromium,
        &[
            ("BASE_URL", url.clone()),
            ("RELEASE", demo_var(&env, "CS_RELEASE")),
            ("SAM", demo_var(&env, "CS_SAM")),
        ],
    );
    for page in ["cross-site refusal", "expired-session refusal"] {
        assert!(
            stdout.contains(&format!("axe {page}:")),
            "axe did not run on {page}"
        );
    }
}
