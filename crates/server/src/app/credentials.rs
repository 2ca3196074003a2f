//! Just-in-time credentials (I9): short-lived EdDSA JWTs for one agent, one task and a
//! subset of its active grants; delegation by token exchange (RFC 8693, attenuation
//! only, I8); introspection (RFC 7662 style) that reads the revocation state from the
//! database on every call, so a revocation shows at once on every replica; key
//! rotation that keeps retired keys published until their tokens have expired.
//!
//! Signing keys live in the database (like the ledger key), so replicas share them.

use super::unit::App;
use super::{grants, new_id, record, record_agent, AgentCtx, AppError, Ctx};
use crate::app::agents::ISSUER;
use crate::jwt;
use chrono::{DateTime, Duration, Utc};
use countersign_core::agent::AgentStatus;
use countersign_core::grant::{self, Scope, ScopeRefusal, State};
use countersign_core::problem::ProblemCode;
use countersign_core::{AgentId, GrantId, ReleaseId, Role};
use countersign_store::prelude::*;
use countersign_store::records::{CredentialKeyRecord, CredentialRecord, Revocation, RevokeFilter};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// The default credential lifetime (I9).
pub const DEFAULT_LIFETIME_SECONDS: i64 = 15 * 60;
/// The longest lifetime a task may ask for.
pub const MAX_LIFETIME_SECONDS: i64 = 60 * 60;
/// Roles that may revoke any credential and rotate keys.
pub const CREDENTIAL_ADMIN_ROLES: &[Role] = &[Role::Admin, Role::Security];
/// Token exchange grant type (RFC 8693).
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

pub struct TokenRequest {
    pub task: String,
    pub scopes: Vec<String>,
    /// Seconds; default [`DEFAULT_LIFETIME_SECONDS`], at most [`MAX_LIFETIME_SECONDS`].
    pub lifetime: Option<i64>,
    /// The task's declared risk score, checked against grants' `max_risk_score`.
    pub risk_score: Option<u32>,
    /// For token exchange: the delegating credential.
    pub subject_token: Option<String>,
}

/// An issued token and its record.
pub struct Issued {
    pub token: String,
    pub credential: CredentialRecord,
}

fn keypair(k: &CredentialKeyRecord) -> Result<SigningKey, AppError> {
    let bytes: [u8; 32] = hex::decode(&k.secret_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            AppError::invalid(
                ProblemCode::CorruptKey,
                format!("credential key {} is not usable", k.kid),
            )
        })?;
    Ok(SigningKey::from_bytes(&bytes))
}

fn new_key(now: DateTime<Utc>) -> CredentialKeyRecord {
    let sk = SigningKey::generate(&mut rand::rngs::OsRng);
    let public = jwt::b64(sk.verifying_key().as_bytes());
    CredentialKeyRecord {
        kid: format!("cs-{}", &new_id("k")[2..14]),
        public_key: public,
        secret_key: hex::encode(sk.to_bytes()),
        created_at: now,
        retired_at: None,
    }
}

/// The current signing key, created on first use.
async fn signing_key(
    tx: &mut dyn Tx,
    now: DateTime<Utc>,
) -> Result<(CredentialKeyRecord, SigningKey), AppError> {
    let current = tx
        .list_credential_keys()
        .await?
        .into_iter()
        .rev()
        .find(|k| k.retired_at.is_none());
    let k = match current {
        Some(k) => k,
        None => {
            let k = new_key(now);
            tx.insert_credential_key(&k).await?;
            k
        }
    };
    let sk = keypair(&k)?;
    Ok((k, sk))
}

/// Keys to publish: the current one and retired ones whose tokens may still be alive.
pub async fn published_keys(
    tx: &mut dyn Tx,
    now: DateTime<Utc>,
) -> Result<Vec<(String, VerifyingKey)>, AppError> {
    let mut out = Vec::new();
    for k in tx.list_credential_keys().await? {
        let live = k
            .retired_at
            .is_none_or(|r| r + Duration::seconds(MAX_LIFETIME_SECONDS) > now);
        if live {
            if let Ok(pk) = jwt::parse_public_key(&k.public_key) {
                out.push((k.kid, pk));
            }
        }
    }
    Ok(out)
}

