//! I12 bad input gets a clear error and changes nothing: every refusal is an RFC 9457
//! problem with a 4xx status, and no state or ledger entry is written.

use crate::harness::*;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Everything a bad request could have touched.
async fn snapshot(h: &Harness) -> (Value, Value, Value, u64) {
    (
        h.get_ok(&h.admin, "/v1/users").await,
        h.get_ok(&h.admin, "/v1/systems").await,
        h.get_ok(&h.admin, "/v1/releases").await,
        h.ledger_count().await,
    )
}

async fn raw(
    h: &Harness,
    method: Method,
    who: &TestUser,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut req = h.request(method, path).bearer_auth(&who.token).body(body);
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    h.send(req).await
}

#[tokio::test]
async fn bad_json_is_a_problem_and_changes_nothing() {
    for backend in backends() {
        bad_json_is_a_problem_and_changes_nothing_on(backend).await;
    }
}

async fn bad_json_is_a_problem_and_changes_nothing_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let before = snapshot(&h).await;
    let json_ct = Some("application/json");

    // Malformed JSON.
    for body in [
        &b"{\"name\": \"x\","[..],
        b"{name: x}",
        b"",
        b"not json",
        b"{\"name\": \"x\"",
    ] {
        let r = raw(
            &h,
            Method::POST,
            &h.admin,
            "/v1/systems",
            json_ct,
            body.to_vec(),
        )
        .await;
        r.assert_problem(StatusCode::BAD_REQUEST, "malformed-json");
    }

    let bad_bodies: Vec<(&TestUser, &str, Value)> = vec![
        // Unknown fields, at the top and nested.
        (
            &h.admin,
            "/v1/systems",
            json!({"name": "s", "owner": cast.owner.id, "colour": "blue"}),
        ),
        (
            &cast.author,
            "/v1/releases",
            json!({"title": "t", "kind": "model", "system": cast.system, "decision_owner": cast.owner.id,
                   "bundle": {"artifact_digest": h.artifact(), "surprise": 1}}),
        ),
        (
            &cast.author,
            "/v1/releases",
            json!({"title": "t", "kind": "model", "system": cast.system, "decision_owner": cast.owner.id,
                   "attributes": {"sentient": true}, "bundle": {"artifact_digest": h.artifact()}}),
        ),
        // Wrong types.
        (
            &h.admin,
            "/v1/systems",
            json!({"name": 5, "owner": cast.owner.id}),
        ),
        (
            &h.admin,
            "/v1/users",
            json!({"name": "x", "email": "x@example.com", "roles": "admin"}),
        ),
        (
            &h.admin,
            "/v1/users",
            json!({"name": "x", "email": "x@example.com", "roles": ["superuser"]}),
        ),
        (
            &cast.author,
            "/v1/releases",
            json!({"title": "t", "kind": "spaceship", "system": cast.system, "decision_owner": cast.owner.id,
                   "bundle": {"artifact_digest": h.artifact()}}),
        ),
        (
            &cast.author,
            "/v1/releases",
            json!({"title": "t", "kind": "model", "system": cast.system, "decision_owner": cast.owner.id,
                   "bundle": {"artifact_digest": "md5:abc"}}),
        ),
        (
            &cast.author,
            "/v1/releases",
            json!({"title": "t", "kind": "model", "system": cast.system, "decision_owner": cast.owner.id,
                   "attributes": {"autonomy_level": -1}, "bundle": {"artifact_digest": h.artifact()}}),
        ),
        (&h.admin, "/v1/systems", json!(["name", "owner"])),
        (&h.admin, "/v1/systems", json!(null)),
        // Missing required fields.
        (&h.admin, "/v1/systems", json!({"owner": cast.owner.id})),
        (&h.admin, "/v1/users", json!({"name": "x"})),
        (
            &cast.author,
            "/v1/releases",
            json!({"title": "t", "kind": "model", "system": cast.system, "decision_owner": cast.owner.id}),
        ),
    ];
    for (who, path, body) in &bad_bodies {
        let r = h.post_full(who, path, body).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-body");
    }
    assert_eq!(snapshot(&h).await, before);
}

