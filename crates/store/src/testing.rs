//! Helpers for tests and benches, in this crate and others: record fixtures and
//! throwaway PostgreSQL databases.
//!
//! # Fixtures
//!
//! One function per stored record, e.g. [`user`], [`release`], [`grant`], [`action`].
//! Each takes what identifies the record, the records it links to (the database checks
//! those links, so none is made up) and, where callers care, its time; every other
//! field has a fixed default. Change a default with struct update syntax:
//!
//! ```
//! use countersign_core::Role;
//! use countersign_store::records::SystemRecord;
//! use countersign_store::testing::{self, at};
//!
//! let owner = testing::user("u1", "u1@example.com", &[Role::Mlops], at(0));
//! let system = SystemRecord {
//!     description: String::new(),
//!     ..testing::system("sys", "u1", at(1))
//! };
//! assert_eq!(system.owner, owner.id);
//! ```
//!
//! The defaults are deliberately awkward where a backend could get encoding wrong:
//! non-ASCII names, quotes and newlines, nested JSON with integers beyond 2^53, maps
//! and sets. Times come from [`at`]: a fixed instant with microseconds, as every stored
//! time has, so a record read back equals the one written.
//!
//! # Throwaway PostgreSQL databases
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
use crate::records::*;
use crate::StoreError;
use chrono::{DateTime, Duration, Utc};
use countersign_core::agent::AgentStatus;
use countersign_core::delivery::{AttemptOutcome, DeliveryState};
use countersign_core::gap::{GapCode, GapKey};
use countersign_core::grant::{Constraints, Terms};
use countersign_core::release::{
    Attributes, Bundle, Decision, DeploymentAction, ReleaseKind, ReleaseStatus,
};
use countersign_core::review::{Answer, Verdict};
use countersign_core::runtime::{ActionDecision, ApprovalState, ReviewState};
use countersign_core::{AgentId, Digest, GrantId, ReleaseId, Role, SystemId, UserId};
use rand::RngCore;
use serde_json::json;
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

// ---------------------------------------------------------------------------------
// Fixtures

/// 2026-11-25T03:04:05Z, in seconds since the epoch.
const BASE_SECONDS: i64 = 1_795_575_845;

/// A fixed instant `seconds` after 2026-11-25T03:04:05.123456Z (before it when
/// negative). It carries microseconds, as every stored time does.
pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros((BASE_SECONDS + seconds) * 1_000_000 + 123_456)
        .unwrap_or_default()
}

/// The digest of `text`'s bytes.
pub fn digest(text: &str) -> Digest {
    Digest::of(text.as_bytes())
}

/// A user named `Ünïcode näme of <id> ✓`.
pub fn user(id: &str, email: &str, roles: &[Role], created_at: DateTime<Utc>) -> UserRecord {
    UserRecord {
        id: UserId(id.into()),
        name: format!("Ünïcode näme of {id} ✓"),
        email: email.into(),
        roles: roles.iter().copied().collect(),
        created_at,
    }
}

/// An API token of `user`, labelled `ci`, created at `at(7)`.
pub fn token(id: &str, user: &str, token_hash: &str) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        user_id: UserId(user.into()),
        token_hash: token_hash.into(),
        label: "ci".into(),
        created_at: at(7),
    }
}

/// A token sign-in session for `user`, created at `at(created)` and lasting twelve hours.
pub fn session(id: &str, user: &str, secret_hash: &str, created: i64) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        secret_hash: secret_hash.into(),
        user_id: UserId(user.into()),
        method: countersign_core::session::SignInMethod::Token,
        created_at: at(created),
        authenticated_at: at(created),
        expires_at: at(created) + chrono::Duration::hours(12),
        ended_at: None,
    }
}

/// A system named `system <id>` with a two-line description holding quotes.
pub fn system(id: &str, owner: &str, created_at: DateTime<Utc>) -> SystemRecord {
    SystemRecord {
        id: SystemId(id.into()),
        name: format!("system {id}"),
        description: "line one\nline \"two\"".into(),
        owner: UserId(owner.into()),
        created_at,
    }
}

