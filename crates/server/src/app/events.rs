//! Events: written to the outbox in the same transaction as the command that caused
//! them, with one pending delivery per subscribed webhook. The delivery worker
//! ([`super::webhooks::deliver_due_once`]) sends them; the outbox is the source of
//! truth, so a crash between commit and delivery loses nothing.

use super::{new_id, AppError};
use chrono::{DateTime, Utc};
use countersign_core::delivery::DeliveryState;
use countersign_store::prelude::*;
use countersign_store::records::{DeliveryRecord, EventRecord};

/// Every event type a webhook may subscribe to.
pub const EVENT_KINDS: &[&str] = &[
    "review_requested",
    "review_overdue",
    "escalated",
    "decided",
    "promoted",
    "rolled_back",
    "retired",
];

/// Writes one event and a pending delivery for each webhook subscribed to its type.
pub async fn emit(
    tx: &mut dyn Tx,
    now: DateTime<Utc>,
    kind: &'static str,
    subject: &str,
    payload: serde_json::Value,
) -> Result<EventRecord, AppError> {
    let event = EventRecord {
        id: new_id("evt"),
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        payload,
        created_at: now,
    };
    tx.insert_event(&event).await?;
    for hook in tx.list_webhooks().await? {
        if hook.events.contains(kind) {
            tx.insert_delivery(&DeliveryRecord {
                webhook_id: hook.id,
                event_id: event.id.clone(),
                state: DeliveryState::Pending,
                attempts: 0,
                next_attempt_at: now,
                updated_at: now,
            })
            .await?;
        }
    }
    Ok(event)
}
