//! The SQLite backend: the embedded default.
//!
//! One write connection (writers are serialized in-process and take the database
//! lock up front with `BEGIN IMMEDIATE`), a small pool of readers, WAL journal,
//! `synchronous = FULL` so a committed command survives a power cut.

use crate::error::query;
use crate::migrate::{Migration, MigrationStatus, SQLITE};
use crate::records::*;
use crate::time::{from_text, to_text};
use crate::{Store, StoreError, Tx};
use async_trait::async_trait;
use chrono::Utc;
use countersign_core::gate::GapKey;
use countersign_core::release::{ReleaseKind, ReleaseStatus};
use countersign_core::review::Verdict;
use countersign_core::{Digest, ReleaseId, Role, SystemId, UserId};
use countersign_ledger::{
    chain_next, Entry, EntryDraft, Head, LedgerKey, LedgerPublicKey, SignedHead,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// A SQLite database file.
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    key: std::sync::Arc<LedgerKey>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (a path or `sqlite://PATH`),
    /// applies migrations, and loads or creates the ledger signing key.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        let open_err = |source| StoreError::Open {
            url: url.to_owned(),
            source,
        };
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(open_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .map_err(open_err)?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.read_only(false))
            .await
            .map_err(open_err)?;
        migrate(&writer).await?;
        let key = load_or_create_key(&writer).await?;
        Ok(Self {
            writer,
            readers,
            key: std::sync::Arc::new(key),
        })
    }

    /// Applies pending migrations without opening a full store.
    pub async fn migrate_only(url: &str) -> Result<MigrationStatus, StoreError> {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(|source| StoreError::Open {
                url: url.to_owned(),
                source,
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(|source| StoreError::Open {
                url: url.to_owned(),
                source,
            })?;
        migrate(&pool).await
    }
}

async fn migrate(pool: &SqlitePool) -> Result<MigrationStatus, StoreError> {
    run_migrations(pool, SQLITE).await
}

pub(crate) async fn run_migrations(
    pool: &SqlitePool,
    migrations: &[Migration],
) -> Result<MigrationStatus, StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, \
         description TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(pool)
    .await
    .map_err(query("schema_migrations"))?;
    let rows = sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all(pool)
        .await
        .map_err(query("schema_migrations"))?;
    let known = migrations.last().map_or(0, |m| m.version);
    let mut current = 0;
    for row in &rows {
        let version: i64 = row.try_get("version").map_err(query("schema_migrations"))?;
        let checksum: String = row
            .try_get("checksum")
            .map_err(query("schema_migrations"))?;
        match migrations.iter().find(|m| m.version == version) {
            None => {
                return Err(StoreError::SchemaTooNew {
                    found: version,
                    known,
                })
            }
            Some(m) if m.checksum() != checksum => {
                return Err(StoreError::MigrationChecksum { version })
            }
            Some(_) => current = current.max(version),
        }
    }
    let mut applied = Vec::new();
    let start = current;
    for m in migrations.iter().filter(|m| m.version > start) {
        let fail = |source| StoreError::Migration {
            version: m.version,
            description: m.description.to_owned(),
            source,
        };
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(fail)?;
        sqlx::raw_sql(m.sql).execute(&mut *tx).await.map_err(fail)?;
        sqlx::query("INSERT INTO schema_migrations (version, description, checksum, applied_at) VALUES (?, ?, ?, ?)")
            .bind(m.version)
            .bind(m.description)
            .bind(m.checksum())
            .bind(to_text(Utc::now()))
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        applied.push(m.version);
        current = m.version;
    }
    Ok(MigrationStatus { applied, current })
}

async fn load_or_create_key(pool: &SqlitePool) -> Result<LedgerKey, StoreError> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(query("ledger key"))?;
    let row = sqlx::query("SELECT secret_key FROM ledger_keys ORDER BY created_at LIMIT 1")
        .fetch_optional(&mut *tx)
        .await
        .map_err(query("ledger key"))?;
    let key = match row {
        Some(row) => {
            let hex_secret: String = row.try_get("secret_key").map_err(query("ledger key"))?;
            decode_secret(&hex_secret)?
        }
        None => {
            let key = LedgerKey::generate(&mut rand::rngs::OsRng);
            let public = key.public();
            sqlx::query("INSERT INTO ledger_keys (key_id, public_key, secret_key, created_at) VALUES (?, ?, ?, ?)")
                .bind(public.key_id())
                .bind(public.to_base64())
                .bind(hex::encode(key.to_bytes()))
                .bind(to_text(Utc::now()))
                .execute(&mut *tx)
                .await
                .map_err(query("ledger key"))?;
            key
        }
    };
    tx.commit().await.map_err(query("ledger key"))?;
    Ok(key)
}

