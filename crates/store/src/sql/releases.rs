//! Releases and revisions, and what binds to a revision: reviews, evidence (and its
//! blobs), acceptances, decisions, deployments and deadline escalations; and the
//! lineage (I6) the gate walks: datasets and training runs.

use super::{args, sql, Conn, SqlTx, R};
use crate::records::*;
use crate::rows::*;
use crate::time::to_text;
use crate::tx::{DeadlinesTx, LineageTx, ReleasesTx};
use async_trait::async_trait;
use countersign_core::release::ReleaseStatus;
use countersign_core::{Digest, ReleaseId};

#[async_trait]
impl<C: Conn> ReleasesTx for SqlTx<C> {
    async fn insert_release(&mut self, r: &ReleaseRecord) -> R<()> {
        let s = sql!("INSERT INTO releases (id, title, kind, system_id, decision_owner, created_by, attributes, status, current_revision, environment, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            r.id.as_str(),
            &r.title,
            r.kind.as_str(),
            r.system_id.as_str(),
            r.decision_owner.as_str(),
            r.created_by.as_str(),
            to_json(&r.attributes),
            r.status.as_str(),
            i64::from(r.current_revision),
            &r.environment,
            to_text(r.created_at),
            to_text(r.updated_at),
        ];
        self.insert(s, a, "release id").await
    }

    async fn update_release(&mut self, r: &ReleaseRecord) -> R<()> {
        let s = sql!("UPDATE releases SET status = ?, current_revision = ?, environment = ?, updated_at = ?, decision_owner = ?, attributes = ? WHERE id = ?");
        let a = args![
            r.status.as_str(),
            i64::from(r.current_revision),
            &r.environment,
            to_text(r.updated_at),
            r.decision_owner.as_str(),
            to_json(&r.attributes),
            r.id.as_str(),
        ];
        self.exec(s, a, "update release").await.map(drop)
    }

    async fn get_release(&mut self, id: &ReleaseId) -> R<Option<ReleaseRecord>> {
        let s = sql!("SELECT * FROM releases WHERE id = ?");
        self.one(s, args![id.as_str()], release).await
    }

    async fn list_releases(&mut self) -> R<Vec<ReleaseRecord>> {
        let s = sql!("SELECT * FROM releases ORDER BY created_at DESC, {ord} DESC");
        self.all(s, args![], release).await
    }

    async fn in_review(&mut self) -> R<Vec<InReviewRecord>> {
        use std::collections::BTreeMap;
        let status = ReleaseStatus::InReview.as_str();
        let s = sql!("SELECT * FROM releases WHERE status = ? ORDER BY created_at, id");
        let releases = self.all(s, args![status], release).await?;
        let s = sql!("SELECT v.* FROM revisions v JOIN releases r ON r.id = v.release_id WHERE r.status = ? ORDER BY v.release_id, v.number");
        let mut revisions: BTreeMap<ReleaseId, Vec<RevisionRecord>> = BTreeMap::new();
        for v in self.all(s, args![status], revision).await? {
            revisions.entry(v.release_id.clone()).or_default().push(v);
        }
        let s = sql!("SELECT w.* FROM reviews w JOIN releases r ON r.id = w.release_id AND r.current_revision = w.revision WHERE r.status = ? ORDER BY w.created_at, w.{ord}");
        let mut reviews: BTreeMap<ReleaseId, Vec<ReviewRecord>> = BTreeMap::new();
        for w in self.all(s, args![status], review).await? {
            reviews.entry(w.release_id.clone()).or_default().push(w);
        }
        Ok(releases
            .into_iter()
            .map(|r| InReviewRecord {
                revisions: revisions.remove(&r.id).unwrap_or_default(),
                reviews: reviews.remove(&r.id).unwrap_or_default(),
                release: r,
            })
            .collect())
    }

