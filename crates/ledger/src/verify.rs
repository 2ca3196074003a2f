//! Offline verification of a ledger, streaming in seq order: the hash chain, the
//! Merkle tree over it, and checkpoints (signed heads and C2SP checkpoint notes).

use chrono::NaiveDate;
use countersign_core::canonical::{to_canonical_json, Digest};
use sha2::{Digest as _, Sha256};

use crate::entry::ENTRY_DOMAIN;
use crate::merkle::{leaf_hash, Hash, Tree};
use crate::{
    open_checkpoint, parse_time, Checkpoint, Entry, Head, LedgerPublicKey, NoteVerifierKey,
    SignedHead, SignedNote, VerifyError, VerifyErrorKind, GENESIS_SEQ,
};

/// The result of a successful verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// How many entries were checked.
    pub entries: u64,
    /// The head after the last entry (`None` for an empty ledger).
    pub head: Option<Head>,
    /// The Merkle tree root over all the entries (see the crate docs, "Merkle tree").
    pub root: Hash,
}

/// One entry as stored, borrowed: the form [`Verifier::push_raw`] checks without
/// allocating. `payload_json` is the payload's stored JSON text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawEntry<'a> {
    pub seq: u64,
    pub at: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    /// The payload as its stored JSON text (canonical when the store wrote it).
    pub payload_json: &'a str,
    pub payload_digest: &'a str,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

/// The payload of an entry being checked.
#[derive(Clone, Copy)]
enum Payload<'a> {
    Value(&'a serde_json::Value),
    Json(&'a str),
}

/// One entry's fields as the checks read them, borrowed from an [`Entry`] or a
/// [`RawEntry`].
struct Fields<'a> {
    seq: u64,
    at: &'a str,
    actor: &'a str,
    action: &'a str,
    subject: &'a str,
    payload: Payload<'a>,
    payload_digest: &'a str,
    prev_hash: &'a str,
    hash: &'a str,
}

/// Checks a ledger one entry at a time, in seq order, holding only the last head and
/// the Merkle tree's frontier (O(log n) hashes).
///
/// After the first error every further call returns that same error, so a caller that
/// ignores one cannot end with a clean report.
#[derive(Clone, Debug)]
pub struct Verifier {
    /// The last seq pushed (0 before the first entry): the tree size.
    seq: u64,
    /// The last entry's hash, raw (all zero before the first entry, as `prev_hash` is).
    last_hash: Hash,
    /// The same in lowercase hex, what the next entry's `prev_hash` must end with.
    last_hex: [u8; 64],
    tree: Tree,
    /// Earlier checkpoints still to be reached, largest size first.
    pending: Vec<Checkpoint>,
    failed: Option<VerifyError>,
    /// Reused for serializing `Value` payloads.
    scratch: Vec<u8>,
    /// Reused for entry-hash preimages.
    preimage: Vec<u8>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            seq: 0,
            last_hash: [0; 32],
            last_hex: [b'0'; 64],
            tree: Tree::new(),
            pending: Vec::new(),
            failed: None,
            scratch: Vec::new(),
            preimage: Vec::new(),
        }
    }
}

impl Verifier {
    /// A verifier at the start of a ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also checks the ledger against an earlier checkpoint note signed by the log key:
    /// the ledger must reach its size and have its root there, or it was rolled back,
    /// truncated, rewritten or forked. The root is compared when the stream reaches the
    /// size, so memory stays O(log n).
    pub fn with_note(
        self,
        note: &SignedNote,
        log_key: &NoteVerifierKey,
    ) -> Result<Self, VerifyError> {
        let checkpoint = open_checkpoint(note, log_key).map_err(|source| VerifyError {
            seq: 0,
            kind: VerifyErrorKind::CheckpointNote(source),
        })?;
        self.with_checkpoint(checkpoint)
    }

