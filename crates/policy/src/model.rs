//! The policy set's types: sources, requests, outcomes and decisions, and the loaded
//! set with what deciding each action needs. Loading is in the crate root, deciding in
//! `decide`; both build on these.

use cedar_policy as cedar;
use countersign_core::canonical::Digest;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::OnceLock;

/// One schema or policy file: its file name and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySource {
    /// The file name, e.g. `"runtime.cedar"`; used in errors and summaries.
    pub name: String,
    pub text: String,
}

/// What a loaded policy says, for display and audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicySummary {
    pub id: String,
    /// The file the policy came from.
    pub file: String,
    /// `"permit"` or `"forbid"`.
    pub effect: String,
    /// `"allow"`, `"step_up"` or `"deny"`.
    pub decision: String,
    /// The `@approver` role of a step-up policy, if any.
    pub approver: Option<String>,
    /// The policy's source text, annotations included.
    pub text: String,
}

/// One action an agent wants to take, as the policies see it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The agent id.
    pub agent: &'a str,
    /// The user id of the agent's human owner.
    pub agent_owner: &'a str,
    /// The agent's environment, e.g. `"production"`.
    pub environment: &'a str,
    pub use_case: &'a str,
    /// The action, e.g. `"read"`, `"write"`, `"pay"`, `"send_email"`.
    pub action: &'a str,
    /// The target system id.
    pub system: &'a str,
    pub system_owner: &'a str,
    /// The resource path within the system, e.g. `"orders/42"`.
    pub resource: &'a str,
    pub task: &'a str,
    /// 0..=100; anything above 100 denies.
    pub risk_score: u32,
    /// 0..=100; anything above 100 denies.
    pub confidence_pct: u32,
    pub data_classes: &'a [String],
    /// Whether the action changes state, computed by the caller.
    pub mutates: bool,
    /// 0..=23; anything above 23 denies.
    pub hour_utc: u32,
    /// Whether the request falls inside the grant's time window, computed by
    /// the caller.
    pub within_window: bool,
    /// The expected downstream impact, free text.
    pub impact: &'a str,
}

impl<'a> Request<'a> {
    /// The parts of this request that stay the same from one call to the
    /// next for one agent on one system.
    pub fn subject(&self) -> Subject<'a> {
        Subject {
            agent: self.agent,
            agent_owner: self.agent_owner,
            environment: self.environment,
            use_case: self.use_case,
            system: self.system,
            system_owner: self.system_owner,
        }
    }

    /// The parts of this request that change from one call to the next.
    pub fn call(&self) -> Call<'a> {
        Call {
            action: self.action,
            resource: self.resource,
            task: self.task,
            risk_score: self.risk_score,
            confidence_pct: self.confidence_pct,
            data_classes: self.data_classes,
            mutates: self.mutates,
            hour_utc: self.hour_utc,
            within_window: self.within_window,
            impact: self.impact,
        }
    }

    /// The request made of a subject and a call.
    pub fn from_parts(subject: Subject<'a>, call: Call<'a>) -> Request<'a> {
        Request {
            agent: subject.agent,
            agent_owner: subject.agent_owner,
            environment: subject.environment,
            use_case: subject.use_case,
            action: call.action,
            system: subject.system,
            system_owner: subject.system_owner,
            resource: call.resource,
            task: call.task,
            risk_score: call.risk_score,
            confidence_pct: call.confidence_pct,
            data_classes: call.data_classes,
            mutates: call.mutates,
            hour_utc: call.hour_utc,
            within_window: call.within_window,
            impact: call.impact,
        }
    }
}

/// Who acts on what: one agent on one target system, the part of a
/// [`Request`] that [`PolicySet::prepare`] turns into Cedar entities once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    /// The agent id.
    pub agent: &'a str,
    /// The user id of the agent's human owner.
    pub agent_owner: &'a str,
    /// The agent's environment, e.g. `"production"`; also the context's
    /// `environment`.
    pub environment: &'a str,
    pub use_case: &'a str,
    /// The target system id.
    pub system: &'a str,
    pub system_owner: &'a str,
}

/// One call of a prepared subject: the part of a [`Request`] that changes
/// from one call to the next (see [`PolicySet::decide_prepared`]).
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The action, e.g. `"read"`, `"write"`, `"pay"`, `"send_email"`.
    pub action: &'a str,
    /// The resource path within the system, e.g. `"orders/42"`.
    pub resource: &'a str,
    pub task: &'a str,
    /// 0..=100; anything above 100 denies.
    pub risk_score: u32,
    /// 0..=100; anything above 100 denies.
    pub confidence_pct: u32,
    pub data_classes: &'a [String],
    /// Whether the action changes state, computed by the caller.
    pub mutates: bool,
    /// 0..=23; anything above 23 denies.
    pub hour_utc: u32,
    /// Whether the request falls inside the grant's time window.
    pub within_window: bool,
    /// The expected downstream impact, free text.
    pub impact: &'a str,
}

