//! Agents, grants and just-in-time credentials (issue 5): I1, I4, I8, I9.

use crate::harness::*;
use chrono::Duration;
use countersign_server::app::agents::ISSUER;
use countersign_server::jwt;
use ed25519_dalek::SigningKey;
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(1);

fn fresh_key() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}

/// An agent registered through the API, with its private key.
pub struct TestAgent {
    pub id: String,
    sk: SigningKey,
}

/// A world with a promoted release, a system owner, an agent owner and one agent.
pub struct World {
    pub cast: Cast,
    pub rel: Rel,
    /// Owns the agent (and nothing else).
    pub agent_owner: TestUser,
    pub agent: TestAgent,
}

/// A release walked through the gate and promoted to production.
async fn promoted(h: &Harness, cast: &Cast) -> Rel {
    let rel = h.medium(cast).await;
    h.approve_everything(cast, &rel).await;
    h.go_ok(cast, &rel).await;
    h.deploy_ok(&cast.author, &rel, "promote").await;
    rel
}

async fn register(
    h: &Harness,
    owner: &TestUser,
    rel: &Rel,
    env: &str,
    sk: &SigningKey,
) -> (StatusCode, Value) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    h.post(
        &h.admin,
        "/v1/agents",
        &json!({"name": format!("refund-bot-{n}"), "owner": owner.id, "use_case": "refunds",
                "environment": env, "release": rel.id,
                "public_key": jwt::b64(sk.verifying_key().as_bytes())}),
    )
    .await
}

pub(crate) async fn agent(h: &Harness, owner: &TestUser, rel: &Rel) -> TestAgent {
    let sk = fresh_key();
    let before = h.ledger_count().await;
    let (status, a) = register(h, owner, rel, "production", &sk).await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    h.assert_one_entry(before, "agent.register").await;
    TestAgent {
        id: a["id"].as_str().expect("an agent id").to_owned(),
        sk,
    }
}

