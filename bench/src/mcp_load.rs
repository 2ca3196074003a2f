//! The MCP gateway's cost (issue 13): the latency `countersign mcp proxy` (stdio) and
//! `countersign mcp serve` (Streamable HTTP) add to an allowed `tools/call` over the
//! same call made straight to the server (p50, p99), and calls per second through one
//! gateway with many calls in flight.
//!
//! The upstream is this binary itself in `--echo-server` mode: a minimal MCP server
//! on stdio (or, with `--echo-http PORT`, over Streamable HTTP with JSON answers)
//! that answers `initialize`, `tools/list` and `tools/call` at once, so the
//! difference between the two paths is the gateway: reading the line, the decision
//! (`POST /v1/decide` to an in-process server, answered after its ledger entry is
//! durable), forwarding, relaying the reply and the outcome report. Aim: under 1 ms
//! added at p50 on this machine. Not run in CI.
//!
//! ```sh
//! cargo build --release -p countersign --bin countersign
//! cargo build --release -p countersign-bench --bin mcp-load
//! target/release/mcp-load --calls 2000
//! ```
#![allow(clippy::print_stdout)]

mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{bail, Context, Result};
use clap::Parser;
use common::{assertion, percentile, InProcess};
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The aim for the added latency at p50.
const AIM_P50: Duration = Duration::from_millis(1);

#[derive(Parser)]
#[command(about = "Latency the MCP gateway adds to an allowed call, and its calls per second")]
struct Args {
    /// Sequential calls measured on each path (after a warm-up of 50).
    #[arg(long, default_value_t = 2000)]
    calls: usize,
    /// Calls in flight for the throughput run.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// How long the throughput run lasts, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The countersign binary.
    #[arg(long, default_value = "target/release/countersign")]
    bin: String,
    /// `sqlite` (a fresh file in a temp dir) or a PostgreSQL base URL.
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// Run as the upstream: a minimal MCP server on stdio (used by the benchmark itself).
    #[arg(long, hide = true)]
    echo_server: bool,
    /// Run as the upstream over Streamable HTTP on this port (used by the benchmark).
    #[arg(long, hide = true)]
    echo_http: Option<u16>,
}

/// One request's answer from the echo server.
fn echo_answer(m: &Value) -> Option<Value> {
    let id = m.get("id")?;
    let result = match m["method"].as_str() {
        Some("initialize") => json!({
            "protocolVersion": m["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "echo", "version": "1"}}),
        Some("tools/list") => json!({"tools": [{"name": "get_order",
            "inputSchema": {"type": "object", "properties": {"order_id": {"type": "string"}}}}]}),
        Some("tools/call") => json!({"content": [{"type": "text",
            "text": format!("order {}", m["params"]["arguments"]["order_id"])}]}),
        _ => json!({}),
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// The upstream over Streamable HTTP: each POST answered with JSON.
async fn echo_http(port: u16) -> Result<()> {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(|body: axum::body::Bytes| async move {
            let Ok(m) = serde_json::from_slice::<Value>(&body) else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            match echo_answer(&m) {
                Some(a) => axum::Json(a).into_response(),
                None => StatusCode::ACCEPTED.into_response(),
            }
        }),
    );
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(l, app).await?;
    Ok(())
}

/// The upstream: answers each request line at once.
async fn echo_server() -> Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    while let Some(line) = lines.next_line().await? {
        let m: Value = serde_json::from_str(&line)?;
        let Some(answer) = echo_answer(&m) else {
            continue;
        };
        let mut reply = serde_json::to_vec(&answer)?;
        reply.push(b'\n');
        out.write_all(&reply).await?;
        out.flush().await?;
    }
    Ok(())
}

/// An MCP client on a child's stdio.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    async fn start(mut cmd: Command) -> Result<Peer> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let program = cmd.as_std().get_program().to_string_lossy().into_owned();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start the MCP peer {program}"))?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut p = Peer {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        p.send(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "mcp-load", "version": "1"}}}),
        )
        .await?;
        p.reply().await?;
        p.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(p)
    }

    async fn send(&mut self, m: &Value) -> Result<()> {
        let mut line = serde_json::to_vec(m)?;
        line.push(b'\n');
        self.stdin.write_all(&line).await?;
        self.stdin.flush().await?;
        Ok(())
    }

    async fn reply(&mut self) -> Result<Value> {
        let line = self
            .lines
            .next_line()
            .await?
            .context("the peer closed its output")?;
        Ok(serde_json::from_str(&line)?)
    }

    async fn call(&mut self, id: u64) -> Result<Duration> {
        let start = Instant::now();
        self.send(&call(id)).await?;
        let r = self.reply().await?;
        let took = start.elapsed();
        check(&r)?;
        Ok(took)
    }
}