/// A [`Subject`] prepared for one policy set by [`PolicySet::prepare`]: the
/// Cedar entities of the agent and the system, their uids, and, built the
/// first time an action is decided, the entity store for that action (its
/// action entities, the agent and the system). Deciding a [`Call`] with it
/// then builds only the resource entity and the context.
///
/// It is immutable apart from those once-built stores, and safe to share
/// across threads and to cache for as long as the agent, its owner, its
/// environment, its use case and the system's owner stay what they were.
/// Given to a policy set with another digest (a reload), it is not used:
/// that set prepares the subject afresh for the call, so the answer is
/// always the set's own.
#[derive(Debug)]
pub struct Prepared {
    /// The digest of the set it was prepared for.
    pub(crate) digest: Digest,
    pub(crate) agent: String,
    pub(crate) agent_owner: String,
    pub(crate) environment: String,
    pub(crate) use_case: String,
    pub(crate) system: String,
    pub(crate) system_owner: String,
    /// `"<system>/"`, the start of every resource id.
    pub(crate) resource_prefix: String,
    pub(crate) agent_uid: cedar::EntityUid,
    pub(crate) system_uid: cedar::EntityUid,
    /// The agent and system entities, or why Cedar refused one.
    pub(crate) entities: Result<[cedar::Entity; 2], String>,
    /// By [`ActionSlot::index`]: the slot's action entities plus the agent
    /// and the system, transitively closed, or why Cedar refused them.
    pub(crate) stores: Vec<OnceLock<Result<cedar::Entities, String>>>,
}

impl Prepared {
    /// The subject it was prepared from.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            agent: &self.agent,
            agent_owner: &self.agent_owner,
            environment: &self.environment,
            use_case: &self.use_case,
            system: &self.system,
            system_owner: &self.system_owner,
        }
    }

    /// The digest of the policy set it was prepared for.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
}

/// The outcome of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allow,
    Deny,
    /// A named human must approve the action first.
    StepUp,
}

/// A decision with the policies and reasons behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// For a step-up: the `@approver` role of the first determining step-up
    /// policy (by id) that has one.
    pub approver_role: Option<String>,
    /// The ids of the policies that determined the outcome, sorted.
    pub determining: Vec<String>,
    /// Human-readable reasons, e.g. `"permitted by allow-low-risk-reads"`.
    pub reasons: Vec<String>,
    /// Evaluation and request-validation errors; any error means deny.
    pub errors: Vec<String>,
}

/// What a permit or forbid means to countersign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Allow,
    StepUp,
    Deny,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Allow => "allow",
            Kind::StepUp => "step_up",
            Kind::Deny => "deny",
        }
    }
}

/// The annotations of one policy, looked up on every decision.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub(crate) kind: Kind,
    pub(crate) approver: Option<String>,
}

/// A loaded, validated set of runtime policies, ready to decide.
///
/// It is immutable once loaded and safe to share across threads.
#[derive(Debug)]
pub struct PolicySet {
    pub(crate) digest: Digest,
    pub(crate) summaries: Vec<PolicySummary>,
    pub(crate) schema: cedar::Schema,
    pub(crate) authorizer: cedar::Authorizer,
    /// Policy id -> its annotations.
    pub(crate) meta: HashMap<String, Meta>,
    /// Action name -> what deciding it needs (see [`ActionSlot`]).
    pub(crate) actions: HashMap<String, ActionSlot>,
    pub(crate) agent_type: cedar::EntityTypeName,
    pub(crate) system_type: cedar::EntityTypeName,
    pub(crate) resource_type: cedar::EntityTypeName,
    pub(crate) action_type: cedar::EntityTypeName,
}

/// Per action: its uid, the slice of the policy set whose action scope can
/// match it, and the action entities a request for it needs.
#[derive(Debug)]
pub(crate) struct ActionSlot {
    /// The action's position among the schema's actions sorted by name;
    /// indexes [`Prepared::stores`].
    pub(crate) index: usize,
    pub(crate) uid: cedar::EntityUid,
    /// INVARIANT: exactly the policies of the full set whose action scope
    /// (`action`, `action == A`, `action in [..]`) matches this action, each
    /// with that scope widened to `action` (it always holds here; see
    /// `without_action_scope`). Cedar
    /// checks the scope before the `when`/`unless` conditions and
    /// short-circuits, so a policy left out can neither be satisfied nor raise
    /// an error for this action: evaluating the slice gives the same decision,
    /// reasons and errors as evaluating the whole set.
    pub(crate) policies: cedar::PolicySet,
    /// Whether a policy of the slice can read the resource entity (see
    /// `policy_reads_resource`). INVARIANT: when it is false, no policy of the
    /// slice looks the resource up in the store, so deciding without the
    /// resource entity in the store gives the same decision, reasons and
    /// errors as deciding with it; `decide` then uses the prepared store
    /// as it is, without copying it to add the resource.
    pub(crate) reads_resource: bool,
    /// The context fields a policy of the slice can read, one bit per field
    /// of `decide::CONTEXT_FIELDS` (see `context_fields`). INVARIANT: a
    /// policy observes the context only through `context.<field>` and
    /// `context has <field>` of these fields (any other use of `context`
    /// sets every bit), so deciding with a context of just these fields gives
    /// the same decision, reasons and errors as with all of them.
    pub(crate) context_fields: u16,
    /// INVARIANT: the schema's action entities (ancestors already closed)
    /// for this action, its ancestor groups, and every action that a policy
    /// of the slice names, with their ancestor groups. Cedar reads an entity
    /// from the store only for `A in B`, attribute and tag access on `A`; a
    /// policy can do that only to the request's action or an action it
    /// names (no attribute or context value holds an action), so evaluating
    /// the slice against this store plus the request's agent, system and
    /// resource answers as a store holding every action of the schema would.
    pub(crate) entities: cedar::Entities,
    /// Why a request for this action does not conform to the schema, if it
    /// does not (see [`decide::conformance`]); every decision then denies.
    pub(crate) nonconforming: Option<String>,
}

/// The source set the digest is computed over.
#[derive(Serialize)]
pub(crate) struct DigestInput<'a> {
    pub(crate) schema: &'a PolicySource,
    pub(crate) policies: Vec<&'a PolicySource>,
}

pub(crate) const NAMESPACE: &str = "Countersign";
