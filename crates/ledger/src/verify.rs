//! Offline verification of a ledger, streaming in seq order.

use countersign_core::canonical::Digest;

use crate::{
    entry_hash, parse_time, Entry, Head, LedgerPublicKey, SignedHead, VerifyError, VerifyErrorKind,
    GENESIS_SEQ,
};

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
                kind: VerifyErrorKind::HeadMismatch {
                    signed: claimed,
                    found: self.last.clone(),
                },
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
        Ok(VerifyReport {
            entries,
            head: self.last,
        })
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
            kind: VerifyErrorKind::SeqGap {
                expected: expected_seq,
                found: e.seq,
            },
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
    let hash = entry_hash(
        e.seq,
        &e.at,
        &e.actor,
        &e.action,
        &e.subject,
        &e.payload_digest,
        &e.prev_hash,
    );
    if hash != e.hash {
        return Err(fail(VerifyErrorKind::HashMismatch));
    }
    if parse_time(&e.at).is_err() {
        return Err(fail(VerifyErrorKind::MalformedTime));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ledger;
    use crate::{chain_next, EntryDraft, LedgerKey};
    use serde_json::json;

    fn key() -> LedgerKey {
        LedgerKey::from_bytes(&[7; 32])
    }

    /// The ledger, its signed head, and the public key.
    fn signed_ledger(n: u32) -> (Vec<Entry>, SignedHead, LedgerPublicKey) {
        let entries = ledger(n);
        let signed = key().sign_head(&entries[entries.len() - 1].head());
        (entries, signed, key().public())
    }

    fn verify(entries: &[Entry], signed: &SignedHead, public: &LedgerPublicKey) -> VerifyError {
        verify_all(entries, Some((signed, public))).unwrap_err()
    }

    fn err(seq: u64, kind: VerifyErrorKind) -> VerifyError {
        VerifyError { seq, kind }
    }

    /// Rebuilds the chain fields of `entries[from..]` so the chain is locally consistent.
    fn rechain(entries: &mut [Entry], from: usize) {
        for i in from..entries.len() {
            let prev = if i == 0 {
                None
            } else {
                Some(entries[i - 1].head())
            };
            let e = &entries[i];
            let draft = EntryDraft {
                at: parse_time(&e.at).unwrap(),
                actor: e.actor.clone(),
                action: e.action.clone(),
                subject: e.subject.clone(),
                payload: e.payload.clone(),
            };
            entries[i] = chain_next(prev.as_ref(), draft).unwrap();
        }
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (entries, signed, public) = signed_ledger(6);
        let report = verify_all(&entries, Some((&signed, &public))).unwrap();
        assert_eq!(
            report,
            VerifyReport {
                entries: 6,
                head: Some(entries[5].head())
            }
        );
        assert_eq!(verify_all(&entries, None).unwrap(), report);
    }

    #[test]
    fn an_intact_chain_verifies_after_a_json_round_trip() {
        let mut entries = ledger(3);
        entries.push(
            chain_next(
                Some(&entries[2].head()),
                EntryDraft {
                    at: parse_time(&entries[2].at).unwrap(),
                    actor: "user:é".into(),
                    action: "x".into(),
                    subject: "y".into(),
                    payload: json!({"f": 0.1, "g": -1.5e300, "z": [null, true, "\u{0}"]}),
                },
            )
            .unwrap(),
        );
        let json = serde_json::to_string(&entries).unwrap();
        let back: Vec<Entry> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, entries);
        verify_all(&back, None).unwrap();
    }

    #[test]
    fn an_empty_ledger_verifies_only_without_a_checkpoint() {
        assert_eq!(
            verify_all(&[], None).unwrap(),
            VerifyReport {
                entries: 0,
                head: None
            }
        );
        let (_, signed, public) = signed_ledger(1);
        assert_eq!(
            verify(&[], &signed, &public),
            err(
                1,
                VerifyErrorKind::HeadMismatch {
                    signed: signed.head(),
                    found: None
                }
            )
        );
    }

    #[test]
    fn edited_fields_are_caught_at_their_entry() {
        let (entries, signed, public) = signed_ledger(5);
        type Edit = fn(&mut Entry);
        let cases: [(Edit, VerifyErrorKind); 9] = [
            (|e| e.actor.push('x'), VerifyErrorKind::HashMismatch),
            (
                |e| e.action = "model.delete".into(),
                VerifyErrorKind::HashMismatch,
            ),
            (|e| e.subject.clear(), VerifyErrorKind::HashMismatch),
            (
                |e| e.at = "2030-01-01T00:00:00.000000Z".into(),
                VerifyErrorKind::HashMismatch,
            ),
            (
                |e| e.payload = json!({"i": 99}),
                VerifyErrorKind::PayloadDigestMismatch,
            ),
            (
                |e| e.payload_digest = Digest::of(b"x"),
                VerifyErrorKind::PayloadDigestMismatch,
            ),
            (
                |e| e.prev_hash = Digest::of(b"x"),
                VerifyErrorKind::PrevHashMismatch,
            ),
            (|e| e.hash = Digest::of(b"x"), VerifyErrorKind::HashMismatch),
            (
                |e| e.seq = 9,
                VerifyErrorKind::SeqGap {
                    expected: 3,
                    found: 9,
                },
            ),
        ];
        for (edit, kind) in cases {
            let mut tampered = entries.clone();
            edit(&mut tampered[2]);
            assert_eq!(verify(&tampered, &signed, &public), err(3, kind));
        }
    }

    #[test]
    fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
        let (entries, signed, public) = signed_ledger(5);
        let mut tampered = entries;
        let e = &mut tampered[1];
        e.payload = json!({"approved": true});
        e.payload_digest = Digest::of_canonical(&e.payload).unwrap();
        e.hash = entry_hash(
            e.seq,
            &e.at,
            &e.actor,
            &e.action,
            &e.subject,
            &e.payload_digest,
            &e.prev_hash,
        );
        assert_eq!(
            verify(&tampered, &signed, &public),
            err(3, VerifyErrorKind::PrevHashMismatch)
        );
    }

    #[test]
    fn a_rewritten_chain_is_caught_by_the_checkpoint() {
        let (entries, signed, public) = signed_ledger(5);
        let mut tampered = entries;
        tampered[1].actor = "user:mallory".into();
        rechain(&mut tampered, 1);
        // Locally consistent: only the signed head shows the rewrite.
        verify_all(&tampered, None).unwrap();
        assert_eq!(
            verify(&tampered, &signed, &public),
            err(
                5,
                VerifyErrorKind::HeadMismatch {
                    signed: signed.head(),
                    found: Some(tampered[4].head())
                }
            )
        );
    }

    #[test]
    fn a_malformed_time_is_caught_even_when_rehashed() {
        let (entries, _, _) = signed_ledger(3);
        let mut tampered = entries;
        tampered[2].at = "2026-11-25T03:04:05Z".into();
        let e = &tampered[2];
        tampered[2].hash = entry_hash(
            e.seq,
            &e.at,
            &e.actor,
            &e.action,
            &e.subject,
            &e.payload_digest,
            &e.prev_hash,
        );
        assert_eq!(
            verify_all(&tampered, None).unwrap_err(),
            err(3, VerifyErrorKind::MalformedTime)
        );
    }

    #[test]
    fn deletions_are_caught() {
        let (entries, signed, public) = signed_ledger(5);
        let mut no_first = entries.clone();
        no_first.remove(0);
        assert_eq!(
            verify(&no_first, &signed, &public),
            err(
                1,
                VerifyErrorKind::SeqGap {
                    expected: 1,
                    found: 2
                }
            )
        );
        let mut no_middle = entries.clone();
        no_middle.remove(2);
        assert_eq!(
            verify(&no_middle, &signed, &public),
            err(
                3,
                VerifyErrorKind::SeqGap {
                    expected: 3,
                    found: 4
                }
            )
        );
    }

    #[test]
    fn truncating_the_tail_is_caught_by_the_checkpoint() {
        let (entries, signed, public) = signed_ledger(5);
        let truncated = &entries[..3];
        verify_all(truncated, None).unwrap();
        let e = verify(truncated, &signed, &public);
        assert_eq!(
            e,
            err(
                5,
                VerifyErrorKind::HeadMismatch {
                    signed: signed.head(),
                    found: Some(entries[2].head())
                }
            )
        );
        assert_eq!(
            e.to_string(),
            format!(
                "checkpoint at seq 5: the signed checkpoint is seq 5 {} but the ledger ends at seq 3 {}",
                entries[4].hash, entries[2].hash
            )
        );
    }

    #[test]
    fn appending_past_the_checkpoint_is_caught() {
        let (mut entries, signed, public) = signed_ledger(3);
        let extra = chain_next(Some(&entries[2].head()), crate::test_support::draft(9)).unwrap();
        entries.push(extra);
        assert!(matches!(
            verify(&entries, &signed, &public).kind,
            VerifyErrorKind::HeadMismatch { .. }
        ));
    }

    #[test]
    fn insertions_and_swaps_are_caught() {
        let (entries, signed, public) = signed_ledger(5);
        let forged = chain_next(Some(&entries[1].head()), crate::test_support::draft(7)).unwrap();
        let mut inserted = entries.clone();
        inserted.insert(2, forged);
        assert_eq!(
            verify(&inserted, &signed, &public),
            err(
                4,
                VerifyErrorKind::SeqGap {
                    expected: 4,
                    found: 3
                }
            )
        );
        let mut swapped = entries.clone();
        swapped.swap(1, 3);
        assert_eq!(
            verify(&swapped, &signed, &public),
            err(
                2,
                VerifyErrorKind::SeqGap {
                    expected: 2,
                    found: 4
                }
            )
        );
    }

    #[test]
    fn a_forged_head_with_another_key_fails() {
        let (entries, _, public) = signed_ledger(5);
        let truncated = &entries[..3];
        let forger = LedgerKey::from_bytes(&[9; 32]);
        let forged = forger.sign_head(&truncated[2].head());
        assert_eq!(
            verify(truncated, &forged, &public),
            err(3, VerifyErrorKind::UnknownKey)
        );
        let mut disguised = forged;
        disguised.key_id = public.key_id();
        let e = verify(truncated, &disguised, &public);
        assert_eq!(e, err(3, VerifyErrorKind::BadSignature));
        assert_eq!(
            e.to_string(),
            "checkpoint at seq 3: signature does not verify"
        );
    }

    #[test]
    fn messages_name_the_entry() {
        let (mut entries, signed, public) = signed_ledger(20);
        entries[16].actor = "user:mallory".into();
        assert_eq!(
            verify(&entries, &signed, &public).to_string(),
            "entry 17: hash does not match its contents"
        );
        entries.remove(3);
        assert_eq!(
            verify_all(&entries, None).unwrap_err().to_string(),
            "entry 4: expected seq 4, found seq 5"
        );
    }

    #[test]
    fn streaming_stops_at_the_first_error_and_stays_failed() {
        let (entries, signed, public) = signed_ledger(4);
        let mut v = Verifier::new();
        v.push(&entries[0]).unwrap();
        let first = v.push(&entries[2]).unwrap_err();
        assert_eq!(
            first,
            err(
                2,
                VerifyErrorKind::SeqGap {
                    expected: 2,
                    found: 3
                }
            )
        );
        // The right entry now cannot clear the failure.
        assert_eq!(v.push(&entries[1]).unwrap_err(), first);
        assert_eq!(v.check_checkpoint(&signed, &public).unwrap_err(), first);
        assert_eq!(v.finish(Some((&signed, &public))).unwrap_err(), first);
    }

    #[test]
    fn an_older_checkpoint_can_be_checked_mid_stream() {
        let entries = ledger(6);
        let old = key().sign_head(&entries[2].head());
        let mut v = Verifier::new();
        for e in &entries[..3] {
            v.push(e).unwrap();
        }
        v.check_checkpoint(&old, &key().public()).unwrap();
        for e in &entries[3..] {
            v.push(e).unwrap();
        }
        assert_eq!(v.head(), Some(&entries[5].head()));
        let report = v.finish(None).unwrap();
        assert_eq!(report.entries, 6);
    }
}
