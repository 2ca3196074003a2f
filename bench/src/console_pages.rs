//! Benchmark: server time per console page on a large world — by default 10,000
//! releases (200 of them in review, 20 of those owned by the benchmark's decision
//! owner), 100,000 actions (50 step-ups pending for the owner) and 1,000,000 ledger
//! entries — against an in-process server over loopback HTTP, signed in through the
//! console's own token sign-in.
//!
//! Each page is requested `--requests` times one after another (after a warm-up) and
//! the time from request to the last byte is reported as p50 and p99, beside the
//! aim (p99 under 50 ms). The world is written straight through the store, except the
//! people, who are created through the API so they have tokens.
//!
//! ```sh
//! cargo run --release -p countersign-bench --bin console-pages -- --db sqlite
//! cargo run --release -p countersign-bench --bin console-pages -- --db postgres://postgres@127.0.0.1:5432/test
//! ```
#![allow(clippy::print_stdout)]

use anyhow::{bail, Context, Result};
use chrono::{Duration as Span, Utc};
use clap::Parser;
// Shared with the other load generators; this one uses part of it.
#[allow(dead_code)]
mod common;

use common::{percentile, InProcess};
use countersign_core::release::{Attributes, ReleaseKind, ReleaseStatus};
use countersign_core::runtime::ActionDecision;
use countersign_core::{Digest, ReleaseId, UserId};
use countersign_ledger::EntryDraft;
use countersign_store::records::{ApprovalRecord, EvidenceRecord, ReleaseRecord, RevisionRecord};
use countersign_store::testing;
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Server time per console page on a large world (p50, p99)")]
struct Args {
    /// `sqlite` (a fresh file in a temp dir) or a PostgreSQL base URL (a fresh database is created in it).
    #[arg(long, default_value = "sqlite")]
    db: String,
    #[arg(long, default_value_t = 10_000)]
    releases: usize,
    /// How many of the releases are in review (the rest promoted).
    #[arg(long, default_value_t = 200)]
    in_review: usize,
    /// How many of those the benchmark's decision owner owns (the inbox evaluates the
    /// whole gate of each).
    #[arg(long, default_value_t = 20)]
    owned: usize,
    #[arg(long, default_value_t = 100_000)]
    actions: usize,
    #[arg(long, default_value_t = 1_000_000)]
    entries: usize,
    /// Requests per page (after 10 warm-up requests).
    #[arg(long, default_value_t = 200)]
    requests: usize,
}

/// A console session: the cookies the sign-in set.
struct Session {
    http: reqwest::Client,
    base: String,
    cookies: String,
}

impl Session {
    async fn sign_in(base: &str, token: &str) -> Result<Session> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let form = http
            .get(format!("{base}/console/sign-in?next=/console"))
            .send()
            .await?;
        let mut cookies = cookies_of(&form);
        let html = form.text().await?;
        let at = html
            .find("name=\"csrf\" value=\"")
            .context("no csrf on the sign-in page")?
            + 19;
        let csrf = &html[at..at + html[at..].find('"').context("csrf unterminated")?];
        let done = http
            .post(format!("{base}/console/sign-in"))
            .header("cookie", &cookies)
            .header("origin", base)
            .form(&[("csrf", csrf), ("token", token), ("next", "/console")])
            .send()
            .await?;
        if done.status() != reqwest::StatusCode::SEE_OTHER {
            bail!("sign-in answered {}: {}", done.status(), done.text().await?);
        }
        cookies = cookies_of(&done);
        Ok(Session {
            http,
            base: base.to_owned(),
            cookies,
        })
    }

    /// Requests `path`; the time to the last byte.
    async fn time(&self, path: &str) -> Result<Duration> {
        let start = Instant::now();
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookies)
            .send()
            .await?;
        let status = r.status();
        let body = r.bytes().await?;
        let took = start.elapsed();
        if !status.is_success() {
            bail!(
                "{path} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(took)
    }
}

