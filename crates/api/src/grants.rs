//! Agents' grants: request, approval, recertification, revocation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::{IntoParams, ToSchema};

/// A daily UTC window `[start_hour, end_hour)`; start > end wraps past midnight.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HourWindowWire {
    pub start_hour: u8,
    pub end_hour: u8,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConstraintsWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<HourWindowWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_risk_score: Option<u32>,
}

impl From<ConstraintsWire> for countersign_core::grant::Constraints {
    fn from(c: ConstraintsWire) -> Self {
        Self {
            window: c.window.map(|w| countersign_core::grant::HourWindow {
                start_hour: w.start_hour,
                end_hour: w.end_hour,
            }),
            max_risk_score: c.max_risk_score,
        }
    }
}

impl From<&countersign_core::grant::Constraints> for ConstraintsWire {
    fn from(c: &countersign_core::grant::Constraints) -> Self {
        Self {
            window: c.window.map(|w| HourWindowWire {
                start_hour: w.start_hour,
                end_hour: w.end_hour,
            }),
            max_risk_score: c.max_risk_score,
        }
    }
}

/// An agent's grant request, authenticated by its client assertion.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestGrantParams {
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` (optional).
    #[serde(default)]
    pub client_assertion_type: Option<String>,
    /// A JWT signed with the agent's key: iss = sub = agent id, aud, exp, jti.
    pub client_assertion: String,
    pub system: String,
    /// Anything but `read`, `list`, `get` mutates production state and needs the agent owner's approval too.
    pub actions: BTreeSet<String>,
    /// Resource patterns; `*` only at the end.
    pub resources: BTreeSet<String>,
    #[serde(default)]
    pub constraints: ConstraintsWire,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantsQuery {
    /// Only this agent's grants.
    pub agent: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// Also list grants due within this many days (default 14).
    pub within_days: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantView {
    pub id: String,
    pub agent: String,
    pub system: String,
    pub actions: BTreeSet<String>,
    pub resources: BTreeSet<String>,
    pub constraints: ConstraintsWire,
    pub expires_at: DateTime<Utc>,
    /// Whether any action mutates production state (then the agent owner approves too).
    pub mutating: bool,
    /// `pending`, `active`, `expired`, `lapsed` or `revoked`, now.
    pub state: String,
    /// For `pending`: `system_owner` and/or `agent_owner`.
    pub missing_approvals: Vec<String>,
    pub system_owner: String,
    pub agent_owner: String,
    pub system_owner_approved_by: Option<String>,
    pub agent_owner_approved_by: Option<String>,
    pub certified_by: Option<String>,
    pub certified_at: Option<DateTime<Utc>>,
    /// Lapses unless recertified by then.
    pub recertify_by: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
    pub requested_at: DateTime<Utc>,
}
