//! Users and their API tokens.

use super::{new_id, record, AppError, Ctx};
use chrono::{DateTime, Utc};
use countersign_core::problem::ProblemCode;
use countersign_core::{Role, UserId};
use countersign_store::prelude::*;
use countersign_store::records::{TokenRecord, UserRecord};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;

/// The prefix of every API token secret, so scanners can find leaked ones.
pub const TOKEN_PREFIX: &str = "cst_";

/// The stored form of a token secret.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// `bytes` random bytes from the OS, hex-encoded: token, session and form secrets.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

fn new_secret() -> String {
    format!("{TOKEN_PREFIX}{}", random_hex(32))
}

pub struct NewUser {
    pub name: String,
    pub email: String,
    pub roles: BTreeSet<Role>,
}

fn validate(u: &NewUser) -> Result<(), AppError> {
    if u.name.trim().is_empty() || u.name.len() > 200 {
        return Err(AppError::invalid(
            ProblemCode::InvalidName,
            "name must be 1 to 200 characters",
        ));
    }
    let at = u.email.find('@');
    if u.email.len() > 254 || at.is_none_or(|i| i == 0 || i + 1 == u.email.len()) {
        return Err(AppError::invalid(
            ProblemCode::InvalidEmail,
            format!("{:?} is not an email address", u.email),
        ));
    }
    Ok(())
}

pub async fn create(tx: &mut dyn Tx, ctx: &Ctx, u: NewUser) -> Result<UserRecord, AppError> {
    ctx.require_any(&[Role::Admin])?;
    validate(&u)?;
    let user = UserRecord {
        id: UserId(new_id("usr")),
        name: u.name,
        email: u.email,
        roles: u.roles,
        created_at: ctx.now,
    };
    tx.insert_user(&user)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Duplicate { .. } => AppError::Duplicate {
                what: format!("a user with email {:?}", user.email),
            },
            other => other,
        })?;
    let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
    record(
        tx,
        ctx,
        "user.create",
        user.id.as_str(),
        json!({"email": user.email, "roles": roles}),
    )
    .await?;
    Ok(user)
}

/// Issues a token; the secret is returned once and only its hash is stored.
pub async fn create_token(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    user_id: &UserId,
    label: String,
) -> Result<(TokenRecord, String), AppError> {
    ctx.require_any(&[Role::Admin])?;
    get(tx, user_id).await?;
    if label.len() > 200 {
        return Err(AppError::invalid(
            ProblemCode::InvalidLabel,
            "label must be at most 200 characters",
        ));
    }
    let secret = new_secret();
    let token = TokenRecord {
        id: new_id("tok"),
        user_id: user_id.clone(),
        token_hash: hash_token(&secret),
        label,
        created_at: ctx.now,
    };
    tx.insert_token(&token).await?;
    record(
        tx,
        ctx,
        "token.create",
        user_id.as_str(),
        json!({"token_id": token.id, "label": token.label}),
    )
    .await?;
    Ok((token, secret))
}

pub async fn get(tx: &mut dyn Tx, id: &UserId) -> Result<UserRecord, AppError> {
    tx.get_user(id).await?.ok_or_else(|| AppError::NotFound {
        what: "user",
        id: id.to_string(),
    })
}

pub async fn list(tx: &mut dyn Tx, ctx: &Ctx) -> Result<Vec<UserRecord>, AppError> {
    ctx.require_any(&[Role::Admin])?;
    Ok(tx.list_users().await?)
}

/// Creates the first admin and its token when the database has no users. Returns
/// `None` when users exist already.
pub async fn bootstrap_admin(
    tx: &mut dyn Tx,
    now: DateTime<Utc>,
) -> Result<Option<(UserRecord, String)>, AppError> {
    if tx.count_users().await? > 0 {
        return Ok(None);
    }
    let admin = UserRecord {
        id: UserId(new_id("usr")),
        name: "admin".into(),
        email: "admin@localhost".into(),
        roles: [Role::Admin].into(),
        created_at: now,
    };
    tx.insert_user(&admin).await?;
    let secret = new_secret();
    let token = TokenRecord {
        id: new_id("tok"),
        user_id: admin.id.clone(),
        token_hash: hash_token(&secret),
        label: "bootstrap".into(),
        created_at: now,
    };
    tx.insert_token(&token).await?;
    tx.append(countersign_ledger::EntryDraft {
        at: now,
        actor: "system".into(),
        action: "user.bootstrap".into(),
        subject: admin.id.to_string(),
        payload: json!({"email": admin.email, "roles": ["admin"], "token_id": token.id}),
    })
    .await?;
    Ok(Some((admin, secret)))
}
