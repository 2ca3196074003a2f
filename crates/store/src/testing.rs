//! Helpers for tests, in this crate and others: throwaway PostgreSQL databases.
//!
//! ```no_run
//! # async fn demo() -> Result<(), countersign_store::StoreError> {
//! use countersign_store::testing::{drop_postgres_database, fresh_postgres_database, postgres_database_name};
//! let base = "postgres://postgres@127.0.0.1:5432/test";
//! let url = fresh_postgres_database(base).await?;
//! let store = countersign_store::open(&url).await?;
//! // ... use the store ...
//! drop(store);
//! if let Some(name) = postgres_database_name(&url) {
//!     let _ = drop_postgres_database(base, name).await;
//! }
//! # Ok(())
//! # }
//! ```

use crate::error::query;
use crate::StoreError;
use rand::RngCore;
use sqlx::{Connection, PgConnection};

/// The prefix of every database [`fresh_postgres_database`] creates.
pub const TEST_DATABASE_PREFIX: &str = "cs_test_";

async fn connect(base_url: &str) -> Result<PgConnection, StoreError> {
    PgConnection::connect(base_url)
        .await
        .map_err(|source| StoreError::Open {
            url: base_url.to_owned(),
            source,
        })
}

/// `name` as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Connects to `base_url`, creates a new empty database `cs_test_<random hex>` on the
/// same server, and returns the URL of the new database: `base_url` with its path
/// (the database name) replaced. The caller should drop it when done
/// ([`drop_postgres_database`]).
pub async fn fresh_postgres_database(base_url: &str) -> Result<String, StoreError> {
    let mut random = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let name = format!("{TEST_DATABASE_PREFIX}{}", hex::encode(random));
    let url = with_database(base_url, &name).ok_or_else(|| StoreError::UnsupportedUrl {
        url: base_url.to_owned(),
    })?;
    let mut conn = connect(base_url).await?;
    let created = sqlx::query(&format!("CREATE DATABASE {}", quote_ident(&name)))
        .execute(&mut conn)
        .await
        .map_err(query("create test database"));
    let _ = conn.close().await;
    created?;
    Ok(url)
}

/// Drops database `name` on the server of `base_url`, disconnecting anyone still
/// connected to it. Dropping a database that does not exist succeeds. Best effort:
/// callers in test teardown may ignore the error.
pub async fn drop_postgres_database(base_url: &str, name: &str) -> Result<(), StoreError> {
    let mut conn = connect(base_url).await?;
    let dropped = sqlx::query(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(name)
    ))
    .execute(&mut conn)
    .await
    .map_err(query("drop test database"));
    let _ = conn.close().await;
    dropped.map(|_| ())
}

/// The database name in a `postgres://` URL: its path without the leading `/`.
pub fn postgres_database_name(url: &str) -> Option<&str> {
    let (start, end) = path_span(url)?;
    url.get(start..end)
        .and_then(|p| p.strip_prefix('/'))
        .filter(|n| !n.is_empty())
}

/// `url` with its path replaced by `/name`, keeping scheme, user, host, port and query.
pub fn with_database(url: &str, name: &str) -> Option<String> {
    let (start, end) = path_span(url)?;
    Some(format!("{}/{}{}", &url[..start], name, &url[end..]))
}

/// Byte range of the path in `scheme://authority/path?query#fragment`.
fn path_span(url: &str) -> Option<(usize, usize)> {
    let after_scheme = url.find("://")? + 3;
    let rest = &url[after_scheme..];
    let start = after_scheme + rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let end = start + url[start..].find(['?', '#']).unwrap_or(url.len() - start);
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_keeping_everything_else() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/cs_x",
            ),
            (
                "postgresql://u:p@db:5432/test?sslmode=disable",
                "postgresql://u:p@db:5432/cs_x?sslmode=disable",
            ),
            ("postgres://localhost", "postgres://localhost/cs_x"),
            ("postgres://localhost/", "postgres://localhost/cs_x"),
            (
                "postgres://h?sslmode=require",
                "postgres://h/cs_x?sslmode=require",
            ),
        ];
        for (base, want) in cases {
            assert_eq!(with_database(base, "cs_x").as_deref(), Some(want), "{base}");
            assert_eq!(postgres_database_name(want), Some("cs_x"));
        }
        assert_eq!(with_database("not a url", "x"), None);
        assert_eq!(postgres_database_name("postgres://h/"), None);
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("cs_test_00"), "\"cs_test_00\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