/// A draft model release at revision 1, created by its decision owner; customer-facing,
/// regulated, data-connected, touching `pii` and `phi`, for `claims-triage`.
pub fn release(id: &str, system: &str, owner: &str, created_at: DateTime<Utc>) -> ReleaseRecord {
    ReleaseRecord {
        id: ReleaseId(id.into()),
        title: format!("release {id}"),
        kind: ReleaseKind::Model,
        system_id: SystemId(system.into()),
        decision_owner: UserId(owner.into()),
        created_by: UserId(owner.into()),
        attributes: Attributes {
            customer_facing: true,
            agentic: false,
            data_connected: true,
            data_classes: ["pii".to_owned(), "phi".to_owned()].into(),
            regulated: true,
            third_party: false,
            autonomy_level: 2,
            intended_use: Some("claims-triage".into()),
        },
        status: ReleaseStatus::Draft,
        current_revision: 1,
        environment: None,
        created_at,
        updated_at: created_at,
    }
}

/// A bundle naming only its artifact (the digest of `artifact`).
pub fn bundle(artifact: &str) -> Bundle {
    Bundle::of_artifact(digest(artifact))
}

/// A bundle with lineage (datasets `ds:a@1` and `ds:b@7`, run `run-42` by `trainer`),
/// nested parameters, a prompt package and a tool permission.
pub fn full_bundle(artifact: &str) -> Bundle {
    Bundle {
        dataset_versions: ["ds:a@1".to_owned(), "ds:b@7".to_owned()].into(),
        training_run_id: Some("run-42".to_owned()),
        trainer: Some(UserId("trainer".into())),
        code_commit: Some("0123abcd".to_owned()),
        parameters: [
            ("lr".to_owned(), json!(0.25)),
            ("epochs".to_owned(), json!(12)),
            (
                "nested".to_owned(),
                json!({"z": [1, "two", null, true], "a": {"ü": "€😀"}, "big": 9007199254740993_u64}),
            ),
        ]
        .into(),
        prompt_package_digest: Some(digest("prompt")),
        tool_permissions: ["crm.read".to_owned()].into(),
        ..bundle(artifact)
    }
}

/// Revision `number` of `release` with `bundle` (and its digest), tier `high`, not
/// submitted.
pub fn revision(
    release: &str,
    number: u32,
    bundle: Bundle,
    created_by: &str,
    created_at: DateTime<Utc>,
) -> RevisionRecord {
    RevisionRecord {
        release_id: ReleaseId(release.into()),
        number,
        bundle_digest: bundle.digest(),
        bundle,
        tier: "high".into(),
        matched_rules: vec!["customer_facing".into(), "pii".into()],
        profile_digest: digest("profile"),
        created_by: UserId(created_by.into()),
        created_at,
        submitted_by: None,
        submitted_at: None,
    }
}

/// An approval with conditions and three answers, at `at(100)`.
pub fn review(id: &str, release: &str, revision: u32, role: Role, reviewer: &str) -> ReviewRecord {
    ReviewRecord {
        id: id.into(),
        release_id: ReleaseId(release.into()),
        revision,
        role,
        reviewer: UserId(reviewer.into()),
        verdict: Verdict::ApproveWithConditions,
        answers: [
            ("threat-model-reviewed".to_owned(), Answer::Yes),
            ("pen-test".to_owned(), Answer::NotApplicable),
            ("secrets-scoped".to_owned(), Answer::No),
        ]
        .into(),
        conditions: Some("rotate keys within 30 days".into()),
        comment: None,
        bundle_digest: digest("bundle"),
        created_at: at(100),
        friction: vec![FrictionRule::MinReviewSeconds, FrictionRule::ConfirmDigest],
    }
}

