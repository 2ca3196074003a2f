//! Reading and verifying the ledger.

use super::AppError;
use countersign_ledger::{
    Entry, LedgerPublicKey, Verifier, VerifyError, VerifyErrorKind, VerifyReport,
};
use countersign_store::{Store, StoreError};

/// How many entries one verification page reads.
const PAGE: u32 = 1000;

pub async fn page(store: &dyn Store, after: u64, limit: u32) -> Result<Vec<Entry>, AppError> {
    let mut tx = store.read().await?;
    Ok(tx.ledger_page(after, limit.clamp(1, 1000)).await?)
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
    mut progress: impl FnMut(u64),
) -> Result<Verification, StoreError> {
    let mut tx = store.read().await?;
    let head = tx.ledger_head().await?;
    let mut verifier = Verifier::new();
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
