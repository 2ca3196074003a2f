//! Shared by the tests that drive the real binary: `serve --demo` in a child
//! process, the tokens from its demo env file, and the CLI run against it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A child process, killed when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines a child writes to standard output, read on a thread.
pub fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Starts `serve --demo` in `dir` on a free port; returns it and its URL.
pub fn serve_demo(dir: &Path) -> (Server, String) {
    serve_demo_with(dir, &[])
}

/// `serve --demo` with more arguments, e.g. `--ca-cert FILE`.
pub fn serve_demo_with(dir: &Path, extra: &[&str]) -> (Server, String) {
    serve_demo_at(dir, "127.0.0.1:0", extra)
}

/// A loopback port nobody listens on now (for a server whose URL must be known
/// before it starts, e.g. to register it with an identity provider).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `serve --demo` listening on `listen`, with more arguments.
pub fn serve_demo_at(dir: &Path, listen: &str, extra: &[&str]) -> (Server, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .current_dir(dir)
        .args(["serve", "--demo", "--listen", listen])
        .args(extra)
        .env("COUNTERSIGN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let rx = lines(&mut server.0);
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("serve --demo did not start");
        if let Some(addr) = line.strip_prefix("countersign: listening on ") {
            return (server, addr.trim().to_owned());
        }
    }
}

/// The demo env file's variables: CS_MAYA, CS_MAYA_ID, CS_SYSTEM, ...
pub fn demo_env(dir: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(dir.join("countersign-demo.env")).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.to_owned(), v.split_whitespace().next()?.to_owned()))
        })
        .collect()
}

/// One variable of the demo env file; panics naming it when it is missing.
pub fn demo_var(env: &HashMap<String, String>, key: &str) -> String {
    env.get(key)
        .unwrap_or_else(|| panic!("{key} missing from the demo env file"))
        .clone()
}

/// The CLI, run in `dir` against `server`.
pub struct Cli<'a> {
    pub dir: &'a Path,
    pub server: String,
    /// Extra environment for every run, e.g. COUNTERSIGN_AGENT.
    pub env: Vec<(String, String)>,
}

impl<'a> Cli<'a> {
    fn command(&self, token: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_countersign"));
        c.current_dir(self.dir)
            .args(args)
            .env("COUNTERSIGN_SERVER", &self.server)
            .env("COUNTERSIGN_TOKEN", token);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs a command; returns its exit code and its standard output and error.
    pub fn run(&self, token: &str, args: &[&str]) -> (i32, String) {
        let out = self.command(token, args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// Runs a command that must succeed; returns its output.
    pub fn ok(&self, token: &str, args: &[&str]) -> String {
        let (code, out) = self.run(token, args);
        assert_eq!(code, 0, "countersign {args:?} failed: {out}");
        out
    }

    /// Runs a command with `--output json` that must exit with `code`; returns the JSON.
    pub fn json(&self, token: &str, args: &[&str], code: i32) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.command(token, &all).output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(
            out.status.code(),
            Some(code),
            "countersign {all:?}: {stdout}{stderr}"
        );
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("countersign {all:?}: {e}: {stdout}{stderr}"))
    }

    /// The CLI acting as `agent`, signing with the key file `key` (in `dir`).
    pub fn as_agent(&self, agent: &str, key: &str) -> Cli<'a> {
        Cli {
            dir: self.dir,
            server: self.server.clone(),
            env: vec![
                ("COUNTERSIGN_AGENT".into(), agent.to_owned()),
                ("COUNTERSIGN_AGENT_KEY".into(), key.to_owned()),
            ],
        }
    }