pub async fn world(h: &Harness) -> World {
    let cast = h.cast().await;
    let rel = promoted(h, &cast).await;
    let agent_owner = h.user("Agent Owner", &["operations"]).await;
    let agent = agent(h, &agent_owner, &rel).await;
    World {
        cast,
        rel,
        agent_owner,
        agent,
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

/// A client assertion signed by the agent: iss = sub = agent id, aud, exp, jti.
fn assertion_with(h: &Harness, a: &TestAgent, aud: &str, ttl: i64) -> String {
    let now = h.now().timestamp();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    jwt::sign(
        &obj(
            json!({"iss": a.id, "sub": a.id, "aud": aud, "iat": now, "exp": now + ttl,
                    "jti": format!("assert-{n}")}),
        ),
        "agent-key",
        &a.sk,
    )
}

pub fn assertion(h: &Harness, a: &TestAgent) -> String {
    assertion_with(h, a, ISSUER, 60)
}

pub async fn post_anon(h: &Harness, path: &str, body: &Value) -> Reply {
    h.send(h.request(Method::POST, path).json(body)).await
}

/// An agent requests a grant on `system`, expiring after `valid_for`.
pub async fn request_grant(
    h: &Harness,
    a: &TestAgent,
    system: &str,
    actions: &[&str],
    resources: &[&str],
    valid_for: Duration,
) -> Value {
    let before = h.ledger_count().await;
    let r = post_anon(
        h,
        "/v1/grants",
        &json!({"client_assertion": assertion(h, a), "system": system, "actions": actions,
                "resources": resources, "expires_at": h.now() + valid_for}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    h.assert_one_entry(before, "grant.request").await;
    let entry = h.ledger_after(before).await.remove(0);
    assert_eq!(entry.actor, a.id, "the agent is the actor of its request");
    assert!(entry.payload["approvers"].is_array() && entry.payload["revocable_by"].is_object());
    r.body
}

pub async fn approve(h: &Harness, who: &TestUser, grant: &Value) -> Value {
    let id = grant["id"].as_str().expect("a grant id");
    h.command(
        who,
        &format!("/v1/grants/{id}/approve"),
        &json!({}),
        "grant.approve",
    )
    .await
}

pub async fn token_reply(h: &Harness, a: &TestAgent, scope: &str, extra: Value) -> Reply {
    let mut body = obj(
        json!({"grant_type": "client_credentials", "client_assertion": assertion(h, a),
                              "task": "task-42", "scope": scope}),
    );
    body.extend(obj(extra));
    post_anon(h, "/v1/oauth/token", &Value::Object(body)).await
}

pub async fn token_ok(h: &Harness, a: &TestAgent, scope: &str) -> Value {
    let before = h.ledger_count().await;
    let r = token_reply(h, a, scope, json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    h.assert_one_entry(before, "credential.issue").await;
    r.body
}

pub(crate) async fn exchange(h: &Harness, a: &TestAgent, subject: &Value, scope: &str) -> Reply {
    exchange_for(h, a, subject, scope, Some("task-42")).await
}

/// Token exchange naming `task` (or none, to keep the delegator's).
async fn exchange_for(
    h: &Harness,
    a: &TestAgent,
    subject: &Value,
    scope: &str,
    task: Option<&str>,
) -> Reply {
    let mut body = json!({"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "client_assertion": assertion(h, a), "scope": scope,
            "subject_token": subject["access_token"],
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt"});
    if let Some(t) = task {
        body["task"] = json!(t);
    }
    post_anon(h, "/v1/oauth/token", &body).await
}

async fn introspect(h: &Harness, token: &Value) -> Value {
    let r = post_anon(
        h,
        "/v1/oauth/introspect",
        &json!({"token": token["access_token"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

async fn active(h: &Harness, token: &Value) -> bool {
    introspect(h, token).await["active"] == true
}

/// Decodes a token's header and claims without verifying (the tests verify elsewhere).
fn claims(token: &Value) -> (Map<String, Value>, Map<String, Value>) {
    let u = jwt::decode(token["access_token"].as_str().expect("a token")).expect("a JWT");
    (u.header.clone(), u.claims.clone())
}

pub fn scope(system: &str, action: &str, resource: &str) -> String {
    format!("{system}:{action}:{resource}")
}

#[tokio::test]
async fn i8_grant_without_the_system_owners_approval_is_inactive() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = &w.cast.system;
        let g = request_grant(
            &h,
            &w.agent,
            sys,
            &["read"],
            &["orders/*"],
            Duration::days(30),
        )
        .await;
        assert_eq!(g["state"], "pending");
        assert_eq!(g["missing_approvals"], json!(["system_owner"]));
        assert_eq!(g["mutating"], false);
        let s = scope(sys, "read", "orders/1");
        token_reply(&h, &w.agent, &s, json!({}))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "scope-not-granted");
        // The agent owner is not an approver of a read-only grant; nobody else is either.
        let path = format!("/v1/grants/{}/approve", g["id"].as_str().unwrap());
        for who in [&w.agent_owner, &h.admin, &w.cast.author] {
            h.refused(
                who,
                &path,
                &json!({}),
                StatusCode::FORBIDDEN,
                "not-an-approver",
            )
            .await;
        }
        let g = approve(&h, &w.cast.owner, &g).await;
        assert_eq!(g["state"], "active", "{g}");
        assert_eq!(g["system_owner_approved_by"], w.cast.owner.id.as_str());
        let t = token_ok(&h, &w.agent, &s).await;
        assert!(active(&h, &t).await);
        // Approving twice is refused.
        h.refused(
            &w.cast.owner,
            &path,
            &json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "grant-not-pending",
        )
        .await;
    }
}

#[tokio::test]
async fn i8_mutating_grant_without_the_agent_owners_approval_is_inactive() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = &w.cast.system;
        let g = request_grant(
            &h,
            &w.agent,
            sys,
            &["read", "refund"],
            &["orders/*"],
            Duration::days(30),
        )
        .await;
        assert_eq!(g["mutating"], true);
        assert_eq!(
            g["missing_approvals"],
            json!(["system_owner", "agent_owner"])
        );
        let g = approve(&h, &w.cast.owner, &g).await;
        assert_eq!(g["state"], "pending");
        assert_eq!(g["missing_approvals"], json!(["agent_owner"]));
        let s = scope(sys, "refund", "orders/9");
        token_reply(&h, &w.agent, &s, json!({}))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "scope-not-granted");
        let g = approve(&h, &w.agent_owner, &g).await;
        assert_eq!(g["state"], "active");
        assert_eq!(g["agent_owner_approved_by"], w.agent_owner.id.as_str());
        let t = token_ok(&h, &w.agent, &s).await;
        assert_eq!(t["scope"], s.as_str());
    }
}

#[tokio::test]
async fn i8_requested_scope_beyond_grants_is_refused() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let g = request_grant(
            &h,
            &w.agent,
            &sys,
            &["read"],
            &["orders/*"],
            Duration::days(30),
        )
        .await;
        approve(&h, &w.cast.owner, &g).await;
        let before = h.ledger_count().await;
        for s in [
            scope(&sys, "write", "orders/1"),
            scope(&sys, "read", "invoices/1"),
            scope(&sys, "read", "*"),
            scope("sys_other", "read", "orders/1"),
            format!(
                "{} {}",
                scope(&sys, "read", "orders/1"),
                scope(&sys, "delete", "orders/1")
            ),
        ] {
            token_reply(&h, &w.agent, &s, json!({}))
                .await
                .assert_problem(StatusCode::FORBIDDEN, "scope-not-granted");
        }
        token_reply(&h, &w.agent, "not a scope", json!({}))
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-scope");
        assert_eq!(h.ledger_count().await, before, "refusals write nothing");
        // Within the grant: fine, and the lifetime is the default 15 minutes.
        let t = token_ok(&h, &w.agent, &scope(&sys, "read", "orders/eu/1")).await;
        assert_eq!(t["expires_in"], 900);
        // Constraints: a daily window and a risk limit the task's declared score must meet.
        let r = post_anon(
            &h,
            "/v1/grants",
            &json!({"client_assertion": assertion(&h, &w.agent), "system": sys, "actions": ["list"],
                    "resources": ["*"], "expires_at": h.now() + Duration::days(30),
                    "constraints": {"window": {"start_hour": 8, "end_hour": 18}, "max_risk_score": 40}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["constraints"]["max_risk_score"], 40);
        approve(&h, &w.cast.owner, &r.body).await;
        let s = scope(&sys, "list", "orders");
        for (risk, why) in [
            (json!({}), "must state its risk_score"),
            (
                json!({"risk_score": 50}),
                "risk score 50 is above the covering grant's limit 40",
            ),
        ] {
            let r = token_reply(&h, &w.agent, &s, risk).await;
            r.assert_problem(StatusCode::FORBIDDEN, "scope-not-granted");
            assert!(
                r.body["detail"].as_str().unwrap().contains(why),
                "{}",
                r.body
            );
        }
        let ok = token_reply(&h, &w.agent, &s, json!({"risk_score": 30})).await;
        assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
        // Outside the window (the harness starts at 09:00 UTC).
        h.advance(Duration::hours(10));
        let r = token_reply(&h, &w.agent, &s, json!({"risk_score": 30})).await;
        r.assert_problem(StatusCode::FORBIDDEN, "scope-not-granted");
        assert!(
            r.body["detail"].as_str().unwrap().contains("time window"),
            "{}",
            r.body
        );
        // Bad terms are refused.
        let r = post_anon(
            &h,
            "/v1/grants",
            &json!({"client_assertion": assertion(&h, &w.agent), "system": sys, "actions": ["read"],
                    "resources": ["or*ders"], "expires_at": h.now() + Duration::days(30)}),
        )
        .await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-grant");
    }
}

#[tokio::test]
async fn i9_credentials_are_bound_to_agent_task_scope_and_release_and_never_outlive_the_grant() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = &w.cast.system;
        // A grant expiring in 5 minutes bounds the token below the default 15.
        let g = request_grant(
            &h,
            &w.agent,
            sys,
            &["read"],
            &["orders/*"],
            Duration::minutes(5),
        )
        .await;
        approve(&h, &w.cast.owner, &g).await;
        let s = scope(sys, "read", "orders/1");
        let t = token_ok(&h, &w.agent, &s).await;
        assert_eq!(t["expires_in"], 300);
        let (header, c) = claims(&t);
        assert_eq!(header["alg"], "EdDSA");
        assert!(header["kid"].is_string());
        assert_eq!(c["sub"], w.agent.id.as_str());
        assert_eq!(c["owner"], w.agent_owner.id.as_str());
        assert_eq!(c["task"], "task-42");
        assert_eq!(c["scope"], s.as_str());
        assert_eq!(c["release"], w.rel.id.as_str());
        assert_eq!(c["jti"], t["jti"]);
        assert!(c.get("act").is_none());
        let i = introspect(&h, &t).await;
        assert_eq!(i["active"], true);
        assert_eq!(i["sub"], w.agent.id.as_str());
        // Each token has its own jti.
        let t2 = token_ok(&h, &w.agent, &s).await;
        assert_ne!(t["jti"], t2["jti"]);
        // A tampered token is inactive.
        let raw = t["access_token"].as_str().unwrap();
        let tampered = format!("{}x", &raw[..raw.len() - 1]);
        assert!(!active(&h, &json!({"access_token": tampered})).await);
        assert!(!active(&h, &json!({"access_token": "garbage"})).await);
        // Expired by the clock.
        h.advance(Duration::minutes(5));
        assert!(!active(&h, &t).await);
    }
}

#[tokio::test]
async fn i8_expired_and_unrecertified_grants_lapse() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let s = scope(&sys, "read", "orders/1");
        // Expiry.
        let short = request_grant(
            &h,
            &w.agent,
            &sys,
            &["read"],
            &["orders/*"],
            Duration::days(2),
        )
        .await;
        approve(&h, &w.cast.owner, &short).await;
        token_ok(&h, &w.agent, &s).await;
        h.advance(Duration::days(2));
        let grants = h
            .get_ok(&w.cast.owner, &format!("/v1/grants?agent={}", w.agent.id))
            .await;
        assert_eq!(grants[0]["state"], "expired");
        token_reply(&h, &w.agent, &s, json!({}))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "scope-not-granted");

        // Recertification on the profile's cadence (90 days in the example profile).
        assert_eq!(h.profile.grants.recertify_every_days, 90);
        let long = request_grant(
            &h,
            &w.agent,
            &sys,
            &["read"],
            &["orders/*"],
            Duration::days(400),
        )
        .await;
        let long = approve(&h, &w.cast.owner, &long).await;
        let id = long["id"].as_str().unwrap().to_owned();
        let t = token_ok(&h, &w.agent, &s).await;
        // Not due yet; due within 14 days at day 80; lapsed at day 90.
        let due = h.get_ok(&w.cast.owner, "/v1/grants/due").await;
        assert_eq!(due, json!([]));
        h.advance(Duration::days(80));
        let due = h.get_ok(&w.cast.owner, "/v1/grants/due").await;
        assert_eq!(due.as_array().unwrap().len(), 1);
        assert_eq!(due[0]["id"], id.as_str());
        assert_eq!(due[0]["state"], "active");
        // Someone who owns neither the system nor the agent sees nothing due.
        assert_eq!(h.get_ok(&w.cast.author, "/v1/grants/due").await, json!([]));
        h.advance(Duration::days(10));
        let due = h.get_ok(&w.agent_owner, "/v1/grants/due").await;
        assert_eq!(due[0]["state"], "lapsed");
        assert!(
            !active(&h, &t).await,
            "a lapsed grant's credentials are inactive"
        );
        token_reply(&h, &w.agent, &s, json!({}))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "scope-not-granted");
        // Only an owner recertifies; then it is active again.
        let path = format!("/v1/grants/{id}/recertify");
        h.refused(
            &w.cast.author,
            &path,
            &json!({}),
            StatusCode::FORBIDDEN,
            "not-an-owner",
        )
        .await;
        let g = h
            .command(&w.cast.owner, &path, &json!({}), "grant.recertify")
            .await;
        assert_eq!(g["state"], "active");
        assert_eq!(g["certified_by"], w.cast.owner.id.as_str());
        token_ok(&h, &w.agent, &s).await;
        // Revoking it ends it and its credentials.
        let t = token_ok(&h, &w.agent, &s).await;
        let g = h
            .command(
                &w.agent_owner,
                &format!("/v1/grants/{id}/revoke"),
                &json!({"reason": "no longer needed"}),
                "grant.revoke",
            )
            .await;
        assert_eq!(g["state"], "revoked");
        assert!(!active(&h, &t).await);
    }
}

