//! Agents (I1, I8): workload identities, each with one named human owner, one use case,
//! one environment, and the release that put it in production. An agent authenticates
//! with its own Ed25519 key by a signed client assertion (RFC 7523 style), never with
//! a shared or human credential.

use super::{new_id, record, users, AgentCtx, AppError, Ctx};
use crate::jwt;
use chrono::{DateTime, Duration, Utc};
use countersign_core::agent::AgentStatus;
use countersign_core::problem::ProblemCode;
use countersign_core::profile::Profile;
use countersign_core::release::ReleaseStatus;
use countersign_core::{AgentId, ReleaseId, Role, UserId};
use countersign_store::prelude::*;
use countersign_store::records::{AgentRecord, Revocation, RevokeFilter};
use serde_json::{json, Value};
use std::sync::Arc;

/// Roles that may register agents.
pub const REGISTER_ROLES: &[Role] = &[Role::Admin, Role::Mlops, Role::Operations];
/// Roles that may suspend any agent (its owner may suspend it too).
pub const SUSPEND_ROLES: &[Role] = &[Role::Admin, Role::Security];
/// The issuer of credentials and the audience client assertions must name (or the
/// token endpoint's URL on this server).
pub const ISSUER: &str = "urn:countersign";
/// The token endpoint's path; an assertion may name its absolute URL as audience.
pub const TOKEN_PATH: &str = "/v1/oauth/token";
/// The longest a client assertion may live.
pub const MAX_ASSERTION_SECONDS: i64 = 300;
/// Clock skew tolerated on assertion times.
const SKEW_SECONDS: i64 = 60;

pub struct NewAgent {
    pub name: String,
    pub owner: UserId,
    pub use_case: String,
    pub environment: String,
    pub release: ReleaseId,
    /// An OKP/Ed25519 JWK or base64url of the 32 raw bytes.
    pub public_key: String,
}

