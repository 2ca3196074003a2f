//! HTTP handlers for webhooks and their delivery log.

use super::extract::{ok, Auth, Cmd, PathId};
use super::problem::ApiResult;
use crate::app;
use crate::app::unit::App as AppState;
use axum::extract::State;
use axum::http::StatusCode;
use countersign_api::*;
use countersign_store::records::*;

pub fn webhook_view(w: WebhookRecord, with_secret: bool) -> WebhookView {
    WebhookView {
        id: w.id,
        url: w.url,
        events: w.events,
        created_by: w.created_by.to_string(),
        created_at: w.created_at,
        secret: with_secret.then_some(w.secret),
    }
}

pub fn delivery_log_view(
    w: WebhookRecord,
    d: Vec<DeliveryRecord>,
    a: Vec<AttemptRecord>,
) -> DeliveryLogView {
    DeliveryLogView {
        webhook: webhook_view(w, false),
        deliveries: d
            .into_iter()
            .map(|d| DeliveryView {
                event_id: d.event_id,
                state: d.state.to_string(),
                attempts: d.attempts,
                next_attempt_at: d.next_attempt_at,
            })
            .collect(),
        attempts: a
            .into_iter()
            .map(|a| AttemptView {
                event_id: a.event_id,
                attempt: a.attempt,
                at: a.at,
                status_code: a.status_code,
                error: a.error,
                outcome: a.outcome.to_string(),
            })
            .collect(),
    }
}

/// Subscribe a URL to event types; the signing secret is shown once. Role: admin.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = CreateWebhookParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key write once")),
    responses((status = 201, body = WebhookView)))]
pub async fn create_webhook(State(s): State<AppState>, cmd: Cmd<CreateWebhookParams>) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |body, tx, ctx| {
        Box::pin(async move {
            let new = app::webhooks::NewWebhook {
                url: body.url,
                events: body.events,
            };
            let hook = app::webhooks::create(tx, ctx, new).await?;
            Ok(webhook_view(hook, true))
        })
    })
    .await
}

/// List webhooks (without secrets). Role: admin.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<WebhookView>)))]
pub async fn list_webhooks(State(s): State<AppState>, Auth(ctx): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let all = app::webhooks::list(tx, &ctx).await?;
                Ok(all
                    .into_iter()
                    .map(|w| webhook_view(w, false))
                    .collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// A webhook's deliveries and every delivery attempt. Role: admin.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = DeliveryLogView)))]
pub async fn webhook_deliveries(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let (w, d, a) = app::webhooks::deliveries(tx, &ctx, &id).await?;
                Ok(delivery_log_view(w, d, a))
            })
        })
        .await?;
    ok(v)
}
