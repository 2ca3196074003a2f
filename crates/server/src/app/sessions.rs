//! Console sessions: signing in (with an API token today; OpenID Connect to come),
//! resolving the browser's session cookie to the person behind it, and signing out.
//! A session lives in the database, so it works across replicas and ending it ends
//! it everywhere; the browser holds only a random secret, the store only its sha256.
//! Signing in and out are state changes, each with its one ledger entry (I11).

use super::auth::{authenticate, Unauthenticated};
use super::unit::App;
use super::users::{hash_token, random_hex};
use super::{new_id, record, AppError, Ctx};
use countersign_core::problem::ProblemCode;
use countersign_core::session::{session_state, SessionState, SignInMethod, SESSION_LIFETIME};
use countersign_store::records::SessionRecord;
use serde_json::json;

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
    let done = app
        .command_then(ctx, None, 201, move |tx, ctx| {
            Box::pin(async move {
                let session = SessionRecord {
                    id: new_id("ses"),
                    secret_hash: hash,
                    user_id: ctx.actor.id.clone(),
                    method: SignInMethod::Token,
                    created_at: ctx.now,
                    authenticated_at: ctx.now,
                    expires_at: ctx.now + SESSION_LIFETIME,
                    ended_at: None,
                };
                tx.insert_session(&session).await?;
                record(
                    tx,
                    ctx,
                    "session.start",
                    &session.id,
                    json!({"method": session.method, "expires_at": session.expires_at}),
                )
                .await?;
                Ok(((), session))
            })
        })
        .await?;
    let session = done.value.ok_or_else(|| AppError::Unavailable {
        detail: "the session was not started".into(),
    })?;
    Ok((session, secret))
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
