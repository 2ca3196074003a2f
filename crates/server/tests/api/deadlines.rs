//! Deadlines (I5): every review is due a tier-set time after submission; past it, the
//! release escalates to its decision owner, who must accept the gap or block. Time is
//! moved with the ManualClock and the job is run directly: no sleeps.

use crate::harness::*;
use chrono::Duration;
use countersign_server::app::deadlines::run_deadlines_once;
use countersign_server::AppState;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn state(h: &Harness) -> AppState {
    AppState::new(h.store.clone(), h.profile.clone(), h.clock.clone())
        .expect("the example policies load")
}

async fn escalations(h: &Harness, after: u64) -> Vec<countersign_ledger::Entry> {
    h.ledger_after(after)
        .await
        .into_iter()
        .filter(|e| e.action == "release.escalate")
        .collect()
}

fn states(gate: &Value) -> Vec<(String, String)> {
    gate["escalations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["role"].as_str().unwrap().to_owned(),
                e["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A submitted medium release (72h deadline) with only the mlops review done.
async fn waiting(h: &Harness, cast: &Cast) -> Rel {
    let rel = h.medium(cast).await;
    h.attach_required_evidence(cast, &rel).await;
    h.submit(cast, &rel).await;
    h.review_ok(cast.reviewer("mlops"), &rel, "mlops", "approve")
        .await;
    rel
}

#[tokio::test]
async fn i5_a_review_past_its_deadline_escalates_once_without_sleeping() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let rel = waiting(&h, &cast).await;
        let g = h.gate(&cast.owner, &rel).await;
        let due = g["reviews"][0]["due_at"].as_str().unwrap().to_owned();
        assert_eq!(
            chrono::DateTime::parse_from_rfc3339(&due).unwrap(),
            h.now() + Duration::hours(72)
        );

        // Not yet due: nothing happens.
        h.advance(Duration::hours(71));
        assert!(run_deadlines_once(&state(&h)).await.unwrap().is_empty());
        assert_eq!(h.gate(&cast.owner, &rel).await["escalated"], false);

        // Past due: each missing review escalates to the owner, one ledger entry each.
        h.advance(Duration::hours(2));
        let before = h.ledger_count().await;
        let made = run_deadlines_once(&state(&h)).await.unwrap();
        assert_eq!(made.len(), 2);
        let entries = escalations(&h, before).await;
        assert_eq!(h.ledger_count().await, before + 2);
        assert_eq!(entries.len(), 2);
        for e in &entries {
            assert_eq!(e.actor, "system");
            assert_eq!(e.subject, rel.id);
            assert_eq!(e.payload["escalated_to"], cast.owner.id.as_str());
        }
        let g = h.gate(&cast.owner, &rel).await;
        assert_eq!(g["escalated"], true);
        assert_eq!(
            states(&g),
            [
                ("security".into(), "open".into()),
                ("operations".into(), "open".into())
            ]
        );
        let overdue: Vec<&str> = g["reviews"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["overdue"] == true)
            .map(|r| r["role"].as_str().unwrap())
            .collect();
        assert_eq!(overdue, ["security", "operations"]);

        // Idempotent across job runs, and across concurrent runs (replicas).
        h.advance(Duration::hours(1));
        let before = h.ledger_count().await;
        let s = state(&h);
        let (a, b) = tokio::join!(run_deadlines_once(&s), run_deadlines_once(&s));
        assert!(a.unwrap().is_empty() && b.unwrap().is_empty());
        assert_eq!(h.ledger_count().await, before);

        // The owner accepts one gap; the late reviewer does the other.
        let (status, body) = h
            .accept(&cast, &rel, "missing_review:operations", Duration::days(3))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(h.gate(&cast.owner, &rel).await["escalated"], true);
        h.review_ok(cast.reviewer("security"), &rel, "security", "approve")
            .await;
        let g = h.gate(&cast.owner, &rel).await;
        assert_eq!(g["escalated"], false);
        assert_eq!(
            states(&g),
            [
                ("security".into(), "reviewed".into()),
                ("operations".into(), "accepted".into())
            ]
        );
        assert_eq!(g["clear"], true);
        h.go_ok(&cast, &rel).await;
    }
}

#[tokio::test]
async fn i5_concurrent_job_runs_escalate_each_review_once() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let rel = waiting(&h, &cast).await;
        h.advance(Duration::hours(73));
        let before = h.ledger_count().await;
        let s = state(&h);
        let (a, b, c) = tokio::join!(
            run_deadlines_once(&s),
            run_deadlines_once(&s),
            run_deadlines_once(&s)
        );
        let total = a.unwrap().len() + b.unwrap().len() + c.unwrap().len();
        assert_eq!(total, 2);
        assert_eq!(escalations(&h, before).await.len(), 2);
        assert_eq!(h.ledger_count().await, before + 2);
        assert_eq!(
            h.gate(&cast.owner, &rel).await["escalations"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}

#[tokio::test]
async fn i5_the_owner_blocks_to_end_an_escalation() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let rel = waiting(&h, &cast).await;
        h.advance(Duration::hours(80));
        run_deadlines_once(&state(&h)).await.unwrap();
        assert_eq!(h.gate(&cast.owner, &rel).await["escalated"], true);
        let path = format!("/v1/releases/{}/block", rel.id);
        let body = json!({"revision": 1, "reason": "security never reviewed; not shipping"});
        h.refused(
            &cast.author,
            &path,
            &body,
            StatusCode::FORBIDDEN,
            "not-decision-owner",
        )
        .await;
        h.refused(
            &cast.owner,
            &path,
            &json!({"revision": 1, "reason": "no"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-reason",
        )
        .await;
        let d = h.command(&cast.owner, &path, &body, "release.block").await;
        assert_eq!(d["decision"], "no_go");
        assert_eq!(h.status_of(&cast.owner, &rel).await, "rejected");
        let g = h.gate(&cast.owner, &rel).await;
        assert_eq!(g["escalated"], false);
        assert_eq!(
            states(&g),
            [
                ("security".into(), "closed".into()),
                ("operations".into(), "closed".into())
            ]
        );
        // A blocked release no longer escalates.
        h.advance(Duration::days(10));
        assert!(run_deadlines_once(&state(&h)).await.unwrap().is_empty());
        let entry = h
            .ledger_after(0)
            .await
            .into_iter()
            .rev()
            .find(|e| e.action == "release.block")
            .unwrap();
        assert_eq!(
            entry.payload["escalated_roles"],
            json!(["security", "operations"])
        );
        assert!(!h.allowed(&cast.author, &rel.artifact, "production").await);
    }
}
