//! Agents' credentials under load: durable credential issues per second (each a
//! committed write transaction with its ledger entry and the assertion's jti) and
//! introspection latency (each a read of the revocation state), against an in-process
//! server over loopback HTTP on SQLite or PostgreSQL.
//!
//! Setup writes its fixtures (users, a promoted release, agents, approved grants)
//! straight through the store, without ledger entries: only the measured commands go
//! through the API. Not run in CI.
//!
//! ```sh
//! cargo run --release -p countersign-bench --bin agent-load -- --db sqlite
//! cargo run --release -p countersign-bench --bin agent-load -- --db postgres://postgres@127.0.0.1:5432/test
//! ```
#![allow(clippy::print_stdout)]

mod common;

use anyhow::{Context, Result};
use clap::Parser;
use common::{assertion, percentile, InProcess};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Durable credential issues per second and introspection latency")]
struct Args {
    /// `sqlite` (a fresh file in a temp dir) or a PostgreSQL base URL (a fresh database is created in it).
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// Concurrent agents, each issuing credentials in a loop.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// How long to measure issuing, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Introspection calls to time.
    #[arg(long, default_value_t = 2000)]
    introspections: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let bench = InProcess::start(&args.db, args.workers).await?;
    let (store, base) = (bench.state.store.clone(), bench.base.clone());
    let agents = bench.agents.clone();
    let client = reqwest::Client::new();

    // Issuing: every worker is one agent asking for credentials in a loop.
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut handles = Vec::new();
    for (id, sk) in agents {
        let (client, base) = (client.clone(), base.clone());
        handles.push(tokio::spawn(async move {
            let mut tokens = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let body = json!({"grant_type": "client_credentials", "client_assertion": assertion(&id, &sk),
                                  "task": "bench", "scope": "sys_bench:read:orders/1"});
                let r = client.post(format!("{base}/v1/oauth/token")).json(&body).send().await?;
                let status = r.status();
                let v: Value = r.json().await?;
                anyhow::ensure!(status.as_u16() == 201, "token refused: {v}");
                n += 1;
                if tokens.len() < 200 {
                    tokens.push(v["access_token"].as_str().unwrap_or_default().to_owned());
                }
            }
            Ok::<_, anyhow::Error>((n, tokens))
        }));
    }
    let mut issued = 0;
    let mut tokens = Vec::new();
    for h in handles {
        let (n, t) = h.await.context("worker")??;
        issued += n;
        tokens.extend(t);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "backend {}  workers {}  credential issues {issued} in {secs:.1}s: {:.0} durable issues/s",
        store.backend(),
        args.workers,
        issued as f64 / secs
    );

    // Introspection latency, one call at a time.
    let mut lat = Vec::with_capacity(args.introspections);
    for i in 0..args.introspections {
        let t = &tokens[i % tokens.len().max(1)];
        let start = Instant::now();
        let r = client
            .post(format!("{base}/v1/oauth/introspect"))
            .json(&json!({"token": t}))
            .send()
            .await?;
        let v: Value = r.json().await?;
        lat.push(start.elapsed());
        anyhow::ensure!(v["active"] == true, "an issued token is inactive: {v}");
    }
    lat.sort();
    println!(
        "introspection ({} calls): p50 {:?}  p95 {:?}  p99 {:?}  max {:?}",
        lat.len(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.95),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default()
    );
    bench.finish().await;
    Ok(())
}
