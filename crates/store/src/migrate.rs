//! Versioned migrations, one folder per backend (`migrations/sqlite`,
//! `migrations/postgres`). Each is applied once, in its own transaction, and
//! recorded in `schema_migrations` with a checksum so an edited migration is caught.

use crate::rows::Columns;
use crate::sql::{args, sql, Conn};
use crate::time::to_text;
use crate::StoreError;
use chrono::Utc;
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

/// The migrations of both backends from one list, so their versions and descriptions
/// cannot drift apart: version, file stem (the same under `migrations/sqlite` and
/// `migrations/postgres`), description.
macro_rules! migrations {
    ($($version:literal $file:literal $description:literal;)*) => {
        pub(crate) const SQLITE: &[Migration] = &[$(Migration {
            version: $version,
            description: $description,
            sql: include_str!(concat!("../migrations/sqlite/", $file, ".sql")),
        },)*];
        pub(crate) const POSTGRES: &[Migration] = &[$(Migration {
            version: $version,
            description: $description,
            sql: include_str!(concat!("../migrations/postgres/", $file, ".sql")),
        },)*];
    };
}

migrations! {
    1 "0001_init" "initial schema";
    2 "0002_gate" "lineage, escalations, webhooks and the event outbox";
    3 "0003_agents" "agents, grants and credentials";
    4 "0004_actions" "runtime decisions, approval requests and the action log";
    5 "0005_sessions" "console sessions";
    6 "0006_identities" "identities at OpenID Connect providers";
    7 "0007_friction" "friction rules on reviews; the ledger by subject";
    8 "0008_cosignatures" "witnesses' cosignatures of ledger checkpoints";
}

/// Checks the rows of `schema_migrations` (version, checksum) against the migrations
/// this binary knows, and returns the current schema version.
///
/// Refuses a version this binary does not know ([`StoreError::SchemaTooNew`]) and a
/// known version applied with a different checksum ([`StoreError::MigrationChecksum`]).
pub(crate) fn check_applied(
    migrations: &[Migration],
    applied: &[(i64, String)],
) -> Result<i64, StoreError> {
    let known = migrations.last().map_or(0, |m| m.version);
    let mut current = 0;
    for (version, checksum) in applied {
        match migrations.iter().find(|m| m.version == *version) {
            None => {
                return Err(StoreError::SchemaTooNew {
                    found: *version,
                    known,
                })
            }
            Some(m) if m.checksum() != *checksum => {
                return Err(StoreError::MigrationChecksum { version: *version })
            }
            Some(_) => current = current.max(*version),
        }
    }
    Ok(current)
}

/// Whether `version` is among the applied rows. The runner applies every known
/// migration not applied yet, so versions need not be contiguous and a gap filled by a
/// later binary is applied then.
pub(crate) fn is_applied(applied: &[(i64, String)], version: i64) -> bool {
    applied.iter().any(|(v, _)| *v == version)
}

/// The versions (and their checksums) the database has applied, read in `c`.
pub(crate) async fn applied<C: Conn>(
    c: &mut C,
    fail: impl FnOnce(sqlx::Error) -> StoreError,
) -> Result<Vec<(i64, String)>, StoreError> {
    let s = sql!("SELECT version, checksum FROM schema_migrations ORDER BY version");
    let rows = c.rows(s.text(C::DIALECT), args![]).await.map_err(fail)?;
    rows.iter()
        .map(|r| Ok((r.int("version")?, r.text("checksum")?)))
        .collect()
}

/// Applies one migration in `tx` and records it there.
pub(crate) async fn apply<C: Conn>(tx: &mut C, m: &Migration) -> Result<(), sqlx::Error> {
    tx.script(m.sql).await?;
    let s = sql!("INSERT INTO schema_migrations (version, description, checksum, applied_at) VALUES (?, ?, ?, ?)");
    let v = args![m.version, m.description, m.checksum(), to_text(Utc::now())];
    tx.run(s.text(C::DIALECT), v).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_increasing_on_every_backend() {
        for list in [SQLITE, POSTGRES] {
            assert!(list.windows(2).all(|w| w[0].version < w[1].version));
            assert_eq!(list.first().map(|m| m.version), Some(1));
        }
    }

    #[test]
    fn a_gap_in_versions_is_accepted_and_filled_later() {
        let m = SQLITE[0];
        // A database migrated by a binary that knew 1 and 3 only.
        let v3 = SQLITE
            .iter()
            .find(|m| m.version == 3)
            .map(|m| m.checksum())
            .unwrap_or_default();
        let rows = vec![(1, m.checksum()), (3, v3)];
        assert_eq!(check_applied(SQLITE, &rows).unwrap(), 3);
        assert!(is_applied(&rows, 3) && !is_applied(&rows, 2));
    }

    #[test]
    fn both_backends_know_the_same_versions() {
        let versions = |l: &[Migration]| l.iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
    }

    #[test]
    fn check_applied_accepts_known_and_refuses_unknown_or_edited() {
        let m = SQLITE[0];
        assert_eq!(check_applied(SQLITE, &[]).unwrap(), 0);
        assert_eq!(check_applied(SQLITE, &[(1, m.checksum())]).unwrap(), 1);
        assert!(matches!(
            check_applied(SQLITE, &[(1, "edited".into())]),
            Err(StoreError::MigrationChecksum { version: 1 })
        ));
        assert!(matches!(
            check_applied(SQLITE, &[(1, m.checksum()), (99, "x".into())]),
            Err(StoreError::SchemaTooNew {
                found: 99,
                known: 8
            })
        ));
    }
}