fn call(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "get_order", "arguments": {"order_id": format!("o{id}")}}})
}

fn check(r: &Value) -> Result<()> {
    if r["result"]["isError"] == true || r.get("error").is_some() || r.get("result").is_none() {
        bail!("the call was not answered with a result: {r}");
    }
    Ok(())
}

/// An MCP client over Streamable HTTP at `url`, with a bearer token if given.
struct HttpPeer {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl HttpPeer {
    async fn post(&self, m: &Value) -> Result<Value> {
        let mut rb = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(m);
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        let r = rb.send().await?;
        if !r.status().is_success() {
            bail!("{} answered {}", self.url, r.status());
        }
        Ok(r.json().await?)
    }

    async fn call(&self, id: u64) -> Result<Duration> {
        let start = Instant::now();
        let r = self.post(&call(id)).await?;
        let took = start.elapsed();
        check(&r)?;
        Ok(took)
    }
}

/// Calls per second over HTTP with `window` callers for `seconds`.
async fn http_throughput(p: std::sync::Arc<HttpPeer>, window: usize, seconds: u64) -> Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..window as u64 {
        let p = p.clone();
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                p.call(3_000_000 + w * 1_000_000 + n).await?;
                n += 1;
            }
            Ok::<u64, anyhow::Error>(n)
        });
    }
    let mut done = 0;
    while let Some(r) = tasks.join_next().await {
        done += r??;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

/// A free loopback port.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until something accepts connections on `port`.
async fn listening(port: u16) -> Result<()> {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("nothing listens on port {port}")
}

/// A client that makes one timed call.
trait Caller {
    async fn call(&mut self, id: u64) -> Result<Duration>;
}

impl Caller for Peer {
    async fn call(&mut self, id: u64) -> Result<Duration> {
        Peer::call(self, id).await
    }
}

impl Caller for &HttpPeer {
    async fn call(&mut self, id: u64) -> Result<Duration> {
        HttpPeer::call(self, id).await
    }
}

/// Sequential calls after a warm-up of 50: latencies sorted.
async fn timed(p: &mut impl Caller, n: usize) -> Result<Vec<Duration>> {
    for i in 0..50 {
        p.call(1_000_000 + i).await?;
    }
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        lat.push(p.call(i as u64 + 1).await?);
    }
    lat.sort();
    Ok(lat)
}

