//! What the store persists, as domain-level records. Rows are decoded into these in
//! each backend; wire views live in the server crate. Codes and states are core's
//! enums, stored as their stable strings (in columns and in JSON documents alike); a
//! stored string that names no variant is a [`crate::StoreError::Corrupt`].

use chrono::{DateTime, Utc};
use countersign_core::agent::AgentStatus;
use countersign_core::delivery::{AttemptOutcome, DeliveryState};
pub use countersign_core::friction::Rule as FrictionRule;
use countersign_core::gap::GapKey;
use countersign_core::grant::{Facts, State, Terms};
use countersign_core::release::{
    Attributes, Bundle, Decision, DeploymentAction, ReleaseKind, ReleaseStatus,
};
use countersign_core::review::{Answer, Verdict};
use countersign_core::runtime::{
    ActionDecision, ApprovalState, OutcomeStatus, PostReviewVerdict, ReviewState,
};
use countersign_core::{AgentId, Digest, GrantId, ReleaseId, Role, SystemId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub roles: BTreeSet<Role>,
    pub created_at: DateTime<Utc>,
}

impl UserRecord {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub user_id: UserId,
    /// sha256 hex of the secret.
    pub token_hash: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
}

/// A console session. The browser holds the secret; only its sha256 is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session's public id (the ledger's subject); not a secret.
    pub id: String,
    /// sha256 hex of the cookie's secret.
    pub secret_hash: String,
    pub user_id: UserId,
    pub method: countersign_core::session::SignInMethod,
    pub created_at: DateTime<Utc>,
    /// When the person last proved who they are (a fresh sign-in moves it).
    pub authenticated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// A person's identity at an OpenID Connect provider, linked to their user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityRecord {
    /// The provider's issuer URL, exactly as its ID tokens name it.
    pub issuer: String,
    /// The provider's stable id of the person (`sub`).
    pub subject: String,
    pub user_id: UserId,
    /// The verified email it was linked by, or provisioned with.
    pub email: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemRecord {
    pub id: SystemId,
    pub name: String,
    pub description: String,
    pub owner: UserId,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseRecord {
    pub id: ReleaseId,
    pub title: String,
    pub kind: ReleaseKind,
    pub system_id: SystemId,
    pub decision_owner: UserId,
    pub created_by: UserId,
    pub attributes: Attributes,
    pub status: ReleaseStatus,
    pub current_revision: u32,
    /// The environment a `go` approved, and later the one promoted to.
    pub environment: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RevisionRecord {
    pub release_id: ReleaseId,
    pub number: u32,
    pub bundle: Bundle,
    pub bundle_digest: Digest,
    pub tier: String,
    pub matched_rules: Vec<String>,
    pub profile_digest: Digest,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub submitted_by: Option<UserId>,
    pub submitted_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewRecord {
    pub id: String,
    pub release_id: ReleaseId,
    pub revision: u32,
    pub role: Role,
    pub reviewer: UserId,
    pub verdict: Verdict,
    pub answers: BTreeMap<String, Answer>,
    pub conditions: Option<String>,
    pub comment: Option<String>,
    pub bundle_digest: Digest,
    pub created_at: DateTime<Utc>,
    /// The friction rules the review was accepted under.
    pub friction: Vec<FrictionRule>,
}

/// A release in review with what its review requests are judged on: every revision
/// (oldest first; the last is the current one) and the reviews of the current one.
#[derive(Clone, Debug, PartialEq)]
pub struct InReviewRecord {
    pub release: ReleaseRecord,
    pub revisions: Vec<RevisionRecord>,
    pub reviews: Vec<ReviewRecord>,
}

impl InReviewRecord {
    /// The current revision.
    pub fn current(&self) -> Option<&RevisionRecord> {
        self.revisions
            .iter()
            .find(|r| r.number == self.release.current_revision)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceRecord {
    pub id: String,
    pub release_id: ReleaseId,
    pub revision: u32,
    pub kind: String,
    pub name: String,
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub attached_by: UserId,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptanceRecord {
    pub id: String,
    pub release_id: ReleaseId,
    pub revision: u32,
    pub gap: GapKey,
    pub justification: String,
    pub expires_at: DateTime<Utc>,
    pub accepted_by: UserId,
    pub bundle_digest: Digest,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionRecord {
    pub id: String,
    pub release_id: ReleaseId,
    pub revision: u32,
    pub decision: Decision,
    pub environment: String,
    pub comment: String,
    pub decided_by: UserId,
    pub bundle_digest: Digest,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentRecord {
    pub id: String,
    pub release_id: ReleaseId,
    pub revision: u32,
    pub action: DeploymentAction,
    pub environment: String,
    pub reason: String,
    pub actor: UserId,
    pub created_at: DateTime<Utc>,
}

/// A stored response to a write made with an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub actor: UserId,
    pub key: String,
    pub request_hash: String,
    pub status: u16,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

// Agents, grants and credentials (issue 5).

/// An agent workload identity with its one human owner (I1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentRecord {
    pub id: AgentId,
    pub name: String,
    pub owner: UserId,
    pub use_case: String,
    pub environment: String,
    /// The release that put it in production.
    pub release_id: ReleaseId,
    /// Its Ed25519 public key, base64url (no padding) of the 32 raw bytes.
    pub public_key: String,
    pub status: AgentStatus,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A grant and its approvals (I8). Its state is computed by `countersign_core::grant`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantRecord {
    pub id: GrantId,
    pub agent_id: AgentId,
    pub terms: Terms,
    pub requested_at: DateTime<Utc>,
    pub system_owner_approved_by: Option<UserId>,
    pub system_owner_approved_at: Option<DateTime<Utc>>,
    pub agent_owner_approved_by: Option<UserId>,
    pub agent_owner_approved_at: Option<DateTime<Utc>>,
    pub certified_by: Option<UserId>,
    pub certified_at: Option<DateTime<Utc>>,
    /// A user id, or `release:<id>` when a rollback revoked it.
    pub revoked_by: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
}

impl GrantRecord {
    /// What core's grant rules need to know of this grant ([`countersign_core::grant::state`],
    /// [`countersign_core::grant::check_use`]).
    pub fn facts(&self) -> Facts<'_> {
        Facts {
            terms: &self.terms,
            system_owner_approved: self.system_owner_approved_by.is_some(),
            agent_owner_approved: self.agent_owner_approved_by.is_some(),
            certified_at: self.certified_at,
            revoked: self.revoked_at.is_some(),
        }
    }

    /// The grant's state at `now` under a recertification cadence (I8).
    pub fn state(&self, now: DateTime<Utc>, recertify_every_days: u32) -> State {
        countersign_core::grant::state(&self.facts(), now, recertify_every_days)
    }

    /// A grant as requested: no approval, certification or revocation yet.
    pub fn requested(id: GrantId, agent_id: AgentId, terms: Terms, at: DateTime<Utc>) -> Self {
        GrantRecord {
            id,
            agent_id,
            terms,
            requested_at: at,
            system_owner_approved_by: None,
            system_owner_approved_at: None,
            agent_owner_approved_by: None,
            agent_owner_approved_at: None,
            certified_by: None,
            certified_at: None,
            revoked_by: None,
            revoked_at: None,
            revoke_reason: None,
        }
    }
}

/// A credential signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialKeyRecord {
    pub kid: String,
    /// base64url of the 32-byte Ed25519 public key.
    pub public_key: String,
    /// hex of the 32-byte Ed25519 secret key.
    pub secret_key: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// An issued credential (its claims, not the token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialRecord {
    pub jti: String,
    pub kid: String,
    /// The agent holding it.
    pub agent_id: AgentId,
    /// The agent at the root of the delegation chain (itself when not delegated).
    pub subject: AgentId,
    /// The accountable human: the root agent's owner.
    pub owner: UserId,
    pub task: String,
    pub scopes: Vec<String>,
    pub grant_ids: Vec<GrantId>,
    pub release_id: ReleaseId,
    /// The credential it was exchanged from (delegation).
    pub parent_jti: Option<String>,
    pub depth: u32,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<String>,
}

/// Which credentials to revoke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevokeFilter {
    Jti(String),
    Agent(AgentId),
    Grant(GrantId),
    Release(ReleaseId),
}

/// Who revoked credentials, when and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub at: DateTime<Utc>,
    pub by: String,
    pub reason: String,
}

/// A registered dataset version (lineage, I6). Identified by `name@version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetRecord {
    pub name: String,
    pub version: String,
    /// Digest of the dataset's content.
    pub digest: Digest,
    /// Where the data comes from (a URI or a description).
    pub source: String,
    /// Its data classification, e.g. `internal`, `pii`.
    pub classification: String,
    /// Intended uses this data may serve.
    pub permitted_uses: BTreeSet<String>,
    pub registered_by: UserId,
    pub created_at: DateTime<Utc>,
    /// Set when data governance approves it.
    pub approved_by: Option<UserId>,
    pub approved_at: Option<DateTime<Utc>>,
}

impl DatasetRecord {
    /// `name@version`, as bundles and runs name it.
    pub fn key(&self) -> String {
        countersign_core::lineage::dataset_key(&self.name, &self.version)
    }
}

/// A registered training run (lineage, I6).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingRunRecord {
    pub id: String,
    pub code_commit: String,
    /// `name@version` of every dataset it trained on.
    pub datasets: BTreeSet<String>,
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// The user who trained it; segregation of duties keeps them off the release.
    pub trainer: UserId,
    /// The digest of the artifact it produced.
    pub artifact_digest: Digest,
    pub registered_by: UserId,
    pub created_at: DateTime<Utc>,
}

/// A review past its deadline, escalated to the decision owner (I5). At most one per
/// release, revision and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscalationRecord {
    pub id: String,
    pub release_id: ReleaseId,
    pub revision: u32,
    pub role: Role,
    pub due_at: DateTime<Utc>,
    pub escalated_to: UserId,
    pub created_at: DateTime<Utc>,
}

/// A webhook subscription: events of these types are POSTed, signed, to `url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: String,
    pub url: String,
    pub events: BTreeSet<String>,
    /// The HMAC-SHA256 key deliveries are signed with.
    pub secret: String,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
}

