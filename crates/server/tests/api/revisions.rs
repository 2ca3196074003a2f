//! I3 bound approvals: reviews, decisions and acceptances bind to a bundle digest; a
//! bundle change is a new revision and nothing approved for the old one counts.

use crate::harness::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn revise_path(rel: &Rel) -> String {
    format!("/v1/releases/{}/revisions", rel.id)
}

/// Revises `rel` to a bundle with a new artifact; returns the new revision's view.
async fn revise_to(
    h: &Harness,
    cast: &Cast,
    rel: &mut Rel,
    bundle: Value,
    artifact: &str,
) -> Value {
    let r = h
        .command(
            &cast.author,
            &revise_path(rel),
            &json!({"based_on_revision": rel.revision, "bundle": bundle}),
            "release.revise",
        )
        .await;
    rel.revision = r["revision"]["number"].as_u64().unwrap() as u32;
    rel.artifact = artifact.to_owned();
    r
}

#[tokio::test]
async fn i3_a_bundle_change_voids_approvals() {
    for backend in backends() {
        i3_a_bundle_change_voids_approvals_on(backend).await;
    }
}

async fn i3_a_bundle_change_voids_approvals_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let mut rel = h.medium(&cast).await;
    h.approve_everything(&cast, &rel).await;
    h.go_ok(&cast, &rel).await;
    let old_artifact = rel.artifact.clone();
    assert!(h.allowed(&cast.author, &old_artifact, "production").await);
    let old_digest = h.gate(&cast.owner, &rel).await["bundle_digest"].clone();

    let new_artifact = h.artifact();
    let r = revise_to(&h, &cast, &mut rel, h.bundle(&new_artifact), &new_artifact).await;
    assert_eq!(r["revision"]["number"], 2);
    assert_eq!(r["release"]["status"], "draft");
    assert_eq!(r["release"]["current_revision"], 2);
    assert_eq!(r["release"]["environment"], Value::Null);
    assert_ne!(r["revision"]["bundle_digest"], old_digest);

    // Revision 2 starts from nothing: every review and every document is missing.
    let g = h.gate(&cast.owner, &rel).await;
    assert_eq!(g["revision"], 2);
    assert_eq!(g["clear"], false);
    assert_eq!(
        sorted(
            &gap_subjects(&g["unmet"], "missing_review")
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        ),
        sorted(&["mlops", "operations", "security"])
    );
    assert_eq!(gap_subjects(&g["unmet"], "missing_evidence").len(), 4);
    assert!(g["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["state"] == "pending" && r["reviewer"].is_null()));

    // History is kept: the old reviews and the old go are still there, bound to the old
    // bundle digest, and revision 1's own gate still reads clear.
    let d = h.detail(&cast.owner, &rel).await;
    assert_eq!(d["revisions"].as_array().unwrap().len(), 2);
    let reviews = d["reviews"].as_array().unwrap();
    assert_eq!(reviews.len(), 3);
    assert!(reviews
        .iter()
        .all(|r| r["revision"] == 1 && r["bundle_digest"] == old_digest));
    assert_eq!(d["decisions"].as_array().unwrap().len(), 1);
    assert_eq!(d["decisions"][0]["bundle_digest"], old_digest);
    let g1 = h
        .get_ok(
            &cast.owner,
            &format!("/v1/releases/{}/gate?revision=1", rel.id),
        )
        .await;
    assert_eq!(g1["revision"], 1);
    assert_eq!(g1["clear"], true);

    // The pipeline may no longer deploy the old artifact, nor the unapproved new one.
    let c = h.check(&cast.author, &old_artifact, "production").await;
    assert_eq!(c["allowed"], false, "{c}");
    assert!(!h.allowed(&cast.author, &new_artifact, "production").await);

    // Go on revision 2 is refused until revision 2 is reviewed in its own right.
    h.submit(&cast, &rel).await;
    let p = h
        .refused(
            &cast.owner,
            &format!("/v1/releases/{}/decision", rel.id),
            &h.decision_body(&rel, "go"),
            StatusCode::CONFLICT,
            "gate-unmet",
        )
        .await;
    // 3 reviews, 4 evidence kinds, 2 gated metrics without a report (I7).
    assert_eq!(p["gaps"].as_array().unwrap().len(), 9);
    h.attach_required_evidence(&cast, &rel).await;
    h.approve_missing_reviews(&cast, &rel).await;
    h.go_ok(&cast, &rel).await;
    assert!(h.allowed(&cast.author, &new_artifact, "production").await);
    assert!(!h.allowed(&cast.author, &old_artifact, "production").await);
}

#[tokio::test]
async fn i3_any_bundle_field_change_is_a_new_revision() {
    for backend in backends() {
        i3_any_bundle_field_change_is_a_new_revision_on(backend).await;
    }
}

async fn i3_any_bundle_field_change_is_a_new_revision_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let mut rel = h.medium(&cast).await;
    h.approve_everything(&cast, &rel).await;
    h.go_ok(&cast, &rel).await;
    let artifact = rel.artifact.clone();
    assert!(h.allowed(&cast.author, &artifact, "production").await);

    // The same bundle again is no change.
    h.refused(
        &cast.author,
        &revise_path(&rel),
        &json!({"based_on_revision": 1, "bundle": h.bundle(&artifact)}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "bundle-unchanged",
    )
    .await;

    // Same artifact, one changed parameter: still a new revision, approvals void.
    let mut bundle = h.bundle(&artifact);
    bundle["parameters"]["temperature"] = json!(0.3);
    let r = revise_to(&h, &cast, &mut rel, bundle, &artifact).await;
    assert_eq!(r["revision"]["number"], 2);
    assert_eq!(h.status_of(&cast.owner, &rel).await, "draft");
    let c = h.check(&cast.author, &artifact, "production").await;
    assert_eq!(c["allowed"], false, "{c}");
    assert_eq!(
        gap_subjects(&h.gate(&cast.owner, &rel).await["unmet"], "missing_review").len(),
        3
    );
}

#[tokio::test]
async fn i3_a_stale_revision_is_refused() {
    for backend in backends() {
        i3_a_stale_revision_is_refused_on(backend).await;
    }
}

async fn i3_a_stale_revision_is_refused_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let mut rel = h.medium(&cast).await;
    h.attach_required_evidence(&cast, &rel).await;
    h.submit(&cast, &rel).await;
    h.review_ok(cast.reviewer("mlops"), &rel, "mlops", "approve")
        .await;

    // A change made while revision 1 is in review.
    let stale = rel.clone();
    let new_artifact = h.artifact();
    revise_to(&h, &cast, &mut rel, h.bundle(&new_artifact), &new_artifact).await;
    assert_eq!(rel.revision, 2);

    let check_stale = |p: Value| assert_eq!(p["current_revision"], 2, "{p}");
    let another = h.artifact();
    check_stale(
        h.refused(
            &cast.author,
            &revise_path(&rel),
            &json!({"based_on_revision": 1, "bundle": h.bundle(&another)}),
            StatusCode::CONFLICT,
            "stale-revision",
        )
        .await,
    );
    // A revision from the future is no better.
    h.refused(
        &cast.author,
        &revise_path(&rel),
        &json!({"based_on_revision": 3, "bundle": h.bundle(&another)}),
        StatusCode::CONFLICT,
        "stale-revision",
    )
    .await;
    check_stale(
        h.refused(
            &cast.author,
            &format!("/v1/releases/{}/submit", rel.id),
            &json!({"revision": 1}),
            StatusCode::CONFLICT,
            "stale-revision",
        )
        .await,
    );
    h.submit(&cast, &rel).await;
    for (who, path, body) in [
        (
            cast.reviewer("security"),
            format!("/v1/releases/{}/reviews", rel.id),
            h.review_body(&stale, "security", "approve"),
        ),
        (
            &cast.owner,
            format!("/v1/releases/{}/decision", rel.id),
            h.decision_body(&stale, "no_go"),
        ),
        (
            &cast.owner,
            format!("/v1/releases/{}/acceptances", rel.id),
            h.acceptance_body(&stale, "missing_review:security", chrono::Duration::days(1)),
        ),
        (
            cast.reviewer("mlops"),
            format!("/v1/releases/{}/promote", rel.id),
            json!({"revision": 1}),
        ),
    ] {
        check_stale(
            h.refused(who, &path, &body, StatusCode::CONFLICT, "stale-revision")
                .await,
        );
    }
    // Evidence for the old revision is refused too.
    let before = h.ledger_count().await;
    let r = h
        .upload(
            &cast.author,
            &format!(
                "/v1/releases/{}/evidence?revision=1&kind=threat_model&name=tm.pdf",
                rel.id
            ),
            b"late",
        )
        .await;
    r.assert_problem(StatusCode::CONFLICT, "stale-revision");
    assert_eq!(h.ledger_count().await, before);
    // Nothing was recorded against revision 2 by the stale requests.
    let d = h.detail(&cast.owner, &rel).await;
    assert_eq!(d["reviews"].as_array().unwrap().len(), 1);
    assert_eq!(d["decisions"], json!([]));
    assert_eq!(d["acceptances"], json!([]));
    assert_eq!(d["release"]["status"], "in_review");
}

