//! I4 segregation of duties for everyone who shaped a revision: the release's creator
//! and each revision's author (besides the submitter and trainer, `segregation.rs`)
//! can neither review it nor own its decision, on every revision built on their work.
//!
//! The rule for earlier revisions: whoever shaped revision `n` is excluded from every
//! revision `>= n` of that release (a later revision is written on top of theirs), and
//! not from earlier ones. The gate status names everyone excluded, and why.

use crate::harness::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const SOD: &str = "segregation-of-duties/";

fn path(rel: &Rel, tail: &str) -> String {
    format!("/v1/releases/{}{tail}", rel.id)
}

/// Revises `rel` as `who` to a fresh artifact (optionally naming a new owner).
async fn revise_as(h: &Harness, who: &TestUser, rel: &mut Rel, owner: Option<&TestUser>) {
    let artifact = h.artifact();
    let mut body = json!({"based_on_revision": rel.revision, "bundle": h.bundle(&artifact)});
    if let Some(o) = owner {
        body["decision_owner"] = json!(o.id);
    }
    let r = h
        .command(who, &path(rel, "/revisions"), &body, "release.revise")
        .await;
    rel.revision = r["revision"]["number"].as_u64().unwrap() as u32;
    rel.artifact = artifact;
}

async fn submit_as(h: &Harness, who: &TestUser, rel: &Rel) {
    h.command(
        who,
        &path(rel, "/submit"),
        &json!({"revision": rel.revision}),
        "release.submit",
    )
    .await;
}

/// The reasons the gate status gives for keeping `who` off the reviews.
fn exclusion_codes(gate: &Value, who: &TestUser) -> Vec<(String, Option<u64>)> {
    gate["excluded_reviewers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["user"] == who.id.as_str())
        .flat_map(|x| x["reasons"].as_array().unwrap().clone())
        .map(|r| {
            (
                r["code"].as_str().unwrap().to_owned(),
                r["revision"].as_u64(),
            )
        })
        .collect()
}

fn reason(code: &str, revision: Option<u64>) -> (String, Option<u64>) {
    (code.to_owned(), revision)
}

#[tokio::test]
async fn i4_creator_cannot_be_decision_owner() {
    for backend in backends() {
        i4_creator_cannot_be_decision_owner_on(backend).await;
    }
}

async fn i4_creator_cannot_be_decision_owner_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    // Sue holds mlops, operations and risk, and names herself decision owner.
    let sue = h.user("Sue", &["mlops", "operations", "risk"]).await;
    let before = h.ledger_count().await;
    let artifact = h.artifact();
    let r = h
        .create_release(
            &sue,
            &cast.system,
            &sue,
            &json!({"customer_facing": true}),
            &h.bundle(&artifact),
        )
        .await;
    assert_problem(
        &r,
        StatusCode::FORBIDDEN,
        &format!("{SOD}creator-cannot-own"),
    );
    assert!(
        r.1["detail"].as_str().unwrap().contains("creator"),
        "{}",
        r.1
    );
    assert_eq!(h.ledger_count().await, before);
    assert_eq!(h.get_ok(&sue, "/v1/releases").await, json!([]));
}

#[tokio::test]
async fn i4_creator_cannot_review() {
    for backend in backends() {
        i4_creator_cannot_review_on(backend).await;
    }
}

async fn i4_creator_cannot_review_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let mut cast = h.cast().await;
    // The creator also holds security; a colleague submits.
    cast.author = h.user("Creator", &["mlops", "security"]).await;
    let rel = h.medium(&cast).await;
    let colleague = h.user("Colleague", &["mlops"]).await;
    submit_as(&h, &colleague, &rel).await;
    let gate = h.gate(&cast.owner, &rel).await;
    assert_eq!(
        exclusion_codes(&gate, &cast.author),
        [reason("creator_cannot_review", None)]
    );
    let p = h
        .refused(
            &cast.author,
            &path(&rel, "/reviews"),
            &h.review_body(&rel, "security", "approve"),
            StatusCode::FORBIDDEN,
            &format!("{SOD}creator-cannot-review"),
        )
        .await;
    assert!(p["detail"].as_str().unwrap().contains("created"), "{p}");
    assert_eq!(h.detail(&cast.owner, &rel).await["reviews"], json!([]));
    // The creator of a release another person revised is still its creator.
    let mut rel2 = h.medium(&cast).await;
    revise_as(&h, &colleague, &mut rel2, None).await;
    let other = h.user("Other", &["mlops"]).await;
    submit_as(&h, &other, &rel2).await;
    let gate = h.gate(&cast.owner, &rel2).await;
    assert_eq!(
        exclusion_codes(&gate, &cast.author),
        [reason("creator_cannot_review", None)]
    );
    h.refused(
        &cast.author,
        &path(&rel2, "/reviews"),
        &h.review_body(&rel2, "security", "approve"),
        StatusCode::FORBIDDEN,
        &format!("{SOD}creator-cannot-review"),
    )
    .await;
    // Someone who shaped nothing may.
    h.review_ok(cast.reviewer("security"), &rel, "security", "approve")
        .await;
}

