//! Offline verification of a ledger, streaming in seq order.

use std::fmt;

use countersign_core::canonical::Digest;

use crate::{entry_hash, parse_time, Entry, Head, LedgerPublicKey, SignedHead, GENESIS_SEQ};

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
}

impl VerifyErrorKind {
    /// Whether the error is about the signed checkpoint rather than one entry.
    pub fn is_checkpoint(&self) -> bool {
        matches!(self, Self::HeadMismatch { .. } | Self::BadSignature | Self::UnknownKey)
    }
}

impl fmt::Display for VerifyErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SeqGap { expected, found } => {
                write!(f, "expected seq {expected}, found seq {found}")
            }
            Self::PrevHashMismatch => f.write_str("prev_hash does not match the previous entry's hash"),
            Self::PayloadDigestMismatch => f.write_str("payload does not match its payload_digest"),
            Self::HashMismatch => f.write_str("hash does not match its contents"),
            Self::MalformedTime => f.write_str(
                "time is not rfc 3339 utc with exactly 6 fractional digits and a trailing `Z`",
            ),
            Self::HeadMismatch { signed, found: Some(found) } => write!(
                f,
                "the signed checkpoint is seq {} {} but the ledger ends at seq {} {}",
                signed.seq, signed.hash, found.seq, found.hash
            ),
            Self::HeadMismatch { signed, found: None } => write!(
                f,
                "the signed checkpoint is seq {} {} but the ledger is empty",
                signed.seq, signed.hash
            ),
            Self::BadSignature => f.write_str("signature does not verify"),
            Self::UnknownKey => f.write_str("signed by a key other than the one given"),
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
        let place = if self.kind.is_checkpoint() { "checkpoint at seq" } else { "entry" };
        write!(f, "{place} {}: {}", self.seq, self.kind)
    }
}

/// The result of a successful verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// How many entries were checked.
    pub entries: u64,
    /// The head after the last entry (`None` for an empty ledger).
    pub head: Option<Head>,
}

/// Checks a ledger one entry at a time, in seq order, holding only the last head.
///
/// After the first error every further call returns that same error, so a caller that
/// ignores one cannot end with a clean report.
#[derive(Clone, Debug, Default)]
pub struct Verifier {
    last: Option<Head>,
    failed: Option<VerifyError>,
}

impl Verifier {
    /// A verifier at the start of a ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next entry in seq order; returns the error of the first bad entry.
    pub fn push(&mut self, e: &Entry) -> Result<(), VerifyError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match check_entry(self.last.as_ref(), e) {
            Ok(()) => {
                self.last = Some(e.head());
                Ok(())
            }
            Err(err) => {
                self.failed = Some(err.clone());
                Err(err)
            }
        }
    }

    /// The head after the entries pushed so far (`None` before the first).
    pub fn head(&self) -> Option<&Head> {
        self.last.as_ref()
    }

    /// Checks that the entries pushed so far end exactly at a signed checkpoint.
    ///
    /// Call it mid-stream, right after pushing the entry at `signed.seq`, to check an
    /// older checkpoint while going on to verify the entries after it.
    pub fn check_checkpoint(
        &self,
        signed: &SignedHead,
        key: &LedgerPublicKey,
    ) -> Result<(), VerifyError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let claimed = key.verify(signed)?;
        if self.last.as_ref() == Some(&claimed) {
            Ok(())
        } else {
            Err(VerifyError {
                seq: claimed.seq,
                kind: VerifyErrorKind::HeadMismatch { signed: claimed, found: self.last.clone() },
            })
        }
    }

    /// Ends verification after the last entry. Given a signed checkpoint, also checks the
    /// ledger ends exactly there (which detects a cut-off tail, appended entries and a
    /// forged checkpoint).
    pub fn finish(
        self,
        head: Option<(&SignedHead, &LedgerPublicKey)>,
    ) -> Result<VerifyReport, VerifyError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        if let Some((signed, key)) = head {
            self.check_checkpoint(signed, key)?;
        }
        let entries = self.last.as_ref().map_or(0, |h| h.seq);
        Ok(VerifyReport { entries, head: self.last })
    }
}

/// Verifies a whole ledger held in memory (see [`Verifier`] for the streaming form).
pub fn verify_all(
    entries: &[Entry],
    head: Option<(&SignedHead, &LedgerPublicKey)>,
) -> Result<VerifyReport, VerifyError> {
    let mut verifier = Verifier::new();
    for e in entries {
        verifier.push(e)?;
    }
    verifier.finish(head)
}

/// Checks one entry against the head before it.
fn check_entry(last: Option<&Head>, e: &Entry) -> Result<(), VerifyError> {
    // INVARIANT: seqs run 1, 2, 3, ... so `last.seq` counts the entries pushed and can
    // never reach u64::MAX; the saturation is unreachable.
    let (expected_seq, expected_prev) = match last {
        None => (GENESIS_SEQ, Digest::zero()),
        Some(h) => (h.seq.saturating_add(1), h.hash.clone()),
    };
    let fail = |kind| VerifyError { seq: e.seq, kind };
    if e.seq != expected_seq {
        return Err(VerifyError {
            seq: expected_seq,
            kind: VerifyErrorKind::SeqGap { expected: expected_seq, found: e.seq },
        });
    }
    if e.prev_hash != expected_prev {
        return Err(fail(VerifyErrorKind::PrevHashMismatch));
    }
    // A `Value` always has a canonical encoding; if it somehow had none, it has no
    // digest to match, which is the same failure.
    if Digest::of_canonical(&e.payload).ok().as_ref() != Some(&e.payload_digest) {
        return Err(fail(VerifyErrorKind::PayloadDigestMismatch));
    }
    let hash =
        entry_hash(e.seq, &e.at, &e.actor, &e.action, &e.subject, &e.payload_digest, &e.prev_hash);
    if hash != e.hash {
        return Err(fail(VerifyErrorKind::HashMismatch));
    }
    if parse_time(&e.at).is_err() {
        return Err(fail(VerifyErrorKind::MalformedTime));
    }
    Ok(())
}
