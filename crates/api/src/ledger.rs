//! The ledger: pages of entries and their verification.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    /// Entries with a sequence number greater than this; default 0.
    pub after: Option<u64>,
    /// At most this many, 1 to 1000; default 100.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerEntryView {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub payload_digest: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerVerifyView {
    pub valid: bool,
    pub entries: u64,
    pub head_seq: Option<u64>,
    pub head_hash: Option<String>,
    /// The first bad entry, when invalid.
    pub first_bad_seq: Option<u64>,
    pub error: Option<String>,
    /// The checkpoint signing key (base64url Ed25519) and its id.
    pub public_key: String,
    pub key_id: String,
}

/// Which entry to prove, in which tree.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The entry's sequence number (1 for the first entry; leaf `entry - 1`).
    pub entry: u64,
    /// The tree size to prove it in; default the current size.
    pub size: Option<u64>,
}

/// Which two tree sizes to prove consistent.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The earlier tree size, at least 1.
    pub from: u64,
    /// The later tree size; default the current size.
    pub to: Option<u64>,
}

/// An RFC 9162 inclusion proof of one entry. Hashes are 32 bytes in standard base64,
/// as in a checkpoint; the proof is leaf side first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InclusionProofView {
    /// The entry's sequence number.
    pub entry: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// The entry's leaf index, `entry - 1`.
    pub leaf_index: u64,
    /// The entry's `hash` field (`sha256:<hex>`), the leaf's data.
    pub entry_hash: String,
    /// The leaf hash, sha256(0x00 || entry hash bytes).
    pub leaf_hash: String,
    /// The root of the tree of `size`.
    pub root: String,
    pub proof: Vec<String>,
}

/// An RFC 9162 consistency proof between two tree sizes (hashes in standard base64).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProofView {
    pub from: u64,
    pub to: u64,
    /// The root of the tree of size `from`.
    pub from_root: String,
    /// The root of the tree of size `to`.
    pub to_root: String,
    pub proof: Vec<String>,
}

/// The keys that sign the ledger's checkpoints, for verifiers to pin.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerKeysView {
    /// The log's origin: the first line of every checkpoint and the key's name.
    pub origin: String,
    /// The C2SP signed-note verifier key, `<origin>+<key id>+<base64 key>`.
    pub vkey: String,
    /// The key id of the older signed head (16 hex).
    pub key_id: String,
    /// The Ed25519 public key, base64url without padding.
    pub public_key: String,
}

/// Which checkpoint to serve.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CheckpointQuery {
    /// A tree size up to the current one (default: the current size), e.g. the size
    /// a witness cosigned.
    pub size: Option<u64>,
}

/// A witness's cosignature of one of the ledger's checkpoints.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CosignatureParams {
    /// The checkpoint note as the log signed it, with the witness's `cosignature/v1`
    /// line appended (C2SP tlog-cosignature).
    pub note: String,
    /// The witness's verifier key (vkey `<name>+<key id>+<base64(0x04 || key)>`).
    pub witness: String,
}

/// A stored cosignature.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CosignatureView {
    pub witness: String,
    pub tree_size: u64,
    /// The checkpoint's root, standard base64.
    pub root: String,
    /// The time inside the cosignature, RFC 3339.
    pub cosigned_at: String,
}
