//! Lineage: datasets and training runs (I6).

use chrono::{DateTime, Utc};
use countersign_core::Digest;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// Register a dataset version. Role: data-governance or mlops.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDatasetParams {
    pub name: String,
    pub version: String,
    /// `sha256:<64 hex>` of the dataset's content.
    #[schema(value_type = String)]
    pub digest: Digest,
    /// Where the data comes from.
    pub source: String,
    /// e.g. `internal`, `pii`, `phi`.
    pub classification: String,
    /// Intended uses this data may serve, matched against a release's `intended_use`.
    pub permitted_uses: BTreeSet<String>,
}

/// Approve a dataset version. Role: data-governance.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveDatasetParams {
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DatasetView {
    /// `name@version`, as bundles and runs name it.
    pub key: String,
    pub name: String,
    pub version: String,
    pub digest: String,
    pub source: String,
    pub classification: String,
    pub permitted_uses: BTreeSet<String>,
    pub registered_by: String,
    pub created_at: DateTime<Utc>,
    pub approved: bool,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
}

/// Register a training run. Role: mlops.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRunParams {
    pub id: String,
    pub code_commit: String,
    /// `name@version` of every registered dataset it trained on.
    pub datasets: BTreeSet<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// User id of the person who trained it (kept off the review and the decision, I4).
    pub trainer: String,
    /// `sha256:<64 hex>` of the artifact the run produced.
    #[schema(value_type = String)]
    pub artifact_digest: Digest,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub code_commit: String,
    pub datasets: BTreeSet<String>,
    #[schema(value_type = Object)]
    pub parameters: BTreeMap<String, serde_json::Value>,
    pub trainer: String,
    pub artifact_digest: String,
    pub registered_by: String,
    pub created_at: DateTime<Utc>,
}
