//! Just-in-time credentials: the token endpoint, introspection, revocation, signing keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The token endpoint: a credential for a task, or (token exchange) a delegated one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenParams {
    /// `client_credentials`, or `urn:ietf:params:oauth:grant-type:token-exchange` for delegation.
    pub grant_type: String,
    #[serde(default)]
    pub client_assertion_type: Option<String>,
    pub client_assertion: String,
    /// The task the credential is for: required for `client_credentials`; for token
    /// exchange it defaults to, and must equal, the delegator's task (I8).
    #[serde(default)]
    pub task: String,
    /// Space-separated scopes, each `system:action:resource`.
    pub scope: String,
    /// Seconds; default 900, at most 3600; never past the grants' expiry.
    #[serde(default)]
    pub lifetime: Option<i64>,
    /// The task's declared risk score, checked against grants' `max_risk_score`.
    #[serde(default)]
    pub risk_score: Option<u32>,
    /// Token exchange: the delegating agent's credential.
    #[serde(default)]
    pub subject_token: Option<String>,
    #[serde(default)]
    pub subject_token_type: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectParams {
    pub token: String,
    #[serde(default)]
    pub token_type_hint: Option<String>,
}

/// Exactly one of `jti`, `agent`, `grant`, `release`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeCredentialsParams {
    #[serde(default)]
    pub jti: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub grant: Option<String>,
    #[serde(default)]
    pub release: Option<String>,
    pub reason: String,
}

/// A token response (RFC 6749 §5.1, RFC 8693 §2.2).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessTokenView {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
    /// For token exchange: `urn:ietf:params:oauth:token-type:jwt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
}

/// Introspection (RFC 7662): `active`, and the token's claims when active.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IntrospectionView {
    pub active: bool,
    pub sub: Option<String>,
    pub agent: Option<String>,
    pub owner: Option<String>,
    pub task: Option<String>,
    pub scope: Option<String>,
    pub release: Option<String>,
    pub jti: Option<String>,
    pub exp: Option<i64>,
    /// The delegation chain (RFC 8693 `act`), current actor outermost.
    #[schema(value_type = Option<Object>)]
    pub act: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JwkView {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JwksView {
    pub keys: Vec<JwkView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub public_key: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokedView {
    pub revoked: u64,
}
