//! Systems and their accountable owners.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSystemParams {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The user id of the one accountable human owner.
    pub owner: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SystemView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub created_at: DateTime<Utc>,
}