#[tokio::test]
async fn i8_a_delegated_token_never_exceeds_its_delegator() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let b_owner = h.user("Delegate Owner", &["operations"]).await;
        let b = agent(&h, &b_owner, &w.rel).await;
        let c_agent = agent(&h, &b_owner, &w.rel).await;
        let d_agent = agent(&h, &b_owner, &w.rel).await;
        let ga = request_grant(
            &h,
            &w.agent,
            &sys,
            &["read"],
            &["orders/*", "refunds/*"],
            Duration::days(30),
        )
        .await;
        approve(&h, &w.cast.owner, &ga).await;
        for x in [&b, &c_agent, &d_agent] {
            let g = request_grant(
                &h,
                x,
                &sys,
                &["read"],
                &["orders/*", "invoices/*"],
                Duration::days(30),
            )
            .await;
            approve(&h, &w.cast.owner, &g).await;
        }
        let a_token = token_ok(&h, &w.agent, &scope(&sys, "read", "orders/*")).await;

        // Within both: granted, with the act chain and the workflow owner.
        let before = h.ledger_count().await;
        let r = exchange(&h, &b, &a_token, &scope(&sys, "read", "orders/7")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        h.assert_one_entry(before, "credential.exchange").await;
        let b_token = r.body;
        assert_eq!(
            b_token["issued_token_type"],
            "urn:ietf:params:oauth:token-type:jwt"
        );
        let (_, c) = claims(&b_token);
        assert_eq!(
            c["sub"],
            w.agent.id.as_str(),
            "the subject stays the delegator"
        );
        assert_eq!(c["act"], json!({"sub": b.id}));
        assert_eq!(c["agent"], b.id.as_str());
        assert_eq!(
            c["owner"],
            w.agent_owner.id.as_str(),
            "the accountable human is the workflow owner"
        );
        let entry = h.ledger_after(before).await.remove(0);
        assert_eq!(entry.actor, b.id);
        assert_eq!(entry.payload["owner"], w.agent_owner.id.as_str());
        assert!(active(&h, &b_token).await);

        // Beyond the delegator's token (even though B's grants cover it).
        exchange(&h, &b, &a_token, &scope(&sys, "read", "invoices/1"))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "scope-beyond-delegator");
        exchange(&h, &b, &a_token, &scope(&sys, "read", "*"))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "scope-beyond-delegator");
        // Within the delegator's token but beyond B's own grants.
        let a_refunds = token_ok(&h, &w.agent, &scope(&sys, "read", "refunds/1")).await;
        exchange(&h, &b, &a_refunds, &scope(&sys, "read", "refunds/1"))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "scope-not-granted");

        // The chain is bounded by the profile (2): A -> B -> C is fine, -> D is not.
        let r = exchange(&h, &c_agent, &b_token, &scope(&sys, "read", "orders/7")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let c_token = r.body;
        let (_, cc) = claims(&c_token);
        assert_eq!(cc["act"], json!({"sub": c_agent.id, "act": {"sub": b.id}}));
        exchange(&h, &d_agent, &c_token, &scope(&sys, "read", "orders/7"))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "delegation-too-deep");

        // Revoking the delegator's token ends the whole chain at once.
        h.command(
            &h.admin,
            "/v1/credentials/revoke",
            &json!({"jti": a_token["jti"], "reason": "task cancelled"}),
            "credential.revoke",
        )
        .await;
        assert!(!active(&h, &a_token).await);
        assert!(!active(&h, &b_token).await);
        assert!(!active(&h, &c_token).await);
        exchange(&h, &b, &a_token, &scope(&sys, "read", "orders/7"))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "invalid-subject-token");
    }
}