fn text(field: &str, v: &str, max: usize) -> Result<(), AppError> {
    if v.trim().is_empty() || v.len() > max {
        return Err(AppError::invalid(
            ProblemCode::InvalidAgent,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(())
}

/// Registers an agent with its own workload identity.
pub async fn register(tx: &mut dyn Tx, ctx: &Ctx, a: NewAgent) -> Result<AgentRecord, AppError> {
    ctx.require_any(REGISTER_ROLES)?;
    text("name", &a.name, 200)?;
    text("use_case", &a.use_case, 200)?;
    text("environment", &a.environment, 64)?;
    // INVARIANT (I1): the owner is one existing human user.
    users::get(tx, &a.owner).await.map_err(|_| {
        AppError::invalid(
            ProblemCode::UnknownOwner,
            format!("owner {:?} is not a user", a.owner.as_str()),
        )
    })?;
    let release = tx.get_release(&a.release).await?.ok_or_else(|| {
        AppError::invalid(
            ProblemCode::UnknownRelease,
            format!("release {:?} does not exist", a.release.as_str()),
        )
    })?;
    if release.status != ReleaseStatus::Promoted {
        return Err(AppError::invalid(
            ProblemCode::ReleaseNotInProduction,
            format!(
                "release {} is {}, not promoted: an agent enters production through a promoted release",
                release.id,
                release.status.as_str()
            ),
        ));
    }
    let key = jwt::parse_public_key(&a.public_key)
        .map_err(|e| AppError::invalid(ProblemCode::InvalidPublicKey, e.to_string()))?;
    let public_key = jwt::b64(key.as_bytes());
    // An identity is never reused: not by another agent, not in another environment.
    if let Some(other) = tx
        .list_agents()
        .await?
        .into_iter()
        .find(|o| o.public_key == public_key)
    {
        return Err(AppError::Duplicate {
            what: format!(
                "an agent with this public key ({} in {}); register a new key per use case and environment",
                other.id, other.environment
            ),
        });
    }
    let agent = AgentRecord {
        id: AgentId(new_id("agt")),
        name: a.name,
        owner: a.owner,
        use_case: a.use_case,
        environment: a.environment,
        release_id: release.id,
        public_key,
        status: AgentStatus::Active,
        created_by: ctx.actor.id.clone(),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    tx.insert_agent(&agent)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Duplicate { .. } => AppError::Duplicate {
                what: format!("an agent named {:?} in {:?}", agent.name, agent.environment),
            },
            other => other,
        })?;
    record(
        tx,
        ctx,
        "agent.register",
        agent.id.as_str(),
        json!({"name": agent.name, "owner": agent.owner, "use_case": agent.use_case,
               "environment": agent.environment, "release": agent.release_id, "public_key": agent.public_key}),
    )
    .await?;
    Ok(agent)
}

pub async fn get(tx: &mut dyn Tx, id: &AgentId) -> Result<AgentRecord, AppError> {
    tx.get_agent(id).await?.ok_or_else(|| AppError::NotFound {
        what: "agent",
        id: id.to_string(),
    })
}

pub async fn list(tx: &mut dyn Tx) -> Result<Vec<AgentRecord>, AppError> {
    Ok(tx.list_agents().await?)
}

/// Suspends an agent and revokes every credential it holds. Its owner, admin or security.
pub async fn suspend(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    id: &AgentId,
    reason: String,
) -> Result<AgentRecord, AppError> {
    let mut agent = get(tx, id).await?;
    if agent.owner != ctx.actor.id {
        ctx.require_any(SUSPEND_ROLES)?;
    }
    if reason.trim().is_empty() {
        return Err(AppError::invalid(
            ProblemCode::MissingReason,
            "suspending needs a reason",
        ));
    }
    agent.status = AgentStatus::Suspended;
    agent.updated_at = ctx.now;
    tx.update_agent(&agent).await?;
    let revoked = tx
        .revoke_credentials(
            &RevokeFilter::Agent(agent.id.clone()),
            &Revocation {
                at: ctx.now,
                by: ctx.actor.id.to_string(),
                reason: reason.clone(),
            },
        )
        .await?;
    record(
        tx,
        ctx,
        "agent.suspend",
        agent.id.as_str(),
        json!({"reason": reason, "revoked_credentials": revoked}),
    )
    .await?;
    Ok(agent)
}

fn unauthenticated(reason: impl Into<String>) -> AppError {
    AppError::AgentUnauthenticated {
        reason: reason.into(),
    }
}

fn int_claim(c: &serde_json::Map<String, Value>, name: &str) -> Result<i64, AppError> {
    c.get(name)
        .and_then(Value::as_i64)
        .ok_or_else(|| unauthenticated(format!("the assertion has no numeric {name}")))
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Authenticates an agent by its client assertion (RFC 7523 style): a JWT signed with
/// the agent's registered key, `iss` = `sub` = the agent id, `aud` = [`ISSUER`] or the
/// token endpoint URL on this `host`, a short `exp`, and a `jti` never seen before
/// within its lifetime. Records the `jti` in this (write) transaction, so a replay is
/// refused. A human API token is not a JWT and is refused here (I4).
pub async fn authenticate(
    tx: &mut dyn Tx,
    now: DateTime<Utc>,
    profile: Arc<Profile>,
    assertion: &str,
    host: Option<&str>,
) -> Result<AgentCtx, AppError> {
    let unverified =
        jwt::decode(assertion).map_err(|e| unauthenticated(format!("client assertion: {e}")))?;
    let iss = unverified
        .claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| unauthenticated("the assertion has no iss"))?
        .to_owned();
    let agent = tx
        .get_agent(&AgentId(iss.clone()))
        .await?
        .ok_or_else(|| unauthenticated("the assertion's issuer is not a registered agent"))?;
    let key = jwt::parse_public_key(&agent.public_key)
        .map_err(|_| unauthenticated("the agent's key is not usable"))?;
    let claims = unverified
        .verify(&key)
        .map_err(|e| unauthenticated(format!("client assertion: {e}")))?;
    if claims.get("sub").and_then(Value::as_str) != Some(iss.as_str()) {
        return Err(unauthenticated("the assertion's sub must equal its iss"));
    }
    let aud_ok = |a: &str| {
        a == ISSUER
            || host.is_some_and(|h| {
                a == format!("https://{h}{TOKEN_PATH}") || a == format!("http://{h}{TOKEN_PATH}")
            })
    };
    let aud_matches = match claims.get("aud") {
        Some(Value::String(a)) => aud_ok(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(aud_ok),
        _ => false,
    };
    if !aud_matches {
        return Err(unauthenticated(format!(
            "the assertion's aud must be {ISSUER:?} or the token endpoint URL"
        )));
    }
    let exp = at(int_claim(&claims, "exp")?);
    if exp + Duration::seconds(SKEW_SECONDS) <= now {
        return Err(unauthenticated("the assertion has expired"));
    }
    if exp > now + Duration::seconds(MAX_ASSERTION_SECONDS + SKEW_SECONDS) {
        return Err(unauthenticated(format!(
            "the assertion lives too long: exp may be at most {MAX_ASSERTION_SECONDS} seconds ahead"
        )));
    }
    if let Some(iat) = claims.get("iat").and_then(Value::as_i64) {
        if at(iat) > now + Duration::seconds(SKEW_SECONDS) {
            return Err(unauthenticated("the assertion is issued in the future"));
        }
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 200)
        .ok_or_else(|| unauthenticated("the assertion has no jti"))?;
    tx.use_assertion(&agent.id, jti, exp + Duration::seconds(SKEW_SECONDS), now)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Duplicate { .. } => unauthenticated("the assertion's jti was already used"),
            other => other,
        })?;
    if agent.status != AgentStatus::Active {
        return Err(AppError::forbidden(
            ProblemCode::AgentSuspended,
            format!("agent {} is suspended", agent.id),
        ));
    }
    Ok(AgentCtx {
        agent,
        now,
        profile,
    })
}
