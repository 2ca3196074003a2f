#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! The countersign ledger: entry format, hash chain, signed checkpoints and offline
//! verification (invariant I11: every state change and decision is recorded; any edit,
//! deletion, insertion or reordering of the record is detected).
//!
//! This crate is pure: no IO, no async, no clock (times are passed in) and no
//! randomness except [`LedgerKey::generate`], which takes the random source as an
//! argument. Storing entries is the store crate's job; this crate says what an entry
//! is and whether a sequence of entries is intact.
//!
//! Everything below is the format version 1 contract. Auditors can check a ledger
//! export with nothing but sha256, ed25519 and this page.
//!
//! # Entries
//!
//! An [`Entry`] has these fields:
//!
//! | field            | content                                                             |
//! |------------------|---------------------------------------------------------------------|
//! | `seq`            | 1 for the first entry ([`GENESIS_SEQ`]), then each one more than the previous |
//! | `at`             | UTC time as `YYYY-MM-DDTHH:MM:SS.ffffffZ`: exactly 6 fractional digits, e.g. `2026-11-25T03:04:05.123456Z` ([`format_time`]) |
//! | `actor`          | who did it                                                          |
//! | `action`         | what was done                                                       |
//! | `subject`        | what it was done to                                                 |
//! | `payload`        | any JSON value with the details                                     |
//! | `payload_digest` | `sha256:<hex>` of the payload's canonical JSON (see `countersign_core::canonical`: keys sorted by UTF-8 bytes, no whitespace) |
//! | `prev_hash`      | the previous entry's `hash`; for the first entry, `sha256:` followed by 64 zeros |
//! | `hash`           | the entry hash defined below                                        |
//!
//! Digests are always written `sha256:` followed by 64 lowercase hex characters.
//!
//! ## Entry hash
//!
//! The hash covers every field except `payload` (covered through `payload_digest`) and
//! `hash` itself. The preimage is the domain separator followed by seven
//! length-prefixed fields:
//!
//! ```text
//! preimage = "countersign-ledger-v1" 0x00
//!            || field(seq) || field(at) || field(actor) || field(action)
//!            || field(subject) || field(payload_digest) || field(prev_hash)
//! field(s) = len(s) as 8-byte big-endian unsigned integer || s
//! hash     = "sha256:" || lowercase_hex(sha256(preimage))
//! ```
//!
//! where every `s` is the field's UTF-8 bytes: `seq` in decimal ASCII without leading
//! zeros, the digests in their `sha256:<hex>` form. The length prefixes make the
//! encoding unambiguous (no choice of field contents can shift bytes from one field
//! into another); the domain separator keeps these hashes distinct from every other
//! sha256 in countersign. See [`entry_hash`] and [`chain_next`].
//!
//! Known answer (pinned by a test): the entry with seq 1, at
//! `2026-11-25T03:04:05.123456Z`, actor `user:alice`, action `model.register`, subject
//! `model:m1` and payload `{"name":"m1","tier":2}` has
//!
//! ```text
//! payload_digest = sha256:4c44623a215d528dc70651627e82c8d31e05b392640eed307604709bf3ae94c3
//! prev_hash      = sha256:0000000000000000000000000000000000000000000000000000000000000000
//! hash           = sha256:096fc04ae450e7a60cf9aa9ab4bbf45806b84f7e554899d24465608406304b3d
//! ```
//!
//! An independent check, in Python:
//!
//! ```text
//! import hashlib, json, struct
//! pd = "sha256:" + hashlib.sha256(json.dumps({"name": "m1", "tier": 2},
//!          sort_keys=True, separators=(",", ":")).encode()).hexdigest()
//! fields = ["1", "2026-11-25T03:04:05.123456Z", "user:alice", "model.register",
//!           "model:m1", pd, "sha256:" + "0" * 64]
//! pre = b"countersign-ledger-v1\0" + b"".join(
//!     struct.pack(">Q", len(f.encode())) + f.encode() for f in fields)
//! print("sha256:" + hashlib.sha256(pre).hexdigest())
//! ```
//!
//! # Checkpoints
//!
//! A [`Head`] is the chain position after the last entry: that entry's `seq` and `hash`.
//! A checkpoint ([`SignedHead`]) is a head signed with Ed25519 (RFC 8032) by the
//! ledger key ([`LedgerKey`]):
//!
//! ```text
//! message   = "countersign-checkpoint-v1" 0x00 || seq as 8-byte big-endian || hash
//! ```
//!
//! where `hash` is the ASCII `sha256:<hex>` string. In a [`SignedHead`], `signature` is
//! the 64-byte signature in base64url without padding (RFC 4648 §5, 86 characters), and
//! `key_id` names the key: the first 16 lowercase hex characters of sha256 of the
//! 32-byte public key. A public key ([`LedgerPublicKey`]) is written as base64url without
//! padding of its 32 bytes (43 characters). Signatures are verified strictly
//! (`verify_strict`: no small-order keys, no malleable signatures).
//!
//! Known answer (pinned by a test): the secret key of 32 bytes `0x07` has public key
//! `6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw`, key id `fe812c12f3ab4ce6`, and signs
//! the head of the entry above (seq 1) as
//! `UTBBa97Q4aPuTro7weNZPVxTKG9hc6p9AynZl6x_5EVMNYxMcP_Ax-p2CFG3Kh5rZy1POQASdcXv3r_lh1lhAw`.
//!
//! # Merkle tree
//!
//! The ledger is also a Merkle tree (RFC 9162 §2.1), so anyone can check that one log
//! is a prefix of another (consistency) or that an entry is in it (inclusion) from a
//! few hashes. Leaf `N - 1` is the entry with seq `N`; its **leaf data is the 32 raw
//! bytes of the entry's hash** (the sha256 behind its `sha256:<hex>` `hash`):
//!
//! ```text
//! leaf(entry) = sha256(0x00 || entry_hash_32_bytes)
//! node(l, r)  = sha256(0x01 || l || r)
//! MTH({})     = sha256("")
//! MTH(D[n])   = node(MTH(D[0:k]), MTH(D[k:n]))   k = largest power of two < n
//! ```
//!
//! Roots, hashes and proof elements are 32 raw bytes. An inclusion proof is RFC 9162
//! `PATH(m, D[n])` (§2.1.3.1), a consistency proof `PROOF(m, D[n])` (§2.1.4.1), both a
//! list of hashes, leaf side first; they are verified by the RFC's algorithms
//! (§2.1.3.2, §2.1.4.2): [`verify_inclusion`], [`verify_consistency`]. They are made
//! by [`inclusion_proof`] and [`consistency_proof`] from any [`HashReader`] (the hash
//! of the complete subtree at `(level, index)`): [`MemoryTree`] in memory, or
//! [`TileHashReader`] over stored tiles ([`tiles_needed`] lists the tiles a proof reads,
//! so a store can fetch them first). [`Tree`] keeps only the O(log n) frontier
//! and gives the root after every append.
//!
//! Known answer (pinned by a test): for seven leaves whose data are 32 bytes of `0x00`,
//! `0x01`, ... `0x06`:
//!
//! ```text
//! leaf(3)           = acaa04663a8547a2f70c60cc18f9378796b13c4f9a08f70d6adae662365b30c6
//! root, size 3      = ba8d94b7fbcecae7b81c4c80574fe24734a6917bf9c1ecd66ff3e0c34ead4620
//! root, size 7      = 7318881c41fce3c1de3640df8e8c110c93f43f686b74204a9d1ad5b8c71c2047
//! inclusion(3, 7)   = cba8c596120bdb69debbd923d92cba948bde7c7d06a465a1bb7d98d3116038fa
//!                     28fb81e496897e0ce886f08602392e9239b65c659041e5202163e58ad898f444
//!                     1f3f95843413191fe7521996b6b1e4147d703b1702c475a478ad25a6f6b415b4
//! consistency(3, 7) = cba8c596120bdb69debbd923d92cba948bde7c7d06a465a1bb7d98d3116038fa
//!                     acaa04663a8547a2f70c60cc18f9378796b13c4f9a08f70d6adae662365b30c6
//!                     28fb81e496897e0ce886f08602392e9239b65c659041e5202163e58ad898f444
//!                     1f3f95843413191fe7521996b6b1e4147d703b1702c475a478ad25a6f6b415b4
//! ```
//!
//! In Python, with `D = [bytes([i]) * 32 for i in range(7)]`, `H = sha256`,
//! `leaf(d) = H(b"\0" + d)`, `node(l, r) = H(b"\1" + l + r)` and `MTH`, `PATH` and
//! `SUBPROOF` written as in RFC 9162 §2.1.
//!
//! The tree over the known-answer entry above (size 1) has root
//! `e4f8f70697c3432e2d5d13a03f66ca9a05746485ddfff7e559a5748d96f406fe`, in base64
//! `5Pj3BpfDQy4tXROgP2bKmgV0ZIXd//flWaV0jZb0Bv4=`.
//!
//! # Tiles
//!
//! The tree is served as C2SP tlog-tiles (read-only, cacheable) with tile height 8:
//! a tile at level `L` holds up to 256 consecutive hashes of tree level `8L`, each 32
//! bytes, concatenated ([`tile_data`]). Its path is `tile/<L>/<N>` for a full tile and
//! `tile/<L>/<N>.p/<W>` for a partial one of width `W` ([`TileId::path`]); `N` is
//! written in three-digit groups, all but the last prefixed with `x`: 1234067 is
//! `x001/x234/067`. A full tile never changes; [`tiles_for_size`] lists the tiles of a
//! tree size. Entry bundles, `tile/entries/<N>[.p/<W>]`, hold up to 256 entries each as
//! a big-endian u16 length then the bytes; a ledger bundle entry is the 32-byte entry
//! hash (the leaf data), so a client can rebuild and check the tree from the bundles
//! ([`entry_bundle`], [`parse_entry_bundle`]). The full entries stay behind the API.
//!
//! # Checkpoints (C2SP)
//!
//! A [`Checkpoint`] is C2SP tlog-checkpoint text, signed as a C2SP signed note
//! ([`SignedNote`], [`sign_checkpoint`]):
//!
//! ```text
//! <origin>\n<tree size, decimal>\n<root hash, standard base64>\n[<extension line>\n ...]
//! \n
//! — <key name> <base64(key id (4 bytes) || ed25519 signature (64 bytes))>\n
//! ```
//!
//! The origin names the log (for example `countersign.example/ledger`, from the
//! server's configuration) and is also the log key's name. The signature is Ed25519
//! (RFC 8032) over the text before the blank line, by the ledger key ([`LedgerKey`]);
//! the key id is the first 4 bytes of `sha256(name || 0x0A || 0x01 || public key)`.
//! A verifier key is written as a standard vkey, `<name>+<8 hex key id>+<base64(0x01
//! || 32-byte public key)>` ([`NoteVerifierKey`]). When verifying a note
//! ([`SignedNote::verify`]) signatures by unknown keys are ignored, every signature by a
//! known key must verify, and at least one must be by a known key.
//!
//! Witnesses cosign checkpoints per C2SP tlog-cosignature (`cosignature/v1`,
//! signature type `0x04`): the key id is the first 4 bytes of `sha256(name || 0x0A ||
//! 0x04 || public key)`; the signature line holds `base64(key id || timestamp as 8-byte
//! big-endian unix seconds || ed25519 signature)`, and the signed message is
//! `cosignature/v1\ntime <timestamp>\n` followed by the whole checkpoint text.
//! [`Witness::cosign`] cosigns a new checkpoint only if it is signed by the log, has the
//! origin of the last one the witness accepted, is no smaller ([`WitnessError::SizeRegressed`]:
//! rollback), has the same root at the same size ([`WitnessError::RootChanged`]: fork)
//! and a consistency proof from the last one verifies ([`WitnessError::Inconsistent`]).
//!
//! Known answer (pinned by a test, and verified by the independent `signed_note`
//! crate): the tree of the known-answer entry, signed by the `0x07`×32 key as
//! `countersign.example/ledger` and cosigned at 1796000000 by the `0x08`×32 key as
//! `witness.example/w1`:
//!
//! ```text
//! countersign.example/ledger
//! 1
//! 5Pj3BpfDQy4tXROgP2bKmgV0ZIXd//flWaV0jZb0Bv4=
//!
//! — countersign.example/ledger I1nvr8v56sc4lLvqjp+O6Sodow5X7Sm5+2HgOtO6guBbBMwTfX5gvWRjhpBRZkZLd1sZm7uJoOq0gI1G2ltKEEVLHgA=
//! — witness.example/w1 /qOxhwAAAABrDMkAO6xY11d1drhg8sFW9/kRO5qjmtlj7TiTyQoYQD0zsRKOluygOicdWi5NX1M6/kcNL+N9GMvy09fgjXDvNXtqCA==
//! ```
//!
//! with verifier keys
//! `countersign.example/ledger+2359efaf+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs`
//! (log) and `witness.example/w1+fea3b187+BBOY9ixtGkV8UbpqS189vS9p/KkyFiGNyJl+QWvRfZPK`
//! (witness).
//!
//! The older [`SignedHead`] (below) stays: it anchors the hash chain's last entry and
//! is what the store rewrites on every append.
//!
//! # Verification
//!
//! [`Verifier`] reads entries in seq order, holding only the last head and the Merkle
//! tree's frontier, so it runs over any number of rows in O(log n) memory;
//! [`verify_all`] does the same over a slice. [`Verifier::push`] takes an [`Entry`];
//! [`Verifier::push_raw`] takes a [`RawEntry`] of borrowed fields with the payload as
//! its stored JSON text, and allocates nothing for an intact entry.
//! For each entry, in this order, it checks:
//!
//! 1. `seq` is exactly one more than the previous entry's, and 1 for the first
//!    ([`VerifyErrorKind::SeqGap`]): catches deletion, insertion, reordering, renumbering;
//! 2. `prev_hash` is the previous entry's `hash`, and zero for the first
//!    ([`VerifyErrorKind::PrevHashMismatch`]);
//! 3. `payload_digest` is the canonical digest of `payload`
//!    ([`VerifyErrorKind::PayloadDigestMismatch`]). The verifier first hashes the
//!    payload as stored (the store writes canonical JSON, so this is the canonical
//!    digest) and canonicalizes only when that does not match. So a digest over stored
//!    text that is equivalent but not canonical is accepted: it still binds the payload
//!    (a different payload has a different text), and forging one means recomputing the
//!    entry hash and the chain after it, which the checkpoints catch;
//! 4. `hash` recomputes from the fields ([`VerifyErrorKind::HashMismatch`]);
//! 5. `at` is in the exact time form ([`VerifyErrorKind::MalformedTime`]).
//!
//! The chain alone shows the entries are consistent with each other, but anyone can
//! rebuild a consistent chain. A signed checkpoint anchors it: given one,
//! [`Verifier::finish`] checks its signature and that the ledger ends exactly at its
//! head ([`VerifyErrorKind::HeadMismatch`], [`VerifyErrorKind::BadSignature`],
//! [`VerifyErrorKind::UnknownKey`]). With the checkpoint, an edit, deletion, insertion
//! or reordering anywhere up to the checkpoint fails verification, including a cut-off
//! tail or a fully rewritten chain. To check an older checkpoint while going on past
//! it, call [`Verifier::check_checkpoint`] right after pushing the entry at its seq.
//!
//! A database attacker can also restore an older, genuinely signed state (rollback) or
//! re-sign a rewritten one with a stolen key. Against that, a verifier keeps an earlier
//! C2SP checkpoint note (its own, or a witness's) and passes it to
//! [`Verifier::with_note`]: when the stream reaches the checkpoint's size the Merkle
//! root must be the checkpoint's ([`VerifyErrorKind::CheckpointRootMismatch`]: the log
//! was rewritten or forked since), and a ledger that ends before it fails
//! ([`VerifyErrorKind::ShorterThanCheckpoint`]: rolled back or truncated).
//!
//! Times are not required to increase: the order of the ledger is its `seq`.
//!
//! ```
//! use countersign_ledger::{chain_next, verify_all, Entry, EntryDraft, LedgerKey};
//! use chrono::{TimeZone, Utc};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = LedgerKey::from_bytes(&[7; 32]);
//! let mut entries: Vec<Entry> = Vec::new();
//! for (i, action) in ["model.register", "model.approve"].into_iter().enumerate() {
//!     let draft = EntryDraft {
//!         at: Utc.with_ymd_and_hms(2026, 11, 25, 3, 4, i as u32).single().ok_or("time")?,
//!         actor: "user:alice".into(),
//!         action: action.into(),
//!         subject: "model:m1".into(),
//!         payload: serde_json::json!({ "step": i }),
//!     };
//!     let head = entries.last().map(Entry::head);
//!     entries.push(chain_next(head.as_ref(), draft)?);
//! }
//! let checkpoint = key.sign_head(&entries[1].head());
//!
//! let report = verify_all(&entries, Some((&checkpoint, &key.public())))?;
//! assert_eq!(report.entries, 2);
//!
//! entries.pop(); // cut off the tail
//! assert!(verify_all(&entries, Some((&checkpoint, &key.public()))).is_err());
//! # Ok(())
//! # }
//! ```

