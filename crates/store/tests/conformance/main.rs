//! The store conformance suite: every backend behaves the same.
//!
//! Each test runs against a fresh SQLite file always, and against a fresh PostgreSQL
//! database whenever `COUNTERSIGN_TEST_POSTGRES` is set to a server URL such as
//! `postgres://postgres@127.0.0.1:5432/test` (each test creates its own database on
//! that server and drops it afterwards).
//!
//! One module per area of the store, as in `src/sql/`; each lists its tests with
//! `conformance!` (a fresh store on every backend) or `database_tests!` (the database
//! URL, for reopening and migrations). Shared records and seeds are in `fixtures`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use countersign_ledger::{verify_all, Entry};
use countersign_store::prelude::*;
use countersign_store::testing::{
    drop_postgres_database, fresh_postgres_database, postgres_database_name,
};
use countersign_store::StoreError;
use std::future::Future;
use std::sync::Arc;

// ---------------------------------------------------------------------------------
// Harness

const POSTGRES_ENV: &str = "COUNTERSIGN_TEST_POSTGRES";

/// A fresh, empty database on one backend.
struct TestDb {
    url: String,
    kind: Kind,
}

enum Kind {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { base: String },
}

impl TestDb {
    async fn all() -> Vec<TestDb> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("countersign.db").display());
        let mut out = vec![TestDb {
            url,
            kind: Kind::Sqlite(dir),
        }];
        if let Some(base) = std::env::var(POSTGRES_ENV).ok().filter(|s| !s.is_empty()) {
            let url = fresh_postgres_database(&base)
                .await
                .unwrap_or_else(|e| panic!("{POSTGRES_ENV}={base}: cannot create a database: {e}"));
            out.push(TestDb {
                url,
                kind: Kind::Postgres { base },
            });
        }
        out
    }

    fn backend(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite(_) => "sqlite",
            Kind::Postgres { .. } => "postgres",
        }
    }

    async fn cleanup(self) {
        if let Kind::Postgres { base } = &self.kind {
            if let Some(name) = postgres_database_name(&self.url) {
                let _ = drop_postgres_database(base, name).await;
            }
        }
    }

    /// Runs one SQL statement on the database directly, bypassing the store.
    async fn exec(&self, sql: &'static str) {
        match self.kind {
            Kind::Sqlite(_) => {
                let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Kind::Postgres { .. } => {
                let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }
}

/// Runs `test` on a fresh database on every backend; the database is dropped even if
/// the test fails, then the failure is re-raised.
async fn with_each_database<F, Fut>(test: F)
where
    F: Fn(Arc<TestDb>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for db in TestDb::all().await {
        let db = Arc::new(db);
        let backend = db.backend();
        let outcome = tokio::spawn(test(db.clone())).await;
        if let Ok(db) = Arc::try_unwrap(db) {
            db.cleanup().await;
        }
        if let Err(e) = outcome {
            eprintln!("failed on backend {backend}");
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// Runs `test` on a freshly opened store on every backend.
async fn with_each_store<F, Fut>(test: F)
where
    F: Fn(Arc<dyn Store>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let test = Arc::new(test);
    with_each_database(move |db| {
        let test = test.clone();
        async move {
            let store = countersign_store::open(&db.url).await.unwrap();
            assert_eq!(store.backend(), db.backend());
            test(store).await;
        }
    })
    .await;
}

/// One `#[tokio::test]` per conformance test, each run on every backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::with_each_store(super::$name).await;
                }
            )*
        }
    };
}

/// Like [`conformance!`], for tests that need the database URL (reopening, migrations).
macro_rules! database_tests {
    ($($name:ident),* $(,)?) => {
        mod database {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::with_each_database(super::$name).await;
                }
            )*
        }
    };
}

mod agents;
mod credentials;
mod fixtures;
mod idempotency;
mod ledger;
mod lineage;
mod migrations;
mod outbox;
mod releases;
mod runtime;
mod transactions;
mod users;

// ---------------------------------------------------------------------------------
// Checks shared by the areas

async fn all_entries(tx: &mut Box<dyn Tx>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.seq);
        let page = tx.ledger_page(after, 7).await.unwrap();
        if page.is_empty() {
            return out;
        }
        assert!(page.len() <= 7);
        out.extend(page);
    }
}

/// The whole ledger verifies against the signed head and the store's public key, and
/// has exactly `n` entries.
async fn assert_ledger_verifies(store: &Arc<dyn Store>, n: u64) {
    let mut tx = store.read().await.unwrap();
    let entries = all_entries(&mut tx).await;
    let head = tx.ledger_head().await.unwrap();
    assert_eq!(tx.ledger_count().await.unwrap(), n);
    assert_eq!(entries.len() as u64, n);
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    let public = store.ledger_public_key();
    match head {
        None => assert_eq!(n, 0),
        Some(head) => {
            assert_eq!(head.seq, n);
            let report = verify_all(&entries, Some((&head, &public))).unwrap();
            assert_eq!(report.entries, n);
        }
    }
}

fn assert_conflict(result: Result<(), StoreError>, what: &str) {
    match result {
        Err(e) if e.is_conflict() => {}
        other => panic!("{what}: expected a conflict, got {other:?}"),
    }
}