/// An event in the outbox, written in the same transaction as the command that caused it.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// Where the delivery of one event to one webhook stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub webhook_id: String,
    pub event_id: String,
    /// Pending, delivered, or dead (attempts exhausted).
    pub state: DeliveryState,
    pub attempts: u32,
    /// A pending delivery is due at this time (also the lease of a claimed one).
    pub next_attempt_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One delivery attempt, as the delivery log shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, 0 when there was no response.
    pub status_code: u16,
    pub error: String,
    pub outcome: AttemptOutcome,
}

// Runtime decisions, step-up approvals and the action log (issue 6). Both records are
// stored as JSON documents beside the columns queries filter on, so adding a field to
// the action context needs no migration.

/// One decided action request (I10) and, later, its reported outcome and its
/// post-action review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub id: String,
    pub agent_id: AgentId,
    /// The credential it was asked with.
    pub jti: String,
    /// The accountable human: the agent's owner.
    pub owner: UserId,
    pub system_id: SystemId,
    pub action: String,
    pub resource: String,
    pub task: String,
    /// Digest of agent, system, action, resource, task and arguments: what an
    /// approval binds to.
    pub action_digest: Digest,
    /// The tool arguments as sent.
    pub arguments: serde_json::Value,
    /// Confidence, risk score, data classes, AI input (or its digest), impact.
    pub context: serde_json::Value,
    pub risk_score: u32,
    pub decision: ActionDecision,
    pub reasons: Vec<String>,
    /// Ids of the policies that determined it.
    pub policies: Vec<String>,
    pub policy_digest: Option<Digest>,
    /// For `step_up`: the approval request created. For an `allow` on an approval:
    /// the approval consumed.
    pub approval_id: Option<String>,
    pub decided_at: DateTime<Utc>,
    /// Pending when it awaits post-action review by the system owner, then reviewed.
    pub review_state: Option<ReviewState>,
    pub review: Option<PostReview>,
    /// The final outcome the agent reported.
    pub outcome: Option<ActionOutcome>,
}

