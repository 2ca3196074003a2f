//! The SQLite backend: the embedded default.
//!
//! One write connection (writers are serialized in-process and take the database
//! lock up front with `BEGIN IMMEDIATE`), a small pool of readers, WAL journal,
//! `synchronous = FULL` so a committed command survives a power cut.

use crate::error::{open, query};
use crate::migrate::{self, check_applied, is_applied, Migration, MigrationStatus, SQLITE};
use crate::sql::{impl_conn, load_or_create_key, Dialect, SqlTx, PING};
use crate::{Store, StoreError, Tx};
use async_trait::async_trait;
use countersign_ledger::{Checkpoint, LedgerKey, LedgerPublicKey, SignedNote};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// A SQLite database file.
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    key: std::sync::Arc<LedgerKey>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (a path or `sqlite://PATH`),
    /// applies migrations, and loads or creates the ledger signing key.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let opts = options(url)?.foreign_keys(true);
        let writer = connect(opts.clone(), 1).await.map_err(open(url))?;
        let readers = connect(opts.create_if_missing(false).read_only(true), 4)
            .await
            .map_err(open(url))?;
        run_migrations(&writer, SQLITE).await?;
        let tx = writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(query("ledger key"))?;
        let key = load_or_create_key(tx).await?;
        Ok(Self {
            writer,
            readers,
            key: std::sync::Arc::new(key),
        })
    }

    /// Applies pending migrations without opening a full store.
    pub async fn migrate_only(url: &str) -> Result<MigrationStatus, StoreError> {
        let pool = connect(options(url)?, 1).await.map_err(open(url))?;
        run_migrations(&pool, SQLITE).await
    }
}

/// The options `open` and `migrate_only` share.
fn options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    Ok(SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
        .map_err(open(url))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10)))
}

/// Opens a pool, retrying while the database is busy. Switching a new database into
/// WAL mode needs an exclusive lock that SQLite's busy timeout does not wait for, so
/// processes opening the same new file together can be refused for a moment.
async fn connect(opts: SqliteConnectOptions, max: u32) -> Result<SqlitePool, sqlx::Error> {
    let mut attempt: u32 = 0;
    loop {
        match SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(opts.clone())
            .await
        {
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("5") && attempt < 50 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt.min(10)))).await;
            }
            other => return other,
        }
    }
}

pub(crate) async fn run_migrations(
    pool: &SqlitePool,
    migrations: &[Migration],
) -> Result<MigrationStatus, StoreError> {
    // Differs from PostgreSQL's (BIGINT): here INTEGER PRIMARY KEY is the rowid.
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, \
         description TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(pool)
    .await
    .map_err(query("schema_migrations"))?;
    let mut tx = pool.begin().await.map_err(query("schema_migrations"))?;
    let rows = migrate::applied(&mut tx, query("schema_migrations")).await?;
    tx.commit().await.map_err(query("schema_migrations"))?;
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
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(fail)?;
        // Another process may have migrated between our first read and our lock.
        let rows = migrate::applied(&mut tx, fail).await?;
        let now = check_applied(migrations, &rows)?;
        if is_applied(&rows, m.version) {
            current = now;
            continue;
        }
        migrate::apply(&mut tx, m).await.map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        applied.push(m.version);
        current = current.max(m.version);
    }
    Ok(MigrationStatus { applied, current })
}

#[async_trait]
impl Store for SqliteStore {
    async fn write(&self) -> Result<Box<dyn Tx>, StoreError> {
        let conn = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(query("begin write"))?;
        Ok(Box::new(SqlTx {
            conn,
            key: Some(self.key.clone()),
        }))
    }

    async fn read(&self) -> Result<Box<dyn Tx>, StoreError> {
        let conn = self.readers.begin().await.map_err(query("begin read"))?;
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
        "sqlite"
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

impl_conn!(Sqlite, Dialect::Sqlite);