#[tokio::test]
async fn i4_author_of_a_revision_cannot_review_it() {
    for backend in backends() {
        i4_author_of_a_revision_cannot_review_it_on(backend).await;
    }
}

async fn i4_author_of_a_revision_cannot_review_it_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let mut cast = h.cast().await;
    let sue = h.user("Sue", &["mlops"]).await;
    let noah = h.user("Noah", &["mlops"]).await;
    cast.author = sue.clone();
    // Sue creates; Noah revises (revision 2, Noah its author); Sue submits revision 2.
    let mut rel = h.medium(&cast).await;
    revise_as(&h, &noah, &mut rel, None).await;
    assert_eq!(rel.revision, 2);
    submit_as(&h, &sue, &rel).await;
    let gate = h.gate(&cast.owner, &rel).await;
    assert_eq!(
        exclusion_codes(&gate, &noah),
        [reason("author_cannot_review", Some(2))]
    );
    h.refused(
        &noah,
        &path(&rel, "/reviews"),
        &h.review_body(&rel, "mlops", "approve"),
        StatusCode::FORBIDDEN,
        &format!("{SOD}author-cannot-review"),
    )
    .await;
    // Sue created it and submitted it: the refusal names the submission.
    h.refused(
        &sue,
        &path(&rel, "/reviews"),
        &h.review_body(&rel, "mlops", "approve"),
        StatusCode::FORBIDDEN,
        &format!("{SOD}submitter-cannot-review"),
    )
    .await;
    assert_eq!(h.detail(&cast.owner, &rel).await["reviews"], json!([]));
    h.review_ok(cast.reviewer("mlops"), &rel, "mlops", "approve")
        .await;
}

#[tokio::test]
async fn i4_author_of_a_revision_cannot_own_it() {
    for backend in backends() {
        i4_author_of_a_revision_cannot_own_it_on(backend).await;
    }
}

async fn i4_author_of_a_revision_cannot_own_it_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let mut cast = h.cast().await;
    // The decision owner can author and tries to revise the release they decide.
    cast.owner = h.user("Owner who also writes", &["risk", "mlops"]).await;
    let rel = h.medium(&cast).await;
    let artifact = h.artifact();
    h.refused(
        &cast.owner,
        &path(&rel, "/revisions"),
        &json!({"based_on_revision": 1, "bundle": h.bundle(&artifact)}),
        StatusCode::FORBIDDEN,
        &format!("{SOD}author-cannot-own"),
    )
    .await;
    let d = h.detail(&cast.owner, &rel).await;
    assert_eq!(d["revisions"].as_array().unwrap().len(), 1);
    assert_eq!(d["release"]["decision_owner"], cast.owner.id.as_str());
}

#[tokio::test]
async fn i4_an_owner_change_that_breaks_segregation_is_refused() {
    for backend in backends() {
        i4_an_owner_change_that_breaks_segregation_is_refused_on(backend).await;
    }
}

