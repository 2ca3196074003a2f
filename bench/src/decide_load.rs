//! Runtime decisions under load (issue 6): durable decisions per second and their
//! latency, in-process (the application function with its group commit, no HTTP)
//! and over loopback HTTP with keep-alive against an in-process server.
//!
//! Every decision counted was answered after its ledger entry committed (group
//! commit: many decisions per transaction, each caller answered after its batch is
//! durable). The ledger is verified after each run. Fixtures (users, a promoted
//! release, agents, approved grants) are written straight through the store. Not run
//! in CI.
//!
//! ```sh
//! cargo run --release -p countersign-bench --bin decide-load -- --mode in-process
//! cargo run --release -p countersign-bench --bin decide-load -- --mode http
//! cargo run --release -p countersign-bench --bin decide-load -- --mode http --db postgres://postgres@127.0.0.1:5432/test
//! ```
#![allow(clippy::print_stdout)]

mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use common::{assertion, percentile, InProcess};
use countersign_core::SystemId;
use countersign_server::app::decide;
use countersign_server::app::decide::evaluate::{DecideContext, DecideInput};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// The application function directly: policy evaluation, group commit.
    InProcess,
    /// `POST /v1/decide` over loopback HTTP with keep-alive.
    Http,
}

#[derive(Parser)]
#[command(about = "Durable runtime decisions per second and their latency")]
struct Args {
    #[arg(long, value_enum, default_value = "in-process")]
    mode: Mode,
    /// `sqlite` (a fresh file in a temp dir) or a PostgreSQL base URL (a fresh database is created in it).
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// Concurrent callers.
    #[arg(long, default_value_t = 256)]
    workers: usize,
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

fn input(i: u64) -> DecideInput {
    DecideInput {
        action: "read".into(),
        system: SystemId("sys_bench".into()),
        resource: format!("orders/{i}"),
        task: None,
        arguments: json!({"fields": ["status", "total"]}),
        context: DecideContext {
            confidence: Some(0.97),
            risk_score: 10,
            ..Default::default()
        },
        approval_id: None,
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let bench = InProcess::start(&args.db, 4).await?;
    let (store, state, base) = (
        bench.state.store.clone(),
        bench.state.clone(),
        bench.base.clone(),
    );
    let agents = bench.agents.clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.workers)
        .build()?;

    // One credential per agent.
    let mut tokens = Vec::new();
    for (id, sk) in &agents {
        let body = json!({"grant_type": "client_credentials", "client_assertion": assertion(id, sk),
                          "task": "bench", "scope": "sys_bench:read:orders/*"});
        let r = client
            .post(format!("{base}/v1/oauth/token"))
            .json(&body)
            .send()
            .await?;
        let v: Value = r.json().await?;
        tokens.push(
            v["access_token"]
                .as_str()
                .context("no token issued")?
                .to_owned(),
        );
    }
    let before = {
        let mut tx = store.read().await?;
        tx.ledger_count().await?
    };

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..args.workers {
        let token = tokens[w % tokens.len()].clone();
        let (client, base, state) = (client.clone(), base.clone(), state.clone());
        let mode = args.mode;
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let principal = decide::principal(&state, &token)
                .await?
                .context("the credential does not resolve")?;
            let mut i = w as u64 * 1_000_000;
            while Instant::now() < deadline {
                i += 1;
                let start = Instant::now();
                let decision = match mode {
                    Mode::InProcess => decide::run(&state, &principal, input(i), None)
                        .await?
                        .write
                        .action
                        .decision
                        .to_string(),
                    Mode::Http => {
                        let body = json!({"action": "read", "system": "sys_bench",
                                          "resource": format!("orders/{i}"),
                                          "arguments": {"fields": ["status", "total"]},
                                          "context": {"confidence": 0.97, "risk_score": 10}});
                        let r = client
                            .post(format!("{base}/v1/decide"))
                            .bearer_auth(&token)
                            .json(&body)
                            .send()
                            .await?;
                        let v: Value = r.json().await?;
                        v["decision"].as_str().unwrap_or_default().to_owned()
                    }
                };
                lat.push(start.elapsed());
                anyhow::ensure!(decision == "allow", "unexpected decision {decision}");
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.await.context("worker")??);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    let n = lat.len();
    println!(
        "decide {} backend {} workers {}: {n} durable decisions in {secs:.1}s = {:.0}/s; latency p50 {:?} p99 {:?} max {:?}",
        match args.mode {
            Mode::InProcess => "in-process",
            Mode::Http => "http",
        },
        store.backend(),
        args.workers,
        n as f64 / secs,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default()
    );

    // Every decision is in the ledger, and the chain verifies.
    let mut tx = store.read().await?;
    let count = tx.ledger_count().await?;
    anyhow::ensure!(
        count - before == n as u64,
        "ledger has {} new entries for {n} decisions",
        count - before
    );
    drop(tx);
    let verdict =
        countersign_server::app::ledger::verify(&*store, &store.ledger_public_key(), |_| {})
            .await?;
    match verdict {
        countersign_server::app::ledger::Verification::Valid(_) => {
            println!("ledger: {count} entries, chain and signed head verify")
        }
        countersign_server::app::ledger::Verification::Invalid(e) => {
            anyhow::bail!("ledger does not verify: {e:?}")
        }
    }
    bench.finish().await;
    Ok(())
}
