//! Users, API tokens, console sessions, systems and idempotency records.

use super::{args, sql, Conn, SqlTx, R};
use crate::records::*;
use crate::rows::*;
use crate::time::to_text;
use crate::tx::{IdempotencyTx, SystemsTx, UsersTx};
use async_trait::async_trait;
use countersign_core::{SystemId, UserId};

#[async_trait]
impl<C: Conn> UsersTx for SqlTx<C> {
    async fn insert_user(&mut self, u: &UserRecord) -> R<()> {
        let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
        let s = sql!("INSERT INTO users (id, name, email, roles, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            u.id.as_str(),
            &u.name,
            &u.email,
            to_json(&roles),
            to_text(u.created_at)
        ];
        self.insert(s, a, "user email").await
    }

    async fn get_user(&mut self, id: &UserId) -> R<Option<UserRecord>> {
        let s = sql!("SELECT * FROM users WHERE id = ?");
        self.one(s, args![id.as_str()], user).await
    }

    async fn list_users(&mut self) -> R<Vec<UserRecord>> {
        let s = sql!("SELECT * FROM users ORDER BY created_at, {ord}");
        self.all(s, args![], user).await
    }

    async fn count_users(&mut self) -> R<u64> {
        let s = sql!("SELECT COUNT(*) AS n FROM users");
        Ok(self.one(s, args![], count).await?.unwrap_or(0))
    }

    async fn insert_token(&mut self, k: &TokenRecord) -> R<()> {
        let s = sql!("INSERT INTO api_tokens (id, user_id, token_hash, label, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &k.id,
            k.user_id.as_str(),
            &k.token_hash,
            &k.label,
            to_text(k.created_at)
        ];
        self.insert(s, a, "token").await
    }

    async fn user_by_token_hash(&mut self, hash: &str) -> R<Option<UserRecord>> {
        let s = sql!("SELECT users.* FROM users JOIN api_tokens ON api_tokens.user_id = users.id WHERE api_tokens.token_hash = ?");
        self.one(s, args![hash], user).await
    }

    async fn user_by_email(&mut self, email: &str) -> R<Option<UserRecord>> {
        let s = sql!("SELECT * FROM users WHERE email = ?");
        self.one(s, args![email], user).await
    }

    async fn update_user_roles(&mut self, u: &UserRecord) -> R<()> {
        let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
        let s = sql!("UPDATE users SET roles = ? WHERE id = ?");
        let a = args![to_json(&roles), u.id.as_str()];
        self.exec(s, a, "update user roles").await.map(drop)
    }

    async fn insert_identity(&mut self, r: &IdentityRecord) -> R<()> {
        let s = sql!("INSERT INTO user_identities (issuer, subject, user_id, email, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &r.issuer,
            &r.subject,
            r.user_id.as_str(),
            &r.email,
            to_text(r.created_at)
        ];
        self.insert(s, a, "identity").await
    }

    async fn user_by_identity(&mut self, issuer: &str, subject: &str) -> R<Option<UserRecord>> {
        let s = sql!("SELECT users.* FROM users JOIN user_identities ON user_identities.user_id = users.id WHERE user_identities.issuer = ? AND user_identities.subject = ?");
        self.one(s, args![issuer, subject], user).await
    }

    async fn insert_session(&mut self, r: &SessionRecord) -> R<()> {
        let s = sql!("INSERT INTO console_sessions (id, secret_hash, user_id, method, created_at, authenticated_at, expires_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &r.id,
            &r.secret_hash,
            r.user_id.as_str(),
            r.method.as_str(),
            to_text(r.created_at),
            to_text(r.authenticated_at),
            to_text(r.expires_at),
            r.ended_at.map(to_text)
        ];
        self.insert(s, a, "session").await
    }

    async fn session_by_secret_hash(&mut self, hash: &str) -> R<Option<SessionRecord>> {
        let s = sql!("SELECT * FROM console_sessions WHERE secret_hash = ?");
        self.one(s, args![hash], session).await
    }

    async fn update_session(&mut self, r: &SessionRecord) -> R<()> {
        let s = sql!("UPDATE console_sessions SET authenticated_at = ?, expires_at = ?, ended_at = ? WHERE id = ?");
        let a = args![
            to_text(r.authenticated_at),
            to_text(r.expires_at),
            r.ended_at.map(to_text),
            &r.id
        ];
        self.exec(s, a, "update session").await.map(drop)
    }
}

#[async_trait]
impl<C: Conn> SystemsTx for SqlTx<C> {
    async fn insert_system(&mut self, s: &SystemRecord) -> R<()> {
        let q = sql!("INSERT INTO systems (id, name, description, owner_id, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            s.id.as_str(),
            &s.name,
            &s.description,
            s.owner.as_str(),
            to_text(s.created_at)
        ];
        self.insert(q, a, "system name").await
    }

    async fn get_system(&mut self, id: &SystemId) -> R<Option<SystemRecord>> {
        let s = sql!("SELECT * FROM systems WHERE id = ?");
        self.one(s, args![id.as_str()], system).await
    }

    async fn list_systems(&mut self) -> R<Vec<SystemRecord>> {
        let s = sql!("SELECT * FROM systems ORDER BY created_at, {ord}");
        self.all(s, args![], system).await
    }
}

#[async_trait]
impl<C: Conn> IdempotencyTx for SqlTx<C> {
    async fn get_idempotency(&mut self, actor: &UserId, key: &str) -> R<Option<IdempotencyRecord>> {
        let s = sql!("SELECT * FROM idempotency WHERE actor = ? AND key = ?");
        self.one(s, args![actor.as_str(), key], idempotency).await
    }

    async fn put_idempotency(&mut self, r: &IdempotencyRecord) -> R<()> {
        let s = sql!("INSERT INTO idempotency (actor, key, request_hash, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            r.actor.as_str(),
            &r.key,
            &r.request_hash,
            i64::from(r.status),
            &r.body,
            to_text(r.created_at)
        ];
        self.insert(s, a, "idempotency key").await
    }
}