/// A threat model `tm.pdf` whose digest and size are those of `content`, at `at(90)`.
/// The blob itself is stored with `Tx::put_blob`.
pub fn evidence(
    id: &str,
    release: &str,
    revision: u32,
    content: &[u8],
    attached_by: &str,
) -> EvidenceRecord {
    EvidenceRecord {
        id: id.into(),
        release_id: ReleaseId(release.into()),
        revision,
        kind: "threat_model".into(),
        name: "tm.pdf".into(),
        media_type: "application/pdf".into(),
        digest: Digest::of(content),
        size: content.len() as u64,
        attached_by: UserId(attached_by.into()),
        created_at: at(90),
    }
}

/// An accepted `missing_review:legal` gap, expiring after 30 days, at `at(150)`.
pub fn acceptance(id: &str, release: &str, revision: u32, accepted_by: &str) -> AcceptanceRecord {
    AcceptanceRecord {
        id: id.into(),
        release_id: ReleaseId(release.into()),
        revision,
        gap: GapKey {
            code: GapCode::MissingReview,
            subject: "legal".into(),
        },
        justification: "legal signs off next sprint".into(),
        expires_at: at(86_400 * 30),
        accepted_by: UserId(accepted_by.into()),
        bundle_digest: digest("bundle"),
        created_at: at(150),
    }
}

/// A `go` for `production`, at `at(200)`.
pub fn decision(id: &str, release: &str, revision: u32, decided_by: &str) -> DecisionRecord {
    DecisionRecord {
        id: id.into(),
        release_id: ReleaseId(release.into()),
        revision,
        decision: Decision::Go,
        environment: "production".into(),
        comment: "accepting the residual risk".into(),
        decided_by: UserId(decided_by.into()),
        bundle_digest: digest("bundle"),
        created_at: at(200),
    }
}

/// A deployment to `production` with the reason `go`.
pub fn deployment(
    id: &str,
    release: &str,
    revision: u32,
    action: DeploymentAction,
    actor: &str,
    created_at: DateTime<Utc>,
) -> DeploymentRecord {
    DeploymentRecord {
        id: id.into(),
        release_id: ReleaseId(release.into()),
        revision,
        action,
        environment: "production".into(),
        reason: "go".into(),
        actor: UserId(actor.into()),
        created_at,
    }
}

/// A stored `201` with a non-ASCII JSON body, for the digest of `key`, at `at(300)`.
pub fn idempotency(actor: &str, key: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        actor: UserId(actor.into()),
        key: key.into(),
        request_hash: digest(key).as_str().to_owned(),
        status: 201,
        body: r#"{"id":"rel_1","title":"ü"}"#.into(),
        created_at: at(300),
    }
}

/// An active agent `name-<id>` for `refunds` in `production`, created by its owner,
/// with the public key `key-<id>`.
pub fn agent(id: &str, owner: &str, release: &str, created_at: DateTime<Utc>) -> AgentRecord {
    AgentRecord {
        id: AgentId(id.into()),
        name: format!("name-{id}"),
        owner: UserId(owner.into()),
        use_case: "refunds".into(),
        environment: "production".into(),
        release_id: ReleaseId(release.into()),
        public_key: format!("key-{id}"),
        status: AgentStatus::Active,
        created_by: UserId(owner.into()),
        created_at,
        updated_at: created_at,
    }
}

/// Grant terms without constraints.
pub fn terms(
    system: &str,
    actions: &[&str],
    resources: &[&str],
    expires_at: DateTime<Utc>,
) -> Terms {
    Terms {
        system: SystemId(system.into()),
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        resources: resources.iter().map(|r| (*r).to_owned()).collect(),
        constraints: Constraints::default(),
        expires_at,
    }
}

/// A requested grant nobody has approved yet.
pub fn grant(id: &str, agent: &str, terms: Terms, requested_at: DateTime<Utc>) -> GrantRecord {
    GrantRecord::requested(
        GrantId(id.into()),
        AgentId(agent.into()),
        terms,
        requested_at,
    )
}

/// `grant` approved and certified by the system's owner at `when`: all a grant that
/// does not mutate production state needs to be in force.
pub fn approved(grant: GrantRecord, system_owner: &str, when: DateTime<Utc>) -> GrantRecord {
    let by = Some(UserId(system_owner.into()));
    GrantRecord {
        system_owner_approved_by: by.clone(),
        system_owner_approved_at: Some(when),
        certified_by: by,
        certified_at: Some(when),
        ..grant
    }
}