#[tokio::test]
async fn bad_values_in_well_formed_bodies_are_refused() {
    for backend in backends() {
        bad_values_in_well_formed_bodies_are_refused_on(backend).await;
    }
}

async fn bad_values_in_well_formed_bodies_are_refused_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let before = snapshot(&h).await;
    let create = |attributes: Value, title: &str| {
        json!({"title": title, "kind": "model", "system": cast.system, "decision_owner": cast.owner.id,
               "attributes": attributes, "bundle": h.bundle(&h.artifact())})
    };
    for (body, code) in [
        (
            create(json!({"autonomy_level": 4}), "t"),
            "invalid-attributes",
        ),
        (
            create(json!({"data_classes": ["pii"]}), "t"),
            "invalid-attributes",
        ),
        (create(json!({}), "   "), "invalid-title"),
    ] {
        let r = h.post_full(&cast.author, "/v1/releases", &body).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    let mut unknown_system = create(json!({}), "t");
    unknown_system["system"] = json!("sys_nope");
    h.post_full(&cast.author, "/v1/releases", &unknown_system)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown-system");
    let mut unknown_trainer = create(json!({}), "t");
    unknown_trainer["bundle"]["trainer"] = json!("usr_nope");
    h.post_full(&cast.author, "/v1/releases", &unknown_trainer)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown-trainer");
    h.post_full(
        &h.admin,
        "/v1/systems",
        &json!({"name": " ", "owner": cast.owner.id}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-name");
    assert_eq!(snapshot(&h).await, before);
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    for backend in backends() {
        an_oversized_body_is_refused_on(backend).await;
    }
}

async fn an_oversized_body_is_refused_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let before = snapshot(&h).await;
    // Just over the 256 KiB limit for JSON commands, and well over it.
    for size in [256 * 1024 + 1, 1024 * 1024] {
        let body = json!({"name": "big", "description": "x".repeat(size), "owner": cast.owner.id});
        let r = h.post_full(&h.admin, "/v1/systems", &body).await;
        r.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large");
    }
    assert_eq!(snapshot(&h).await, before);
    // Just under the limit is fine.
    let body =
        json!({"name": "big", "description": "x".repeat(200 * 1024), "owner": cast.owner.id});
    h.command(&h.admin, "/v1/systems", &body, "system.create")
        .await;
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    for backend in backends() {
        unknown_ids_are_not_found_on(backend).await;
    }
}

async fn unknown_ids_are_not_found_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let before = snapshot(&h).await;
    let missing_digest = format!("sha256:{}", "0".repeat(64));
    for (path, code) in [
        ("/v1/releases/rel_nope".to_owned(), "release-not-found"),
        ("/v1/releases/rel_nope/gate".to_owned(), "release-not-found"),
        ("/v1/users/usr_nope".to_owned(), "user-not-found"),
        ("/v1/systems/sys_nope".to_owned(), "system-not-found"),
        (
            format!("/v1/evidence/{missing_digest}"),
            "evidence-not-found",
        ),
    ] {
        h.get_full(&cast.owner, &path)
            .await
            .assert_problem(StatusCode::NOT_FOUND, code);
    }
    let rel = Rel {
        id: "rel_nope".into(),
        artifact: String::new(),
        revision: 1,
    };
    for (who, path, body) in [
        (
            &cast.author,
            "/v1/releases/rel_nope/submit",
            json!({"revision": 1}),
        ),
        (
            &cast.author,
            "/v1/releases/rel_nope/revisions",
            json!({"based_on_revision": 1, "bundle": h.bundle(&h.artifact())}),
        ),
        (
            cast.reviewer("security"),
            "/v1/releases/rel_nope/reviews",
            h.review_body(&rel, "security", "approve"),
        ),
        (
            &cast.owner,
            "/v1/releases/rel_nope/decision",
            h.decision_body(&rel, "go"),
        ),
        (
            &cast.owner,
            "/v1/releases/rel_nope/acceptances",
            h.acceptance_body(&rel, "missing_review:security", chrono::Duration::days(1)),
        ),
        (
            cast.reviewer("operations"),
            "/v1/releases/rel_nope/promote",
            json!({"revision": 1}),
        ),
    ] {
        h.post_full(who, path, &body)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "release-not-found");
    }
    h.upload(
        &cast.author,
        "/v1/releases/rel_nope/evidence?revision=1&kind=threat_model&name=tm.pdf",
        b"x",
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "release-not-found");
    h.post_full(
        &h.admin,
        "/v1/users/usr_nope/tokens",
        &json!({"label": "x"}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "user-not-found");
    assert_eq!(snapshot(&h).await, before);
    // Revision 2 of a release that has only one.
    let real = h.medium(&cast).await;
    let before = snapshot(&h).await;
    h.get_full(
        &cast.owner,
        &format!("/v1/releases/{}/gate?revision=2", real.id),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "revision-not-found");
    assert_eq!(snapshot(&h).await, before);
}

