//! Lineage (I6): datasets (registered, then approved by data governance) and training
//! runs, and the facts the gate walks for a model or retrain release.

use super::{record, users, AppError, Ctx};
use countersign_core::canonical::Digest;
use countersign_core::eval::{EvalGate, ReportFact};
use countersign_core::gap::Finding;
use countersign_core::lineage::{self, DatasetFact, LineageInput, RunFact};
use countersign_core::problem::ProblemCode;
use countersign_core::release::Bundle;
use countersign_core::release::{ReleaseKind, ReleaseStatus};
use countersign_core::retrain::{self, Baseline, RetrainInput};
use countersign_core::ReleaseId;
use countersign_core::{Role, UserId};
use countersign_store::prelude::*;
use countersign_store::records::{DatasetRecord, ReleaseRecord, RevisionRecord, TrainingRunRecord};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// Roles that may register datasets.
pub const DATASET_ROLES: &[Role] = &[Role::DataGovernance, Role::Mlops];
/// Roles that may approve datasets.
pub const APPROVE_ROLES: &[Role] = &[Role::DataGovernance];
/// Roles that may register training runs.
pub const RUN_ROLES: &[Role] = &[Role::Mlops];

fn check_token(field: &'static str, v: &str, max: usize) -> Result<(), AppError> {
    let ok = !v.is_empty()
        && v.len() <= max
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'));
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            ProblemCode::InvalidLineage,
            format!("{field} must be 1 to {max} letters, digits, - _ . : or /"),
        ))
    }
}

/// Splits `name@version`.
pub fn parse_key(key: &str) -> Result<(&str, &str), AppError> {
    key.rsplit_once('@')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        .ok_or_else(|| AppError::NotFound {
            what: "dataset",
            id: key.to_owned(),
        })
}

pub struct NewDataset {
    pub name: String,
    pub version: String,
    pub digest: Digest,
    pub source: String,
    pub classification: String,
    pub permitted_uses: BTreeSet<String>,
}

pub async fn register_dataset(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    d: NewDataset,
) -> Result<DatasetRecord, AppError> {
    ctx.require_any(DATASET_ROLES)?;
    check_token("name", &d.name, 100)?;
    check_token("version", &d.version, 100)?;
    check_token("classification", &d.classification, 64)?;
    if d.source.trim().is_empty() || d.source.len() > 1000 {
        return Err(AppError::invalid(
            ProblemCode::InvalidLineage,
            "source must be 1 to 1000 characters",
        ));
    }
    if d.permitted_uses.is_empty() {
        return Err(AppError::invalid(
            ProblemCode::InvalidLineage,
            "permitted_uses needs at least one use",
        ));
    }
    for u in &d.permitted_uses {
        check_token("permitted_uses", u, 100)?;
    }
    let rec = DatasetRecord {
        name: d.name,
        version: d.version,
        digest: d.digest,
        source: d.source,
        classification: d.classification,
        permitted_uses: d.permitted_uses,
        registered_by: ctx.actor.id.clone(),
        created_at: ctx.now,
        approved_by: None,
        approved_at: None,
    };
    tx.insert_dataset(&rec)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Duplicate { .. } => AppError::Duplicate {
                what: format!("dataset {}", rec.key()),
            },
            other => other,
        })?;
    record(
        tx,
        ctx,
        "dataset.register",
        &rec.key(),
        json!({
            "digest": rec.digest, "source": rec.source, "classification": rec.classification,
            "permitted_uses": rec.permitted_uses,
        }),
    )
    .await?;
    Ok(rec)
}

/// Every dataset version. Any role.
pub async fn list_datasets(tx: &mut dyn Tx) -> Result<Vec<DatasetRecord>, AppError> {
    Ok(tx.list_datasets().await?)
}

pub async fn get_dataset(tx: &mut dyn Tx, key: &str) -> Result<DatasetRecord, AppError> {
    let (name, version) = parse_key(key)?;
    tx.get_dataset(name, version)
        .await?
        .ok_or_else(|| AppError::NotFound {
            what: "dataset",
            id: key.to_owned(),
        })
}

/// Data governance approves a registered dataset version; whoever registered it cannot.
pub async fn approve_dataset(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    key: &str,
    comment: String,
) -> Result<DatasetRecord, AppError> {
    ctx.require_any(APPROVE_ROLES)?;
    let mut d = get_dataset(tx, key).await?;
    if d.approved_by.is_some() {
        return Err(AppError::Duplicate {
            what: format!("an approval of dataset {key}"),
        });
    }
    if d.registered_by == ctx.actor.id {
        return Err(AppError::invalid(
            ProblemCode::SelfApproval,
            "whoever registered a dataset cannot approve it",
        ));
    }
    d.approved_by = Some(ctx.actor.id.clone());
    d.approved_at = Some(ctx.now);
    tx.approve_dataset(&d).await?;
    record(
        tx,
        ctx,
        "dataset.approve",
        key,
        json!({
            "digest": d.digest, "permitted_uses": d.permitted_uses,
            "classification": d.classification, "comment": comment,
        }),
    )
    .await?;
    Ok(d)
}

