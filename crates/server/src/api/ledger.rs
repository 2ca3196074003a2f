//! HTTP handlers for the ledger: pages of entries and their verification.

use super::extract::{ok, Auth, Q};
use super::problem::ApiResult;
use super::view::View;
use crate::app;
use crate::app::unit::App as AppState;
use axum::extract::State;
use countersign_api::*;
use countersign_ledger::Entry;

impl View<Entry> for LedgerEntryView {
    fn view(e: Entry) -> Self {
        LedgerEntryView {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            payload: e.payload,
            payload_digest: e.payload_digest.to_string(),
            prev_hash: e.prev_hash.to_string(),
            hash: e.hash.to_string(),
        }
    }
}

pub fn ledger_verify_view(
    key: &countersign_ledger::LedgerPublicKey,
    v: app::ledger::Verification,
) -> LedgerVerifyView {
    use app::ledger::Verification;
    let mut view = LedgerVerifyView {
        valid: false,
        entries: 0,
        head_seq: None,
        head_hash: None,
        first_bad_seq: None,
        error: None,
        public_key: key.to_base64(),
        key_id: key.key_id(),
    };
    match v {
        Verification::Valid(r) => {
            view.valid = true;
            view.entries = r.entries;
            view.head_seq = r.head.as_ref().map(|h| h.seq);
            view.head_hash = r.head.map(|h| h.hash.to_string());
        }
        Verification::Invalid(e) => {
            view.first_bad_seq = Some(e.seq);
            view.error = Some(e.to_string());
        }
    }
    view
}

/// Ledger entries in order. Role: admin, compliance or risk.
#[utoipa::path(get, path = "/v1/ledger", tag = "ledger", security(("bearer" = [])), params(LedgerQuery),
    responses((status = 200, body = Vec<LedgerEntryView>)))]
pub async fn ledger(State(s): State<AppState>, Auth(ctx): Auth, Q(q): Q<LedgerQuery>) -> ApiResult {
    let entries = app::ledger::page(&s, &ctx, q.after, q.limit).await?;
    ok(entries
        .into_iter()
        .map(LedgerEntryView::view)
        .collect::<Vec<_>>())
}

/// Verify the whole hash chain and its signed head. Role: admin, compliance or risk.
#[utoipa::path(get, path = "/v1/ledger/verify", tag = "ledger", security(("bearer" = [])),
    responses((status = 200, body = LedgerVerifyView)))]
pub async fn ledger_verify(State(s): State<AppState>, Auth(ctx): Auth) -> ApiResult {
    let (key, v) = app::ledger::verify_for(&s, &ctx).await?;
    ok(ledger_verify_view(&key, v))
}
