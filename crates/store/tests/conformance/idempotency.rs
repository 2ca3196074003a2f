//! Stored responses to writes made with an `Idempotency-Key`.

use crate::fixtures::*;
use countersign_store::testing;
use countersign_store::Store;
use std::sync::Arc;

conformance!(idempotency_round_trip,);

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