async fn i4_an_owner_change_that_breaks_segregation_is_refused_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let submitter = h.user("Submitter", &["mlops", "risk"]).await;
    let reviser = h.user("Reviser", &["mlops"]).await;
    let mut rel = h.medium(&cast).await;
    submit_as(&h, &submitter, &rel).await;
    let artifact = h.artifact();
    let attempt = |owner: &TestUser, based_on: u32| json!({"based_on_revision": based_on, "bundle": h.bundle(&artifact), "decision_owner": owner.id});
    // Naming the creator, the submitter of revision 1, or the reviser themselves.
    for (owner, code) in [
        (&cast.author, "creator-cannot-own"),
        (&submitter, "submitter-cannot-own"),
        (&reviser, "author-cannot-own"),
    ] {
        h.refused(
            &reviser,
            &path(&rel, "/revisions"),
            &attempt(owner, 1),
            StatusCode::FORBIDDEN,
            &format!("{SOD}{code}"),
        )
        .await;
    }
    // A new owner who does not exist is refused too.
    h.refused(
        &reviser,
        &path(&rel, "/revisions"),
        &json!({"based_on_revision": 1, "bundle": h.bundle(&artifact), "decision_owner": "usr_nobody"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown-owner",
    )
    .await;
    let d = h.detail(&cast.owner, &rel).await;
    assert_eq!(d["revisions"].as_array().unwrap().len(), 1);
    assert_eq!(d["release"]["decision_owner"], cast.owner.id.as_str());
    // An owner who shaped nothing is accepted, and decides from then on.
    let new_owner = h.user("New owner", &["risk"]).await;
    revise_as(&h, &reviser, &mut rel, Some(&new_owner)).await;
    let d = h.detail(&new_owner, &rel).await;
    assert_eq!(d["release"]["decision_owner"], new_owner.id.as_str());
    let gate = h.gate(&new_owner, &rel).await;
    assert_eq!(
        exclusion_codes(&gate, &new_owner),
        [reason("owner_cannot_review", None)]
    );
    assert!(exclusion_codes(&gate, &cast.owner).is_empty(), "{gate}");
    // Changing only the owner is a revision of its own (nothing else changed).
    let same = h.detail(&new_owner, &rel).await["revisions"][1]["bundle"].clone();
    let r = h
        .command(
            &reviser,
            &path(&rel, "/revisions"),
            &json!({"based_on_revision": 2, "bundle": same, "decision_owner": cast.owner.id}),
            "release.revise",
        )
        .await;
    assert_eq!(r["release"]["decision_owner"], cast.owner.id.as_str());
}

#[tokio::test]
async fn i4_a_person_who_shaped_revision_1_but_not_revision_2() {
    for backend in backends() {
        i4_a_person_who_shaped_revision_1_but_not_revision_2_on(backend).await;
    }
}

async fn i4_a_person_who_shaped_revision_1_but_not_revision_2_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    // Sam (mlops) submitted revision 1; the author revises it to revision 2 and Noah
    // submits that. Revision 2 is written on top of revision 1, so Sam stays excluded.
    let sam = h.user("Sam", &["mlops"]).await;
    let noah = h.user("Noah", &["mlops"]).await;
    let mut rel = h.medium(&cast).await;
    submit_as(&h, &sam, &rel).await;
    revise_as(&h, &cast.author, &mut rel, None).await;
    submit_as(&h, &noah, &rel).await;
    let gate2 = h.gate(&cast.owner, &rel).await;
    assert_eq!(
        exclusion_codes(&gate2, &sam),
        [reason("submitter_cannot_review", Some(1))]
    );
    let p = h
        .refused(
            &sam,
            &path(&rel, "/reviews"),
            &h.review_body(&rel, "mlops", "approve"),
            StatusCode::FORBIDDEN,
            &format!("{SOD}submitter-cannot-review"),
        )
        .await;
    assert!(p["detail"].as_str().unwrap().contains("revision 1"), "{p}");
    // Noah shaped revision 2 only: revision 1's gate status does not name him, and
    // revision 2's does.
    let (status, gate1) = h
        .get(
            &cast.owner,
            &format!("/v1/releases/{}/gate?revision=1", rel.id),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{gate1}");
    assert!(exclusion_codes(&gate1, &noah).is_empty(), "{gate1}");
    assert_eq!(
        exclusion_codes(&gate1, &sam),
        [reason("submitter_cannot_review", Some(1))]
    );
    assert_eq!(
        exclusion_codes(&gate2, &noah),
        [reason("submitter_cannot_review", Some(2))]
    );
    // Neither may become the owner of revision 3.
    let artifact = h.artifact();
    h.refused(
        &cast.author,
        &path(&rel, "/revisions"),
        &json!({"based_on_revision": 2, "bundle": h.bundle(&artifact), "decision_owner": sam.id}),
        StatusCode::FORBIDDEN,
        &format!("{SOD}submitter-cannot-own"),
    )
    .await;
    // Someone who shaped neither revision reviews.
    h.review_ok(cast.reviewer("mlops"), &rel, "mlops", "approve")
        .await;
}

#[tokio::test]
async fn i4_the_gate_status_names_everyone_excluded() {
    for backend in backends() {
        i4_the_gate_status_names_everyone_excluded_on(backend).await;
    }
}

async fn i4_the_gate_status_names_everyone_excluded_on(backend: Backend) {
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
    let gate = h.gate(&cast.owner, &rel).await;
    assert_eq!(
        exclusion_codes(&gate, &cast.author),
        [
            reason("submitter_cannot_review", Some(1)),
            reason("creator_cannot_review", None),
        ]
    );
    assert_eq!(
        exclusion_codes(&gate, &trainer),
        [reason("trainer_cannot_review", Some(1))]
    );
    assert_eq!(
        exclusion_codes(&gate, &cast.owner),
        [reason("owner_cannot_review", None)]
    );
    assert_eq!(
        gate["excluded_reviewers"].as_array().unwrap().len(),
        3,
        "{gate}"
    );
    for x in gate["excluded_reviewers"].as_array().unwrap() {
        for r in x["reasons"].as_array().unwrap() {
            assert!(!r["detail"].as_str().unwrap().is_empty(), "{r}");
        }
    }
}