    async fn insert_revision(&mut self, r: &RevisionRecord) -> R<()> {
        let s = sql!("INSERT INTO revisions (release_id, number, bundle, bundle_digest, artifact_digest, tier, matched_rules, profile_digest, created_by, created_at, submitted_by, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            r.release_id.as_str(),
            i64::from(r.number),
            to_json(&r.bundle),
            r.bundle_digest.as_str(),
            r.bundle.artifact_digest.as_str(),
            &r.tier,
            to_json(&r.matched_rules),
            r.profile_digest.as_str(),
            r.created_by.as_str(),
            to_text(r.created_at),
            r.submitted_by.as_ref().map(|u| u.as_str()),
            r.submitted_at.map(to_text),
        ];
        self.insert(s, a, "revision number").await
    }

    async fn update_revision(&mut self, r: &RevisionRecord) -> R<()> {
        let s = sql!("UPDATE revisions SET submitted_by = ?, submitted_at = ? WHERE release_id = ? AND number = ?");
        let a = args![
            r.submitted_by.as_ref().map(|u| u.as_str()),
            r.submitted_at.map(to_text),
            r.release_id.as_str(),
            i64::from(r.number),
        ];
        self.exec(s, a, "update revision").await.map(drop)
    }

    async fn get_revision(
        &mut self,
        release_id: &ReleaseId,
        number: u32,
    ) -> R<Option<RevisionRecord>> {
        let s = sql!("SELECT * FROM revisions WHERE release_id = ? AND number = ?");
        self.one(s, args![release_id.as_str(), i64::from(number)], revision)
            .await
    }

    async fn list_revisions(&mut self, release_id: &ReleaseId) -> R<Vec<RevisionRecord>> {
        let s = sql!("SELECT * FROM revisions WHERE release_id = ? ORDER BY number");
        self.all(s, args![release_id.as_str()], revision).await
    }

    async fn revisions_by_artifact(
        &mut self,
        artifact: &Digest,
    ) -> R<Vec<(ReleaseRecord, RevisionRecord)>> {
        let s = sql!("SELECT * FROM revisions WHERE artifact_digest = ? ORDER BY created_at, release_id, number");
        let revs = self.all(s, args![artifact.as_str()], revision).await?;
        let mut out = Vec::with_capacity(revs.len());
        for rev in revs {
            if let Some(rel) = self.get_release(&rev.release_id).await? {
                out.push((rel, rev));
            }
        }
        Ok(out)
    }

    async fn insert_review(&mut self, r: &ReviewRecord) -> R<()> {
        let s = sql!("INSERT INTO reviews (id, release_id, revision, role, reviewer, verdict, answers, conditions, comment, bundle_digest, created_at, friction) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &r.id,
            r.release_id.as_str(),
            i64::from(r.revision),
            r.role.as_str(),
            r.reviewer.as_str(),
            r.verdict.as_str(),
            to_json(&r.answers),
            &r.conditions,
            &r.comment,
            r.bundle_digest.as_str(),
            to_text(r.created_at),
            to_json(&r.friction),
        ];
        self.insert(s, a, "review for this role and revision").await
    }

    async fn list_reviews(&mut self, release_id: &ReleaseId) -> R<Vec<ReviewRecord>> {
        let s =
            sql!("SELECT * FROM reviews WHERE release_id = ? ORDER BY revision, created_at, {ord}");
        self.all(s, args![release_id.as_str()], review).await
    }

    async fn list_all_reviews(&mut self) -> R<Vec<ReviewRecord>> {
        let s = sql!("SELECT * FROM reviews ORDER BY created_at, {ord}");
        self.all(s, args![], review).await
    }

    async fn put_blob(&mut self, d: &Digest, content: &[u8]) -> R<()> {
        let s = sql!("INSERT INTO blobs (digest, size, content) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING");
        let size = i64::try_from(content.len()).unwrap_or(i64::MAX);
        self.exec(s, args![d.as_str(), size, content], "put blob")
            .await
            .map(drop)
    }

