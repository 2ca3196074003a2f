//! Lineage (I6): datasets and training runs.

use super::{args, sql, Conn, SqlTx, R};
use crate::records::*;
use crate::rows::*;
use crate::time::to_text;

impl<C: Conn> SqlTx<C> {
    pub(super) async fn insert_dataset(&mut self, d: &DatasetRecord) -> R<()> {
        let s = sql!(
            "INSERT INTO datasets (name, version, digest, source, classification, permitted_uses, ",
            "registered_by, created_at, approved_by, approved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ",
            "ON CONFLICT DO NOTHING"
        );
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

    pub(super) async fn approve_dataset(&mut self, d: &DatasetRecord) -> R<()> {
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

    pub(super) async fn get_dataset(
        &mut self,
        name: &str,
        version: &str,
    ) -> R<Option<DatasetRecord>> {
        let s = sql!("SELECT * FROM datasets WHERE name = ? AND version = ?");
        self.one(s, args![name, version], dataset).await
    }

    pub(super) async fn list_datasets(&mut self) -> R<Vec<DatasetRecord>> {
        self.all(
            sql!("SELECT * FROM datasets ORDER BY created_at, {ord}"),
            args![],
            dataset,
        )
        .await
    }

    pub(super) async fn insert_training_run(&mut self, r: &TrainingRunRecord) -> R<()> {
        let s = sql!(
            "INSERT INTO training_runs (id, code_commit, datasets, parameters, trainer, artifact_digest, ",
            "registered_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        );
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

    pub(super) async fn get_training_run(&mut self, id: &str) -> R<Option<TrainingRunRecord>> {
        self.one(
            sql!("SELECT * FROM training_runs WHERE id = ?"),
            args![id],
            training_run,
        )
        .await
    }

    pub(super) async fn list_training_runs(&mut self) -> R<Vec<TrainingRunRecord>> {
        let s = sql!("SELECT * FROM training_runs ORDER BY created_at, {ord}");
        self.all(s, args![], training_run).await
    }
}