/// The JWKS document.
pub async fn jwks(tx: &mut dyn Tx, now: DateTime<Utc>) -> Result<Value, AppError> {
    let keys: Vec<Value> = published_keys(tx, now)
        .await?
        .iter()
        .map(|(kid, pk)| jwt::jwk(kid, pk))
        .collect();
    Ok(json!({ "keys": keys }))
}

/// Rotates the signing key: a new key signs from now on; the old ones stay published
/// until every token they signed has expired. Admin or security.
pub async fn rotate(tx: &mut dyn Tx, ctx: &Ctx) -> Result<CredentialKeyRecord, AppError> {
    ctx.require_any(CREDENTIAL_ADMIN_ROLES)?;
    let mut retired = Vec::new();
    for mut k in tx.list_credential_keys().await? {
        if k.retired_at.is_none() {
            k.retired_at = Some(ctx.now);
            tx.update_credential_key(&k).await?;
            retired.push(k.kid);
        }
    }
    let k = new_key(ctx.now);
    tx.insert_credential_key(&k).await?;
    record(
        tx,
        ctx,
        "credential_key.rotate",
        &k.kid,
        json!({"kid": k.kid, "public_key": k.public_key, "retired": retired,
               "retired_published_until": ctx.now + Duration::seconds(MAX_LIFETIME_SECONDS)}),
    )
    .await?;
    Ok(k)
}

fn parse_scopes(scopes: &[String]) -> Result<BTreeSet<Scope>, AppError> {
    if scopes.is_empty() || scopes.len() > 100 {
        return Err(AppError::invalid(
            ProblemCode::InvalidScope,
            "request 1 to 100 scopes",
        ));
    }
    scopes
        .iter()
        .map(|s| {
            s.parse::<Scope>()
                .map_err(|e| AppError::invalid(ProblemCode::InvalidScope, e.to_string()))
        })
        .collect()
}

/// Picks, for every scope, an active grant that covers it and whose constraints hold
/// now; refuses the first scope no grant covers (I8).
fn cover(
    scopes: &BTreeSet<Scope>,
    active: &[countersign_store::records::GrantRecord],
    now: DateTime<Utc>,
    risk: Option<u32>,
) -> Result<Vec<GrantId>, AppError> {
    let mut used: BTreeSet<GrantId> = BTreeSet::new();
    for s in scopes {
        let g = active
            .iter()
            .filter(|g| g.terms.covers(s))
            .find(|g| {
                let c = &g.terms.constraints;
                c.window.is_none_or(|w| w.contains(now))
                    && c.max_risk_score
                        .is_none_or(|m| risk.is_some_and(|r| r <= m))
            })
            .ok_or_else(|| {
                AppError::forbidden(
                    ProblemCode::ScopeNotGranted,
                    format!(
                        "{} ({})",
                        ScopeRefusal::NotGranted(s.to_string()),
                        why_not_covered(s, active, now, risk)
                    ),
                )
            })?;
        used.insert(g.id.clone());
    }
    Ok(used.into_iter().collect())
}

/// Why no active grant covers `s` now: the most specific reason among the grants
/// that cover it at all.
fn why_not_covered(
    s: &Scope,
    active: &[countersign_store::records::GrantRecord],
    now: DateTime<Utc>,
    risk: Option<u32>,
) -> String {
    let covering: Vec<_> = active.iter().filter(|g| g.terms.covers(s)).collect();
    if covering.is_empty() {
        return "no active, approved grant covers it".into();
    }
    let c = covering.iter().map(|g| &g.terms.constraints);
    if c.clone()
        .all(|c| c.window.is_some_and(|w| !w.contains(now)))
    {
        return "it is outside every covering grant's time window".into();
    }
    match (risk, c.filter_map(|c| c.max_risk_score).max()) {
        (None, Some(m)) => {
            format!("the covering grant limits risk to {m}; the request must state its risk_score")
        }
        (Some(r), Some(m)) => format!("risk score {r} is above the covering grant's limit {m}"),
        _ => "no covering grant's constraints hold now".into(),
    }
}

