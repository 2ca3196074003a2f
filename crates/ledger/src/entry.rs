//! Entries, their hash-chain encoding, and building the next entry.

use chrono::{DateTime, NaiveDateTime, Utc};
use countersign_core::canonical::Digest;
use serde::{Deserialize, Serialize};

use crate::LedgerError;

/// The sequence number of the first entry of every ledger.
pub const GENESIS_SEQ: u64 = 1;

/// The domain separator every entry preimage starts with.
pub(crate) const ENTRY_DOMAIN: &[u8] = b"countersign-ledger-v1\0";

/// The `strftime` form of [`Entry::at`].
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// What a command wants recorded; the chain fields are added by [`chain_next`].
#[derive(Clone, Debug, PartialEq)]
pub struct EntryDraft {
    /// When the change happened, from the caller's clock.
    pub at: DateTime<Utc>,
    /// Who did it (a principal id).
    pub actor: String,
    /// What was done (for example `model.register`).
    pub action: String,
    /// What it was done to (for example `model:m1`).
    pub subject: String,
    /// Details; hashed through its canonical JSON digest.
    pub payload: serde_json::Value,
}

/// One ledger entry as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain: 1 for the first entry, then each one more than the last.
    pub seq: u64,
    /// RFC 3339 UTC with exactly 6 fractional digits and `Z`, e.g. `2026-11-25T03:04:05.123456Z`.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub payload: serde_json::Value,
    /// `Digest::of_canonical(&payload)`.
    pub payload_digest: Digest,
    /// The previous entry's `hash`, or [`Digest::zero`] for the first entry.
    pub prev_hash: Digest,
    /// [`entry_hash`] of this entry's fields.
    pub hash: Digest,
}

impl Entry {
    /// The chain position after this entry.
    pub fn head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// The chain position after the last entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The last entry's `seq`.
    pub seq: u64,
    /// The last entry's `hash`.
    pub hash: Digest,
}

/// Formats a time the way [`Entry::at`] holds it: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
///
/// Sub-microsecond precision is truncated, so the stored string is exact and
/// any database can hold the time without rounding it.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format(TIME_FORMAT).to_string()
}

/// Reads a time in the form [`format_time`] writes, and only that form.
pub fn parse_time(at: &str) -> Result<DateTime<Utc>, LedgerError> {
    let malformed = || LedgerError::MalformedTime {
        at: at.chars().take(80).collect(),
    };
    let naive = NaiveDateTime::parse_from_str(at, TIME_FORMAT).map_err(|_| malformed())?;
    let t = naive.and_utc();
    // Parsing is lenient about some things (digit counts, signs); the stored form is not.
    if format_time(t) == at {
        Ok(t)
    } else {
        Err(malformed())
    }
}

/// Builds the next entry after `head` (`None` = empty ledger: seq 1, prev_hash [`Digest::zero`]).
pub fn chain_next(head: Option<&Head>, draft: EntryDraft) -> Result<Entry, LedgerError> {
    let (seq, prev_hash) = match head {
        None => (GENESIS_SEQ, Digest::zero()),
        Some(h) => {
            let seq = h
                .seq
                .checked_add(1)
                .ok_or(LedgerError::SeqExhausted { seq: h.seq })?;
            (seq, h.hash.clone())
        }
    };
    let EntryDraft {
        at,
        actor,
        action,
        subject,
        payload,
    } = draft;
    let at = format_time(at);
    let payload_digest =
        Digest::of_canonical(&payload).map_err(|source| LedgerError::PayloadEncoding { source })?;
    let hash = entry_hash(
        seq,
        &at,
        &actor,
        &action,
        &subject,
        &payload_digest,
        &prev_hash,
    );
    Ok(Entry {
        seq,
        at,
        actor,
        action,
        subject,
        payload,
        payload_digest,
        prev_hash,
        hash,
    })
}

/// Recomputes the hash of an entry from its fields (see the crate docs for the encoding).
pub fn entry_hash(
    seq: u64,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    payload_digest: &Digest,
    prev_hash: &Digest,
) -> Digest {
    Digest::of(&entry_preimage(
        seq,
        at,
        actor,
        action,
        subject,
        payload_digest,
        prev_hash,
    ))
}

