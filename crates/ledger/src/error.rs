//! Errors of building entries and reading keys (verification has its own, [`crate::VerifyError`]).

/// Why an entry could not be built or a key or time could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The payload has no canonical JSON encoding, so it has no digest.
    #[error("cannot encode the payload as canonical json")]
    PayloadEncoding {
        #[source]
        source: serde_json::Error,
    },
    /// The head is already at the largest sequence number; nothing can follow it.
    #[error("ledger head is at seq {seq}, the largest possible, so no entry can follow it")]
    SeqExhausted { seq: u64 },
    /// A time string is not in the ledger's form (see [`crate::format_time`]).
    #[error("time {at:?} is not rfc 3339 utc with exactly 6 fractional digits and a trailing `Z`")]
    MalformedTime { at: String },
    /// A public key string is not base64url without padding.
    #[error("public key is not base64url without padding")]
    PublicKeyEncoding {
        #[source]
        source: base64::DecodeError,
    },
    /// A public key decodes to the wrong number of bytes.
    #[error("public key must be 32 bytes, got {len}")]
    PublicKeyLength { len: usize },
    /// A public key's 32 bytes are not an ed25519 curve point.
    #[error("public key is not a valid ed25519 point")]
    PublicKeyInvalid {
        #[source]
        source: ed25519_dalek::SignatureError,
    },
}
