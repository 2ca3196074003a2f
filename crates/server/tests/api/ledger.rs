//! I11 ledger: every command appends exactly one entry in its own transaction; a
//! refused command appends none; if the ledger cannot be written nothing changes.

use crate::harness::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn i11_every_successful_command_appends_exactly_one_entry() {
    for backend in backends() {
        i11_every_successful_command_appends_exactly_one_entry_on(backend).await;
    }
}

async fn i11_every_successful_command_appends_exactly_one_entry_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    // `command` asserts the status, exactly one new entry, and its action.
    let owner = h.user("Owner", &["risk"]).await; // user.create + token.create
    let author = h.user("Author", &["mlops"]).await;
    let mlops = h.user("Mlops", &["mlops"]).await;
    let security = h.user("Security", &["security"]).await;
    let ops = h.user("Ops", &["operations"]).await;
    let system = h.system(&owner).await; // system.create
    let mut reviewers = std::collections::BTreeMap::new();
    reviewers.insert("mlops", mlops.clone());
    reviewers.insert("security", security.clone());
    reviewers.insert("operations", ops.clone());
    let cast = Cast {
        author: author.clone(),
        owner: owner.clone(),
        system,
        reviewers,
    };

    let mut rel = h.medium(&cast).await; // release.create
    let artifact = h.artifact();
    h.command(
        &author,
        &format!("/v1/releases/{}/revisions", rel.id),
        &json!({"based_on_revision": 1, "bundle": h.bundle(&artifact)}),
        "release.revise",
    )
    .await;
    rel.revision = 2;
    rel.artifact = artifact;
    h.attach(&author, &rel, "threat_model", b"stride").await; // evidence.attach
    h.submit(&cast, &rel).await; // release.submit
    h.review_ok(&mlops, &rel, "mlops", "approve").await; // review.record
    h.review_ok(&security, &rel, "security", "approve").await;
    h.review_ok(&ops, &rel, "operations", "approve").await;
    // Missing evidence and, with no eval report, the missing metrics (I7).
    for gap in gap_keys(&h.gate(&owner, &rel).await["unmet"]) {
        h.command(
            &owner,
            &format!("/v1/releases/{}/acceptances", rel.id),
            &h.acceptance_body(&rel, &gap, Duration::days(7)),
            "risk.accept",
        )
        .await;
    }
    h.go_ok(&cast, &rel).await; // release.decide
    h.deploy_ok(&ops, &rel, "promote").await; // release.promote
    h.deploy_ok(&ops, &rel, "rollback").await; // release.rollback

    let other = h.release(&cast, json!({})).await;
    h.approve_everything(&cast, &other).await;
    h.go_ok(&cast, &other).await;
    h.deploy_ok(&ops, &other, "promote").await;
    h.deploy_ok(&ops, &other, "retire").await; // release.retire

    // Each entry names the acting user.
    let entries = h.ledger_after(0).await;
    let by = |action: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e.action == action)
            .map(|e| e.actor.clone())
            .collect()
    };
    assert_eq!(by("user.bootstrap"), ["system"]);
    assert!(by("user.create").iter().all(|a| *a == h.admin.id));
    assert!(by("release.decide").iter().all(|a| *a == owner.id));
    assert_eq!(by("release.retire"), std::slice::from_ref(&ops.id));

    let v = h.get_ok(&h.admin, "/v1/ledger/verify").await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["entries"], h.ledger_count().await);
    assert_eq!(v["head_seq"], h.ledger_count().await);
}

#[tokio::test]
async fn i11_every_refused_command_appends_nothing() {
    for backend in backends() {
        i11_every_refused_command_appends_nothing_on(backend).await;
    }
}