fn lifetime(req: Option<i64>) -> Result<Duration, AppError> {
    let secs = req.unwrap_or(DEFAULT_LIFETIME_SECONDS);
    if !(1..=MAX_LIFETIME_SECONDS).contains(&secs) {
        return Err(AppError::invalid(
            ProblemCode::InvalidLifetime,
            format!("lifetime must be 1 to {MAX_LIFETIME_SECONDS} seconds"),
        ));
    }
    Ok(Duration::seconds(secs))
}

/// The latest a credential under these grants may live: never past a grant's expiry
/// or its recertification deadline.
async fn grant_bound(
    tx: &mut dyn Tx,
    ids: &[GrantId],
    every: u32,
) -> Result<Option<DateTime<Utc>>, AppError> {
    let mut bound: Option<DateTime<Utc>> = None;
    for id in ids {
        if let Some(g) = tx.get_grant(id).await? {
            let mut b = g.terms.expires_at;
            if let Some(c) = g.certified_at {
                b = b.min(grant::recertify_by(c, every));
            }
            bound = Some(bound.map_or(b, |x| x.min(b)));
        }
    }
    Ok(bound)
}

fn claims_of(c: &CredentialRecord, act: Option<Value>) -> Map<String, Value> {
    let systems: BTreeSet<String> = c
        .scopes
        .iter()
        .filter_map(|s| s.split(':').next().map(str::to_owned))
        .collect();
    let mut m = Map::new();
    m.insert("iss".into(), json!(ISSUER));
    m.insert("sub".into(), json!(c.subject));
    m.insert("aud".into(), json!(systems));
    m.insert("iat".into(), json!(c.issued_at.timestamp()));
    m.insert("nbf".into(), json!(c.issued_at.timestamp()));
    m.insert("exp".into(), json!(c.expires_at.timestamp()));
    m.insert("jti".into(), json!(c.jti));
    m.insert("client_id".into(), json!(c.agent_id));
    m.insert("agent".into(), json!(c.agent_id));
    m.insert("owner".into(), json!(c.owner));
    m.insert("task".into(), json!(c.task));
    m.insert("scope".into(), json!(c.scopes.join(" ")));
    m.insert("release".into(), json!(c.release_id));
    if let Some(a) = act {
        m.insert("act".into(), a);
    }
    m
}

