//! Lineage (I6): a model traces to a registered training run that produced exactly its
//! artifact, whose datasets are approved and permitted for the release's intended use;
//! a third-party model needs vendor assurance instead. The run's trainer is kept off
//! the review and the decision (I4).

use crate::harness::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};

const USE: &str = "customer-support";

/// What one lineage scenario registered.
struct Traced {
    dataset: String,
    run: String,
    artifact: String,
}

/// Registers a dataset (by the author) permitting `uses`, approves it (by the data
/// governance reviewer) when asked, and a run by `trainer` that produced a fresh artifact.
async fn traced(
    h: &Harness,
    cast: &Cast,
    uses: &[&str],
    approve: bool,
    trainer: &TestUser,
) -> Traced {
    let n = h.artifact(); // a fresh, unique suffix
    let suffix = &n[7..15];
    let dataset = h
        .dataset(&cast.author, &format!("tickets-{suffix}"), "3", uses)
        .await;
    if approve {
        let d = h
            .approve_dataset(cast.reviewer("data-governance"), &dataset)
            .await;
        assert_eq!(d["approved"], true);
    }
    let artifact = h.artifact();
    let run = h
        .run(
            &cast.author,
            &format!("run-{suffix}"),
            &[&dataset],
            trainer,
            &artifact,
        )
        .await;
    Traced {
        dataset,
        run,
        artifact,
    }
}

fn model_body(cast: &Cast, attributes: Value, bundle: Value) -> Value {
    json!({
        "title": "support model", "kind": "model", "system": cast.system,
        "decision_owner": cast.owner.id, "attributes": attributes, "bundle": bundle,
    })
}

/// A customer-facing (tier medium) model release for `t`'s run, with this artifact.
async fn model(h: &Harness, cast: &Cast, t: &Traced, artifact: &str, attributes: Value) -> Rel {
    let bundle = json!({
        "artifact_digest": artifact, "dataset_versions": [t.dataset],
        "training_run_id": t.run, "code_commit": "4f2a9c1",
    });
    let r = h
        .command(
            &cast.author,
            "/v1/releases",
            &model_body(cast, attributes, bundle),
            "release.create",
        )
        .await;
    Rel {
        id: r["release"]["id"].as_str().unwrap().to_owned(),
        artifact: artifact.to_owned(),
        revision: 1,
    }
}

fn medium_for_use() -> Value {
    json!({"customer_facing": true, "intended_use": USE})
}

/// Everything but lineage is satisfied: evidence, submission, every review.
async fn everything_but_lineage(h: &Harness, cast: &Cast, rel: &Rel) {
    h.attach_required_evidence(cast, rel).await;
    h.submit(cast, rel).await;
    h.approve_missing_reviews(cast, rel).await;
}

fn lineage_gaps(gate: &Value) -> Vec<String> {
    gap_keys(&gate["unmet"])
        .into_iter()
        .filter(|k| k.starts_with("lineage_"))
        .collect()
}

/// The go is refused naming `gap`, which the owner cannot accept away.
async fn blocked_by(h: &Harness, cast: &Cast, rel: &Rel, gap: &str) {
    let g = h.gate(&cast.owner, rel).await;
    assert_eq!(lineage_gaps(&g), [gap.to_owned()], "{g}");
    let p = h
        .refused(
            &cast.owner,
            &format!("/v1/releases/{}/decision", rel.id),
            &h.decision_body(rel, "go"),
            StatusCode::CONFLICT,
            "gate-unmet",
        )
        .await;
    assert_eq!(gap_keys(&p["gaps"]), [gap.to_owned()]);
    assert_eq!(p["gaps"][0]["acceptable"], false);
    h.refused(
        &cast.owner,
        &format!("/v1/releases/{}/acceptances", rel.id),
        &h.acceptance_body(rel, gap, Duration::days(7)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "gap-not-acceptable",
    )
    .await;
}

#[tokio::test]
async fn i6_a_model_traced_to_approved_permitted_data_passes() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let t = traced(&h, &cast, &[USE, "analytics"], true, &cast.author).await;
        let rel = model(&h, &cast, &t, &t.artifact.clone(), medium_for_use()).await;
        h.approve_everything(&cast, &rel).await;
        h.go_ok(&cast, &rel).await;
        assert!(h.allowed(&cast.author, &rel.artifact, "production").await);
        let runs = h.get_ok(&cast.owner, "/v1/runs").await;
        assert_eq!(runs[0]["id"], t.run);
        let d = h
            .get_ok(&cast.owner, &format!("/v1/datasets/{}", t.dataset))
            .await;
        assert_eq!(
            d["approved_by"],
            cast.reviewer("data-governance").id.as_str()
        );
    }
}

