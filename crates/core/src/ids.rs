//! Opaque identifiers. Each is a string newtype so an id of one kind cannot be
//! passed where another is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

id_type!(
    /// A human principal.
    UserId
);
id_type!(
    /// A production system or workflow.
    SystemId
);
id_type!(
    /// A release (all its revisions).
    ReleaseId
);
id_type!(
    /// An agent workload identity.
    AgentId
);
id_type!(
    /// A grant: one agent's permission on one system.
    GrantId
);