/// The bytes [`entry_hash`] hashes.
pub(crate) fn entry_preimage(
    seq: u64,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    payload_digest: &Digest,
    prev_hash: &Digest,
) -> Vec<u8> {
    let seq = seq.to_string();
    let fields: [&str; 7] = [
        &seq,
        at,
        actor,
        action,
        subject,
        payload_digest.as_str(),
        prev_hash.as_str(),
    ];
    let len = ENTRY_DOMAIN.len() + fields.iter().map(|f| 8 + f.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(ENTRY_DOMAIN);
    for field in fields {
        // INVARIANT: every field is length-prefixed, so no two different field
        // lists share a preimage (no ambiguity from separators inside fields).
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::kat_time;
    use chrono::TimeZone;
    use serde_json::json;

    fn kat_draft() -> EntryDraft {
        EntryDraft {
            at: kat_time(),
            actor: "user:alice".into(),
            action: "model.register".into(),
            subject: "model:m1".into(),
            payload: json!({"tier": 2, "name": "m1"}),
        }
    }

    #[test]
    fn known_answer_entry_hash() {
        // Pinned so the encoding cannot drift silently; the crate docs quote these
        // values and an independent Python recipe that reproduces them.
        let e = chain_next(None, kat_draft()).unwrap();
        assert_eq!(e.seq, 1);
        assert_eq!(e.at, "2026-11-25T03:04:05.123456Z");
        assert_eq!(
            e.payload_digest.as_str(),
            "sha256:4c44623a215d528dc70651627e82c8d31e05b392640eed307604709bf3ae94c3"
        );
        assert_eq!(e.prev_hash, Digest::zero());
        assert_eq!(
            e.hash.as_str(),
            "sha256:096fc04ae450e7a60cf9aa9ab4bbf45806b84f7e554899d24465608406304b3d"
        );
    }

    #[test]
    fn known_answer_preimage_bytes() {
        let e = chain_next(None, kat_draft()).unwrap();
        let pre = entry_preimage(
            e.seq,
            &e.at,
            &e.actor,
            &e.action,
            &e.subject,
            &e.payload_digest,
            &e.prev_hash,
        );
        let mut expected = b"countersign-ledger-v1\0".to_vec();
        for (len, text) in [
            (1u8, "1"),
            (27, "2026-11-25T03:04:05.123456Z"),
            (10, "user:alice"),
            (14, "model.register"),
            (8, "model:m1"),
            (
                71,
                "sha256:4c44623a215d528dc70651627e82c8d31e05b392640eed307604709bf3ae94c3",
            ),
            (
                71,
                "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ] {
            expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, len]);
            expected.extend_from_slice(text.as_bytes());
        }
        assert_eq!(pre, expected);
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        let d = Digest::zero();
        let a = entry_hash(1, "t", "ab", "c", "s", &d, &d);
        let b = entry_hash(1, "t", "a", "bc", "s", &d, &d);
        assert_ne!(a, b);
    }

    #[test]
    fn chain_next_links_to_the_head() {
        let first = chain_next(None, kat_draft()).unwrap();
        let second = chain_next(Some(&first.head()), kat_draft()).unwrap();
        assert_eq!(second.seq, 2);
        assert_eq!(second.prev_hash, first.hash);
        assert_ne!(second.hash, first.hash);
        assert_eq!(
            second.hash,
            entry_hash(
                2,
                &second.at,
                &second.actor,
                &second.action,
                &second.subject,
                &second.payload_digest,
                &second.prev_hash
            )
        );
    }

    #[test]
    fn chain_next_refuses_to_pass_the_last_seq() {
        let head = Head {
            seq: u64::MAX,
            hash: Digest::zero(),
        };
        let err = chain_next(Some(&head), kat_draft()).unwrap_err();
        assert!(matches!(err, LedgerError::SeqExhausted { seq: u64::MAX }));
        assert!(err
            .to_string()
            .starts_with("ledger head is at seq 18446744073709551615"));
    }

    #[test]
    fn format_time_has_exactly_six_fraction_digits() {
        assert_eq!(format_time(kat_time()), "2026-11-25T03:04:05.123456Z");
        let whole = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(format_time(whole), "2026-01-02T03:04:05.000000Z");
    }

    #[test]
    fn parse_time_accepts_only_the_stored_form() {
        let t = parse_time("2026-11-25T03:04:05.123456Z").unwrap();
        assert_eq!(format_time(t), "2026-11-25T03:04:05.123456Z");
        for bad in [
            "2026-11-25T03:04:05Z",
            "2026-11-25T03:04:05.123Z",
            "2026-11-25T03:04:05.123456789Z",
            "2026-11-25T03:04:05.123456+00:00",
            "2026-11-25 03:04:05.123456Z",
            "2026-11-25T03:04:05.123456z",
            " 2026-11-25T03:04:05.123456Z",
            "",
        ] {
            let err = parse_time(bad).unwrap_err();
            assert!(
                matches!(err, LedgerError::MalformedTime { .. }),
                "{bad:?} was accepted"
            );
        }
    }
}