pub(crate) fn decode_secret(hex_secret: &str) -> Result<LedgerKey, StoreError> {
    let bytes: [u8; 32] = hex::decode(hex_secret)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(StoreError::Corrupt {
            column: "ledger_keys.secret_key",
            reason: "not 32 hex bytes".into(),
        })?;
    Ok(LedgerKey::from_bytes(&bytes))
}

#[async_trait]
impl Store for SqliteStore {
    async fn write(&self) -> Result<Box<dyn Tx>, StoreError> {
        let tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(query("begin write"))?;
        Ok(Box::new(SqliteTx {
            tx,
            key: Some(self.key.clone()),
        }))
    }

    async fn read(&self) -> Result<Box<dyn Tx>, StoreError> {
        let tx = self.readers.begin().await.map_err(query("begin read"))?;
        Ok(Box::new(SqliteTx { tx, key: None }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.readers)
            .await
            .map_err(query("ping"))?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn ledger_public_key(&self) -> LedgerPublicKey {
        self.key.public()
    }
}

struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
    /// Present on write transactions only.
    key: Option<std::sync::Arc<LedgerKey>>,
}

fn corrupt(column: &'static str, value: &str) -> StoreError {
    StoreError::Corrupt {
        column,
        reason: format!("unexpected value {value:?}"),
    }
}

fn get<'r, T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>>(
    row: &'r SqliteRow,
    column: &'static str,
) -> Result<T, StoreError> {
    row.try_get(column).map_err(query(column))
}

