//! HTTP handlers for the ledger: pages of entries and their verification; the
//! transparency log's checkpoint, proofs and keys (public).

use super::extract::{ok, Auth, Cmd, Q};
use super::problem::{ApiResult, Problem};
use super::view::View;
use crate::app;
use crate::app::unit::App as AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
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

fn b64(h: &countersign_ledger::Hash) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

impl View<app::transparency::Inclusion> for InclusionProofView {
    fn view(p: app::transparency::Inclusion) -> Self {
        InclusionProofView {
            entry: p.entry,
            size: p.size,
            leaf_index: p.entry - 1,
            entry_hash: format!("sha256:{}", hex::encode(p.entry_hash)),
            leaf_hash: b64(&p.leaf_hash),
            root: b64(&p.root),
            proof: p.proof.iter().map(b64).collect(),
        }
    }
}

impl View<app::transparency::Consistency> for ConsistencyProofView {
    fn view(p: app::transparency::Consistency) -> Self {
        ConsistencyProofView {
            from: p.from,
            to: p.to,
            from_root: b64(&p.from_root),
            to_root: b64(&p.to_root),
            proof: p.proof.iter().map(b64).collect(),
        }
    }
}

/// The ledger's current checkpoint: a C2SP tlog-checkpoint signed as a C2SP signed
/// note with the ledger key, with witnesses' cosignatures of it appended. Public: it
/// shows a tree size and a root hash, nothing of any entry.
#[utoipa::path(get, path = "/v1/ledger/checkpoint", tag = "ledger", params(CheckpointQuery),
    responses((status = 200, body = String, content_type = "text/plain; charset=utf-8"),
              (status = 422, body = Problem)))]
pub async fn ledger_checkpoint(State(s): State<AppState>, Q(q): Q<CheckpointQuery>) -> ApiResult {
    let note = app::transparency::checkpoint(&s, q.size).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

/// An RFC 9162 inclusion proof of one entry (by seq) in a tree size (default the
/// current one). Public: entry hashes only.
#[utoipa::path(get, path = "/v1/ledger/proof/inclusion", tag = "ledger", params(InclusionQuery),
    responses((status = 200, body = InclusionProofView), (status = 422, body = Problem)))]
pub async fn ledger_inclusion(State(s): State<AppState>, Q(q): Q<InclusionQuery>) -> ApiResult {
    let p = app::transparency::inclusion(&s, q.entry, q.size).await?;
    ok(InclusionProofView::view(p))
}

/// An RFC 9162 consistency proof between two tree sizes (`to` default the current
/// one). Public: tree hashes only.
#[utoipa::path(get, path = "/v1/ledger/proof/consistency", tag = "ledger", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProofView), (status = 422, body = Problem)))]
pub async fn ledger_consistency(State(s): State<AppState>, Q(q): Q<ConsistencyQuery>) -> ApiResult {
    let p = app::transparency::consistency(&s, q.from, q.to).await?;
    ok(ConsistencyProofView::view(p))
}

/// The keys that sign the ledger's checkpoints, for verifiers and witnesses to pin.
#[utoipa::path(get, path = "/v1/ledger/keys", tag = "ledger",
    responses((status = 200, body = LedgerKeysView)))]
pub async fn ledger_keys(State(s): State<AppState>) -> ApiResult {
    let k = app::transparency::keys(&s)?;
    ok(LedgerKeysView {
        origin: k.origin,
        vkey: k.vkey,
        key_id: k.key_id,
        public_key: k.public_key,
    })
}

/// Store a witness's cosignature (C2SP tlog-cosignature) of one of the ledger's
/// checkpoints; it is served with that checkpoint from then on. One ledger entry.
/// Role: admin, compliance or risk.
#[utoipa::path(post, path = "/v1/ledger/cosignatures", tag = "ledger", security(("bearer" = [])),
    request_body = CosignatureParams,
    responses((status = 201, body = CosignatureView), (status = 422, body = Problem)))]
pub async fn ledger_cosign(State(s): State<AppState>, cmd: Cmd<CosignatureParams>) -> ApiResult {
    let app = s.clone();
    cmd.run(&s, StatusCode::CREATED, move |body, tx, ctx| {
        Box::pin(async move {
            let c = app::transparency::record_cosignature(&app, tx, ctx, &body.note, &body.witness);
            let r = c.await?.record;
            Ok(CosignatureView {
                witness: r.witness,
                tree_size: r.tree_size,
                root: r.root,
                cosigned_at: r
                    .cosigned_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })
        })
    })
    .await
}

/// The log as C2SP tlog-tiles under `/ledger/`: `tile/<L>/<N>[.p/<W>]` (hashes) and
/// `tile/entries/<N>[.p/<W>]` (entry bundles: each entry's 32-byte hash). Public, read
/// only; a full tile never changes and is cached for a year. Outside the OpenAPI
/// document, like `/openapi.json`: its paths are the tlog-tiles spec's.
pub async fn ledger_tile(
    State(s): State<AppState>,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> ApiResult {
    let t = app::transparency::tile(&s, &format!("tile/{path}")).await?;
    let cache = if t.full {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=60"
    };
    let headers = [
        (header::CONTENT_TYPE, "application/octet-stream"),
        (header::CACHE_CONTROL, cache),
    ];
    Ok((headers, t.data).into_response())
}