    async fn get_blob(&mut self, d: &Digest) -> R<Option<Vec<u8>>> {
        let s = sql!("SELECT content FROM blobs WHERE digest = ?");
        self.one(s, args![d.as_str()], |r| r.bytes("content")).await
    }

    async fn insert_evidence(&mut self, e: &EvidenceRecord) -> R<()> {
        let s = sql!("INSERT INTO evidence (id, release_id, revision, kind, name, media_type, digest, size, attached_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &e.id,
            e.release_id.as_str(),
            i64::from(e.revision),
            &e.kind,
            &e.name,
            &e.media_type,
            e.digest.as_str(),
            i64_of(e.size),
            e.attached_by.as_str(),
            to_text(e.created_at),
        ];
        self.insert(s, a, "evidence id").await
    }

    async fn list_evidence(&mut self, release_id: &ReleaseId) -> R<Vec<EvidenceRecord>> {
        let s = sql!(
            "SELECT * FROM evidence WHERE release_id = ? ORDER BY revision, created_at, {ord}"
        );
        self.all(s, args![release_id.as_str()], evidence).await
    }

    async fn insert_acceptance(&mut self, a: &AcceptanceRecord) -> R<()> {
        let s = sql!("INSERT INTO acceptances (id, release_id, revision, gap, justification, expires_at, accepted_by, bundle_digest, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let v = args![
            &a.id,
            a.release_id.as_str(),
            i64::from(a.revision),
            a.gap.to_string(),
            &a.justification,
            to_text(a.expires_at),
            a.accepted_by.as_str(),
            a.bundle_digest.as_str(),
            to_text(a.created_at),
        ];
        self.insert(s, v, "acceptance id").await
    }

    async fn list_acceptances(&mut self, release_id: &ReleaseId) -> R<Vec<AcceptanceRecord>> {
        let s = sql!(
            "SELECT * FROM acceptances WHERE release_id = ? ORDER BY revision, created_at, {ord}"
        );
        self.all(s, args![release_id.as_str()], acceptance).await
    }

    async fn insert_decision(&mut self, d: &DecisionRecord) -> R<()> {
        let s = sql!("INSERT INTO decisions (id, release_id, revision, decision, environment, comment, decided_by, bundle_digest, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &d.id,
            d.release_id.as_str(),
            i64::from(d.revision),
            d.decision.as_str(),
            &d.environment,
            &d.comment,
            d.decided_by.as_str(),
            d.bundle_digest.as_str(),
            to_text(d.created_at),
        ];
        self.insert(s, a, "decision for this revision").await
    }

    async fn update_decision(&mut self, d: &DecisionRecord) -> R<()> {
        let s = sql!("UPDATE decisions SET decision = ?, environment = ?, comment = ?, decided_by = ?, bundle_digest = ?, created_at = ? WHERE id = ?");
        let a = args![
            d.decision.as_str(),
            &d.environment,
            &d.comment,
            d.decided_by.as_str(),
            d.bundle_digest.as_str(),
            to_text(d.created_at),
            &d.id,
        ];
        self.exec(s, a, "update decision").await.map(drop)
    }

    async fn list_decisions(&mut self, release_id: &ReleaseId) -> R<Vec<DecisionRecord>> {
        let s = sql!(
            "SELECT * FROM decisions WHERE release_id = ? ORDER BY revision, created_at, {ord}"
        );
        self.all(s, args![release_id.as_str()], decision).await
    }

    async fn insert_deployment(&mut self, d: &DeploymentRecord) -> R<()> {
        let s = sql!("INSERT INTO deployments (id, release_id, revision, action, environment, reason, actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &d.id,
            d.release_id.as_str(),
            i64::from(d.revision),
            d.action.as_str(),
            &d.environment,
            &d.reason,
            d.actor.as_str(),
            to_text(d.created_at),
        ];
        self.insert(s, a, "deployment id").await
    }

