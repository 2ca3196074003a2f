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

use crate::error::{open, query};
use crate::migrate::{self, check_applied, is_applied, Migration, MigrationStatus, POSTGRES};
use crate::sql::{impl_conn, load_or_create_key, Dialect, SqlTx, PING};
use crate::{Store, StoreError, Tx};
use async_trait::async_trait;
use countersign_ledger::{Checkpoint, LedgerKey, LedgerPublicKey, SignedNote};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres};
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
    PgConnectOptions::from_str(url).map_err(open(url))
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://...` or `postgresql://...`),
    /// applies migrations, and loads or creates the ledger signing key. The database
    /// must exist.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = options(url)?;
        migrate_with(url, &opts).await?;
        let writers = PgPoolOptions::new()
            .max_connections(WRITER_CONNECTIONS)
            .connect_with(opts.clone())
            .await
            .map_err(open(url))?;
        let readers = PgPoolOptions::new()
            .max_connections(READER_CONNECTIONS)
            .connect_with(opts)
            .await
            .map_err(open(url))?;
        let key = create_key(&writers).await?;
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
    let mut conn = PgConnection::connect_with(opts).await.map_err(open(url))?;
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
    // Differs from SQLite's (INTEGER, the rowid there): versions are BIGINT here.
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *conn)
    .await
    .map_err(query("schema_migrations"))?;
    let mut tx = conn.begin().await.map_err(query("schema_migrations"))?;
    let rows = migrate::applied(&mut tx, query("schema_migrations")).await?;
    tx.commit().await.map_err(query("schema_migrations"))?;
    let mut current = check_applied(migrations, &rows)?;
    let mut applied = Vec::new();
    for m in migrations {
        // Versions may have gaps, filled by a later binary: apply what is missing.
        // No re-read under a lock here: the session holds MIGRATE_LOCK throughout.
        if is_applied(&rows, m.version) {
            continue;
        }
        let fail = |source| StoreError::Migration {
            version: m.version,
            description: m.description.to_owned(),
            source,
        };
        let mut tx = conn.begin().await.map_err(fail)?;
        migrate::apply(&mut tx, m).await.map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        applied.push(m.version);
        current = current.max(m.version);
    }
    Ok(MigrationStatus { applied, current })
}

/// Loads the ledger key, creating it if there is none. Under [`KEY_LOCK`], so when
/// replicas start together exactly one creates it and the others load it.
async fn create_key(pool: &PgPool) -> Result<LedgerKey, StoreError> {
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
        .await
        .map_err(query("ledger key"))?;
    xact_lock(&mut tx, KEY_LOCK, "ledger key lock").await?;
    load_or_create_key(tx).await
}

/// Takes a transaction-scoped advisory lock, held to commit or rollback.
async fn xact_lock(tx: &mut PgConnection, lock: i64, what: &'static str) -> Result<(), StoreError> {
    let q = sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(lock);
    q.execute(tx).await.map_err(query(what)).map(drop)
}

#[async_trait]
impl Store for PostgresStore {
    async fn write(&self) -> Result<Box<dyn Tx>, StoreError> {
        // READ COMMITTED whatever the database default: each statement after the lock
        // takes a fresh snapshot, so it sees every writer that held the lock before.
        let mut conn = self
            .writers
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await
            .map_err(query("begin write"))?;
        // INVARIANT: the lock is taken before the command reads anything and held to
        // commit or rollback, so writers on every replica are serialized.
        xact_lock(&mut conn, WRITE_LOCK, "write lock").await?;
        Ok(Box::new(SqlTx {
            conn,
            key: Some(self.key.clone()),
        }))
    }

    async fn read(&self) -> Result<Box<dyn Tx>, StoreError> {
        let conn = self
            .readers
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(query("begin read"))?;
        Ok(Box::new(SqlTx { conn, key: None }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(PING)
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

    fn sign_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        name: &str,
    ) -> Result<SignedNote, StoreError> {
        countersign_ledger::sign_checkpoint(checkpoint, name, &self.key).map_err(StoreError::Note)
    }
}

impl_conn!(Postgres, Dialect::Postgres);
