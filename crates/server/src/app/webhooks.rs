//! Webhooks: admins subscribe URLs to event types; the delivery worker POSTs each
//! event, signed (see `docs/webhooks.md`), retrying with exponential backoff up to
//! [`MAX_ATTEMPTS`], and records every attempt in the delivery log.
//!
//! Delivery is at least once. [`deliver_due_once`] takes the clock's now: it claims the
//! due deliveries (pushing their due time out by [`LEASE`], so another replica's worker
//! skips them), POSTs them, then records each outcome. A worker that dies mid-way leaves
//! its claims to expire, and the next run sends them again.
//!
//! The worker POSTs with one [`DeliveryClient`], built once at start from the outgoing
//! TLS settings ([`crate::outbound::OutboundTls`]: the system roots plus any private CA),
//! so `https://` receivers verify like any TLS client would. An attempt that fails
//! (TLS included) records the error's whole source chain in the delivery log, e.g.
//! `invalid peer certificate: UnknownIssuer`.

use super::events::EVENT_KINDS;
use super::unit::App;
use super::{new_id, record, AppError, Ctx};
use crate::outbound::{error_chain, OutboundError, OutboundTls};
use chrono::Duration;
use countersign_core::delivery::{AttemptOutcome, DeliveryState};
use countersign_core::problem::ProblemCode;
use countersign_core::Role;
use countersign_store::prelude::*;
use countersign_store::records::{AttemptRecord, DeliveryRecord, WebhookRecord};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;

/// Attempts per delivery before it is marked dead.
pub const MAX_ATTEMPTS: u32 = 6;
/// How long a claimed delivery is reserved for the worker that claimed it.
pub const LEASE: Duration = Duration::seconds(60);
/// Deliveries claimed per run.
const BATCH: u32 = 50;
/// The signature header.
pub const SIGNATURE_HEADER: &str = "countersign-signature";
/// How long one delivery attempt may take, connecting included.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The HTTP client deliveries are POSTed with. Build it once and pass it to every run.
#[derive(Clone, Debug)]
pub struct DeliveryClient {
    http: reqwest::Client,
}

impl DeliveryClient {
    /// A client trusting `tls` (rustls), with the attempt timeout.
    pub fn new(tls: &OutboundTls) -> Result<Self, OutboundError> {
        let http = tls
            .client_builder()
            .timeout(ATTEMPT_TIMEOUT)
            .build()
            .map_err(OutboundError::Client)?;
        Ok(Self { http })
    }
}

/// The wait before attempt `attempts + 1`: 10 s, 20 s, 40 s, … capped at one hour.
pub fn backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(12);
    Duration::seconds((10_i64 << exp).min(3600))
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// The signature header value: `t=<unix seconds>,v1=<hex hmac-sha256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mac = hmac_sha256(secret.as_bytes(), format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac))
}

pub struct NewWebhook {
    pub url: String,
    pub events: BTreeSet<String>,
}

/// Subscribes a URL to event types. Role: admin. The secret is returned once.
pub async fn create(tx: &mut dyn Tx, ctx: &Ctx, w: NewWebhook) -> Result<WebhookRecord, AppError> {
    ctx.require_any(&[Role::Admin])?;
    let url_ok = (w.url.starts_with("http://") || w.url.starts_with("https://"))
        && w.url.len() <= 2000
        && !w.url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !url_ok {
        return Err(AppError::invalid(
            ProblemCode::InvalidWebhook,
            "url must be an http:// or https:// URL of at most 2000 characters",
        ));
    }
    if w.events.is_empty() {
        return Err(AppError::invalid(
            ProblemCode::InvalidWebhook,
            format!("events needs at least one of {}", EVENT_KINDS.join(", ")),
        ));
    }
    if let Some(bad) = w.events.iter().find(|e| !EVENT_KINDS.contains(&e.as_str())) {
        return Err(AppError::invalid(
            ProblemCode::InvalidWebhook,
            format!(
                "unknown event type {bad:?}; expected one of {}",
                EVENT_KINDS.join(", ")
            ),
        ));
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hook = WebhookRecord {
        id: new_id("wh"),
        url: w.url,
        events: w.events,
        secret: format!("whsec_{}", hex::encode(bytes)),
        created_by: ctx.actor.id.clone(),
        created_at: ctx.now,
    };
    tx.insert_webhook(&hook).await?;
    record(
        tx,
        ctx,
        "webhook.create",
        &hook.id,
        json!({"url": hook.url, "events": hook.events}),
    )
    .await?;
    Ok(hook)
}

pub async fn list(tx: &mut dyn Tx, ctx: &Ctx) -> Result<Vec<WebhookRecord>, AppError> {
    ctx.require_any(&[Role::Admin])?;
    Ok(tx.list_webhooks().await?)
}

/// A webhook's deliveries and every attempt. Role: admin.
pub async fn deliveries(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &str,
) -> Result<(WebhookRecord, Vec<DeliveryRecord>, Vec<AttemptRecord>), AppError> {
    ctx.require_any(&[Role::Admin])?;
    let hook = tx
        .get_webhook(id)
        .await?
        .ok_or_else(|| AppError::NotFound {
            what: "webhook",
            id: id.to_owned(),
        })?;
    let d = tx.list_deliveries(id).await?;
    let a = tx.list_attempts(id).await?;
    Ok((hook, d, a))
}

/// What one worker run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryRun {
    pub attempted: usize,
    pub delivered: usize,
}

