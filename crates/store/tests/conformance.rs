//! The store conformance suite: every backend behaves the same.
//!
//! Each test runs against a fresh SQLite file always, and against a fresh PostgreSQL
//! database whenever `COUNTERSIGN_TEST_POSTGRES` is set to a server URL such as
//! `postgres://postgres@127.0.0.1:5432/test` (each test creates its own database on
//! that server and drops it afterwards).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Duration;
use countersign_core::grant::{Constraints, HourWindow};
use countersign_core::release::ReleaseStatus;
use countersign_core::review::Verdict;
use countersign_core::{AgentId, Digest, GrantId, ReleaseId, Role, SystemId, UserId};
use countersign_ledger::{verify_all, Entry, EntryDraft};
use countersign_store::records::*;
use countersign_store::testing::{
    self, at as t, digest, drop_postgres_database, fresh_postgres_database, postgres_database_name,
};
use countersign_store::{MigrationStatus, Store, StoreError, Tx};
use serde_json::json;
use std::collections::BTreeMap;
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
                    super::with_each_store(super::$name).await;
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
                    super::with_each_database(super::$name).await;
                }
            )*
        }
    };
}

conformance!(
    webhooks_outbox_and_deliveries_round_trip,
    escalations_round_trip_once_per_role,
    datasets_round_trip_and_approve,
    training_runs_round_trip,
    users_and_tokens_round_trip,
    systems_round_trip,
    releases_and_revisions_round_trip,
    per_revision_records_round_trip,
    revisions_by_artifact,
    blobs_round_trip_byte_for_byte,
    idempotency_round_trip,
    unique_violations_are_conflicts,
    conflict_leaves_the_transaction_usable,
    i11_dropped_write_leaves_nothing,
    i11_ledger_appends_chain_and_verify,
    i11_ledger_head_signature_verifies,
    read_transaction_cannot_append,
    i11_concurrent_writers_form_one_chain,
    writers_are_serialized_for_read_decide_write,
    // Agents, grants and credentials (issue 5).
    agents_round_trip_and_keys_are_never_reused,
    grants_round_trip,
    assertion_ids_cannot_be_replayed,
    credential_keys_round_trip,
    credentials_round_trip_and_revoke_by_each_filter,
    // Runtime decisions, approvals and the action log (issue 6).
    actions_round_trip_and_filter,
    approvals_round_trip_and_expire,
    context_views_record_the_first_opening_only,
    i11_append_batch_chains_and_signs_once,
    insert_actions_writes_every_row_across_statements,
);

database_tests!(
    reopen_loads_the_same_ledger_key,
    replicas_starting_together_share_one_key_and_one_chain,
    replicas_on_a_migrated_database_create_one_key,
    migrate_fresh_database_to_latest,
    migrate_refuses_changed_checksum,
    migrate_refuses_newer_schema,
    a_database_at_version_1_is_upgraded_across_the_gap,
);

// ---------------------------------------------------------------------------------
// Fixtures

// The records come from `countersign_store::testing`; these wrappers add what this
// suite fixes: times as seconds after `t(0)`, the seeded owner and release.

fn user(id: &str, email: &str, roles: &[Role], at: i64) -> UserRecord {
    testing::user(id, email, roles, t(at))
}

fn system(id: &str, owner: &str) -> SystemRecord {
    testing::system(id, owner, t(10))
}

fn release(id: &str, system: &str, owner: &str, at: i64) -> ReleaseRecord {
    testing::release(id, system, owner, t(at))
}

/// Revision `number` by the owner; odd revisions carry a full bundle.
fn revision(release: &str, number: u32, artifact: &str, at: i64) -> RevisionRecord {
    let bundle = if number % 2 == 1 {
        testing::full_bundle(artifact)
    } else {
        testing::bundle(artifact)
    };
    testing::revision(release, number, bundle, OWNER, t(at))
}

fn draft(i: u64) -> EntryDraft {
    EntryDraft {
        at: t(i64::try_from(i).unwrap()) + Duration::nanoseconds(789),
        actor: format!("user:u{}", i % 3),
        action: "release.create".into(),
        subject: format!("release:r{i}"),
        payload: json!({"i": i, "title": "ünï ✓", "tags": ["b", "a"], "nested": {"z": 1, "a": null}}),
    }
}

const OWNER: &str = "owner";
const REVIEWER: &str = "reviewer";

/// Users, a system, release `rel` with revision 1 (artifact `art-1`), committed.
async fn seed(store: &Arc<dyn Store>) {
    let mut tx = store.write().await.unwrap();
    tx.insert_user(&user(OWNER, "owner@example.com", &[Role::Mlops], 1))
        .await
        .unwrap();
    tx.insert_user(&user(
        REVIEWER,
        "rev@example.com",
        &[Role::Security, Role::Privacy],
        2,
    ))
    .await
    .unwrap();
    tx.insert_user(&user("trainer", "trainer@example.com", &[], 3))
        .await
        .unwrap();
    tx.insert_system(&system("sys", OWNER)).await.unwrap();
    tx.insert_release(&release("rel", "sys", OWNER, 20))
        .await
        .unwrap();
    tx.insert_revision(&revision("rel", 1, "art-1", 21))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

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

// ---------------------------------------------------------------------------------
// Records

async fn users_and_tokens_round_trip(store: Arc<dyn Store>) {
    let admin = user("u-b", "b@example.com", &Role::ALL, 5);
    let nobody = user("u-a", "a@example.com", &[], 5);
    let later = user("u-0", "z@example.com", &[Role::Legal], 6);
    let token = testing::token("tok-1", "u-b", &"ab".repeat(32));
    let mut tx = store.write().await.unwrap();
    assert_eq!(tx.count_users().await.unwrap(), 0);
    for u in [&later, &admin, &nobody] {
        tx.insert_user(u).await.unwrap();
    }
    tx.insert_token(&token).await.unwrap();
    // A transaction sees its own writes.
    assert_eq!(tx.count_users().await.unwrap(), 3);
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.get_user(&admin.id).await.unwrap(), Some(admin.clone()));
    assert_eq!(tx.get_user(&nobody.id).await.unwrap(), Some(nobody.clone()));
    assert_eq!(tx.get_user(&UserId("missing".into())).await.unwrap(), None);
    // Ordered by created_at, then insertion order (admin went in before nobody).
    assert_eq!(
        tx.list_users().await.unwrap(),
        vec![admin.clone(), nobody.clone(), later.clone()]
    );
    assert_eq!(tx.count_users().await.unwrap(), 3);
    assert_eq!(
        tx.user_by_token_hash(&token.token_hash).await.unwrap(),
        Some(admin)
    );
    assert_eq!(tx.user_by_token_hash(&"cd".repeat(32)).await.unwrap(), None);
}

