//! Versioned migrations: a fresh database, edited and newer schemas, upgrades.

use crate::fixtures::*;
use crate::TestDb;
use countersign_store::{MigrationStatus, StoreError};
use std::sync::Arc;

database_tests!(
    migrate_fresh_database_to_latest,
    migrate_refuses_changed_checksum,
    migrate_refuses_newer_schema,
    a_database_at_version_1_is_upgraded_across_the_gap,
);

async fn migrate_fresh_database_to_latest(db: Arc<TestDb>) {
    let first = countersign_store::migrate(&db.url).await.unwrap();
    assert!(first.current >= 1);
    // Every known version, in order; versions may have gaps (3 landed before 2).
    assert_eq!(first.applied.first(), Some(&1));
    assert_eq!(first.applied.last(), Some(&first.current));
    assert!(first.applied.windows(2).all(|w| w[0] < w[1]));
    let second = countersign_store::migrate(&db.url).await.unwrap();
    assert_eq!(
        second,
        MigrationStatus {
            applied: vec![],
            current: first.current
        }
    );
    // A migrated database opens, and opening applies nothing more.
    let store = countersign_store::open(&db.url).await.unwrap();
    store.ping().await.unwrap();
    drop(store);
    assert_eq!(countersign_store::migrate(&db.url).await.unwrap(), second);
}

async fn migrate_refuses_changed_checksum(db: Arc<TestDb>) {
    countersign_store::migrate(&db.url).await.unwrap();
    db.exec("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        .await;
    match countersign_store::migrate(&db.url).await {
        Err(StoreError::MigrationChecksum { version: 1 }) => {}
        other => panic!("expected MigrationChecksum, got {other:?}"),
    }
    match countersign_store::open(&db.url).await {
        Err(StoreError::MigrationChecksum { version: 1 }) => {}
        Err(other) => panic!("expected MigrationChecksum, got {other:?}"),
        Ok(_) => panic!("expected MigrationChecksum, the store opened"),
    }
}

async fn migrate_refuses_newer_schema(db: Arc<TestDb>) {
    let status = countersign_store::migrate(&db.url).await.unwrap();
    db.exec(
        "INSERT INTO schema_migrations (version, description, checksum, applied_at) \
         VALUES (9999, 'from the future', 'x', '2099-01-01T00:00:00.000000Z')",
    )
    .await;
    match countersign_store::migrate(&db.url).await {
        Err(StoreError::SchemaTooNew { found: 9999, known }) => assert_eq!(known, status.current),
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    match countersign_store::open(&db.url).await {
        Err(StoreError::SchemaTooNew { found: 9999, .. }) => {}
        Err(other) => panic!("expected SchemaTooNew, got {other:?}"),
        Ok(_) => panic!("expected SchemaTooNew, the store opened"),
    }
}

/// A database migrated by an older binary (it knew versions 1 and 2) gets the later
/// versions, and the new tables and columns work.
async fn a_database_at_version_1_is_upgraded_across_the_gap(db: Arc<TestDb>) {
    let full = countersign_store::migrate(&db.url).await.unwrap();
    for sql in [
        "DROP TABLE ledger_cosignatures",
        "DROP INDEX ledger_entries_subject",
        "DROP INDEX releases_status",
        "ALTER TABLE reviews DROP COLUMN friction",
        "DROP TABLE user_identities",
        "DROP TABLE console_sessions",
        "DROP TABLE context_views",
        "DROP TABLE approvals",
        "DROP TABLE actions",
        "DROP TABLE credential_grants",
        "DROP TABLE credentials",
        "DROP TABLE credential_keys",
        "DROP TABLE assertion_jtis",
        "DROP TABLE grants",
        "DROP TABLE agents",
        "DELETE FROM schema_migrations WHERE version > 2",
    ] {
        db.exec(sql).await;
    }
    let upgraded = countersign_store::migrate(&db.url).await.unwrap();
    assert_eq!(upgraded.current, full.current);
    assert_eq!(upgraded.applied, vec![3, 4, 5, 6, 7, 8], "{upgraded:?}");
    let store = countersign_store::open(&db.url).await.unwrap();
    seed_agents(&store).await;
}
