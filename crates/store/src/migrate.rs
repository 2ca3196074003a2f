//! Versioned migrations, one folder per backend (`migrations/sqlite`,
//! `migrations/postgres`). Each is applied once, in its own transaction, and
//! recorded in `schema_migrations` with a checksum so an edited migration is caught.

use sha2::{Digest as _, Sha256};

/// One migration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

impl Migration {
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// What `migrate` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions applied by this call.
    pub applied: Vec<i64>,
    /// The schema version after this call.
    pub current: i64,
}

pub(crate) const SQLITE: &[Migration] = &[Migration {
    version: 1,
    description: "initial schema",
    sql: include_str!("../migrations/sqlite/0001_init.sql"),
}];