/// Issues a credential to the authenticated agent for one task (I9), or, with a
/// `subject_token`, exchanges a delegating credential for one the agent may use
/// (RFC 8693 delegation, I8).
pub async fn token(
    tx: &mut dyn Tx,
    actx: &AgentCtx,
    req: TokenRequest,
) -> Result<Issued, AppError> {
    let mut req = req;
    if req.subject_token.is_none() && (req.task.trim().is_empty() || req.task.len() > 200) {
        return Err(AppError::invalid(
            ProblemCode::InvalidTask,
            "task must be 1 to 200 characters",
        ));
    }
    let scopes = parse_scopes(&req.scopes)?;
    let every = actx.profile.grants.recertify_every_days;
    let agent = &actx.agent;
    // A delegation is checked against the delegator's credential first (attenuation),
    // then against the delegate's own grants: the result is within both.
    let parent = match &req.subject_token {
        None => None,
        Some(t) => {
            let parent = active_credential(tx, t, actx.now, every)
                .await?
                .ok_or_else(|| {
                    AppError::forbidden(
                        ProblemCode::InvalidSubjectToken,
                        "the subject token is not an active credential",
                    )
                })?;
            let outer: BTreeSet<Scope> = parent
                .scopes
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect();
            // INVARIANT (I8): a delegated credential never exceeds its delegator.
            grant::attenuate(&scopes, &outer).map_err(|e| {
                AppError::forbidden(ProblemCode::ScopeBeyondDelegator, e.to_string())
            })?;
            // INVARIANT (I8): a delegated credential keeps the root task, so the
            // action log ties every delegate's actions to it.
            if req.task.is_empty() {
                req.task = parent.task.clone();
            } else if req.task != parent.task {
                return Err(AppError::forbidden(
                    ProblemCode::DelegationChangesTask,
                    format!(
                        "a delegated credential keeps its delegator's task {:?}; {:?} was asked for (omit task or send the same one)",
                        parent.task, req.task
                    ),
                ));
            }
            let max = actx.profile.grants.max_delegation_depth;
            if parent.depth + 1 > max {
                return Err(AppError::forbidden(
                    ProblemCode::DelegationTooDeep,
                    format!("the delegation chain may be at most {max} deep"),
                ));
            }
            Some(parent)
        }
    };
    let active = grants::active_for(tx, agent, actx.now, every).await?;
    let grant_ids = cover(&scopes, &active, actx.now, req.risk_score)?;
    let mut exp = actx.now + lifetime(req.lifetime)?;
    if let Some(b) = grant_bound(tx, &grant_ids, every).await? {
        exp = exp.min(b);
    }
    if let Some(p) = &parent {
        exp = exp.min(p.expires_at);
    }
    let (key, sk) = signing_key(tx, actx.now).await?;
    let credential = CredentialRecord {
        jti: new_id("jti"),
        kid: key.kid.clone(),
        agent_id: agent.id.clone(),
        subject: parent
            .as_ref()
            .map_or(agent.id.clone(), |p| p.subject.clone()),
        // The accountable human: the owner of the workflow's root agent.
        owner: parent
            .as_ref()
            .map_or(agent.owner.clone(), |p| p.owner.clone()),
        task: req.task,
        scopes: scopes.iter().map(ToString::to_string).collect(),
        grant_ids,
        release_id: agent.release_id.clone(),
        parent_jti: parent.as_ref().map(|p| p.jti.clone()),
        depth: parent.as_ref().map_or(0, |p| p.depth + 1),
        issued_at: actx.now,
        expires_at: exp,
        revoked_at: None,
        revoked_by: None,
        revoke_reason: None,
    };
    tx.insert_credential(&credential).await?;
    let act = act_chain(tx, &credential).await?;
    let token = jwt::sign(&claims_of(&credential, act.clone()), &key.kid, &sk);
    let mut grant_approvals = Vec::new();
    for id in &credential.grant_ids {
        if let Some(g) = tx.get_grant(id).await? {
            grant_approvals.push(
                json!({"grant": g.id, "system_owner": g.system_owner_approved_by,
                                        "agent_owner": g.agent_owner_approved_by}),
            );
        }
    }
    let action = if parent.is_some() {
        "credential.exchange"
    } else {
        "credential.issue"
    };
    record_agent(
        tx,
        actx,
        action,
        &credential.jti,
        json!({"agent": credential.agent_id, "subject": credential.subject, "owner": credential.owner,
               "task": credential.task, "scopes": credential.scopes, "grants": grant_approvals,
               "release": credential.release_id, "kid": credential.kid,
               "expires_at": credential.expires_at, "parent": credential.parent_jti, "act": act}),
    )
    .await?;
    Ok(Issued { token, credential })
}

