//! Users and their API tokens.

use chrono::{DateTime, Utc};
use countersign_core::Role;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserParams {
    pub name: String,
    pub email: String,
    /// Any of mlops, security, privacy, legal, compliance, data-governance, operations, risk, admin.
    #[schema(value_type = Vec<String>)]
    #[serde(default)]
    pub roles: BTreeSet<Role>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenParams {
    #[serde(default)]
    pub label: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub user_id: String,
    pub label: String,
    /// The secret, shown this once. Only its hash is stored.
    pub token: String,
    pub created_at: DateTime<Utc>,
}
