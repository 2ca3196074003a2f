//! Errors of reading, making and verifying signed notes, keys and checkpoints (a leaf
//! module, so verification errors can carry one without depending on `note.rs`).

/// Why a note, key or checkpoint could not be read, made or verified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is larger than this implementation reads.
    #[error("note is {len} bytes, more than the 1000000 accepted")]
    TooLarge { len: usize },
    /// The note is not a text, a blank line and signature lines.
    #[error("malformed note: {reason}")]
    Malformed { reason: &'static str },
    /// A key name is empty or has a space or a `+`.
    #[error("key name {name:?} is empty or contains whitespace or `+`")]
    BadKeyName { name: String },
    /// A verifier key string is not `<name>+<hex id>+<base64 type and key>`.
    #[error("malformed verifier key: {reason}")]
    BadVerifierKey { reason: &'static str },
    /// A verifier key has a signature type this crate does not verify.
    #[error("verifier key has unsupported signature type {alg:#04x}")]
    UnknownAlgorithm { alg: u8 },
    /// A signature by a known key does not verify.
    #[error("signature by {name}+{key_id:08x} does not verify")]
    BadSignature { name: String, key_id: u32 },
    /// No signature on the note is by a known key.
    #[error("none of the note's {count} signatures is by a known key")]
    NoKnownSignature { count: usize },
    /// A checkpoint text is not origin, size, root hash and extension lines.
    #[error("malformed checkpoint: {reason}")]
    MalformedCheckpoint { reason: &'static str },
    /// A cosignature timestamp is above 2^63 - 1.
    #[error("cosignature timestamp {time} is above 2^63 - 1")]
    TimestampTooLarge { time: u64 },
}
