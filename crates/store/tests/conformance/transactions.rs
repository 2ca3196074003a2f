//! Uniqueness and transactions: conflicts, rollback on drop (I11), serialized writers.

use crate::fixtures::*;
use crate::{assert_conflict, assert_ledger_verifies};
use countersign_core::release::Decision;
use countersign_core::{ReleaseId, Role, UserId};
use countersign_store::records::*;
use countersign_store::testing::{self, digest};
use countersign_store::Store;
use std::sync::Arc;

conformance!(
    unique_violations_are_conflicts,
    conflict_leaves_the_transaction_usable,
    i11_dropped_write_leaves_nothing,
    writers_are_serialized_for_read_decide_write,
);

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