fn json<T: serde::de::DeserializeOwned>(
    row: &SqliteRow,
    column: &'static str,
) -> Result<T, StoreError> {
    let text: String = get(row, column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
        column,
        reason: e.to_string(),
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    // INVARIANT: records hold only serializable values (strings, sets, maps, JSON).
    serde_json::to_string(v).unwrap_or_default()
}

fn time(row: &SqliteRow, column: &'static str) -> Result<chrono::DateTime<Utc>, StoreError> {
    from_text(column, &get::<String>(row, column)?)
}

fn opt_time(
    row: &SqliteRow,
    column: &'static str,
) -> Result<Option<chrono::DateTime<Utc>>, StoreError> {
    get::<Option<String>>(row, column)?
        .map(|s| from_text(column, &s))
        .transpose()
}

fn digest(row: &SqliteRow, column: &'static str) -> Result<Digest, StoreError> {
    let s: String = get(row, column)?;
    s.parse().map_err(|_| corrupt(column, &s))
}

fn u32_col(row: &SqliteRow, column: &'static str) -> Result<u32, StoreError> {
    let v: i64 = get(row, column)?;
    u32::try_from(v).map_err(|_| corrupt(column, &v.to_string()))
}

fn user(row: &SqliteRow) -> Result<UserRecord, StoreError> {
    let roles: Vec<String> = json(row, "roles")?;
    let roles = roles
        .iter()
        .map(|r| r.parse::<Role>().map_err(|_| corrupt("users.roles", r)))
        .collect::<Result<_, _>>()?;
    Ok(UserRecord {
        id: UserId(get(row, "id")?),
        name: get(row, "name")?,
        email: get(row, "email")?,
        roles,
        created_at: time(row, "created_at")?,
    })
}

fn system(row: &SqliteRow) -> Result<SystemRecord, StoreError> {
    Ok(SystemRecord {
        id: SystemId(get(row, "id")?),
        name: get(row, "name")?,
        description: get(row, "description")?,
        owner: UserId(get(row, "owner_id")?),
        created_at: time(row, "created_at")?,
    })
}

fn release(row: &SqliteRow) -> Result<ReleaseRecord, StoreError> {
    let kind: String = get(row, "kind")?;
    let status: String = get(row, "status")?;
    Ok(ReleaseRecord {
        id: ReleaseId(get(row, "id")?),
        title: get(row, "title")?,
        kind: ReleaseKind::parse(&kind).ok_or_else(|| corrupt("releases.kind", &kind))?,
        system_id: SystemId(get(row, "system_id")?),
        decision_owner: UserId(get(row, "decision_owner")?),
        created_by: UserId(get(row, "created_by")?),
        attributes: json(row, "attributes")?,
        status: ReleaseStatus::parse(&status).ok_or_else(|| corrupt("releases.status", &status))?,
        current_revision: u32_col(row, "current_revision")?,
        environment: get(row, "environment")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn revision(row: &SqliteRow) -> Result<RevisionRecord, StoreError> {
    Ok(RevisionRecord {
        release_id: ReleaseId(get(row, "release_id")?),
        number: u32_col(row, "number")?,
        bundle: json(row, "bundle")?,
        bundle_digest: digest(row, "bundle_digest")?,
        tier: get(row, "tier")?,
        matched_rules: json(row, "matched_rules")?,
        profile_digest: digest(row, "profile_digest")?,
        created_by: UserId(get(row, "created_by")?),
        created_at: time(row, "created_at")?,
        submitted_by: get::<Option<String>>(row, "submitted_by")?.map(UserId),
        submitted_at: opt_time(row, "submitted_at")?,
    })
}

fn review(row: &SqliteRow) -> Result<ReviewRecord, StoreError> {
    let role: String = get(row, "role")?;
    let verdict: String = get(row, "verdict")?;
    Ok(ReviewRecord {
        id: get(row, "id")?,
        release_id: ReleaseId(get(row, "release_id")?),
        revision: u32_col(row, "revision")?,
        role: role.parse().map_err(|_| corrupt("reviews.role", &role))?,
        reviewer: UserId(get(row, "reviewer")?),
        verdict: Verdict::parse(&verdict).ok_or_else(|| corrupt("reviews.verdict", &verdict))?,
        answers: json(row, "answers")?,
        conditions: get(row, "conditions")?,
        comment: get(row, "comment")?,
        bundle_digest: digest(row, "bundle_digest")?,
        created_at: time(row, "created_at")?,
    })
}

fn evidence(row: &SqliteRow) -> Result<EvidenceRecord, StoreError> {
    let size: i64 = get(row, "size")?;
    Ok(EvidenceRecord {
        id: get(row, "id")?,
        release_id: ReleaseId(get(row, "release_id")?),
        revision: u32_col(row, "revision")?,
        kind: get(row, "kind")?,
        name: get(row, "name")?,
        media_type: get(row, "media_type")?,
        digest: digest(row, "digest")?,
        size: u64::try_from(size).map_err(|_| corrupt("evidence.size", &size.to_string()))?,
        attached_by: UserId(get(row, "attached_by")?),
        created_at: time(row, "created_at")?,
    })
}

fn acceptance(row: &SqliteRow) -> Result<AcceptanceRecord, StoreError> {
    let gap: String = get(row, "gap")?;
    Ok(AcceptanceRecord {
        id: get(row, "id")?,
        release_id: ReleaseId(get(row, "release_id")?),
        revision: u32_col(row, "revision")?,
        gap: gap
            .parse::<GapKey>()
            .map_err(|_| corrupt("acceptances.gap", &gap))?,
        justification: get(row, "justification")?,
        expires_at: time(row, "expires_at")?,
        accepted_by: UserId(get(row, "accepted_by")?),
        bundle_digest: digest(row, "bundle_digest")?,
        created_at: time(row, "created_at")?,
    })
}

fn decision(row: &SqliteRow) -> Result<DecisionRecord, StoreError> {
    let d: String = get(row, "decision")?;
    Ok(DecisionRecord {
        id: get(row, "id")?,
        release_id: ReleaseId(get(row, "release_id")?),
        revision: u32_col(row, "revision")?,
        decision: Decision::parse(&d).ok_or_else(|| corrupt("decisions.decision", &d))?,
        environment: get(row, "environment")?,
        comment: get(row, "comment")?,
        decided_by: UserId(get(row, "decided_by")?),
        bundle_digest: digest(row, "bundle_digest")?,
        created_at: time(row, "created_at")?,
    })
}

fn deployment(row: &SqliteRow) -> Result<DeploymentRecord, StoreError> {
    let a: String = get(row, "action")?;
    Ok(DeploymentRecord {
        id: get(row, "id")?,
        release_id: ReleaseId(get(row, "release_id")?),
        revision: u32_col(row, "revision")?,
        action: DeploymentAction::parse(&a).ok_or_else(|| corrupt("deployments.action", &a))?,
        environment: get(row, "environment")?,
        reason: get(row, "reason")?,
        actor: UserId(get(row, "actor")?),
        created_at: time(row, "created_at")?,
    })
}

fn entry(row: &SqliteRow) -> Result<Entry, StoreError> {
    let seq: i64 = get(row, "seq")?;
    Ok(Entry {
        seq: u64::try_from(seq).map_err(|_| corrupt("ledger_entries.seq", &seq.to_string()))?,
        at: get(row, "at")?,
        actor: get(row, "actor")?,
        action: get(row, "action")?,
        subject: get(row, "subject")?,
        payload: json(row, "payload")?,
        payload_digest: digest(row, "payload_digest")?,
        prev_hash: digest(row, "prev_hash")?,
        hash: digest(row, "hash")?,
    })
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl SqliteTx {
    async fn all<T>(
        &mut self,
        sql: &'static str,
        id: &str,
        decode: fn(&SqliteRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = sqlx::query(sql)
            .bind(id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query(sql))?;
        rows.iter().map(decode).collect()
    }

    async fn one<T>(
        &mut self,
        sql: &'static str,
        id: &str,
        decode: fn(&SqliteRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let row = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(query(sql))?;
        row.as_ref().map(decode).transpose()
    }
}

#[async_trait]
impl Tx for SqliteTx {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(query("commit"))
    }

    async fn insert_user(&mut self, u: &UserRecord) -> Result<(), StoreError> {
        let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
        sqlx::query(
            "INSERT INTO users (id, name, email, roles, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(u.id.as_str())
        .bind(&u.name)
        .bind(&u.email)
        .bind(to_json(&roles))
        .bind(to_text(u.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(query("user email"))?;
        Ok(())
    }

    async fn get_user(&mut self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        self.one("SELECT * FROM users WHERE id = ?", id.as_str(), user)
            .await
    }

    async fn list_users(&mut self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY created_at, id")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("list users"))?;
        rows.iter().map(user).collect()
    }

    async fn count_users(&mut self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *self.tx)
            .await
            .map_err(query("count users"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn insert_token(&mut self, t: &TokenRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_tokens (id, user_id, token_hash, label, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&t.id)
            .bind(t.user_id.as_str())
            .bind(&t.token_hash)
            .bind(&t.label)
            .bind(to_text(t.created_at))
            .execute(&mut *self.tx)
            .await
            .map_err(query("token"))?;
        Ok(())
    }

    async fn user_by_token_hash(&mut self, hash: &str) -> Result<Option<UserRecord>, StoreError> {
        self.one(
            "SELECT users.* FROM users JOIN api_tokens ON api_tokens.user_id = users.id WHERE api_tokens.token_hash = ?",
            hash,
            user,
        )
        .await
    }

    async fn insert_system(&mut self, s: &SystemRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO systems (id, name, description, owner_id, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(s.id.as_str())
            .bind(&s.name)
            .bind(&s.description)
            .bind(s.owner.as_str())
            .bind(to_text(s.created_at))
            .execute(&mut *self.tx)
            .await
            .map_err(query("system name"))?;
        Ok(())
    }

    async fn get_system(&mut self, id: &SystemId) -> Result<Option<SystemRecord>, StoreError> {
        self.one("SELECT * FROM systems WHERE id = ?", id.as_str(), system)
            .await
    }

    async fn list_systems(&mut self) -> Result<Vec<SystemRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM systems ORDER BY created_at, id")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("list systems"))?;
        rows.iter().map(system).collect()
    }

    async fn insert_release(&mut self, r: &ReleaseRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO releases (id, title, kind, system_id, decision_owner, created_by, attributes, status, \
             current_revision, environment, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(r.id.as_str())
        .bind(&r.title)
        .bind(r.kind.as_str())
        .bind(r.system_id.as_str())
        .bind(r.decision_owner.as_str())
        .bind(r.created_by.as_str())
        .bind(to_json(&r.attributes))
        .bind(r.status.as_str())
        .bind(i64::from(r.current_revision))
        .bind(&r.environment)
        .bind(to_text(r.created_at))
        .bind(to_text(r.updated_at))
        .execute(&mut *self.tx)
        .await
        .map_err(query("release id"))?;
        Ok(())
    }

    async fn update_release(&mut self, r: &ReleaseRecord) -> Result<(), StoreError> {
        sqlx::query("UPDATE releases SET status = ?, current_revision = ?, environment = ?, updated_at = ? WHERE id = ?")
            .bind(r.status.as_str())
            .bind(i64::from(r.current_revision))
            .bind(&r.environment)
            .bind(to_text(r.updated_at))
            .bind(r.id.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(query("update release"))?;
        Ok(())
    }

    async fn get_release(&mut self, id: &ReleaseId) -> Result<Option<ReleaseRecord>, StoreError> {
        self.one("SELECT * FROM releases WHERE id = ?", id.as_str(), release)
            .await
    }

    async fn list_releases(&mut self) -> Result<Vec<ReleaseRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM releases ORDER BY created_at DESC, id")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("list releases"))?;
        rows.iter().map(release).collect()
    }

    async fn insert_revision(&mut self, r: &RevisionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO revisions (release_id, number, bundle, bundle_digest, artifact_digest, tier, matched_rules, \
             profile_digest, created_by, created_at, submitted_by, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(r.release_id.as_str())
        .bind(i64::from(r.number))
        .bind(to_json(&r.bundle))
        .bind(r.bundle_digest.as_str())
        .bind(r.bundle.artifact_digest.as_str())
        .bind(&r.tier)
        .bind(to_json(&r.matched_rules))
        .bind(r.profile_digest.as_str())
        .bind(r.created_by.as_str())
        .bind(to_text(r.created_at))
        .bind(r.submitted_by.as_ref().map(|u| u.as_str()))
        .bind(r.submitted_at.map(to_text))
        .execute(&mut *self.tx)
        .await
        .map_err(query("revision number"))?;
        Ok(())
    }

    async fn update_revision(&mut self, r: &RevisionRecord) -> Result<(), StoreError> {
        sqlx::query("UPDATE revisions SET submitted_by = ?, submitted_at = ? WHERE release_id = ? AND number = ?")
            .bind(r.submitted_by.as_ref().map(|u| u.as_str()))
            .bind(r.submitted_at.map(to_text))
            .bind(r.release_id.as_str())
            .bind(i64::from(r.number))
            .execute(&mut *self.tx)
            .await
            .map_err(query("update revision"))?;
        Ok(())
    }

    async fn get_revision(
        &mut self,
        release_id: &ReleaseId,
        number: u32,
    ) -> Result<Option<RevisionRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM revisions WHERE release_id = ? AND number = ?")
            .bind(release_id.as_str())
            .bind(i64::from(number))
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(query("get revision"))?;
        row.as_ref().map(revision).transpose()
    }

    async fn list_revisions(
        &mut self,
        release_id: &ReleaseId,
    ) -> Result<Vec<RevisionRecord>, StoreError> {
        self.all(
            "SELECT * FROM revisions WHERE release_id = ? ORDER BY number",
            release_id.as_str(),
            revision,
        )
        .await
    }

    async fn revisions_by_artifact(
        &mut self,
        artifact: &Digest,
    ) -> Result<Vec<(ReleaseRecord, RevisionRecord)>, StoreError> {
        let revs = self
            .all("SELECT * FROM revisions WHERE artifact_digest = ? ORDER BY created_at, release_id, number", artifact.as_str(), revision)
            .await?;
        let mut out = Vec::with_capacity(revs.len());
        for rev in revs {
            if let Some(rel) = self.get_release(&rev.release_id).await? {
                out.push((rel, rev));
            }
        }
        Ok(out)
    }

    async fn insert_review(&mut self, r: &ReviewRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO reviews (id, release_id, revision, role, reviewer, verdict, answers, conditions, comment, \
             bundle_digest, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&r.id)
        .bind(r.release_id.as_str())
        .bind(i64::from(r.revision))
        .bind(r.role.as_str())
        .bind(r.reviewer.as_str())
        .bind(r.verdict.as_str())
        .bind(to_json(&r.answers))
        .bind(&r.conditions)
        .bind(&r.comment)
        .bind(r.bundle_digest.as_str())
        .bind(to_text(r.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(query("review for this role and revision"))?;
        Ok(())
    }

    async fn list_reviews(
        &mut self,
        release_id: &ReleaseId,
    ) -> Result<Vec<ReviewRecord>, StoreError> {
        self.all(
            "SELECT * FROM reviews WHERE release_id = ? ORDER BY revision, created_at, id",
            release_id.as_str(),
            review,
        )
        .await
    }

    async fn put_blob(&mut self, d: &Digest, content: &[u8]) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO blobs (digest, size, content) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING")
            .bind(d.as_str())
            .bind(i64::try_from(content.len()).unwrap_or(i64::MAX))
            .bind(content)
            .execute(&mut *self.tx)
            .await
            .map_err(query("put blob"))?;
        Ok(())
    }

    async fn get_blob(&mut self, d: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT content FROM blobs WHERE digest = ?")
            .bind(d.as_str())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(query("get blob"))?;
        row.map(|r| get::<Vec<u8>>(&r, "content")).transpose()
    }

    async fn insert_evidence(&mut self, e: &EvidenceRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO evidence (id, release_id, revision, kind, name, media_type, digest, size, attached_by, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&e.id)
        .bind(e.release_id.as_str())
        .bind(i64::from(e.revision))
        .bind(&e.kind)
        .bind(&e.name)
        .bind(&e.media_type)
        .bind(e.digest.as_str())
        .bind(i64_of(e.size))
        .bind(e.attached_by.as_str())
        .bind(to_text(e.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(query("evidence id"))?;
        Ok(())
    }

    async fn list_evidence(
        &mut self,
        release_id: &ReleaseId,
    ) -> Result<Vec<EvidenceRecord>, StoreError> {
        self.all(
            "SELECT * FROM evidence WHERE release_id = ? ORDER BY revision, created_at, id",
            release_id.as_str(),
            evidence,
        )
        .await
    }

    async fn insert_acceptance(&mut self, a: &AcceptanceRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO acceptances (id, release_id, revision, gap, justification, expires_at, accepted_by, bundle_digest, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.id)
        .bind(a.release_id.as_str())
        .bind(i64::from(a.revision))
        .bind(a.gap.to_string())
        .bind(&a.justification)
        .bind(to_text(a.expires_at))
        .bind(a.accepted_by.as_str())
        .bind(a.bundle_digest.as_str())
        .bind(to_text(a.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(query("acceptance id"))?;
        Ok(())
    }

    async fn list_acceptances(
        &mut self,
        release_id: &ReleaseId,
    ) -> Result<Vec<AcceptanceRecord>, StoreError> {
        self.all(
            "SELECT * FROM acceptances WHERE release_id = ? ORDER BY revision, created_at, id",
            release_id.as_str(),
            acceptance,
        )
        .await
    }

    async fn insert_decision(&mut self, d: &DecisionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO decisions (id, release_id, revision, decision, environment, comment, decided_by, bundle_digest, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&d.id)
        .bind(d.release_id.as_str())
        .bind(i64::from(d.revision))
        .bind(d.decision.as_str())
        .bind(&d.environment)
        .bind(&d.comment)
        .bind(d.decided_by.as_str())
        .bind(d.bundle_digest.as_str())
        .bind(to_text(d.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(query("decision for this revision"))?;
        Ok(())
    }

    async fn list_decisions(
        &mut self,
        release_id: &ReleaseId,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        self.all(
            "SELECT * FROM decisions WHERE release_id = ? ORDER BY revision, created_at",
            release_id.as_str(),
            decision,
        )
        .await
    }

    async fn insert_deployment(&mut self, d: &DeploymentRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO deployments (id, release_id, revision, action, environment, reason, actor, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&d.id)
        .bind(d.release_id.as_str())
        .bind(i64::from(d.revision))
        .bind(d.action.as_str())
        .bind(&d.environment)
        .bind(&d.reason)
        .bind(d.actor.as_str())
        .bind(to_text(d.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(query("deployment id"))?;
        Ok(())
    }

    async fn list_deployments(
        &mut self,
        release_id: &ReleaseId,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        self.all(
            "SELECT * FROM deployments WHERE release_id = ? ORDER BY created_at, id",
            release_id.as_str(),
            deployment,
        )
        .await
    }

    async fn append(&mut self, draft: EntryDraft) -> Result<Entry, StoreError> {
        let key = self.key.clone().ok_or(StoreError::Corrupt {
            column: "ledger",
            reason: "append on a read-only transaction".into(),
        })?;
        let head = self.ledger_head().await?.map(|h| h.head());
        let entry = chain_next(head.as_ref(), draft).map_err(StoreError::Ledger)?;
        sqlx::query(
            "INSERT INTO ledger_entries (seq, at, actor, action, subject, payload, payload_digest, prev_hash, hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(i64_of(entry.seq))
        .bind(&entry.at)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.subject)
        .bind(to_json(&entry.payload))
        .bind(entry.payload_digest.as_str())
        .bind(entry.prev_hash.as_str())
        .bind(entry.hash.as_str())
        .execute(&mut *self.tx)
        .await
        .map_err(query("ledger seq"))?;
        let signed = key.sign_head(&Head {
            seq: entry.seq,
            hash: entry.hash.clone(),
        });
        sqlx::query(
            "INSERT INTO ledger_head (id, seq, hash, key_id, signature) VALUES (1, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, key_id = excluded.key_id, signature = excluded.signature",
        )
        .bind(i64_of(signed.seq))
        .bind(signed.hash.as_str())
        .bind(&signed.key_id)
        .bind(&signed.signature)
        .execute(&mut *self.tx)
        .await
        .map_err(query("ledger head"))?;
        Ok(entry)
    }

    async fn ledger_page(&mut self, after: u64, limit: u32) -> Result<Vec<Entry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM ledger_entries WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(i64_of(after))
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await
            .map_err(query("ledger page"))?;
        rows.iter().map(entry).collect()
    }

    async fn ledger_head(&mut self) -> Result<Option<SignedHead>, StoreError> {
        let row = sqlx::query("SELECT seq, hash, key_id, signature FROM ledger_head WHERE id = 1")
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(query("ledger head"))?;
        row.map(|r| {
            let seq: i64 = get(&r, "seq")?;
            Ok(SignedHead {
                seq: u64::try_from(seq)
                    .map_err(|_| corrupt("ledger_head.seq", &seq.to_string()))?,
                hash: digest(&r, "hash")?,
                key_id: get(&r, "key_id")?,
                signature: get(&r, "signature")?,
            })
        })
        .transpose()
    }

    async fn ledger_count(&mut self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_entries")
            .fetch_one(&mut *self.tx)
            .await
            .map_err(query("ledger count"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn get_idempotency(
        &mut self,
        actor: &UserId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM idempotency WHERE actor = ? AND key = ?")
            .bind(actor.as_str())
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(query("get idempotency"))?;
        row.map(|r| {
            let status: i64 = get(&r, "status")?;
            Ok(IdempotencyRecord {
                actor: UserId(get(&r, "actor")?),
                key: get(&r, "key")?,
                request_hash: get(&r, "request_hash")?,
                status: u16::try_from(status)
                    .map_err(|_| corrupt("idempotency.status", &status.to_string()))?,
                body: get(&r, "body")?,
                created_at: time(&r, "created_at")?,
            })
        })
        .transpose()
    }

    async fn put_idempotency(&mut self, r: &IdempotencyRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO idempotency (actor, key, request_hash, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(r.actor.as_str())
            .bind(&r.key)
            .bind(&r.request_hash)
            .bind(i64::from(r.status))
            .bind(&r.body)
            .bind(to_text(r.created_at))
            .execute(&mut *self.tx)
            .await
            .map_err(query("idempotency key"))?;
        Ok(())
    }
}