async fn systems_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    let other = testing::system("sys-2", REVIEWER, t(9));
    let mut tx = store.write().await.unwrap();
    tx.insert_system(&other).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.get_system(&SystemId("sys".into())).await.unwrap(),
        Some(system("sys", OWNER))
    );
    assert_eq!(tx.get_system(&SystemId("nope".into())).await.unwrap(), None);
    assert_eq!(
        tx.list_systems().await.unwrap(),
        vec![other, system("sys", OWNER)]
    );
}

async fn releases_and_revisions_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    let rel_id = ReleaseId("rel".into());
    let mut rel = release("rel", "sys", OWNER, 20);
    let rev1 = revision("rel", 1, "art-1", 21);
    let mut rev2 = revision("rel", 2, "art-2", 22);
    let newer = release("rel-newer", "sys", OWNER, 50);

    let mut tx = store.write().await.unwrap();
    tx.insert_revision(&rev2).await.unwrap();
    tx.insert_release(&newer).await.unwrap();
    rel.status = ReleaseStatus::Approved;
    rel.current_revision = 2;
    rel.environment = Some("production".into());
    rel.updated_at = t(60);
    // A revision may change the decision owner and the attributes; both are kept.
    rel.decision_owner = UserId(REVIEWER.into());
    rel.attributes.regulated = !rel.attributes.regulated;
    tx.update_release(&rel).await.unwrap();
    rev2.submitted_by = Some(UserId(OWNER.into()));
    rev2.submitted_at = Some(t(61));
    tx.update_revision(&rev2).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.get_release(&rel_id).await.unwrap(), Some(rel.clone()));
    assert_eq!(
        tx.get_release(&ReleaseId("missing".into())).await.unwrap(),
        None
    );
    // Newest first.
    assert_eq!(tx.list_releases().await.unwrap(), vec![newer, rel]);
    assert_eq!(
        tx.get_revision(&rel_id, 1).await.unwrap(),
        Some(rev1.clone())
    );
    assert_eq!(
        tx.get_revision(&rel_id, 2).await.unwrap(),
        Some(rev2.clone())
    );
    assert_eq!(tx.get_revision(&rel_id, 3).await.unwrap(), None);
    assert_eq!(tx.list_revisions(&rel_id).await.unwrap(), vec![rev1, rev2]);
    assert_eq!(
        tx.list_revisions(&ReleaseId("missing".into()))
            .await
            .unwrap(),
        vec![]
    );
}

async fn per_revision_records_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    let rel_id = ReleaseId("rel".into());
    let content = b"threat model\x00\xff".to_vec();
    let blob = Digest::of(&content);
    let security = testing::review("rv-2", "rel", 1, Role::Security, REVIEWER);
    let privacy = ReviewRecord {
        verdict: Verdict::Reject,
        answers: BTreeMap::new(),
        conditions: None,
        comment: Some("no DPIA".into()),
        ..testing::review("rv-1", "rel", 1, Role::Privacy, REVIEWER)
    };
    let evidence = testing::evidence("ev-1", "rel", 1, &content, OWNER);
    let acceptance = testing::acceptance("acc-1", "rel", 1, OWNER);
    let go = testing::decision("dec-1", "rel", 1, OWNER);
    let deployments = [
        testing::deployment("dep-1", "rel", 1, DeploymentAction::Promote, OWNER, t(250)),
        DeploymentRecord {
            reason: "alert fired".into(),
            ..testing::deployment("dep-2", "rel", 1, DeploymentAction::Rollback, OWNER, t(260))
        },
    ];

    let mut tx = store.write().await.unwrap();
    tx.insert_review(&security).await.unwrap();
    tx.insert_review(&privacy).await.unwrap();
    tx.put_blob(&blob, &content).await.unwrap();
    tx.insert_evidence(&evidence).await.unwrap();
    tx.insert_acceptance(&acceptance).await.unwrap();
    tx.insert_decision(&go).await.unwrap();
    for d in deployments.iter().rev() {
        tx.insert_deployment(d).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    // Same revision and time: insertion order.
    assert_eq!(
        tx.list_reviews(&rel_id).await.unwrap(),
        vec![security, privacy]
    );
    assert_eq!(tx.list_evidence(&rel_id).await.unwrap(), vec![evidence]);
    assert_eq!(
        tx.list_acceptances(&rel_id).await.unwrap(),
        vec![acceptance]
    );
    assert_eq!(tx.list_decisions(&rel_id).await.unwrap(), vec![go]);
    assert_eq!(
        tx.list_deployments(&rel_id).await.unwrap(),
        deployments.to_vec()
    );
    let other = ReleaseId("other".into());
    assert!(tx.list_reviews(&other).await.unwrap().is_empty());
    assert!(tx.list_evidence(&other).await.unwrap().is_empty());
    assert!(tx.list_acceptances(&other).await.unwrap().is_empty());
    assert!(tx.list_decisions(&other).await.unwrap().is_empty());
    assert!(tx.list_deployments(&other).await.unwrap().is_empty());
}

