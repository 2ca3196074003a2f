//! Decoding rows into records, shared by the backends.
//!
//! Each backend's row type implements [`Columns`] (text, optional text, 64-bit
//! integer and byte columns); everything else (JSON, times, digests, enums, range
//! checks) is decoded here once, so both backends read a row the same way.

use crate::error::query;
use crate::records::*;
use crate::time::from_text;
use crate::StoreError;
use chrono::{DateTime, Utc};
use countersign_core::agent::AgentStatus;
use countersign_core::delivery::{AttemptOutcome, DeliveryState};
use countersign_core::gap::GapKey;
use countersign_core::release::{Decision, DeploymentAction, ReleaseKind, ReleaseStatus};
use countersign_core::review::Verdict;
use countersign_core::{AgentId, Digest, GrantId, ReleaseId, Role, SystemId, UserId};
use countersign_ledger::{Entry, SignedHead};
use sqlx::{ColumnIndex, Decode, Row, Type};

/// The three column shapes the schema uses.
pub(crate) trait Columns {
    fn text(&self, column: &'static str) -> Result<String, StoreError>;
    fn opt_text(&self, column: &'static str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &'static str) -> Result<i64, StoreError>;
    fn bytes(&self, column: &'static str) -> Result<Vec<u8>, StoreError>;
}

impl<R> Columns for R
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, column: &'static str) -> Result<String, StoreError> {
        self.try_get(column).map_err(query(column))
    }
    fn opt_text(&self, column: &'static str) -> Result<Option<String>, StoreError> {
        self.try_get(column).map_err(query(column))
    }
    fn int(&self, column: &'static str) -> Result<i64, StoreError> {
        self.try_get(column).map_err(query(column))
    }
    fn bytes(&self, column: &'static str) -> Result<Vec<u8>, StoreError> {
        self.try_get(column).map_err(query(column))
    }
}

pub(crate) fn corrupt(column: &'static str, value: &str) -> StoreError {
    StoreError::Corrupt {
        column,
        reason: format!("unexpected value {value:?}"),
    }
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    // INVARIANT: records hold only serializable values (strings, sets, maps, JSON).
    serde_json::to_string(v).unwrap_or_default()
}

pub(crate) fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn json<T: serde::de::DeserializeOwned>(
    row: &impl Columns,
    column: &'static str,
) -> Result<T, StoreError> {
    let text = row.text(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
        column,
        reason: e.to_string(),
    })
}

fn time(row: &impl Columns, column: &'static str) -> Result<DateTime<Utc>, StoreError> {
    from_text(column, &row.text(column)?)
}

fn opt_time(row: &impl Columns, column: &'static str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.opt_text(column)?
        .map(|s| from_text(column, &s))
        .transpose()
}

fn digest(row: &impl Columns, column: &'static str) -> Result<Digest, StoreError> {
    let s = row.text(column)?;
    s.parse().map_err(|_| corrupt(column, &s))
}

fn u32_col(row: &impl Columns, column: &'static str) -> Result<u32, StoreError> {
    let v = row.int(column)?;
    u32::try_from(v).map_err(|_| corrupt(column, &v.to_string()))
}

fn u64_col(row: &impl Columns, column: &'static str) -> Result<u64, StoreError> {
    let v = row.int(column)?;
    u64::try_from(v).map_err(|_| corrupt(column, &v.to_string()))
}

/// A `COUNT(*) AS n` row.
pub(crate) fn count(row: &impl Columns) -> Result<u64, StoreError> {
    u64_col(row, "n")
}

pub(crate) fn session(row: &impl Columns) -> Result<SessionRecord, StoreError> {
    let method = row.text("method")?;
    Ok(SessionRecord {
        id: row.text("id")?,
        secret_hash: row.text("secret_hash")?,
        user_id: UserId(row.text("user_id")?),
        method: method
            .parse()
            .map_err(|_| corrupt("console_sessions.method", &method))?,
        created_at: time(row, "created_at")?,
        authenticated_at: time(row, "authenticated_at")?,
        expires_at: time(row, "expires_at")?,
        ended_at: opt_time(row, "ended_at")?,
    })
}

