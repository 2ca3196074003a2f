//! Store errors.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {url}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migration {version} ({description}) failed")]
    Migration {
        version: i64,
        description: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database has migration {version} applied with a different checksum; this binary's migrations do not match it")]
    MigrationChecksum { version: i64 },
    #[error("database is at schema version {found}, newer than this binary knows ({known}); upgrade countersign")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("a row with the same {what} already exists")]
    Conflict { what: String },
    #[error("database query failed: {context}")]
    Query {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("stored value in {column} is not valid: {reason}")]
    Corrupt {
        column: &'static str,
        reason: String,
    },
    #[error("the ledger could not be appended")]
    Ledger(#[source] countersign_ledger::LedgerError),
    #[error("the ledger checkpoint could not be signed")]
    Note(#[source] countersign_ledger::NoteError),
    #[error("unsupported database url {url:?}: use a file path, sqlite://PATH or postgres://...")]
    UnsupportedUrl { url: String },
}

impl StoreError {
    /// Whether this is a uniqueness conflict (a retry or race, not a fault).
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

/// Maps a sqlx error into a store error, turning unique violations into conflicts.
pub(crate) fn query(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| match &source {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
            what: context.to_owned(),
        },
        _ => StoreError::Query { context, source },
    }
}

/// Maps a connection error for `url` into [`StoreError::Open`].
pub(crate) fn open(url: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |source| StoreError::Open {
        url: url.to_owned(),
        source,
    }
}
