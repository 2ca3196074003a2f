//! The PostgreSQL backend: for teams and scale-out, where several stateless server
//! replicas share one database.
//!
//! Replicas coordinate through the database only:
//! - every write transaction runs at READ COMMITTED and first takes a
//!   transaction-scoped advisory lock ([`WRITE_LOCK`]), so writers across all
//!   replicas are serialized and each command's read-decide-write behaves as if it ran
//!   alone (every statement after the lock sees every earlier writer's commit), and the
//!   ledger is one linear chain;
//! - reads run in a REPEATABLE READ, READ ONLY transaction (a consistent snapshot) and
//!   take no lock;
//! - migrations run under a session advisory lock ([`MIGRATE_LOCK`]) and the ledger
//!   key is created under another ([`KEY_LOCK`]), so replicas starting together apply
//!   each migration once and share one key.
//!
//! Inserts use `ON CONFLICT DO NOTHING` and report a row that was not inserted as
//! [`StoreError::Conflict`]: a conflict leaves the transaction usable, as in SQLite
//! (in PostgreSQL a failed statement would otherwise abort the whole transaction).

use crate::error::query;
use crate::migrate::{check_applied, is_applied, Migration, MigrationStatus, POSTGRES};
use crate::records::*;
use crate::rows::*;
use crate::time::to_text;
use crate::{Store, StoreError, Tx};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use countersign_core::{AgentId, Digest, GrantId, ReleaseId, SystemId, UserId};
use countersign_ledger::{
    chain_next, Entry, EntryDraft, Head, LedgerKey, LedgerPublicKey, SignedHead,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, Executor, PgConnection, PgPool, Postgres, Row, Transaction};
use std::str::FromStr;
use std::sync::Arc;

/// Advisory lock keys: `countersign` in ASCII hex, then one byte per purpose. Advisory
/// locks are scoped to the database, so databases on one server do not contend.
const LOCK_BASE: i64 = 0x636f_756e_7465_7200;
/// Held by every write transaction, from its start to its end.
const WRITE_LOCK: i64 = LOCK_BASE | 0x01;
/// Held (session-scoped) while migrating.
const MIGRATE_LOCK: i64 = LOCK_BASE | 0x02;
/// Held while loading or creating the ledger key.
const KEY_LOCK: i64 = LOCK_BASE | 0x03;

/// Connections per pool. Writers queue on [`WRITE_LOCK`] anyway, so a few suffice;
/// readers have their own pool so they never wait behind queued writers.
const WRITER_CONNECTIONS: u32 = 4;
const READER_CONNECTIONS: u32 = 8;

/// A PostgreSQL database.
pub struct PostgresStore {
    writers: PgPool,
    readers: PgPool,
    key: Arc<LedgerKey>,
}

fn options(url: &str) -> Result<PgConnectOptions, StoreError> {
    PgConnectOptions::from_str(url).map_err(|source| StoreError::Open {
        url: url.to_owned(),
        source,
    })
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://...` or `postgresql://...`),
    /// applies migrations, and loads or creates the ledger signing key. The database
    /// must exist.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = options(url)?;
        let open_err = |source| StoreError::Open {
            url: url.to_owned(),
            source,
        };
        migrate_with(url, &opts).await?;
        let writers = PgPoolOptions::new()
            .max_connections(WRITER_CONNECTIONS)
            .connect_with(opts.clone())
            .await
            .map_err(open_err)?;
        let readers = PgPoolOptions::new()
            .max_connections(READER_CONNECTIONS)
            .connect_with(opts)
            .await
            .map_err(open_err)?;
        let key = load_or_create_key(&writers).await?;
        Ok(Self {
            writers,
            readers,
            key: Arc::new(key),
        })
    }

    /// Applies pending migrations without opening a full store.
    pub async fn migrate_only(url: &str) -> Result<MigrationStatus, StoreError> {
        let opts = options(url)?;
        migrate_with(url, &opts).await
    }
}

async fn migrate_with(url: &str, opts: &PgConnectOptions) -> Result<MigrationStatus, StoreError> {
    let mut conn = PgConnection::connect_with(opts)
        .await
        .map_err(|source| StoreError::Open {
            url: url.to_owned(),
            source,
        })?;
    let result = run_migrations(&mut conn, POSTGRES).await;
    // Closing the session releases the migration lock, on every path.
    let _ = conn.close().await;
    result
}

/// Applies `migrations` on one connection, holding [`MIGRATE_LOCK`] for the session so
/// concurrent starts wait for each other; each migration is its own transaction.
pub(crate) async fn run_migrations(
    conn: &mut PgConnection,
    migrations: &[Migration],
) -> Result<MigrationStatus, StoreError> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATE_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(query("migration lock"))?;
    let result = apply_migrations(conn, migrations).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATE_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(query("migration unlock"));
    let status = result?;
    unlocked?;
    Ok(status)
}

async fn apply_migrations(
    conn: &mut PgConnection,
    migrations: &[Migration],
) -> Result<MigrationStatus, StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *conn)
    .await
    .map_err(query("schema_migrations"))?;
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, checksum FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .map_err(query("schema_migrations"))?;
    let mut current = check_applied(migrations, &rows)?;
    let mut applied = Vec::new();
    for m in migrations {
        // Versions may have gaps, filled by a later binary: apply what is missing.
        if is_applied(&rows, m.version) {
            continue;
        }
        let fail = |source| StoreError::Migration {
            version: m.version,
            description: m.description.to_owned(),
            source,
        };
        let mut tx = conn.begin().await.map_err(fail)?;
        // Executor::execute rather than RawSql::execute, so this future is Send
        // (sqlx issue #3150).
        (&mut *tx)
            .execute(sqlx::raw_sql(m.sql))
            .await
            .map_err(fail)?;
        sqlx::query("INSERT INTO schema_migrations (version, description, checksum, applied_at) VALUES ($1, $2, $3, $4)")
            .bind(m.version)
            .bind(m.description)
            .bind(m.checksum())
            .bind(to_text(Utc::now()))
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        applied.push(m.version);
        current = current.max(m.version);
    }
    Ok(MigrationStatus { applied, current })
}

