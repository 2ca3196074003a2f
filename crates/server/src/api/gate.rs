//! HTTP handlers for the gate: a release's gaps, the deploy-time check and the evaluation report.

use super::extract::{ok, parse_digest, Auth, PathId, Q};
use super::problem::{ApiResult, Problem};
use super::view::View;
use crate::app;
use crate::app::gate::{CheckOutcome, Evaluation, GateReport};
use crate::app::unit::App as AppState;
use axum::extract::State;
use countersign_api::*;
use countersign_core::{Digest, ReleaseId};

impl View<GateReport> for GateView {
    fn view(g: GateReport) -> Self {
        GateView {
            release: g.release.id.to_string(),
            revision: g.revision.number,
            bundle_digest: g.revision.bundle_digest.to_string(),
            status: g.release.status.as_str().into(),
            tier: g.status.tier.clone(),
            clear: g.status.clear,
            unmet: g.status.unmet().map(Into::into).collect(),
            gaps: g.status.gaps.iter().map(Into::into).collect(),
            reviews: g
                .requested
                .iter()
                .map(|r| RequestedReviewView {
                    role: r.role.to_string(),
                    state: r
                        .review
                        .as_ref()
                        .map_or("pending", |x| x.verdict.as_str())
                        .into(),
                    reviewer: r.review.as_ref().map(|x| x.reviewer.to_string()),
                    due_at: r.due_at,
                    overdue: r.overdue,
                })
                .collect(),
            escalated: g.escalated(),
            escalations: g
                .escalations
                .iter()
                .map(|(e, s)| EscalationView {
                    id: e.id.clone(),
                    revision: e.revision,
                    role: e.role.to_string(),
                    due_at: e.due_at,
                    escalated_to: e.escalated_to.to_string(),
                    escalated_at: e.created_at,
                    state: s.as_str().into(),
                    gap: format!("missing_review:{}", e.role),
                })
                .collect(),
            excluded_reviewers: g.excluded.iter().map(Into::into).collect(),
        }
    }
}

pub fn check_view(o: CheckOutcome, artifact: &Digest, environment: &str) -> CheckView {
    CheckView {
        allowed: o.allowed,
        artifact: artifact.to_string(),
        environment: environment.into(),
        reasons: o.reasons,
        release: o.release.map(|r| r.to_string()),
        revision: o.revision,
    }
}

impl View<Evaluation> for EvaluationView {
    fn view(e: Evaluation) -> Self {
        use countersign_core::eval::ReportFact;
        let (format, run_id, error, results) = match &e.report {
            ReportFact::Parsed(r) => (
                Some(r.format.to_owned()),
                r.run_id.clone(),
                None,
                r.results.clone(),
            ),
            ReportFact::Invalid { error, .. } => (None, None, Some(error.to_string()), Vec::new()),
            ReportFact::None => (None, None, None, Vec::new()),
        };
        let check = |g: &countersign_core::eval::EvalGate, source: &str| {
            let values: Vec<MetricValueView> = results
                .iter()
                .filter(|r| r.metric == g.metric)
                .map(|r| MetricValueView {
                    value: r.value,
                    dataset: r.dataset.clone(),
                    slice: r.slice.clone(),
                })
                .collect();
            let result = if values.is_empty() {
                "missing"
            } else if values.iter().all(|v| g.passes(v.value)) {
                "passed"
            } else {
                "failed"
            };
            GateCheckView {
                metric: g.metric.clone(),
                min: g.min,
                max: g.max,
                source: source.to_owned(),
                values,
                result: result.to_owned(),
            }
        };
        let mut checks: Vec<GateCheckView> = e.gates.iter().map(|g| check(g, "tier")).collect();
        checks.extend(e.drift_gates.iter().map(|g| check(g, "retrain_drift")));
        EvaluationView {
            release: e.release.id.to_string(),
            revision: e.revision.number,
            tier: e.tier,
            evidence_id: e.evidence.as_ref().map(|x| x.id.clone()),
            evidence_name: e.evidence.as_ref().map(|x| x.name.clone()),
            evidence_digest: e.evidence.as_ref().map(|x| x.digest.to_string()),
            format,
            run_id,
            error,
            checks,
        }
    }
}

/// The gate status: every unmet requirement with a stable reason code. Any role.
#[utoipa::path(get, path = "/v1/releases/{id}/gate", tag = "releases", security(("bearer" = [])),
    params(("id" = String, Path), GateQuery),
    responses((status = 200, body = GateView)))]
pub async fn gate_status(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
    Q(q): Q<GateQuery>,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                Ok(GateView::view(
                    app::gate::status(tx, &ctx, &ReleaseId(id), q.revision).await?,
                ))
            })
        })
        .await?;
    ok(v)
}

/// May this exact artifact run in this environment? `allowed` is true only for an approved or promoted current revision. Any role.
#[utoipa::path(get, path = "/v1/gate/check", tag = "releases", security(("bearer" = [])), params(CheckQuery),
    responses((status = 200, body = CheckView), (status = 422, body = Problem)))]
pub async fn gate_check(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    Q(q): Q<CheckQuery>,
) -> ApiResult {
    let artifact = parse_digest(&q.artifact)?;
    let env = app::gate::environment(q.env);
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                let outcome = app::gate::check(tx, &ctx.profile, ctx.now, &artifact, &env).await?;
                Ok(check_view(outcome, &artifact, &env))
            })
        })
        .await?;
    ok(v)
}

/// The evaluation (I7): the latest eval report, parsed, against the tier's gates and, for a retrain, the drift gates. Any role.
#[utoipa::path(get, path = "/v1/releases/{id}/evaluation", tag = "releases", security(("bearer" = [])),
    params(("id" = String, Path), GateQuery),
    responses((status = 200, body = EvaluationView)))]
pub async fn evaluation(
    State(s): State<AppState>,
    Auth(ctx): Auth,
    PathId(id): PathId,
    Q(q): Q<GateQuery>,
) -> ApiResult {
    let v = s
        .query(move |tx| {
            Box::pin(async move {
                Ok(EvaluationView::view(
                    app::gate::evaluation(tx, &ctx, &ReleaseId(id), q.revision).await?,
                ))
            })
        })
        .await?;
    ok(v)
}
