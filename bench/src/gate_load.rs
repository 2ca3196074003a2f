//! Load harness: durable writes per second for a mixed release-gate workload,
//! against real `countersign serve` processes over loopback HTTP.
//!
//! Each iteration walks one release through the gate: create, attach two evidence
//! documents, submit, two reviews, go, promote: 8 writes, each a committed
//! transaction with its ledger entry (SQLite `synchronous=FULL`; PostgreSQL default
//! `synchronous_commit=on`). Workers spread over the replicas round-robin.
//!
//! ```sh
//! cargo build --release -p countersign -p countersign-bench
//! target/release/gate-load --db sqlite --replicas 1
//! target/release/gate-load --db postgres://postgres@127.0.0.1:5432/test --replicas 2
//! ```
#![allow(clippy::print_stdout)]

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Durable writes per second for a mixed release-gate workload")]
struct Args {
    /// `sqlite` (a fresh file in a temp dir) or a PostgreSQL base URL (a fresh database is created in it).
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// Server processes sharing the database (more than 1 needs PostgreSQL).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Concurrent workers.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The countersign binary.
    #[arg(long, default_value = "target/release/countersign")]
    bin: String,
}

struct Replica {
    child: Child,
    url: String,
    admin: Option<String>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bin: &str, db: &str) -> Result<Replica> {
    let child = Command::new(bin)
        .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
        .env("COUNTERSIGN_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| {
            format!("cannot start {bin} (build it with cargo build --release -p countersign)")
        })?;
    // Owned by the Replica from here on, so it is killed and reaped on any error.
    let mut replica = Replica {
        child,
        url: String::new(),
        admin: None,
    };
    let stdout = replica.child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .context("server did not start")?;
        if let Some(t) = line.trim().strip_prefix("export COUNTERSIGN_TOKEN=") {
            replica.admin = Some(t.to_owned());
        }
        if let Some(addr) = line.strip_prefix("countersign: listening on ") {
            replica.url = addr.trim().to_owned();
            return Ok(replica);
        }
    }
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
}

impl Api {
    async fn post(&self, url: String, token: &str, body: Value) -> Result<Value> {
        let resp = self
            .http
            .post(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {url}: {status} {v}");
        }
        Ok(v)
    }

    async fn upload(&self, url: String, token: &str, body: String) -> Result<()> {
        let resp = self
            .http
            .post(&url)
            .bearer_auth(token)
            .body(body)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("POST {url}: {}", resp.status());
        }
        Ok(())
    }

    async fn user(
        &self,
        base: &str,
        admin: &str,
        name: &str,
        role: &str,
    ) -> Result<(String, String)> {
        let u = self
            .post(
                format!("{base}/v1/users"),
                admin,
                json!({"name": name, "email": format!("{name}@bench.test"), "roles": [role]}),
            )
            .await?;
        let id = u["id"].as_str().context("user id")?.to_owned();
        let t = self
            .post(format!("{base}/v1/users/{id}/tokens"), admin, json!({}))
            .await?;
        Ok((id, t["token"].as_str().context("token")?.to_owned()))
    }
}

struct Cast {
    system: String,
    owner_id: String,
    owner: String,
    mlops: String,
    reviewer_mlops: String,
    ops: String,
    mlops_answers: Value,
    ops_answers: Value,
}

/// One release through the gate: 8 writes. Returns each write's latency.
async fn walk(api: &Api, base: &str, c: &Cast, n: u64) -> Result<Vec<Duration>> {
    let mut lat = Vec::with_capacity(8);
    let mut timed = Instant::now();
    let mut tick = |lat: &mut Vec<Duration>| {
        lat.push(timed.elapsed());
        timed = Instant::now();
    };
    let r = api
        .post(format!("{base}/v1/releases"), &c.mlops, json!({
            "title": format!("bench {n}"), "kind": "config", "system": c.system, "decision_owner": c.owner_id,
            "bundle": {"artifact_digest": format!("sha256:{n:064x}"), "code_commit": "b3nch"},
        }))
        .await?;
    tick(&mut lat);
    let id = r["release"]["id"]
        .as_str()
        .context("release id")?
        .to_owned();
    for kind in ["test_results", "rollback_plan"] {
        api.upload(
            format!("{base}/v1/releases/{id}/evidence?revision=1&kind={kind}&name={kind}.txt"),
            &c.mlops,
            format!("{kind} {n}"),
        )
        .await?;
        tick(&mut lat);
    }
    api.post(
        format!("{base}/v1/releases/{id}/submit"),
        &c.mlops,
        json!({"revision": 1}),
    )
    .await?;
    tick(&mut lat);
    for (token, role, answers) in [
        (&c.reviewer_mlops, "mlops", &c.mlops_answers),
        (&c.ops, "operations", &c.ops_answers),
    ] {
        api.post(
            format!("{base}/v1/releases/{id}/reviews"),
            token,
            json!({"revision": 1, "role": role, "verdict": "approve", "answers": answers}),
        )
        .await?;
        tick(&mut lat);
    }
    api.post(
        format!("{base}/v1/releases/{id}/decision"),
        &c.owner,
        json!({"revision": 1, "decision": "go"}),
    )
    .await?;
    tick(&mut lat);
    api.post(
        format!("{base}/v1/releases/{id}/promote"),
        &c.ops,
        json!({"revision": 1}),
    )
    .await?;
    tick(&mut lat);
    Ok(lat)
}

