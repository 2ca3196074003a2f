//! Roles a human principal can hold.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A role. Reviewer roles sign off on releases; `admin` manages users and systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Mlops,
    Security,
    Privacy,
    Legal,
    Compliance,
    DataGovernance,
    Operations,
    Risk,
    Admin,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Mlops,
        Role::Security,
        Role::Privacy,
        Role::Legal,
        Role::Compliance,
        Role::DataGovernance,
        Role::Operations,
        Role::Risk,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Mlops => "mlops",
            Role::Security => "security",
            Role::Privacy => "privacy",
            Role::Legal => "legal",
            Role::Compliance => "compliance",
            Role::DataGovernance => "data-governance",
            Role::Operations => "operations",
            Role::Risk => "risk",
            Role::Admin => "admin",
        }
    }

    /// Whether this role can be a required reviewer role in a governance profile.
    pub fn is_reviewer_role(self) -> bool {
        self != Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {got:?} (expected one of mlops, security, privacy, legal, compliance, data-governance, operations, risk, admin)")]
pub struct RoleParseError {
    pub got: String,
}

impl FromStr for Role {
    type Err = RoleParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| RoleParseError { got: s.to_owned() })
    }
}