#[tokio::test]
async fn i8_a_delegated_token_keeps_the_root_task_and_the_log_shows_the_chain() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let b_owner = h.user("Delegate Owner", &["operations"]).await;
        let b = agent(&h, &b_owner, &w.rel).await;
        for x in [&w.agent, &b] {
            let g = request_grant(&h, x, &sys, &["read"], &["orders/*"], Duration::days(30)).await;
            approve(&h, &w.cast.owner, &g).await;
        }
        let a_token = token_ok(&h, &w.agent, &scope(&sys, "read", "orders/*")).await;
        let s7 = scope(&sys, "read", "orders/7");

        // Another task is refused, and nothing is written.
        let before = h.ledger_count().await;
        let p = exchange_for(&h, &b, &a_token, &s7, Some("another-task")).await;
        p.assert_problem(StatusCode::FORBIDDEN, "delegation-changes-task");
        assert!(
            p.body["detail"].as_str().unwrap().contains("task-42"),
            "{}",
            p.body
        );
        assert_eq!(h.ledger_count().await, before);

        // No task keeps the delegator's; the same task is accepted too.
        let r = exchange_for(&h, &b, &a_token, &s7, None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let b_token = r.body;
        let (_, c) = claims(&b_token);
        assert_eq!(c["task"], "task-42", "{c:?}");
        let r = exchange(&h, &b, &a_token, &s7).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

        // Both act; the task's log shows both actions, each with its chain.
        for t in [&a_token, &b_token] {
            let r = h
                .send(
                    h.request(Method::POST, "/v1/decide")
                        .bearer_auth(t["access_token"].as_str().unwrap())
                        .json(
                            &json!({"action": "read", "system": sys, "resource": "orders/7",
                                      "context": {"risk_score": 5, "confidence": 0.99}}),
                        ),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            assert_eq!(r.body["decision"], "allow", "{}", r.body);
        }
        let log = h.get_ok(&h.admin, "/v1/actions?task=task-42").await;
        let log = log.as_array().unwrap();
        assert_eq!(log.len(), 2, "{log:?}");
        let chains: Vec<Value> = log.iter().map(|a| a["delegation"].clone()).collect();
        assert!(chains.contains(&json!([w.agent.id])), "{chains:?}");
        assert!(chains.contains(&json!([w.agent.id, b.id])), "{chains:?}");
        let by_b = log.iter().find(|a| a["agent"] == b.id.as_str()).unwrap();
        assert_eq!(by_b["delegation"], json!([w.agent.id, b.id]));
        let one = h
            .get_ok(
                &h.admin,
                &format!("/v1/actions/{}", by_b["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(one["delegation"], json!([w.agent.id, b.id]));
        assert_eq!(
            h.get_ok(&h.admin, "/v1/actions?task=another-task").await,
            json!([])
        );
    }
}

#[tokio::test]
async fn i9_rollback_revokes_credentials_suspends_agents_and_introspection_shows_it_at_once() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let g = request_grant(
            &h,
            &w.agent,
            &sys,
            &["read"],
            &["orders/*"],
            Duration::days(30),
        )
        .await;
        approve(&h, &w.cast.owner, &g).await;
        let s = scope(&sys, "read", "orders/1");
        let t1 = token_ok(&h, &w.agent, &s).await;
        let t2 = token_ok(&h, &w.agent, &s).await;
        assert!(active(&h, &t1).await && active(&h, &t2).await);

        let before = h.ledger_count().await;
        h.deploy_ok(&w.cast.author, &w.rel, "rollback").await;
        let entry = h.ledger_after(before).await.remove(0);
        assert_eq!(entry.payload["revoked_credentials"], 2);
        assert_eq!(entry.payload["suspended_agents"], json!([w.agent.id]));
        assert!(
            !active(&h, &t1).await,
            "introspection shows the rollback at once"
        );
        assert!(!active(&h, &t2).await);
        let a = h
            .get_ok(&w.cast.owner, &format!("/v1/agents/{}", w.agent.id))
            .await;
        assert_eq!(a["status"], "suspended");
        token_reply(&h, &w.agent, &s, json!({}))
            .await
            .assert_problem(StatusCode::FORBIDDEN, "agent-suspended");
    }
}

#[tokio::test]
async fn i9_retire_and_revocation_by_token_agent_grant_and_release() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let g = request_grant(
            &h,
            &w.agent,
            &sys,
            &["read"],
            &["orders/*"],
            Duration::days(30),
        )
        .await;
        approve(&h, &w.cast.owner, &g).await;
        let s = scope(&sys, "read", "orders/1");
        let revoke = |body: Value| {
            let h = &h;
            async move {
                h.command(
                    &h.admin,
                    "/v1/credentials/revoke",
                    &body,
                    "credential.revoke",
                )
                .await
            }
        };
        let t = token_ok(&h, &w.agent, &s).await;
        assert_eq!(
            revoke(json!({"jti": t["jti"], "reason": "r"})).await["revoked"],
            1
        );
        assert!(!active(&h, &t).await);
        let t = token_ok(&h, &w.agent, &s).await;
        assert_eq!(
            revoke(json!({"grant": g["id"], "reason": "r"})).await["revoked"],
            1
        );
        assert!(!active(&h, &t).await);
        let t = token_ok(&h, &w.agent, &s).await;
        assert_eq!(
            revoke(json!({"release": w.rel.id, "reason": "r"})).await["revoked"],
            1
        );
        assert!(!active(&h, &t).await);
        let t = token_ok(&h, &w.agent, &s).await;
        // The agent's owner may revoke its agent's credentials; another user may not.
        h.refused(
            &w.cast.author,
            "/v1/credentials/revoke",
            &json!({"agent": w.agent.id, "reason": "r"}),
            StatusCode::FORBIDDEN,
            "missing-role",
        )
        .await;
        let r = h
            .command(
                &w.agent_owner,
                "/v1/credentials/revoke",
                &json!({"agent": w.agent.id, "reason": "r"}),
                "credential.revoke",
            )
            .await;
        assert_eq!(r["revoked"], 1);
        assert!(!active(&h, &t).await);
        h.refused(
            &h.admin,
            "/v1/credentials/revoke",
            &json!({"jti": "x", "agent": w.agent.id, "reason": "r"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-revocation",
        )
        .await;
        // Retiring the release suspends the agent.
        let t = token_ok(&h, &w.agent, &s).await;
        h.deploy_ok(&w.cast.author, &w.rel, "retire").await;
        assert!(!active(&h, &t).await);
        let a = h
            .get_ok(&h.admin, &format!("/v1/agents/{}", w.agent.id))
            .await;
        assert_eq!(a["status"], "suspended");
    }
}

#[tokio::test]
async fn i4_a_human_token_cannot_obtain_agent_credentials_and_an_agent_approves_nothing() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let g = request_grant(
            &h,
            &w.agent,
            &sys,
            &["read", "write"],
            &["orders/*"],
            Duration::days(30),
        )
        .await;
        let before = h.ledger_count().await;
        let s = scope(&sys, "read", "orders/1");
        // A human's API token as the assertion, or as a bearer header: refused.
        for who in [&h.admin, &w.agent_owner] {
            let body = json!({"grant_type": "client_credentials", "client_assertion": who.token,
                              "task": "t", "scope": s});
            post_anon(&h, "/v1/oauth/token", &body)
                .await
                .assert_problem(StatusCode::UNAUTHORIZED, "invalid-client");
            h.send(
                h.request(Method::POST, "/v1/oauth/token")
                    .bearer_auth(&who.token)
                    .json(&body),
            )
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "invalid-client");
        }
        // An assertion signed by another key, replayed, for another audience, or too long-lived.
        let impostor = TestAgent {
            id: w.agent.id.clone(),
            sk: fresh_key(),
        };
        token_reply(&h, &impostor, &s, json!({}))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "invalid-client");
        let a = assertion(&h, &w.agent);
        let body = json!({"grant_type": "client_credentials", "client_assertion": a, "task": "t", "scope": s});
        let first = post_anon(&h, "/v1/oauth/token", &body).await;
        assert_eq!(
            first.status,
            StatusCode::FORBIDDEN,
            "not granted yet, so nothing is recorded: {}",
            first.body
        );
        for bad in [
            assertion_with(&h, &w.agent, "https://elsewhere.example/token", 60),
            assertion_with(&h, &w.agent, ISSUER, 3600),
            assertion_with(&h, &w.agent, ISSUER, -120),
        ] {
            let body = json!({"grant_type": "client_credentials", "client_assertion": bad, "task": "t", "scope": s});
            post_anon(&h, "/v1/oauth/token", &body)
                .await
                .assert_problem(StatusCode::UNAUTHORIZED, "invalid-client");
        }
        assert_eq!(h.ledger_count().await, before);

        // An agent can approve nothing: its assertion or its credential is no API token.
        approve(&h, &w.cast.owner, &g).await;
        approve(&h, &w.agent_owner, &g).await;
        let t = token_ok(&h, &w.agent, &s).await;
        let g2 = request_grant(
            &h,
            &w.agent,
            &sys,
            &["read"],
            &["invoices/*"],
            Duration::days(30),
        )
        .await;
        let before = h.ledger_count().await;
        let id = g2["id"].as_str().unwrap();
        for bearer in [
            assertion(&h, &w.agent),
            t["access_token"].as_str().unwrap().to_owned(),
        ] {
            for path in [
                format!("/v1/grants/{id}/approve"),
                format!("/v1/grants/{id}/recertify"),
                format!("/v1/releases/{}/decision", w.rel.id),
            ] {
                h.send(
                    h.request(Method::POST, &path)
                        .bearer_auth(&bearer)
                        .json(&json!({})),
                )
                .await
                .assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
            }
        }
        assert_eq!(h.ledger_count().await, before);

        // A replayed assertion is refused once it has been used.
        let a = assertion(&h, &w.agent);
        let body = json!({"grant_type": "client_credentials", "client_assertion": a, "task": "t", "scope": s});
        assert_eq!(
            post_anon(&h, "/v1/oauth/token", &body).await.status,
            StatusCode::CREATED
        );
        post_anon(&h, "/v1/oauth/token", &body)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "invalid-client");
        // The token endpoint URL on this server is an accepted audience too.
        let aud = format!("{}/v1/oauth/token", h.base);
        let body = json!({"grant_type": "client_credentials", "client_assertion": assertion_with(&h, &w.agent, &aud, 60), "task": "t", "scope": s});
        assert_eq!(
            post_anon(&h, "/v1/oauth/token", &body).await.status,
            StatusCode::CREATED
        );
    }
}