    /// [`Verifier::with_note`] for a checkpoint whose signature was already checked.
    /// Call it before pushing the entry at the checkpoint's size.
    pub fn with_checkpoint(mut self, checkpoint: Checkpoint) -> Result<Self, VerifyError> {
        if checkpoint.size < self.seq {
            return Err(VerifyError {
                seq: checkpoint.size,
                kind: VerifyErrorKind::CheckpointPassed {
                    size: checkpoint.size,
                    pushed: self.seq,
                },
            });
        }
        if checkpoint.size == self.seq {
            self.check_root(&checkpoint)?;
            return Ok(self);
        }
        self.pending.push(checkpoint);
        self.pending.sort_by_key(|c| std::cmp::Reverse(c.size));
        Ok(self)
    }

    /// Checks the next entry in seq order; returns the error of the first bad entry.
    pub fn push(&mut self, e: &Entry) -> Result<(), VerifyError> {
        self.check(Fields {
            seq: e.seq,
            at: &e.at,
            actor: &e.actor,
            action: &e.action,
            subject: &e.subject,
            payload: Payload::Value(&e.payload),
            payload_digest: e.payload_digest.as_str(),
            prev_hash: e.prev_hash.as_str(),
            hash: e.hash.as_str(),
        })
    }

    /// [`Verifier::push`] for an entry read as borrowed text, without allocating when
    /// the stored payload text is the one its digest was computed over.
    pub fn push_raw(&mut self, e: &RawEntry<'_>) -> Result<(), VerifyError> {
        self.check(Fields {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            payload: Payload::Json(e.payload_json),
            payload_digest: e.payload_digest,
            prev_hash: e.prev_hash,
            hash: e.hash,
        })
    }

    fn check(&mut self, f: Fields<'_>) -> Result<(), VerifyError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let seq = f.seq;
        match self.check_entry(f) {
            Ok((hash, hex)) => {
                self.seq = seq;
                self.last_hash = hash;
                self.last_hex = hex;
                self.tree.push(leaf_hash(&hash));
                self.reach_checkpoints()
            }
            Err(err) => {
                self.failed = Some(err.clone());
                Err(err)
            }
        }
    }

    /// Checks one entry against the state before it; returns its hash, raw and in hex.
    fn check_entry(&mut self, f: Fields<'_>) -> Result<(Hash, [u8; 64]), VerifyError> {
        let Fields {
            seq,
            at,
            actor,
            action,
            subject,
            payload,
            payload_digest,
            prev_hash,
            hash,
        } = f;
        // INVARIANT: seqs run 1, 2, 3, ... so `self.seq` counts the entries pushed and
        // can never reach u64::MAX; the saturation is unreachable.
        let expected_seq = if self.seq == 0 {
            GENESIS_SEQ
        } else {
            self.seq.saturating_add(1)
        };
        let fail = |kind| VerifyError { seq, kind };
        if seq != expected_seq {
            return Err(VerifyError {
                seq: expected_seq,
                kind: VerifyErrorKind::SeqGap {
                    expected: expected_seq,
                    found: seq,
                },
            });
        }
        // Digests are compared as text (`sha256:` + lowercase hex), so a digest in any
        // other spelling does not match, as with the `Digest` type.
        if !digest_text_is(prev_hash, &self.last_hex) {
            return Err(fail(VerifyErrorKind::PrevHashMismatch));
        }
        if !self.payload_matches(payload, payload_digest) {
            return Err(fail(VerifyErrorKind::PayloadDigestMismatch));
        }
        let computed = raw_entry_hash(
            &mut self.preimage,
            seq,
            at,
            actor,
            action,
            subject,
            payload_digest,
            prev_hash,
        );
        let hex = lower_hex(&computed);
        if !digest_text_is(hash, &hex) {
            return Err(fail(VerifyErrorKind::HashMismatch));
        }
        if !time_is_valid(at) {
            return Err(fail(VerifyErrorKind::MalformedTime));
        }
        Ok((computed, hex))
    }

