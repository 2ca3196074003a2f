//! The release state machine, and the happy path a pipeline walks.

use crate::harness::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn path(rel: &Rel, action: &str) -> String {
    format!("/v1/releases/{}/{action}", rel.id)
}

#[tokio::test]
async fn happy_path_release_walk() {
    for backend in backends() {
        happy_path_release_walk_on(backend).await;
    }
}

async fn happy_path_release_walk_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    let ops = cast.reviewer("operations");

    // Evidence, submission, one review per required role of the tier.
    h.attach_required_evidence(&cast, &rel).await;
    let s = h.submit(&cast, &rel).await;
    assert_eq!(s["status"], "in_review");
    let g = h.gate(&cast.owner, &rel).await;
    let mut roles: Vec<String> = g["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role"].as_str().unwrap().to_owned())
        .collect();
    roles.sort();
    assert_eq!(roles, ["mlops", "operations", "security"]);
    for role in &roles {
        let r = h
            .review_ok(cast.reviewer(role), &rel, role, "approve")
            .await;
        assert_eq!(r["reviewer"], cast.reviewer(role).id.as_str());
        assert_eq!(r["bundle_digest"], g["bundle_digest"]);
    }
    assert!(!h.allowed(&cast.author, &rel.artifact, "production").await);

    // Go, then promotion.
    h.advance(Duration::hours(20));
    let d = h.go_ok(&cast, &rel).await;
    assert_eq!(d["environment"], "production");
    assert_eq!(d["bundle_digest"], g["bundle_digest"]);
    assert_eq!(h.status_of(&cast.owner, &rel).await, "approved");
    assert!(h.allowed(&cast.author, &rel.artifact, "production").await);
    h.advance(Duration::minutes(30));
    let p = h.deploy_ok(ops, &rel, "promote").await;
    assert_eq!(p["environment"], "production");
    assert_eq!(h.status_of(&cast.owner, &rel).await, "promoted");

    // The gate check allows exactly this artifact in exactly this environment.
    let c = h.check(&cast.author, &rel.artifact, "production").await;
    assert_eq!(c["allowed"], true, "{c}");
    assert_eq!(c["release"], rel.id.as_str());
    assert_eq!(c["revision"], 1);
    assert_eq!(c["environment"], "production");
    assert!(!h.allowed(&cast.author, &rel.artifact, "staging").await);
    let other = h.artifact();
    let c = h.check(&cast.author, &other, "production").await;
    assert_eq!(c["allowed"], false);
    assert_eq!(c["release"], serde_json::Value::Null);

    // Rollback closes the gate again.
    h.advance(Duration::hours(3));
    h.deploy_ok(ops, &rel, "rollback").await;
    assert_eq!(h.status_of(&cast.owner, &rel).await, "rolled_back");
    assert!(!h.allowed(&cast.author, &rel.artifact, "production").await);

    let d = h.detail(&cast.owner, &rel).await;
    let actions: Vec<&str> = d["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["promote", "rollback"]);

    let v = h.get_ok(&h.admin, "/v1/ledger/verify").await;
    assert_eq!(v["valid"], true, "{v}");
}

#[tokio::test]
async fn state_machine_full_path_draft_to_rolled_back() {
    for backend in backends() {
        state_machine_full_path_draft_to_rolled_back_on(backend).await;
    }
}

async fn state_machine_full_path_draft_to_rolled_back_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    // Tier low: mlops and operations, test_results and rollback_plan.
    let rel = h.release(&cast, json!({})).await;
    let g = h.gate(&cast.owner, &rel).await;
    assert_eq!(g["tier"], "low");
    assert_eq!(h.status_of(&cast.owner, &rel).await, "draft");
    h.attach_required_evidence(&cast, &rel).await;
    h.submit(&cast, &rel).await;
    assert_eq!(h.status_of(&cast.owner, &rel).await, "in_review");
    h.approve_missing_reviews(&cast, &rel).await;
    h.go_ok(&cast, &rel).await;
    assert_eq!(h.status_of(&cast.owner, &rel).await, "approved");
    let mlops = cast.reviewer("mlops");
    h.deploy_ok(mlops, &rel, "promote").await;
    assert_eq!(h.status_of(&cast.owner, &rel).await, "promoted");
    h.deploy_ok(mlops, &rel, "rollback").await;
    assert_eq!(h.status_of(&cast.owner, &rel).await, "rolled_back");
    // Rolled back is final for this revision.
    for action in ["promote", "rollback", "retire"] {
        h.refused(
            mlops,
            &path(&rel, action),
            &json!({"revision": 1, "reason": "again"}),
            StatusCode::CONFLICT,
            "illegal-transition",
        )
        .await;
    }
}

#[tokio::test]
async fn state_machine_promoted_release_retires() {
    for backend in backends() {
        state_machine_promoted_release_retires_on(backend).await;
    }
}