#[tokio::test]
async fn i3_acceptances_do_not_carry_over_to_a_new_revision() {
    for backend in backends() {
        i3_acceptances_do_not_carry_over_to_a_new_revision_on(backend).await;
    }
}

async fn i3_acceptances_do_not_carry_over_to_a_new_revision_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let mut rel = h.medium(&cast).await;
    h.attach_required_evidence(&cast, &rel).await;
    h.submit(&cast, &rel).await;
    h.review_ok(cast.reviewer("mlops"), &rel, "mlops", "approve")
        .await;
    h.review_ok(cast.reviewer("operations"), &rel, "operations", "approve")
        .await;
    let (s, b) = h
        .accept(
            &cast,
            &rel,
            "missing_review:security",
            chrono::Duration::days(30),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(h.gate(&cast.owner, &rel).await["clear"], true);

    let artifact = h.artifact();
    revise_to(&h, &cast, &mut rel, h.bundle(&artifact), &artifact).await;
    h.attach_required_evidence(&cast, &rel).await;
    h.submit(&cast, &rel).await;
    h.review_ok(cast.reviewer("mlops"), &rel, "mlops", "approve")
        .await;
    h.review_ok(cast.reviewer("operations"), &rel, "operations", "approve")
        .await;
    let g = h.gate(&cast.owner, &rel).await;
    assert_eq!(g["clear"], false);
    assert_eq!(gap_keys(&g["unmet"]), ["missing_review:security"]);
    assert_eq!(g["unmet"][0]["accepted"], false);
    h.refused(
        &cast.owner,
        &format!("/v1/releases/{}/decision", rel.id),
        &h.decision_body(&rel, "go"),
        StatusCode::CONFLICT,
        "gate-unmet",
    )
    .await;
    // The old acceptance is history, bound to the old bundle.
    let d = h.detail(&cast.owner, &rel).await;
    assert_eq!(d["acceptances"].as_array().unwrap().len(), 1);
    assert_eq!(d["acceptances"][0]["revision"], 1);
}

