//! Grants (I8): an agent requests a permission on a system; it becomes active only when
//! the system's owner approves and, when an action mutates production state, the
//! agent's owner approves too. Grants lapse at expiry and when not recertified on the
//! profile's cadence. Every step is one ledger entry naming who approved the scope and
//! who can revoke it. Only humans approve (I4): approving takes a [`Ctx`], which an
//! agent never has.

use super::{agents, new_id, record, record_agent, AgentCtx, AppError, Ctx};
use chrono::{DateTime, Duration, Utc};
use countersign_core::grant::{self, Approver, Constraints, State, Terms};
use countersign_core::problem::ProblemCode;
use countersign_core::{GrantId, Role, SystemId, UserId};
use countersign_store::prelude::*;
use countersign_store::records::{AgentRecord, GrantRecord, Revocation, RevokeFilter};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Roles that may revoke any grant (the system owner and the agent owner may too).
pub const REVOKE_ROLES: &[Role] = &[Role::Admin, Role::Security];

pub struct NewGrant {
    pub system: SystemId,
    pub actions: BTreeSet<String>,
    pub resources: BTreeSet<String>,
    pub constraints: Constraints,
    pub expires_at: DateTime<Utc>,
}

/// A grant with what it takes to read it: its state now, its owners.
#[derive(Clone, Debug)]
pub struct GrantView {
    pub grant: GrantRecord,
    pub state: State,
    pub system_owner: UserId,
    pub agent_owner: UserId,
    pub recertify_by: Option<DateTime<Utc>>,
}

async fn view(
    tx: &mut dyn Tx,
    g: GrantRecord,
    now: DateTime<Utc>,
    every: u32,
) -> Result<GrantView, AppError> {
    let agent = agents::get(tx, &g.agent_id).await?;
    let system = super::systems::get(tx, &g.terms.system).await?;
    Ok(GrantView {
        state: g.state(now, every),
        recertify_by: g.certified_at.map(|c| grant::recertify_by(c, every)),
        system_owner: system.owner,
        agent_owner: agent.owner,
        grant: g,
    })
}

/// Who approves this grant and who can revoke it, for its ledger entries.
fn accountability(v: &GrantView) -> Value {
    let mut approvers = vec![json!({"as": "system_owner", "user": v.system_owner})];
    if v.grant.terms.mutating() {
        approvers.push(json!({"as": "agent_owner", "user": v.agent_owner}));
    }
    json!({
        "approvers": approvers,
        "revocable_by": {"users": [v.system_owner, v.agent_owner], "roles": REVOKE_ROLES.iter().map(|r| r.as_str()).collect::<Vec<_>>()},
        "state": v.state.as_str(),
    })
}

