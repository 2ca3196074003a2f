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