/// The agents of a credential's delegation chain, from the task's root agent to the
/// one holding it (`holder` alone when it was not delegated, or is unknown).
pub async fn delegation_chain(
    tx: &mut dyn Tx,
    jti: &str,
    holder: &AgentId,
) -> Result<Vec<AgentId>, AppError> {
    let mut chain = Vec::new();
    let mut cur = tx.get_credential(jti).await?;
    while let Some(c) = cur {
        chain.push(c.agent_id.clone());
        // Chains are at most the profile's delegation depth; 16 bounds a corrupt one.
        if chain.len() > 16 {
            break;
        }
        cur = match &c.parent_jti {
            Some(p) => tx.get_credential(p).await?,
            None => None,
        };
    }
    if chain.is_empty() {
        chain.push(holder.clone());
    }
    chain.reverse();
    Ok(chain)
}

/// The `act` claim (RFC 8693 §4.1): the current actor outermost, prior actors nested.
/// `None` for a credential that was not delegated.
async fn act_chain(tx: &mut dyn Tx, c: &CredentialRecord) -> Result<Option<Value>, AppError> {
    // The delegates after the root, first delegate first; the holder ends up outermost.
    let chain = delegation_chain(tx, &c.jti, &c.agent_id).await?;
    let holders = chain.into_iter().skip(1);
    let mut act: Option<Value> = None;
    for h in holders {
        let mut m = Map::new();
        m.insert("sub".into(), json!(h));
        if let Some(inner) = act.take() {
            m.insert("act".into(), inner);
        }
        act = Some(Value::Object(m));
    }
    Ok(act)
}

/// Verifies a token and returns its credential if it is active now: signed by a
/// published key, unexpired, not revoked, nor any credential it was delegated from,
/// its agent active and every grant behind it still active.
pub async fn active_credential(
    tx: &mut dyn Tx,
    token: &str,
    now: DateTime<Utc>,
    every: u32,
) -> Result<Option<CredentialRecord>, AppError> {
    let Ok(u) = jwt::decode(token) else {
        return Ok(None);
    };
    let Some(kid) = u.kid().map(str::to_owned) else {
        return Ok(None);
    };
    let keys = published_keys(tx, now).await?;
    let Some((_, pk)) = keys.iter().find(|(k, _)| *k == kid) else {
        return Ok(None);
    };
    let Ok(claims) = u.verify(pk) else {
        return Ok(None);
    };
    let Some(jti) = claims.get("jti").and_then(Value::as_str) else {
        return Ok(None);
    };
    let Some(c) = tx.get_credential(jti).await? else {
        return Ok(None);
    };
    if c.kid != kid {
        return Ok(None);
    }
    // Walk the delegation chain: every link must be live.
    let mut cur = Some(c.clone());
    let mut hops = 0;
    while let Some(x) = cur {
        hops += 1;
        if hops > 16 || x.revoked_at.is_some() || x.expires_at <= now {
            return Ok(None);
        }
        let agent = tx.get_agent(&x.agent_id).await?;
        if agent.is_none_or(|a| a.status != AgentStatus::Active) {
            return Ok(None);
        }
        for gid in &x.grant_ids {
            let live = tx
                .get_grant(gid)
                .await?
                .is_some_and(|g| g.state(now, every) == State::Active);
            if !live {
                return Ok(None);
            }
        }
        cur = match &x.parent_jti {
            Some(p) => tx.get_credential(p).await?,
            None => None,
        };
    }
    Ok(Some(c))
}

/// Introspection (RFC 7662 style): `{"active": false}` unless the token is active
/// now; then its claims. Reads the database every time, so revocation is immediate.
pub async fn introspect(
    tx: &mut dyn Tx,
    token: &str,
    now: DateTime<Utc>,
    every: u32,
) -> Result<Value, AppError> {
    let Some(c) = active_credential(tx, token, now, every).await? else {
        return Ok(json!({"active": false}));
    };
    let act = act_chain(tx, &c).await?;
    let mut m = claims_of(&c, act);
    m.insert("active".into(), json!(true));
    m.insert("token_type".into(), json!("Bearer"));
    Ok(Value::Object(m))
}

/// What to revoke: exactly one of these.
pub struct RevokeRequest {
    pub jti: Option<String>,
    pub agent: Option<AgentId>,
    pub grant: Option<GrantId>,
    pub release: Option<ReleaseId>,
    pub reason: String,
}