/// Calls per second with `window` calls in flight for `seconds`.
async fn throughput(p: Peer, window: usize, seconds: u64) -> Result<f64> {
    let Peer {
        mut child,
        mut stdin,
        mut lines,
    } = p;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let (mut sent, mut done) = (0u64, 0u64);
    while sent < window as u64 {
        sent += 1;
        let mut l = serde_json::to_vec(&call(2_000_000 + sent))?;
        l.push(b'\n');
        stdin.write_all(&l).await?;
    }
    stdin.flush().await?;
    while done < sent {
        let line = lines.next_line().await?.context("the gateway closed")?;
        check(&serde_json::from_str(&line)?)?;
        done += 1;
        if Instant::now() < deadline {
            sent += 1;
            let mut l = serde_json::to_vec(&call(2_000_000 + sent))?;
            l.push(b'\n');
            stdin.write_all(&l).await?;
            stdin.flush().await?;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    drop(stdin);
    let _ = child.wait().await;
    Ok(done as f64 / secs)
}

fn line(what: &str, lat: &[Duration]) {
    println!(
        "{what:<28} p50 {:>9.3} ms  p99 {:>9.3} ms  ({} calls)",
        ms(percentile(lat, 0.50)),
        ms(percentile(lat, 0.99)),
        lat.len()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.echo_server {
        return echo_server().await;
    }
    if let Some(port) = args.echo_http {
        return echo_http(port).await;
    }
    let me = std::env::current_exe()?.display().to_string();
    let bench = InProcess::start(&args.db, 1).await?;
    let (agent, sk) = bench.agents[0].clone();
    let token: Value = reqwest::Client::new()
        .post(format!("{}/v1/oauth/token", bench.base))
        .json(
            &json!({"grant_type": "client_credentials", "client_assertion": assertion(&agent, &sk),
                      "task": "bench", "scope": "sys_bench:read:orders/*"}),
        )
        .send()
        .await?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .context("no credential issued")?
        .to_owned();
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        "[servers.echo.tools.get_order]\nsystem = \"sys_bench\"\naction = \"read\"\nresource = \"orders/{/order_id}\"\n",
    )?;
    let gateway = || {
        let mut c = Command::new(&args.bin);
        c.args(["mcp", "proxy", "--config"])
            .arg(&config)
            .args(["--server", &bench.base, "--", &me, "--echo-server"])
            .env("COUNTERSIGN_TOKEN", &token)
            .env("COUNTERSIGN_LOG", "error");
        c
    };
    let direct = || {
        let mut c = Command::new(&me);
        c.arg("--echo-server");
        c
    };

    let mut d = Peer::start(direct()).await?;
    let direct_lat = timed(&mut d, args.calls).await?;
    let mut g = Peer::start(gateway()).await?;
    let gw_lat = timed(&mut g, args.calls).await?;
    drop(d);
    let added50 = percentile(&gw_lat, 0.50).saturating_sub(percentile(&direct_lat, 0.50));
    let added99 = percentile(&gw_lat, 0.99).saturating_sub(percentile(&direct_lat, 0.99));
    println!(
        "MCP gateway, stdio, one allowed tools/call at a time, backend {}:",
        bench.state.store.backend()
    );
    line("direct client -> server", &direct_lat);
    line("through countersign mcp proxy", &gw_lat);
    println!(
        "added                        p50 {:>9.3} ms  p99 {:>9.3} ms  (aim: p50 under {} ms: {})",
        ms(added50),
        ms(added99),
        ms(AIM_P50),
        if added50 < AIM_P50 { "met" } else { "missed" }
    );
    drop(g);
    let g = Peer::start(gateway()).await?;
    let rate = throughput(g, args.in_flight, args.seconds).await?;
    println!(
        "throughput through one gateway, {} in flight: {rate:.0} allowed calls/s",
        args.in_flight
    );

    // Streamable HTTP: the echo server on a port, `mcp serve` in front of it.
    let (up, gw) = (free_port()?, free_port()?);
    let mut echo = Command::new(&me);
    echo.args(["--echo-http", &up.to_string()])
        .kill_on_drop(true);
    let _echo = echo.spawn().context("cannot start the HTTP echo server")?;
    listening(up).await?;
    let http_config = dir.path().join("http.toml");
    std::fs::write(
        &http_config,
        format!("[servers.echo]\nurl = \"http://127.0.0.1:{up}/mcp\"\n[servers.echo.tools.get_order]\nsystem = \"sys_bench\"\naction = \"read\"\nresource = \"orders/{{/order_id}}\"\n"),
    )?;
    let mut serve = Command::new(&args.bin);
    serve
        .args(["mcp", "serve", "--config"])
        .arg(&http_config)
        .args([
            "--listen",
            &format!("127.0.0.1:{gw}"),
            "--server",
            &bench.base,
        ])
        .env("COUNTERSIGN_LOG", "error")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    let _serve = serve
        .spawn()
        .context("cannot start countersign mcp serve")?;
    listening(gw).await?;
    let http = reqwest::Client::new();
    let direct = HttpPeer {
        http: http.clone(),
        url: format!("http://127.0.0.1:{up}/mcp"),
        token: None,
    };
    let through = std::sync::Arc::new(HttpPeer {
        http,
        url: format!("http://127.0.0.1:{gw}/mcp/echo"),
        token: Some(token.clone()),
    });
    let direct_lat = timed(&mut &direct, args.calls).await?;
    let gw_lat = timed(&mut &*through, args.calls).await?;
    let added50 = percentile(&gw_lat, 0.50).saturating_sub(percentile(&direct_lat, 0.50));
    let added99 = percentile(&gw_lat, 0.99).saturating_sub(percentile(&direct_lat, 0.99));
    println!("MCP gateway, Streamable HTTP, one allowed tools/call at a time:");
    line("direct client -> server", &direct_lat);
    line("through countersign mcp serve", &gw_lat);
    println!(
        "added                        p50 {:>9.3} ms  p99 {:>9.3} ms  (aim: p50 under {} ms: {})",
        ms(added50),
        ms(added99),
        ms(AIM_P50),
        if added50 < AIM_P50 { "met" } else { "missed" }
    );
    let rate = http_throughput(through, args.in_flight, args.seconds).await?;
    println!(
        "throughput through one HTTP gateway, {} callers: {rate:.0} allowed calls/s",
        args.in_flight
    );
    bench.finish().await;
    Ok(())
}
