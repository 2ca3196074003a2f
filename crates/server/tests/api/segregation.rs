//! I4 segregation of duties: the submitter and the trainer cannot review or own the
//! decision; the decision owner cannot review; one person fills at most one required
//! role per revision. Each rule has its own problem type.

use crate::harness::*;
use reqwest::StatusCode;
use serde_json::json;

const SOD: &str = "segregation-of-duties/";

fn reviews_path(rel: &Rel) -> String {
    format!("/v1/releases/{}/reviews", rel.id)
}

#[tokio::test]
async fn i4_submitter_cannot_review() {
    for backend in backends() {
        i4_submitter_cannot_review_on(backend).await;
    }
}

async fn i4_submitter_cannot_review_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.submit(&cast, &rel).await;
    // The author holds mlops, a required role of the tier, and submitted the revision.
    h.refused(
        &cast.author,
        &reviews_path(&rel),
        &h.review_body(&rel, "mlops", "approve"),
        StatusCode::FORBIDDEN,
        &format!("{SOD}submitter-cannot-review"),
    )
    .await;
    assert_eq!(h.detail(&cast.owner, &rel).await["reviews"], json!([]));
    // Someone else may.
    h.review_ok(cast.reviewer("mlops"), &rel, "mlops", "approve")
        .await;
}

#[tokio::test]
async fn i4_trainer_cannot_review() {
    for backend in backends() {
        i4_trainer_cannot_review_on(backend).await;
    }
}

async fn i4_trainer_cannot_review_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let trainer = h.user("Trainer", &["security"]).await;
    let artifact = h.artifact();
    let mut bundle = h.bundle(&artifact);
    bundle["trainer"] = json!(trainer.id);
    let rel = h
        .release_with_bundle(&cast, json!({"customer_facing": true}), bundle, &artifact)
        .await;
    h.submit(&cast, &rel).await;
    h.refused(
        &trainer,
        &reviews_path(&rel),
        &h.review_body(&rel, "security", "approve"),
        StatusCode::FORBIDDEN,
        &format!("{SOD}trainer-cannot-review"),
    )
    .await;
    assert_eq!(h.detail(&cast.owner, &rel).await["reviews"], json!([]));
}

#[tokio::test]
async fn i4_decision_owner_cannot_review() {
    for backend in backends() {
        i4_decision_owner_cannot_review_on(backend).await;
    }
}

async fn i4_decision_owner_cannot_review_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let mut cast = h.cast().await;
    cast.owner = h
        .user("Owner who knows security", &["risk", "security"])
        .await;
    let rel = h.medium(&cast).await;
    h.submit(&cast, &rel).await;
    h.refused(
        &cast.owner,
        &reviews_path(&rel),
        &h.review_body(&rel, "security", "approve"),
        StatusCode::FORBIDDEN,
        &format!("{SOD}owner-cannot-review"),
    )
    .await;
    assert_eq!(h.detail(&cast.owner, &rel).await["reviews"], json!([]));
}

#[tokio::test]
async fn i4_one_person_fills_at_most_one_required_role() {
    for backend in backends() {
        i4_one_person_fills_at_most_one_required_role_on(backend).await;
    }
}

async fn i4_one_person_fills_at_most_one_required_role_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let both = h
        .user("Security and operations", &["security", "operations"])
        .await;
    let rel = h.medium(&cast).await;
    h.submit(&cast, &rel).await;
    h.review_ok(&both, &rel, "security", "approve").await;
    let p = h
        .refused(
            &both,
            &reviews_path(&rel),
            &h.review_body(&rel, "operations", "approve"),
            StatusCode::FORBIDDEN,
            &format!("{SOD}one-role-per-person"),
        )
        .await;
    assert!(p["detail"].as_str().unwrap().contains("security"), "{p}");
    let reviews = h.detail(&cast.owner, &rel).await["reviews"].clone();
    assert_eq!(reviews.as_array().unwrap().len(), 1);
    assert_eq!(reviews[0]["role"], "security");
    // The operations review is still open to someone else.
    h.review_ok(cast.reviewer("operations"), &rel, "operations", "approve")
        .await;
}

#[tokio::test]
async fn i4_submitter_cannot_be_decision_owner() {
    for backend in backends() {
        i4_submitter_cannot_be_decision_owner_on(backend).await;
    }
}

async fn i4_submitter_cannot_be_decision_owner_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let mut cast = h.cast().await;
    // The decision owner can author, and submits the release they would decide.
    cast.owner = h.user("Owner who also ships", &["risk", "mlops"]).await;
    let rel = h.medium(&cast).await;
    h.refused(
        &cast.owner,
        &format!("/v1/releases/{}/submit", rel.id),
        &json!({"revision": 1}),
        StatusCode::FORBIDDEN,
        &format!("{SOD}submitter-cannot-own"),
    )
    .await;
    let g = h.gate(&cast.owner, &rel).await;
    assert_eq!(g["status"], "draft");
    assert!(h.detail(&cast.owner, &rel).await["revisions"][0]["submitted_by"].is_null());
}

#[tokio::test]
async fn i4_trainer_cannot_be_decision_owner() {
    for backend in backends() {
        i4_trainer_cannot_be_decision_owner_on(backend).await;
    }
}

async fn i4_trainer_cannot_be_decision_owner_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let artifact = h.artifact();
    let mut bundle = h.bundle(&artifact);
    bundle["trainer"] = json!(cast.owner.id);
    let before = h.ledger_count().await;
    let r = h
        .create_release(
            &cast.author,
            &cast.system,
            &cast.owner,
            &json!({"customer_facing": true}),
            &bundle,
        )
        .await;
    assert_problem(
        &r,
        StatusCode::FORBIDDEN,
        &format!("{SOD}trainer-cannot-own"),
    );
    assert_eq!(h.ledger_count().await, before);
    assert_eq!(h.get_ok(&cast.author, "/v1/releases").await, json!([]));

    // Nor can a later revision make the owner the trainer.
    let rel = h.medium(&cast).await;
    let artifact = h.artifact();
    let mut bundle = h.bundle(&artifact);
    bundle["trainer"] = json!(cast.owner.id);
    h.refused(
        &cast.author,
        &format!("/v1/releases/{}/revisions", rel.id),
        &json!({"based_on_revision": 1, "bundle": bundle}),
        StatusCode::FORBIDDEN,
        &format!("{SOD}trainer-cannot-own"),
    )
    .await;
    assert_eq!(
        h.detail(&cast.owner, &rel).await["revisions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn i4_a_reviewer_must_hold_the_role() {
    for backend in backends() {
        i4_a_reviewer_must_hold_the_role_on(backend).await;
    }
}

async fn i4_a_reviewer_must_hold_the_role_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.submit(&cast, &rel).await;
    h.refused(
        cast.reviewer("operations"),
        &reviews_path(&rel),
        &h.review_body(&rel, "security", "approve"),
        StatusCode::FORBIDDEN,
        "missing-role",
    )
    .await;
    // An admin holds no reviewer role either.
    h.refused(
        &h.admin,
        &reviews_path(&rel),
        &h.review_body(&rel, "security", "approve"),
        StatusCode::FORBIDDEN,
        "missing-role",
    )
    .await;
    assert_eq!(h.detail(&cast.owner, &rel).await["reviews"], json!([]));
}