/// Revokes credentials by token, agent, grant or release. Admin or security; an
/// agent's owner for its agent's tokens.
pub async fn revoke(tx: &mut dyn Tx, ctx: &Ctx, r: RevokeRequest) -> Result<u64, AppError> {
    let filter = match (r.jti, r.agent, r.grant, r.release) {
        (Some(j), None, None, None) => RevokeFilter::Jti(j),
        (None, Some(a), None, None) => RevokeFilter::Agent(a),
        (None, None, Some(g), None) => RevokeFilter::Grant(g),
        (None, None, None, Some(rel)) => RevokeFilter::Release(rel),
        _ => {
            return Err(AppError::invalid(
                ProblemCode::InvalidRevocation,
                "name exactly one of jti, agent, grant, release",
            ))
        }
    };
    if r.reason.trim().is_empty() {
        return Err(AppError::invalid(
            ProblemCode::MissingReason,
            "revoking needs a reason",
        ));
    }
    let owner = match &filter {
        RevokeFilter::Jti(j) => match tx.get_credential(j).await? {
            Some(c) => tx.get_agent(&c.agent_id).await?.map(|a| a.owner),
            None => {
                return Err(AppError::NotFound {
                    what: "credential",
                    id: j.clone(),
                })
            }
        },
        RevokeFilter::Agent(a) => Some(super::agents::get(tx, a).await?.owner),
        _ => None,
    };
    if owner.as_ref() != Some(&ctx.actor.id) {
        ctx.require_any(CREDENTIAL_ADMIN_ROLES)?;
    }
    let n = tx
        .revoke_credentials(
            &filter,
            &Revocation {
                at: ctx.now,
                by: ctx.actor.id.to_string(),
                reason: r.reason.clone(),
            },
        )
        .await?;
    let (kind, subject) = match &filter {
        RevokeFilter::Jti(j) => ("jti", j.clone()),
        RevokeFilter::Agent(a) => ("agent", a.to_string()),
        RevokeFilter::Grant(g) => ("grant", g.to_string()),
        RevokeFilter::Release(r) => ("release", r.to_string()),
    };
    record(
        tx,
        ctx,
        "credential.revoke",
        &subject,
        json!({"by": kind, "reason": r.reason, "revoked": n}),
    )
    .await?;
    Ok(n)
}

/// Rolling back or retiring a release (I9): suspends its agents and revokes every
/// credential issued under it, in the caller's transaction. Returns the suspended
/// agents and the number of credentials revoked, for the caller's ledger entry.
pub async fn on_release_withdrawn(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    release: &ReleaseId,
    reason: &str,
) -> Result<(Vec<AgentId>, u64), AppError> {
    let mut suspended = Vec::new();
    for mut a in tx.agents_by_release(release).await? {
        if a.status == AgentStatus::Active {
            a.status = AgentStatus::Suspended;
            a.updated_at = ctx.now;
            tx.update_agent(&a).await?;
            suspended.push(a.id);
        }
    }
    let revoked = tx
        .revoke_credentials(
            &RevokeFilter::Release(release.clone()),
            &Revocation {
                at: ctx.now,
                by: ctx.actor.id.to_string(),
                reason: format!("release {release} withdrawn: {reason}"),
            },
        )
        .await?;
    Ok((suspended, revoked))
}

/// [`introspect`] now, as a query: whether `token` is an active credential.
pub async fn introspect_now(app: &App, token: String) -> Result<Value, AppError> {
    let (now, every) = (app.now(), app.profile.grants.recertify_every_days);
    app.query(move |tx| Box::pin(async move { introspect(tx, &token, now, every).await }))
        .await
}

/// [`jwks`] now, as a query.
pub async fn jwks_now(app: &App) -> Result<Value, AppError> {
    let now = app.now();
    app.query(move |tx| Box::pin(async move { jwks(tx, now).await }))
        .await
}
