//! Webhooks and the event outbox: events, deliveries and delivery attempts.

use super::{args, sql, Conn, SqlTx, R};
use crate::records::*;
use crate::rows::*;
use crate::time::to_text;
use crate::tx::OutboxTx;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use countersign_core::delivery::DeliveryState;

#[async_trait]
impl<C: Conn> OutboxTx for SqlTx<C> {
    async fn insert_webhook(&mut self, w: &WebhookRecord) -> R<()> {
        let s = sql!("INSERT INTO webhooks (id, url, events, secret, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &w.id,
            &w.url,
            to_json(&w.events),
            &w.secret,
            w.created_by.as_str(),
            to_text(w.created_at),
        ];
        self.insert(s, a, "webhook id").await
    }

    async fn get_webhook(&mut self, id: &str) -> R<Option<WebhookRecord>> {
        let s = sql!("SELECT * FROM webhooks WHERE id = ?");
        self.one(s, args![id], webhook).await
    }

    async fn list_webhooks(&mut self) -> R<Vec<WebhookRecord>> {
        let s = sql!("SELECT * FROM webhooks ORDER BY created_at, {ord}");
        self.all(s, args![], webhook).await
    }

    async fn insert_event(&mut self, e: &EventRecord) -> R<()> {
        let s = sql!("INSERT INTO events (id, kind, subject, payload, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &e.id,
            &e.kind,
            &e.subject,
            to_json(&e.payload),
            to_text(e.created_at)
        ];
        self.insert(s, a, "event id").await
    }

    async fn get_event(&mut self, id: &str) -> R<Option<EventRecord>> {
        self.one(sql!("SELECT * FROM events WHERE id = ?"), args![id], event)
            .await
    }

    async fn insert_delivery(&mut self, d: &DeliveryRecord) -> R<()> {
        let s = sql!("INSERT INTO deliveries (webhook_id, event_id, state, attempts, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &d.webhook_id,
            &d.event_id,
            d.state.as_str(),
            i64::from(d.attempts),
            to_text(d.next_attempt_at),
            to_text(d.updated_at),
        ];
        self.insert(s, a, "delivery of this event to this webhook")
            .await
    }

    async fn update_delivery(&mut self, d: &DeliveryRecord) -> R<()> {
        let s = sql!("UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ?, updated_at = ? WHERE webhook_id = ? AND event_id = ?");
        let a = args![
            d.state.as_str(),
            i64::from(d.attempts),
            to_text(d.next_attempt_at),
            to_text(d.updated_at),
            &d.webhook_id,
            &d.event_id,
        ];
        self.exec(s, a, "update delivery").await.map(drop)
    }

    async fn due_deliveries(&mut self, now: DateTime<Utc>, limit: u32) -> R<Vec<DeliveryRecord>> {
        let s = sql!("SELECT * FROM deliveries WHERE state = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, {ord} LIMIT ?");
        let pending = DeliveryState::Pending.as_str();
        self.all(s, args![pending, to_text(now), i64::from(limit)], delivery)
            .await
    }

    async fn list_deliveries(&mut self, webhook_id: &str) -> R<Vec<DeliveryRecord>> {
        let s = sql!("SELECT * FROM deliveries WHERE webhook_id = ? ORDER BY {ord}");
        self.all(s, args![webhook_id], delivery).await
    }

    async fn insert_attempt(&mut self, a: &AttemptRecord) -> R<()> {
        let s = sql!("INSERT INTO delivery_attempts (id, webhook_id, event_id, attempt, at, status_code, error, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let v = args![
            &a.id,
            &a.webhook_id,
            &a.event_id,
            i64::from(a.attempt),
            to_text(a.at),
            i64::from(a.status_code),
            &a.error,
            a.outcome.as_str(),
        ];
        self.insert(s, v, "delivery attempt id").await
    }

    async fn list_attempts(&mut self, webhook_id: &str) -> R<Vec<AttemptRecord>> {
        let s = sql!("SELECT * FROM delivery_attempts WHERE webhook_id = ? ORDER BY at, {ord}");
        self.all(s, args![webhook_id], attempt).await
    }
}
