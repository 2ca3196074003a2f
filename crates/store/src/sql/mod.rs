//! The SQL both backends share, written once.
//!
//! Statements are written in one dialect-neutral form: `?` placeholders in bind order
//! (or `?N` to reuse a value), and `{ord}` for the insertion-order tie-break column
//! (`rowid` in SQLite, the `ord` BIGSERIAL column in PostgreSQL). [`sql!`] gives each
//! statement a static [`Sql`] that renders it once per [`Dialect`] and caches the text,
//! so the hot path never re-parses. Each backend implements [`Conn`] (run a statement
//! with [`Arg`]s, fetch rows, commit); [`SqlTx`] over a [`Conn`] is the one [`Tx`]
//! implementation: each area trait ([`crate::tx`]) is implemented in its area's module
//! (`users`: users, systems, idempotency; `releases`: releases, lineage, deadlines;
//! `outbox`; `agents`: agents, credentials; `runtime`; `ledger`), `commit` here.

mod agents;
mod ledger;
mod outbox;
mod releases;
mod runtime;
mod users;

pub(crate) use ledger::load_or_create_key;

use crate::error::query;
use crate::rows::Columns;
use crate::{StoreError, Tx};
use async_trait::async_trait;
use countersign_ledger::LedgerKey;
use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

/// Rows per multi-row INSERT (bound parameters stay far below both backends' limits).
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// The statement [`crate::Store::ping`] runs.
pub(crate) const PING: &str = "SELECT 1";

/// The SQL dialect of a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The insertion-order column `{ord}` stands for.
    fn ord(self) -> &'static str {
        match self {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "ord",
        }
    }

    /// Appends the `n`th (1-based) placeholder.
    fn placeholder(self, out: &mut String, n: usize) {
        match self {
            Dialect::Sqlite => out.push('?'),
            Dialect::Postgres => {
                let _ = write!(out, "${n}");
            }
        }
    }

    /// Renders a neutral statement in this dialect (see the module docs).
    fn render(self, text: &str) -> String {
        let text = text.replace("{ord}", self.ord());
        if self == Dialect::Sqlite {
            return text;
        }
        let mut out = String::with_capacity(text.len() + 16);
        let (mut n, mut quoted) = (0, false);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                quoted = !quoted;
            }
            if c != '?' || quoted {
                out.push(c);
                continue;
            }
            let mut digits = String::new();
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                digits.push(d);
            }
            match digits.parse::<usize>() {
                Ok(k) => self.placeholder(&mut out, k),
                Err(_) => {
                    n += 1;
                    self.placeholder(&mut out, n);
                }
            }
        }
        out
    }
}

/// One statement, with its text per dialect rendered on first use.
pub(crate) struct Sql {
    source: &'static str,
    rendered: [OnceLock<String>; 2],
}

impl Sql {
    pub(crate) const fn new(source: &'static str) -> Self {
        Self {
            source,
            rendered: [OnceLock::new(), OnceLock::new()],
        }
    }

    pub(crate) fn text(&'static self, d: Dialect) -> &'static str {
        self.rendered[d as usize].get_or_init(|| d.render(self.source))
    }
}

/// A static [`Sql`] for a statement literal (pieces are concatenated).
macro_rules! sql {
    ($($text:expr),+ $(,)?) => {{
        static STATEMENT: $crate::sql::Sql = $crate::sql::Sql::new(concat!($($text),+));
        &STATEMENT
    }};
}
pub(crate) use sql;

/// A bound value: every column is text, a 64-bit integer or (blobs) bytes.
pub(crate) enum Arg<'a> {
    Str(&'a str),
    String(String),
    Null,
    Int(i64),
    Bytes(&'a [u8]),
}

/// `From` for each Rust type a statement binds.
macro_rules! arg_from {
    ($($t:ty => |$v:ident| $e:expr;)*) => {
        $(impl<'a> From<$t> for Arg<'a> {
            fn from($v: $t) -> Self {
                $e
            }
        })*
    };
}

arg_from! {
    &'a str => |s| Arg::Str(s);
    &'a String => |s| Arg::Str(s);
    String => |s| Arg::String(s);
    Option<&'a str> => |s| s.map_or(Arg::Null, Arg::Str);
    &'a Option<String> => |s| s.as_deref().into();
    Option<String> => |s| s.map_or(Arg::Null, Arg::String);
    i64 => |v| Arg::Int(v);
    &'a [u8] => |b| Arg::Bytes(b);
}

/// The arguments of one statement, in bind order.
pub(crate) type Args<'a> = Vec<Arg<'a>>;

/// [`Args`] from values of any type [`Arg`] converts from.
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$($crate::sql::Arg::from($v)),*] };
}
pub(crate) use args;

