//! I12 nothing lost: a write retried with the same Idempotency-Key writes once, and
//! answers the same.

use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

const REPLAYED: &str = "idempotent-replayed";

async fn keyed(h: &Harness, who: &TestUser, path: &str, key: &str, body: &Value) -> Reply {
    h.send(
        h.request(Method::POST, path)
            .bearer_auth(&who.token)
            .header("Idempotency-Key", key)
            .json(body),
    )
    .await
}

async fn system_count(h: &Harness) -> usize {
    h.get_ok(&h.admin, "/v1/systems")
        .await
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn i12_a_retried_write_with_the_same_key_writes_once() {
    for backend in backends() {
        i12_a_retried_write_with_the_same_key_writes_once_on(backend).await;
    }
}

async fn i12_a_retried_write_with_the_same_key_writes_once_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let owner = h.user("Owner", &["risk"]).await;
    let body = json!({"name": "claims", "owner": owner.id});
    let before = h.ledger_count().await;

    let first = keyed(&h, &h.admin, "/v1/systems", "create-claims-1", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(first.headers.get(REPLAYED).is_none());
    let second = keyed(&h, &h.admin, "/v1/systems", "create-claims-1", &body).await;
    assert_eq!(second.status, first.status);
    assert_eq!(second.body, first.body);
    assert_eq!(second.bytes, first.bytes);
    assert_eq!(second.content_type(), "application/json");
    assert_eq!(
        second.headers.get(REPLAYED).and_then(|v| v.to_str().ok()),
        Some("true")
    );

    assert_eq!(h.ledger_count().await, before + 1);
    assert_eq!(system_count(&h).await, 1);
}

#[tokio::test]
async fn i12_a_retried_release_command_writes_once() {
    for backend in backends() {
        i12_a_retried_release_command_writes_once_on(backend).await;
    }
}

async fn i12_a_retried_release_command_writes_once_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let artifact = h.artifact();
    let create = json!({
        "title": "claims triage",
        "kind": "model",
        "system": cast.system,
        "decision_owner": cast.owner.id,
        "bundle": h.bundle(&artifact),
    });
    let before = h.ledger_count().await;
    let a = keyed(&h, &cast.author, "/v1/releases", "release-7", &create).await;
    let b = keyed(&h, &cast.author, "/v1/releases", "release-7", &create).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!((b.status, &b.body), (a.status, &a.body));
    assert_eq!(h.ledger_count().await, before + 1);
    let releases = h.get_ok(&cast.author, "/v1/releases").await;
    assert_eq!(releases.as_array().unwrap().len(), 1);

    // An evidence upload (a raw body) is retried safely too.
    let id = a.body["release"]["id"].as_str().unwrap();
    let path = format!("/v1/releases/{id}/evidence?revision=1&kind=test_results&name=t.xml");
    let upload = || {
        h.request(Method::POST, &path)
            .bearer_auth(&cast.author.token)
            .header("Idempotency-Key", "upload-1")
            .body(b"<testsuite/>".to_vec())
    };
    let before = h.ledger_count().await;
    let u1 = h.send(upload()).await;
    let u2 = h.send(upload()).await;
    assert_eq!(u1.status, StatusCode::CREATED, "{}", u1.body);
    assert_eq!((u2.status, &u2.body), (u1.status, &u1.body));
    assert_eq!(
        u2.headers.get(REPLAYED).and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(h.ledger_count().await, before + 1);
    let d = h.get_ok(&cast.author, &format!("/v1/releases/{id}")).await;
    assert_eq!(d["evidence"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn i12_the_same_key_for_another_request_is_refused() {
    for backend in backends() {
        i12_the_same_key_for_another_request_is_refused_on(backend).await;
    }
}

async fn i12_the_same_key_for_another_request_is_refused_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let owner = h.user("Owner", &["risk"]).await;
    let first = keyed(
        &h,
        &h.admin,
        "/v1/systems",
        "k-1",
        &json!({"name": "claims", "owner": owner.id}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let before = h.ledger_count().await;

    // Another body.
    let r = keyed(
        &h,
        &h.admin,
        "/v1/systems",
        "k-1",
        &json!({"name": "payments", "owner": owner.id}),
    )
    .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    // Another route.
    let r = keyed(
        &h,
        &h.admin,
        &format!("/v1/users/{}/tokens", owner.id),
        "k-1",
        &json!({"label": "ci"}),
    )
    .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    let r = keyed(
        &h,
        &h.admin,
        "/v1/users",
        "k-1",
        &json!({"name": "claims", "email": "claims@example.com"}),
    )
    .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    assert_eq!(h.ledger_count().await, before);
    assert_eq!(system_count(&h).await, 1);

    // A key that is not visible ASCII is refused before anything happens.
    let r = keyed(
        &h,
        &h.admin,
        "/v1/systems",
        &"k".repeat(256),
        &json!({"name": "payments", "owner": owner.id}),
    )
    .await;
    r.assert_problem(StatusCode::BAD_REQUEST, "invalid-idempotency-key");
    assert_eq!(h.ledger_count().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn i12_concurrent_retries_write_once() {
    for backend in backends() {
        i12_concurrent_retries_write_once_on(backend).await;
    }
}

async fn i12_concurrent_retries_write_once_on(backend: Backend) {
    let h = Arc::new(Harness::start_on(backend).await);
    let owner = h.user("Owner", &["risk"]).await;
    let body = json!({"name": "concurrent", "owner": owner.id});
    let before = h.ledger_count().await;

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let h = h.clone();
        let body = body.clone();
        tasks.spawn(async move {
            let admin = h.admin.clone();
            keyed(&h, &admin, "/v1/systems", "same-key", &body).await
        });
    }
    let mut replies = Vec::new();
    while let Some(r) = tasks.join_next().await {
        replies.push(r.expect("the request task completes"));
    }
    assert_eq!(replies.len(), 10);
    for r in &replies {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body, replies[0].body);
    }
    let replayed = replies
        .iter()
        .filter(|r| r.headers.get(REPLAYED).is_some())
        .count();
    assert_eq!(replayed, 9, "exactly one request did the work");
    assert_eq!(h.ledger_count().await, before + 1);
    assert_eq!(system_count(&h).await, 1);
}

#[tokio::test]
async fn i12_keys_are_scoped_to_the_caller() {
    for backend in backends() {
        i12_keys_are_scoped_to_the_caller_on(backend).await;
    }
}

async fn i12_keys_are_scoped_to_the_caller_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let other_admin = h.user("Second admin", &["admin"]).await;
    let owner = h.user("Owner", &["risk"]).await;
    let a = keyed(
        &h,
        &h.admin,
        "/v1/systems",
        "nightly",
        &json!({"name": "one", "owner": owner.id}),
    )
    .await;
    let b = keyed(
        &h,
        &other_admin,
        "/v1/systems",
        "nightly",
        &json!({"name": "two", "owner": owner.id}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(b.status, StatusCode::CREATED, "{}", b.body);
    assert!(b.headers.get(REPLAYED).is_none());
    assert_ne!(a.body["id"], b.body["id"]);
    assert_eq!(system_count(&h).await, 2);
}

#[tokio::test]
async fn i12_a_write_that_failed_is_not_remembered_and_its_retry_writes_once() {
    for backend in backends() {
        i12_a_write_that_failed_is_not_remembered_and_its_retry_writes_once_on(backend).await;
    }
}

async fn i12_a_write_that_failed_is_not_remembered_and_its_retry_writes_once_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let owner = h.user("Owner", &["risk"]).await;
    let body = json!({"name": "retry-me", "owner": owner.id});
    let before = h.ledger_count().await;

    h.break_ledger().await;
    let r = keyed(&h, &h.admin, "/v1/systems", "retry-1", &body).await;
    r.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    h.mend_ledger().await;

    // The retry does the work (the failure was not stored as the answer)...
    let r = keyed(&h, &h.admin, "/v1/systems", "retry-1", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.headers.get(REPLAYED).is_none());
    // ...and a further retry replays it.
    let again = keyed(&h, &h.admin, "/v1/systems", "retry-1", &body).await;
    assert_eq!((again.status, &again.body), (r.status, &r.body));
    assert!(again.headers.get(REPLAYED).is_some());
    assert_eq!(h.ledger_count().await, before + 1);
    assert_eq!(system_count(&h).await, 1);
}
