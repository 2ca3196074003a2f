//! Fixtures and figures shared by the load generators.

use anyhow::{Context, Result};
use chrono::{Duration as Days, Utc};
use countersign_core::release::{ReleaseKind, ReleaseStatus};
use countersign_core::Role;
use countersign_server::app::agents::ISSUER;
use countersign_server::jwt;
use countersign_store::records::{AgentRecord, ReleaseRecord};
use countersign_store::testing;
use ed25519_dalek::SigningKey;
use serde_json::{json, Map};
use std::sync::Arc;
use std::time::Duration;

/// A client assertion signed by the agent.
pub fn assertion(agent: &str, sk: &SigningKey) -> String {
    let now = Utc::now().timestamp();
    let mut c = Map::new();
    c.insert("iss".into(), json!(agent));
    c.insert("sub".into(), json!(agent));
    c.insert("aud".into(), json!(ISSUER));
    c.insert("iat".into(), json!(now));
    c.insert("exp".into(), json!(now + 60));
    c.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    jwt::sign(&c, "bench", sk)
}

/// Writes users, a promoted release, `agents` agents with approved read grants on
/// `sys_bench` (any resource) straight through the store, without ledger entries.
pub async fn seed(
    store: &Arc<dyn countersign_store::Store>,
    agents: usize,
) -> Result<Vec<(String, SigningKey)>> {
    let now = Utc::now();
    let owner = "usr_bench";
    let mut tx = store.write().await?;
    tx.insert_user(&testing::user(
        owner,
        "bench@example.com",
        &[Role::Operations],
        now,
    ))
    .await?;
    tx.insert_system(&testing::system("sys_bench", owner, now))
        .await?;
    tx.insert_release(&ReleaseRecord {
        kind: ReleaseKind::Agent,
        status: ReleaseStatus::Promoted,
        environment: Some("production".into()),
        ..testing::release("rel_bench", "sys_bench", owner, now)
    })
    .await?;
    let mut out = Vec::new();
    for i in 0..agents {
        let sk = SigningKey::generate(&mut rand::rngs::OsRng);
        let id = format!("agt_bench_{i}");
        tx.insert_agent(&AgentRecord {
            public_key: jwt::b64(sk.verifying_key().as_bytes()),
            ..testing::agent(&id, owner, "rel_bench", now)
        })
        .await?;
        let terms = testing::terms("sys_bench", &["read"], &["*"], now + Days::days(30));
        let grant = testing::grant(&format!("grt_bench_{i}"), &id, terms, now);
        tx.insert_grant(&testing::approved(grant, owner, now))
            .await?;
        out.push((id, sk));
    }
    tx.commit().await?;
    Ok(out)
}

/// An in-process server on a fresh database (a SQLite file in a temp dir, or a new
/// PostgreSQL database under `db`), seeded with `agents` agents, serving on loopback.
pub struct InProcess {
    pub state: countersign_server::AppState,
    /// The bootstrap admin's API token (console-pages creates people with it).
    #[allow(dead_code)]
    pub admin: String,
    pub base: String,
    pub agents: Vec<(String, SigningKey)>,
    db: String,
    url: String,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl InProcess {
    pub async fn start(db: &str, agents: usize) -> Result<InProcess> {
        use countersign_core::profile::{Profile, EXAMPLE_PROFILE};
        let dir = tempfile::tempdir()?;
        let url = if db == "sqlite" {
            dir.path().join("bench.db").display().to_string()
        } else {
            countersign_store::testing::fresh_postgres_database(db).await?
        };
        let store = countersign_store::open(&url).await?;
        let mut tx = store.write().await?;
        let admin = countersign_server::app::users::bootstrap_admin(&mut *tx, Utc::now())
            .await?
            .map(|(_, secret)| secret)
            .context("a fresh database has no admin yet")?;
        tx.commit().await?;
        let agents = seed(&store, agents).await?;
        let profile = Arc::new(Profile::from_toml("example", EXAMPLE_PROFILE)?);
        let state = countersign_server::AppState::new(
            store.clone(),
            profile,
            Arc::new(countersign_server::clock::SystemClock),
        )?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let app = countersign_server::app(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(InProcess {
            state,
            admin,
            base,
            agents,
            db: db.to_owned(),
            url,
            server,
            _dir: dir,
        })
    }

    /// Stops serving and drops a PostgreSQL database created for the run.
    pub async fn finish(self) {
        self.server.abort();
        if self.db != "sqlite" {
            if let Some(name) = countersign_store::testing::postgres_database_name(&self.url) {
                let _ = countersign_store::testing::drop_postgres_database(&self.db, name).await;
            }
        }
    }
}

/// The `p` quantile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