fn cookies_of(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

async fn api(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: Value,
) -> Result<Value> {
    let r = http
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    if !status.is_success() {
        bail!("POST {path} answered {status}: {v}");
    }
    Ok(v)
}

/// A person with a token, created through the API.
async fn person(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    name: &str,
    roles: &[&str],
) -> Result<(String, String)> {
    let u = api(
        http,
        base,
        admin,
        "/v1/users",
        json!({"name": name, "email": format!("{}@bench.example", name.to_lowercase()), "roles": roles}),
    )
    .await?;
    let id = u["id"].as_str().context("a user id")?.to_owned();
    let t = api(
        http,
        base,
        admin,
        &format!("/v1/users/{id}/tokens"),
        json!({"label": "bench"}),
    )
    .await?;
    Ok((id, t["token"].as_str().context("a token")?.to_owned()))
}

fn progress(what: &str, done: usize, total: usize) {
    print!("\r  {what}: {done}/{total}");
    let _ = std::io::stdout().flush();
    if done == total {
        println!();
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let server = InProcess::start(&args.db, 1).await?;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let admin = server.admin.clone();
    let (owner, owner_token) = person(&http, &base, &admin, "Owner", &["risk"]).await?;
    let (maker, _) = person(&http, &base, &admin, "Maker", &["mlops"]).await?;
    let (_, reviewer_token) = person(&http, &base, &admin, "Reviewer", &["security"]).await?;
    println!(
        "seeding {} releases ({} in review), {} actions, {} ledger entries ({})",
        args.releases, args.in_review, args.actions, args.entries, args.db
    );
    let store = server.state.store.clone();
    let now = Utc::now();
    let evidence_bytes = br#"{"format": "countersign.eval/v1", "results": [{"metric": "accuracy", "value": 0.94}, {"metric": "toxicity", "value": 0.002}]}"#;
    let evidence_digest = Digest::of(evidence_bytes);

    // Releases: the first `in_review` submitted (half of them owned by the owner),
    // the rest promoted; each with one revision of the medium tier.
    let chunk = 1000;
    for start in (0..args.releases).step_by(chunk) {
        let mut tx = store.write().await?;
        for i in start..(start + chunk).min(args.releases) {
            let id = format!("rel_bench_{i:05}");
            let review = i < args.in_review;
            let decider = if review && i < args.owned {
                &owner
            } else {
                &maker
            };
            tx.insert_release(&ReleaseRecord {
                title: format!("Support assistant v{i}"),
                kind: ReleaseKind::Model,
                status: if review {
                    ReleaseStatus::InReview
                } else {
                    ReleaseStatus::Promoted
                },
                decision_owner: UserId(decider.clone()),
                created_by: UserId(maker.clone()),
                attributes: Attributes {
                    customer_facing: true,
                    ..Attributes::default()
                },
                ..testing::release(&id, "sys_bench", decider, now)
            })
            .await?;
            let bundle = testing::bundle(&format!("artifact-{i}"));
            let mut rev: RevisionRecord = testing::revision(&id, 1, bundle, &maker, now);
            rev.tier = "medium".into();
            rev.submitted_by = Some(UserId(maker.clone()));
            rev.submitted_at = Some(now - Span::hours(1));
            tx.insert_revision(&rev).await?;
            if i < 10 {
                tx.put_blob(&evidence_digest, evidence_bytes).await?;
                tx.insert_evidence(&EvidenceRecord {
                    kind: "eval_report".into(),
                    name: "eval.json".into(),
                    media_type: "application/json".into(),
                    ..testing::evidence(&format!("evd_bench_{i}"), &id, 1, evidence_bytes, &maker)
                })
                .await?;
            }
        }
        tx.commit().await?;
        progress(
            "releases",
            (start + chunk).min(args.releases),
            args.releases,
        );
    }

    // Actions, with pending step-ups for the owner on the last 50.
    let agent = server.agents[0].0.clone();
    for start in (0..args.actions).step_by(chunk) {
        let end = (start + chunk).min(args.actions);
        let actions: Vec<_> = (start..end)
            .map(|i| {
                let mut a = testing::action(
                    &format!("act_bench_{i:06}"),
                    &agent,
                    "refunds",
                    if i + 50 >= args.actions {
                        ActionDecision::StepUp
                    } else {
                        ActionDecision::Allow
                    },
                    now - Span::seconds(i64::try_from(args.actions - i).unwrap_or(0)),
                );
                a.owner = UserId(owner.clone());
                a.system_id = countersign_core::SystemId("sys_bench".into());
                a
            })
            .collect();
        let mut tx = store.write().await?;
        tx.insert_actions(&actions.iter().collect::<Vec<_>>())
            .await?;
        for a in actions
            .iter()
            .filter(|a| a.decision == ActionDecision::StepUp)
        {
            tx.insert_approval(&ApprovalRecord {
                agent_id: a.agent_id.clone(),
                system_id: a.system_id.clone(),
                action_digest: a.action_digest.clone(),
                ..testing::approval(
                    &format!("apr_{}", a.id),
                    &a.id,
                    &owner,
                    now + Span::minutes(30),
                )
            })
            .await?;
        }
        tx.commit().await?;
        progress("actions", end, args.actions);
    }

    // Ledger entries: a third under the releases (their history), the rest under actions.
    let batch = 10_000;
    for start in (0..args.entries).step_by(batch) {
        let end = (start + batch).min(args.entries);
        let drafts = (start..end)
            .map(|i| EntryDraft {
                at: now,
                actor: maker.clone(),
                action: if i % 3 == 0 {
                    "review.record".into()
                } else {
                    "action.decide".into()
                },
                subject: if i % 3 == 0 {
                    format!("rel_bench_{:05}", (i / 3) % args.releases.max(1))
                } else {
                    format!("act_bench_{:06}", i % args.actions.max(1))
                },
                payload: json!({"i": i, "revision": 1}),
            })
            .collect();
        let mut tx = store.write().await?;
        tx.append_batch(drafts).await?;
        tx.commit().await?;
        progress("ledger entries", end, args.entries);
    }

    let owner_s = Session::sign_in(&base, &owner_token).await?;
    let reviewer_s = Session::sign_in(&base, &reviewer_token).await?;
    let rel = ReleaseId("rel_bench_00000".into());
    let approval = format!("apr_act_bench_{:06}", args.actions - 1);
    let pages: Vec<(&str, &Session, String)> = vec![
        (
            "inbox (owner: decisions, step-ups)",
            &owner_s,
            "/console".into(),
        ),
        (
            "inbox items (the 2 s refresh)",
            &owner_s,
            "/console/inbox/items".into(),
        ),
        (
            "inbox (reviewer: reviews owed)",
            &reviewer_s,
            "/console".into(),
        ),
        (
            "release (with ledger, eval, lineage)",
            &owner_s,
            format!("/console/releases/{rel}"),
        ),
        (
            "release, older ledger page",
            &owner_s,
            format!("/console/releases/{rel}?ledger_before=500000"),
        ),
        (
            "review form",
            &reviewer_s,
            format!("/console/releases/{rel}/review/security"),
        ),
        (
            "evidence preview",
            &owner_s,
            format!("/console/releases/{rel}/evidence/{evidence_digest}"),
        ),
        (
            "step-up approval",
            &owner_s,
            format!("/console/approvals/{approval}"),
        ),
    ];
    println!(
        "\n{:<40} {:>10} {:>10}   aim: p99 < 50 ms ({} requests each)",
        "page", "p50", "p99", args.requests
    );
    for (name, session, path) in pages {
        for _ in 0..10 {
            session.time(&path).await?;
        }
        let mut times = Vec::with_capacity(args.requests);
        for _ in 0..args.requests {
            times.push(session.time(&path).await?);
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let p99 = percentile(&times, 0.99);
        println!(
            "{name:<40} {:>8.2}ms {:>8.2}ms   {}",
            ms(percentile(&times, 0.5)),
            ms(p99),
            if ms(p99) < 50.0 { "within" } else { "OVER" }
        );
    }
    server.finish().await;
    Ok(())
}