    /// Starts a command in the background with its standard output piped.
    pub fn spawn(&self, token: &str, args: &[&str]) -> Child {
        self.command(token, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    }
}

/// An object's `id` in a JSON answer.
pub fn id(v: &serde_json::Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// A low-tier prompt release walked through its gate and promoted: mlops and
/// operations review, the two evidence kinds the tier needs, the owner's go.
pub fn promoted_release(cli: &Cli, t: &dyn Fn(&str) -> String) -> String {
    let artifact = format!("sha256:{}", "ab".repeat(32));
    let rel = cli.json(
        &t("CS_MAYA"),
        &[
            "release",
            "create",
            "--title",
            "Refund assistant prompt v1",
            "--kind",
            "prompt",
            "--system",
            &t("CS_SYSTEM"),
            "--owner",
            &t("CS_DANA_ID"),
            "--artifact",
            &artifact,
        ],
        0,
    );
    let rel = rel["release"]["id"].as_str().unwrap().to_owned();
    cli.ok(&t("CS_MAYA"), &["release", "submit", &rel]);
    for (who, role) in [("CS_NOAH", "mlops"), ("CS_OLU", "operations")] {
        cli.ok(
            &t(who),
            &[
                "release",
                "review",
                &rel,
                "--role",
                role,
                "--verdict",
                "approve",
                "--all-yes",
            ],
        );
    }
    std::fs::write(cli.dir.join("tests.txt"), "all green\n").unwrap();
    for kind in ["test_results", "rollback_plan"] {
        cli.ok(
            &t("CS_MAYA"),
            &[
                "release",
                "evidence",
                &rel,
                "--kind",
                kind,
                "--file",
                "tests.txt",
            ],
        );
    }
    cli.ok(&t("CS_DANA"), &["release", "decide", &rel, "--go"]);
    cli.ok(&t("CS_OLU"), &["release", "promote", &rel]);
    rel
}

/// The demo's refund agent: its id, the CLI as the agent, and its credential.
pub struct RefundBot<'a> {
    pub agent: String,
    pub bot: Cli<'a>,
    pub jit: String,
}

/// `refund-bot`, owned by Maya, registered against `rel` with its own key, granted
/// read and write on the demo system's `orders/*` (approved by both owners), holding a
/// just-in-time credential for task `ticket-4711`.
pub fn refund_bot<'a>(cli: &Cli<'a>, t: &dyn Fn(&str) -> String, rel: &str) -> RefundBot<'a> {
    let sys = t("CS_SYSTEM");
    let olu = t("CS_OLU");
    // An agent with its own key, owned by Maya, registered against the promoted release.
    let public_key = cli.ok("", &["agent", "keygen", "--out", "bot.key"]);
    let agent = id(&cli.json(
        &t("CS_MAYA"),
        &[
            "agent",
            "register",
            "--name",
            "refund-bot",
            "--owner",
            &t("CS_MAYA_ID"),
            "--use-case",
            "refunds",
            "--release",
            rel,
            &format!("--public-key={}", public_key.trim()),
        ],
        0,
    ));
    let bot = cli.as_agent(&agent, "bot.key");
    let grant = bot.json(
        "",
        &[
            "grant",
            "request",
            "--system",
            &sys,
            "--action",
            "read",
            "--action",
            "write",
            "--resource",
            "orders/*",
        ],
        0,
    );
    assert_eq!(grant["state"], "pending", "{grant}");
    // `write` mutates production state: the system owner and the agent owner approve.
    cli.ok(&olu, &["grant", "approve", &id(&grant)]);
    let out = cli.ok(&t("CS_MAYA"), &["grant", "approve", &id(&grant)]);
    assert!(out.contains("active"), "{out}");
    let read_scope = format!("{sys}:read:orders/*");
    let write_scope = format!("{sys}:write:orders/*");
    let cred = bot.json(
        "",
        &[
            "credential",
            "issue",
            "--task",
            "ticket-4711",
            "--scope",
            &read_scope,
            "--scope",
            &write_scope,
        ],
        0,
    );
    // From here on the agent's token is its just-in-time credential.
    let jit = cred["access_token"].as_str().unwrap().to_owned();
    RefundBot { agent, bot, jit }
}
