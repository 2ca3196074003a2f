//! The stdio proxy: what an MCP client launches instead of the server. It spawns the
//! real server as a child and relays newline-delimited JSON-RPC both ways; every
//! `tools/call` is decided first (`gateway.rs`), everything else passes through as
//! the bytes it arrived in. Logs go to standard error only.
//!
//! Calls are decided concurrently (one may wait for a human while others flow); one
//! task writes to each side, so lines never interleave. The upstream's replies to
//! forwarded calls report the outcome on the action after the reply is on its way to
//! the client. When the upstream exits, every request still waiting for it gets a
//! JSON-RPC error saying so (an allowed call's action records that it may have run),
//! and the proxy starts it again for the next requests: the client's `initialize` and
//! `notifications/initialized` are replayed to the new process (its answer to the
//! replay is the gateway's, not the client's), and requests that arrive while it
//! starts get an error saying so. An upstream that keeps exiting within seconds of
//! starting ([`CRASH_LOOP`] times in a row) is given up, and the proxy exits. When the
//! client closes its side, calls still being decided are dropped, the upstream's
//! standard input is closed, and the proxy waits for it to exit (killing it after a
//! grace period) and for the outcome reports.

use crate::client::Countersign;
use crate::decision::lost;
use crate::error::McpError;
use crate::gateway::{Answer, Gateway};
use crate::message::{Reply, ToolCall};
use crate::wire::{self, CallMeta, ClientHello, ErrorKind, FromClient, RpcId, TOOLS_CALL};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How long the upstream gets to exit after its standard input closes.
const EXIT_GRACE: Duration = Duration::from_secs(3);
/// An upstream that ran less than this before exiting counts toward a crash loop.
const QUICK_EXIT: Duration = Duration::from_secs(5);
/// This many quick exits in a row and the upstream is given up.
pub const CRASH_LOOP: u32 = 3;
/// The id of a replayed `initialize` (its answer is swallowed); a string no client
/// sends, numbered per restart.
const REPLAY_ID: &str = "countersign-gateway-restart";

/// Environment variables the upstream never sees: the gateway's credential is not
/// the upstream's to use.
const WITHHELD: &[&str] = &["COUNTERSIGN_TOKEN", "COUNTERSIGN_AGENT_KEY"];

/// The upstream server's command line.
#[derive(Clone, Debug)]
pub struct Upstream {
    pub program: String,
    pub args: Vec<String>,
}

/// A request forwarded to the upstream and not yet answered.
struct InFlight {
    method: String,
    /// The action an allowed `tools/call` was decided as.
    action: Option<String>,
}

/// What the client and upstream sides share.
struct State {
    /// `None` once the upstream is gone (or the client left): the reason.
    to_upstream: Result<mpsc::UnboundedSender<Vec<u8>>, String>,
    in_flight: HashMap<RpcId, InFlight>,
    hello: ClientHello,
    initialize: Option<RpcId>,
    /// The protocol version the upstream agreed to in `initialize`.
    version: Option<String>,
    /// The client's `initialize` and `notifications/initialized` lines, replayed to
    /// a restarted upstream.
    replay: Vec<Vec<u8>>,
    /// The id of a replayed `initialize` whose answer is not the client's.
    swallow: Option<RpcId>,
    /// The client has left: the upstream is not restarted.
    client_gone: bool,
}

struct Proxy<C> {
    gateway: Arc<Gateway<C>>,
    to_client: mpsc::UnboundedSender<Vec<u8>>,
    state: Mutex<State>,
    /// Outcome reports under way.
    reports: Mutex<JoinSet<()>>,
}

