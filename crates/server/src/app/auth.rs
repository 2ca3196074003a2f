//! Who is calling: a human presenting an API token, and the first admin of a new
//! installation. (Agents authenticate with client assertions in `agents`, and with
//! just-in-time credentials in `decide`.)

use super::unit::App;
use super::users::{bootstrap_admin, hash_token};
use super::{AppError, Ctx};
use countersign_store::records::UserRecord;

/// Creates the first admin and its token when the database has no user at all (a
/// new installation); `None` otherwise.
pub async fn bootstrap(app: &App) -> Result<Option<(UserRecord, String)>, AppError> {
    app.job(|tx, now| Box::pin(async move { bootstrap_admin(tx, now).await }))
        .await
}

/// Why a token does not authenticate a human.
#[derive(Debug)]
pub enum Unauthenticated {
    UnknownToken,
    /// The user holds no role; an admin must grant one.
    NoRole,
    Failed(AppError),
}

/// The human holding an API token, with the time and the profile. A user without
/// any role can do nothing and is refused.
pub async fn authenticate(app: &App, token: &str) -> Result<Ctx, Unauthenticated> {
    let hash = hash_token(token);
    let user = app
        .query(move |tx| Box::pin(async move { Ok(tx.user_by_token_hash(&hash).await?) }))
        .await
        .map_err(Unauthenticated::Failed)?
        .ok_or(Unauthenticated::UnknownToken)?;
    if user.roles.is_empty() {
        return Err(Unauthenticated::NoRole);
    }
    Ok(Ctx {
        actor: user,
        now: app.now(),
        profile: app.profile.clone(),
    })
}