pub struct NewRun {
    pub id: String,
    pub code_commit: String,
    pub datasets: BTreeSet<String>,
    pub parameters: BTreeMap<String, serde_json::Value>,
    pub trainer: UserId,
    pub artifact_digest: Digest,
}

pub async fn register_run(
    tx: &mut dyn Tx,
    ctx: &Ctx,
    r: NewRun,
) -> Result<TrainingRunRecord, AppError> {
    ctx.require_any(RUN_ROLES)?;
    check_token("id", &r.id, 200)?;
    check_token("code_commit", &r.code_commit, 100)?;
    if r.datasets.is_empty() {
        return Err(AppError::invalid(
            ProblemCode::InvalidLineage,
            "a training run needs at least one dataset",
        ));
    }
    for key in &r.datasets {
        get_dataset(tx, key).await.map_err(|_| {
            AppError::invalid(
                ProblemCode::UnknownDataset,
                format!("dataset {key:?} is not registered (name@version)"),
            )
        })?;
    }
    users::get(tx, &r.trainer).await.map_err(|_| {
        AppError::invalid(
            ProblemCode::UnknownTrainer,
            format!("trainer {:?} is not a user", r.trainer.as_str()),
        )
    })?;
    let rec = TrainingRunRecord {
        id: r.id,
        code_commit: r.code_commit,
        datasets: r.datasets,
        parameters: r.parameters,
        trainer: r.trainer,
        artifact_digest: r.artifact_digest,
        registered_by: ctx.actor.id.clone(),
        created_at: ctx.now,
    };
    tx.insert_training_run(&rec)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Duplicate { .. } => AppError::Duplicate {
                what: format!("training run {}", rec.id),
            },
            other => other,
        })?;
    record(
        tx,
        ctx,
        "run.register",
        &rec.id,
        json!({
            "code_commit": rec.code_commit, "datasets": rec.datasets, "parameters": rec.parameters,
            "trainer": rec.trainer, "artifact_digest": rec.artifact_digest,
        }),
    )
    .await?;
    Ok(rec)
}

/// Every training run. Any role.
pub async fn list_runs(tx: &mut dyn Tx) -> Result<Vec<TrainingRunRecord>, AppError> {
    Ok(tx.list_training_runs().await?)
}

pub async fn get_run(tx: &mut dyn Tx, id: &str) -> Result<TrainingRunRecord, AppError> {
    tx.get_training_run(id)
        .await?
        .ok_or_else(|| AppError::NotFound {
            what: "training run",
            id: id.to_owned(),
        })
}

/// The registered run a bundle names, if any.
pub async fn run_of(
    tx: &mut dyn Tx,
    bundle: &Bundle,
) -> Result<Option<TrainingRunRecord>, AppError> {
    match &bundle.training_run_id {
        Some(id) => Ok(tx.get_training_run(id).await?),
        None => Ok(None),
    }
}

/// The trainer segregation of duties (I4) applies to: the registered run's trainer
/// when the bundle names one, else the trainer the bundle declares.
pub async fn trainer_of(tx: &mut dyn Tx, bundle: &Bundle) -> Result<Option<UserId>, AppError> {
    Ok(run_of(tx, bundle)
        .await?
        .map(|r| r.trainer)
        .or_else(|| bundle.trainer.clone()))
}

/// Refuses a bundle whose declared trainer contradicts its registered run.
pub async fn check_bundle_trainer(tx: &mut dyn Tx, bundle: &Bundle) -> Result<(), AppError> {
    if let (Some(run), Some(declared)) = (run_of(tx, bundle).await?, &bundle.trainer) {
        if run.trainer != *declared {
            return Err(AppError::invalid(
                ProblemCode::TrainerMismatch,
                format!(
                    "the bundle names trainer {declared} but run {} was trained by {}",
                    run.id, run.trainer
                ),
            ));
        }
    }
    Ok(())
}