impl<C: Countersign> Proxy<C> {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a task panicked mid-update; the state is still
        // the best account of what is in flight.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send_client(&self, line: Vec<u8>) {
        // The writer only ends when the client's side is closed; nothing to tell then.
        let _ = self.to_client.send(line);
    }

    /// Forwards a request to the upstream, remembering it until it is answered.
    fn forward(&self, id: RpcId, method: &str, action: Option<String>, line: Vec<u8>) {
        let mut st = self.state();
        match &st.to_upstream {
            Ok(tx) if tx.send(line).is_ok() => {
                st.in_flight.insert(
                    id,
                    InFlight {
                        method: method.to_owned(),
                        action,
                    },
                );
            }
            gone => {
                let reason = match gone {
                    Err(reason) => reason.clone(),
                    Ok(_) => "the upstream MCP server is not reading its input".to_owned(),
                };
                drop(st);
                let text = format!("{reason}; {method} was not forwarded");
                self.send_client(wire::error(Some(&id), ErrorKind::Upstream, &text));
                if let Some(action) = action {
                    self.report_lost(action, text);
                }
            }
        }
    }

    /// A restarted upstream takes requests again, once it has been told what the
    /// client said in `initialize` (replayed under an id of the gateway's).
    fn reconnect(&self, tx: mpsc::UnboundedSender<Vec<u8>>, restart: u32) {
        let mut st = self.state();
        let replay = std::mem::take(&mut st.replay);
        for (i, line) in replay.iter().enumerate() {
            let line = if i == 0 {
                let id = format!("{REPLAY_ID}-{restart}");
                st.swallow = Some(RpcId::named(&id));
                wire::with_id(line, &id)
            } else {
                line.clone()
            };
            let _ = tx.send(line);
        }
        st.replay = replay;
        st.to_upstream = Ok(tx);
        tracing::info!(restart, "the upstream MCP server is back");
    }

    /// Sends a notification or a response on to the upstream, if it is there.
    fn pass(&self, line: Vec<u8>) {
        if let Ok(tx) = &self.state().to_upstream {
            let _ = tx.send(line);
        }
    }

    fn report_lost(&self, action: String, reason: String) {
        let g = self.gateway.clone();
        self.spawn_report(async move { g.report_outcome(&action, &lost(&reason)).await });
    }

    fn spawn_report(&self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        if let Ok(mut r) = self.reports.lock() {
            r.spawn(f);
        }
    }

    /// Decides a call and forwards it or answers it in the shape the client takes.
    async fn tool_call(self: Arc<Self>, id: RpcId, call: ToolCall, meta: CallMeta, line: Vec<u8>) {
        let answer = self
            .gateway
            .decide(&call, meta.gateway_state.as_deref())
            .await;
        match answer {
            Answer::Forward { action } => {
                let line = wire::without_gateway_state(&line);
                self.forward(id, TOOLS_CALL, Some(action), line)
            }
            other => {
                let hello = {
                    let st = self.state();
                    st.hello.for_call(&meta, st.version.as_deref())
                };
                if let Some(reply) = other.reply(&id, &hello) {
                    self.send_client(reply);
                }
            }
        }
    }

    /// One line from the client: decide it, forward it or answer it.
    fn client_line(self: &Arc<Self>, line: Vec<u8>, deciding: &mut JoinSet<()>) {
        match wire::read_client(&line) {
            Err(m) => {
                tracing::warn!(reason = %m.reason, "malformed message from the client; not forwarded");
                self.send_client(m.response);
            }
            Ok(FromClient::ToolCall { id, call, meta }) => {
                deciding.spawn(self.clone().tool_call(id, call, meta, line));
            }
            Ok(FromClient::Initialize { id, hello }) => {
                {
                    let mut st = self.state();
                    st.hello = hello;
                    st.initialize = Some(id.clone());
                    st.replay = vec![line.clone()];
                }
                self.forward(id, "initialize", None, line);
            }
            Ok(FromClient::Request { id, method }) => self.forward(id, &method, None, line),
            Ok(FromClient::Notification { method }) => {
                if method == "notifications/initialized" {
                    self.state().replay.push(line.clone());
                }
                self.pass(line)
            }
            Ok(FromClient::Response) => self.pass(line),
        }
    }

    /// One line from the upstream: note what it answers, then pass it on unchanged.
    fn upstream_line(&self, line: Vec<u8>) {
        if let Some((id, reply)) = wire::read_upstream(&line) {
            let mut st = self.state();
            if st.swallow.as_ref() == Some(&id) {
                st.swallow = None;
                tracing::info!("the restarted upstream answered the replayed initialize");
                return;
            }
            let answered = st.in_flight.remove(&id);
            if st.initialize.as_ref() == Some(&id) {
                if let Reply::Result {
                    protocol_version: Some(v),
                    ..
                } = &reply
                {
                    st.version = Some(v.clone());
                }
            }
            drop(st);
            match answered {
                Some(InFlight {
                    action: Some(action),
                    ..
                }) => {
                    self.send_client(line);
                    let g = self.gateway.clone();
                    self.spawn_report(async move { g.report(&action, &reply).await });
                }
                Some(InFlight { method, .. }) if method == wire::TOOLS_LIST => {
                    // Each tool with what a call would get now (asked of countersign).
                    let g = self.gateway.clone();
                    let to_client = self.to_client.clone();
                    self.spawn_report(async move {
                        let _ = to_client.send(g.annotate_tools(&line).await);
                    });
                }
                _ => self.send_client(line),
            }
            return;
        }
        self.send_client(line);
    }

    /// The upstream is gone: answer what it never will. Until it is back, requests
    /// are answered `unavailable`.
    fn upstream_gone(&self, reason: String, unavailable: String) {
        let waiting: Vec<(RpcId, InFlight)> = {
            let mut st = self.state();
            st.to_upstream = Err(unavailable);
            st.swallow = None;
            st.in_flight.drain().collect()
        };
        for (id, f) in waiting {
            let text = format!(
                "{reason} before answering {}{}",
                f.method,
                if f.action.is_some() {
                    "; the call may or may not have run"
                } else {
                    ""
                }
            );
            tracing::warn!(id = %id, "{text}");
            self.send_client(wire::error(Some(&id), ErrorKind::Upstream, &text));
            if let Some(action) = f.action {
                self.report_lost(action, text);
            }
        }
    }
}