/// Sends every delivery due at the clock's now, once, with `client`, and records the
/// outcomes.
pub async fn deliver_due_once(app: &App, client: &DeliveryClient) -> Result<DeliveryRun, AppError> {
    let now = app.now();
    // Claim: push the due time out by the lease, in one short write transaction.
    let claimed = app
        .job(move |tx, _| {
            Box::pin(async move {
                let mut claimed = Vec::new();
                for mut d in tx.due_deliveries(now, BATCH).await? {
                    d.next_attempt_at = now + LEASE;
                    d.updated_at = now;
                    tx.update_delivery(&d).await?;
                    claimed.push(d);
                }
                Ok(claimed)
            })
        })
        .await?;
    let mut run = DeliveryRun::default();
    if claimed.is_empty() {
        return Ok(run);
    }
    for mut d in claimed {
        let (webhook, event) = (d.webhook_id.clone(), d.event_id.clone());
        let (hook, event) = app
            .query(move |tx| {
                Box::pin(async move {
                    Ok((tx.get_webhook(&webhook).await?, tx.get_event(&event).await?))
                })
            })
            .await?;
        let (Some(hook), Some(event)) = (hook, event) else {
            continue;
        };
        let body = json!({
            "id": event.id, "type": event.kind, "subject": event.subject,
            "created_at": countersign_ledger::format_time(event.created_at), "data": event.payload,
        })
        .to_string();
        let sent = client
            .http
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                SIGNATURE_HEADER,
                signature(&hook.secret, now.timestamp(), &body),
            )
            .header("countersign-event", &event.kind)
            .header("countersign-delivery", &event.id)
            .body(body)
            .send()
            .await;
        let (status_code, error) = match sent {
            Ok(r) => (r.status().as_u16(), String::new()),
            // The URL is the webhook's own; the log says why, down to the TLS cause.
            Err(e) => (0, error_chain(&e.without_url())),
        };
        let ok = (200..300).contains(&status_code);
        run.attempted += 1;
        d.attempts += 1;
        d.updated_at = now;
        let outcome = if ok {
            run.delivered += 1;
            d.state = DeliveryState::Delivered;
            AttemptOutcome::Delivered
        } else if d.attempts >= MAX_ATTEMPTS {
            d.state = DeliveryState::Dead;
            AttemptOutcome::Dead
        } else {
            d.next_attempt_at = now + backoff(d.attempts);
            AttemptOutcome::Retry
        };
        let attempt = AttemptRecord {
            id: new_id("att"),
            webhook_id: d.webhook_id.clone(),
            event_id: d.event_id.clone(),
            attempt: d.attempts,
            at: now,
            status_code,
            error: if ok || !error.is_empty() {
                error
            } else {
                format!("HTTP {status_code}")
            },
            outcome,
        };
        let delivery = d.clone();
        app.job(move |tx, _| {
            Box::pin(async move {
                tx.insert_attempt(&attempt).await?;
                Ok(tx.update_delivery(&delivery).await?)
            })
        })
        .await?;
        if !ok {
            tracing::warn!(webhook = %d.webhook_id, event = %d.event_id, attempt = d.attempts, outcome = outcome.as_str(), "webhook delivery failed");
        }
    }
    Ok(run)
}

/// The background delivery worker: runs [`deliver_due_once`] with `client` every `every`.
pub async fn delivery_loop(state: App, client: DeliveryClient, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = deliver_due_once(&state, &client).await {
            tracing::warn!(error = %e, "webhook delivery run failed; retrying at the next tick");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let long_key = [0xaau8; 131];
        assert_eq!(
            hex::encode(hmac_sha256(
                &long_key,
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let s: Vec<i64> = (1..=5).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(s, [10, 20, 40, 80, 160]);
        assert_eq!(backoff(100).num_seconds(), 3600);
        assert_eq!(
            signature("k", 5, "{}"),
            format!("t=5,v1={}", hex::encode(hmac_sha256(b"k", b"5.{}")))
        );
    }
}
