//! `Idempotency-Key` (I12), for humans' commands and agents' decisions alike: a retry
//! with the same key and the same request is answered with the first answer and writes
//! nothing; the same key with another request is refused.
//!
//! Both checks run inside the write transaction, under the write lock, so two
//! concurrent retries cannot both write.

use super::AppError;
use chrono::{DateTime, Utc};
use countersign_core::problem::ProblemCode;
use countersign_core::UserId;
use countersign_store::prelude::*;
use countersign_store::records::IdempotencyRecord;

/// A request's key and the fingerprint of the request it came with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    pub request_hash: String,
}

/// The first answer recorded for this key, if the request was seen before. The same
/// key with a different request is refused (422 `idempotency-key-reused`).
pub async fn replay(
    tx: &mut dyn Tx,
    actor: &UserId,
    idem: &Idempotency,
) -> Result<Option<IdempotencyRecord>, AppError> {
    match tx.get_idempotency(actor, &idem.key).await? {
        Some(prev) if prev.request_hash != idem.request_hash => Err(AppError::invalid(
            ProblemCode::IdempotencyKeyReused,
            "this Idempotency-Key was used for a different request",
        )),
        prev => Ok(prev),
    }
}

/// Records the answer given for this key, in the command's transaction.
pub async fn remember(
    tx: &mut dyn Tx,
    actor: &UserId,
    idem: Idempotency,
    status: u16,
    body: String,
    at: DateTime<Utc>,
) -> Result<(), AppError> {
    tx.put_idempotency(&IdempotencyRecord {
        actor: actor.clone(),
        key: idem.key,
        request_hash: idem.request_hash,
        status,
        body,
        created_at: at,
    })
    .await?;
    Ok(())
}