/// The system owner's review of an action allowed without a human.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostReview {
    pub by: UserId,
    pub at: DateTime<Utc>,
    pub verdict: PostReviewVerdict,
    pub comment: String,
}

/// What finally happened, as reported by the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionOutcome {
    pub status: OutcomeStatus,
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// A step-up waiting for a named human (I10).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub id: String,
    /// The step_up decision that created it.
    pub action_id: String,
    pub agent_id: AgentId,
    pub system_id: SystemId,
    pub action: String,
    pub resource: String,
    pub task: String,
    /// The approval is valid only for an action with this digest.
    pub action_digest: Digest,
    pub arguments: serde_json::Value,
    /// What the AI produced, the data it used, what it will change.
    pub context: serde_json::Value,
    /// The named human who must decide.
    pub assignee: UserId,
    /// The role a policy named, if any (otherwise the system owner).
    pub approver_role: Option<String>,
    pub policies: Vec<String>,
    pub state: ApprovalState,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub first_opened_at: Option<DateTime<Utc>>,
    pub decided_by: Option<UserId>,
    pub decided_at: Option<DateTime<Utc>>,
    pub comment: Option<String>,
    /// The action that used the approval (single use).
    pub used_by: Option<String>,
    pub used_at: Option<DateTime<Utc>>,
    /// When the approver took an unused approval back, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_reason: Option<String>,
    /// The friction rules the approval was accepted under.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub friction: Vec<FrictionRule>,
}

