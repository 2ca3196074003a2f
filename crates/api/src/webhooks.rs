//! Webhooks and their delivery log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// Subscribe a URL to event types. Role: admin.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookParams {
    /// http:// or https:// URL the events are POSTed to.
    pub url: String,
    /// Any of review_requested, review_overdue, escalated, decided, promoted, rolled_back, retired.
    pub events: BTreeSet<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub events: BTreeSet<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The signing secret; present only in the response that created the webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub event_id: String,
    /// pending, delivered or dead (attempts exhausted).
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub event_id: String,
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, 0 when there was no response.
    pub status_code: u16,
    pub error: String,
    /// delivered, retry or dead.
    pub outcome: String,
}

/// A webhook's delivery log.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryLogView {
    pub webhook: WebhookView,
    pub deliveries: Vec<DeliveryView>,
    pub attempts: Vec<AttemptView>,
}