    /// Whether `want` is the digest of the payload's canonical JSON.
    ///
    /// Fast path: the SHA-256 of the stored text (or of the value serialized as it is
    /// held), which is the canonical digest when the text is canonical, as the store
    /// writes it. Only when that differs is the payload canonicalized and hashed.
    fn payload_matches(&mut self, payload: Payload<'_>, want: &str) -> bool {
        let fast: Hash = match payload {
            Payload::Json(text) => Sha256::digest(text.as_bytes()).into(),
            Payload::Value(v) => {
                self.scratch.clear();
                if serde_json::to_writer(&mut self.scratch, v).is_err() {
                    return false;
                }
                Sha256::digest(&self.scratch).into()
            }
        };
        if digest_text_is(want, &lower_hex(&fast)) {
            return true;
        }
        let canonical = match payload {
            Payload::Json(text) => serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| to_canonical_json(&v).ok()),
            Payload::Value(v) => to_canonical_json(v).ok(),
        };
        // A payload with no canonical encoding has no digest to match.
        canonical.is_some_and(|c| digest_text_is(want, &lower_hex(&Sha256::digest(&c).into())))
    }

    /// Compares the root with every pending checkpoint of the current size.
    fn reach_checkpoints(&mut self) -> Result<(), VerifyError> {
        while self.pending.last().is_some_and(|c| c.size == self.seq) {
            if let Some(cp) = self.pending.pop() {
                if let Err(err) = self.check_root(&cp) {
                    self.failed = Some(err.clone());
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    fn check_root(&self, cp: &Checkpoint) -> Result<(), VerifyError> {
        if self.tree.root() == cp.root {
            Ok(())
        } else {
            Err(VerifyError {
                seq: cp.size,
                kind: VerifyErrorKind::CheckpointRootMismatch { size: cp.size },
            })
        }
    }

    /// The head after the entries pushed so far (`None` before the first).
    pub fn head(&self) -> Option<Head> {
        (self.seq > 0).then(|| self.current_head())
    }

    fn current_head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: digest_of_bytes(&self.last_hash),
        }
    }

    /// The Merkle tree's size: the number of entries pushed.
    pub fn size(&self) -> u64 {
        self.seq
    }

    /// The Merkle root over the entries pushed so far.
    pub fn root(&self) -> Hash {
        self.tree.root()
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
        let found = self.head();
        if found.as_ref() == Some(&claimed) {
            Ok(())
        } else {
            Err(VerifyError {
                seq: claimed.seq,
                kind: VerifyErrorKind::HeadMismatch {
                    signed: claimed,
                    found,
                },
            })
        }
    }

    /// Ends verification after the last entry. Given a signed checkpoint, also checks the
    /// ledger ends exactly there (which detects a cut-off tail, appended entries and a
    /// forged checkpoint). A checkpoint given to [`Verifier::with_note`] that the ledger
    /// never reached means it was rolled back or truncated.
    pub fn finish(
        self,
        head: Option<(&SignedHead, &LedgerPublicKey)>,
    ) -> Result<VerifyReport, VerifyError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        if let Some(cp) = self.pending.first() {
            return Err(VerifyError {
                seq: cp.size,
                kind: VerifyErrorKind::ShorterThanCheckpoint {
                    size: cp.size,
                    found: self.seq,
                },
            });
        }
        if let Some((signed, key)) = head {
            self.check_checkpoint(signed, key)?;
        }
        Ok(VerifyReport {
            entries: self.seq,
            head: self.head(),
            root: self.tree.root(),
        })
    }
}

/// Whether `digest` is `sha256:` followed by exactly these 64 hex characters.
fn digest_text_is(digest: &str, hex: &[u8; 64]) -> bool {
    digest.len() == 71 && digest.as_bytes()[..7] == *b"sha256:" && digest.as_bytes()[7..] == *hex
}

/// 32 bytes in lowercase hex.
fn lower_hex(h: &Hash) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in h.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
    }
    out
}

/// The digest string of 32 raw bytes.
fn digest_of_bytes(h: &Hash) -> Digest {
    if h == &[0u8; 32] {
        return Digest::zero();
    }
    // INVARIANT: the string is `sha256:` and 64 lowercase hex characters.
    format!("sha256:{}", hex::encode(h))
        .parse()
        .unwrap_or_else(|_| Digest::zero())
}

