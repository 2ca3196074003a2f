//! Retraining: a `retrain` release supersedes a promoted release and stays inside what
//! was approved for it (intended use, data classifications), with drift within the
//! profile's retrain thresholds. Lineage (I6) and evaluation (I7) apply as to a model.

use crate::harness::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};

const USE: &str = "customer-support";

/// Registers and approves a dataset of this classification permitting `uses`, and a
/// run (trained by the author) over it with a fresh artifact. Returns (run, artifact).
async fn traced(
    h: &Harness,
    cast: &Cast,
    name: &str,
    class: &str,
    uses: &[&str],
) -> (String, String) {
    let mut body = h.dataset_body(name, "1", uses);
    body["classification"] = json!(class);
    let d = h
        .command(&cast.author, "/v1/datasets", &body, "dataset.register")
        .await;
    let key = d["key"].as_str().unwrap().to_owned();
    h.approve_dataset(cast.reviewer("data-governance"), &key)
        .await;
    let artifact = h.artifact();
    let run = h
        .run(
            &cast.author,
            &format!("run-{name}"),
            &[&key],
            &cast.author,
            &artifact,
        )
        .await;
    (run, artifact)
}

async fn create(
    h: &Harness,
    cast: &Cast,
    kind: &str,
    use_: &str,
    bundle: Value,
    artifact: &str,
) -> Rel {
    let body = json!({
        "title": format!("support {kind}"), "kind": kind, "system": cast.system,
        "decision_owner": cast.owner.id,
        "attributes": {"customer_facing": true, "intended_use": use_}, "bundle": bundle,
    });
    let r = h
        .command(&cast.author, "/v1/releases", &body, "release.create")
        .await;
    Rel {
        id: r["release"]["id"].as_str().unwrap().to_owned(),
        artifact: artifact.to_owned(),
        revision: 1,
    }
}

/// A promoted model release trained on internal data for customer support.
async fn promoted_model(h: &Harness, cast: &Cast) -> Rel {
    let (run, artifact) = traced(h, cast, "tickets-v1", "internal", &[USE]).await;
    let bundle = json!({"artifact_digest": artifact, "training_run_id": run});
    let rel = create(h, cast, "model", USE, bundle, &artifact).await;
    h.approve_everything(cast, &rel).await;
    h.go_ok(cast, &rel).await;
    h.deploy_ok(cast.reviewer("operations"), &rel, "promote")
        .await;
    rel
}

/// A retrain of `base` on a new dataset of `class`, for `use_`, reviewed and with a
/// passing eval report attached (drift_psi 0.05): only retrain gaps can remain.
async fn retrain(
    h: &Harness,
    cast: &Cast,
    base: Option<&Rel>,
    name: &str,
    class: &str,
    use_: &str,
) -> Rel {
    let (run, artifact) = traced(h, cast, name, class, &[USE, "marketing"]).await;
    let mut bundle = json!({"artifact_digest": artifact, "training_run_id": run});
    if let Some(b) = base {
        bundle["supersedes"] = json!(b.id);
    }
    let rel = create(h, cast, "retrain", use_, bundle, &artifact).await;
    h.attach_required_evidence(cast, &rel).await;
    h.submit(cast, &rel).await;
    h.approve_missing_reviews(cast, &rel).await;
    rel
}

fn unmet(gate: &Value) -> Vec<String> {
    gap_keys(&gate["unmet"])
}

#[tokio::test]
async fn retrain_inside_the_approved_scope_passes() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let base = promoted_model(&h, &cast).await;
        let rel = retrain(&h, &cast, Some(&base), "tickets-v2", "internal", USE).await;
        let g = h.gate(&cast.owner, &rel).await;
        assert_eq!(g["clear"], true, "{g}");
        h.go_ok(&cast, &rel).await;
    }
}

#[tokio::test]
async fn retrain_outside_the_approved_scope_blocks() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let base = promoted_model(&h, &cast).await;

        // Wider data classification: not acceptable.
        let wide = retrain(&h, &cast, Some(&base), "tickets-pii", "pii", USE).await;
        let g = h.gate(&cast.owner, &wide).await;
        assert_eq!(
            unmet(&g),
            ["retrain_classification_widened:tickets-pii@1"],
            "{g}"
        );
        assert_eq!(g["unmet"][0]["acceptable"], false);
        h.refused(
            &cast.owner,
            &format!("/v1/releases/{}/acceptances", wide.id),
            &h.acceptance_body(
                &wide,
                "retrain_classification_widened:tickets-pii@1",
                Duration::days(7),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "gap-not-acceptable",
        )
        .await;
        h.refused(
            &cast.owner,
            &format!("/v1/releases/{}/decision", wide.id),
            &h.decision_body(&wide, "go"),
            StatusCode::CONFLICT,
            "gate-unmet",
        )
        .await;

        // Another intended use.
        let other = retrain(
            &h,
            &cast,
            Some(&base),
            "tickets-mkt",
            "internal",
            "marketing",
        )
        .await;
        assert_eq!(
            unmet(&h.gate(&cast.owner, &other).await),
            ["retrain_use_changed:marketing"]
        );

        // No baseline named, or one that is not in production.
        let none = retrain(&h, &cast, None, "tickets-none", "internal", USE).await;
        assert_eq!(
            unmet(&h.gate(&cast.owner, &none).await),
            ["retrain_baseline_missing:none"]
        );
        let draft = retrain(&h, &cast, Some(&none), "tickets-draft", "internal", USE).await;
        assert_eq!(
            unmet(&h.gate(&cast.owner, &draft).await),
            [format!("retrain_baseline_missing:{}", none.id)]
        );
    }
}

#[tokio::test]
async fn retrain_drift_beyond_the_threshold_blocks() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let base = promoted_model(&h, &cast).await;
        let rel = retrain(&h, &cast, Some(&base), "tickets-drift", "internal", USE).await;
        let drifted = json!({"format": "countersign.eval/v1", "results": [
            {"metric": "accuracy", "value": 0.95}, {"metric": "toxicity", "value": 0.001},
            {"metric": "drift_psi", "value": 0.31, "slice": "all"},
        ]});
        h.attach(
            &cast.author,
            &rel,
            "eval_report",
            &serde_json::to_vec(&drifted).unwrap(),
        )
        .await;
        let g = h.gate(&cast.owner, &rel).await;
        assert_eq!(unmet(&g), ["retrain_drift_exceeded:drift_psi"], "{g}");
        let detail = g["unmet"][0]["detail"].as_str().unwrap();
        assert!(
            detail.contains("0.31") && detail.contains("<= 0.2"),
            "{detail}"
        );
        h.refused(
            &cast.owner,
            &format!("/v1/releases/{}/decision", rel.id),
            &h.decision_body(&rel, "go"),
            StatusCode::CONFLICT,
            "gate-unmet",
        )
        .await;
    }
}