async fn revisions_by_artifact(store: Arc<dyn Store>) {
    seed(&store).await;
    let rel = release("rel", "sys", OWNER, 20);
    let other = release("other", "sys", OWNER, 30);
    let rev1 = revision("rel", 1, "art-1", 21);
    let rev2 = revision("rel", 2, "art-2", 22);
    let other1 = revision("other", 1, "art-2", 31);
    let other2 = revision("other", 2, "art-3", 32);
    let mut tx = store.write().await.unwrap();
    tx.insert_release(&other).await.unwrap();
    for r in [&other2, &other1, &rev2] {
        tx.insert_revision(r).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.revisions_by_artifact(&digest("art-1")).await.unwrap(),
        vec![(rel.clone(), rev1)]
    );
    // Oldest revision first.
    assert_eq!(
        tx.revisions_by_artifact(&digest("art-2")).await.unwrap(),
        vec![(rel, rev2), (other.clone(), other1)]
    );
    assert_eq!(
        tx.revisions_by_artifact(&digest("art-3")).await.unwrap(),
        vec![(other, other2)]
    );
    assert!(tx
        .revisions_by_artifact(&digest("unknown"))
        .await
        .unwrap()
        .is_empty());
}

async fn blobs_round_trip_byte_for_byte(store: Arc<dyn Store>) {
    let every_byte: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let not_utf8 = vec![0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80, 0x00];
    let empty: Vec<u8> = Vec::new();
    let blobs = [every_byte, not_utf8, empty];

    let mut tx = store.write().await.unwrap();
    for b in &blobs {
        tx.put_blob(&Digest::of(b), b).await.unwrap();
        // The same content again, in the same transaction: no error.
        tx.put_blob(&Digest::of(b), b).await.unwrap();
    }
    tx.commit().await.unwrap();
    // And in a later one.
    let mut tx = store.write().await.unwrap();
    for b in &blobs {
        tx.put_blob(&Digest::of(b), b).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    for b in &blobs {
        assert_eq!(tx.get_blob(&Digest::of(b)).await.unwrap().as_ref(), Some(b));
    }
    assert_eq!(tx.get_blob(&digest("absent")).await.unwrap(), None);
}

async fn idempotency_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    let rec = testing::idempotency(OWNER, "key-1");
    let mut tx = store.write().await.unwrap();
    assert_eq!(
        tx.get_idempotency(&rec.actor, &rec.key).await.unwrap(),
        None
    );
    tx.put_idempotency(&rec).await.unwrap();
    // The same key from another actor is a different record.
    tx.put_idempotency(&testing::idempotency(REVIEWER, "key-1"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.get_idempotency(&rec.actor, &rec.key).await.unwrap(),
        Some(rec.clone())
    );
    assert_eq!(tx.get_idempotency(&rec.actor, "key-2").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------
// Uniqueness and transactions

fn assert_conflict(result: Result<(), StoreError>, what: &str) {
    match result {
        Err(e) if e.is_conflict() => {}
        other => panic!("{what}: expected a conflict, got {other:?}"),
    }
}

async fn unique_violations_are_conflicts(store: Arc<dyn Store>) {
    seed(&store).await;
    // Each in its own transaction, which is then dropped.
    let mut tx = store.write().await.unwrap();
    assert_conflict(
        tx.insert_user(&user("u-new", "owner@example.com", &[], 9))
            .await,
        "user email",
    );
    drop(tx);

    let mut tx = store.write().await.unwrap();
    tx.insert_review(&testing::review("rv-1", "rel", 1, Role::Security, REVIEWER))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write().await.unwrap();
    assert_conflict(
        tx.insert_review(&testing::review("rv-2", "rel", 1, Role::Security, OWNER))
            .await,
        "review per role per revision",
    );
    drop(tx);

    let mut tx = store.write().await.unwrap();
    tx.insert_decision(&testing::decision("dec-1", "rel", 1, OWNER))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write().await.unwrap();
    assert_conflict(
        tx.insert_decision(&DecisionRecord {
            decision: Decision::NoGo,
            ..testing::decision("dec-2", "rel", 1, OWNER)
        })
        .await,
        "decision per revision",
    );
    drop(tx);

    let mut tx = store.write().await.unwrap();
    tx.put_idempotency(&testing::idempotency(OWNER, "k"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.write().await.unwrap();
    assert_conflict(
        tx.put_idempotency(&IdempotencyRecord {
            status: 500,
            ..testing::idempotency(OWNER, "k")
        })
        .await,
        "idempotency key",
    );
    drop(tx);

    // Nothing of the refused writes is there; the first ones are.
    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.get_user(&UserId("u-new".into())).await.unwrap(), None);
    let rel = ReleaseId("rel".into());
    let reviews = tx.list_reviews(&rel).await.unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].id, "rv-1");
    let decisions = tx.list_decisions(&rel).await.unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].decision, Decision::Go);
    assert_eq!(
        tx.get_idempotency(&UserId(OWNER.into()), "k")
            .await
            .unwrap()
            .map(|r| r.status),
        Some(201)
    );
}

async fn conflict_leaves_the_transaction_usable(store: Arc<dyn Store>) {
    seed(&store).await;
    let mut tx = store.write().await.unwrap();
    assert_conflict(
        tx.insert_user(&user("u-dup", "rev@example.com", &[], 9))
            .await,
        "user email",
    );
    tx.insert_user(&user("u-ok", "ok@example.com", &[], 9))
        .await
        .unwrap();
    tx.append(draft(1)).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert!(tx.get_user(&UserId("u-ok".into())).await.unwrap().is_some());
    assert_eq!(tx.get_user(&UserId("u-dup".into())).await.unwrap(), None);
    drop(tx);
    assert_ledger_verifies(&store, 1).await;
}

