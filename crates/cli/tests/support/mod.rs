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
    let child = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .current_dir(dir)
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
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

impl Cli<'_> {
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

    /// Starts a command in the background with its standard output piped.
    pub fn spawn(&self, token: &str, args: &[&str]) -> Child {
        self.command(token, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    }
}