async fn state_machine_promoted_release_retires_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.approve_everything(&cast, &rel).await;
    h.go_ok(&cast, &rel).await;
    let ops = cast.reviewer("operations");
    h.deploy_ok(ops, &rel, "promote").await;
    assert!(h.allowed(&cast.author, &rel.artifact, "production").await);
    // Retiring needs a reason.
    h.refused(
        ops,
        &path(&rel, "retire"),
        &json!({"revision": 1}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing-reason",
    )
    .await;
    h.deploy_ok(ops, &rel, "retire").await;
    assert_eq!(h.status_of(&cast.owner, &rel).await, "retired");
    assert!(!h.allowed(&cast.author, &rel.artifact, "production").await);
    // A retired release cannot be revised back to life.
    let artifact = h.artifact();
    h.refused(
        &cast.author,
        &path(&rel, "revisions"),
        &json!({"based_on_revision": 1, "bundle": h.bundle(&artifact)}),
        StatusCode::CONFLICT,
        "illegal-transition",
    )
    .await;
}

#[tokio::test]
async fn state_machine_refuses_illegal_transitions() {
    for backend in backends() {
        state_machine_refuses_illegal_transitions_on(backend).await;
    }
}

async fn state_machine_refuses_illegal_transitions_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    let ops = cast.reviewer("operations");
    let deploy = json!({"revision": 1, "reason": "because"});

    // A draft cannot be promoted, rolled back, retired or decided.
    for action in ["promote", "rollback", "retire"] {
        h.refused(
            ops,
            &path(&rel, action),
            &deploy,
            StatusCode::CONFLICT,
            "illegal-transition",
        )
        .await;
    }
    for decision in ["go", "no_go"] {
        h.refused(
            &cast.owner,
            &path(&rel, "decision"),
            &h.decision_body(&rel, decision),
            StatusCode::CONFLICT,
            "illegal-transition",
        )
        .await;
    }
    assert_eq!(h.status_of(&cast.owner, &rel).await, "draft");

    // Submitted once is submitted.
    h.approve_everything(&cast, &rel).await;
    h.refused(
        &cast.author,
        &path(&rel, "submit"),
        &json!({"revision": 1}),
        StatusCode::CONFLICT,
        "illegal-transition",
    )
    .await;
    // In review: not yet promotable.
    h.refused(
        ops,
        &path(&rel, "promote"),
        &deploy,
        StatusCode::CONFLICT,
        "illegal-transition",
    )
    .await;

    // Approved but not promoted: no rollback, no retire, no second decision.
    h.go_ok(&cast, &rel).await;
    for action in ["rollback", "retire"] {
        h.refused(
            ops,
            &path(&rel, action),
            &deploy,
            StatusCode::CONFLICT,
            "illegal-transition",
        )
        .await;
    }
    h.refused(
        &cast.owner,
        &path(&rel, "decision"),
        &h.decision_body(&rel, "no_go"),
        StatusCode::CONFLICT,
        "illegal-transition",
    )
    .await;
    assert_eq!(h.status_of(&cast.owner, &rel).await, "approved");

    // Promoted: no second promotion, no new bundle.
    h.deploy_ok(ops, &rel, "promote").await;
    h.refused(
        ops,
        &path(&rel, "promote"),
        &deploy,
        StatusCode::CONFLICT,
        "illegal-transition",
    )
    .await;
    let artifact = h.artifact();
    h.refused(
        &cast.author,
        &path(&rel, "revisions"),
        &json!({"based_on_revision": 1, "bundle": h.bundle(&artifact)}),
        StatusCode::CONFLICT,
        "illegal-transition",
    )
    .await;
    assert_eq!(h.status_of(&cast.owner, &rel).await, "promoted");
}

#[tokio::test]
async fn promote_to_another_environment_than_approved_is_refused() {
    for backend in backends() {
        promote_to_another_environment_than_approved_is_refused_on(backend).await;
    }
}

