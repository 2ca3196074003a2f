//! The pure evaluation of one decision request: the resolved credential, the input,
//! the policy set, the approval it names, fresh ids and the time in; the records to
//! write out. No IO, no clock, no randomness.
//!
//! Order of checks, each of which denies on failure, before any policy runs
//! (`countersign_core::grant::check_use`): the task is the credential's; the
//! credential's scopes cover `system:action:resource`; an active grant covers it; the
//! grant's time window holds now; the risk score is within the grant's maximum. Then
//! the Cedar policy set decides; anything it cannot
//! evaluate denies. A step_up creates an approval request for a named human; an
//! approved, unused request bound to the same action digest turns the step_up into an
//! allow, once.

use super::super::policies::LoadedPolicies;
use super::super::runtime::Principal;
use super::super::AppError;
use chrono::{DateTime, Duration, Timelike, Utc};
use countersign_core::grant::{check_use, mutates, valid_action, Asked, Facts, Held, Scope};
use countersign_core::problem::ProblemCode;
use countersign_core::profile::Profile;
use countersign_core::runtime::{ActionDecision, ApprovalState, ReviewState};
use countersign_core::{Digest, SystemId};
use countersign_ledger::EntryDraft;
use countersign_policy::{Call, Outcome, Subject};
use countersign_store::records::{ActionRecord, ApprovalRecord, GrantRecord};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The identifiers a decision may create, chosen by the caller.
#[derive(Clone, Debug)]
pub struct DecisionIds {
    pub action: String,
    /// Used only when the decision is a step-up.
    pub approval: String,
}

/// What the agent asks: the action, its target, its task, the tool arguments and
/// the context a human would need.
#[derive(Clone, Debug)]
pub struct DecideInput {
    pub action: String,
    pub system: SystemId,
    pub resource: String,
    /// Defaults to the credential's task; any other task is refused.
    pub task: Option<String>,
    pub arguments: Value,
    pub context: DecideContext,
    /// An approval request answered for this exact action.
    pub approval_id: Option<String>,
}

/// The decision context: confidence, risk, data classes, the AI's input and output
/// (or their digests), and the expected downstream impact.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DecideContext {
    /// The model's confidence, 0 to 1.
    pub confidence: Option<f64>,
    /// 0 to 100.
    pub risk_score: u32,
    #[serde(default)]
    pub data_classes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_input_digest: Option<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_output: Option<String>,
    #[serde(default)]
    pub data_used: Vec<String>,
    #[serde(default)]
    pub impact: String,
}

/// Checks the shape of a request; a malformed one is a 422, not a decision.
pub fn validate(input: &DecideInput) -> Result<(), AppError> {
    if !valid_action(&input.action) {
        return Err(AppError::invalid(
            ProblemCode::InvalidAction,
            format!(
                "action {:?} is not an action name (lowercase letters, digits, _ - .)",
                input.action
            ),
        ));
    }
    let r = &input.resource;
    if r.is_empty()
        || r.len() > 256
        || r.contains(':')
        || r.contains('*')
        || r.bytes().any(|b| !(0x21..0x7f).contains(&b))
    {
        return Err(AppError::invalid(
            ProblemCode::InvalidResource,
            "resource must be 1-256 visible ASCII characters without ':' or '*'",
        ));
    }
    if input.system.as_str().is_empty() {
        return Err(AppError::invalid(
            ProblemCode::InvalidSystem,
            "system must not be empty",
        ));
    }
    if input
        .task
        .as_ref()
        .is_some_and(|t| t.trim().is_empty() || t.len() > 200)
    {
        return Err(AppError::invalid(
            ProblemCode::InvalidTask,
            "task must be 1-200 characters",
        ));
    }
    let c = &input.context;
    if c.risk_score > 100 {
        return Err(AppError::invalid(
            ProblemCode::InvalidContext,
            "context.risk_score must be 0-100",
        ));
    }
    if c.confidence
        .is_some_and(|x| !(0.0..=1.0).contains(&x) || x.is_nan())
    {
        return Err(AppError::invalid(
            ProblemCode::InvalidContext,
            "context.confidence must be between 0 and 1",
        ));
    }
    if c.data_classes.len() > 64 || c.data_classes.iter().any(|d| d.is_empty() || d.len() > 64) {
        return Err(AppError::invalid(
            ProblemCode::InvalidContext,
            "context.data_classes: at most 64 names of 1-64 characters",
        ));
    }
    Ok(())
}

/// The digest an approval binds to: agent, system, action, resource, task and the
/// exact arguments (canonical JSON).
pub fn action_digest(
    agent: &str,
    system: &SystemId,
    action: &str,
    resource: &str,
    task: &str,
    arguments: &Value,
) -> Digest {
    let v = json!({
        "agent": agent,
        "system": system,
        "action": action,
        "resource": resource,
        "task": task,
        "arguments": arguments,
    });
    // INVARIANT: a JSON value always serializes.
    Digest::of_canonical(&v).unwrap_or_else(|_| Digest::zero())
}

