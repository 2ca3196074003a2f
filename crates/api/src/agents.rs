//! Agents and their lifecycle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgentParams {
    pub name: String,
    /// The user id of the agent's one accountable human owner.
    pub owner: String,
    pub use_case: String,
    /// e.g. `production`; an identity serves one environment.
    pub environment: String,
    /// The release that put the agent in production (must be promoted).
    pub release: String,
    /// Ed25519 public key: an OKP JWK (JSON text) or base64url of the 32 raw bytes.
    pub public_key: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonParams {
    pub reason: String,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyParams {
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub use_case: String,
    pub environment: String,
    pub release: String,
    pub public_key: String,
    /// `active` or `suspended`.
    pub status: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