#[tokio::test]
async fn i1_an_agent_has_one_owner_a_promoted_release_and_its_own_identity_per_environment() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let a = h
            .get_ok(&w.cast.owner, &format!("/v1/agents/{}", w.agent.id))
            .await;
        assert_eq!(a["owner"], w.agent_owner.id.as_str());
        assert_eq!(a["release"], w.rel.id.as_str());
        assert_eq!(a["status"], "active");
        let list = h.get_ok(&w.cast.owner, "/v1/agents").await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        let draft = h.medium(&w.cast).await;
        let before = h.ledger_count().await;
        // The same key for another environment (or agent) is refused.
        let (status, body) = register(&h, &w.agent_owner, &w.rel, "staging", &w.agent.sk).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        // An unknown owner, a release not in production, a bad key.
        let sk = fresh_key();
        let (status, body) = register(
            &h,
            &TestUser {
                id: "usr_nobody".into(),
                token: String::new(),
            },
            &w.rel,
            "production",
            &sk,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown-owner"))
        );
        let (status, body) = register(&h, &w.agent_owner, &draft, "production", &sk).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("release-not-in-production")
            ),
            "{body}"
        );
        let (status, body) = h
            .post(
                &h.admin,
                "/v1/agents",
                &json!({"name": "x", "owner": w.agent_owner.id, "use_case": "u",
                    "environment": "production", "release": w.rel.id, "public_key": "AAAA"}),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid-public-key"))
        );
        // A JWK is accepted.
        let jwk = jwt::jwk("k", &sk.verifying_key()).to_string();
        let (status, body) = h
            .post(
                &h.admin,
                "/v1/agents",
                &json!({"name": "jwk-bot", "owner": w.agent_owner.id, "use_case": "u",
                    "environment": "production", "release": w.rel.id, "public_key": jwk}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // A reviewer role cannot register agents.
        h.refused(w.cast.reviewer("legal"), "/v1/agents", &json!({"name": "y", "owner": w.agent_owner.id, "use_case": "u",
                    "environment": "production", "release": w.rel.id, "public_key": jwt::b64(fresh_key().verifying_key().as_bytes())}),
                  StatusCode::FORBIDDEN, "missing-role").await;
        assert_eq!(h.ledger_count().await, before + 1);
        // Suspension by the owner revokes its credentials.
        let g = request_grant(
            &h,
            &w.agent,
            &w.cast.system,
            &["read"],
            &["*"],
            Duration::days(1),
        )
        .await;
        approve(&h, &w.cast.owner, &g).await;
        let t = token_ok(&h, &w.agent, &scope(&w.cast.system, "read", "x")).await;
        h.command(
            &w.agent_owner,
            &format!("/v1/agents/{}/suspend", w.agent.id),
            &json!({"reason": "incident"}),
            "agent.suspend",
        )
        .await;
        assert!(!active(&h, &t).await);
        // A suspended agent cannot request grants either.
        let r = post_anon(&h, "/v1/grants", &json!({"client_assertion": assertion(&h, &w.agent), "system": w.cast.system,
                "actions": ["read"], "resources": ["*"], "expires_at": h.now() + Duration::days(1)})).await;
        r.assert_problem(StatusCode::FORBIDDEN, "agent-suspended");
    }
}