/// What one decision writes: its action record, the approval request a step-up
/// creates, and the approval it consumes.
#[derive(Clone, Debug)]
pub struct DecisionWrite {
    pub action: ActionRecord,
    pub new_approval: Option<ApprovalRecord>,
    /// An approved request this decision uses (single use); if it has been used or
    /// decided otherwise meanwhile, the committer turns the decision into a deny.
    pub consume: Option<String>,
}

/// Decides one request. `approval` is the request named by `input.approval_id`, as
/// read now (the committer re-checks it is unused inside the write). `ids` are the
/// new action's and, for a step-up, the new approval request's.
pub fn evaluate(
    p: &Principal,
    input: DecideInput,
    policies: &LoadedPolicies,
    approval: Option<&ApprovalRecord>,
    ids: DecisionIds,
    now: DateTime<Utc>,
    profile: &Profile,
) -> DecisionWrite {
    let task = input
        .task
        .clone()
        .unwrap_or_else(|| p.credential.task.clone());
    let digest = action_digest(
        p.agent.id.as_str(),
        &input.system,
        &input.action,
        &input.resource,
        &task,
        &input.arguments,
    );
    let context = serde_json::to_value(&input.context).unwrap_or(Value::Null);
    let mut action = ActionRecord {
        id: ids.action,
        agent_id: p.agent.id.clone(),
        jti: p.credential.jti.clone(),
        owner: p.agent.owner.clone(),
        system_id: input.system.clone(),
        action: input.action.clone(),
        resource: input.resource.clone(),
        task: task.clone(),
        action_digest: digest.clone(),
        arguments: input.arguments.clone(),
        context,
        risk_score: input.context.risk_score,
        decision: ActionDecision::Deny,
        reasons: Vec::new(),
        policies: Vec::new(),
        policy_digest: None,
        approval_id: input.approval_id.clone(),
        decided_at: now,
        review_state: None,
        review: None,
        outcome: None,
    };
    let deny = |mut action: ActionRecord, reason: String| {
        action.reasons.push(reason);
        DecisionWrite {
            action,
            new_approval: None,
            consume: None,
        }
    };

    // Grants and time windows before policy.
    let scope = Scope {
        system: input.system.clone(),
        action: input.action.clone(),
        resource: input.resource.clone(),
    };
    let risk = input.context.risk_score;
    let grants: Vec<Facts<'_>> = p.grants.iter().map(GrantRecord::facts).collect();
    let asked = Asked {
        task: &task,
        scope: &scope,
        risk_score: risk,
    };
    let held = Held {
        task: &p.credential.task,
        scopes: &p.credential.scopes,
    };
    let every = profile.grants.recertify_every_days;
    if let Err(refusal) = check_use(&asked, &held, &grants, now, every) {
        return deny(action, refusal.to_string());
    }

    // Runtime policy.
    let Some(system) = p.systems.get(&input.system) else {
        return deny(action, format!("system {} is not registered", input.system));
    };
    let confidence_pct = input
        .context
        .confidence
        .map(|c| (c * 100.0).round().clamp(0.0, 100.0) as u32)
        .unwrap_or(100);
    // The agent on this system is prepared once per cached credential; the
    // call is decided exactly as the whole request would be.
    let subject = Subject {
        agent: p.agent.id.as_str(),
        agent_owner: p.agent.owner.as_str(),
        environment: &p.agent.environment,
        use_case: &p.agent.use_case,
        system: input.system.as_str(),
        system_owner: system.owner.as_str(),
    };
    let prepared = p
        .prepared
        .get_or_prepare(&policies.set, &input.system, &subject);
    let decision = policies.set.decide_prepared(
        &prepared,
        &Call {
            action: &input.action,
            resource: &input.resource,
            task: &task,
            risk_score: risk,
            confidence_pct,
            data_classes: &input.context.data_classes,
            mutates: mutates(&input.action),
            hour_utc: now.hour(),
            within_window: true,
            impact: &input.context.impact,
        },
    );
    action.policies = decision.determining.clone();
    action.policy_digest = Some(policies.set.digest().clone());
    action.reasons = decision.reasons.clone();
    action.reasons.extend(decision.errors.iter().cloned());

    match decision.outcome {
        Outcome::Deny => DecisionWrite {
            action,
            new_approval: None,
            consume: None,
        },
        Outcome::Allow => {
            action.decision = ActionDecision::Allow;
            action.approval_id = None;
            action.review_state = Some(ReviewState::Pending);
            DecisionWrite {
                action,
                new_approval: None,
                consume: None,
            }
        }
        Outcome::StepUp => match (&input.approval_id, approval) {
            (Some(id), a) => match approval_refusal(a, id, p, &digest, now) {
                Some(reason) => deny(action, reason),
                None => {
                    let by = a.and_then(|a| a.decided_by.as_ref()).map(|u| u.to_string());
                    action.decision = ActionDecision::Allow;
                    action
                        .reasons
                        .push(format!("approved by {} in {id}", by.unwrap_or_default()));
                    DecisionWrite {
                        action,
                        new_approval: None,
                        consume: Some(id.clone()),
                    }
                }
            },
            (None, _) => {
                let (assignee, role) = match decision.approver_role.as_deref() {
                    Some(role) => match p.approvers.get(role) {
                        Some(u) => (u.clone(), Some(role.to_owned())),
                        None => {
                            action.reasons.push(format!(
                                "no user holds role {role}; assigned to the system owner"
                            ));
                            (system.owner.clone(), Some(role.to_owned()))
                        }
                    },
                    None => (system.owner.clone(), None),
                };
                let minutes = i64::from(profile.runtime.approval_timeout_minutes);
                let approval = ApprovalRecord {
                    id: ids.approval,
                    action_id: action.id.clone(),
                    agent_id: p.agent.id.clone(),
                    system_id: input.system.clone(),
                    action: input.action.clone(),
                    resource: input.resource.clone(),
                    task: task.clone(),
                    action_digest: digest.clone(),
                    arguments: input.arguments.clone(),
                    context: action.context.clone(),
                    assignee,
                    approver_role: role,
                    policies: action.policies.clone(),
                    state: ApprovalState::Pending,
                    created_at: now,
                    expires_at: now + Duration::minutes(minutes),
                    first_opened_at: None,
                    decided_by: None,
                    decided_at: None,
                    comment: None,
                    used_by: None,
                    used_at: None,
                    revoked_at: None,
                    revoke_reason: None,
                    friction: vec![],
                };
                action.decision = ActionDecision::StepUp;
                action.approval_id = Some(approval.id.clone());
                DecisionWrite {
                    action,
                    new_approval: Some(approval),
                    consume: None,
                }
            }
        },
    }
}

