//! Runtime decisions (the action log), approval requests and first openings of a
//! decision's context (issue 6).

use super::{args, sql, Arg, Conn, SqlTx, R};
use crate::records::*;
use crate::rows::*;
use crate::time::to_text;
use crate::tx::RuntimeTx;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use countersign_core::runtime::{ApprovalState, ReviewState};
use countersign_core::UserId;

/// The head of every action insert: one row, or many in group commit.
macro_rules! insert_actions {
    () => {
        "INSERT INTO actions (id, agent_id, system_id, task, decision, review_state, decided_at, body)"
    };
}

#[async_trait]
impl<C: Conn> RuntimeTx for SqlTx<C> {
    async fn insert_action(&mut self, a: &ActionRecord) -> R<()> {
        let s = sql!(
            insert_actions!(),
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        );
        let mut v = Vec::with_capacity(8);
        push_action(&mut v, a);
        self.insert(s, v, "action id").await
    }

    /// Hot path (the runtime committer): one multi-row INSERT per 500 actions.
    async fn insert_actions(&mut self, actions: &[&ActionRecord]) -> R<()> {
        let mut v = Vec::with_capacity(actions.len() * 8);
        for a in actions {
            push_action(&mut v, a);
        }
        self.insert_rows(insert_actions!(), 8, v, "action id").await
    }

    async fn update_action(&mut self, a: &ActionRecord) -> R<()> {
        let s = sql!("UPDATE actions SET review_state = ?, body = ? WHERE id = ?");
        let v = args![a.review_state.map(ReviewState::as_str), to_json(a), &a.id];
        self.exec(s, v, "update action").await.map(drop)
    }

    async fn get_action(&mut self, id: &str) -> R<Option<ActionRecord>> {
        let s = sql!("SELECT body FROM actions WHERE id = ?");
        self.one(s, args![id], document).await
    }

    async fn list_actions(&mut self, f: &ActionFilter) -> R<Vec<ActionRecord>> {
        // CAST so PostgreSQL knows the type of a parameter that may be NULL.
        let s = sql!("SELECT body FROM actions WHERE (CAST(?1 AS TEXT) IS NULL OR agent_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR system_id = ?2) AND (CAST(?3 AS TEXT) IS NULL OR task = ?3) AND (CAST(?4 AS TEXT) IS NULL OR review_state = ?4) ORDER BY decided_at DESC, {ord} DESC LIMIT ?5");
        let v = args![
            f.agent.as_ref().map(|a| a.as_str()),
            f.system.as_ref().map(|s| s.as_str()),
            f.task.as_deref(),
            f.review_state.map(ReviewState::as_str),
            i64::from(f.limit),
        ];
        self.all(s, v, document).await
    }

    async fn insert_approval(&mut self, a: &ApprovalRecord) -> R<()> {
        let s = sql!("INSERT INTO approvals (id, action_id, agent_id, assignee_id, state, created_at, expires_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let v = args![
            &a.id,
            &a.action_id,
            a.agent_id.as_str(),
            a.assignee.as_str(),
            a.state.as_str(),
            to_text(a.created_at),
            to_text(a.expires_at),
            to_json(a),
        ];
        self.insert(s, v, "approval id").await
    }

    async fn update_approval(&mut self, a: &ApprovalRecord) -> R<()> {
        let s = sql!("UPDATE approvals SET state = ?, body = ? WHERE id = ?");
        self.exec(
            s,
            args![a.state.as_str(), to_json(a), &a.id],
            "update approval",
        )
        .await
        .map(drop)
    }

    async fn get_approval(&mut self, id: &str) -> R<Option<ApprovalRecord>> {
        let s = sql!("SELECT body FROM approvals WHERE id = ?");
        self.one(s, args![id], document).await
    }

    async fn list_approvals(&mut self, f: &ApprovalFilter) -> R<Vec<ApprovalRecord>> {
        let s = sql!("SELECT body FROM approvals WHERE (CAST(?1 AS TEXT) IS NULL OR assignee_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR state = ?2) AND (CAST(?3 AS TEXT) IS NULL OR agent_id = ?3) ORDER BY created_at DESC, {ord} DESC LIMIT ?4");
        let v = args![
            f.assignee.as_ref().map(|a| a.as_str()),
            f.state.map(ApprovalState::as_str),
            f.agent.as_ref().map(|a| a.as_str()),
            i64::from(f.limit),
        ];
        self.all(s, v, document).await
    }

    async fn due_approvals(&mut self, now: DateTime<Utc>, limit: u32) -> R<Vec<ApprovalRecord>> {
        let s = sql!("SELECT body FROM approvals WHERE state = ? AND expires_at <= ? ORDER BY expires_at, {ord} LIMIT ?");
        let pending = ApprovalState::Pending.as_str();
        self.all(s, args![pending, to_text(now), i64::from(limit)], document)
            .await
    }

    async fn record_view(&mut self, v: &ContextViewRecord) -> R<bool> {
        let s = sql!("INSERT INTO context_views (kind, subject, user_id, first_opened_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &v.kind,
            &v.subject,
            v.user.as_str(),
            to_text(v.first_opened_at)
        ];
        Ok(self.exec(s, a, "context view").await? == 1)
    }

    async fn get_view(
        &mut self,
        kind: &str,
        subject: &str,
        user: &UserId,
    ) -> R<Option<DateTime<Utc>>> {
        let s = sql!("SELECT * FROM context_views WHERE kind = ? AND subject = ? AND user_id = ?");
        let v = self
            .one(s, args![kind, subject, user.as_str()], context_view)
            .await?;
        Ok(v.map(|v| v.first_opened_at))
    }

    async fn list_views(&mut self, kind: &str) -> R<Vec<ContextViewRecord>> {
        let s = sql!("SELECT * FROM context_views WHERE kind = ? ORDER BY first_opened_at");
        self.all(s, args![kind], context_view).await
    }
}

fn push_action<'a>(v: &mut Vec<Arg<'a>>, a: &'a ActionRecord) {
    v.extend([
        Arg::Str(&a.id),
        Arg::Str(a.agent_id.as_str()),
        Arg::Str(a.system_id.as_str()),
        Arg::Str(&a.task),
        Arg::Str(a.decision.as_str()),
        a.review_state.map(ReviewState::as_str).into(),
        Arg::String(to_text(a.decided_at)),
        Arg::String(to_json(a)),
    ]);
}
