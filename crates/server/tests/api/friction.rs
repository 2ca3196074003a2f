//! Friction against rubber-stamping (issue 12): a tier's `min_review_seconds`,
//! `require_opened_evidence` and `confirm_digest` refuse an approving review or
//! step-up approval through the API, naming the rule, until each is met; refusals
//! change nothing; rejecting is never slowed; the accountability report counts what
//! was enforced.

use crate::agents::{scope, world, World};
use crate::harness::*;
use crate::runtime::{credential, decide, write_body};
use chrono::Duration;
use countersign_core::friction::Friction;
use countersign_core::profile::Profile;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The example profile with every friction rule on the medium tier.
fn strict_medium() -> Profile {
    let mut p = example_profile();
    for t in &mut p.tiers {
        if t.name == "medium" {
            t.friction = Friction {
                min_review_seconds: Some(60),
                require_opened_evidence: true,
                confirm_digest: true,
            };
        }
    }
    p
}

fn head8(digest: &str) -> String {
    digest.trim_start_matches("sha256:")[..8].to_owned()
}

async fn submitted_medium(h: &Harness, cast: &Cast) -> Rel {
    let rel = h.medium(cast).await;
    h.attach_required_evidence(cast, &rel).await;
    h.submit(cast, &rel).await;
    rel
}

fn signals_of(report: &Value, user: &str, kind: &str) -> Value {
    report
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["user"] == user && s["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} signals for {user}: {report}"))
        .clone()
}

#[tokio::test]
async fn friction_refuses_an_approving_review_until_each_rule_is_met() {
    for backend in backends() {
        let h = Harness::start_with_profile(backend, strict_medium()).await;
        let cast = h.cast().await;
        let rel = submitted_medium(&h, &cast).await;
        let reviewer = cast.reviewer("security");
        let path = format!("/v1/releases/{}/reviews", rel.id);
        let mut body = h.review_body(&rel, "security", "approve");

        // Never opened: the time rule cannot even start counting.
        let p = h
            .refused(
                reviewer,
                &path,
                &body,
                StatusCode::CONFLICT,
                "friction-min-review-seconds",
            )
            .await;
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("not opened this yet"),
            "{p}"
        );

        // Reading the release records the first opening, once, with its entry.
        let before = h.ledger_count().await;
        let detail = h.detail(reviewer, &rel).await;
        h.assert_one_entry(before, "release.open").await;
        h.detail(reviewer, &rel).await;
        assert_eq!(
            h.ledger_count().await,
            before + 1,
            "a second reading writes nothing"
        );
        h.advance(Duration::seconds(30));
        let p = h
            .refused(
                reviewer,
                &path,
                &body,
                StatusCode::CONFLICT,
                "friction-min-review-seconds",
            )
            .await;
        assert!(p["detail"].as_str().unwrap().contains("in 30 s"), "{p}");

        // Time enough; the required documents were not opened.
        h.advance(Duration::seconds(30));
        let p = h
            .refused(
                reviewer,
                &path,
                &body,
                StatusCode::CONFLICT,
                "friction-require-opened-evidence",
            )
            .await;
        let required = [
            "test_results",
            "rollback_plan",
            "eval_report",
            "threat_model",
        ];
        for kind in required {
            assert!(
                p["detail"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("{kind}.pdf")),
                "{kind} is named: {p}"
            );
        }
        for e in detail["evidence"].as_array().unwrap() {
            let before = h.ledger_count().await;
            let r = h
                .get_full(
                    reviewer,
                    &format!("/v1/evidence/{}", e["digest"].as_str().unwrap()),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK);
            h.assert_one_entry(before, "evidence.open").await;
        }

        // The digest, not typed, then typed wrong, then right.
        let p = h
            .refused(
                reviewer,
                &path,
                &body,
                StatusCode::UNPROCESSABLE_ENTITY,
                "friction-confirm-digest",
            )
            .await;
        assert!(
            p["detail"].as_str().unwrap().contains("first 8 characters"),
            "{p}"
        );
        body["confirm_digest"] = json!("00000000");
        h.refused(
            reviewer,
            &path,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "friction-confirm-digest",
        )
        .await;
        let digest = detail["revisions"][0]["bundle_digest"].as_str().unwrap();
        body["confirm_digest"] = json!(head8(digest).to_uppercase());
        let before = h.ledger_count().await;
        let r = h.post_full(reviewer, &path, &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let entries = h.ledger_after(before).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].action, "review.record");
        assert_eq!(
            entries[0].payload["friction"],
            json!([
                "min_review_seconds",
                "require_opened_evidence",
                "confirm_digest"
            ]),
            "the entry names the rules the review met"
        );

        let report = h.get_ok(&h.admin, "/v1/accountability").await;
        let mine = signals_of(&report, &reviewer.id, "release_review");
        assert_eq!(
            mine["friction_enforced"],
            json!({"confirm_digest": 1, "min_review_seconds": 1, "require_opened_evidence": 1}),
            "{mine}"
        );
        assert_eq!(mine["median_seconds_from_open"], 60, "{mine}");
    }
}

