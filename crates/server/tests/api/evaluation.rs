//! Evaluation gates (I7): the tier's thresholds on named metrics are compared with the
//! latest eval report of the revision; a missing metric fails like a failing one.

use crate::harness::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;

/// A medium release (gates: accuracy >= 0.9, toxicity <= 0.01) with everything but its
/// eval report: other evidence attached, submitted, every review approved.
async fn reviewed_medium(h: &Harness, cast: &Cast) -> Rel {
    let rel = h.medium(cast).await;
    for kind in ["test_results", "rollback_plan", "threat_model"] {
        h.attach(&cast.author, &rel, kind, b"document").await;
    }
    h.submit(cast, &rel).await;
    h.approve_missing_reviews(cast, &rel).await;
    rel
}

fn report(results: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"format": "countersign.eval/v1", "run_id": "run-1", "results": results}),
    )
    .unwrap()
}

fn eval_gaps(gate: &serde_json::Value) -> Vec<String> {
    gap_keys(&gate["unmet"])
        .into_iter()
        .filter(|k| k.starts_with("eval_"))
        .collect()
}

async fn go_refused(h: &Harness, cast: &Cast, rel: &Rel) -> Vec<String> {
    let p = h
        .refused(
            &cast.owner,
            &format!("/v1/releases/{}/decision", rel.id),
            &h.decision_body(rel, "go"),
            StatusCode::CONFLICT,
            "gate-unmet",
        )
        .await;
    gap_keys(&p["gaps"])
}

#[tokio::test]
async fn i7_a_missing_metric_blocks() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let rel = reviewed_medium(&h, &cast).await;
        let r = report(
            json!([{"metric": "accuracy", "value": 0.95, "dataset": "tickets@3", "slice": "all"}]),
        );
        h.attach(&cast.author, &rel, "eval_report", &r).await;
        assert_eq!(
            go_refused(&h, &cast, &rel).await,
            ["eval_metric_missing:toxicity"]
        );
    }
}

#[tokio::test]
async fn i7_a_failing_metric_blocks_until_the_owner_accepts_it() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let rel = reviewed_medium(&h, &cast).await;
        let r = report(json!([
            {"metric": "accuracy", "value": 0.95, "slice": "en"},
            {"metric": "accuracy", "value": 0.88, "slice": "de"},
            {"metric": "toxicity", "value": 0.001},
        ]));
        h.attach(&cast.author, &rel, "eval_report", &r).await;
        let g = h.gate(&cast.owner, &rel).await;
        assert_eq!(eval_gaps(&g), ["eval_metric_failed:accuracy"]);
        // The evaluation view shows every value the gate compared.
        let e = h
            .get_ok(
                cast.reviewer("security"),
                &format!("/v1/releases/{}/evaluation", rel.id),
            )
            .await;
        assert_eq!(e["format"], "countersign.eval/v1");
        assert_eq!(e["run_id"], "run-1");
        let checks: Vec<(String, String, usize)> = e["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["metric"].as_str().unwrap().to_owned(),
                    c["result"].as_str().unwrap().to_owned(),
                    c["values"].as_array().unwrap().len(),
                )
            })
            .collect();
        assert_eq!(
            checks,
            [
                ("accuracy".into(), "failed".into(), 2),
                ("toxicity".into(), "passed".into(), 1)
            ]
        );
        let detail = g["unmet"][0]["detail"].as_str().unwrap();
        assert!(
            detail.contains("0.88 on slice de") && detail.contains(">= 0.9"),
            "{detail}"
        );
        assert_eq!(
            go_refused(&h, &cast, &rel).await,
            ["eval_metric_failed:accuracy"]
        );
        // A failing metric is acceptable residual risk, explicitly and for a while.
        let (status, body) = h
            .accept(
                &cast,
                &rel,
                "eval_metric_failed:accuracy",
                Duration::days(30),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        h.go_ok(&cast, &rel).await;
    }
}

#[tokio::test]
async fn i7_passing_metrics_clear_and_the_latest_report_counts() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let rel = reviewed_medium(&h, &cast).await;
        let failing = report(json!([
            {"metric": "accuracy", "value": 0.5},
            {"metric": "toxicity", "value": 0.5},
        ]));
        h.attach(&cast.author, &rel, "eval_report", &failing).await;
        assert_eq!(
            eval_gaps(&h.gate(&cast.owner, &rel).await),
            ["eval_metric_failed:accuracy", "eval_metric_failed:toxicity"]
        );
        h.attach(&cast.author, &rel, "eval_report", PASSING_EVAL.as_bytes())
            .await;
        assert_eq!(h.gate(&cast.owner, &rel).await["clear"], true);
        h.go_ok(&cast, &rel).await;
    }
}

#[tokio::test]
async fn i7_a_cyclonedx_ml_bom_is_read_as_an_eval_report() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let rel = reviewed_medium(&h, &cast).await;
        let bom = json!({
            "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
            "components": [{
                "type": "machine-learning-model", "name": "support-assistant",
                "modelCard": {"quantitativeAnalysis": {"performanceMetrics": [
                    {"type": "accuracy", "value": "0.93", "slice": "all"},
                    {"type": "toxicity", "value": "0.004", "slice": "all"},
                ]}},
            }],
        });
        h.attach(
            &cast.author,
            &rel,
            "eval_report",
            &serde_json::to_vec(&bom).unwrap(),
        )
        .await;
        assert_eq!(h.gate(&cast.owner, &rel).await["clear"], true);
        h.go_ok(&cast, &rel).await;
    }
}

#[tokio::test]
async fn i7_an_unreadable_report_is_a_gap_and_its_metrics_are_missing() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let rel = reviewed_medium(&h, &cast).await;
        h.attach(&cast.author, &rel, "eval_report", b"accuracy: great")
            .await;
        let g = h.gate(&cast.owner, &rel).await;
        assert_eq!(
            eval_gaps(&g),
            [
                "eval_metric_missing:accuracy",
                "eval_metric_missing:toxicity",
                "eval_report_invalid:eval_report.pdf",
            ]
        );
        let e = h
            .get_ok(&cast.owner, &format!("/v1/releases/{}/evaluation", rel.id))
            .await;
        assert!(e["error"].as_str().unwrap().contains("not JSON"), "{e}");
        assert_eq!(e["evidence_name"], "eval_report.pdf");
        let invalid = g["unmet"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["code"] == "eval_report_invalid")
            .unwrap();
        assert!(
            invalid["detail"].as_str().unwrap().contains("not JSON"),
            "{invalid}"
        );
    }
}
