//! I2 one gate: go is refused while anything is unmet; the owner may accept a named
//! gap; a veto rejection cannot be accepted away; an expired acceptance stops counting.

use crate::harness::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;

const MEDIUM_EVIDENCE: [&str; 4] = [
    "eval_report",
    "rollback_plan",
    "test_results",
    "threat_model",
];

fn decision_path(rel: &Rel) -> String {
    format!("/v1/releases/{}/decision", rel.id)
}

fn acceptance_path(rel: &Rel) -> String {
    format!("/v1/releases/{}/acceptances", rel.id)
}

#[tokio::test]
async fn i2_go_is_refused_while_anything_is_unmet() {
    for backend in backends() {
        i2_go_is_refused_while_anything_is_unmet_on(backend).await;
    }
}

async fn i2_go_is_refused_while_anything_is_unmet_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.submit(&cast, &rel).await;
    let go = h.decision_body(&rel, "go");

    // Nothing reviewed, nothing attached: every requirement is named in the refusal.
    let p = h
        .refused(
            &cast.owner,
            &decision_path(&rel),
            &go,
            StatusCode::CONFLICT,
            "gate-unmet",
        )
        .await;
    assert_eq!(
        gap_keys(&p["gaps"]),
        sorted(&[
            // With no eval report, every gated metric is missing too (I7).
            "eval_metric_missing:accuracy",
            "eval_metric_missing:toxicity",
            "missing_evidence:eval_report",
            "missing_evidence:rollback_plan",
            "missing_evidence:test_results",
            "missing_evidence:threat_model",
            "missing_review:mlops",
            "missing_review:operations",
            "missing_review:security",
        ])
    );

    // Evidence attached: only the reviews are left.
    h.attach_required_evidence(&cast, &rel).await;
    let p = h
        .refused(
            &cast.owner,
            &decision_path(&rel),
            &go,
            StatusCode::CONFLICT,
            "gate-unmet",
        )
        .await;
    assert_eq!(
        gap_keys(&p["gaps"]),
        sorted(&[
            "missing_review:mlops",
            "missing_review:operations",
            "missing_review:security",
        ])
    );

    // One review short is still refused, and the gap is named.
    h.review_ok(cast.reviewer("mlops"), &rel, "mlops", "approve")
        .await;
    h.review_ok(
        cast.reviewer("operations"),
        &rel,
        "operations",
        "approve_with_conditions",
    )
    .await;
    let p = h
        .refused(
            &cast.owner,
            &decision_path(&rel),
            &go,
            StatusCode::CONFLICT,
            "gate-unmet",
        )
        .await;
    assert_eq!(gap_keys(&p["gaps"]), ["missing_review:security"]);
    assert_eq!(h.status_of(&cast.owner, &rel).await, "in_review");

    h.review_ok(cast.reviewer("security"), &rel, "security", "approve")
        .await;
    h.go_ok(&cast, &rel).await;
    assert_eq!(h.status_of(&cast.owner, &rel).await, "approved");
}

#[tokio::test]
async fn i2_gate_status_lists_every_unmet_requirement_with_its_code() {
    for backend in backends() {
        i2_gate_status_lists_every_unmet_requirement_with_its_code_on(backend).await;
    }
}