/// One backend's transaction: what [`SqlTx`] needs to run shared statements.
#[async_trait]
pub(crate) trait Conn: Send {
    type Row: Columns + Send + Sync;
    const DIALECT: Dialect;
    /// Runs a statement; returns the rows it affected.
    async fn run(&mut self, sql: &str, args: Args<'_>) -> sqlx::Result<u64>;
    async fn rows(&mut self, sql: &str, args: Args<'_>) -> sqlx::Result<Vec<Self::Row>>;
    async fn row(&mut self, sql: &str, args: Args<'_>) -> sqlx::Result<Option<Self::Row>>;
    /// Runs several statements without arguments (a migration).
    async fn script(&mut self, sql: &str) -> sqlx::Result<()>;
    async fn finish(self) -> sqlx::Result<()>;
}

/// Implements [`Conn`] for `sqlx::Transaction<'_, $db>`; the backends differ only in types.
macro_rules! impl_conn {
    ($db:ty, $dialect:expr) => {
        use $crate::sql::{Arg, Args};
        type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

        fn bind<'q>(q: Query<'q>, args: Args<'q>) -> Query<'q> {
            args.into_iter().fold(q, |q, a| match a {
                Arg::Str(s) => q.bind(s),
                Arg::String(s) => q.bind(s),
                Arg::Null => q.bind(None::<&str>),
                Arg::Int(v) => q.bind(v),
                Arg::Bytes(b) => q.bind(b),
            })
        }

        #[async_trait::async_trait]
        impl<'c> $crate::sql::Conn for sqlx::Transaction<'c, $db> {
            type Row = <$db as sqlx::Database>::Row;
            const DIALECT: $crate::sql::Dialect = $dialect;
            async fn run(&mut self, sql: &str, args: Args<'_>) -> sqlx::Result<u64> {
                let done = bind(sqlx::query(sql), args).execute(&mut **self).await?;
                Ok(done.rows_affected())
            }
            async fn rows(&mut self, sql: &str, args: Args<'_>) -> sqlx::Result<Vec<Self::Row>> {
                bind(sqlx::query(sql), args).fetch_all(&mut **self).await
            }
            async fn row(&mut self, sql: &str, args: Args<'_>) -> sqlx::Result<Option<Self::Row>> {
                bind(sqlx::query(sql), args)
                    .fetch_optional(&mut **self)
                    .await
            }
            async fn script(&mut self, sql: &str) -> sqlx::Result<()> {
                // Executor::execute rather than RawSql::execute, so this future is Send
                // (sqlx issue #3150).
                sqlx::Executor::execute(&mut **self, sqlx::raw_sql(sql)).await?;
                Ok(())
            }
            async fn finish(self) -> sqlx::Result<()> {
                self.commit().await
            }
        }
    };
}
pub(crate) use impl_conn;

/// The one [`Tx`] implementation, over either backend's transaction.
pub(crate) struct SqlTx<C> {
    pub(crate) conn: C,
    /// Present on write transactions only.
    pub(crate) key: Option<Arc<LedgerKey>>,
}

pub(super) type R<T> = Result<T, StoreError>;
type Decode<C, T> = fn(&<C as Conn>::Row) -> Result<T, StoreError>;

impl<C: Conn> SqlTx<C> {
    /// Runs a statement; returns the rows it affected.
    async fn exec(&mut self, sql: &'static Sql, args: Args<'_>, what: &'static str) -> R<u64> {
        self.conn
            .run(sql.text(C::DIALECT), args)
            .await
            .map_err(query(what))
    }

    /// Runs an `INSERT ... ON CONFLICT DO NOTHING`; a row not inserted is a conflict.
    /// Unlike a failed statement, that leaves a PostgreSQL transaction usable, as in
    /// SQLite (both backends now insert this way).
    async fn insert(&mut self, sql: &'static Sql, args: Args<'_>, what: &'static str) -> R<()> {
        match self.exec(sql, args, what).await? {
            0 => Err(StoreError::Conflict {
                what: what.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    async fn all<T>(&mut self, q: &'static Sql, args: Args<'_>, f: Decode<C, T>) -> R<Vec<T>> {
        let rows = self.conn.rows(q.text(C::DIALECT), args).await;
        rows.map_err(query(q.source))?.iter().map(f).collect()
    }

    async fn one<T>(&mut self, q: &'static Sql, args: Args<'_>, f: Decode<C, T>) -> R<Option<T>> {
        let row = self.conn.row(q.text(C::DIALECT), args).await;
        row.map_err(query(q.source))?.as_ref().map(f).transpose()
    }

    /// Inserts rows of `width` values each (`args` flattened, in order) with one
    /// multi-row INSERT per [`ROWS_PER_INSERT`] rows.
    async fn insert_rows(
        &mut self,
        head: &'static str,
        width: usize,
        args: Args<'_>,
        what: &'static str,
    ) -> R<()> {
        let per = width * ROWS_PER_INSERT;
        let mut rest = args;
        while !rest.is_empty() {
            let tail = if rest.len() > per {
                rest.split_off(per)
            } else {
                Vec::new()
            };
            let chunk = std::mem::replace(&mut rest, tail);
            let mut text = String::with_capacity(head.len() + chunk.len() * 6);
            text.push_str(head);
            text.push_str(" VALUES ");
            for (i, _) in chunk.iter().enumerate() {
                text.push_str(match (i % width, i) {
                    (0, 0) => "(",
                    (0, _) => "), (",
                    _ => ", ",
                });
                C::DIALECT.placeholder(&mut text, i + 1);
            }
            text.push(')');
            self.conn.run(&text, chunk).await.map_err(query(what))?;
        }
        Ok(())
    }
}

/// The rest of [`Tx`]; each area's trait is implemented in its area's module.
#[async_trait]
impl<C: Conn> Tx for SqlTx<C> {
    async fn commit(self: Box<Self>) -> R<()> {
        self.conn.finish().await.map_err(query("commit"))
    }
}

#[cfg(test)]
mod tests {
    use super::Dialect::{Postgres, Sqlite};

    #[test]
    fn statements_render_per_dialect() {
        let s = "SELECT x FROM t WHERE a = ? AND b = 'a?' ORDER BY y, {ord} LIMIT ?";
        assert_eq!(
            Postgres.render(s),
            "SELECT x FROM t WHERE a = $1 AND b = 'a?' ORDER BY y, ord LIMIT $2"
        );
        assert_eq!(Sqlite.render(s), s.replace("{ord}", "rowid"));
        assert_eq!(
            Postgres.render("(?1 IS NULL OR a = ?1) LIMIT ?2"),
            "($1 IS NULL OR a = $1) LIMIT $2"
        );
    }
}