/// Runs the proxy between the client on `input`/`output` and `upstream`; returns the
/// upstream's exit code once both sides are done.
pub async fn run<C, R, W>(
    gateway: Arc<Gateway<C>>,
    upstream: &Upstream,
    input: R,
    output: W,
) -> Result<Option<i32>, McpError>
where
    C: Countersign,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (child, child_in, child_out) = spawn(upstream)?;
    let (to_client, client_rx) = mpsc::unbounded_channel();
    let (to_upstream, upstream_rx) = mpsc::unbounded_channel();
    let writer_to_client = tokio::spawn(write_lines(client_rx, output));
    let writer_to_upstream = tokio::spawn(write_lines(upstream_rx, child_in));
    let proxy = Arc::new(Proxy {
        gateway,
        to_client,
        state: Mutex::new(State {
            to_upstream: Ok(to_upstream),
            in_flight: HashMap::new(),
            hello: ClientHello::default(),
            initialize: None,
            version: None,
            replay: Vec::new(),
            swallow: None,
            client_gone: false,
        }),
        reports: Mutex::new(JoinSet::new()),
    });

    // The upstream's side: relay its lines; when it ends, wait for its exit and start
    // it again, unless the client has left or it keeps crashing.
    let reader = {
        let proxy = proxy.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let mut current = (child, child_out, writer_to_upstream);
            let mut quick_exits = 0;
            let mut restarts = 0u32;
            loop {
                let (mut child, child_out, writer) = current;
                let started = tokio::time::Instant::now();
                relay_upstream(&proxy, child_out).await;
                writer.abort();
                let status = wait_exit(&mut child).await;
                let reason = format!("the upstream MCP server exited ({status})");
                if proxy.state().client_gone {
                    proxy.upstream_gone(reason.clone(), reason);
                    return status;
                }
                quick_exits = if started.elapsed() < QUICK_EXIT {
                    quick_exits + 1
                } else {
                    1
                };
                if quick_exits >= CRASH_LOOP {
                    let why = format!(
                        "{reason}; it exited {quick_exits} times within {} s of starting, so the gateway gave up on it",
                        QUICK_EXIT.as_secs()
                    );
                    tracing::error!("{why}");
                    proxy.upstream_gone(reason, why);
                    return status;
                }
                proxy.upstream_gone(
                    reason.clone(),
                    format!("{reason}; the gateway is starting it again, retry in a moment"),
                );
                tokio::time::sleep(Duration::from_millis(200 * u64::from(quick_exits))).await;
                restarts += 1;
                match spawn(&upstream) {
                    Ok((child, child_in, child_out)) => {
                        let (tx, rx) = mpsc::unbounded_channel();
                        let writer = tokio::spawn(write_lines(rx, child_in));
                        proxy.reconnect(tx, restarts);
                        current = (child, child_out, writer);
                    }
                    Err(e) => {
                        let why = format!(
                            "{reason}; it cannot be started again: {}",
                            crate::error::chain(&e)
                        );
                        tracing::error!("{why}");
                        proxy.state().to_upstream = Err(why);
                        return status;
                    }
                }
            }
        })
    };

    // The client's side, until it closes or the upstream is gone.
    let client_done = {
        let proxy = proxy.clone();
        async move {
            let mut deciding = JoinSet::new();
            let mut input = BufReader::new(input);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match input.read_until(b'\n', &mut buf).await {
                    Ok(0) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read from the client");
                        break;
                    }
                    Ok(_) => {}
                }
                let Some(line) = trimmed(&buf) else { continue };
                proxy.client_line(line.to_vec(), &mut deciding);
                // Reap finished decisions as we go.
                while deciding.try_join_next().is_some() {}
            }
            deciding
        }
    };
    let mut reader = reader;
    let status = tokio::select! {
        mut deciding = client_done => {
            // The client left: nobody will read an answer to what is still being decided.
            deciding.shutdown().await;
            {
                let mut st = proxy.state();
                st.client_gone = true;
                // Dropping the sender closes the upstream's standard input.
                st.to_upstream = Err("the client closed the connection".into());
            }
            match tokio::time::timeout(EXIT_GRACE * 2, &mut reader).await {
                Ok(Ok(status)) => Some(status),
                _ => {
                    reader.abort();
                    None
                }
            }
        }
        status = &mut reader => status.ok(),
    };
    // Let the outcome reports finish, then flush what the client is owed.
    let reports = std::mem::take(&mut *proxy.reports.lock().unwrap_or_else(|p| p.into_inner()));
    let _ = tokio::time::timeout(Duration::from_secs(5), reports.join_all()).await;
    drop(proxy);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer_to_client).await;
    Ok(status.and_then(|s| s.code))
}

