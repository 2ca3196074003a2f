//! Agents, grants, client assertions, credential signing keys and credentials (I8, I9).

use super::{args, sql, Conn, Sql, SqlTx, R};
use crate::records::*;
use crate::rows::*;
use crate::time::to_text;
use crate::tx::{AgentsTx, CredentialsTx};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use countersign_core::{AgentId, GrantId, ReleaseId};

/// The revocation statement for a filter, whose value is `?4`.
macro_rules! revoke {
    ($condition:literal) => {
        sql!(
            "UPDATE credentials SET revoked_at = ?1, revoked_by = ?2, revoke_reason = ?3 ",
            "WHERE revoked_at IS NULL AND ",
            $condition
        )
    };
}

#[async_trait]
impl<C: Conn> AgentsTx for SqlTx<C> {
    async fn insert_agent(&mut self, a: &AgentRecord) -> R<()> {
        let s = sql!("INSERT INTO agents (id, name, owner_id, use_case, environment, release_id, public_key, status, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let v = args![
            a.id.as_str(),
            &a.name,
            a.owner.as_str(),
            &a.use_case,
            &a.environment,
            a.release_id.as_str(),
            &a.public_key,
            a.status.as_str(),
            a.created_by.as_str(),
            to_text(a.created_at),
            to_text(a.updated_at),
        ];
        self.insert(s, v, "agent name in this environment or public key")
            .await
    }

    async fn get_agent(&mut self, id: &AgentId) -> R<Option<AgentRecord>> {
        let s = sql!("SELECT * FROM agents WHERE id = ?");
        self.one(s, args![id.as_str()], agent).await
    }

    async fn list_agents(&mut self) -> R<Vec<AgentRecord>> {
        let s = sql!("SELECT * FROM agents ORDER BY created_at, {ord}");
        self.all(s, args![], agent).await
    }

    async fn agents_by_release(&mut self, release: &ReleaseId) -> R<Vec<AgentRecord>> {
        let s = sql!("SELECT * FROM agents WHERE release_id = ? ORDER BY created_at, {ord}");
        self.all(s, args![release.as_str()], agent).await
    }

    async fn update_agent(&mut self, a: &AgentRecord) -> R<()> {
        let s = sql!("UPDATE agents SET status = ?, updated_at = ? WHERE id = ?");
        let v = args![a.status.as_str(), to_text(a.updated_at), a.id.as_str()];
        self.exec(s, v, "update agent").await.map(drop)
    }

    async fn insert_grant(&mut self, g: &GrantRecord) -> R<()> {
        let s = sql!("INSERT INTO grants (id, agent_id, system_id, terms, expires_at, requested_at, system_owner_approved_by, system_owner_approved_at, agent_owner_approved_by, agent_owner_approved_at, certified_by, certified_at, revoked_by, revoked_at, revoke_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let v = args![
            g.id.as_str(),
            g.agent_id.as_str(),
            g.terms.system.as_str(),
            to_json(&g.terms),
            to_text(g.terms.expires_at),
            to_text(g.requested_at),
            g.system_owner_approved_by.as_ref().map(|u| u.as_str()),
            g.system_owner_approved_at.map(to_text),
            g.agent_owner_approved_by.as_ref().map(|u| u.as_str()),
            g.agent_owner_approved_at.map(to_text),
            g.certified_by.as_ref().map(|u| u.as_str()),
            g.certified_at.map(to_text),
            &g.revoked_by,
            g.revoked_at.map(to_text),
            &g.revoke_reason,
        ];
        self.insert(s, v, "grant id").await
    }

    async fn get_grant(&mut self, id: &GrantId) -> R<Option<GrantRecord>> {
        let s = sql!("SELECT * FROM grants WHERE id = ?");
        self.one(s, args![id.as_str()], grant).await
    }

    async fn list_grants(&mut self, agent_id: Option<&AgentId>) -> R<Vec<GrantRecord>> {
        match agent_id {
            Some(a) => {
                let s =
                    sql!("SELECT * FROM grants WHERE agent_id = ? ORDER BY requested_at, {ord}");
                self.all(s, args![a.as_str()], grant).await
            }
            None => {
                let s = sql!("SELECT * FROM grants ORDER BY requested_at, {ord}");
                self.all(s, args![], grant).await
            }
        }
    }