#[tokio::test]
async fn friction_never_slows_a_rejection() {
    for backend in backends() {
        let h = Harness::start_with_profile(backend, strict_medium()).await;
        let cast = h.cast().await;
        let rel = submitted_medium(&h, &cast).await;
        // Unopened, at once, no digest: a rejection is recorded.
        let r = h
            .review_ok(cast.reviewer("security"), &rel, "security", "reject")
            .await;
        assert_eq!(r["verdict"], "reject");
        // The harness's careful reviewer meets every rule and approves.
        let r = h
            .review_ok(cast.reviewer("mlops"), &rel, "mlops", "approve")
            .await;
        assert_eq!(r["verdict"], "approve");
    }
}

/// The world (its agent acts under a promoted medium release, reviewed with the
/// friction rules met) and a pending step-up of its agent's refund.
async fn step_up(h: &Harness) -> (World, String) {
    let w = world(h).await;
    let sys = w.cast.system.clone();
    let t = credential(
        h,
        &w,
        &["write"],
        json!({}),
        &scope(&sys, "write", "orders/*"),
    )
    .await;
    let d = decide(h, &t, write_body(&w, 120)).await;
    assert_eq!(d["decision"], "step_up", "{d}");
    let apr = d["approval"]["id"].as_str().unwrap().to_owned();
    (w, apr)
}

#[tokio::test]
async fn a_step_up_approval_waits_for_its_time_and_the_typed_action_digest() {
    for backend in backends() {
        let h = Harness::start_with_profile(backend, strict_medium()).await;
        let (w, apr) = step_up(&h).await;
        let apr = apr.as_str();
        let path = format!("/v1/approvals/{apr}/approve");
        let mut body = json!({"comment": "within the refund policy"});
        let approver = &w.cast.owner;

        h.refused(
            approver,
            &path,
            &body,
            StatusCode::CONFLICT,
            "friction-min-review-seconds",
        )
        .await;
        // The approver opens it, and the time counts from then.
        let opened = h.get_ok(approver, &format!("/v1/approvals/{apr}")).await;
        h.advance(Duration::seconds(59));
        h.refused(
            approver,
            &path,
            &body,
            StatusCode::CONFLICT,
            "friction-min-review-seconds",
        )
        .await;
        h.advance(Duration::seconds(1));
        // No evidence rule for a step-up: the digest is what is left.
        let p = h
            .refused(
                approver,
                &path,
                &body,
                StatusCode::UNPROCESSABLE_ENTITY,
                "friction-confirm-digest",
            )
            .await;
        assert!(!p["detail"].as_str().unwrap().contains("evidence"), "{p}");
        body["confirm_digest"] = json!(head8(opened["action_digest"].as_str().unwrap()));
        let v = h.command(approver, &path, &body, "approval.approve").await;
        assert_eq!(v["state"], "approved", "{v}");
        let entry = h.ledger_after(0).await.pop().unwrap();
        assert_eq!(
            entry.payload["friction"],
            json!(["min_review_seconds", "confirm_digest"])
        );

        let report = h.get_ok(&h.admin, "/v1/accountability").await;
        let mine = signals_of(&report, &approver.id, "step_up");
        assert_eq!(
            mine["friction_enforced"],
            json!({"confirm_digest": 1, "min_review_seconds": 1}),
            "{mine}"
        );
    }
}

#[tokio::test]
async fn a_denial_of_a_step_up_is_never_slowed() {
    for backend in backends() {
        let h = Harness::start_with_profile(backend, strict_medium()).await;
        let (w, apr) = step_up(&h).await;
        let v = h
            .command(
                &w.cast.owner,
                &format!("/v1/approvals/{apr}/deny"),
                &json!({"comment": "not without the customer's consent"}),
                "approval.deny",
            )
            .await;
        assert_eq!(v["state"], "denied", "{v}");
    }
}

#[test]
fn a_profile_with_a_zero_review_time_is_refused() {
    let text = countersign_core::profile::EXAMPLE_PROFILE
        .replace("min_review_seconds = 120", "min_review_seconds = 0");
    assert_ne!(text, countersign_core::profile::EXAMPLE_PROFILE);
    let e = Profile::from_toml("p.toml", &text).unwrap_err().to_string();
    assert!(e.contains("tiers[3].friction.min_review_seconds"), "{e}");
    // The example profile itself sets every rule on its highest tier.
    let example = example_profile();
    let critical = example.tier("critical").unwrap();
    assert_eq!(critical.friction.rules(true).len(), 3);
}
