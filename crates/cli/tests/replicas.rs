#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Two real `countersign serve` processes on one PostgreSQL database (issue 3):
//! conflicting decisions race, many writers on both replicas, and one
//! Idempotency-Key sent to both at once.
//!
//! Runs whenever `COUNTERSIGN_TEST_POSTGRES` is set (CI sets it); without it there is
//! no PostgreSQL to share and the test says so and returns.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Replica {
    child: Child,
    url: String,
    admin_token: Option<String>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `countersign serve` on an ephemeral port and waits for it to listen.
fn start(db: &str) -> Replica {
    let child = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
        .env("COUNTERSIGN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn countersign serve");
    // Owned by the Replica from here on, so it is killed and reaped on any panic.
    let mut replica = Replica {
        child,
        url: String::new(),
        admin_token: None,
    };
    let stdout = replica.child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server did not start");
        if let Some(t) = line.trim().strip_prefix("export COUNTERSIGN_TOKEN=") {
            replica.admin_token = Some(t.to_owned());
        }
        if let Some(addr) = line.strip_prefix("countersign: listening on ") {
            replica.url = addr.trim().to_owned();
            return replica;
        }
    }
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
}

impl Api {
    async fn post(
        &self,
        base: &str,
        token: &str,
        path: &str,
        body: Value,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut rb = self
            .http
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body);
        if let Some(k) = key {
            rb = rb.header("Idempotency-Key", k);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, base: &str, token: &str, path: &str) -> Value {
        let resp = self
            .http
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    async fn user(&self, base: &str, admin: &str, name: &str, roles: &[&str]) -> (String, String) {
        let (s, u) = self
            .post(
                base,
                admin,
                "/v1/users",
                json!({"name": name, "email": format!("{name}@replicas.test"), "roles": roles}),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{u}");
        let id = u["id"].as_str().unwrap().to_owned();
        let (s, t) = self
            .post(
                base,
                admin,
                &format!("/v1/users/{id}/tokens"),
                json!({}),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        (id, t["token"].as_str().unwrap().to_owned())
    }
}

fn answers_all_yes(profile: &Value, role: &str) -> Value {
    let mut m = serde_json::Map::new();
    for item in profile["profile"]["checklists"][role].as_array().unwrap() {
        m.insert(item["id"].as_str().unwrap().to_owned(), json!("yes"));
    }
    Value::Object(m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_one_postgres_database() {
    let Ok(base) = std::env::var("COUNTERSIGN_TEST_POSTGRES") else {
        eprintln!(
            "COUNTERSIGN_TEST_POSTGRES is not set: no shared PostgreSQL, replica test not run"
        );
        return;
    };
    let db = countersign_store::testing::fresh_postgres_database(&base)
        .await
        .unwrap();
    let a = start(&db);
    let b = start(&db);
    let admin = a
        .admin_token
        .clone()
        .expect("the first replica bootstraps the admin");
    assert!(
        b.admin_token.is_none(),
        "the second replica must find the admin already there"
    );
    let (ua, ub) = (a.url.clone(), b.url.clone());
    let api = Api {
        http: reqwest::Client::new(),
    };

    let (_, mlops) = api.user(&ua, &admin, "maya", &["mlops"]).await;
    let (_, mlops2) = api.user(&ub, &admin, "noah", &["mlops"]).await;
    let (_, ops) = api.user(&ua, &admin, "olu", &["operations"]).await;
    let (owner_id, owner) = api.user(&ub, &admin, "dana", &["risk"]).await;
    let (s, sys) = api
        .post(
            &ua,
            &admin,
            "/v1/systems",
            json!({"name": "replicated", "owner": owner_id}),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sys}");
    let sys_id = sys["id"].as_str().unwrap().to_owned();
    let profile = api.get(&ua, &admin, "/v1/profile").await;

    // (a) Conflicting decisions on the same revision, one on each replica: exactly one wins.
    for round in 0..5 {
        let artifact = format!("sha256:{:064x}", round + 1);
        let (s, r) = api
            .post(&ua, &mlops, "/v1/releases", json!({
                "title": format!("race {round}"), "kind": "config", "system": sys_id, "decision_owner": owner_id,
                "bundle": {"artifact_digest": artifact},
            }), None)
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let id = r["release"]["id"].as_str().unwrap().to_owned();
        for kind in ["test_results", "rollback_plan"] {
            let resp = api
                .http
                .post(format!(
                    "{ub}/v1/releases/{id}/evidence?revision=1&kind={kind}&name={kind}.txt"
                ))
                .bearer_auth(&mlops)
                .body(format!("{kind} for {round}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::CREATED);
        }
        let (s, _) = api
            .post(
                &ua,
                &mlops,
                &format!("/v1/releases/{id}/submit"),
                json!({"revision": 1}),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        for (token, role) in [(&mlops2, "mlops"), (&ops, "operations")] {
            let body = json!({"revision": 1, "role": role, "verdict": "approve", "answers": answers_all_yes(&profile, role)});
            let (s, v) = api
                .post(
                    &ub,
                    token,
                    &format!("/v1/releases/{id}/reviews"),
                    body,
                    None,
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
        }
        let path = format!("/v1/releases/{id}/decision");
        let go = api.post(
            &ua,
            &owner,
            &path,
            json!({"revision": 1, "decision": "go"}),
            None,
        );
        let no_go = api.post(
            &ub,
            &owner,
            &path,
            json!({"revision": 1, "decision": "no_go", "comment": "wait"}),
            None,
        );
        let ((s1, v1), (s2, v2)) = tokio::join!(go, no_go);
        let mut statuses = [s1, s2];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "round {round}: {v1} {v2}"
        );
        let loser = if s1 == StatusCode::CONFLICT { &v1 } else { &v2 };
        assert_eq!(
            loser["type"], "urn:countersign:problem:illegal-transition",
            "{loser}"
        );
        let detail = api.get(&ua, &owner, &format!("/v1/releases/{id}")).await;
        assert_eq!(detail["decisions"].as_array().unwrap().len(), 1);
    }

    // (c) The same Idempotency-Key to both replicas at once: one write, same answer.
    let before = api
        .get(&ua, &admin, "/v1/systems")
        .await
        .as_array()
        .unwrap()
        .len();
    for i in 0..10 {
        let key = format!("replica-key-{i}");
        let body = json!({"name": format!("idem-{i}"), "owner": owner_id});
        let (r1, r2) = tokio::join!(
            api.post(&ua, &admin, "/v1/systems", body.clone(), Some(&key)),
            api.post(&ub, &admin, "/v1/systems", body.clone(), Some(&key)),
        );
        assert_eq!(r1.0, StatusCode::CREATED, "{}", r1.1);
        assert_eq!(r2.0, StatusCode::CREATED, "{}", r2.1);
        assert_eq!(
            r1.1, r2.1,
            "both replicas answer with the one stored response"
        );
    }
    let after = api
        .get(&ub, &admin, "/v1/systems")
        .await
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, before + 10);

    // (b) Many concurrent writers on both replicas: one linear chain, no gaps, no forks.
    let mut tasks = Vec::new();
    for i in 0..120 {
        let api = api.clone();
        let base = if i % 2 == 0 { ua.clone() } else { ub.clone() };
        let (admin, owner_id) = (admin.clone(), owner_id.clone());
        tasks.push(tokio::spawn(async move {
            api.post(
                &base,
                &admin,
                "/v1/systems",
                json!({"name": format!("load-{i}"), "owner": owner_id}),
                None,
            )
            .await
            .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let verify = api.get(&ub, &admin, "/v1/ledger/verify").await;
    assert_eq!(verify["valid"], true, "{verify}");
    let out = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(["ledger", "verify", "--db", &db, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "offline verify failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["entries"], verify["entries"]);
    assert_eq!(
        report["head_seq"], report["entries"],
        "seq runs 1..=n with no gaps"
    );

    drop(a);
    drop(b);
    let name = db.rsplit('/').next().unwrap().to_owned();
    let _ = countersign_store::testing::drop_postgres_database(&base, &name).await;
}