/// A credential signing key with the placeholder keys `pub-<kid>` and `sec-<kid>`.
pub fn credential_key(kid: &str, created_at: DateTime<Utc>) -> CredentialKeyRecord {
    CredentialKeyRecord {
        kid: kid.into(),
        public_key: format!("pub-{kid}"),
        secret_key: format!("sec-{kid}"),
        created_at,
        retired_at: None,
    }
}

/// A credential of `agent` (its own subject, not delegated, under no grant) for
/// `task-1` with one scope, issued at `at(50)`, expiring at `at(950)`.
pub fn credential(
    jti: &str,
    kid: &str,
    agent: &str,
    owner: &str,
    release: &str,
) -> CredentialRecord {
    CredentialRecord {
        jti: jti.into(),
        kid: kid.into(),
        agent_id: AgentId(agent.into()),
        subject: AgentId(agent.into()),
        owner: UserId(owner.into()),
        task: "task-1".into(),
        scopes: vec!["sys:read:orders/1".into()],
        grant_ids: Vec::new(),
        release_id: ReleaseId(release.into()),
        parent_jti: None,
        depth: 0,
        issued_at: at(50),
        expires_at: at(950),
        revoked_at: None,
        revoked_by: None,
        revoke_reason: None,
    }
}

/// A `pii` dataset from `s3://data/tickets`, for `support` and `triage`, whose digest
/// is that of `name@version`; not approved.
pub fn dataset(
    name: &str,
    version: &str,
    registered_by: &str,
    created_at: DateTime<Utc>,
) -> DatasetRecord {
    DatasetRecord {
        name: name.into(),
        version: version.into(),
        digest: Digest::of(format!("{name}@{version}").as_bytes()),
        source: "s3://data/tickets".into(),
        classification: "pii".into(),
        permitted_uses: ["support".to_owned(), "triage".to_owned()].into(),
        registered_by: UserId(registered_by.into()),
        created_at,
        approved_by: None,
        approved_at: None,
    }
}

/// A run on `tickets@3` and `chats@1` with two parameters, whose artifact digest is
/// that of `id`.
pub fn training_run(
    id: &str,
    trainer: &str,
    registered_by: &str,
    created_at: DateTime<Utc>,
) -> TrainingRunRecord {
    TrainingRunRecord {
        id: id.into(),
        code_commit: "4f2a9c1".into(),
        datasets: ["tickets@3".to_owned(), "chats@1".to_owned()].into(),
        parameters: [
            ("lr".to_owned(), json!(0.01)),
            ("epochs".to_owned(), json!(3)),
        ]
        .into(),
        trainer: UserId(trainer.into()),
        artifact_digest: Digest::of(id.as_bytes()),
        registered_by: UserId(registered_by.into()),
        created_at,
    }
}

/// An escalation of revision 1's `role` review, which was due a second before.
pub fn escalation(
    id: &str,
    release: &str,
    role: Role,
    escalated_to: &str,
    created_at: DateTime<Utc>,
) -> EscalationRecord {
    EscalationRecord {
        id: id.into(),
        release_id: ReleaseId(release.into()),
        revision: 1,
        role,
        due_at: created_at - Duration::seconds(1),
        escalated_to: UserId(escalated_to.into()),
        created_at,
    }
}

/// A subscription to `decided` and `promoted` at `http://127.0.0.1:9/hook`, at `at(1)`.
pub fn webhook(id: &str, created_by: &str) -> WebhookRecord {
    WebhookRecord {
        id: id.into(),
        url: "http://127.0.0.1:9/hook".into(),
        events: ["decided".to_owned(), "promoted".to_owned()].into(),
        secret: "whsec_x".into(),
        created_by: UserId(created_by.into()),
        created_at: at(1),
    }
}