/// [`crate::entry_hash`] as raw bytes, building the preimage in a reused buffer and
/// hashing it in one call (many small hasher updates cost more than the copy).
#[allow(clippy::too_many_arguments)]
fn raw_entry_hash(
    buf: &mut Vec<u8>,
    seq: u64,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    payload_digest: &str,
    prev_hash: &str,
) -> Hash {
    let mut digits = [0u8; 20];
    let seq = decimal(seq, &mut digits);
    buf.clear();
    buf.extend_from_slice(ENTRY_DOMAIN);
    for field in [
        seq,
        at.as_bytes(),
        actor.as_bytes(),
        action.as_bytes(),
        subject.as_bytes(),
        payload_digest.as_bytes(),
        prev_hash.as_bytes(),
    ] {
        buf.extend_from_slice(&(field.len() as u64).to_be_bytes());
        buf.extend_from_slice(field);
    }
    Sha256::digest(buf.as_slice()).into()
}

/// `n` in decimal ASCII, written at the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Whether `at` is in the form [`crate::format_time`] writes: a fast exact check of
/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` with a real date and time, and [`parse_time`] for
/// anything it does not accept (such as a leap second).
fn time_is_valid(at: &str) -> bool {
    fast_time(at.as_bytes()) || parse_time(at).is_ok()
}

fn fast_time(b: &[u8]) -> bool {
    const SHAPE: &[u8; 27] = b"dddd-dd-ddTdd:dd:dd.ddddddZ";
    if b.len() != SHAPE.len() {
        return false;
    }
    let shape_ok = b.iter().zip(SHAPE).all(|(c, s)| match s {
        b'd' => c.is_ascii_digit(),
        _ => c == s,
    });
    if !shape_ok {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    let (hour, minute, second) = (num(11..13), num(14..16), num(17..19));
    hour < 24
        && minute < 60
        && second < 60
        && i32::try_from(year)
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, month, day))
            .is_some()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ledger;
    use crate::{
        chain_next, entry_hash, entry_leaf_hash, sign_checkpoint, EntryDraft, LedgerKey,
        MemoryTree, NoteError,
    };
    use serde_json::json;

    fn tree_of(entries: &[Entry]) -> MemoryTree {
        MemoryTree::from_leaves(entries.iter().map(|e| entry_leaf_hash(&e.hash).unwrap()))
    }

    /// The stored form of an entry: canonical payload text, as the store writes it.
    fn stored(e: &Entry) -> (Entry, String) {
        let text = String::from_utf8(to_canonical_json(&e.payload).unwrap()).unwrap();
        (e.clone(), text)
    }

    fn raw<'a>(e: &'a Entry, payload_json: &'a str) -> RawEntry<'a> {
        RawEntry {
            seq: e.seq,
            at: &e.at,
            actor: &e.actor,
            action: &e.action,
            subject: &e.subject,
            payload_json,
            payload_digest: e.payload_digest.as_str(),
            prev_hash: e.prev_hash.as_str(),
            hash: e.hash.as_str(),
        }
    }

    /// The first error (or report) of verifying entries through `push_raw`.
    fn verify_raw(rows: &[(Entry, String)]) -> Result<VerifyReport, VerifyError> {
        let mut v = Verifier::new();
        for (e, text) in rows {
            v.push_raw(&raw(e, text))?;
        }
        v.finish(None)
    }

    const ORIGIN: &str = "countersign.example/ledger";

    fn note_key() -> NoteVerifierKey {
        NoteVerifierKey::ed25519(ORIGIN, &key().public()).unwrap()
    }

    /// A checkpoint note over the first `size` entries.
    fn note_at(entries: &[Entry], size: usize) -> SignedNote {
        let t = tree_of(&entries[..size]);
        sign_checkpoint(&Checkpoint::new(ORIGIN, t.size(), t.root()), ORIGIN, &key()).unwrap()
    }

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
                head: Some(entries[5].head()),
                root: tree_of(&entries).root(),
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
                head: None,
                root: crate::EMPTY_ROOT,
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
        assert_eq!(v.head(), Some(entries[5].head()));
        let report = v.finish(None).unwrap();
        assert_eq!(report.entries, 6);
    }

    #[test]
    fn the_raw_path_agrees_with_the_entry_path() {
        let entries = ledger(9);
        let rows: Vec<(Entry, String)> = entries.iter().map(stored).collect();
        assert_eq!(
            verify_raw(&rows).unwrap(),
            verify_all(&entries, None).unwrap()
        );
        // Stored text that is not canonical (reordered keys, spaces) still verifies
        // through the canonicalizing fallback.
        let mut loose = rows.clone();
        loose[3].1 = format!(" {{ \"tags\" : [\"a\",\"b\"], \"i\": {} }} ", 3);
        assert_eq!(verify_raw(&loose).unwrap().entries, 9);
    }

    #[test]
    fn the_raw_path_names_the_same_errors() {
        let entries = ledger(5);
        let rows: Vec<(Entry, String)> = entries.iter().map(stored).collect();
        type Edit = fn(&mut (Entry, String));
        let cases: [(Edit, VerifyErrorKind); 8] = [
            (|r| r.0.actor.push('x'), VerifyErrorKind::HashMismatch),
            (
                |r| r.1 = r#"{"i":99}"#.into(),
                VerifyErrorKind::PayloadDigestMismatch,
            ),
            (
                |r| r.1 = "not json".into(),
                VerifyErrorKind::PayloadDigestMismatch,
            ),
            (
                |r| r.0.payload_digest = Digest::of(b"x"),
                VerifyErrorKind::PayloadDigestMismatch,
            ),
            (
                |r| r.0.prev_hash = Digest::of(b"x"),
                VerifyErrorKind::PrevHashMismatch,
            ),
            (
                |r| r.0.hash = Digest::of(b"x"),
                VerifyErrorKind::HashMismatch,
            ),
            (
                |r| r.0.seq = 9,
                VerifyErrorKind::SeqGap {
                    expected: 3,
                    found: 9,
                },
            ),
            (
                |r| {
                    r.0.at = "2026-02-30T00:00:00.000000Z".into();
                    let e = &r.0;
                    r.0.hash = entry_hash(
                        e.seq,
                        &e.at,
                        &e.actor,
                        &e.action,
                        &e.subject,
                        &e.payload_digest,
                        &e.prev_hash,
                    );
                },
                VerifyErrorKind::MalformedTime,
            ),
        ];
        for (edit, kind) in cases {
            let mut tampered = rows.clone();
            edit(&mut tampered[2]);
            assert_eq!(verify_raw(&tampered).unwrap_err(), err(3, kind));
        }
        // Malformed digest strings are mismatches, not panics.
        let (e, text) = &rows[0];
        let mut r = raw(e, text);
        r.prev_hash = "sha256:00";
        assert_eq!(
            Verifier::new().push_raw(&r).unwrap_err().kind,
            VerifyErrorKind::PrevHashMismatch
        );
    }

    #[test]
    fn fast_time_accepts_exactly_what_parse_time_accepts() {
        for at in [
            "2026-11-25T03:04:05.123456Z",
            "2024-02-29T23:59:59.999999Z",
            "0000-01-01T00:00:00.000000Z",
            "2023-02-29T00:00:00.000000Z",
            "2026-13-01T00:00:00.000000Z",
            "2026-00-01T00:00:00.000000Z",
            "2026-01-32T00:00:00.000000Z",
            "2026-01-01T24:00:00.000000Z",
            "2026-01-01T00:60:00.000000Z",
            "2026-01-01T00:00:60.000000Z",
            "2026-01-01T00:00:00.00000Z",
            "2026-01-01T00:00:00.000000z",
            "2026-01-01 00:00:00.000000Z",
            "+026-01-01T00:00:00.000000Z",
        ] {
            assert_eq!(time_is_valid(at), parse_time(at).is_ok(), "{at}");
            if fast_time(at.as_bytes()) {
                assert!(parse_time(at).is_ok(), "{at}");
            }
        }
    }

    #[test]
    fn the_verifier_computes_the_merkle_root() {
        let entries = ledger(11);
        let mut v = Verifier::new();
        assert_eq!(v.root(), crate::EMPTY_ROOT);
        for (i, e) in entries.iter().enumerate() {
            v.push(e).unwrap();
            assert_eq!(v.size(), i as u64 + 1);
            assert_eq!(v.root(), tree_of(&entries[..=i]).root());
        }
    }

    #[test]
    fn a_consistent_extension_of_an_earlier_checkpoint_verifies() {
        let entries = ledger(12);
        for size in [0, 1, 5, 8, 12] {
            let mut v = Verifier::new()
                .with_note(&note_at(&entries, size), &note_key())
                .unwrap();
            for e in &entries {
                v.push(e).unwrap();
            }
            assert_eq!(v.finish(None).unwrap().entries, 12);
        }
    }

    #[test]
    fn a_rollback_below_an_earlier_checkpoint_is_named() {
        let entries = ledger(12);
        let note = note_at(&entries, 10);
        let mut v = Verifier::new().with_note(&note, &note_key()).unwrap();
        for e in &entries[..7] {
            v.push(e).unwrap();
        }
        let e = v.finish(None).unwrap_err();
        assert_eq!(
            e,
            err(
                10,
                VerifyErrorKind::ShorterThanCheckpoint { size: 10, found: 7 }
            )
        );
        assert_eq!(
            e.to_string(),
            "checkpoint at seq 10: the ledger has 7 entries, fewer than the checkpoint's 10: \
             rolled back or truncated"
        );
    }

    #[test]
    fn a_rewrite_before_an_earlier_checkpoint_is_named() {
        let entries = ledger(12);
        let note = note_at(&entries, 8);
        let mut tampered = entries.clone();
        tampered[3].actor = "user:mallory".into();
        rechain(&mut tampered, 3);
        let mut v = Verifier::new().with_note(&note, &note_key()).unwrap();
        let mut result = Ok(());
        for e in &tampered {
            result = v.push(e);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(
            result.unwrap_err(),
            err(8, VerifyErrorKind::CheckpointRootMismatch { size: 8 })
        );
        assert_eq!(v.size(), 8);
    }

    #[test]
    fn a_forged_or_foreign_checkpoint_note_is_refused() {
        let entries = ledger(4);
        let t = tree_of(&entries);
        let forged = sign_checkpoint(
            &Checkpoint::new(ORIGIN, t.size(), t.root()),
            ORIGIN,
            &LedgerKey::from_bytes(&[9; 32]),
        )
        .unwrap();
        let e = Verifier::new().with_note(&forged, &note_key()).unwrap_err();
        assert_eq!(
            e.kind,
            VerifyErrorKind::CheckpointNote(NoteError::NoKnownSignature { count: 1 })
        );
        // A checkpoint handed over after its size has passed cannot be checked.
        let mut v = Verifier::new();
        for e in &entries {
            v.push(e).unwrap();
        }
        let late = Checkpoint::new(ORIGIN, 2, tree_of(&entries[..2]).root());
        assert_eq!(
            v.clone().with_checkpoint(late).unwrap_err().kind,
            VerifyErrorKind::CheckpointPassed { size: 2, pushed: 4 }
        );
        // At exactly the current size it is checked at once.
        v.clone()
            .with_checkpoint(Checkpoint::new(ORIGIN, 4, t.root()))
            .unwrap();
        assert_eq!(
            v.with_checkpoint(Checkpoint::new(ORIGIN, 4, [0; 32]))
                .unwrap_err()
                .kind,
            VerifyErrorKind::CheckpointRootMismatch { size: 4 }
        );
    }

    proptest::proptest! {
        #[test]
        fn fast_time_never_accepts_what_parse_time_refuses(
            y in 0u32..10_000, mo in 0u32..100, d in 0u32..100,
            h in 0u32..100, mi in 0u32..100, se in 0u32..100, us in 0u32..1_000_000,
        ) {
            let at = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}.{us:06}Z");
            if fast_time(at.as_bytes()) {
                proptest::prop_assert!(parse_time(&at).is_ok(), "{}", at);
            }
            // Below a leap second, the two agree exactly.
            if se < 60 {
                proptest::prop_assert_eq!(fast_time(at.as_bytes()), parse_time(&at).is_ok(), "{}", at);
            }
        }
    }
}