/// Loads the ledger key, creating it if there is none. Under [`KEY_LOCK`], so when
/// replicas start together exactly one creates it and the others load it.
async fn load_or_create_key(pool: &PgPool) -> Result<LedgerKey, StoreError> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
        .await
        .map_err(query("ledger key"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(KEY_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(query("ledger key lock"))?;
    let row = sqlx::query("SELECT secret_key FROM ledger_keys ORDER BY created_at, key_id LIMIT 1")
        .fetch_optional(&mut *tx)
        .await
        .map_err(query("ledger key"))?;
    let key = match row {
        Some(row) => {
            let hex_secret: String = row.try_get("secret_key").map_err(query("ledger key"))?;
            decode_secret(&hex_secret)?
        }
        None => {
            let key = LedgerKey::generate(&mut rand::rngs::OsRng);
            let public = key.public();
            sqlx::query("INSERT INTO ledger_keys (key_id, public_key, secret_key, created_at) VALUES ($1, $2, $3, $4)")
                .bind(public.key_id())
                .bind(public.to_base64())
                .bind(hex::encode(key.to_bytes()))
                .bind(to_text(Utc::now()))
                .execute(&mut *tx)
                .await
                .map_err(query("ledger key"))?;
            key
        }
    };
    tx.commit().await.map_err(query("ledger key"))?;
    Ok(key)
}

#[async_trait]
impl Store for PostgresStore {
    async fn write(&self) -> Result<Box<dyn Tx>, StoreError> {
        // READ COMMITTED whatever the database default: each statement after the lock
        // takes a fresh snapshot, so it sees every writer that held the lock before.
        let mut tx = self
            .writers
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
            .map_err(query("begin write"))?;
        // INVARIANT: the lock is taken before the command reads anything and held to
        // commit or rollback, so writers on every replica are serialized.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(query("write lock"))?;
        Ok(Box::new(PostgresTx {
            tx,
            key: Some(self.key.clone()),
        }))
    }

    async fn read(&self) -> Result<Box<dyn Tx>, StoreError> {
        let tx = self
            .readers
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(query("begin read"))?;
        Ok(Box::new(PostgresTx { tx, key: None }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.readers)
            .await
            .map_err(query("ping"))?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn ledger_public_key(&self) -> LedgerPublicKey {
        self.key.public()
    }
}

/// Rows per multi-row INSERT (bound parameters stay far below both backends' limits).
const ROWS_PER_INSERT: usize = 500;

struct PostgresTx {
    tx: Transaction<'static, Postgres>,
    /// Present on write transactions only.
    key: Option<Arc<LedgerKey>>,
}

/// Turns "inserted nothing" (an `ON CONFLICT DO NOTHING` that hit a unique
/// constraint) into a conflict.
fn inserted(
    result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>,
    what: &'static str,
) -> Result<(), StoreError> {
    let done = result.map_err(query(what))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict {
            what: what.to_owned(),
        });
    }
    Ok(())
}

impl PostgresTx {
    async fn all<T>(
        &mut self,
        sql: &'static str,
        id: &str,
        decode: fn(&PgRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = sqlx::query(sql)
            .bind(id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query(sql))?;
        rows.iter().map(decode).collect()
    }

    async fn one<T>(
        &mut self,
        sql: &'static str,
        id: &str,
        decode: fn(&PgRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let row = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(query(sql))?;
        row.as_ref().map(decode).transpose()
    }
}

#[async_trait]
impl Tx for PostgresTx {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(query("commit"))
    }

    async fn insert_user(&mut self, u: &UserRecord) -> Result<(), StoreError> {
        let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
        let result = sqlx::query(
            "INSERT INTO users (id, name, email, roles, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(u.id.as_str())
        .bind(&u.name)
        .bind(&u.email)
        .bind(to_json(&roles))
        .bind(to_text(u.created_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "user email")
    }

    async fn get_user(&mut self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        self.one("SELECT * FROM users WHERE id = $1", id.as_str(), user)
            .await
    }

    async fn list_users(&mut self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY created_at, ord")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("list users"))?;
        rows.iter().map(user).collect()
    }

    async fn count_users(&mut self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *self.tx)
            .await
            .map_err(query("count users"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn insert_token(&mut self, t: &TokenRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO api_tokens (id, user_id, token_hash, label, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&t.id)
        .bind(t.user_id.as_str())
        .bind(&t.token_hash)
        .bind(&t.label)
        .bind(to_text(t.created_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "token")
    }

    async fn user_by_token_hash(&mut self, hash: &str) -> Result<Option<UserRecord>, StoreError> {
        self.one(
            "SELECT users.* FROM users JOIN api_tokens ON api_tokens.user_id = users.id WHERE api_tokens.token_hash = $1",
            hash,
            user,
        )
        .await
    }

    async fn insert_system(&mut self, s: &SystemRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO systems (id, name, description, owner_id, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(s.id.as_str())
        .bind(&s.name)
        .bind(&s.description)
        .bind(s.owner.as_str())
        .bind(to_text(s.created_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "system name")
    }

    async fn get_system(&mut self, id: &SystemId) -> Result<Option<SystemRecord>, StoreError> {
        self.one("SELECT * FROM systems WHERE id = $1", id.as_str(), system)
            .await
    }

    async fn list_systems(&mut self) -> Result<Vec<SystemRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM systems ORDER BY created_at, ord")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("list systems"))?;
        rows.iter().map(system).collect()
    }

    async fn insert_release(&mut self, r: &ReleaseRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO releases (id, title, kind, system_id, decision_owner, created_by, attributes, status, \
             current_revision, environment, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
        )
        .bind(r.id.as_str())
        .bind(&r.title)
        .bind(r.kind.as_str())
        .bind(r.system_id.as_str())
        .bind(r.decision_owner.as_str())
        .bind(r.created_by.as_str())
        .bind(to_json(&r.attributes))
        .bind(r.status.as_str())
        .bind(i64::from(r.current_revision))
        .bind(&r.environment)
        .bind(to_text(r.created_at))
        .bind(to_text(r.updated_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "release id")
    }

    async fn update_release(&mut self, r: &ReleaseRecord) -> Result<(), StoreError> {
        sqlx::query("UPDATE releases SET status = $1, current_revision = $2, environment = $3, updated_at = $4, decision_owner = $5, attributes = $6 WHERE id = $7")
            .bind(r.status.as_str())
            .bind(i64::from(r.current_revision))
            .bind(&r.environment)
            .bind(to_text(r.updated_at))
            .bind(r.decision_owner.as_str())
            .bind(to_json(&r.attributes))
            .bind(r.id.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(query("update release"))?;
        Ok(())
    }

    async fn get_release(&mut self, id: &ReleaseId) -> Result<Option<ReleaseRecord>, StoreError> {
        self.one("SELECT * FROM releases WHERE id = $1", id.as_str(), release)
            .await
    }

    async fn list_releases(&mut self) -> Result<Vec<ReleaseRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM releases ORDER BY created_at DESC, ord DESC")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("list releases"))?;
        rows.iter().map(release).collect()
    }

    async fn insert_revision(&mut self, r: &RevisionRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO revisions (release_id, number, bundle, bundle_digest, artifact_digest, tier, matched_rules, \
             profile_digest, created_by, created_at, submitted_by, submitted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
        )
        .bind(r.release_id.as_str())
        .bind(i64::from(r.number))
        .bind(to_json(&r.bundle))
        .bind(r.bundle_digest.as_str())
        .bind(r.bundle.artifact_digest.as_str())
        .bind(&r.tier)
        .bind(to_json(&r.matched_rules))
        .bind(r.profile_digest.as_str())
        .bind(r.created_by.as_str())
        .bind(to_text(r.created_at))
        .bind(r.submitted_by.as_ref().map(|u| u.as_str()))
        .bind(r.submitted_at.map(to_text))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "revision number")
    }

    async fn update_revision(&mut self, r: &RevisionRecord) -> Result<(), StoreError> {
        sqlx::query("UPDATE revisions SET submitted_by = $1, submitted_at = $2 WHERE release_id = $3 AND number = $4")
            .bind(r.submitted_by.as_ref().map(|u| u.as_str()))
            .bind(r.submitted_at.map(to_text))
            .bind(r.release_id.as_str())
            .bind(i64::from(r.number))
            .execute(&mut *self.tx)
            .await
            .map_err(query("update revision"))?;
        Ok(())
    }

    async fn get_revision(
        &mut self,
        release_id: &ReleaseId,
        number: u32,
    ) -> Result<Option<RevisionRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM revisions WHERE release_id = $1 AND number = $2")
            .bind(release_id.as_str())
            .bind(i64::from(number))
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(query("get revision"))?;
        row.as_ref().map(revision).transpose()
    }

    async fn list_revisions(
        &mut self,
        release_id: &ReleaseId,
    ) -> Result<Vec<RevisionRecord>, StoreError> {
        self.all(
            "SELECT * FROM revisions WHERE release_id = $1 ORDER BY number",
            release_id.as_str(),
            revision,
        )
        .await
    }

    async fn revisions_by_artifact(
        &mut self,
        artifact: &Digest,
    ) -> Result<Vec<(ReleaseRecord, RevisionRecord)>, StoreError> {
        let revs = self
            .all(
                "SELECT * FROM revisions WHERE artifact_digest = $1 ORDER BY created_at, release_id, number",
                artifact.as_str(),
                revision,
            )
            .await?;
        let mut out = Vec::with_capacity(revs.len());
        for rev in revs {
            if let Some(rel) = self.get_release(&rev.release_id).await? {
                out.push((rel, rev));
            }
        }
        Ok(out)
    }

    async fn insert_review(&mut self, r: &ReviewRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO reviews (id, release_id, revision, role, reviewer, verdict, answers, conditions, comment, \
             bundle_digest, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        )
        .bind(&r.id)
        .bind(r.release_id.as_str())
        .bind(i64::from(r.revision))
        .bind(r.role.as_str())
        .bind(r.reviewer.as_str())
        .bind(r.verdict.as_str())
        .bind(to_json(&r.answers))
        .bind(&r.conditions)
        .bind(&r.comment)
        .bind(r.bundle_digest.as_str())
        .bind(to_text(r.created_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "review for this role and revision")
    }

    async fn list_reviews(
        &mut self,
        release_id: &ReleaseId,
    ) -> Result<Vec<ReviewRecord>, StoreError> {
        self.all(
            "SELECT * FROM reviews WHERE release_id = $1 ORDER BY revision, created_at, ord",
            release_id.as_str(),
            review,
        )
        .await
    }

    async fn put_blob(&mut self, d: &Digest, content: &[u8]) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO blobs (digest, size, content) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING")
            .bind(d.as_str())
            .bind(i64::try_from(content.len()).unwrap_or(i64::MAX))
            .bind(content)
            .execute(&mut *self.tx)
            .await
            .map_err(query("put blob"))?;
        Ok(())
    }

    async fn get_blob(&mut self, d: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT content FROM blobs WHERE digest = $1")
            .bind(d.as_str())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(query("get blob"))?;
        row.map(|r| r.try_get::<Vec<u8>, _>("content"))
            .transpose()
            .map_err(query("get blob"))
    }

    async fn insert_evidence(&mut self, e: &EvidenceRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO evidence (id, release_id, revision, kind, name, media_type, digest, size, attached_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(&e.id)
        .bind(e.release_id.as_str())
        .bind(i64::from(e.revision))
        .bind(&e.kind)
        .bind(&e.name)
        .bind(&e.media_type)
        .bind(e.digest.as_str())
        .bind(i64_of(e.size))
        .bind(e.attached_by.as_str())
        .bind(to_text(e.created_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "evidence id")
    }

    async fn list_evidence(
        &mut self,
        release_id: &ReleaseId,
    ) -> Result<Vec<EvidenceRecord>, StoreError> {
        self.all(
            "SELECT * FROM evidence WHERE release_id = $1 ORDER BY revision, created_at, ord",
            release_id.as_str(),
            evidence,
        )
        .await
    }

    async fn insert_acceptance(&mut self, a: &AcceptanceRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO acceptances (id, release_id, revision, gap, justification, expires_at, accepted_by, bundle_digest, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(&a.id)
        .bind(a.release_id.as_str())
        .bind(i64::from(a.revision))
        .bind(a.gap.to_string())
        .bind(&a.justification)
        .bind(to_text(a.expires_at))
        .bind(a.accepted_by.as_str())
        .bind(a.bundle_digest.as_str())
        .bind(to_text(a.created_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "acceptance id")
    }

    async fn list_acceptances(
        &mut self,
        release_id: &ReleaseId,
    ) -> Result<Vec<AcceptanceRecord>, StoreError> {
        self.all(
            "SELECT * FROM acceptances WHERE release_id = $1 ORDER BY revision, created_at, ord",
            release_id.as_str(),
            acceptance,
        )
        .await
    }

    async fn insert_decision(&mut self, d: &DecisionRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO decisions (id, release_id, revision, decision, environment, comment, decided_by, bundle_digest, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(&d.id)
        .bind(d.release_id.as_str())
        .bind(i64::from(d.revision))
        .bind(d.decision.as_str())
        .bind(&d.environment)
        .bind(&d.comment)
        .bind(d.decided_by.as_str())
        .bind(d.bundle_digest.as_str())
        .bind(to_text(d.created_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "decision for this revision")
    }

    async fn list_decisions(
        &mut self,
        release_id: &ReleaseId,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        self.all(
            "SELECT * FROM decisions WHERE release_id = $1 ORDER BY revision, created_at, ord",
            release_id.as_str(),
            decision,
        )
        .await
    }

    async fn insert_deployment(&mut self, d: &DeploymentRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO deployments (id, release_id, revision, action, environment, reason, actor, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&d.id)
        .bind(d.release_id.as_str())
        .bind(i64::from(d.revision))
        .bind(d.action.as_str())
        .bind(&d.environment)
        .bind(&d.reason)
        .bind(d.actor.as_str())
        .bind(to_text(d.created_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "deployment id")
    }

    async fn list_deployments(
        &mut self,
        release_id: &ReleaseId,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.all(
            "SELECT * FROM deployments WHERE release_id = $1 ORDER BY created_at, ord",
            release_id.as_str(),
            deployment,
        )
        .await
    }

    async fn insert_dataset(&mut self, d: &DatasetRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO datasets (name, version, digest, source, classification, permitted_uses, \
             registered_by, created_at, approved_by, approved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(&d.name)
        .bind(&d.version)
        .bind(d.digest.as_str())
        .bind(&d.source)
        .bind(&d.classification)
        .bind(to_json(&d.permitted_uses))
        .bind(d.registered_by.as_str())
        .bind(to_text(d.created_at))
        .bind(d.approved_by.as_ref().map(|u| u.as_str().to_owned()))
        .bind(d.approved_at.map(to_text))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "dataset name and version")
    }

    async fn approve_dataset(&mut self, d: &DatasetRecord) -> Result<(), StoreError> {
        sqlx::query("UPDATE datasets SET approved_by = $1, approved_at = $2 WHERE name = $3 AND version = $4")
            .bind(d.approved_by.as_ref().map(|u| u.as_str().to_owned()))
            .bind(d.approved_at.map(to_text))
            .bind(&d.name)
            .bind(&d.version)
            .execute(&mut *self.tx)
            .await
            .map_err(query("approve dataset"))?;
        Ok(())
    }

    async fn get_dataset(
        &mut self,
        name: &str,
        version: &str,
    ) -> Result<Option<DatasetRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM datasets WHERE name = $1 AND version = $2")
            .bind(name)
            .bind(version)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(query("get dataset"))?;
        row.as_ref().map(dataset).transpose()
    }

    async fn list_datasets(&mut self) -> Result<Vec<DatasetRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM datasets ORDER BY created_at, ord")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("list datasets"))?;
        rows.iter().map(dataset).collect()
    }

    async fn insert_training_run(&mut self, r: &TrainingRunRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO training_runs (id, code_commit, datasets, parameters, trainer, artifact_digest, \
             registered_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.code_commit)
        .bind(to_json(&r.datasets))
        .bind(to_json(&r.parameters))
        .bind(r.trainer.as_str())
        .bind(r.artifact_digest.as_str())
        .bind(r.registered_by.as_str())
        .bind(to_text(r.created_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "training run id")
    }

    async fn get_training_run(
        &mut self,
        id: &str,
    ) -> Result<Option<TrainingRunRecord>, StoreError> {
        self.one(
            "SELECT * FROM training_runs WHERE id = $1",
            id,
            training_run,
        )
        .await
    }

    async fn list_training_runs(&mut self) -> Result<Vec<TrainingRunRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM training_runs ORDER BY created_at, ord")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("list training runs"))?;
        rows.iter().map(training_run).collect()
    }

    async fn insert_escalation(&mut self, e: &EscalationRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO escalations (id, release_id, revision, role, due_at, escalated_to, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&e.id)
        .bind(e.release_id.as_str())
        .bind(i64::from(e.revision))
        .bind(e.role.as_str())
        .bind(to_text(e.due_at))
        .bind(e.escalated_to.as_str())
        .bind(to_text(e.created_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "escalation of this release, revision and role")
    }

    async fn list_escalations(
        &mut self,
        release: &ReleaseId,
    ) -> Result<Vec<EscalationRecord>, StoreError> {
        self.all(
            "SELECT * FROM escalations WHERE release_id = $1 ORDER BY created_at, ord",
            release.as_str(),
            escalation,
        )
        .await
    }

    async fn insert_webhook(&mut self, w: &WebhookRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO webhooks (id, url, events, secret, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&w.id)
        .bind(&w.url)
        .bind(to_json(&w.events))
        .bind(&w.secret)
        .bind(w.created_by.as_str())
        .bind(to_text(w.created_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "webhook id")
    }

    async fn get_webhook(&mut self, id: &str) -> Result<Option<WebhookRecord>, StoreError> {
        self.one("SELECT * FROM webhooks WHERE id = $1", id, webhook)
            .await
    }

    async fn list_webhooks(&mut self) -> Result<Vec<WebhookRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM webhooks ORDER BY created_at, ord")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("list webhooks"))?;
        rows.iter().map(webhook).collect()
    }

    async fn insert_event(&mut self, e: &EventRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO events (id, kind, subject, payload, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&e.id)
        .bind(&e.kind)
        .bind(&e.subject)
        .bind(to_json(&e.payload))
        .bind(to_text(e.created_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "event id")
    }

    async fn get_event(&mut self, id: &str) -> Result<Option<EventRecord>, StoreError> {
        self.one("SELECT * FROM events WHERE id = $1", id, event)
            .await
    }

    async fn insert_delivery(&mut self, d: &DeliveryRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO deliveries (webhook_id, event_id, state, attempts, next_attempt_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&d.webhook_id)
        .bind(&d.event_id)
        .bind(&d.state)
        .bind(i64::from(d.attempts))
        .bind(to_text(d.next_attempt_at))
        .bind(to_text(d.updated_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "delivery of this event to this webhook")
    }

    async fn update_delivery(&mut self, d: &DeliveryRecord) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET state = $1, attempts = $2, next_attempt_at = $3, \
             updated_at = $4 WHERE webhook_id = $5 AND event_id = $6",
        )
        .bind(&d.state)
        .bind(i64::from(d.attempts))
        .bind(to_text(d.next_attempt_at))
        .bind(to_text(d.updated_at))
        .bind(&d.webhook_id)
        .bind(&d.event_id)
        .execute(&mut *self.tx)
        .await
        .map_err(query("update delivery"))?;
        Ok(())
    }

    async fn due_deliveries(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, ord LIMIT $2",
        )
        .bind(to_text(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(query("due deliveries"))?;
        rows.iter().map(delivery).collect()
    }

    async fn list_deliveries(
        &mut self,
        webhook_id: &str,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.all(
            "SELECT * FROM deliveries WHERE webhook_id = $1 ORDER BY ord",
            webhook_id,
            delivery,
        )
        .await
    }

    async fn insert_attempt(&mut self, a: &AttemptRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO delivery_attempts (id, webhook_id, event_id, attempt, at, status_code, error, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&a.id)
        .bind(&a.webhook_id)
        .bind(&a.event_id)
        .bind(i64::from(a.attempt))
        .bind(to_text(a.at))
        .bind(i64::from(a.status_code))
        .bind(&a.error)
        .bind(&a.outcome)
        .execute(&mut *self.tx)
        .await;
        inserted(result, "delivery attempt id")
    }

    async fn list_attempts(&mut self, webhook_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        self.all(
            "SELECT * FROM delivery_attempts WHERE webhook_id = $1 ORDER BY at, ord",
            webhook_id,
            attempt,
        )
        .await
    }

    async fn ledger_page(&mut self, after: u64, limit: u32) -> Result<Vec<Entry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM ledger_entries WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(i64_of(after))
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("ledger page"))?;
        rows.iter().map(entry).collect()
    }

    async fn ledger_head(&mut self) -> Result<Option<SignedHead>, StoreError> {
        let row = sqlx::query("SELECT seq, hash, key_id, signature FROM ledger_head WHERE id = 1")
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(query("ledger head"))?;
        row.as_ref().map(signed_head).transpose()
    }

    async fn ledger_count(&mut self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_entries")
            .fetch_one(&mut *self.tx)
            .await
            .map_err(query("ledger count"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn get_idempotency(
        &mut self,
        actor: &UserId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM idempotency WHERE actor = $1 AND key = $2")
            .bind(actor.as_str())
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(query("get idempotency"))?;
        row.as_ref().map(idempotency).transpose()
    }

    async fn put_idempotency(&mut self, r: &IdempotencyRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "INSERT INTO idempotency (actor, key, request_hash, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT DO NOTHING",
        )
        .bind(r.actor.as_str())
        .bind(&r.key)
        .bind(&r.request_hash)
        .bind(i64::from(r.status))
        .bind(&r.body)
        .bind(to_text(r.created_at))
        .execute(&mut *self.tx)
        .await;
        inserted(result, "idempotency key")
    }

    // Agents, grants and credentials (issue 5).

    async fn insert_agent(&mut self, a: &AgentRecord) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO agents (id, name, owner_id, use_case, environment, release_id, public_key, status, \
             created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        )
        .bind(a.id.as_str())
        .bind(&a.name)
        .bind(a.owner.as_str())
        .bind(&a.use_case)
        .bind(&a.environment)
        .bind(a.release_id.as_str())
        .bind(&a.public_key)
        .bind(a.status.as_str())
        .bind(a.created_by.as_str())
        .bind(to_text(a.created_at))
        .bind(to_text(a.updated_at))
        .execute(&mut *self.tx)
        .await;
        inserted(r, "agent name in this environment or public key")
    }

    async fn get_agent(&mut self, id: &AgentId) -> Result<Option<AgentRecord>, StoreError> {
        self.one("SELECT * FROM agents WHERE id = $1", id.as_str(), agent)
            .await
    }

    async fn list_agents(&mut self) -> Result<Vec<AgentRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM agents ORDER BY created_at, ord")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("list agents"))?;
        rows.iter().map(agent).collect()
    }

    async fn agents_by_release(
        &mut self,
        release: &ReleaseId,
    ) -> Result<Vec<AgentRecord>, StoreError> {
        self.all(
            "SELECT * FROM agents WHERE release_id = $1 ORDER BY created_at, ord",
            release.as_str(),
            agent,
        )
        .await
    }

    async fn update_agent(&mut self, a: &AgentRecord) -> Result<(), StoreError> {
        sqlx::query("UPDATE agents SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(a.status.as_str())
            .bind(to_text(a.updated_at))
            .bind(a.id.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(query("update agent"))?;
        Ok(())
    }

    async fn insert_grant(&mut self, g: &GrantRecord) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO grants (id, agent_id, system_id, terms, expires_at, requested_at, \
             system_owner_approved_by, system_owner_approved_at, agent_owner_approved_by, agent_owner_approved_at, \
             certified_by, certified_at, revoked_by, revoked_at, revoke_reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING",
        )
        .bind(g.id.as_str())
        .bind(g.agent_id.as_str())
        .bind(g.terms.system.as_str())
        .bind(to_json(&g.terms))
        .bind(to_text(g.terms.expires_at))
        .bind(to_text(g.requested_at))
        .bind(g.system_owner_approved_by.as_ref().map(|u| u.as_str()))
        .bind(g.system_owner_approved_at.map(to_text))
        .bind(g.agent_owner_approved_by.as_ref().map(|u| u.as_str()))
        .bind(g.agent_owner_approved_at.map(to_text))
        .bind(g.certified_by.as_ref().map(|u| u.as_str()))
        .bind(g.certified_at.map(to_text))
        .bind(&g.revoked_by)
        .bind(g.revoked_at.map(to_text))
        .bind(&g.revoke_reason)
        .execute(&mut *self.tx)
        .await;
        inserted(r, "grant id")
    }

    async fn get_grant(&mut self, id: &GrantId) -> Result<Option<GrantRecord>, StoreError> {
        self.one("SELECT * FROM grants WHERE id = $1", id.as_str(), grant)
            .await
    }

    async fn list_grants(
        &mut self,
        agent_id: Option<&AgentId>,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        match agent_id {
            Some(a) => {
                self.all(
                    "SELECT * FROM grants WHERE agent_id = $1 ORDER BY requested_at, ord",
                    a.as_str(),
                    grant,
                )
                .await
            }
            None => {
                let rows = sqlx::query("SELECT * FROM grants ORDER BY requested_at, ord")
                    .fetch_all(&mut *self.tx)
                    .await
                    .map_err(query("list grants"))?;
                rows.iter().map(grant).collect()
            }
        }
    }

    async fn update_grant(&mut self, g: &GrantRecord) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE grants SET system_owner_approved_by = $1, system_owner_approved_at = $2, \
             agent_owner_approved_by = $3, agent_owner_approved_at = $4, certified_by = $5, certified_at = $6, \
             revoked_by = $7, revoked_at = $8, revoke_reason = $9 WHERE id = $10",
        )
        .bind(g.system_owner_approved_by.as_ref().map(|u| u.as_str()))
        .bind(g.system_owner_approved_at.map(to_text))
        .bind(g.agent_owner_approved_by.as_ref().map(|u| u.as_str()))
        .bind(g.agent_owner_approved_at.map(to_text))
        .bind(g.certified_by.as_ref().map(|u| u.as_str()))
        .bind(g.certified_at.map(to_text))
        .bind(&g.revoked_by)
        .bind(g.revoked_at.map(to_text))
        .bind(&g.revoke_reason)
        .bind(g.id.as_str())
        .execute(&mut *self.tx)
        .await
        .map_err(query("update grant"))?;
        Ok(())
    }

    async fn use_assertion(
        &mut self,
        agent_id: &AgentId,
        jti: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM assertion_jtis WHERE expires_at < $1")
            .bind(to_text(now))
            .execute(&mut *self.tx)
            .await
            .map_err(query("forget assertions"))?;
        let r = sqlx::query(
            "INSERT INTO assertion_jtis (agent_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(agent_id.as_str())
        .bind(jti)
        .bind(to_text(expires_at))
        .execute(&mut *self.tx)
        .await;
        inserted(r, "client assertion jti")
    }

    async fn insert_credential_key(&mut self, k: &CredentialKeyRecord) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO credential_keys (kid, public_key, secret_key, created_at, retired_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&k.kid)
        .bind(&k.public_key)
        .bind(&k.secret_key)
        .bind(to_text(k.created_at))
        .bind(k.retired_at.map(to_text))
        .execute(&mut *self.tx)
        .await;
        inserted(r, "credential key id")
    }

    async fn list_credential_keys(&mut self) -> Result<Vec<CredentialKeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM credential_keys ORDER BY created_at, ord")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("list credential keys"))?;
        rows.iter().map(credential_key).collect()
    }

    async fn update_credential_key(&mut self, k: &CredentialKeyRecord) -> Result<(), StoreError> {
        sqlx::query("UPDATE credential_keys SET retired_at = $1 WHERE kid = $2")
            .bind(k.retired_at.map(to_text))
            .bind(&k.kid)
            .execute(&mut *self.tx)
            .await
            .map_err(query("update credential key"))?;
        Ok(())
    }

    async fn insert_credential(&mut self, c: &CredentialRecord) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO credentials (jti, kid, agent_id, subject, owner_id, task, scopes, grant_ids, release_id, \
             parent_jti, depth, issued_at, expires_at, revoked_at, revoked_by, revoke_reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT DO NOTHING",
        )
        .bind(&c.jti)
        .bind(&c.kid)
        .bind(c.agent_id.as_str())
        .bind(c.subject.as_str())
        .bind(c.owner.as_str())
        .bind(&c.task)
        .bind(to_json(&c.scopes))
        .bind(to_json(&c.grant_ids))
        .bind(c.release_id.as_str())
        .bind(&c.parent_jti)
        .bind(i64::from(c.depth))
        .bind(to_text(c.issued_at))
        .bind(to_text(c.expires_at))
        .bind(c.revoked_at.map(to_text))
        .bind(&c.revoked_by)
        .bind(&c.revoke_reason)
        .execute(&mut *self.tx)
        .await;
        inserted(r, "credential jti")?;
        for g in &c.grant_ids {
            let r = sqlx::query(
                "INSERT INTO credential_grants (jti, grant_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&c.jti)
            .bind(g.as_str())
            .execute(&mut *self.tx)
            .await;
            inserted(r, "credential grant")?;
        }
        Ok(())
    }

    async fn get_credential(&mut self, jti: &str) -> Result<Option<CredentialRecord>, StoreError> {
        self.one("SELECT * FROM credentials WHERE jti = $1", jti, credential)
            .await
    }

    async fn revoke_credentials(
        &mut self,
        filter: &RevokeFilter,
        how: &Revocation,
    ) -> Result<u64, StoreError> {
        let (condition, id) = match filter {
            RevokeFilter::Jti(j) => ("jti = $4", j.as_str()),
            RevokeFilter::Agent(a) => ("(agent_id = $4 OR subject = $5)", a.as_str()),
            RevokeFilter::Grant(g) => (
                "jti IN (SELECT jti FROM credential_grants WHERE grant_id = $4)",
                g.as_str(),
            ),
            RevokeFilter::Release(r) => ("release_id = $4", r.as_str()),
        };
        let sql = format!(
            "UPDATE credentials SET revoked_at = $1, revoked_by = $2, revoke_reason = $3 \
             WHERE revoked_at IS NULL AND {condition}"
        );
        let mut q = sqlx::query(&sql)
            .bind(to_text(how.at))
            .bind(&how.by)
            .bind(&how.reason)
            .bind(id);
        if matches!(filter, RevokeFilter::Agent(_)) {
            q = q.bind(id);
        }
        let done = q
            .execute(&mut *self.tx)
            .await
            .map_err(query("revoke credentials"))?;
        Ok(done.rows_affected())
    }

    async fn insert_action(&mut self, a: &ActionRecord) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO actions (id, agent_id, system_id, task, decision, review_state, decided_at, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&a.id)
        .bind(a.agent_id.as_str())
        .bind(a.system_id.as_str())
        .bind(&a.task)
        .bind(&a.decision)
        .bind(&a.review_state)
        .bind(to_text(a.decided_at))
        .bind(to_json(a))
        .execute(&mut *self.tx)
        .await;
        inserted(r, "action id")
    }

    async fn insert_actions(&mut self, actions: &[&ActionRecord]) -> Result<(), StoreError> {
        for chunk in actions.chunks(ROWS_PER_INSERT) {
            let mut q = sqlx::QueryBuilder::<Postgres>::new(
                "INSERT INTO actions (id, agent_id, system_id, task, decision, review_state, decided_at, body) ",
            );
            q.push_values(chunk, |mut b, a| {
                b.push_bind(a.id.as_str())
                    .push_bind(a.agent_id.as_str())
                    .push_bind(a.system_id.as_str())
                    .push_bind(a.task.as_str())
                    .push_bind(a.decision.as_str())
                    .push_bind(a.review_state.as_deref())
                    .push_bind(to_text(a.decided_at))
                    .push_bind(to_json(a));
            });
            q.build()
                .execute(&mut *self.tx)
                .await
                .map_err(query("action id"))?;
        }
        Ok(())
    }

    async fn update_action(&mut self, a: &ActionRecord) -> Result<(), StoreError> {
        sqlx::query("UPDATE actions SET review_state = $1, body = $2 WHERE id = $3")
            .bind(&a.review_state)
            .bind(to_json(a))
            .bind(&a.id)
            .execute(&mut *self.tx)
            .await
            .map_err(query("update action"))?;
        Ok(())
    }

    async fn get_action(&mut self, id: &str) -> Result<Option<ActionRecord>, StoreError> {
        self.one("SELECT body FROM actions WHERE id = $1", id, document)
            .await
    }

    async fn list_actions(&mut self, f: &ActionFilter) -> Result<Vec<ActionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT body FROM actions WHERE ($1::text IS NULL OR agent_id = $1) \
             AND ($2::text IS NULL OR system_id = $2) AND ($3::text IS NULL OR task = $3) \
             AND ($4::text IS NULL OR review_state = $4) \
             ORDER BY decided_at DESC, ord DESC LIMIT $5",
        )
        .bind(f.agent.as_ref().map(|a| a.as_str()))
        .bind(f.system.as_ref().map(|s| s.as_str()))
        .bind(f.task.as_deref())
        .bind(f.review_state.as_deref())
        .bind(i64::from(f.limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(query("list actions"))?;
        rows.iter().map(document).collect()
    }

    async fn insert_approval(&mut self, a: &ApprovalRecord) -> Result<(), StoreError> {
        let r = sqlx::query(
            "INSERT INTO approvals (id, action_id, agent_id, assignee_id, state, created_at, expires_at, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&a.id)
        .bind(&a.action_id)
        .bind(a.agent_id.as_str())
        .bind(a.assignee.as_str())
        .bind(&a.state)
        .bind(to_text(a.created_at))
        .bind(to_text(a.expires_at))
        .bind(to_json(a))
        .execute(&mut *self.tx)
        .await;
        inserted(r, "approval id")
    }

    async fn update_approval(&mut self, a: &ApprovalRecord) -> Result<(), StoreError> {
        sqlx::query("UPDATE approvals SET state = $1, body = $2 WHERE id = $3")
            .bind(&a.state)
            .bind(to_json(a))
            .bind(&a.id)
            .execute(&mut *self.tx)
            .await
            .map_err(query("update approval"))?;
        Ok(())
    }

    async fn get_approval(&mut self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        self.one("SELECT body FROM approvals WHERE id = $1", id, document)
            .await
    }

    async fn list_approvals(
        &mut self,
        f: &ApprovalFilter,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT body FROM approvals WHERE ($1::text IS NULL OR assignee_id = $1) \
             AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR agent_id = $3) \
             ORDER BY created_at DESC, ord DESC LIMIT $4",
        )
        .bind(f.assignee.as_ref().map(|a| a.as_str()))
        .bind(f.state.as_deref())
        .bind(f.agent.as_ref().map(|a| a.as_str()))
        .bind(i64::from(f.limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(query("list approvals"))?;
        rows.iter().map(document).collect()
    }

    async fn due_approvals(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT body FROM approvals WHERE state = 'pending' AND expires_at <= $1 \
             ORDER BY expires_at, ord LIMIT $2",
        )
        .bind(to_text(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(query("due approvals"))?;
        rows.iter().map(document).collect()
    }

    async fn record_view(&mut self, v: &ContextViewRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO context_views (kind, subject, user_id, first_opened_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&v.kind)
        .bind(&v.subject)
        .bind(v.user.as_str())
        .bind(to_text(v.first_opened_at))
        .execute(&mut *self.tx)
        .await
        .map_err(query("context view"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_views(&mut self, kind: &str) -> Result<Vec<ContextViewRecord>, StoreError> {
        self.all(
            "SELECT * FROM context_views WHERE kind = $1 ORDER BY first_opened_at",
            kind,
            context_view,
        )
        .await
    }

    async fn list_all_reviews(&mut self) -> Result<Vec<ReviewRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM reviews ORDER BY created_at, ord")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("list all reviews"))?;
        rows.iter().map(review).collect()
    }

    async fn append(&mut self, draft: EntryDraft) -> Result<Entry, StoreError> {
        let mut entries = self.append_batch(vec![draft]).await?;
        entries.pop().ok_or(StoreError::Corrupt {
            column: "ledger",
            reason: "an append produced no entry".into(),
        })
    }

    async fn append_batch(&mut self, drafts: Vec<EntryDraft>) -> Result<Vec<Entry>, StoreError> {
        let key = self.key.clone().ok_or(StoreError::Corrupt {
            column: "ledger",
            reason: "append on a read-only transaction".into(),
        })?;
        // Safe to read-then-write: writers are serialized (see `write`).
        let mut head = self.ledger_head().await?.map(|h| h.head());
        let mut out = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let entry = chain_next(head.as_ref(), draft).map_err(StoreError::Ledger)?;
            head = Some(Head {
                seq: entry.seq,
                hash: entry.hash.clone(),
            });
            out.push(entry);
        }
        for chunk in out.chunks(ROWS_PER_INSERT) {
            let mut q = sqlx::QueryBuilder::<Postgres>::new(
                "INSERT INTO ledger_entries (seq, at, actor, action, subject, payload, payload_digest, prev_hash, hash) ",
            );
            q.push_values(chunk, |mut b, e| {
                b.push_bind(i64_of(e.seq))
                    .push_bind(e.at.as_str())
                    .push_bind(e.actor.as_str())
                    .push_bind(e.action.as_str())
                    .push_bind(e.subject.as_str())
                    .push_bind(to_json(&e.payload))
                    .push_bind(e.payload_digest.as_str())
                    .push_bind(e.prev_hash.as_str())
                    .push_bind(e.hash.as_str());
            });
            q.build()
                .execute(&mut *self.tx)
                .await
                .map_err(query("ledger seq"))?;
        }
        let Some(head) = head else {
            return Ok(out);
        };
        let signed = key.sign_head(&head);
        sqlx::query(
            "INSERT INTO ledger_head (id, seq, hash, key_id, signature) VALUES (1, $1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, key_id = excluded.key_id, signature = excluded.signature",
        )
        .bind(i64_of(signed.seq))
        .bind(signed.hash.as_str())
        .bind(&signed.key_id)
        .bind(&signed.signature)
        .execute(&mut *self.tx)
        .await
        .map_err(query("ledger head"))?;
        Ok(out)
    }
}