/// Filters for listing actions; `None` means any.
#[derive(Clone, Debug, Default)]
pub struct ActionFilter {
    pub agent: Option<AgentId>,
    pub system: Option<SystemId>,
    pub task: Option<String>,
    pub review_state: Option<ReviewState>,
    pub limit: u32,
}

/// Filters for listing approval requests; `None` means any.
#[derive(Clone, Debug, Default)]
pub struct ApprovalFilter {
    pub assignee: Option<UserId>,
    pub state: Option<ApprovalState>,
    pub agent: Option<AgentId>,
    pub limit: u32,
}

/// The first time a user opened something's context (a release or an approval),
/// for accountability signals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextViewRecord {
    /// `release` or `approval`.
    pub kind: String,
    pub subject: String,
    pub user: UserId,
    pub first_opened_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn documents_hold_codes_as_their_stable_strings() {
        let mut a = testing::action("a", "ag", "t", ActionDecision::StepUp, testing::at(0));
        a.review_state = Some(ReviewState::Reviewed);
        a.review = Some(PostReview {
            by: UserId("owner".into()),
            at: testing::at(1),
            verdict: PostReviewVerdict::Flagged,
            comment: "why".into(),
        });
        a.outcome = Some(ActionOutcome {
            status: OutcomeStatus::Abandoned,
            detail: serde_json::Value::Null,
            at: testing::at(2),
        });
        let doc = serde_json::to_string(&a).unwrap();
        for part in [
            r#""decision":"step_up""#,
            r#""review_state":"reviewed""#,
            r#""verdict":"flagged""#,
            r#""status":"abandoned""#,
        ] {
            assert!(doc.contains(part), "{part} in {doc}");
        }
        let mut ap = testing::approval("ap", "a", "owner", testing::at(60));
        ap.state = ApprovalState::Used;
        let doc = serde_json::to_string(&ap).unwrap();
        assert!(doc.contains(r#""state":"used""#), "{doc}");
    }
}

/// A witness's cosignature of one of the ledger's checkpoints (C2SP tlog-cosignature).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignatureRecord {
    /// The witness's verifier key (vkey).
    pub witness: String,
    pub tree_size: u64,
    /// The checkpoint's root, standard base64 as in the note.
    pub root: String,
    /// The signature line, as it appears in the note.
    pub line: String,
    /// The time inside the cosignature.
    pub cosigned_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}
