#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! TODO docs

mod checkpoint;
mod entry;
mod error;
mod verify;

pub use checkpoint::{LedgerKey, LedgerPublicKey, SignedHead};
pub use countersign_core::canonical::Digest;
pub use entry::{
    chain_next, entry_hash, format_time, parse_time, Entry, EntryDraft, Head, GENESIS_SEQ,
};
pub use error::LedgerError;
pub use verify::{verify_all, Verifier, VerifyError, VerifyErrorKind, VerifyReport};

#[cfg(test)]
mod kat_print {
    use super::*;
    #[test]
    fn print() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-25T03:04:05.123456789Z").unwrap().with_timezone(&chrono::Utc);
        let e = chain_next(None, EntryDraft { at, actor: "user:alice".into(), action: "model.register".into(), subject: "model:m1".into(), payload: serde_json::json!({"tier": 2, "name": "m1"}) }).unwrap();
        eprintln!("{}", serde_json::to_string_pretty(&e).unwrap());
        let pre = entry::entry_preimage(e.seq, &e.at, &e.actor, &e.action, &e.subject, &e.payload_digest, &e.prev_hash);
        eprintln!("{:?}", String::from_utf8_lossy(&pre));
        let k = LedgerKey::from_bytes(&[7u8; 32]);
        let sh = k.sign_head(&e.head());
        eprintln!("{} {}\n{}", k.public().to_base64(), k.public().key_id(), serde_json::to_string_pretty(&sh).unwrap());
    }
}