fn yes(profile: &Value, role: &str) -> Value {
    let mut m = serde_json::Map::new();
    for item in profile["profile"]["checklists"][role]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(id) = item["id"].as_str() {
            m.insert(id.to_owned(), json!("yes"));
        }
    }
    Value::Object(m)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = std::env::temp_dir().join(format!("countersign-bench-{}", std::process::id()));
    let (db, pg_base) = if args.db == "sqlite" {
        if args.replicas != 1 {
            bail!("SQLite is one process's embedded database; use PostgreSQL for --replicas > 1");
        }
        std::fs::create_dir_all(&tmp)?;
        (tmp.join("bench.db").display().to_string(), None)
    } else {
        let url = countersign_store::testing::fresh_postgres_database(&args.db).await?;
        (url, Some(args.db.clone()))
    };
    let mut replicas = Vec::new();
    for _ in 0..args.replicas {
        replicas.push(start(&args.bin, &db)?);
    }
    let admin = replicas[0]
        .admin
        .clone()
        .context("the first replica prints the admin token")?;
    let base0 = replicas[0].url.clone();
    let api = Api {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?,
    };
    let (_, mlops) = api.user(&base0, &admin, "maya", "mlops").await?;
    let (_, reviewer_mlops) = api.user(&base0, &admin, "noah", "mlops").await?;
    let (_, ops) = api.user(&base0, &admin, "olu", "operations").await?;
    let (owner_id, owner) = api.user(&base0, &admin, "dana", "risk").await?;
    let sys = api
        .post(
            format!("{base0}/v1/systems"),
            &admin,
            json!({"name": "bench", "owner": owner_id}),
        )
        .await?;
    let profile: Value = api
        .http
        .get(format!("{base0}/v1/profile"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    let cast = std::sync::Arc::new(Cast {
        system: sys["id"].as_str().context("system id")?.to_owned(),
        owner_id,
        owner,
        mlops,
        reviewer_mlops,
        ops,
        mlops_answers: yes(&profile, "mlops"),
        ops_answers: yes(&profile, "operations"),
    });

    println!(
        "gate-load: backend {} replicas {} workers {} for {}s (8 durable writes per release walk)",
        if pg_base.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        args.replicas,
        args.workers,
        args.seconds
    );
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..args.workers {
        let api = api.clone();
        let cast = cast.clone();
        let base = replicas[w % replicas.len()].url.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = (w as u64) << 40;
            while Instant::now() < deadline {
                n += 1;
                lat.extend(walk(&api, &base, &cast, n).await?);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let writes = all.len() as f64;
    println!(
        "gate-load: {} writes in {:.1}s = {:.0} durable writes/s; latency p50 {:.2} ms p99 {:.2} ms",
        all.len(),
        elapsed,
        writes / elapsed,
        pct(&all, 0.50).as_secs_f64() * 1e3,
        pct(&all, 0.99).as_secs_f64() * 1e3
    );

    // The chain must still verify after the load.
    let out = Command::new(&args.bin)
        .args(["ledger", "verify", "--db", &db])
        .output()?;
    println!(
        "gate-load: {}",
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("no output")
    );
    drop(replicas);
    if let Some(base) = pg_base {
        let name = db.rsplit('/').next().unwrap_or_default().to_owned();
        let _ = countersign_store::testing::drop_postgres_database(&base, &name).await;
    } else {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if !out.status.success() {
        bail!("the ledger did not verify after the load");
    }
    Ok(())
}
