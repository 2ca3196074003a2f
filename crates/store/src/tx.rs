//! The store's interface: [`Store`] opens transactions, [`Tx`] reads and writes typed
//! records inside one, through one trait per area ([`UsersTx`], [`SystemsTx`],
//! [`ReleasesTx`], [`LineageTx`], [`DeadlinesTx`], [`OutboxTx`], [`AgentsTx`],
//! [`CredentialsTx`], [`RuntimeTx`], [`IdempotencyTx`], [`LedgerTx`]), which [`Tx`]
//! requires all of. Each backend implements them; everything above the store uses
//! only these traits.

use crate::records::*;
use crate::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use countersign_core::{AgentId, Digest, GrantId, ReleaseId, SystemId, UserId};
use countersign_ledger::{Checkpoint, Entry, EntryDraft, LedgerPublicKey, SignedHead, SignedNote};

/// A database holding countersign's state and ledger.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Begins a write transaction. Writers are serialized.
    async fn write(&self) -> Result<Box<dyn Tx>, StoreError>;
    /// Begins a read-only transaction (a consistent snapshot).
    async fn read(&self) -> Result<Box<dyn Tx>, StoreError>;
    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// The backend's name, e.g. `sqlite`.
    fn backend(&self) -> &'static str;
    /// The key that signs ledger checkpoints.
    fn ledger_public_key(&self) -> LedgerPublicKey;
    /// Signs a C2SP checkpoint with the ledger key under `name` (the log's origin);
    /// the secret key never leaves the store.
    fn sign_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        name: &str,
    ) -> Result<SignedNote, StoreError>;
}