    async fn list_deployments(&mut self, release_id: &ReleaseId) -> R<Vec<DeploymentRecord>> {
        let s = sql!("SELECT * FROM deployments WHERE release_id = ? ORDER BY created_at, {ord}");
        self.all(s, args![release_id.as_str()], deployment).await
    }
}

#[async_trait]
impl<C: Conn> DeadlinesTx for SqlTx<C> {
    /// A second escalation for the same release, revision and role is a conflict (I5).
    async fn insert_escalation(&mut self, e: &EscalationRecord) -> R<()> {
        let s = sql!("INSERT INTO escalations (id, release_id, revision, role, due_at, escalated_to, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &e.id,
            e.release_id.as_str(),
            i64::from(e.revision),
            e.role.as_str(),
            to_text(e.due_at),
            e.escalated_to.as_str(),
            to_text(e.created_at),
        ];
        self.insert(s, a, "escalation of this release, revision and role")
            .await
    }

    async fn list_escalations(&mut self, release: &ReleaseId) -> R<Vec<EscalationRecord>> {
        let s = sql!("SELECT * FROM escalations WHERE release_id = ? ORDER BY created_at, {ord}");
        self.all(s, args![release.as_str()], escalation).await
    }

    // Lineage (I6): datasets and training runs.
}

#[async_trait]
impl<C: Conn> LineageTx for SqlTx<C> {
    async fn insert_dataset(&mut self, d: &DatasetRecord) -> R<()> {
        let s = sql!("INSERT INTO datasets (name, version, digest, source, classification, permitted_uses, registered_by, created_at, approved_by, approved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &d.name,
            &d.version,
            d.digest.as_str(),
            &d.source,
            &d.classification,
            to_json(&d.permitted_uses),
            d.registered_by.as_str(),
            to_text(d.created_at),
            d.approved_by.as_ref().map(|u| u.as_str()),
            d.approved_at.map(to_text),
        ];
        self.insert(s, a, "dataset name and version").await
    }

    async fn approve_dataset(&mut self, d: &DatasetRecord) -> R<()> {
        let s = sql!(
            "UPDATE datasets SET approved_by = ?, approved_at = ? WHERE name = ? AND version = ?"
        );
        let a = args![
            d.approved_by.as_ref().map(|u| u.as_str()),
            d.approved_at.map(to_text),
            &d.name,
            &d.version,
        ];
        self.exec(s, a, "approve dataset").await.map(drop)
    }

    async fn get_dataset(&mut self, name: &str, version: &str) -> R<Option<DatasetRecord>> {
        let s = sql!("SELECT * FROM datasets WHERE name = ? AND version = ?");
        self.one(s, args![name, version], dataset).await
    }

    async fn list_datasets(&mut self) -> R<Vec<DatasetRecord>> {
        let s = sql!("SELECT * FROM datasets ORDER BY created_at, {ord}");
        self.all(s, args![], dataset).await
    }

    async fn insert_training_run(&mut self, r: &TrainingRunRecord) -> R<()> {
        let s = sql!("INSERT INTO training_runs (id, code_commit, datasets, parameters, trainer, artifact_digest, registered_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
        let a = args![
            &r.id,
            &r.code_commit,
            to_json(&r.datasets),
            to_json(&r.parameters),
            r.trainer.as_str(),
            r.artifact_digest.as_str(),
            r.registered_by.as_str(),
            to_text(r.created_at),
        ];
        self.insert(s, a, "training run id").await
    }

    async fn get_training_run(&mut self, id: &str) -> R<Option<TrainingRunRecord>> {
        let s = sql!("SELECT * FROM training_runs WHERE id = ?");
        self.one(s, args![id], training_run).await
    }

    async fn list_training_runs(&mut self) -> R<Vec<TrainingRunRecord>> {
        let s = sql!("SELECT * FROM training_runs ORDER BY created_at, {ord}");
        self.all(s, args![], training_run).await
    }
}