    async fn update_grant(&mut self, g: &GrantRecord) -> R<()> {
        let s = sql!("UPDATE grants SET system_owner_approved_by = ?, system_owner_approved_at = ?, agent_owner_approved_by = ?, agent_owner_approved_at = ?, certified_by = ?, certified_at = ?, revoked_by = ?, revoked_at = ?, revoke_reason = ? WHERE id = ?");
        let v = args![
            g.system_owner_approved_by.as_ref().map(|u| u.as_str()),
            g.system_owner_approved_at.map(to_text),
            g.agent_owner_approved_by.as_ref().map(|u| u.as_str()),
            g.agent_owner_approved_at.map(to_text),
            g.certified_by.as_ref().map(|u| u.as_str()),
            g.certified_at.map(to_text),
            &g.revoked_by,
            g.revoked_at.map(to_text),
            &g.revoke_reason,
            g.id.as_str(),
        ];
        self.exec(s, v, "update grant").await.map(drop)
    }

    async fn use_assertion(
        &mut self,
        agent_id: &AgentId,
        jti: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> R<()> {
        let s = sql!("DELETE FROM assertion_jtis WHERE expires_at < ?");
        self.exec(s, args![to_text(now)], "forget assertions")
            .await?;
        let s = sql!("INSERT INTO assertion_jtis (agent_id, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING");
        let v = args![agent_id.as_str(), jti, to_text(expires_at)];
        self.insert(s, v, "client assertion jti").await
    }
}

#[async_trait]
impl<C: Conn> CredentialsTx for SqlTx<C> {
    async fn insert_credential_key(&mut self, k: &CredentialKeyRecord) -> R<()> {
        let s = sql!("INSERT INTO credential_keys (kid, public_key, secret_key, created_at, retired_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let v = args![
            &k.kid,
            &k.public_key,
            &k.secret_key,
            to_text(k.created_at),
            k.retired_at.map(to_text)
        ];
        self.insert(s, v, "credential key id").await
    }

    async fn list_credential_keys(&mut self) -> R<Vec<CredentialKeyRecord>> {
        let s = sql!("SELECT * FROM credential_keys ORDER BY created_at, {ord}");
        self.all(s, args![], credential_key).await
    }

    async fn update_credential_key(&mut self, k: &CredentialKeyRecord) -> R<()> {
        let s = sql!("UPDATE credential_keys SET retired_at = ? WHERE kid = ?");
        let v = args![k.retired_at.map(to_text), &k.kid];
        self.exec(s, v, "update credential key").await.map(drop)
    }

    async fn insert_credential(&mut self, c: &CredentialRecord) -> R<()> {
        let s = sql!("INSERT INTO credentials (jti, kid, agent_id, subject, owner_id, task, scopes, grant_ids, release_id, parent_jti, depth, issued_at, expires_at, revoked_at, revoked_by, revoke_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let v = args![
            &c.jti,
            &c.kid,
            c.agent_id.as_str(),
            c.subject.as_str(),
            c.owner.as_str(),
            &c.task,
            to_json(&c.scopes),
            to_json(&c.grant_ids),
            c.release_id.as_str(),
            &c.parent_jti,
            i64::from(c.depth),
            to_text(c.issued_at),
            to_text(c.expires_at),
            c.revoked_at.map(to_text),
            &c.revoked_by,
            &c.revoke_reason,
        ];
        self.insert(s, v, "credential jti").await?;
        for g in &c.grant_ids {
            let s = sql!("INSERT INTO credential_grants (jti, grant_id) VALUES (?, ?) ON CONFLICT DO NOTHING");
            self.insert(s, args![&c.jti, g.as_str()], "credential grant")
                .await?;
        }
        Ok(())
    }

    async fn get_credential(&mut self, jti: &str) -> R<Option<CredentialRecord>> {
        let s = sql!("SELECT * FROM credentials WHERE jti = ?");
        self.one(s, args![jti], credential).await
    }

    async fn revoke_credentials(&mut self, filter: &RevokeFilter, how: &Revocation) -> R<u64> {
        let (s, id): (&'static Sql, &str) = match filter {
            RevokeFilter::Jti(j) => (revoke!("jti = ?4"), j.as_str()),
            RevokeFilter::Agent(a) => (revoke!("(agent_id = ?4 OR subject = ?4)"), a.as_str()),
            RevokeFilter::Grant(g) => (
                revoke!("jti IN (SELECT jti FROM credential_grants WHERE grant_id = ?4)"),
                g.as_str(),
            ),
            RevokeFilter::Release(r) => (revoke!("release_id = ?4"), r.as_str()),
        };
        let v = args![to_text(how.at), &how.by, &how.reason, id];
        self.exec(s, v, "revoke credentials").await
    }
}