mod checkpoint;
mod entry;
mod error;
mod merkle;
mod note;
mod note_error;
mod tiles;
mod verify;
mod verify_error;

pub use checkpoint::{LedgerKey, LedgerPublicKey, SignedHead};
pub use countersign_core::canonical::Digest;
pub use entry::{
    chain_next, entry_hash, format_time, parse_time, Entry, EntryDraft, Head, GENESIS_SEQ,
};
pub use error::LedgerError;
pub use merkle::{
    consistency_proof, digest_bytes, entry_leaf_hash, inclusion_proof, leaf_hash, node_hash,
    root_at, verify_consistency, verify_inclusion, Hash, HashReader, MemoryTree, MerkleError, Tree,
    EMPTY_ROOT,
};
pub use note::{
    open_checkpoint, sign_checkpoint, Checkpoint, Cosigned, KeyKind, NoteSignature,
    NoteVerifierKey, SignedNote, VerifiedSignature, Witness, WitnessError, ALG_COSIGNATURE_V1,
    ALG_ED25519,
};
pub use note_error::NoteError;
pub use tiles::{
    bundles_for_size, entry_bundle, parse_entry_bundle, tile_data, tile_for, tiles_for_size,
    tiles_needed, BundleId, TileError, TileHashReader, TileId, TileReader, TILE_HEIGHT, TILE_WIDTH,
};
pub use verify::{verify_all, RawEntry, Verifier, VerifyReport};
pub use verify_error::{VerifyError, VerifyErrorKind};

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};

    /// The fixed time of the known-answer entry, with extra nanoseconds that must be dropped.
    pub fn kat_time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 3, 4, 5).unwrap()
            + chrono::Duration::nanoseconds(123_456_789)
    }

    pub fn draft(i: u32) -> EntryDraft {
        EntryDraft {
            at: kat_time() + chrono::Duration::seconds(i64::from(i)),
            actor: format!("user:u{}", i % 3),
            action: format!("action.{i}"),
            subject: format!("model:m{}", i % 2),
            payload: serde_json::json!({ "i": i, "tags": ["a", "b"] }),
        }
    }

    /// A valid ledger of `n` entries.
    pub fn ledger(n: u32) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for i in 0..n {
            let head = out.last().map(Entry::head);
            out.push(chain_next(head.as_ref(), draft(i)).unwrap());
        }
        out
    }
}