/// Why an approval cannot authorise this action, or `None` if it can.
fn approval_refusal(
    a: Option<&ApprovalRecord>,
    id: &str,
    p: &Principal,
    digest: &Digest,
    now: DateTime<Utc>,
) -> Option<String> {
    let Some(a) = a.filter(|a| a.agent_id == p.agent.id) else {
        return Some(format!(
            "approval request {id} does not exist for this agent"
        ));
    };
    if a.action_digest != *digest {
        return Some(format!(
            "approval request {id} was granted for a different action (digest {}), not this one ({digest})",
            a.action_digest
        ));
    }
    match effective_state(a, now) {
        ApprovalState::Approved => None,
        ApprovalState::Pending => Some(format!(
            "approval request {id} is still waiting for {}",
            a.assignee
        )),
        ApprovalState::Denied => Some(format!(
            "approval request {id} was denied by {}",
            a.assignee
        )),
        ApprovalState::Expired => Some(format!(
            "approval request {id} expired unanswered at {}",
            a.expires_at.to_rfc3339()
        )),
        ApprovalState::Used => Some(format!(
            "approval request {id} was already used; an approval is single-use"
        )),
        ApprovalState::Revoked => Some(format!(
            "approval request {id} was revoked by {} before it was used",
            a.assignee
        )),
    }
}

/// The state at `now`: a pending request past its expiry is expired even before the
/// expiry job writes it.
pub fn effective_state(a: &ApprovalRecord, now: DateTime<Utc>) -> ApprovalState {
    if a.state == ApprovalState::Pending && a.expires_at <= now {
        ApprovalState::Expired
    } else {
        a.state
    }
}

/// Turns a decision that relied on an approval into a deny, when the committer finds
/// the approval used (or no longer approved) inside the write.
pub fn refuse_reuse(action: &mut ActionRecord, approval: &str) {
    action.decision = ActionDecision::Deny;
    action.review_state = None;
    action.reasons.push(format!(
        "approval request {approval} was already used; an approval is single-use"
    ));
}

/// The decision's one ledger entry.
pub fn entry_for(a: &ActionRecord, created: Option<&ApprovalRecord>) -> EntryDraft {
    let mut payload = json!({
        "credential": a.jti,
        "system": a.system_id,
        "action": a.action,
        "resource": a.resource,
        "task": a.task,
        "action_digest": a.action_digest,
        "decision": a.decision,
        "reasons": a.reasons,
        "policies": a.policies,
        "policy_digest": a.policy_digest,
        "risk_score": a.risk_score,
    });
    if let Some(obj) = payload.as_object_mut() {
        if let Some(ap) = created {
            obj.insert(
                "approval_request".into(),
                json!({"id": ap.id, "assignee": ap.assignee, "expires_at": ap.expires_at}),
            );
        } else if let Some(id) = &a.approval_id {
            obj.insert("approval_used".into(), json!(id));
        }
        if let Some(d) = a.context.get("ai_input_digest") {
            obj.insert("ai_input_digest".into(), d.clone());
        } else if let Some(Value::String(s)) = a.context.get("ai_input") {
            obj.insert("ai_input_digest".into(), json!(Digest::of(s.as_bytes())));
        }
    }
    EntryDraft {
        at: a.decided_at,
        actor: a.agent_id.to_string(),
        action: "action.decide".into(),
        subject: a.id.clone(),
        payload,
    }
}