pub(crate) fn user(row: &impl Columns) -> Result<UserRecord, StoreError> {
    let roles: Vec<String> = json(row, "roles")?;
    let roles = roles
        .iter()
        .map(|r| r.parse::<Role>().map_err(|_| corrupt("users.roles", r)))
        .collect::<Result<_, _>>()?;
    Ok(UserRecord {
        id: UserId(row.text("id")?),
        name: row.text("name")?,
        email: row.text("email")?,
        roles,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn system(row: &impl Columns) -> Result<SystemRecord, StoreError> {
    Ok(SystemRecord {
        id: SystemId(row.text("id")?),
        name: row.text("name")?,
        description: row.text("description")?,
        owner: UserId(row.text("owner_id")?),
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn release(row: &impl Columns) -> Result<ReleaseRecord, StoreError> {
    let kind = row.text("kind")?;
    let status = row.text("status")?;
    Ok(ReleaseRecord {
        id: ReleaseId(row.text("id")?),
        title: row.text("title")?,
        kind: ReleaseKind::parse(&kind).ok_or_else(|| corrupt("releases.kind", &kind))?,
        system_id: SystemId(row.text("system_id")?),
        decision_owner: UserId(row.text("decision_owner")?),
        created_by: UserId(row.text("created_by")?),
        attributes: json(row, "attributes")?,
        status: ReleaseStatus::parse(&status).ok_or_else(|| corrupt("releases.status", &status))?,
        current_revision: u32_col(row, "current_revision")?,
        environment: row.opt_text("environment")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) fn revision(row: &impl Columns) -> Result<RevisionRecord, StoreError> {
    Ok(RevisionRecord {
        release_id: ReleaseId(row.text("release_id")?),
        number: u32_col(row, "number")?,
        bundle: json(row, "bundle")?,
        bundle_digest: digest(row, "bundle_digest")?,
        tier: row.text("tier")?,
        matched_rules: json(row, "matched_rules")?,
        profile_digest: digest(row, "profile_digest")?,
        created_by: UserId(row.text("created_by")?),
        created_at: time(row, "created_at")?,
        submitted_by: row.opt_text("submitted_by")?.map(UserId),
        submitted_at: opt_time(row, "submitted_at")?,
    })
}

pub(crate) fn review(row: &impl Columns) -> Result<ReviewRecord, StoreError> {
    let role = row.text("role")?;
    let verdict = row.text("verdict")?;
    Ok(ReviewRecord {
        id: row.text("id")?,
        release_id: ReleaseId(row.text("release_id")?),
        revision: u32_col(row, "revision")?,
        role: role.parse().map_err(|_| corrupt("reviews.role", &role))?,
        reviewer: UserId(row.text("reviewer")?),
        verdict: Verdict::parse(&verdict).ok_or_else(|| corrupt("reviews.verdict", &verdict))?,
        answers: json(row, "answers")?,
        conditions: row.opt_text("conditions")?,
        comment: row.opt_text("comment")?,
        bundle_digest: digest(row, "bundle_digest")?,
        created_at: time(row, "created_at")?,
        friction: json(row, "friction")?,
    })
}

pub(crate) fn evidence(row: &impl Columns) -> Result<EvidenceRecord, StoreError> {
    Ok(EvidenceRecord {
        id: row.text("id")?,
        release_id: ReleaseId(row.text("release_id")?),
        revision: u32_col(row, "revision")?,
        kind: row.text("kind")?,
        name: row.text("name")?,
        media_type: row.text("media_type")?,
        digest: digest(row, "digest")?,
        size: u64_col(row, "size")?,
        attached_by: UserId(row.text("attached_by")?),
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn acceptance(row: &impl Columns) -> Result<AcceptanceRecord, StoreError> {
    let gap = row.text("gap")?;
    Ok(AcceptanceRecord {
        id: row.text("id")?,
        release_id: ReleaseId(row.text("release_id")?),
        revision: u32_col(row, "revision")?,
        gap: gap
            .parse::<GapKey>()
            .map_err(|_| corrupt("acceptances.gap", &gap))?,
        justification: row.text("justification")?,
        expires_at: time(row, "expires_at")?,
        accepted_by: UserId(row.text("accepted_by")?),
        bundle_digest: digest(row, "bundle_digest")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn decision(row: &impl Columns) -> Result<DecisionRecord, StoreError> {
    let d = row.text("decision")?;
    Ok(DecisionRecord {
        id: row.text("id")?,
        release_id: ReleaseId(row.text("release_id")?),
        revision: u32_col(row, "revision")?,
        decision: Decision::parse(&d).ok_or_else(|| corrupt("decisions.decision", &d))?,
        environment: row.text("environment")?,
        comment: row.text("comment")?,
        decided_by: UserId(row.text("decided_by")?),
        bundle_digest: digest(row, "bundle_digest")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn deployment(row: &impl Columns) -> Result<DeploymentRecord, StoreError> {
    let a = row.text("action")?;
    Ok(DeploymentRecord {
        id: row.text("id")?,
        release_id: ReleaseId(row.text("release_id")?),
        revision: u32_col(row, "revision")?,
        action: DeploymentAction::parse(&a).ok_or_else(|| corrupt("deployments.action", &a))?,
        environment: row.text("environment")?,
        reason: row.text("reason")?,
        actor: UserId(row.text("actor")?),
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn entry(row: &impl Columns) -> Result<Entry, StoreError> {
    Ok(Entry {
        seq: u64_col(row, "seq")?,
        at: row.text("at")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        subject: row.text("subject")?,
        payload: json(row, "payload")?,
        payload_digest: digest(row, "payload_digest")?,
        prev_hash: digest(row, "prev_hash")?,
        hash: digest(row, "hash")?,
    })
}

/// One entry's `seq` and `hash`: what the Merkle tree of the ledger is made of.
pub(crate) fn seq_hash(row: &impl Columns) -> Result<(u64, Digest), StoreError> {
    Ok((u64_col(row, "seq")?, digest(row, "hash")?))
}

pub(crate) fn cosignature(row: &impl Columns) -> Result<CosignatureRecord, StoreError> {
    Ok(CosignatureRecord {
        witness: row.text("witness")?,
        tree_size: u64_col(row, "tree_size")?,
        root: row.text("root")?,
        line: row.text("line")?,
        cosigned_at: time(row, "cosigned_at")?,
        recorded_at: time(row, "recorded_at")?,
    })
}

pub(crate) fn signed_head(row: &impl Columns) -> Result<SignedHead, StoreError> {
    Ok(SignedHead {
        seq: u64_col(row, "seq")?,
        hash: digest(row, "hash")?,
        key_id: row.text("key_id")?,
        signature: row.text("signature")?,
    })
}

pub(crate) fn idempotency(row: &impl Columns) -> Result<IdempotencyRecord, StoreError> {
    let status = row.int("status")?;
    Ok(IdempotencyRecord {
        actor: UserId(row.text("actor")?),
        key: row.text("key")?,
        request_hash: row.text("request_hash")?,
        status: u16::try_from(status)
            .map_err(|_| corrupt("idempotency.status", &status.to_string()))?,
        body: row.text("body")?,
        created_at: time(row, "created_at")?,
    })
}

/// The ledger signing key from its stored hex form.
pub(crate) fn decode_secret(hex_secret: &str) -> Result<countersign_ledger::LedgerKey, StoreError> {
    let bytes: [u8; 32] = hex::decode(hex_secret)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(StoreError::Corrupt {
            column: "ledger_keys.secret_key",
            reason: "not 32 hex bytes".into(),
        })?;
    Ok(countersign_ledger::LedgerKey::from_bytes(&bytes))
}

pub(crate) fn agent(row: &impl Columns) -> Result<AgentRecord, StoreError> {
    let status = row.text("status")?;
    Ok(AgentRecord {
        id: AgentId(row.text("id")?),
        name: row.text("name")?,
        owner: UserId(row.text("owner_id")?),
        use_case: row.text("use_case")?,
        environment: row.text("environment")?,
        release_id: ReleaseId(row.text("release_id")?),
        public_key: row.text("public_key")?,
        status: AgentStatus::parse(&status).ok_or_else(|| corrupt("agents.status", &status))?,
        created_by: UserId(row.text("created_by")?),
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) fn dataset(row: &impl Columns) -> Result<DatasetRecord, StoreError> {
    Ok(DatasetRecord {
        name: row.text("name")?,
        version: row.text("version")?,
        digest: digest(row, "digest")?,
        source: row.text("source")?,
        classification: row.text("classification")?,
        permitted_uses: json(row, "permitted_uses")?,
        registered_by: UserId(row.text("registered_by")?),
        created_at: time(row, "created_at")?,
        approved_by: row.opt_text("approved_by")?.map(UserId),
        approved_at: opt_time(row, "approved_at")?,
    })
}

pub(crate) fn training_run(row: &impl Columns) -> Result<TrainingRunRecord, StoreError> {
    Ok(TrainingRunRecord {
        id: row.text("id")?,
        code_commit: row.text("code_commit")?,
        datasets: json(row, "datasets")?,
        parameters: json(row, "parameters")?,
        trainer: UserId(row.text("trainer")?),
        artifact_digest: digest(row, "artifact_digest")?,
        registered_by: UserId(row.text("registered_by")?),
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn escalation(row: &impl Columns) -> Result<EscalationRecord, StoreError> {
    let role = row.text("role")?;
    Ok(EscalationRecord {
        id: row.text("id")?,
        release_id: ReleaseId(row.text("release_id")?),
        revision: u32_col(row, "revision")?,
        role: role
            .parse()
            .map_err(|_| corrupt("escalations.role", &role))?,
        due_at: time(row, "due_at")?,
        escalated_to: UserId(row.text("escalated_to")?),
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn webhook(row: &impl Columns) -> Result<WebhookRecord, StoreError> {
    Ok(WebhookRecord {
        id: row.text("id")?,
        url: row.text("url")?,
        events: json(row, "events")?,
        secret: row.text("secret")?,
        created_by: UserId(row.text("created_by")?),
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn event(row: &impl Columns) -> Result<EventRecord, StoreError> {
    Ok(EventRecord {
        id: row.text("id")?,
        kind: row.text("kind")?,
        subject: row.text("subject")?,
        payload: json(row, "payload")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn delivery(row: &impl Columns) -> Result<DeliveryRecord, StoreError> {
    let state = row.text("state")?;
    Ok(DeliveryRecord {
        webhook_id: row.text("webhook_id")?,
        event_id: row.text("event_id")?,
        state: DeliveryState::parse(&state).ok_or_else(|| corrupt("deliveries.state", &state))?,
        attempts: u32_col(row, "attempts")?,
        next_attempt_at: time(row, "next_attempt_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) fn grant(row: &impl Columns) -> Result<GrantRecord, StoreError> {
    let user = |c| row.opt_text(c).map(|o| o.map(UserId));
    Ok(GrantRecord {
        id: GrantId(row.text("id")?),
        agent_id: AgentId(row.text("agent_id")?),
        terms: json(row, "terms")?,
        requested_at: time(row, "requested_at")?,
        system_owner_approved_by: user("system_owner_approved_by")?,
        system_owner_approved_at: opt_time(row, "system_owner_approved_at")?,
        agent_owner_approved_by: user("agent_owner_approved_by")?,
        agent_owner_approved_at: opt_time(row, "agent_owner_approved_at")?,
        certified_by: user("certified_by")?,
        certified_at: opt_time(row, "certified_at")?,
        revoked_by: row.opt_text("revoked_by")?,
        revoked_at: opt_time(row, "revoked_at")?,
        revoke_reason: row.opt_text("revoke_reason")?,
    })
}

pub(crate) fn credential_key(row: &impl Columns) -> Result<CredentialKeyRecord, StoreError> {
    Ok(CredentialKeyRecord {
        kid: row.text("kid")?,
        public_key: row.text("public_key")?,
        secret_key: row.text("secret_key")?,
        created_at: time(row, "created_at")?,
        retired_at: opt_time(row, "retired_at")?,
    })
}

pub(crate) fn credential(row: &impl Columns) -> Result<CredentialRecord, StoreError> {
    Ok(CredentialRecord {
        jti: row.text("jti")?,
        kid: row.text("kid")?,
        agent_id: AgentId(row.text("agent_id")?),
        subject: AgentId(row.text("subject")?),
        owner: UserId(row.text("owner_id")?),
        task: row.text("task")?,
        scopes: json(row, "scopes")?,
        grant_ids: json(row, "grant_ids")?,
        release_id: ReleaseId(row.text("release_id")?),
        parent_jti: row.opt_text("parent_jti")?,
        depth: u32_col(row, "depth")?,
        issued_at: time(row, "issued_at")?,
        expires_at: time(row, "expires_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
        revoked_by: row.opt_text("revoked_by")?,
        revoke_reason: row.opt_text("revoke_reason")?,
    })
}

pub(crate) fn attempt(row: &impl Columns) -> Result<AttemptRecord, StoreError> {
    let code = row.int("status_code")?;
    let outcome = row.text("outcome")?;
    Ok(AttemptRecord {
        id: row.text("id")?,
        webhook_id: row.text("webhook_id")?,
        event_id: row.text("event_id")?,
        attempt: u32_col(row, "attempt")?,
        at: time(row, "at")?,
        status_code: u16::try_from(code).map_err(|_| corrupt("status_code", &code.to_string()))?,
        error: row.text("error")?,
        outcome: AttemptOutcome::parse(&outcome)
            .ok_or_else(|| corrupt("delivery_attempts.outcome", &outcome))?,
    })
}

/// A JSON document column (`body`) of the actions and approvals tables. A state or
/// code in it that names no variant fails to decode: a [`StoreError::Corrupt`].
pub(crate) fn document<T: serde::de::DeserializeOwned>(
    row: &impl Columns,
) -> Result<T, StoreError> {
    json(row, "body")
}

pub(crate) fn context_view(row: &impl Columns) -> Result<ContextViewRecord, StoreError> {
    Ok(ContextViewRecord {
        kind: row.text("kind")?,
        subject: row.text("subject")?,
        user: UserId(row.text("user_id")?),
        first_opened_at: time(row, "first_opened_at")?,
    })
}
