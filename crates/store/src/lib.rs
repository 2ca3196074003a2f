//! Persistence for countersign: one [`Store`] trait, one implementation per backend.
//!
//! Every command runs in one write transaction ([`Store::write`]) that carries its
//! state change and its ledger entry ([`LedgerTx::append`]); [`Tx`] is every area's
//! trait together (callers `use countersign_store::prelude::*;`); dropping a [`Tx`] without
//! [`Tx::commit`] rolls everything back, so a failed ledger append leaves no change.
//! Writers are serialized, so the ledger is one linear chain.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod error;
mod migrate;
mod postgres;
pub mod records;
mod rows;
mod sql;
mod sqlite;
pub mod testing;
mod time;
mod tx;

pub use error::StoreError;
pub use migrate::MigrationStatus;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
use std::sync::Arc;
pub use tx::{
    AgentsTx, CredentialsTx, DeadlinesTx, IdempotencyTx, LedgerTx, LineageTx, OutboxTx, ReleasesTx,
    RuntimeTx, Store, SystemsTx, Tx, UsersTx,
};

/// Everything a caller of the store names: [`Store`], [`Tx`] and every area trait
/// (`use countersign_store::prelude::*;`).
pub mod prelude {
    pub use crate::tx::{
        AgentsTx, CredentialsTx, DeadlinesTx, IdempotencyTx, LedgerTx, LineageTx, OutboxTx,
        ReleasesTx, RuntimeTx, Store, SystemsTx, Tx, UsersTx,
    };
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens a store from a URL: `postgres://...` or `postgresql://...` for PostgreSQL,
/// otherwise a path or `sqlite://PATH` for SQLite. Applies pending migrations and
/// loads (or, on a new database, creates) the ledger signing key.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if is_postgres_url(url) {
        return Ok(Arc::new(PostgresStore::open(url).await?));
    }
    Ok(Arc::new(SqliteStore::open(url).await?))
}

/// Applies pending migrations to the database at `url` (same URLs as [`open`]) and
/// nothing else. Refuses a database with an edited migration
/// ([`StoreError::MigrationChecksum`]) or one newer than this binary
/// ([`StoreError::SchemaTooNew`]).
pub async fn migrate(url: &str) -> Result<MigrationStatus, StoreError> {
    if is_postgres_url(url) {
        return PostgresStore::migrate_only(url).await;
    }
    SqliteStore::migrate_only(url).await
}

#[cfg(test)]
mod tests {
    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn opening_and_migrating_can_run_on_any_task() {
        // Futures the server may hand to `tokio::spawn`.
        assert_send(&super::open("x"));
        assert_send(&super::migrate("x"));
        assert_send(&super::testing::fresh_postgres_database("x"));
        assert_send(&super::testing::drop_postgres_database("x", "y"));
    }
}