#[tokio::test]
async fn i6_an_unapproved_dataset_blocks_until_data_governance_approves() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let t = traced(&h, &cast, &[USE], false, &cast.author).await;
        let rel = model(&h, &cast, &t, &t.artifact.clone(), medium_for_use()).await;
        everything_but_lineage(&h, &cast, &rel).await;
        blocked_by(
            &h,
            &cast,
            &rel,
            &format!("lineage_dataset_unapproved:{}", t.dataset),
        )
        .await;
        // Whoever registered the dataset cannot approve it; data governance can.
        h.refused(
            &cast.author,
            &format!("/v1/datasets/{}/approval", t.dataset),
            &json!({}),
            StatusCode::FORBIDDEN,
            "missing-role",
        )
        .await;
        h.approve_dataset(cast.reviewer("data-governance"), &t.dataset)
            .await;
        assert_eq!(h.gate(&cast.owner, &rel).await["clear"], true);
        h.go_ok(&cast, &rel).await;
    }
}

#[tokio::test]
async fn i6_a_dataset_not_permitted_for_the_declared_use_blocks() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let t = traced(&h, &cast, &["analytics"], true, &cast.author).await;
        let rel = model(&h, &cast, &t, &t.artifact.clone(), medium_for_use()).await;
        everything_but_lineage(&h, &cast, &rel).await;
        blocked_by(
            &h,
            &cast,
            &rel,
            &format!("lineage_dataset_not_permitted:{}", t.dataset),
        )
        .await;
    }
}

#[tokio::test]
async fn i6_a_model_without_a_declared_use_blocks() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let t = traced(&h, &cast, &[USE], true, &cast.author).await;
        let rel = model(
            &h,
            &cast,
            &t,
            &t.artifact.clone(),
            json!({"customer_facing": true}),
        )
        .await;
        everything_but_lineage(&h, &cast, &rel).await;
        blocked_by(&h, &cast, &rel, "lineage_use_undeclared:intended_use").await;
    }
}

#[tokio::test]
async fn i6_an_artifact_the_run_did_not_produce_blocks() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let t = traced(&h, &cast, &[USE], true, &cast.author).await;
        let other = h.artifact();
        let rel = model(&h, &cast, &t, &other, medium_for_use()).await;
        everything_but_lineage(&h, &cast, &rel).await;
        blocked_by(
            &h,
            &cast,
            &rel,
            &format!("lineage_artifact_mismatch:{}", t.run),
        )
        .await;
    }
}

#[tokio::test]
async fn i6_an_unregistered_run_blocks() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let t = Traced {
            dataset: "tickets@3".into(),
            run: "run-nobody-registered".into(),
            artifact: h.artifact(),
        };
        let rel = model(&h, &cast, &t, &t.artifact.clone(), medium_for_use()).await;
        everything_but_lineage(&h, &cast, &rel).await;
        blocked_by(
            &h,
            &cast,
            &rel,
            "lineage_unregistered_run:run-nobody-registered",
        )
        .await;
    }
}

#[tokio::test]
async fn i6_a_third_party_model_needs_vendor_assurance_instead_of_a_run() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let artifact = h.artifact();
        let bundle = json!({"artifact_digest": artifact});
        // Not customer-facing, so tier low (third-party + customer-facing is high).
        let body = model_body(&cast, json!({"third_party": true}), bundle);
        let r = h
            .command(&cast.author, "/v1/releases", &body, "release.create")
            .await;
        let rel = Rel {
            id: r["release"]["id"].as_str().unwrap().to_owned(),
            artifact,
            revision: 1,
        };
        everything_but_lineage(&h, &cast, &rel).await;
        let g = h.gate(&cast.owner, &rel).await;
        assert_eq!(
            lineage_gaps(&g),
            ["lineage_vendor_assurance_missing:vendor_assurance"],
            "{g}"
        );
        h.refused(
            &cast.owner,
            &format!("/v1/releases/{}/decision", rel.id),
            &h.decision_body(&rel, "go"),
            StatusCode::CONFLICT,
            "gate-unmet",
        )
        .await;
        h.attach(
            cast.reviewer("legal"),
            &rel,
            "vendor_assurance",
            b"SOC 2 type II, model card",
        )
        .await;
        assert_eq!(h.gate(&cast.owner, &rel).await["clear"], true);
        h.go_ok(&cast, &rel).await;
    }
}

