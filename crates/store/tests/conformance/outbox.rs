//! Webhooks: subscriptions, the event outbox, deliveries and attempts.

use crate::fixtures::*;
use crate::TestDb;
use countersign_core::delivery::DeliveryState;
use countersign_store::records::*;
use countersign_store::testing::{self, at as t};
use countersign_store::{Store, StoreError};
use std::sync::Arc;

conformance!(webhooks_outbox_and_deliveries_round_trip,);
database_tests!(an_unknown_delivery_state_or_outcome_is_corrupt,);

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
        state: DeliveryState::Delivered,
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
        outcome: outcome.parse().unwrap(),
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

/// A stored state or outcome that names no variant is a decode error, not a panic.
async fn an_unknown_delivery_state_or_outcome_is_corrupt(db: Arc<TestDb>) {
    let store = countersign_store::open(&db.url).await.unwrap();
    seed(&store).await;
    let mut tx = store.write().await.unwrap();
    tx.insert_webhook(&testing::webhook("wh-1", OWNER))
        .await
        .unwrap();
    tx.insert_event(&testing::event("ev-1", t(2)))
        .await
        .unwrap();
    tx.insert_delivery(&testing::delivery("wh-1", "ev-1", t(3)))
        .await
        .unwrap();
    tx.insert_attempt(&testing::attempt("a-1", "wh-1", "ev-1", 1, 200, t(4)))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    drop(store);

    db.exec("UPDATE deliveries SET state = 'lost'").await;
    db.exec("UPDATE delivery_attempts SET outcome = 'maybe'")
        .await;
    let store = countersign_store::open(&db.url).await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert!(matches!(
        tx.list_deliveries("wh-1").await,
        Err(StoreError::Corrupt {
            column: "deliveries.state",
            ..
        })
    ));
    assert!(matches!(
        tx.list_attempts("wh-1").await,
        Err(StoreError::Corrupt {
            column: "delivery_attempts.outcome",
            ..
        })
    ));
}