#[tokio::test]
async fn i9_key_rotation_keeps_old_tokens_verifiable_until_they_expire() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let g = request_grant(
            &h,
            &w.agent,
            &w.cast.system,
            &["read"],
            &["*"],
            Duration::days(30),
        )
        .await;
        approve(&h, &w.cast.owner, &g).await;
        let s = scope(&w.cast.system, "read", "x");
        let old = token_ok(&h, &w.agent, &s).await;
        let jwks = h
            .send(h.request(Method::GET, "/.well-known/jwks.json"))
            .await
            .body;
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
        let old_kid = claims(&old).0["kid"].clone();
        assert_eq!(jwks["keys"][0]["kid"], old_kid);
        h.refused(
            &w.cast.author,
            "/v1/keys/rotate",
            &json!({}),
            StatusCode::FORBIDDEN,
            "missing-role",
        )
        .await;
        let k = h
            .command(
                &h.admin,
                "/v1/keys/rotate",
                &json!({}),
                "credential_key.rotate",
            )
            .await;
        let new = token_ok(&h, &w.agent, &s).await;
        assert_eq!(claims(&new).0["kid"], k["kid"]);
        assert_ne!(k["kid"], old_kid);
        let jwks = h
            .send(h.request(Method::GET, "/.well-known/jwks.json"))
            .await
            .body;
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        assert!(active(&h, &old).await && active(&h, &new).await);
        // Once every token the old key signed has expired, it is no longer published.
        h.advance(Duration::hours(1));
        let jwks = h
            .send(h.request(Method::GET, "/.well-known/jwks.json"))
            .await
            .body;
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert_eq!(jwks["keys"][0]["kid"], k["kid"]);
    }
}

