//! HTTP handlers for lineage: datasets and training runs (I6).

use super::extract::{ok, Auth, Cmd, PathId};
use super::problem::{ApiResult, Problem};
use super::view::View;
use crate::app;
use crate::app::unit::App as AppState;
use axum::extract::State;
use axum::http::StatusCode;
use countersign_api::*;
use countersign_core::UserId;
use countersign_store::records::*;

impl View<DatasetRecord> for DatasetView {
    fn view(d: DatasetRecord) -> Self {
        DatasetView {
            key: d.key(),
            approved: d.approved_by.is_some(),
            name: d.name,
            version: d.version,
            digest: d.digest.to_string(),
            source: d.source,
            classification: d.classification,
            permitted_uses: d.permitted_uses,
            registered_by: d.registered_by.to_string(),
            created_at: d.created_at,
            approved_by: d.approved_by.map(|u| u.to_string()),
            approved_at: d.approved_at,
        }
    }
}

impl View<TrainingRunRecord> for RunView {
    fn view(r: TrainingRunRecord) -> Self {
        RunView {
            id: r.id,
            code_commit: r.code_commit,
            datasets: r.datasets,
            parameters: r.parameters,
            trainer: r.trainer.to_string(),
            artifact_digest: r.artifact_digest.to_string(),
            registered_by: r.registered_by.to_string(),
            created_at: r.created_at,
        }
    }
}

/// Register a dataset version with its classification and permitted uses. Role: data-governance or mlops.
#[utoipa::path(post, path = "/v1/datasets", tag = "lineage", security(("bearer" = [])), request_body = RegisterDatasetParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key write once")),
    responses((status = 201, body = DatasetView),
              (status = 409, body = Problem)))]
pub async fn register_dataset(
    State(s): State<AppState>,
    cmd: Cmd<RegisterDatasetParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |p, tx, ctx| {
        Box::pin(async move {
            let new = app::lineage::NewDataset {
                name: p.name,
                version: p.version,
                digest: p.digest,
                source: p.source,
                classification: p.classification,
                permitted_uses: p.permitted_uses,
            };
            let d = app::lineage::register_dataset(tx, ctx, new).await?;
            Ok(DatasetView::view(d))
        })
    })
    .await
}

/// List datasets. Any role.
#[utoipa::path(get, path = "/v1/datasets", tag = "lineage", security(("bearer" = [])),
    responses((status = 200, body = Vec<DatasetView>)))]
pub async fn list_datasets(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let all = app::lineage::list_datasets(tx).await?;
                Ok(all.into_iter().map(DatasetView::view).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One dataset version, by `name@version`. Any role.
#[utoipa::path(get, path = "/v1/datasets/{key}", tag = "lineage", security(("bearer" = [])), params(("key" = String, Path, description = "name@version")),
    responses((status = 200, body = DatasetView)))]
pub async fn get_dataset(
    State(s): State<AppState>,
    Auth(_): Auth,
    PathId(key): PathId,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                Ok(DatasetView::view(
                    app::lineage::get_dataset(tx, &key).await?,
                ))
            })
        })
        .await?;
    ok(v)
}

/// Approve a dataset version for the uses it permits; not by whoever registered it. Role: data-governance.
#[utoipa::path(post, path = "/v1/datasets/{key}/approval", tag = "lineage", security(("bearer" = [])), params(("key" = String, Path, description = "name@version")),
    request_body = ApproveDatasetParams,
    responses((status = 201, body = DatasetView), (status = 409, body = Problem)))]
pub async fn approve_dataset(
    State(s): State<AppState>,
    PathId(key): PathId,
    cmd: Cmd<ApproveDatasetParams>,
) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |body, tx, ctx| {
        Box::pin(async move {
            let d = app::lineage::approve_dataset(tx, ctx, &key, body.comment).await?;
            Ok(DatasetView::view(d))
        })
    })
    .await
}

/// Register a training run: code commit, datasets, parameters, trainer, produced artifact. Role: mlops.
#[utoipa::path(post, path = "/v1/runs", tag = "lineage", security(("bearer" = [])), request_body = RegisterRunParams,
    params(("Idempotency-Key" = Option<String>, Header, description = "retries with the same key write once")),
    responses((status = 201, body = RunView),
              (status = 409, body = Problem)))]
pub async fn register_run(State(s): State<AppState>, cmd: Cmd<RegisterRunParams>) -> ApiResult {
    cmd.run(&s, StatusCode::CREATED, move |p, tx, ctx| {
        Box::pin(async move {
            let new = app::lineage::NewRun {
                id: p.id,
                code_commit: p.code_commit,
                datasets: p.datasets,
                parameters: p.parameters,
                trainer: UserId(p.trainer),
                artifact_digest: p.artifact_digest,
            };
            let r = app::lineage::register_run(tx, ctx, new).await?;
            Ok(RunView::view(r))
        })
    })
    .await
}

/// List training runs. Any role.
#[utoipa::path(get, path = "/v1/runs", tag = "lineage", security(("bearer" = [])),
    responses((status = 200, body = Vec<RunView>)))]
pub async fn list_runs(State(s): State<AppState>, Auth(_): Auth) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let all = app::lineage::list_runs(tx).await?;
                Ok(all.into_iter().map(RunView::view).collect::<Vec<_>>())
            })
        })
        .await?;
    ok(v)
}

/// One training run. Any role.
#[utoipa::path(get, path = "/v1/runs/{id}", tag = "lineage", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RunView)))]
pub async fn get_run(State(s): State<AppState>, Auth(_): Auth, PathId(id): PathId) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move { Ok(RunView::view(app::lineage::get_run(tx, &id).await?)) })
        })
        .await?;
    ok(v)
}