async fn i2_gate_status_lists_every_unmet_requirement_with_its_code_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;

    // Before submission the gate already names everything.
    let g = h.gate(&cast.owner, &rel).await;
    assert_eq!(g["status"], "draft");
    assert_eq!(g["clear"], false);
    assert_eq!(gap_subjects(&g["unmet"], "missing_review").len(), 3);
    assert_eq!(
        gap_subjects(&g["unmet"], "missing_evidence"),
        MEDIUM_EVIDENCE
    );

    h.attach(&cast.author, &rel, "test_results", b"all green")
        .await;
    h.attach(&cast.author, &rel, "rollback_plan", b"flip the flag")
        .await;
    h.submit(&cast, &rel).await;
    h.review_ok(cast.reviewer("security"), &rel, "security", "reject")
        .await;
    h.review_ok(cast.reviewer("operations"), &rel, "operations", "reject")
        .await;

    let g = h.gate(cast.reviewer("mlops"), &rel).await;
    assert_eq!(g["tier"], "medium");
    assert_eq!(g["revision"], 1);
    assert_eq!(g["clear"], false);
    assert_eq!(
        gap_keys(&g["unmet"]),
        sorted(&[
            "eval_metric_missing:accuracy",
            "eval_metric_missing:toxicity",
            "missing_evidence:eval_report",
            "missing_evidence:threat_model",
            "missing_review:mlops",
            "rejected_review:operations",
            "veto_rejection:security",
        ])
    );
    // Without acceptances every gap is unmet.
    assert_eq!(g["gaps"], g["unmet"]);
    for gap in g["unmet"].as_array().unwrap() {
        let code = gap["code"].as_str().unwrap();
        assert!(
            [
                "missing_review",
                "rejected_review",
                "veto_rejection",
                "missing_evidence",
                "eval_metric_missing",
            ]
            .contains(&code),
            "unstable gap code {code}"
        );
        assert_eq!(
            gap["gap"].as_str().unwrap(),
            format!("{code}:{}", gap["subject"].as_str().unwrap())
        );
        assert_eq!(gap["acceptable"], code != "veto_rejection", "{gap}");
        assert_eq!(gap["accepted"], false);
        assert!(gap["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // The requested reviews and where they stand.
    let states: Vec<(String, String)> = g["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(
                r["due_at"].is_string(),
                "a submitted revision has due dates: {r}"
            );
            (
                r["role"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut states = states;
    states.sort();
    assert_eq!(
        states,
        [
            ("mlops".to_owned(), "pending".to_owned()),
            ("operations".to_owned(), "reject".to_owned()),
            ("security".to_owned(), "reject".to_owned()),
        ]
    );

    // The refusal of go names the same gaps.
    let p = h
        .refused(
            &cast.owner,
            &decision_path(&rel),
            &h.decision_body(&rel, "go"),
            StatusCode::CONFLICT,
            "gate-unmet",
        )
        .await;
    assert_eq!(gap_keys(&p["gaps"]), gap_keys(&g["unmet"]));
}

#[tokio::test]
async fn i2_accepted_gaps_allow_go() {
    for backend in backends() {
        i2_accepted_gaps_allow_go_on(backend).await;
    }
}

async fn i2_accepted_gaps_allow_go_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.submit(&cast, &rel).await;

    let unmet = gap_keys(&h.gate(&cast.owner, &rel).await["unmet"]);
    assert_eq!(unmet.len(), 9, "{unmet:?}");
    for gap in &unmet {
        let a = h
            .command(
                &cast.owner,
                &acceptance_path(&rel),
                &h.acceptance_body(&rel, gap, Duration::days(30)),
                "risk.accept",
            )
            .await;
        assert_eq!(a["gap"], gap.as_str());
        assert_eq!(a["accepted_by"], cast.owner.id.as_str());
    }
    let g = h.gate(&cast.owner, &rel).await;
    assert_eq!(g["clear"], true);
    assert_eq!(g["unmet"], json!([]));
    assert!(g["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["accepted"] == true));

    let before = h.ledger_count().await;
    h.go_ok(&cast, &rel).await;
    // The decision's ledger entry names every gap the owner accepted.
    let entry = &h.ledger_after(before).await[0];
    let mut accepted: Vec<String> = entry.payload["accepted_gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect();
    accepted.sort();
    assert_eq!(accepted, unmet);
}

#[tokio::test]
async fn i2_an_expired_acceptance_stops_counting() {
    for backend in backends() {
        i2_an_expired_acceptance_stops_counting_on(backend).await;
    }
}

async fn i2_an_expired_acceptance_stops_counting_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.attach_required_evidence(&cast, &rel).await;
    h.submit(&cast, &rel).await;
    h.review_ok(cast.reviewer("mlops"), &rel, "mlops", "approve")
        .await;
    h.review_ok(cast.reviewer("operations"), &rel, "operations", "approve")
        .await;

    let (s, b) = h
        .accept(&cast, &rel, "missing_review:security", Duration::hours(1))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(h.gate(&cast.owner, &rel).await["clear"], true);

    h.advance(Duration::hours(2));
    let g = h.gate(&cast.owner, &rel).await;
    assert_eq!(g["clear"], false);
    assert_eq!(gap_keys(&g["unmet"]), ["missing_review:security"]);
    assert_eq!(g["gaps"][0]["accepted"], false);
    let p = h
        .refused(
            &cast.owner,
            &decision_path(&rel),
            &h.decision_body(&rel, "go"),
            StatusCode::CONFLICT,
            "gate-unmet",
        )
        .await;
    assert_eq!(gap_keys(&p["gaps"]), ["missing_review:security"]);

    // A fresh acceptance clears the gate again; go is recorded; when that acceptance
    // too expires before promotion, promotion is refused (the gate is checked again).
    let (s, b) = h
        .accept(&cast, &rel, "missing_review:security", Duration::hours(1))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    h.go_ok(&cast, &rel).await;
    h.advance(Duration::hours(2));
    let p = h
        .refused(
            cast.reviewer("operations"),
            &format!("/v1/releases/{}/promote", rel.id),
            &json!({"revision": 1}),
            StatusCode::CONFLICT,
            "gate-unmet",
        )
        .await;
    assert_eq!(gap_keys(&p["gaps"]), ["missing_review:security"]);
    assert_eq!(h.status_of(&cast.owner, &rel).await, "approved");
}

#[tokio::test]
async fn i2_a_veto_rejection_cannot_be_accepted() {
    for backend in backends() {
        i2_a_veto_rejection_cannot_be_accepted_on(backend).await;
    }
}

async fn i2_a_veto_rejection_cannot_be_accepted_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.attach_required_evidence(&cast, &rel).await;
    h.submit(&cast, &rel).await;
    h.review_ok(cast.reviewer("mlops"), &rel, "mlops", "approve")
        .await;
    h.review_ok(cast.reviewer("operations"), &rel, "operations", "approve")
        .await;
    // security is a veto role of tier medium.
    h.review_ok(cast.reviewer("security"), &rel, "security", "reject")
        .await;

    let g = h.gate(&cast.owner, &rel).await;
    assert_eq!(gap_keys(&g["unmet"]), ["veto_rejection:security"]);
    assert_eq!(g["unmet"][0]["acceptable"], false);

    let body = h.acceptance_body(&rel, "veto_rejection:security", Duration::days(30));
    h.refused(
        &cast.owner,
        &acceptance_path(&rel),
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "veto-not-acceptable",
    )
    .await;
    // Nor can the veto be renamed into an acceptable gap.
    for disguise in ["rejected_review:security", "missing_review:security"] {
        h.refused(
            &cast.owner,
            &acceptance_path(&rel),
            &h.acceptance_body(&rel, disguise, Duration::days(30)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-gap",
        )
        .await;
    }
    let p = h
        .refused(
            &cast.owner,
            &decision_path(&rel),
            &h.decision_body(&rel, "go"),
            StatusCode::CONFLICT,
            "gate-unmet",
        )
        .await;
    assert_eq!(gap_keys(&p["gaps"]), ["veto_rejection:security"]);
    assert_eq!(p["gaps"][0]["acceptable"], false);
    assert_eq!(h.detail(&cast.owner, &rel).await["acceptances"], json!([]));

    // No-go is always open to the owner.
    h.command(
        &cast.owner,
        &decision_path(&rel),
        &h.decision_body(&rel, "no_go"),
        "release.decide",
    )
    .await;
    assert_eq!(h.status_of(&cast.owner, &rel).await, "rejected");
}

#[tokio::test]
async fn i2_a_non_veto_rejection_can_be_accepted() {
    for backend in backends() {
        i2_a_non_veto_rejection_can_be_accepted_on(backend).await;
    }
}

async fn i2_a_non_veto_rejection_can_be_accepted_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.attach_required_evidence(&cast, &rel).await;
    h.submit(&cast, &rel).await;
    h.review_ok(cast.reviewer("mlops"), &rel, "mlops", "approve")
        .await;
    h.review_ok(cast.reviewer("security"), &rel, "security", "approve")
        .await;
    // operations is not a veto role of tier medium.
    h.review_ok(cast.reviewer("operations"), &rel, "operations", "reject")
        .await;

    let g = h.gate(&cast.owner, &rel).await;
    assert_eq!(gap_keys(&g["unmet"]), ["rejected_review:operations"]);
    assert_eq!(g["unmet"][0]["acceptable"], true);
    h.refused(
        &cast.owner,
        &decision_path(&rel),
        &h.decision_body(&rel, "go"),
        StatusCode::CONFLICT,
        "gate-unmet",
    )
    .await;

    h.command(
        &cast.owner,
        &acceptance_path(&rel),
        &h.acceptance_body(&rel, "rejected_review:operations", Duration::days(30)),
        "risk.accept",
    )
    .await;
    h.go_ok(&cast, &rel).await;
    h.deploy_ok(cast.reviewer("mlops"), &rel, "promote").await;
    assert!(h.allowed(&cast.author, &rel.artifact, "production").await);
}

#[tokio::test]
async fn i2_an_acceptance_names_a_real_gap_with_a_reason_and_an_expiry() {
    for backend in backends() {
        i2_an_acceptance_names_a_real_gap_with_a_reason_and_an_expiry_on(backend).await;
    }
}

async fn i2_an_acceptance_names_a_real_gap_with_a_reason_and_an_expiry_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    let path = acceptance_path(&rel);

    // Only a revision under review has gaps to accept.
    h.refused(
        &cast.owner,
        &path,
        &h.acceptance_body(&rel, "missing_review:security", Duration::days(1)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not-in-review",
    )
    .await;
    h.submit(&cast, &rel).await;

    // A requirement the tier does not have is no gap.
    h.refused(
        &cast.owner,
        &path,
        &h.acceptance_body(&rel, "missing_review:legal", Duration::days(1)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown-gap",
    )
    .await;
    // A gap key that does not parse does not fit the schema.
    h.refused(
        &cast.owner,
        &path,
        &h.acceptance_body(&rel, "please-ship-it", Duration::days(1)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-body",
    )
    .await;
    let mut short = h.acceptance_body(&rel, "missing_review:security", Duration::days(1));
    short["justification"] = json!("ok");
    h.refused(
        &cast.owner,
        &path,
        &short,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-justification",
    )
    .await;
    h.refused(
        &cast.owner,
        &path,
        &h.acceptance_body(&rel, "missing_review:security", Duration::seconds(-1)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-expiry",
    )
    .await;
    assert_eq!(h.detail(&cast.owner, &rel).await["acceptances"], json!([]));
}

#[tokio::test]
async fn i2_a_review_must_be_for_a_required_role_and_only_once() {
    for backend in backends() {
        i2_a_review_must_be_for_a_required_role_and_only_once_on(backend).await;
    }
}

async fn i2_a_review_must_be_for_a_required_role_and_only_once_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    // Not in review yet.
    let path = format!("/v1/releases/{}/reviews", rel.id);
    h.refused(
        cast.reviewer("security"),
        &path,
        &h.review_body(&rel, "security", "approve"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not-in-review",
    )
    .await;
    h.submit(&cast, &rel).await;
    // Tier medium does not ask privacy.
    h.refused(
        cast.reviewer("privacy"),
        &path,
        &h.review_body(&rel, "privacy", "approve"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "role-not-required",
    )
    .await;
    // A review answers the role's whole checklist.
    let mut partial = h.review_body(&rel, "security", "approve");
    partial["answers"] = json!({"threat-model": "yes"});
    h.refused(
        cast.reviewer("security"),
        &path,
        &partial,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-review",
    )
    .await;
    h.review_ok(cast.reviewer("security"), &rel, "security", "approve")
        .await;
    // One review per role and revision.
    let second = h.user("Second security", &["security"]).await;
    h.refused(
        &second,
        &path,
        &h.review_body(&rel, "security", "reject"),
        StatusCode::CONFLICT,
        "already-exists",
    )
    .await;
}

#[tokio::test]
async fn i2_an_expired_acceptance_closes_the_gate_check_too() {
    for backend in backends() {
        i2_an_expired_acceptance_closes_the_gate_check_too_on(backend).await;
    }
}

async fn i2_an_expired_acceptance_closes_the_gate_check_too_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.attach_required_evidence(&cast, &rel).await;
    h.submit(&cast, &rel).await;
    h.review_ok(cast.reviewer("mlops"), &rel, "mlops", "approve")
        .await;
    h.review_ok(cast.reviewer("operations"), &rel, "operations", "approve")
        .await;
    let (s, b) = h
        .accept(&cast, &rel, "missing_review:security", Duration::hours(1))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    h.go_ok(&cast, &rel).await;
    assert!(h.allowed(&cast.author, &rel.artifact, "production").await);

    // The acceptance lapses before anyone deploys. Promotion through the API is now
    // refused, so a pipeline asking the gate check must be refused as well: otherwise
    // the CI gate lets through what the release gate itself no longer allows.
    h.advance(Duration::hours(2));
    h.refused(
        cast.reviewer("operations"),
        &format!("/v1/releases/{}/promote", rel.id),
        &json!({"revision": 1}),
        StatusCode::CONFLICT,
        "gate-unmet",
    )
    .await;
    let c = h.check(&cast.author, &rel.artifact, "production").await;
    assert_eq!(
        c["allowed"], false,
        "an approved revision whose accepted gap has expired must not pass the gate check: {c}"
    );
}
