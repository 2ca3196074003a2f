//! Console sessions: signing in (with an API token, or through the company's OpenID
//! Connect provider), resolving the browser's session cookie to the person behind it,
//! and signing out.
//! A session lives in the database, so it works across replicas and ending it ends
//! it everywhere; the browser holds only a random secret, the store only its sha256.
//! Signing in and out are state changes, each with its one ledger entry (I11).

use super::auth::{authenticate, Unauthenticated};
use super::unit::App;
use super::users::{hash_token, random_hex};
use super::{new_id, record, AppError, Ctx};
use countersign_core::oidc::{roles_from_groups, Identity};
use countersign_core::problem::ProblemCode;
use countersign_core::session::{session_state, SessionState, SignInMethod};
use countersign_core::UserId;
use countersign_store::records::{IdentityRecord, SessionRecord, UserRecord};
use countersign_store::Tx;
use serde_json::json;

pub use super::sign_in::SignInOptions;

/// A signed-in person: who, and the session that says so.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub ctx: Ctx,
    pub session: SessionRecord,
    /// The token a form must carry back for a state-changing request (CSRF). It is
    /// derived from the session's secret, so it is never stored and differs per session.
    pub csrf: String,
}

/// Why a session cookie does not sign anyone in.
#[derive(Debug)]
pub enum NoSession {
    /// No such session (never existed, or a forged cookie).
    Unknown,
    Expired,
    Ended,
    /// The person's roles were all taken away since.
    NoRole,
    Failed(AppError),
}

/// The CSRF token of the session whose cookie secret is `secret`.
pub fn csrf_token(secret: &str) -> String {
    hash_token(&format!("csrf:{secret}"))
}

/// Signs in with an API token: a new session for its holder, and the secret for the
/// browser's cookie. A token that is unknown, or whose holder has no role, is refused.
pub async fn sign_in_with_token(
    app: &App,
    token: &str,
) -> Result<(SessionRecord, String), AppError> {
    if !app.sign_in.token {
        return Err(AppError::forbidden(
            ProblemCode::TokenSignInOff,
            "signing in with an API token is turned off on this server; sign in with your \
             company's identity provider",
        ));
    }
    let ctx = authenticate(app, token.trim()).await.map_err(|e| match e {
        Unauthenticated::UnknownToken => AppError::forbidden(
            ProblemCode::Unauthenticated,
            "that token is not valid; check it was copied whole",
        ),
        Unauthenticated::NoRole => AppError::forbidden(
            ProblemCode::MissingRole,
            "your account holds no role yet; ask an admin to grant one",
        ),
        Unauthenticated::Failed(e) => e,
    })?;
    let secret = random_hex(32);
    let hash = hash_token(&secret);
    let lifetime = app.sign_in.session_lifetime;
    let done = app
        .command_then(ctx, None, 201, move |tx, ctx| {
            Box::pin(async move {
                let method = (SignInMethod::Token, ctx.now, lifetime);
                let session = start(tx, ctx, hash, method, json!({})).await?;
                Ok(((), session))
            })
        })
        .await?;
    let session = done.value.ok_or_else(not_started)?;
    Ok((session, secret))
}

fn not_started() -> AppError {
    AppError::Unavailable {
        detail: "the session was not started".into(),
    }
}

/// Writes a new session for `ctx.actor` and its `session.start` entry.
/// `how`: the sign-in method, when the person authenticated, the session lifetime.
async fn start(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    secret_hash: String,
    how: (
        SignInMethod,
        chrono::DateTime<chrono::Utc>,
        chrono::Duration,
    ),
    mut detail: serde_json::Value,
) -> Result<SessionRecord, AppError> {
    let (method, authenticated_at, lifetime) = how;
    let session = SessionRecord {
        id: new_id("ses"),
        secret_hash,
        user_id: ctx.actor.id.clone(),
        method,
        created_at: ctx.now,
        authenticated_at,
        expires_at: ctx.now + lifetime,
        ended_at: None,
    };
    tx.insert_session(&session).await?;
    if let Some(d) = detail.as_object_mut() {
        d.insert("method".into(), json!(session.method));
        d.insert("expires_at".into(), json!(session.expires_at));
    }
    record(tx, ctx, "session.start", &session.id, detail).await?;
    Ok(session)
}

/// Who an identity from the provider is, before signing them in.
enum Known {
    /// Linked by the provider's `sub` at an earlier sign-in.
    Linked(UserRecord),
    /// A user with the identity's verified email; linked now.
    ByEmail(UserRecord),
    /// Nobody yet: provisioned now.
    New(UserRecord),
}

fn sign_in_refused(detail: impl Into<String>) -> AppError {
    AppError::forbidden(ProblemCode::UnknownPerson, detail)
}