async fn i11_dropped_write_leaves_nothing(store: Arc<dyn Store>) {
    let mut tx = store.write().await.unwrap();
    tx.insert_user(&user("u1", "u1@example.com", &[Role::Admin], 1))
        .await
        .unwrap();
    tx.put_blob(&digest("x"), b"x").await.unwrap();
    tx.append(draft(1)).await.unwrap();
    tx.append(draft(2)).await.unwrap();
    drop(tx);

    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.count_users().await.unwrap(), 0);
    assert_eq!(tx.get_blob(&digest("x")).await.unwrap(), None);
    assert_eq!(tx.ledger_count().await.unwrap(), 0);
    assert_eq!(tx.ledger_head().await.unwrap(), None);
    drop(tx);

    // The next writer starts the chain at seq 1.
    let mut tx = store.write().await.unwrap();
    assert_eq!(tx.append(draft(3)).await.unwrap().seq, 1);
    tx.commit().await.unwrap();
    assert_ledger_verifies(&store, 1).await;
}

// ---------------------------------------------------------------------------------
// Ledger

async fn i11_ledger_appends_chain_and_verify(store: Arc<dyn Store>) {
    assert_ledger_verifies(&store, 0).await;
    let mut appended = Vec::new();
    // Several entries per transaction and several transactions.
    for batch in 0..4u64 {
        let mut tx = store.write().await.unwrap();
        for i in 0..=batch {
            appended.push(tx.append(draft(batch * 10 + i)).await.unwrap());
        }
        // The transaction sees its own appends.
        assert_eq!(
            tx.ledger_head().await.unwrap().map(|h| h.seq),
            appended.last().map(|e| e.seq)
        );
        tx.commit().await.unwrap();
    }
    assert_eq!(appended.len(), 10);
    for (i, e) in appended.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
        if i > 0 {
            assert_eq!(e.prev_hash, appended[i - 1].hash);
        }
    }
    assert_ledger_verifies(&store, 10).await;

    // Entries come back exactly as appended (time text, payload, digests).
    let mut tx = store.read().await.unwrap();
    assert_eq!(all_entries(&mut tx).await, appended);
    assert_eq!(tx.ledger_page(3, 2).await.unwrap(), appended[3..5].to_vec());
    assert!(tx.ledger_page(10, 100).await.unwrap().is_empty());
    assert_eq!(appended[0].at, "2026-11-25T03:04:05.123456Z");
}

async fn i11_ledger_head_signature_verifies(store: Arc<dyn Store>) {
    let mut tx = store.write().await.unwrap();
    let mut entry = None;
    for i in 0..3 {
        entry = Some(tx.append(draft(i)).await.unwrap());
    }
    tx.commit().await.unwrap();
    let entry = entry.unwrap();
    let mut tx = store.read().await.unwrap();
    let head = tx.ledger_head().await.unwrap().unwrap();
    let public = store.ledger_public_key();
    assert_eq!(head.key_id, public.key_id());
    assert_eq!(public.verify(&head).unwrap(), entry.head());
    // A head altered in storage no longer verifies.
    let mut forged = head.clone();
    forged.seq += 1;
    assert!(public.verify(&forged).is_err());
}

async fn read_transaction_cannot_append(store: Arc<dyn Store>) {
    let mut tx = store.read().await.unwrap();
    assert!(tx.append(draft(1)).await.is_err());
    drop(tx);
    assert_ledger_verifies(&store, 0).await;
}

async fn i11_concurrent_writers_form_one_chain(store: Arc<dyn Store>) {
    const WRITERS: u64 = 50;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.write().await.unwrap();
                let e = tx.append(draft(i)).await.unwrap();
                tx.commit().await.unwrap();
                e.seq
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=WRITERS).collect::<Vec<_>>());
    assert_ledger_verifies(&store, WRITERS).await;
}

/// Two commands that read, decide and write the same thing concurrently: exactly one
/// writes, and the other sees its write (no conflict error, no double write). This is
/// what the app relies on for one decision per revision and for `Idempotency-Key`.
async fn writers_are_serialized_for_read_decide_write(store: Arc<dyn Store>) {
    seed(&store).await;
    const TASKS: usize = 20;
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.write().await.unwrap();
                let owner = UserId(OWNER.into());
                let rel = ReleaseId("rel".into());
                let mut wrote = 0;
                if tx
                    .get_idempotency(&owner, "same-key")
                    .await
                    .unwrap()
                    .is_none()
                {
                    tx.put_idempotency(&testing::idempotency(OWNER, "same-key"))
                        .await
                        .unwrap();
                    tx.append(draft(i as u64)).await.unwrap();
                    wrote += 1;
                }
                if tx.list_decisions(&rel).await.unwrap().is_empty() {
                    tx.insert_decision(&testing::decision(&format!("dec-{i}"), "rel", 1, OWNER))
                        .await
                        .unwrap();
                    tx.append(draft(100 + i as u64)).await.unwrap();
                    wrote += 1;
                }
                tx.commit().await.unwrap();
                wrote
            })
        })
        .collect();
    let mut writes = 0;
    for t in tasks {
        writes += t.await.unwrap();
    }
    assert_eq!(writes, 2);
    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.list_decisions(&ReleaseId("rel".into()))
            .await
            .unwrap()
            .len(),
        1
    );
    drop(tx);
    assert_ledger_verifies(&store, 2).await;
}

// ---------------------------------------------------------------------------------
// Reopening, replicas, migrations

async fn reopen_loads_the_same_ledger_key(db: Arc<TestDb>) {
    let first = countersign_store::open(&db.url).await.unwrap();
    let public = first.ledger_public_key().to_base64();
    let mut tx = first.write().await.unwrap();
    tx.append(draft(1)).await.unwrap();
    tx.commit().await.unwrap();
    drop(first);

    let again = countersign_store::open(&db.url).await.unwrap();
    assert_eq!(again.ledger_public_key().to_base64(), public);
    // The reopened store continues the same chain and signs with the same key.
    let mut tx = again.write().await.unwrap();
    assert_eq!(tx.append(draft(2)).await.unwrap().seq, 2);
    tx.commit().await.unwrap();
    assert_ledger_verifies(&again, 2).await;
}