async fn promote_to_another_environment_than_approved_is_refused_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.approve_everything(&cast, &rel).await;
    h.go_ok(&cast, &rel).await;
    let ops = cast.reviewer("operations");
    h.refused(
        ops,
        &path(&rel, "promote"),
        &json!({"revision": 1, "environment": "staging"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "environment-not-approved",
    )
    .await;
    assert_eq!(h.status_of(&cast.owner, &rel).await, "approved");
    assert!(!h.allowed(&cast.author, &rel.artifact, "staging").await);
    // Naming the approved environment, or none, promotes.
    h.command(
        ops,
        &path(&rel, "promote"),
        &json!({"revision": 1, "environment": "production"}),
        "release.promote",
    )
    .await;
    // Rollback needs a reason.
    h.refused(
        ops,
        &path(&rel, "rollback"),
        &json!({"revision": 1, "reason": "  "}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing-reason",
    )
    .await;
}

#[tokio::test]
async fn no_go_rejects_and_a_new_revision_starts_over() {
    for backend in backends() {
        no_go_rejects_and_a_new_revision_starts_over_on(backend).await;
    }
}

async fn no_go_rejects_and_a_new_revision_starts_over_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let mut rel = h.medium(&cast).await;
    h.approve_everything(&cast, &rel).await;
    h.command(
        &cast.owner,
        &path(&rel, "decision"),
        &h.decision_body(&rel, "no_go"),
        "release.decide",
    )
    .await;
    let d = h.detail(&cast.owner, &rel).await;
    assert_eq!(d["release"]["status"], "rejected");
    assert_eq!(d["release"]["environment"], serde_json::Value::Null);
    assert!(!h.allowed(&cast.author, &rel.artifact, "production").await);
    h.refused(
        cast.reviewer("operations"),
        &path(&rel, "promote"),
        &json!({"revision": 1}),
        StatusCode::CONFLICT,
        "illegal-transition",
    )
    .await;

    let artifact = h.artifact();
    let r = h
        .command(
            &cast.author,
            &path(&rel, "revisions"),
            &json!({"based_on_revision": 1, "bundle": h.bundle(&artifact)}),
            "release.revise",
        )
        .await;
    assert_eq!(r["release"]["status"], "draft");
    rel.revision = 2;
    rel.artifact = artifact;
    h.approve_everything(&cast, &rel).await;
    h.go_ok(&cast, &rel).await;
    assert!(h.allowed(&cast.author, &rel.artifact, "production").await);
}

#[tokio::test]
async fn decision_environment_must_be_well_formed() {
    for backend in backends() {
        decision_environment_must_be_well_formed_on(backend).await;
    }
}

async fn decision_environment_must_be_well_formed_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.approve_everything(&cast, &rel).await;
    let mut body = h.decision_body(&rel, "go");
    body["environment"] = json!("Prod Env!");
    h.refused(
        &cast.owner,
        &path(&rel, "decision"),
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-environment",
    )
    .await;
    assert_eq!(h.status_of(&cast.owner, &rel).await, "in_review");
}

#[tokio::test]
async fn the_owner_withdraws_a_go_before_promotion() {
    for backend in backends() {
        the_owner_withdraws_a_go_before_promotion_on(backend).await;
    }
}

async fn the_owner_withdraws_a_go_before_promotion_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.release(&cast, json!({})).await;
    h.attach_required_evidence(&cast, &rel).await;
    h.submit(&cast, &rel).await;
    h.approve_missing_reviews(&cast, &rel).await;
    let mlops = cast.reviewer("mlops");
    let body =
        json!({"revision": rel.revision, "reason": "the on-call rotation is not staffed yet"});

    // Nothing to withdraw before a go; a go is not withdrawn as a decision.
    h.refused(
        &cast.owner,
        &path(&rel, "withdraw"),
        &body,
        StatusCode::CONFLICT,
        "illegal-transition",
    )
    .await;
    h.refused(
        &cast.owner,
        &path(&rel, "decision"),
        &h.decision_body(&rel, "withdrawn"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-verdict",
    )
    .await;
    h.go_ok(&cast, &rel).await;
    assert!(h.allowed(&cast.owner, &rel.artifact, "production").await);

    // Only the owner, only with a reason.
    h.refused(
        mlops,
        &path(&rel, "withdraw"),
        &body,
        StatusCode::FORBIDDEN,
        "not-decision-owner",
    )
    .await;
    h.refused(
        &cast.owner,
        &path(&rel, "withdraw"),
        &json!({"revision": rel.revision, "reason": "no"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-reason",
    )
    .await;

    // Withdrawn: in review again, the gate check says no, promotion is refused.
    let d = h
        .command(
            &cast.owner,
            &path(&rel, "withdraw"),
            &body,
            "release.withdraw",
        )
        .await;
    assert_eq!(d["decision"], "withdrawn");
    assert_eq!(h.status_of(&cast.owner, &rel).await, "in_review");
    assert!(!h.allowed(&cast.owner, &rel.artifact, "production").await);
    h.refused(
        mlops,
        &path(&rel, "promote"),
        &json!({"revision": rel.revision, "reason": "scheduled change"}),
        StatusCode::CONFLICT,
        "illegal-transition",
    )
    .await;
    let kinds = |d: Value| -> Vec<String> {
        d["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["decision"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds(h.detail(&cast.owner, &rel).await), ["withdrawn"]);

    // A new go replaces the withdrawn one (the ledger keeps both), then promotion; a
    // promoted release's go cannot be withdrawn.
    h.go_ok(&cast, &rel).await;
    assert_eq!(kinds(h.detail(&cast.owner, &rel).await), ["go"]);
    h.deploy_ok(mlops, &rel, "promote").await;
    h.refused(
        &cast.owner,
        &path(&rel, "withdraw"),
        &body,
        StatusCode::CONFLICT,
        "illegal-transition",
    )
    .await;
}