/// An agent requests a grant; it is pending until its owners approve.
pub async fn request(tx: &mut dyn Tx, actx: &AgentCtx, n: NewGrant) -> Result<GrantView, AppError> {
    super::systems::get(tx, &n.system).await.map_err(|_| {
        AppError::invalid(
            ProblemCode::UnknownSystem,
            format!("system {:?} does not exist", n.system.as_str()),
        )
    })?;
    let terms = Terms {
        system: n.system,
        actions: n.actions,
        resources: n.resources,
        constraints: n.constraints,
        expires_at: n.expires_at,
    };
    terms
        .validate(actx.now)
        .map_err(|e| AppError::invalid(ProblemCode::InvalidGrant, e.to_string()))?;
    let g = GrantRecord::requested(
        GrantId(new_id("grt")),
        actx.agent.id.clone(),
        terms,
        actx.now,
    );
    tx.insert_grant(&g).await?;
    let v = view(tx, g, actx.now, actx.profile.grants.recertify_every_days).await?;
    let mut payload = json!({
        "agent": v.grant.agent_id, "system": v.grant.terms.system,
        "actions": v.grant.terms.actions, "resources": v.grant.terms.resources,
        "constraints": v.grant.terms.constraints, "expires_at": v.grant.terms.expires_at,
        "mutating": v.grant.terms.mutating(),
    });
    merge(&mut payload, accountability(&v));
    record_agent(tx, actx, "grant.request", v.grant.id.as_str(), payload).await?;
    Ok(v)
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

async fn load(tx: &mut dyn Tx, ctx: &Ctx, id: &GrantId) -> Result<GrantView, AppError> {
    let g = tx.get_grant(id).await?.ok_or_else(|| AppError::NotFound {
        what: "grant",
        id: id.to_string(),
    })?;
    view(tx, g, ctx.now, ctx.profile.grants.recertify_every_days).await
}

/// The system owner, and for a mutating grant the agent owner, approve. Whichever of
/// them the actor is, that approval is recorded; anyone else is refused.
pub async fn approve(tx: &mut dyn Tx, ctx: &Ctx, id: &GrantId) -> Result<GrantView, AppError> {
    let mut v = load(tx, ctx, id).await?;
    let State::Pending { missing } = &v.state else {
        return Err(AppError::invalid(
            ProblemCode::GrantNotPending,
            format!("grant {id} is {}, not pending approval", v.state.as_str()),
        ));
    };
    let me = &ctx.actor.id;
    let mut as_: Vec<&str> = Vec::new();
    for a in missing {
        match a {
            Approver::SystemOwner if *me == v.system_owner => {
                v.grant.system_owner_approved_by = Some(me.clone());
                v.grant.system_owner_approved_at = Some(ctx.now);
                as_.push(a.as_str());
            }
            Approver::AgentOwner if *me == v.agent_owner => {
                v.grant.agent_owner_approved_by = Some(me.clone());
                v.grant.agent_owner_approved_at = Some(ctx.now);
                as_.push(a.as_str());
            }
            _ => {}
        }
    }
    if as_.is_empty() {
        return Err(AppError::forbidden(
            ProblemCode::NotAnApprover,
            format!(
                "only the system owner ({}){} can approve grant {id}, and only approvals still missing",
                v.system_owner,
                if v.grant.terms.mutating() {
                    format!(" and the agent owner ({})", v.agent_owner)
                } else {
                    String::new()
                }
            ),
        ));
    }
    let every = ctx.profile.grants.recertify_every_days;
    // Certified from the moment it first becomes active.
    let facts_with_cert = {
        let mut g = v.grant.clone();
        g.certified_at = Some(ctx.now);
        g.state(ctx.now, every)
    };
    if facts_with_cert == State::Active {
        v.grant.certified_at = Some(ctx.now);
        v.grant.certified_by = Some(me.clone());
    }
    tx.update_grant(&v.grant).await?;
    v.state = v.grant.state(ctx.now, every);
    v.recertify_by = v.grant.certified_at.map(|c| grant::recertify_by(c, every));
    let mut payload =
        json!({"approved_as": as_, "agent": v.grant.agent_id, "system": v.grant.terms.system});
    merge(&mut payload, accountability(&v));
    record(tx, ctx, "grant.approve", id.as_str(), payload).await?;
    Ok(v)
}

fn is_owner(v: &GrantView, who: &UserId) -> bool {
    *who == v.system_owner || *who == v.agent_owner
}

/// An owner (system or agent) recertifies an active or lapsed grant: it stays active
/// for another cadence.
pub async fn recertify(tx: &mut dyn Tx, ctx: &Ctx, id: &GrantId) -> Result<GrantView, AppError> {
    let mut v = load(tx, ctx, id).await?;
    if !is_owner(&v, &ctx.actor.id) {
        return Err(AppError::forbidden(
            ProblemCode::NotAnOwner,
            format!(
                "only the system owner ({}) or the agent owner ({}) can recertify grant {id}",
                v.system_owner, v.agent_owner
            ),
        ));
    }
    if !matches!(v.state, State::Active | State::Lapsed) {
        return Err(AppError::invalid(
            ProblemCode::GrantNotCertifiable,
            format!(
                "grant {id} is {}; only active or lapsed grants are recertified",
                v.state.as_str()
            ),
        ));
    }
    let every = ctx.profile.grants.recertify_every_days;
    v.grant.certified_at = Some(ctx.now);
    v.grant.certified_by = Some(ctx.actor.id.clone());
    tx.update_grant(&v.grant).await?;
    v.state = v.grant.state(ctx.now, every);
    v.recertify_by = Some(grant::recertify_by(ctx.now, every));
    let mut payload = json!({"recertify_by": v.recertify_by, "agent": v.grant.agent_id, "system": v.grant.terms.system});
    merge(&mut payload, accountability(&v));
    record(tx, ctx, "grant.recertify", id.as_str(), payload).await?;
    Ok(v)
}

/// Revokes a grant and every credential issued under it. An owner, admin or security.
pub async fn revoke(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &GrantId,
    reason: String,
) -> Result<GrantView, AppError> {
    let mut v = load(tx, ctx, id).await?;
    if !is_owner(&v, &ctx.actor.id) {
        ctx.require_any(REVOKE_ROLES)?;
    }
    if reason.trim().is_empty() {
        return Err(AppError::invalid(
            ProblemCode::MissingReason,
            "revoking needs a reason",
        ));
    }
    if v.grant.revoked_at.is_some() {
        return Err(AppError::invalid(
            ProblemCode::GrantRevoked,
            format!("grant {id} is already revoked"),
        ));
    }
    v.grant.revoked_at = Some(ctx.now);
    v.grant.revoked_by = Some(ctx.actor.id.to_string());
    v.grant.revoke_reason = Some(reason.clone());
    tx.update_grant(&v.grant).await?;
    let revoked = tx
        .revoke_credentials(
            &RevokeFilter::Grant(id.clone()),
            &Revocation {
                at: ctx.now,
                by: ctx.actor.id.to_string(),
                reason: reason.clone(),
            },
        )
        .await?;
    v.state = State::Revoked;
    let mut payload = json!({"reason": reason, "revoked_credentials": revoked, "agent": v.grant.agent_id, "system": v.grant.terms.system});
    merge(&mut payload, accountability(&v));
    record(tx, ctx, "grant.revoke", id.as_str(), payload).await?;
    Ok(v)
}

/// Grants (optionally one agent's) with their state now.
pub async fn list(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    agent: Option<&AgentRecord>,
) -> Result<Vec<GrantView>, AppError> {
    let every = ctx.profile.grants.recertify_every_days;
    let mut out = Vec::new();
    for g in tx.list_grants(agent.map(|a| &a.id)).await? {
        out.push(view(tx, g, ctx.now, every).await?);
    }
    Ok(out)
}

/// Grants the actor owns (as system or agent owner; admins see all) that are lapsed
/// or due for recertification within `within_days` (default 14).
pub async fn due(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    within_days: Option<u32>,
) -> Result<Vec<GrantView>, AppError> {
    let within_days = within_days.unwrap_or(14);
    // A horizon past the last representable instant includes every grant.
    let horizon = ctx
        .now
        .checked_add_signed(Duration::days(i64::from(within_days)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let all = list(tx, ctx, None).await?;
    Ok(all
        .into_iter()
        .filter(|v| ctx.actor.has_role(Role::Admin) || is_owner(v, &ctx.actor.id))
        .filter(|v| match v.state {
            State::Lapsed => true,
            State::Active => v.recertify_by.is_some_and(|r| r <= horizon),
            _ => false,
        })
        .collect())
}

/// An agent's grants that are active now, for issuing credentials.
pub async fn active_for(
    tx: &mut dyn Tx,
    agent: &AgentRecord,
    now: DateTime<Utc>,
    every: u32,
) -> Result<Vec<GrantRecord>, AppError> {
    Ok(tx
        .list_grants(Some(&agent.id))
        .await?
        .into_iter()
        .filter(|g| g.state(now, every) == State::Active)
        .collect())
}

/// Grants, optionally one agent's (which must exist).
pub async fn list_for(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    agent: Option<countersign_core::AgentId>,
) -> Result<Vec<GrantView>, AppError> {
    match agent {
        Some(id) => {
            let a = agents::get(tx, &id).await?;
            list(tx, ctx, Some(&a)).await
        }
        None => list(tx, ctx, None).await,
    }
}
