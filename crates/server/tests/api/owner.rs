//! I1 one owner: every release has exactly one named human decision owner, and only
//! that owner decides; every system has one existing owner.

use crate::harness::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn i1_a_release_has_exactly_one_decision_owner() {
    for backend in backends() {
        i1_a_release_has_exactly_one_decision_owner_on(backend).await;
    }
}

async fn i1_a_release_has_exactly_one_decision_owner_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    let d = h.detail(&cast.owner, &rel).await;
    assert_eq!(d["release"]["decision_owner"], cast.owner.id.as_str());
    assert_eq!(d["release"]["created_by"], cast.author.id.as_str());
}

#[tokio::test]
async fn i1_only_the_decision_owner_decides() {
    for backend in backends() {
        i1_only_the_decision_owner_decides_on(backend).await;
    }
}

async fn i1_only_the_decision_owner_decides_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.approve_everything(&cast, &rel).await;
    let path = format!("/v1/releases/{}/decision", rel.id);

    // Others holding roles, including every reviewer, another risk holder and an
    // admin, cannot decide: reviewers give conditional approvals, never the decision.
    let another_risk = h.user("Another risk officer", &["risk", "mlops"]).await;
    let mut others = vec![h.admin.clone(), cast.author.clone(), another_risk];
    others.extend(cast.reviewers.values().cloned());
    for other in &others {
        for decision in ["go", "no_go"] {
            h.refused(
                other,
                &path,
                &h.decision_body(&rel, decision),
                StatusCode::FORBIDDEN,
                "not-decision-owner",
            )
            .await;
        }
    }
    // Nor can they accept risk on the owner's behalf.
    h.refused(
        cast.reviewer("security"),
        &format!("/v1/releases/{}/acceptances", rel.id),
        &h.acceptance_body(&rel, "missing_review:security", chrono::Duration::days(7)),
        StatusCode::FORBIDDEN,
        "not-decision-owner",
    )
    .await;
    assert_eq!(h.status_of(&cast.owner, &rel).await, "in_review");

    let d = h.go_ok(&cast, &rel).await;
    assert_eq!(d["decided_by"], cast.owner.id.as_str());
    assert_eq!(d["decision"], "go");
    let detail = h.detail(&cast.owner, &rel).await;
    assert_eq!(detail["release"]["status"], "approved");
    assert_eq!(detail["decisions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn i1_a_system_needs_an_existing_owner() {
    for backend in backends() {
        i1_a_system_needs_an_existing_owner_on(backend).await;
    }
}

async fn i1_a_system_needs_an_existing_owner_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let before = h.get_ok(&h.admin, "/v1/systems").await;
    h.refused(
        &h.admin,
        "/v1/systems",
        &json!({"name": "payments", "owner": "usr_does_not_exist"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown-owner",
    )
    .await;
    // No owner at all does not fit the schema.
    h.refused(
        &h.admin,
        "/v1/systems",
        &json!({"name": "payments"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-body",
    )
    .await;
    assert_eq!(h.get_ok(&h.admin, "/v1/systems").await, before);

    let owner = h.user("Owner", &["operations"]).await;
    let s = h
        .command(
            &h.admin,
            "/v1/systems",
            &json!({"name": "payments", "owner": owner.id}),
            "system.create",
        )
        .await;
    assert_eq!(s["owner"], owner.id.as_str());
}

#[tokio::test]
async fn i1_a_release_needs_an_existing_decision_owner() {
    for backend in backends() {
        i1_a_release_needs_an_existing_decision_owner_on(backend).await;
    }
}

async fn i1_a_release_needs_an_existing_decision_owner_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let nobody = TestUser {
        id: "usr_does_not_exist".into(),
        token: String::new(),
    };
    let before = h.ledger_count().await;
    let art = h.artifact();
    let r = h
        .create_release(
            &cast.author,
            &cast.system,
            &nobody,
            &json!({}),
            &h.bundle(&art),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "unknown-owner");
    assert_eq!(h.ledger_count().await, before);
    assert_eq!(h.get_ok(&cast.author, "/v1/releases").await, json!([]));
}
