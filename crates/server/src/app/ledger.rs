//! Reading and verifying the ledger.

use super::unit::App;
use super::{AppError, Ctx};
use countersign_core::Role;
use countersign_ledger::{
    Entry, LedgerPublicKey, Verifier, VerifyError, VerifyErrorKind, VerifyReport,
};
use countersign_store::{Store, StoreError};

/// How many entries one verification page reads.
const PAGE: u32 = 1000;

/// The roles that may read and verify the ledger.
pub const LEDGER_ROLES: &[Role] = &[Role::Admin, Role::Compliance, Role::Risk];

/// Entries after `after` (default: from the start), at most `limit` (default 100,
/// at most 1000). Role: admin, compliance or risk.
pub async fn page(
    app: &App,
    ctx: &Ctx,
    after: Option<u64>,
    limit: Option<u32>,
) -> Result<Vec<Entry>, AppError> {
    ctx.require_any(LEDGER_ROLES)?;
    let (after, limit) = (after.unwrap_or(0), limit.unwrap_or(100).clamp(1, 1000));
    app.query(move |tx| Box::pin(async move { Ok(tx.ledger_page(after, limit).await?) }))
        .await
}

/// One subject's entries (a release's, by its id), newest first: those before `before`
/// (all when `None`), at most `limit`. A release's history is as readable as the
/// release itself, so any signed-in person may read it; the caller names the subject.
pub async fn for_subject(
    tx: &mut dyn countersign_store::Tx,
    subject: &str,
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<Entry>, AppError> {
    Ok(tx
        .ledger_by_subject(subject, before, limit.clamp(1, 1000))
        .await?)
}

/// The ledger's public key and the verification of the whole chain against it.
/// Role: admin, compliance or risk.
pub async fn verify_for(app: &App, ctx: &Ctx) -> Result<(LedgerPublicKey, Verification), AppError> {
    ctx.require_any(LEDGER_ROLES)?;
    let key = app.store.ledger_public_key();
    let v = verify(&*app.store, &key, |_| {}).await?;
    Ok((key, v))
}

/// The outcome of verifying a whole ledger.
#[derive(Debug)]
pub enum Verification {
    Valid(VerifyReport),
    Invalid(VerifyError),
}

/// Verifies the whole chain and its signed head in one read snapshot, page by page,
/// calling `progress` with the number of entries checked so far.
pub async fn verify(
    store: &dyn Store,
    key: &LedgerPublicKey,
    progress: impl FnMut(u64),
) -> Result<Verification, StoreError> {
    verify_with(store, key, Verifier::new(), progress).await
}

/// [`verify`] with a verifier set up beforehand, e.g. with an earlier checkpoint note
/// the ledger must be a consistent extension of ([`Verifier::with_note`]).
pub async fn verify_with(
    store: &dyn Store,
    key: &LedgerPublicKey,
    mut verifier: Verifier,
    mut progress: impl FnMut(u64),
) -> Result<Verification, StoreError> {
    let mut tx = store.read().await?;
    let head = tx.ledger_head().await?;
    let mut after = 0;
    loop {
        let entries = tx.ledger_page(after, PAGE).await?;
        let Some(last) = entries.last() else { break };
        after = last.seq;
        for e in &entries {
            if let Err(err) = verifier.push(e) {
                return Ok(Verification::Invalid(err));
            }
        }
        progress(after);
    }
    if head.is_none() && after > 0 {
        // Entries without a signed head: the head row was removed (it is written in
        // the same transaction as every append), so the tail is unanchored.
        return Ok(Verification::Invalid(VerifyError {
            seq: after,
            kind: VerifyErrorKind::MissingCheckpoint,
        }));
    }
    Ok(match verifier.finish(head.as_ref().map(|h| (h, key))) {
        Ok(report) => Verification::Valid(report),
        Err(err) => Verification::Invalid(err),
    })
}
