#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Crash test (I11, I12): a real `countersign serve` process under concurrent
//! `POST /v1/decide` load is killed with SIGKILL. After restart every decision that
//! was answered is in the ledger, and the chain verifies.

use chrono::{Duration as Days, Utc};
use countersign_core::release::{ReleaseKind, ReleaseStatus};
use countersign_core::Role;
use countersign_store::records::{AgentRecord, ReleaseRecord};
use countersign_store::testing;
use ed25519_dalek::SigningKey;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
        .env("COUNTERSIGN_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn countersign serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut server = Server {
        child,
        url: String::new(),
    };
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server did not start");
        if let Some(addr) = line.strip_prefix("countersign: listening on ") {
            server.url = addr.trim().to_owned();
            return server;
        }
    }
}

/// Seeds, directly in the store: an owner, a system, a promoted release, an agent
/// with a key and an approved read grant. Returns the agent id, its key, the system.
async fn seed(db: &str) -> (String, SigningKey, String) {
    let store = countersign_store::open(db).await.unwrap();
    let now = Utc::now();
    let mut tx = store.write().await.unwrap();
    let (owner, system, release, agent) = ("usr_owner", "sys_orders", "rel_bot", "agt_bot");
    tx.insert_user(&testing::user(
        owner,
        "olu@example.com",
        &[Role::Operations],
        now,
    ))
    .await
    .unwrap();
    tx.insert_system(&testing::system(system, owner, now))
        .await
        .unwrap();
    tx.insert_release(&ReleaseRecord {
        kind: ReleaseKind::Agent,
        status: ReleaseStatus::Promoted,
        environment: Some("production".into()),
        ..testing::release(release, system, owner, now)
    })
    .await
    .unwrap();
    let sk = SigningKey::generate(&mut rand::rngs::OsRng);
    tx.insert_agent(&AgentRecord {
        public_key: countersign_server::jwt::b64(sk.verifying_key().as_bytes()),
        ..testing::agent(agent, owner, release, now)
    })
    .await
    .unwrap();
    let terms = testing::terms(system, &["read"], &["orders/*"], now + Days::days(30));
    let grant = testing::grant("grt_read", agent, terms, now);
    tx.insert_grant(&testing::approved(grant, owner, now))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (agent.to_string(), sk, system.to_string())
}

async fn credential(
    http: &reqwest::Client,
    url: &str,
    agent: &str,
    sk: &SigningKey,
    system: &str,
) -> String {
    let now = Utc::now().timestamp();
    let claims: Map<String, Value> = match json!({"iss": agent, "sub": agent,
        "aud": countersign_server::app::agents::ISSUER, "iat": now, "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string()})
    {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let assertion = countersign_server::jwt::sign(&claims, "k", sk);
    let r = http
        .post(format!("{url}/v1/oauth/token"))
        .json(
            &json!({"grant_type": "client_credentials", "client_assertion": assertion,
                      "task": "crash-test", "scope": format!("{system}:read:orders/*")}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn i11_every_answered_decision_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("countersign.db").display().to_string();
    // Migrate and bootstrap once through the real binary, then seed the world.
    drop(start(&db));
    let (agent, sk, system) = seed(&db).await;

    let server = start(&db);
    let http = reqwest::Client::new();
    let token = credential(&http, &server.url, &agent, &sk, &system).await;

    let answered: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut workers = Vec::new();
    for w in 0..24 {
        let (http, url, token, answered) = (
            http.clone(),
            server.url.clone(),
            token.clone(),
            answered.clone(),
        );
        let system = system.clone();
        workers.push(tokio::spawn(async move {
            for i in 0u64.. {
                let body = json!({"action": "read", "system": system,
                                  "resource": format!("orders/{w}-{i}"),
                                  "context": {"risk_score": 5}});
                let Ok(r) = http
                    .post(format!("{url}/v1/decide"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                else {
                    return;
                };
                if r.status() != 200 {
                    return;
                }
                let Ok(v) = r.json::<Value>().await else {
                    return;
                };
                assert_eq!(v["decision"], "allow", "{v}");
                answered
                    .lock()
                    .unwrap()
                    .push(v["id"].as_str().unwrap().to_owned());
            }
        }));
    }
    // Let the load run, then kill the server mid-flight (SIGKILL: no shutdown path).
    while answered.lock().unwrap().len() < 1500 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() >= 1500);

    // Restart: the server opens the database again and serves.
    let restarted = start(&db);
    let r = http
        .get(format!("{}/readyz", restarted.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(restarted);

    // Every answered decision is in the ledger.
    let store = countersign_store::open(&db).await.unwrap();
    let mut tx = store.read().await.unwrap();
    let mut recorded = HashSet::new();
    let mut after = 0;
    loop {
        let page = tx.ledger_page(after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page {
            if e.action == "action.decide" {
                recorded.insert(e.subject);
            }
        }
    }
    let missing: Vec<&String> = answered
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered decisions are missing from the ledger, e.g. {:?}",
        missing.len(),
        answered.len(),
        missing.first()
    );
    drop(tx);
    drop(store);

    // And the chain verifies offline.
    let out = Command::new(env!("CARGO_BIN_EXE_countersign"))
        .args(["ledger", "verify", "--db", &db])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ledger OK"), "{stdout}");
}