/// Lineage findings (I6) for one revision.
pub async fn findings(
    tx: &mut dyn Tx,
    release: &ReleaseRecord,
    revision: &RevisionRecord,
    evidence_kinds: &BTreeSet<String>,
) -> Result<Vec<Finding>, AppError> {
    if !lineage::applies(release.kind) {
        return Ok(Vec::new());
    }
    let run = run_of(tx, &revision.bundle).await?;
    let mut datasets = Vec::new();
    if let Some(r) = &run {
        for key in &r.datasets {
            let Ok((name, version)) = parse_key(key) else {
                continue;
            };
            if let Some(d) = tx.get_dataset(name, version).await? {
                datasets.push(DatasetFact {
                    key: d.key(),
                    approved: d.approved_by.is_some(),
                    classification: d.classification,
                    permitted_uses: d.permitted_uses,
                });
            }
        }
    }
    let run_fact = run.map(|r| RunFact {
        id: r.id,
        artifact_digest: r.artifact_digest,
        datasets: r.datasets,
        trainer: r.trainer,
    });
    Ok(lineage::check(&LineageInput {
        kind: release.kind,
        attributes: &release.attributes,
        bundle: &revision.bundle,
        run: run_fact.as_ref(),
        datasets: &datasets,
        evidence_kinds,
    }))
}

/// Classification of each dataset (`name@version`) of the run a bundle names.
async fn run_classifications(
    tx: &mut dyn Tx,
    bundle: &Bundle,
) -> Result<BTreeMap<String, String>, AppError> {
    let mut out = BTreeMap::new();
    if let Some(run) = run_of(tx, bundle).await? {
        for key in &run.datasets {
            let Ok((name, version)) = parse_key(key) else {
                continue;
            };
            if let Some(d) = tx.get_dataset(name, version).await? {
                out.insert(key.clone(), d.classification);
            }
        }
    }
    Ok(out)
}

/// Retrain findings for one revision: compared with the promoted revision of the
/// release its bundle `supersedes`.
pub async fn retrain_findings(
    tx: &mut dyn Tx,
    drift_gates: &[EvalGate],
    release: &ReleaseRecord,
    revision: &RevisionRecord,
    report: &ReportFact,
) -> Result<Vec<Finding>, AppError> {
    if release.kind != ReleaseKind::Retrain {
        return Ok(Vec::new());
    }
    let supersedes = revision.bundle.supersedes.as_deref();
    let mut baseline = None;
    if let Some(target) = supersedes {
        if let Some(base) = tx.get_release(&ReleaseId(target.to_owned())).await? {
            let promoted_rev = tx.get_revision(&base.id, base.current_revision).await?;
            let classifications = match &promoted_rev {
                Some(r) => run_classifications(tx, &r.bundle)
                    .await?
                    .into_values()
                    .collect(),
                None => BTreeSet::new(),
            };
            baseline = Some(Baseline {
                release_id: base.id.to_string(),
                promoted: base.status == ReleaseStatus::Promoted
                    && promoted_rev.is_some()
                    && base.id != release.id,
                intended_use: base.attributes.intended_use.clone(),
                classifications,
            });
        }
    }
    let classifications = run_classifications(tx, &revision.bundle).await?;
    Ok(retrain::check(&RetrainInput {
        kind: release.kind,
        supersedes,
        baseline: baseline.as_ref(),
        intended_use: release.attributes.intended_use.as_deref(),
        classifications: &classifications,
        drift_gates,
        report,
    }))
}

/// A revision's lineage as a graph (I6): the datasets its bound training run trained
/// on, the run, the artifact, and the gate's lineage findings (each names the node it
/// is about by its subject: a dataset key or the run id).
#[derive(Clone, Debug)]
pub struct Graph {
    /// Whether lineage applies to the release's kind at all.
    pub applies: bool,
    pub third_party: bool,
    /// The run the bundle names, and its record when registered.
    pub run_id: Option<String>,
    pub run: Option<TrainingRunRecord>,
    /// Every dataset the run trained on, with its record when registered.
    pub datasets: Vec<(String, Option<DatasetRecord>)>,
    pub artifact: countersign_core::Digest,
    pub findings: Vec<Finding>,
}

/// The lineage graph of a revision.
pub async fn graph(
    tx: &mut dyn Tx,
    release: &ReleaseRecord,
    revision: &RevisionRecord,
) -> Result<Graph, AppError> {
    let evidence_kinds: BTreeSet<String> = tx
        .list_evidence(&release.id)
        .await?
        .into_iter()
        .filter(|e| e.revision == revision.number)
        .map(|e| e.kind)
        .collect();
    let findings = findings(tx, release, revision, &evidence_kinds).await?;
    let run = run_of(tx, &revision.bundle).await?;
    let mut datasets = Vec::new();
    for key in run.iter().flat_map(|r| &r.datasets) {
        let d = match parse_key(key) {
            Ok((name, version)) => tx.get_dataset(name, version).await?,
            Err(_) => None,
        };
        datasets.push((key.clone(), d));
    }
    Ok(Graph {
        applies: lineage::applies(release.kind),
        third_party: release.attributes.third_party,
        run_id: revision.bundle.training_run_id.clone(),
        run,
        datasets,
        artifact: revision.bundle.artifact_digest.clone(),
        findings,
    })
}
