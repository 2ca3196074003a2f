//! Why a ledger does not verify, and where: a leaf the checkpoint and the verifier
//! both name.

use crate::{Head, NoteError};
use std::fmt;

/// What is wrong at the place a [`VerifyError`] points to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyErrorKind {
    /// The entry's seq is not one more than the previous entry's (or 1 for the first):
    /// an entry was deleted, inserted, reordered or renumbered.
    SeqGap { expected: u64, found: u64 },
    /// The entry's `prev_hash` is not the previous entry's `hash` (or zero for the first).
    PrevHashMismatch,
    /// The entry's `payload_digest` is not the canonical digest of its `payload`.
    PayloadDigestMismatch,
    /// The entry's `hash` is not the hash of its fields.
    HashMismatch,
    /// The entry's `at` is not in the form [`crate::format_time`] writes.
    MalformedTime,
    /// The ledger does not end at the signed checkpoint: its tail was cut off, entries
    /// were appended or rewritten, or the checkpoint is forged.
    HeadMismatch { signed: Head, found: Option<Head> },
    /// The checkpoint signature is malformed or does not verify with the given key.
    BadSignature,
    /// The checkpoint names a key other than the one given to verify it.
    UnknownKey,
    /// The ledger has entries but no signed checkpoint to anchor them: the checkpoint
    /// was removed, so a cut-off tail could not be detected.
    MissingCheckpoint,
    /// An earlier checkpoint note is malformed or not validly signed by the log key.
    CheckpointNote(NoteError),
    /// The Merkle root over the first `size` entries is not the one an earlier
    /// checkpoint of that size signed: the log was rewritten or forked since.
    CheckpointRootMismatch { size: u64 },
    /// The ledger has fewer entries than an earlier checkpoint: it was rolled back or
    /// its tail was cut off.
    ShorterThanCheckpoint { size: u64, found: u64 },
    /// A checkpoint was given to the verifier after it had passed the checkpoint's size.
    CheckpointPassed { size: u64, pushed: u64 },
}

impl VerifyErrorKind {
    /// Whether the error is about the signed checkpoint rather than one entry.
    pub fn is_checkpoint(&self) -> bool {
        matches!(
            self,
            Self::HeadMismatch { .. }
                | Self::BadSignature
                | Self::UnknownKey
                | Self::MissingCheckpoint
                | Self::CheckpointNote(_)
                | Self::CheckpointRootMismatch { .. }
                | Self::ShorterThanCheckpoint { .. }
                | Self::CheckpointPassed { .. }
        )
    }
}

impl fmt::Display for VerifyErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SeqGap { expected, found } => {
                write!(f, "expected seq {expected}, found seq {found}")
            }
            Self::PrevHashMismatch => {
                f.write_str("prev_hash does not match the previous entry's hash")
            }
            Self::PayloadDigestMismatch => f.write_str("payload does not match its payload_digest"),
            Self::HashMismatch => f.write_str("hash does not match its contents"),
            Self::MalformedTime => f.write_str(
                "time is not rfc 3339 utc with exactly 6 fractional digits and a trailing `Z`",
            ),
            Self::HeadMismatch {
                signed,
                found: Some(found),
            } => write!(
                f,
                "the signed checkpoint is seq {} {} but the ledger ends at seq {} {}",
                signed.seq, signed.hash, found.seq, found.hash
            ),
            Self::HeadMismatch {
                signed,
                found: None,
            } => write!(
                f,
                "the signed checkpoint is seq {} {} but the ledger is empty",
                signed.seq, signed.hash
            ),
            Self::BadSignature => f.write_str("signature does not verify"),
            Self::UnknownKey => f.write_str("signed by a key other than the one given"),
            Self::MissingCheckpoint => {
                f.write_str("the ledger has entries but no signed checkpoint")
            }
            Self::CheckpointNote(err) => write!(f, "the checkpoint note does not verify: {err}"),
            Self::CheckpointRootMismatch { size } => write!(
                f,
                "the merkle root of the first {size} entries is not the checkpoint's: \
                 the log is not a consistent extension of it"
            ),
            Self::ShorterThanCheckpoint { size, found } => write!(
                f,
                "the ledger has {found} entries, fewer than the checkpoint's {size}: \
                 rolled back or truncated"
            ),
            Self::CheckpointPassed { size, pushed } => write!(
                f,
                "the checkpoint of size {size} was given after {pushed} entries were checked"
            ),
        }
    }
}

/// Verification failed; `seq` is where: the first bad entry's seq (for a gap, the seq
/// that was expected there), or the signed checkpoint's seq for checkpoint errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct VerifyError {
    pub seq: u64,
    pub kind: VerifyErrorKind,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = if self.kind.is_checkpoint() {
            "checkpoint at seq"
        } else {
            "entry"
        };
        write!(f, "{place} {}: {}", self.seq, self.kind)
    }
}