/// Signs in the person the provider identified: the user linked to its `sub`, else
/// the user with its verified email (linking the `sub` now), else — with just-in-time
/// provisioning on — a new user; anyone else is refused. When the provider's groups
/// give roles, they replace the person's roles at each sign-in (one `user.roles` entry
/// when they change). A person left without a role is refused (after the change).
pub async fn sign_in_with_identity(
    app: &App,
    id: Identity,
) -> Result<(SessionRecord, String), AppError> {
    let oidc = app.sign_in.oidc.clone().ok_or_else(|| {
        AppError::forbidden(
            ProblemCode::SignInFailed,
            "no identity provider is configured",
        )
    })?;
    let config = &oidc.config;
    let lifetime = app.sign_in.session_lifetime;
    let (issuer, subject) = (id.issuer.clone(), id.subject.clone());
    let email = id.verified_email().map(str::to_owned);
    let found = app
        .query(move |tx| {
            Box::pin(async move {
                if let Some(u) = tx.user_by_identity(&issuer, &subject).await? {
                    return Ok(Some(Known::Linked(u)));
                }
                Ok(match email {
                    Some(e) => tx.user_by_email(&e).await?.map(Known::ByEmail),
                    None => None,
                })
            })
        })
        .await?;
    let wanted_roles = config
        .groups_claim
        .as_ref()
        .map(|_| roles_from_groups(&id.groups, &config.group_roles));
    let now = app.now();
    let known = match found {
        Some(k) => k,
        None if !config.provision => {
            return Err(sign_in_refused(match id.verified_email() {
                Some(e) => format!(
                    "there is no countersign account for {e}; ask an admin to add you (with \
                     this email), then sign in again"
                ),
                None => "your identity provider did not send a verified email, so countersign \
                         cannot tell which account is yours; ask an admin"
                    .to_owned(),
            }));
        }
        None => {
            let email = id.verified_email().ok_or_else(|| {
                sign_in_refused(
                    "your identity provider did not send a verified email, so no account can \
                     be made for you; ask an admin",
                )
            })?;
            Known::New(UserRecord {
                id: UserId(new_id("usr")),
                name: id.name.clone().unwrap_or_else(|| email.to_owned()),
                email: email.to_owned(),
                roles: wanted_roles.clone().unwrap_or_default(),
                created_at: now,
            })
        }
    };
    let actor = match &known {
        Known::Linked(u) | Known::ByEmail(u) | Known::New(u) => u.clone(),
    };
    let ctx = Ctx {
        actor,
        now,
        profile: app.profile.clone(),
    };
    let secret = random_hex(32);
    let hash = hash_token(&secret);
    let authenticated_at = id.authenticated_at.min(now);
    let done = app
        .command_then(ctx, None, 201, move |tx, ctx| {
            Box::pin(async move {
                let mut user = ctx.actor.clone();
                let link = IdentityRecord {
                    issuer: id.issuer.clone(),
                    subject: id.subject.clone(),
                    user_id: user.id.clone(),
                    email: user.email.clone(),
                    created_at: ctx.now,
                };
                match &known {
                    Known::Linked(_) => {}
                    Known::ByEmail(_) => {
                        tx.insert_identity(&link).await?;
                        record(
                            tx,
                            ctx,
                            "user.link_identity",
                            user.id.as_str(),
                            json!({"issuer": link.issuer, "subject": link.subject, "email": link.email}),
                        )
                        .await?;
                    }
                    Known::New(_) => {
                        tx.insert_user(&user).await?;
                        tx.insert_identity(&link).await?;
                        let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
                        record(
                            tx,
                            ctx,
                            "user.provision",
                            user.id.as_str(),
                            json!({"email": user.email, "roles": roles, "issuer": link.issuer, "subject": link.subject}),
                        )
                        .await?;
                    }
                }
                if let Some(roles) = wanted_roles.filter(|r| *r != user.roles) {
                    let from: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
                    let to: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                    record(
                        tx,
                        ctx,
                        "user.roles",
                        user.id.as_str(),
                        json!({"from": from, "to": to, "source": link.issuer}),
                    )
                    .await?;
                    user.roles = roles;
                    tx.update_user_roles(&user).await?;
                }
                if user.roles.is_empty() {
                    return Ok(((), None));
                }
                let detail = json!({"issuer": link.issuer, "subject": link.subject});
                let how = (SignInMethod::Oidc, authenticated_at, lifetime);
                let session = start(tx, ctx, hash, how, detail).await?;
                Ok(((), Some(session)))
            })
        })
        .await?;
    match done.value.ok_or_else(not_started)? {
        Some(session) => Ok((session, secret)),
        None => Err(AppError::forbidden(
            ProblemCode::MissingRole,
            "your account holds no countersign role (your groups at the identity provider \
             give none); ask an admin to grant one",
        )),
    }
}