async fn i11_every_refused_command_appends_nothing_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    let before = h.ledger_count().await;
    let rp = |a: &str| format!("/v1/releases/{}/{a}", rel.id);
    let cases: Vec<(&TestUser, String, serde_json::Value, StatusCode, &str)> = vec![
        (
            cast.reviewer("security"),
            "/v1/users".into(),
            json!({"name": "x", "email": "x@example.com"}),
            StatusCode::FORBIDDEN,
            "missing-role",
        ),
        (
            &h.admin,
            "/v1/users".into(),
            json!({"name": "x", "email": "not-an-email"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-email",
        ),
        (
            &h.admin,
            "/v1/users/usr_nope/tokens".into(),
            json!({}),
            StatusCode::NOT_FOUND,
            "user-not-found",
        ),
        (
            &cast.author,
            rp("submit"),
            json!({"revision": 7}),
            StatusCode::CONFLICT,
            "stale-revision",
        ),
        (
            cast.reviewer("operations"),
            rp("promote"),
            json!({"revision": 1}),
            StatusCode::CONFLICT,
            "illegal-transition",
        ),
        (
            &cast.owner,
            rp("decision"),
            h.decision_body(&rel, "go"),
            StatusCode::CONFLICT,
            "illegal-transition",
        ),
        (
            &cast.author,
            "/v1/releases/rel_nope/submit".into(),
            json!({"revision": 1}),
            StatusCode::NOT_FOUND,
            "release-not-found",
        ),
    ];
    for (who, path, body, status, code) in &cases {
        h.refused(who, path, body, *status, code).await;
    }
    // A duplicate is refused too: a second user with the same email.
    let dup = json!({"name": "Twin", "email": "twin@example.com", "roles": ["risk"]});
    h.command(&h.admin, "/v1/users", &dup, "user.create").await;
    h.refused(
        &h.admin,
        "/v1/users",
        &dup,
        StatusCode::CONFLICT,
        "already-exists",
    )
    .await;
    assert_eq!(h.ledger_count().await, before + 1);
}

#[tokio::test]
async fn i11_a_failed_ledger_append_changes_nothing() {
    for backend in backends() {
        i11_a_failed_ledger_append_changes_nothing_on(backend).await;
    }
}

async fn i11_a_failed_ledger_append_changes_nothing_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let owner = h.user("Owner", &["risk"]).await;
    let before = h.ledger_count().await;
    let systems_before = h.get_ok(&h.admin, "/v1/systems").await;
    let new_system =
        json!({"name": "fraud-scoring", "description": "scores payments", "owner": owner.id});

    h.break_ledger().await;
    let r = h.post_full(&h.admin, "/v1/systems", &new_system).await;
    r.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    // Internals are logged, never sent.
    assert!(
        !String::from_utf8_lossy(&r.bytes).contains("injected"),
        "{}",
        r.body
    );
    // Fail closed: no ledger entry, and no system either.
    assert_eq!(h.ledger_count().await, before);
    assert_eq!(h.get_ok(&h.admin, "/v1/systems").await, systems_before);
    // The same for a user and its token.
    let r = h
        .post_full(
            &h.admin,
            "/v1/users",
            &json!({"name": "Ghost", "email": "ghost@example.com", "roles": ["legal"]}),
        )
        .await;
    r.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    let r = h
        .post_full(
            &h.admin,
            &format!("/v1/users/{}/tokens", owner.id),
            &json!({}),
        )
        .await;
    r.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    let users = h.get_ok(&h.admin, "/v1/users").await;
    assert!(users
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["email"] != "ghost@example.com"));
    assert_eq!(h.ledger_count().await, before);

    h.mend_ledger().await;
    let s = h
        .command(&h.admin, "/v1/systems", &new_system, "system.create")
        .await;
    let listed = h.get_ok(&h.admin, "/v1/systems").await;
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == s["id"]));
    let v = h.get_ok(&h.admin, "/v1/ledger/verify").await;
    assert_eq!(v["valid"], true, "{v}");
}

#[tokio::test]
async fn i11_a_failed_ledger_append_leaves_a_release_where_it_was() {
    for backend in backends() {
        i11_a_failed_ledger_append_leaves_a_release_where_it_was_on(backend).await;
    }
}

async fn i11_a_failed_ledger_append_leaves_a_release_where_it_was_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.attach_required_evidence(&cast, &rel).await;
    let before = h.ledger_count().await;

    h.break_ledger().await;
    let r = h
        .post_full(
            &cast.author,
            &format!("/v1/releases/{}/submit", rel.id),
            &json!({"revision": 1}),
        )
        .await;
    r.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    let r = h
        .upload(
            &cast.author,
            &format!(
                "/v1/releases/{}/evidence?revision=1&kind=model_card&name=card.md",
                rel.id
            ),
            b"model card",
        )
        .await;
    r.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    h.mend_ledger().await;

    assert_eq!(h.ledger_count().await, before);
    let d = h.detail(&cast.owner, &rel).await;
    assert_eq!(d["release"]["status"], "draft");
    assert!(d["revisions"][0]["submitted_at"].is_null());
    assert_eq!(d["evidence"].as_array().unwrap().len(), 4);
    h.submit(&cast, &rel).await;
}

#[tokio::test]
async fn i11_the_ledger_reads_in_order_and_verifies() {
    for backend in backends() {
        i11_the_ledger_reads_in_order_and_verifies_on(backend).await;
    }
}

async fn i11_the_ledger_reads_in_order_and_verifies_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    h.approve_everything(&cast, &rel).await;
    h.go_ok(&cast, &rel).await;

    let n = h.ledger_count().await;
    let entries = h
        .get_ok(&h.admin, &format!("/v1/ledger?limit={}", n + 10))
        .await;
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len() as u64, n);
    let mut prev: Option<&serde_json::Value> = None;
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1);
        if let Some(p) = prev {
            assert_eq!(e["prev_hash"], p["hash"], "the chain links entry {}", i + 1);
        }
        prev = Some(e);
    }
    assert_eq!(entries.last().unwrap()["action"], "release.decide");
    // Paging.
    let page = h.get_ok(&h.admin, "/v1/ledger?after=2&limit=3").await;
    let seqs: Vec<u64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4, 5]);

    for reader in [
        h.admin.clone(),
        cast.owner.clone(),
        cast.reviewer("compliance").clone(),
    ] {
        let v = h.get_ok(&reader, "/v1/ledger/verify").await;
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(v["entries"], n);
        assert_eq!(v["head_hash"], entries.last().unwrap()["hash"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn i11_concurrent_commands_form_one_chain() {
    for backend in backends() {
        i11_concurrent_commands_form_one_chain_on(backend).await;
    }
}

async fn i11_concurrent_commands_form_one_chain_on(backend: Backend) {
    let h = std::sync::Arc::new(Harness::start_on(backend).await);
    let before = h.ledger_count().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let h = h.clone();
        tasks.spawn(async move {
            let admin = h.admin.clone();
            h.post(
                &admin,
                "/v1/users",
                &json!({"name": format!("Parallel {i}"), "email": format!("p{i}@example.com"), "roles": ["legal"]}),
            )
            .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        let (status, body) = r.expect("the request task completes");
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    assert_eq!(h.ledger_count().await, before + 20);
    let v = h.get_ok(&h.admin, "/v1/ledger/verify").await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["entries"], before + 20);
}
