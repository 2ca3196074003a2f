//! Fixtures and figures shared by the load generators.

use anyhow::Result;
use chrono::{Duration as Days, Utc};
use countersign_core::agent::AgentStatus;
use countersign_core::grant::{Constraints, Terms};
use countersign_core::release::{Attributes, ReleaseKind, ReleaseStatus};
use countersign_core::{AgentId, GrantId, ReleaseId, Role, SystemId, UserId};
use countersign_server::app::agents::ISSUER;
use countersign_server::jwt;
use countersign_store::records::*;
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
    let owner = UserId("usr_bench".into());
    let mut tx = store.write().await?;
    tx.insert_user(&UserRecord {
        id: owner.clone(),
        name: "Bench Owner".into(),
        email: "bench@example.com".into(),
        roles: [Role::Operations].into(),
        created_at: now,
    })
    .await?;
    tx.insert_system(&SystemRecord {
        id: SystemId("sys_bench".into()),
        name: "bench".into(),
        description: String::new(),
        owner: owner.clone(),
        created_at: now,
    })
    .await?;
    tx.insert_release(&ReleaseRecord {
        id: ReleaseId("rel_bench".into()),
        title: "bench".into(),
        kind: ReleaseKind::Agent,
        system_id: SystemId("sys_bench".into()),
        decision_owner: owner.clone(),
        created_by: owner.clone(),
        attributes: Attributes::default(),
        status: ReleaseStatus::Promoted,
        current_revision: 1,
        environment: Some("production".into()),
        created_at: now,
        updated_at: now,
    })
    .await?;
    let mut out = Vec::new();
    for i in 0..agents {
        let sk = SigningKey::generate(&mut rand::rngs::OsRng);
        let id = format!("agt_bench_{i}");
        tx.insert_agent(&AgentRecord {
            id: AgentId(id.clone()),
            name: id.clone(),
            owner: owner.clone(),
            use_case: "bench".into(),
            environment: "production".into(),
            release_id: ReleaseId("rel_bench".into()),
            public_key: jwt::b64(sk.verifying_key().as_bytes()),
            status: AgentStatus::Active,
            created_by: owner.clone(),
            created_at: now,
            updated_at: now,
        })
        .await?;
        tx.insert_grant(&GrantRecord {
            id: GrantId(format!("grt_bench_{i}")),
            agent_id: AgentId(id.clone()),
            terms: Terms {
                system: SystemId("sys_bench".into()),
                actions: ["read".to_string()].into(),
                resources: ["*".to_string()].into(),
                constraints: Constraints::default(),
                expires_at: now + Days::days(30),
            },
            requested_at: now,
            system_owner_approved_by: Some(owner.clone()),
            system_owner_approved_at: Some(now),
            agent_owner_approved_by: None,
            agent_owner_approved_at: None,
            certified_by: Some(owner.clone()),
            certified_at: Some(now),
            revoked_by: None,
            revoked_at: None,
            revoke_reason: None,
        })
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