/// The person signed in by the cookie secret `secret`, if its session is live.
pub async fn resolve(app: &App, secret: &str) -> Result<Viewer, NoSession> {
    let hash = hash_token(secret);
    let found = app
        .query(move |tx| {
            Box::pin(async move {
                let Some(session) = tx.session_by_secret_hash(&hash).await? else {
                    return Ok(None);
                };
                let user = tx.get_user(&session.user_id).await?;
                Ok(user.map(|u| (session, u)))
            })
        })
        .await
        .map_err(NoSession::Failed)?;
    let (session, actor) = found.ok_or(NoSession::Unknown)?;
    let now = app.now();
    match session_state(session.expires_at, session.ended_at, now) {
        SessionState::Live => {}
        SessionState::Expired => return Err(NoSession::Expired),
        SessionState::Ended => return Err(NoSession::Ended),
    }
    if actor.roles.is_empty() {
        return Err(NoSession::NoRole);
    }
    Ok(Viewer {
        ctx: Ctx {
            actor,
            now,
            profile: app.profile.clone(),
        },
        session,
        csrf: csrf_token(secret),
    })
}

/// Ends the viewer's session (sign-out); the cookie no longer signs anyone in.
pub async fn sign_out(app: &App, viewer: Viewer) -> Result<(), AppError> {
    let mut session = viewer.session;
    app.command(viewer.ctx, None, 200, move |tx, ctx| {
        Box::pin(async move {
            session.ended_at = Some(ctx.now);
            tx.update_session(&session).await?;
            record(
                tx,
                ctx,
                "session.end",
                &session.id,
                json!({"reason": "sign_out"}),
            )
            .await?;
            Ok(())
        })
    })
    .await
    .map(drop)
}

/// What a console approval is of, for the recent-sign-in rule.
#[derive(Clone, Debug)]
pub enum Approving {
    /// A review, risk acceptance or decision on a release.
    Release(countersign_core::ReleaseId),
    /// A step-up approval request (its agent's release decides the tier).
    StepUp(String),
}

/// Refuses (`fresh-sign-in-required`) when the viewer signed in longer ago than the
/// tier's `approval_max_auth_age_minutes` allows: the tier of the release's current
/// revision, or for a step-up of the agent's release. Nothing named: no refusal here
/// (the command itself says it does not exist).
pub async fn require_recent_sign_in(
    app: &App,
    viewer: &Viewer,
    of: Approving,
) -> Result<(), AppError> {
    let ctx = viewer.ctx.clone();
    let tier = app
        .query(move |tx| {
            Box::pin(async move {
                let release = match of {
                    Approving::Release(id) => id,
                    Approving::StepUp(id) => {
                        let Some(a) = tx.get_approval(&id).await? else {
                            return Ok(None);
                        };
                        return super::friction::step_up_tier(tx, &ctx, &a).await;
                    }
                };
                let Some(r) = tx.get_release(&release).await? else {
                    return Ok(None);
                };
                Ok(tx
                    .get_revision(&release, r.current_revision)
                    .await?
                    .and_then(|rev| ctx.profile.tier(&rev.tier).cloned()))
            })
        })
        .await?;
    let Some(tier) = tier else { return Ok(()) };
    let limit = tier.approval_max_auth_age_minutes;
    let tier = tier.name;
    let now = app.now();
    if countersign_core::oidc::needs_fresh_sign_in(viewer.session.authenticated_at, now, limit) {
        return Err(AppError::forbidden(
            ProblemCode::FreshSignInRequired,
            format!(
                "approving in the {tier} tier needs a sign-in at most {} minutes old, and \
                 yours is older; sign in again, then repeat it",
                limit.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// A fresh sign-in of the person already signed in: their session's sign-in time
/// moves to the provider's (one `session.reauthenticate` entry).
pub async fn reauthenticate(app: &App, viewer: Viewer, id: &Identity) -> Result<(), AppError> {
    let mut session = viewer.session;
    let at = id.authenticated_at.min(app.now());
    let issuer = id.issuer.clone();
    app.command(viewer.ctx, None, 200, move |tx, ctx| {
        Box::pin(async move {
            session.authenticated_at = at;
            tx.update_session(&session).await?;
            record(
                tx,
                ctx,
                "session.reauthenticate",
                &session.id,
                json!({"authenticated_at": at, "issuer": issuer}),
            )
            .await?;
            Ok(())
        })
    })
    .await
    .map(drop)
}

/// Whether `id` (from the provider) is the person `viewer` is signed in as.
pub async fn is_viewer(app: &App, viewer: &Viewer, id: &Identity) -> Result<bool, AppError> {
    let (issuer, subject) = (id.issuer.clone(), id.subject.clone());
    let user = app
        .query(move |tx| Box::pin(async move { Ok(tx.user_by_identity(&issuer, &subject).await?) }))
        .await?;
    Ok(user.is_some_and(|u| u.id == viewer.ctx.actor.id))
}