/// A `decided` event about `rel` (a go at revision 1).
pub fn event(id: &str, created_at: DateTime<Utc>) -> EventRecord {
    EventRecord {
        id: id.into(),
        kind: "decided".into(),
        subject: "rel".into(),
        payload: json!({"decision": "go", "revision": 1}),
        created_at,
    }
}

/// A pending delivery, not attempted yet, last updated at `at(2)`.
pub fn delivery(webhook: &str, event: &str, next_attempt_at: DateTime<Utc>) -> DeliveryRecord {
    DeliveryRecord {
        webhook_id: webhook.into(),
        event_id: event.into(),
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt_at,
        updated_at: at(2),
    }
}

/// Delivery attempt number `attempt`: `delivered` on a 2xx status, otherwise `retry`;
/// status 0 (no response) is a refused connection.
pub fn attempt(
    id: &str,
    webhook: &str,
    event: &str,
    attempt: u32,
    status_code: u16,
    when: DateTime<Utc>,
) -> AttemptRecord {
    AttemptRecord {
        id: id.into(),
        webhook_id: webhook.into(),
        event_id: event.into(),
        attempt,
        at: when,
        status_code,
        error: if status_code == 0 {
            "connection refused".into()
        } else {
            String::new()
        },
        outcome: if (200..300).contains(&status_code) {
            AttemptOutcome::Delivered
        } else {
            AttemptOutcome::Retry
        },
    }
}

/// A decided `write` of `orders/42` on system `sys` asked with credential `jti-1` for
/// owner `owner`, risk 20, with nested JSON arguments; an `allow` awaits post-action
/// review. Its action digest is the digest of `id`.
pub fn action(
    id: &str,
    agent: &str,
    task: &str,
    decision: ActionDecision,
    decided_at: DateTime<Utc>,
) -> ActionRecord {
    ActionRecord {
        id: id.into(),
        agent_id: AgentId(agent.into()),
        jti: "jti-1".into(),
        owner: UserId("owner".into()),
        system_id: SystemId("sys".into()),
        action: "write".into(),
        resource: "orders/42".into(),
        task: task.into(),
        action_digest: digest(id),
        arguments: json!({"amount": 12, "nested": {"z": 1, "a": [1, 2]}}),
        context: json!({"risk_score": 20, "ai_input": "refund order 42"}),
        risk_score: 20,
        decision,
        reasons: vec!["permitted by allow-low-risk-reads".into()],
        policies: vec!["allow-low-risk-reads".into()],
        policy_digest: Some(digest("policies")),
        approval_id: None,
        decided_at,
        review_state: (decision == ActionDecision::Allow).then_some(ReviewState::Pending),
        review: None,
        outcome: None,
    }
}

/// A pending step-up for agent `ag1`'s `write` of `orders/42` on `sys` (task
/// `refunds`), bound to the digest of `action_id`, created a minute before it expires.
pub fn approval(
    id: &str,
    action_id: &str,
    assignee: &str,
    expires_at: DateTime<Utc>,
) -> ApprovalRecord {
    ApprovalRecord {
        id: id.into(),
        action_id: action_id.into(),
        agent_id: AgentId("ag1".into()),
        system_id: SystemId("sys".into()),
        action: "write".into(),
        resource: "orders/42".into(),
        task: "refunds".into(),
        action_digest: digest(action_id),
        arguments: json!({"amount": 12}),
        context: json!({"ai_output": "refund 12"}),
        assignee: UserId(assignee.into()),
        approver_role: None,
        policies: vec!["step-up-production-writes".into()],
        state: ApprovalState::Pending,
        created_at: expires_at - Duration::seconds(60),
        expires_at,
        first_opened_at: None,
        decided_by: None,
        decided_at: None,
        comment: None,
        used_by: None,
        used_at: None,
        revoked_at: None,
        revoke_reason: None,
        friction: vec![],
    }
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
    fn fixture_times_are_fixed_and_carry_microseconds() {
        assert_eq!(
            at(0).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "2026-11-25T03:04:05.123456Z"
        );
        assert_eq!(at(61) - at(1), Duration::seconds(60));
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("cs_test_00"), "\"cs_test_00\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