#[tokio::test]
async fn i4_the_runs_trainer_cannot_review_or_own_the_release() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let mlops = cast.reviewer("mlops").clone();
        let t = traced(&h, &cast, &[USE], true, &mlops).await;
        let rel = model(&h, &cast, &t, &t.artifact.clone(), medium_for_use()).await;
        h.attach_required_evidence(&cast, &rel).await;
        h.submit(&cast, &rel).await;
        h.refused(
            &mlops,
            &format!("/v1/releases/{}/reviews", rel.id),
            &h.review_body(&rel, "mlops", "approve"),
            StatusCode::FORBIDDEN,
            "segregation-of-duties/trainer-cannot-review",
        )
        .await;
        // A bundle naming another trainer than the registered run's is refused.
        let bundle = json!({
            "artifact_digest": t.artifact, "training_run_id": t.run, "trainer": cast.author.id,
        });
        h.refused(
            &cast.author,
            "/v1/releases",
            &model_body(&cast, medium_for_use(), bundle),
            StatusCode::UNPROCESSABLE_ENTITY,
            "trainer-mismatch",
        )
        .await;
        // The run's trainer cannot be the decision owner.
        let owner_trainer = traced(&h, &cast, &[USE], true, &cast.owner).await;
        let bundle = json!({"artifact_digest": owner_trainer.artifact, "training_run_id": owner_trainer.run});
        h.refused(
            &cast.author,
            "/v1/releases",
            &model_body(&cast, medium_for_use(), bundle),
            StatusCode::FORBIDDEN,
            "segregation-of-duties/trainer-cannot-own",
        )
        .await;
    }
}

#[tokio::test]
async fn lineage_registration_refuses_bad_input_and_duplicates() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let cast = h.cast().await;
        let d = h.dataset(&cast.author, "claims", "1", &[USE]).await;
        let steward = h.user("Steward", &["data-governance"]).await;
        h.refused(
            &steward,
            "/v1/datasets",
            &h.dataset_body("claims", "1", &[USE]),
            StatusCode::CONFLICT,
            "already-exists",
        )
        .await;
        // Registered by a data steward: that steward cannot approve it.
        let own = h.dataset(&steward, "notes", "1", &[USE]).await;
        h.refused(
            &steward,
            &format!("/v1/datasets/{own}/approval"),
            &json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "self-approval",
        )
        .await;
        h.approve_dataset(&steward, &d).await;
        h.refused(
            &steward,
            &format!("/v1/datasets/{d}/approval"),
            &json!({}),
            StatusCode::CONFLICT,
            "already-exists",
        )
        .await;
        h.refused(
            &cast.author,
            "/v1/datasets",
            &h.dataset_body("bad name", "1", &[USE]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-lineage",
        )
        .await;
        h.refused(
            &cast.author,
            "/v1/datasets",
            &h.dataset_body("empty-uses", "1", &[]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-lineage",
        )
        .await;
        let artifact = h.artifact();
        h.refused(
            &cast.author,
            "/v1/runs",
            &h.run_body("run-x", &["nope@1"], &cast.author, &artifact),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-dataset",
        )
        .await;
        h.run(&cast.author, "run-x", &[&d], &cast.author, &artifact)
            .await;
        h.refused(
            &cast.author,
            "/v1/runs",
            &h.run_body("run-x", &[&d], &cast.author, &artifact),
            StatusCode::CONFLICT,
            "already-exists",
        )
        .await;
        let (s, _) = h.get(&cast.owner, "/v1/datasets/nope@1").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = h.get(&cast.owner, "/v1/runs/nope").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(
            h.get_ok(&cast.owner, "/v1/datasets")
                .await
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}