#[tokio::test]
async fn a_bad_digest_is_refused() {
    for backend in backends() {
        a_bad_digest_is_refused_on(backend).await;
    }
}

async fn a_bad_digest_is_refused_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let u = h.user("Reader", &["operations"]).await;
    for bad in ["nope", "sha256:xyz", "md5:d41d8cd98f00b204e9800998ecf8427e"] {
        h.get_full(&u, &format!("/v1/gate/check?artifact={bad}&env=production"))
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-digest");
        h.get_full(&u, &format!("/v1/evidence/{bad}"))
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-digest");
    }
}

#[tokio::test]
async fn a_bad_query_string_is_a_problem() {
    for backend in backends() {
        a_bad_query_string_is_a_problem_on(backend).await;
    }
}

async fn a_bad_query_string_is_a_problem_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    let before = snapshot(&h).await;
    // Missing, mistyped and unknown query parameters get a problem document like
    // every other bad input, not a plain-text framework message.
    for path in [
        "/v1/gate/check".to_owned(),
        "/v1/gate/check?env=production".to_owned(),
        format!("/v1/releases/{}/gate?revision=two", rel.id),
        format!("/v1/releases/{}/gate?colour=blue", rel.id),
        "/v1/ledger?limit=many".to_owned(),
    ] {
        h.get_full(&h.admin, &path)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "invalid-query");
    }
    for query in [
        "",
        "?revision=1&kind=threat_model",
        "?revision=one&kind=threat_model&name=a",
    ] {
        h.upload(
            &cast.author,
            &format!("/v1/releases/{}/evidence{query}", rel.id),
            b"x",
        )
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-query");
    }
    assert_eq!(snapshot(&h).await, before);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    for backend in backends() {
        unknown_routes_and_methods_are_problems_on(backend).await;
    }
}

async fn unknown_routes_and_methods_are_problems_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let before = snapshot(&h).await;
    for path in [
        "/v1/nothing-here",
        "/v2/releases",
        "/v1/releases/rel_x/explode",
    ] {
        h.get_full(&h.admin, path)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "route-not-found");
    }
    for (method, path) in [
        (Method::DELETE, "/v1/users"),
        (Method::PUT, "/v1/releases"),
        (Method::PATCH, "/v1/systems"),
        (Method::GET, "/v1/releases/rel_x/submit"),
        (Method::POST, "/v1/ledger"),
    ] {
        let r = raw(
            &h,
            method.clone(),
            &h.admin,
            path,
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
        r.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
        assert!(
            r.headers.get("allow").is_some(),
            "{method} {path}: 405 names the allowed methods"
        );
    }
    assert_eq!(snapshot(&h).await, before);
}

#[tokio::test]
async fn an_unsupported_content_type_is_refused() {
    for backend in backends() {
        an_unsupported_content_type_is_refused_on(backend).await;
    }
}

async fn an_unsupported_content_type_is_refused_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let owner = h.user("Owner", &["risk"]).await;
    let before = snapshot(&h).await;
    let body = serde_json::to_vec(&json!({"name": "s", "owner": owner.id})).unwrap();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        raw(
            &h,
            Method::POST,
            &h.admin,
            "/v1/systems",
            Some(ct),
            body.clone(),
        )
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    }
    assert_eq!(snapshot(&h).await, before);
    // application/json with parameters, and +json types, are JSON.
    let r = raw(
        &h,
        Method::POST,
        &h.admin,
        "/v1/systems",
        Some("application/json; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}