#[tokio::test]
async fn i3_revised_attributes_carry_over_to_the_next_revision() {
    for backend in backends() {
        i3_revised_attributes_carry_over_to_the_next_revision_on(backend).await;
    }
}

async fn i3_revised_attributes_carry_over_to_the_next_revision_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let mut rel = h.medium(&cast).await;
    // Revision 2 declares the release regulated; revision 3 changes only the bundle
    // and must keep those attributes (and the tier they put it in).
    let a2 = h.artifact();
    let r2 = h
        .command(
            &cast.author,
            &revise_path(&rel),
            &json!({"based_on_revision": 1, "bundle": h.bundle(&a2),
                    "attributes": {"customer_facing": true, "regulated": true}}),
            "release.revise",
        )
        .await;
    rel.revision = 2;
    let tier2 = r2["revision"]["tier"].clone();
    assert_eq!(
        h.detail(&cast.owner, &rel).await["release"]["attributes"]["regulated"],
        true
    );
    let a3 = h.artifact();
    let r3 = revise_to(&h, &cast, &mut rel, h.bundle(&a3), &a3).await;
    assert_eq!(r3["revision"]["tier"], tier2);
    let d = h.detail(&cast.owner, &rel).await;
    assert_eq!(d["release"]["attributes"]["regulated"], true, "{d}");
    assert_eq!(d["revisions"][2]["tier"], tier2);
}