/// Several server replicas start at once on a new database: one applies the
/// migrations, one creates the ledger key, all share them and build one chain.
async fn replicas_starting_together_share_one_key_and_one_chain(db: Arc<TestDb>) {
    start_replicas_together(&db).await;
}

/// As above on a database already migrated (`countersign migrate`), so the replicas
/// race on creating the ledger key alone.
async fn replicas_on_a_migrated_database_create_one_key(db: Arc<TestDb>) {
    countersign_store::migrate(&db.url).await.unwrap();
    start_replicas_together(&db).await;
}

async fn start_replicas_together(db: &TestDb) {
    const REPLICAS: usize = 4;
    const WRITES: u64 = 10;
    let opening: Vec<_> = (0..REPLICAS)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { countersign_store::open(&url).await.unwrap() })
        })
        .collect();
    let mut replicas = Vec::new();
    for o in opening {
        replicas.push(o.await.unwrap());
    }
    let key = replicas[0].ledger_public_key().to_base64();
    for r in &replicas {
        assert_eq!(r.ledger_public_key().to_base64(), key);
    }
    // Writers on every replica at once still build one chain.
    let tasks: Vec<_> = replicas
        .iter()
        .flat_map(|r| (0..WRITES).map(move |i| (r.clone(), i)))
        .map(|(store, i)| {
            tokio::spawn(async move {
                let mut tx = store.write().await.unwrap();
                tx.append(draft(i)).await.unwrap();
                tx.commit().await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for r in &replicas {
        assert_ledger_verifies(r, REPLICAS as u64 * WRITES).await;
    }
}

async fn migrate_fresh_database_to_latest(db: Arc<TestDb>) {
    let first = countersign_store::migrate(&db.url).await.unwrap();
    assert!(first.current >= 1);
    // Every known version, in order; versions may have gaps (2 is reserved).
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

// ---------------------------------------------------------------------------------
// Agents, grants and credentials (issue 5)

fn agent(id: &str, env: &str, key: &str) -> AgentRecord {
    AgentRecord {
        environment: env.into(),
        public_key: key.into(),
        ..testing::agent(id, OWNER, "rel", t(30))
    }
}

/// A grant of read and refund on `orders/*` in `sys`, from 8 to 18 h, up to risk 40.
fn grant(id: &str, agent: &str, at: i64) -> GrantRecord {
    let mut terms = testing::terms("sys", &["read", "refund"], &["orders/*"], t(100_000));
    terms.constraints = Constraints {
        window: Some(HourWindow {
            start_hour: 8,
            end_hour: 18,
        }),
        max_risk_score: Some(40),
    };
    testing::grant(id, agent, terms, t(at))
}

fn key(kid: &str, at: i64) -> CredentialKeyRecord {
    testing::credential_key(kid, t(at))
}

/// A credential signed with `k1` under `grants`, delegated from `parent` if any.
fn credential(jti: &str, agent: &str, grants: &[&str], parent: Option<&str>) -> CredentialRecord {
    CredentialRecord {
        grant_ids: grants.iter().map(|g| GrantId((*g).into())).collect(),
        parent_jti: parent.map(Into::into),
        depth: u32::from(parent.is_some()),
        ..testing::credential(jti, "k1", agent, OWNER, "rel")
    }
}

async fn seed_agents(store: &Arc<dyn Store>) {
    seed(store).await;
    let mut tx = store.write().await.unwrap();
    tx.insert_agent(&agent("ag1", "production", "key-1"))
        .await
        .unwrap();
    tx.insert_agent(&agent("ag2", "staging", "key-2"))
        .await
        .unwrap();
    tx.insert_grant(&grant("g1", "ag1", 40)).await.unwrap();
    tx.insert_grant(&grant("g2", "ag1", 41)).await.unwrap();
    tx.insert_grant(&grant("g3", "ag2", 42)).await.unwrap();
    tx.insert_credential_key(&key("k1", 45)).await.unwrap();
    tx.commit().await.unwrap();
}

async fn agents_round_trip_and_keys_are_never_reused(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let mut tx = store.write().await.unwrap();
    let a = tx.get_agent(&AgentId("ag1".into())).await.unwrap().unwrap();
    assert_eq!(a, agent("ag1", "production", "key-1"));
    assert_eq!(tx.list_agents().await.unwrap().len(), 2);
    let by_release = tx
        .agents_by_release(&ReleaseId("rel".into()))
        .await
        .unwrap();
    assert_eq!(by_release.len(), 2);
    // The same public key for another agent or environment is a conflict.
    assert_conflict(
        tx.insert_agent(&agent("ag3", "staging", "key-1")).await,
        "public key",
    );
    let mut s = a.clone();
    s.status = AgentStatus::Suspended;
    s.updated_at = t(60);
    tx.update_agent(&s).await.unwrap();
    assert_eq!(tx.get_agent(&a.id).await.unwrap().unwrap(), s);
    assert!(tx
        .get_agent(&AgentId("nope".into()))
        .await
        .unwrap()
        .is_none());
    tx.commit().await.unwrap();
}

async fn grants_round_trip(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let mut tx = store.write().await.unwrap();
    let mut g = tx.get_grant(&GrantId("g1".into())).await.unwrap().unwrap();
    assert_eq!(g, grant("g1", "ag1", 40));
    g.system_owner_approved_by = Some(UserId(OWNER.into()));
    g.system_owner_approved_at = Some(t(61));
    g.agent_owner_approved_by = Some(UserId(REVIEWER.into()));
    g.agent_owner_approved_at = Some(t(62));
    g.certified_by = Some(UserId(REVIEWER.into()));
    g.certified_at = Some(t(62));
    g.revoked_by = Some("release:rel".into());
    g.revoked_at = Some(t(63));
    g.revoke_reason = Some("rollback".into());
    tx.update_grant(&g).await.unwrap();
    assert_eq!(tx.get_grant(&g.id).await.unwrap().unwrap(), g);
    let ids = |v: Vec<GrantRecord>| v.into_iter().map(|g| g.id.0).collect::<Vec<_>>();
    assert_eq!(ids(tx.list_grants(None).await.unwrap()), ["g1", "g2", "g3"]);
    assert_eq!(
        ids(tx.list_grants(Some(&AgentId("ag1".into()))).await.unwrap()),
        ["g1", "g2"]
    );
    tx.commit().await.unwrap();
}

async fn assertion_ids_cannot_be_replayed(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let ag = AgentId("ag1".into());
    let mut tx = store.write().await.unwrap();
    tx.use_assertion(&ag, "j1", t(300), t(0)).await.unwrap();
    assert_conflict(tx.use_assertion(&ag, "j1", t(300), t(1)).await, "jti");
    // Another agent may use the same id; the transaction stays usable.
    tx.use_assertion(&AgentId("ag2".into()), "j1", t(300), t(1))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Once expired, an id is forgotten (the assertion itself is refused by then).
    let mut tx = store.write().await.unwrap();
    tx.use_assertion(&ag, "j1", t(900), t(301)).await.unwrap();
    tx.commit().await.unwrap();
}

async fn credential_keys_round_trip(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let mut tx = store.write().await.unwrap();
    tx.insert_credential_key(&key("k2", 46)).await.unwrap();
    assert_conflict(tx.insert_credential_key(&key("k2", 47)).await, "key id");
    let mut k1 = key("k1", 45);
    k1.retired_at = Some(t(46));
    tx.update_credential_key(&k1).await.unwrap();
    assert_eq!(
        tx.list_credential_keys().await.unwrap(),
        vec![k1, key("k2", 46)]
    );
    tx.commit().await.unwrap();
}

async fn credentials_round_trip_and_revoke_by_each_filter(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let mut tx = store.write().await.unwrap();
    tx.insert_credential(&credential("c1", "ag1", &["g1"], None))
        .await
        .unwrap();
    tx.insert_credential(&credential("c2", "ag1", &["g2"], Some("c1")))
        .await
        .unwrap();
    tx.insert_credential(&credential("c3", "ag2", &["g3"], None))
        .await
        .unwrap();
    tx.insert_credential(&credential("c4", "ag2", &["g3"], None))
        .await
        .unwrap();
    assert_conflict(
        tx.insert_credential(&credential("c1", "ag1", &["g1"], None))
            .await,
        "jti",
    );
    assert_eq!(
        tx.get_credential("c2").await.unwrap().unwrap(),
        credential("c2", "ag1", &["g2"], Some("c1"))
    );
    let how = |by: &str| Revocation {
        at: t(70),
        by: by.into(),
        reason: "test".into(),
    };
    let n = tx
        .revoke_credentials(&RevokeFilter::Jti("c1".into()), &how("u"))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let c1 = tx.get_credential("c1").await.unwrap().unwrap();
    assert_eq!(c1.revoked_at, Some(t(70)));
    assert_eq!(c1.revoked_by.as_deref(), Some("u"));
    // Already revoked credentials are not counted again.
    let n = tx
        .revoke_credentials(&RevokeFilter::Agent(AgentId("ag1".into())), &how("u"))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let n = tx
        .revoke_credentials(&RevokeFilter::Grant(GrantId("g3".into())), &how("u"))
        .await
        .unwrap();
    assert_eq!(n, 2);
    let n = tx
        .revoke_credentials(&RevokeFilter::Release(ReleaseId("rel".into())), &how("u"))
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert!(tx.get_credential("zz").await.unwrap().is_none());
    tx.commit().await.unwrap();
    let mut tx = store.write().await.unwrap();
    tx.insert_credential(&credential("c5", "ag2", &["g3"], None))
        .await
        .unwrap();
    let n = tx
        .revoke_credentials(&RevokeFilter::Release(ReleaseId("rel".into())), &how("r"))
        .await
        .unwrap();
    assert_eq!(n, 1);
    tx.commit().await.unwrap();
}

/// A database migrated by an older binary (it knew versions 1 and 2) gets the later
/// versions, and the new tables work.
async fn a_database_at_version_1_is_upgraded_across_the_gap(db: Arc<TestDb>) {
    let full = countersign_store::migrate(&db.url).await.unwrap();
    for sql in [
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
    assert_eq!(upgraded.applied, vec![3, 4], "{upgraded:?}");
    let store = countersign_store::open(&db.url).await.unwrap();
    seed_agents(&store).await;
}

// Lineage (I6): datasets and training runs.

fn dataset(name: &str, version: &str, secs: i64) -> DatasetRecord {
    testing::dataset(name, version, OWNER, t(secs))
}

async fn datasets_round_trip_and_approve(store: Arc<dyn Store>) {
    seed(&store).await;
    let a = dataset("tickets", "3", 30);
    let b = dataset("tickets", "2", 30);
    let early = dataset("chats", "1", 5);
    let mut tx = store.write().await.unwrap();
    tx.insert_dataset(&a).await.unwrap();
    tx.insert_dataset(&b).await.unwrap();
    tx.insert_dataset(&early).await.unwrap();
    assert!(matches!(
        tx.insert_dataset(&a).await,
        Err(StoreError::Conflict { .. })
    ));
    tx.commit().await.unwrap();

    let approved = DatasetRecord {
        approved_by: Some(UserId(REVIEWER.into())),
        approved_at: Some(t(40)),
        ..a.clone()
    };
    let mut tx = store.write().await.unwrap();
    tx.approve_dataset(&approved).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.get_dataset("tickets", "3").await.unwrap(),
        Some(approved.clone())
    );
    assert_eq!(
        tx.get_dataset("tickets", "2").await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(tx.get_dataset("tickets", "4").await.unwrap(), None);
    // Ordered by time, then insertion order.
    assert_eq!(tx.list_datasets().await.unwrap(), vec![early, approved, b]);
    assert_eq!(a.key(), "tickets@3");
}

async fn training_runs_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    let run = |id: &str, secs: i64| testing::training_run(id, "trainer", OWNER, t(secs));
    let (r1, r2) = (run("run-1", 30), run("run-2", 10));
    let mut tx = store.write().await.unwrap();
    tx.insert_training_run(&r1).await.unwrap();
    tx.insert_training_run(&r2).await.unwrap();
    assert!(matches!(
        tx.insert_training_run(&r1).await,
        Err(StoreError::Conflict { .. })
    ));
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.get_training_run("run-1").await.unwrap(),
        Some(r1.clone())
    );
    assert_eq!(tx.get_training_run("nope").await.unwrap(), None);
    assert_eq!(tx.list_training_runs().await.unwrap(), vec![r2, r1]);
}

// ---------------------------------------------------------------------------------
// Deadlines (I5): escalations.

async fn escalations_round_trip_once_per_role(store: Arc<dyn Store>) {
    seed(&store).await;
    let esc =
        |id: &str, role: Role, secs: i64| testing::escalation(id, "rel", role, OWNER, t(secs));
    let (a, b) = (
        esc("esc-a", Role::Security, 50),
        esc("esc-b", Role::Privacy, 40),
    );
    let mut tx = store.write().await.unwrap();
    tx.insert_escalation(&a).await.unwrap();
    tx.insert_escalation(&b).await.unwrap();
    // The same release, revision and role escalates once.
    assert!(matches!(
        tx.insert_escalation(&esc("esc-c", Role::Security, 60))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.list_escalations(&ReleaseId("rel".into())).await.unwrap(),
        vec![b, a]
    );
    assert!(tx
        .list_escalations(&ReleaseId("other".into()))
        .await
        .unwrap()
        .is_empty());
}

// ---------------------------------------------------------------------------------
// Webhooks: subscriptions, the outbox, deliveries and attempts.

async fn webhooks_outbox_and_deliveries_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    let hook = testing::webhook("wh-1", OWNER);
    let ev = |id: &str, secs: i64| testing::event(id, t(secs));
    let dl = |event: &str, due: i64| testing::delivery("wh-1", event, t(due));
    let mut tx = store.write().await.unwrap();
    tx.insert_webhook(&hook).await.unwrap();
    assert!(matches!(
        tx.insert_webhook(&hook).await,
        Err(StoreError::Conflict { .. })
    ));
    tx.insert_event(&ev("ev-1", 2)).await.unwrap();
    tx.insert_event(&ev("ev-2", 3)).await.unwrap();
    tx.insert_delivery(&dl("ev-1", 10)).await.unwrap();
    tx.insert_delivery(&dl("ev-2", 5)).await.unwrap();
    assert!(matches!(
        tx.insert_delivery(&dl("ev-1", 10)).await,
        Err(StoreError::Conflict { .. })
    ));
    tx.commit().await.unwrap();

    let mut tx = store.write().await.unwrap();
    assert_eq!(tx.get_webhook("wh-1").await.unwrap(), Some(hook.clone()));
    assert_eq!(tx.get_webhook("nope").await.unwrap(), None);
    assert_eq!(tx.list_webhooks().await.unwrap(), vec![hook]);
    assert_eq!(tx.get_event("ev-1").await.unwrap(), Some(ev("ev-1", 2)));
    // Due: only what is pending and due, oldest due first, bounded.
    assert_eq!(tx.due_deliveries(t(4), 10).await.unwrap(), vec![]);
    assert_eq!(
        tx.due_deliveries(t(10), 10).await.unwrap(),
        vec![dl("ev-2", 5), dl("ev-1", 10)]
    );
    assert_eq!(
        tx.due_deliveries(t(10), 1).await.unwrap(),
        vec![dl("ev-2", 5)]
    );
    let done = DeliveryRecord {
        state: "delivered".into(),
        attempts: 1,
        updated_at: t(11),
        ..dl("ev-2", 5)
    };
    tx.update_delivery(&done).await.unwrap();
    assert_eq!(
        tx.due_deliveries(t(10), 10).await.unwrap(),
        vec![dl("ev-1", 10)]
    );
    assert_eq!(
        tx.list_deliveries("wh-1").await.unwrap(),
        vec![dl("ev-1", 10), done]
    );
    let at = |id: &str, n: u32, code: u16, outcome: &str, secs: i64| AttemptRecord {
        outcome: outcome.into(),
        ..testing::attempt(id, "wh-1", "ev-2", n, code, t(secs))
    };
    tx.insert_attempt(&at("a-2", 2, 200, "delivered", 11))
        .await
        .unwrap();
    tx.insert_attempt(&at("a-1", 1, 0, "retry", 6))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.list_attempts("wh-1").await.unwrap(),
        vec![
            at("a-1", 1, 0, "retry", 6),
            at("a-2", 2, 200, "delivered", 11)
        ]
    );
}

// ---------------------------------------------------------------------------------
// Runtime decisions, approvals and the action log (issue 6)

fn action(id: &str, agent: &str, task: &str, decision: &str, at: i64) -> ActionRecord {
    testing::action(id, agent, task, decision, t(at))
}

fn approval(id: &str, action_id: &str, assignee: &str, expires: i64) -> ApprovalRecord {
    testing::approval(id, action_id, assignee, t(expires))
}

async fn actions_round_trip_and_filter(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let mut tx = store.write().await.unwrap();
    tx.insert_action(&action("act1", "ag1", "refunds", "allow", 50))
        .await
        .unwrap();
    tx.insert_action(&action("act2", "ag1", "billing", "step_up", 51))
        .await
        .unwrap();
    tx.insert_action(&action("act3", "ag2", "refunds", "deny", 52))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.write().await.unwrap();
    let a = tx.get_action("act1").await.unwrap().unwrap();
    assert_eq!(a, action("act1", "ag1", "refunds", "allow", 50));
    assert!(tx.get_action("nope").await.unwrap().is_none());
    let ids = |v: Vec<ActionRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let all = ActionFilter {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        ids(tx.list_actions(&all).await.unwrap()),
        ["act3", "act2", "act1"]
    );
    let by_agent = ActionFilter {
        agent: Some(AgentId("ag1".into())),
        ..all.clone()
    };
    assert_eq!(
        ids(tx.list_actions(&by_agent).await.unwrap()),
        ["act2", "act1"]
    );
    let by_task = ActionFilter {
        task: Some("refunds".into()),
        ..all.clone()
    };
    assert_eq!(
        ids(tx.list_actions(&by_task).await.unwrap()),
        ["act3", "act1"]
    );
    let queue = ActionFilter {
        review_state: Some("pending".into()),
        ..all.clone()
    };
    assert_eq!(ids(tx.list_actions(&queue).await.unwrap()), ["act1"]);
    let limited = ActionFilter {
        limit: 1,
        ..all.clone()
    };
    assert_eq!(ids(tx.list_actions(&limited).await.unwrap()), ["act3"]);

    // Review and outcome are written back; the queue empties.
    let mut a = a;
    a.review_state = Some("reviewed".into());
    a.review = Some(PostReview {
        by: UserId("owner".into()),
        at: t(60),
        verdict: "ok".into(),
        comment: "fine".into(),
    });
    a.outcome = Some(ActionOutcome {
        status: "succeeded".into(),
        detail: json!({"refund_id": "r-1"}),
        at: t(55),
    });
    tx.update_action(&a).await.unwrap();
    assert_eq!(tx.get_action("act1").await.unwrap().unwrap(), a);
    assert!(tx.list_actions(&queue).await.unwrap().is_empty());
    // The same id twice is refused.
    assert_conflict(
        tx.insert_action(&action("act1", "ag1", "x", "deny", 70))
            .await,
        "action id",
    );
}

async fn approvals_round_trip_and_expire(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let mut tx = store.write().await.unwrap();
    tx.insert_action(&action("act1", "ag1", "refunds", "step_up", 50))
        .await
        .unwrap();
    tx.insert_action(&action("act2", "ag1", "refunds", "step_up", 51))
        .await
        .unwrap();
    tx.insert_approval(&approval("apr1", "act1", "owner", 100))
        .await
        .unwrap();
    tx.insert_approval(&approval("apr2", "act2", "owner", 200))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.write().await.unwrap();
    assert_eq!(
        tx.get_approval("apr1").await.unwrap().unwrap(),
        approval("apr1", "act1", "owner", 100)
    );
    let due: Vec<String> = tx
        .due_approvals(t(150), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(due, ["apr1"]);
    let mut a = approval("apr1", "act1", "owner", 100);
    a.state = "expired".into();
    tx.update_approval(&a).await.unwrap();
    assert!(tx.due_approvals(t(150), 10).await.unwrap().is_empty());
    let pending = ApprovalFilter {
        assignee: Some(UserId("owner".into())),
        state: Some("pending".into()),
        agent: None,
        limit: 10,
    };
    let ids: Vec<String> = tx
        .list_approvals(&pending)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, ["apr2"]);
    let nobody = ApprovalFilter {
        assignee: Some(UserId("nobody".into())),
        ..pending
    };
    assert!(tx.list_approvals(&nobody).await.unwrap().is_empty());
}

async fn context_views_record_the_first_opening_only(store: Arc<dyn Store>) {
    seed(&store).await;
    let mut tx = store.write().await.unwrap();
    let v = |at| ContextViewRecord {
        kind: "release".into(),
        subject: "rel1".into(),
        user: UserId("owner".into()),
        first_opened_at: t(at),
    };
    assert!(tx.record_view(&v(10)).await.unwrap());
    assert!(!tx.record_view(&v(20)).await.unwrap());
    assert_eq!(tx.list_views("release").await.unwrap(), vec![v(10)]);
    assert!(tx.list_views("approval").await.unwrap().is_empty());
}

async fn i11_append_batch_chains_and_signs_once(store: Arc<dyn Store>) {
    let mut tx = store.write().await.unwrap();
    tx.append(draft(0)).await.unwrap();
    let entries = tx
        .append_batch((1..=1200).map(draft).collect())
        .await
        .unwrap();
    // More entries than one multi-row INSERT carries: several statements, one chain.
    assert_eq!(entries.len(), 1200);
    assert_eq!(entries.last().unwrap().seq, 1201);
    assert!(entries.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    assert!(tx.append_batch(vec![]).await.unwrap().is_empty());
    tx.commit().await.unwrap();
    assert_ledger_verifies(&store, 1201).await;
}

async fn insert_actions_writes_every_row_across_statements(store: Arc<dyn Store>) {
    seed_agents(&store).await;
    let records: Vec<ActionRecord> = (0..1100)
        .map(|i| action(&format!("act{i}"), "ag1", "bulk", "allow", 50 + i))
        .collect();
    let mut tx = store.write().await.unwrap();
    tx.insert_actions(&records.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    tx.insert_actions(&[]).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.write().await.unwrap();
    for i in [0, 499, 500, 1099] {
        assert_eq!(
            tx.get_action(&format!("act{i}")).await.unwrap().unwrap(),
            records[i as usize]
        );
    }
    let all = ActionFilter {
        task: Some("bulk".into()),
        limit: 5000,
        ..Default::default()
    };
    assert_eq!(tx.list_actions(&all).await.unwrap().len(), 1100);
    // One duplicate id refuses the batch.
    let dup = [&records[7]];
    assert_conflict(tx.insert_actions(&dup).await, "action id");
}