/// One transaction: every area's reads and writes (one trait per area, as in `sql/`
/// and the conformance suite), and `commit`. Reads and writes see the transaction's
/// own changes; dropping it without `commit` rolls everything back. Callers name the
/// traits with `use countersign_store::prelude::*;`.
#[async_trait]
pub trait Tx:
    UsersTx
    + SystemsTx
    + ReleasesTx
    + LineageTx
    + DeadlinesTx
    + OutboxTx
    + AgentsTx
    + CredentialsTx
    + RuntimeTx
    + IdempotencyTx
    + LedgerTx
    + Send
{
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Users, their API tokens and console sessions.
#[async_trait]
pub trait UsersTx: Send {
    async fn insert_user(&mut self, u: &UserRecord) -> Result<(), StoreError>;
    async fn get_user(&mut self, id: &UserId) -> Result<Option<UserRecord>, StoreError>;
    async fn list_users(&mut self) -> Result<Vec<UserRecord>, StoreError>;
    async fn count_users(&mut self) -> Result<u64, StoreError>;
    async fn insert_token(&mut self, t: &TokenRecord) -> Result<(), StoreError>;
    async fn user_by_token_hash(&mut self, hash: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_email(&mut self, email: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Writes the user's roles.
    async fn update_user_roles(&mut self, u: &UserRecord) -> Result<(), StoreError>;

    // Identities at OpenID Connect providers.
    async fn insert_identity(&mut self, r: &IdentityRecord) -> Result<(), StoreError>;
    async fn user_by_identity(
        &mut self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<UserRecord>, StoreError>;

    // Console sessions.
    async fn insert_session(&mut self, r: &SessionRecord) -> Result<(), StoreError>;
    async fn session_by_secret_hash(
        &mut self,
        hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Writes authenticated_at, expires_at and ended_at.
    async fn update_session(&mut self, r: &SessionRecord) -> Result<(), StoreError>;
}

/// AI systems and their owners.
#[async_trait]
pub trait SystemsTx: Send {
    async fn insert_system(&mut self, s: &SystemRecord) -> Result<(), StoreError>;
    async fn get_system(&mut self, id: &SystemId) -> Result<Option<SystemRecord>, StoreError>;
    async fn list_systems(&mut self) -> Result<Vec<SystemRecord>, StoreError>;
}

/// Releases and their revisions, and what is recorded per revision: reviews,
/// evidence (its content in blobs), risk acceptances, decisions and deployments.
#[async_trait]
pub trait ReleasesTx: Send {
    async fn insert_release(&mut self, r: &ReleaseRecord) -> Result<(), StoreError>;
    /// Writes status, current revision, environment and updated_at.
    async fn update_release(&mut self, r: &ReleaseRecord) -> Result<(), StoreError>;
    async fn get_release(&mut self, id: &ReleaseId) -> Result<Option<ReleaseRecord>, StoreError>;
    async fn list_releases(&mut self) -> Result<Vec<ReleaseRecord>, StoreError>;
    /// Every release in review, oldest first, with its revisions and the reviews of
    /// its current revision (three queries, whatever their number: the console's inbox).
    async fn in_review(&mut self) -> Result<Vec<InReviewRecord>, StoreError>;
    async fn insert_revision(&mut self, r: &RevisionRecord) -> Result<(), StoreError>;
    /// Writes submitted_by and submitted_at.
    async fn update_revision(&mut self, r: &RevisionRecord) -> Result<(), StoreError>;
    async fn get_revision(
        &mut self,
        release: &ReleaseId,
        number: u32,
    ) -> Result<Option<RevisionRecord>, StoreError>;
    async fn list_revisions(
        &mut self,
        release: &ReleaseId,
    ) -> Result<Vec<RevisionRecord>, StoreError>;
    /// Every revision (current or not) whose bundle has this artifact digest, with its release.
    async fn revisions_by_artifact(
        &mut self,
        artifact: &Digest,
    ) -> Result<Vec<(ReleaseRecord, RevisionRecord)>, StoreError>;
    async fn insert_review(&mut self, r: &ReviewRecord) -> Result<(), StoreError>;
    async fn list_reviews(&mut self, release: &ReleaseId) -> Result<Vec<ReviewRecord>, StoreError>;
    /// Every review of every release, oldest first (accountability signals).
    async fn list_all_reviews(&mut self) -> Result<Vec<ReviewRecord>, StoreError>;
    /// Stores content under its digest if it is not there yet.
    async fn put_blob(&mut self, digest: &Digest, content: &[u8]) -> Result<(), StoreError>;
    async fn get_blob(&mut self, digest: &Digest) -> Result<Option<Vec<u8>>, StoreError>;
    async fn insert_evidence(&mut self, e: &EvidenceRecord) -> Result<(), StoreError>;
    async fn list_evidence(
        &mut self,
        release: &ReleaseId,
    ) -> Result<Vec<EvidenceRecord>, StoreError>;
    async fn insert_acceptance(&mut self, a: &AcceptanceRecord) -> Result<(), StoreError>;
    async fn list_acceptances(
        &mut self,
        release: &ReleaseId,
    ) -> Result<Vec<AcceptanceRecord>, StoreError>;
    async fn insert_decision(&mut self, d: &DecisionRecord) -> Result<(), StoreError>;
    /// Replaces a revision's standing decision (by id): a withdrawn go, or the new
    /// decision that follows a withdrawal. One row per revision stays the rule.
    async fn update_decision(&mut self, d: &DecisionRecord) -> Result<(), StoreError>;
    async fn list_decisions(
        &mut self,
        release: &ReleaseId,
    ) -> Result<Vec<DecisionRecord>, StoreError>;
    async fn insert_deployment(&mut self, d: &DeploymentRecord) -> Result<(), StoreError>;
    async fn list_deployments(
        &mut self,
        release: &ReleaseId,
    ) -> Result<Vec<DeploymentRecord>, StoreError>;
}

/// Lineage (I6): datasets and training runs.
#[async_trait]
pub trait LineageTx: Send {
    async fn insert_dataset(&mut self, d: &DatasetRecord) -> Result<(), StoreError>;
    /// Writes approved_by and approved_at.
    async fn approve_dataset(&mut self, d: &DatasetRecord) -> Result<(), StoreError>;
    async fn get_dataset(
        &mut self,
        name: &str,
        version: &str,
    ) -> Result<Option<DatasetRecord>, StoreError>;
    async fn list_datasets(&mut self) -> Result<Vec<DatasetRecord>, StoreError>;
    async fn insert_training_run(&mut self, r: &TrainingRunRecord) -> Result<(), StoreError>;
    async fn get_training_run(&mut self, id: &str)
        -> Result<Option<TrainingRunRecord>, StoreError>;
    async fn list_training_runs(&mut self) -> Result<Vec<TrainingRunRecord>, StoreError>;
}

/// Deadlines (I5): escalations of overdue reviews.
#[async_trait]
pub trait DeadlinesTx: Send {
    /// Inserts an escalation; a second one for the same release, revision and role is a
    /// [`StoreError::Conflict`].
    async fn insert_escalation(&mut self, e: &EscalationRecord) -> Result<(), StoreError>;
    async fn list_escalations(
        &mut self,
        release: &ReleaseId,
    ) -> Result<Vec<EscalationRecord>, StoreError>;
}

/// Webhooks and the event outbox: events, deliveries and delivery attempts.
#[async_trait]
pub trait OutboxTx: Send {
    async fn insert_webhook(&mut self, w: &WebhookRecord) -> Result<(), StoreError>;
    async fn get_webhook(&mut self, id: &str) -> Result<Option<WebhookRecord>, StoreError>;
    async fn list_webhooks(&mut self) -> Result<Vec<WebhookRecord>, StoreError>;
    async fn insert_event(&mut self, e: &EventRecord) -> Result<(), StoreError>;
    async fn get_event(&mut self, id: &str) -> Result<Option<EventRecord>, StoreError>;
    async fn insert_delivery(&mut self, d: &DeliveryRecord) -> Result<(), StoreError>;
    /// Writes state, attempts, next_attempt_at and updated_at.
    async fn update_delivery(&mut self, d: &DeliveryRecord) -> Result<(), StoreError>;
    /// Pending deliveries due at `now`, oldest due first, at most `limit`.
    async fn due_deliveries(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    async fn list_deliveries(&mut self, webhook: &str) -> Result<Vec<DeliveryRecord>, StoreError>;
    async fn insert_attempt(&mut self, a: &AttemptRecord) -> Result<(), StoreError>;
    async fn list_attempts(&mut self, webhook: &str) -> Result<Vec<AttemptRecord>, StoreError>;
}

/// Agents, their grants (I8) and the client assertion ids they used.
#[async_trait]
pub trait AgentsTx: Send {
    async fn insert_agent(&mut self, a: &AgentRecord) -> Result<(), StoreError>;
    async fn get_agent(&mut self, id: &AgentId) -> Result<Option<AgentRecord>, StoreError>;
    async fn list_agents(&mut self) -> Result<Vec<AgentRecord>, StoreError>;
    async fn agents_by_release(
        &mut self,
        release: &ReleaseId,
    ) -> Result<Vec<AgentRecord>, StoreError>;
    /// Writes status and updated_at.
    async fn update_agent(&mut self, a: &AgentRecord) -> Result<(), StoreError>;
    async fn insert_grant(&mut self, g: &GrantRecord) -> Result<(), StoreError>;
    async fn get_grant(&mut self, id: &GrantId) -> Result<Option<GrantRecord>, StoreError>;
    /// Every grant, or one agent's, oldest first.
    async fn list_grants(
        &mut self,
        agent: Option<&AgentId>,
    ) -> Result<Vec<GrantRecord>, StoreError>;
    /// Writes the approval, certification and revocation fields.
    async fn update_grant(&mut self, g: &GrantRecord) -> Result<(), StoreError>;
    /// Records a client assertion id; a replay (same agent and jti) is a conflict.
    /// Forgets ids that expired before `now`.
    async fn use_assertion(
        &mut self,
        agent: &AgentId,
        jti: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Credential signing keys and issued credentials (I9).
#[async_trait]
pub trait CredentialsTx: Send {
    async fn insert_credential_key(&mut self, k: &CredentialKeyRecord) -> Result<(), StoreError>;
    /// Every credential signing key, oldest first.
    async fn list_credential_keys(&mut self) -> Result<Vec<CredentialKeyRecord>, StoreError>;
    /// Writes retired_at.
    async fn update_credential_key(&mut self, k: &CredentialKeyRecord) -> Result<(), StoreError>;
    async fn insert_credential(&mut self, c: &CredentialRecord) -> Result<(), StoreError>;
    async fn get_credential(&mut self, jti: &str) -> Result<Option<CredentialRecord>, StoreError>;
    /// Revokes the unrevoked credentials the filter names; returns how many.
    async fn revoke_credentials(
        &mut self,
        filter: &RevokeFilter,
        how: &Revocation,
    ) -> Result<u64, StoreError>;
}

/// Runtime decisions (the action log), step-up approval requests and first
/// openings of a context (I10).
#[async_trait]
pub trait RuntimeTx: Send {
    async fn insert_action(&mut self, a: &ActionRecord) -> Result<(), StoreError>;
    /// Inserts many actions in as few statements as the backend allows (group commit).
    async fn insert_actions(&mut self, actions: &[&ActionRecord]) -> Result<(), StoreError>;
    /// Writes review_state and the document.
    async fn update_action(&mut self, a: &ActionRecord) -> Result<(), StoreError>;
    async fn get_action(&mut self, id: &str) -> Result<Option<ActionRecord>, StoreError>;
    /// Newest first, at most `filter.limit`.
    async fn list_actions(
        &mut self,
        filter: &ActionFilter,
    ) -> Result<Vec<ActionRecord>, StoreError>;
    async fn insert_approval(&mut self, a: &ApprovalRecord) -> Result<(), StoreError>;
    /// Writes state and the document.
    async fn update_approval(&mut self, a: &ApprovalRecord) -> Result<(), StoreError>;
    async fn get_approval(&mut self, id: &str) -> Result<Option<ApprovalRecord>, StoreError>;
    /// Newest first, at most `filter.limit`.
    async fn list_approvals(
        &mut self,
        filter: &ApprovalFilter,
    ) -> Result<Vec<ApprovalRecord>, StoreError>;
    /// Pending approvals whose expiry is at or before `now`, oldest first.
    async fn due_approvals(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRecord>, StoreError>;
    /// Records a first opening; returns false (and changes nothing) when this user
    /// had already opened it.
    async fn record_view(&mut self, v: &ContextViewRecord) -> Result<bool, StoreError>;
    /// When `user` first opened one subject of one kind, if ever.
    async fn get_view(
        &mut self,
        kind: &str,
        subject: &str,
        user: &UserId,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Every first opening of one kind (`release` or `approval`).
    async fn list_views(&mut self, kind: &str) -> Result<Vec<ContextViewRecord>, StoreError>;
}

/// Stored answers to writes made with an `Idempotency-Key`.
#[async_trait]
pub trait IdempotencyTx: Send {
    async fn get_idempotency(
        &mut self,
        actor: &UserId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    async fn put_idempotency(&mut self, r: &IdempotencyRecord) -> Result<(), StoreError>;
}

/// The ledger (I11): appending entries and re-signing the head, in the
/// transaction of the state change; reading entries and the signed head.
#[async_trait]
pub trait LedgerTx: Send {
    /// Appends the next entry and re-signs the head, in this transaction.
    async fn append(&mut self, draft: EntryDraft) -> Result<Entry, StoreError>;
    /// Appends entries in order and signs the head once (group commit).
    async fn append_batch(&mut self, drafts: Vec<EntryDraft>) -> Result<Vec<Entry>, StoreError>;
    /// Entries with `seq > after`, in order, at most `limit`.
    async fn ledger_page(&mut self, after: u64, limit: u32) -> Result<Vec<Entry>, StoreError>;
    /// The `seq` and `hash` of entries with `seq > after`, in order, at most `limit`:
    /// what the ledger's Merkle tree is built from, without reading payloads.
    async fn ledger_hashes(
        &mut self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Digest)>, StoreError>;
    /// One subject's entries, newest first: those with `seq` below `before` (all
    /// when `None`), at most `limit`.
    async fn ledger_by_subject(
        &mut self,
        subject: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Entry>, StoreError>;
    async fn ledger_head(&mut self) -> Result<Option<SignedHead>, StoreError>;
    async fn ledger_count(&mut self) -> Result<u64, StoreError>;
    /// Stores a witness's cosignature; a newer one by the same witness of the same
    /// tree size replaces it.
    async fn put_cosignature(&mut self, r: &CosignatureRecord) -> Result<(), StoreError>;
    /// The cosignatures of the checkpoint of `tree_size`, by witness.
    async fn cosignatures(&mut self, tree_size: u64) -> Result<Vec<CosignatureRecord>, StoreError>;
    /// The largest tree size any witness cosigned, if any.
    async fn latest_cosigned_size(&mut self) -> Result<Option<u64>, StoreError>;
}