/// Starts the upstream with piped standard input and output; the gateway's
/// credential is withheld from its environment.
fn spawn(
    upstream: &Upstream,
) -> Result<
    (
        Child,
        tokio::process::ChildStdin,
        tokio::process::ChildStdout,
    ),
    McpError,
> {
    let mut cmd = Command::new(&upstream.program);
    cmd.args(&upstream.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for v in WITHHELD {
        cmd.env_remove(v);
    }
    let mut child = cmd.spawn().map_err(|source| McpError::Spawn {
        program: upstream.program.clone(),
        source,
    })?;
    let (Some(child_in), Some(child_out)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(McpError::Io {
            what: "open the upstream server's standard input and output",
            source: std::io::Error::other("not piped"),
        });
    };
    tracing::info!(program = %upstream.program, pid = child.id().unwrap_or(0), "upstream MCP server started");
    Ok((child, child_in, child_out))
}

/// Relays the upstream's lines until its output ends.
async fn relay_upstream<C: Countersign>(proxy: &Proxy<C>, out: tokio::process::ChildStdout) {
    let mut lines = BufReader::new(out);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match lines.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if let Some(line) = trimmed(&buf) {
                    proxy.upstream_line(line.to_vec());
                }
            }
        }
    }
}

/// How the upstream ended.
struct Exit {
    code: Option<i32>,
    text: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

async fn wait_exit(child: &mut Child) -> Exit {
    let status = match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
        Ok(s) => s,
        Err(_) => {
            tracing::warn!("the upstream did not exit after its output closed; killing it");
            let _ = child.start_kill();
            child.wait().await
        }
    };
    match status {
        Ok(s) => Exit {
            code: s.code(),
            text: s.to_string(),
        },
        Err(e) => Exit {
            code: None,
            text: format!("its status is unknown: {e}"),
        },
    }
}

/// A line without its line ending; `None` for a blank one.
fn trimmed(buf: &[u8]) -> Option<&[u8]> {
    let end = buf
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map(|i| i + 1)?;
    Some(&buf[..end])
}

/// Writes each message as one line, flushing after each.
async fn write_lines<W: AsyncWrite + Unpin>(mut rx: mpsc::UnboundedReceiver<Vec<u8>>, mut out: W) {
    while let Some(mut line) = rx.recv().await {
        line.push(b'\n');
        if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
            break;
        }
    }
    let _ = out.shutdown().await;
}