/// The interpreter for the third-party verifier: `COUNTERSIGN_PYTHON`, else the
/// repository's `.venv`. Fails (never skips) when PyJWT is not importable.
fn python() -> String {
    let candidate = std::env::var("COUNTERSIGN_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| format!("{}/../../.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
    let ok = std::process::Command::new(&candidate)
        .args(["-c", "import jwt, cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the third-party JWT verifier needs Python with PyJWT and cryptography ({candidate} has none).\n\
         Run the tests with scripts/test, which creates the venv at the repository root,\n\
         or set COUNTERSIGN_PYTHON to an interpreter with the packages of scripts/requirements-test.txt."
    );
    candidate
}

#[tokio::test]
async fn i9_a_third_party_verifier_checks_our_tokens_against_the_jwks() {
    let py = python();
    let script = format!("{}/tests/py/verify_jwt.py", env!("CARGO_MANIFEST_DIR"));
    let h = Harness::start_on(Backend::Sqlite).await;
    // PyJWT checks exp, iat and nbf against the real clock.
    h.clock.set(chrono::Utc::now());
    let w = world(&h).await;
    let g = request_grant(
        &h,
        &w.agent,
        &w.cast.system,
        &["read"],
        &["*"],
        Duration::days(30),
    )
    .await;
    approve(&h, &w.cast.owner, &g).await;
    let t = token_ok(&h, &w.agent, &scope(&w.cast.system, "read", "orders/1")).await;
    let token = t["access_token"].as_str().unwrap().to_owned();
    let jwks_url = h.url("/.well-known/jwks.json");
    let (sys, sub) = (w.cast.system.clone(), w.agent.id.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(py)
            .args([&script, &jwks_url, &token, &sys, &sub])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "PyJWT refused our token: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["claims"]["jti"], t["jti"]);
}

#[tokio::test]
async fn i9_the_token_endpoint_and_introspection_accept_form_encoded_oauth_requests() {
    let h = Harness::start_on(Backend::Sqlite).await;
    let w = world(&h).await;
    let g = request_grant(
        &h,
        &w.agent,
        &w.cast.system,
        &["read"],
        &["*"],
        Duration::days(30),
    )
    .await;
    approve(&h, &w.cast.owner, &g).await;
    let s = scope(&w.cast.system, "read", "a");
    let form = [
        ("grant_type", "client_credentials".to_owned()),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
        ),
        ("client_assertion", assertion(&h, &w.agent)),
        ("task", "form-task".to_owned()),
        ("scope", s),
        ("lifetime", "60".to_owned()),
    ];
    let r = h
        .send(h.request(Method::POST, "/v1/oauth/token").form(&form))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["expires_in"], 60);
    let token = r.body["access_token"].as_str().unwrap().to_owned();
    let r = h
        .send(
            h.request(Method::POST, "/v1/oauth/introspect")
                .form(&[("token", token)]),
        )
        .await;
    assert_eq!(r.body["active"], true, "{}", r.body);
    assert_eq!(r.body["task"], "form-task");
}
