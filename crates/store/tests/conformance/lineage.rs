//! Lineage (I6): datasets and training runs.

use crate::fixtures::*;
use countersign_core::UserId;
use countersign_store::records::*;
use countersign_store::testing::{self, at as t};
use countersign_store::{Store, StoreError};
use std::sync::Arc;

conformance!(datasets_round_trip_and_approve, training_runs_round_trip,);

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
