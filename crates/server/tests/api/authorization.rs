//! Authorization: every route in the OpenAPI document refuses a request without a
//! token (401), with a bad token (401), and with the token of a user lacking the
//! needed role (403). The walk is driven by the document, so a new route is covered
//! the day it is added.

use crate::harness::*;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Routes anyone may call. Introspection is public: the token is the caller's proof.
const PUBLIC: [&str; 8] = [
    "/healthz",
    "/readyz",
    "/.well-known/jwks.json",
    "/v1/oauth/introspect",
    // The ledger as a transparency log: tree sizes and hashes, no entry's fields.
    "/v1/ledger/checkpoint",
    "/v1/ledger/proof/inclusion",
    "/v1/ledger/proof/consistency",
    "/v1/ledger/keys",
];

/// Routes an agent calls, authenticated by its client assertion in the body, never by
/// a human API token: every bad or human credential is 401 `invalid-client`.
const AGENT: [(&str, &str); 2] = [("post", "/v1/grants"), ("post", "/v1/oauth/token")];

/// Routes an agent calls with its just-in-time credential as the bearer token (issue
/// 6): no token, a bad one, or any human API token is 401 `invalid-credential`.
pub(crate) const CREDENTIAL: [(&str, &str); 6] = [
    ("post", "/v1/decide"),
    ("post", "/v1/decide/preview"),
    ("post", "/access/v1/evaluation"),
    ("post", "/access/v1/evaluations"),
    ("get", "/v1/approvals/{id}/wait"),
    ("post", "/v1/actions/{id}/outcome"),
];

/// Every authenticated operation the API had when this test was written; the walk
/// must cover at least these, so it cannot silently shrink.
const KNOWN: [(&str, &str); 61] = [
    ("get", "/v1/me"),
    ("post", "/v1/users"),
    ("get", "/v1/users"),
    ("get", "/v1/users/{id}"),
    ("post", "/v1/users/{id}/tokens"),
    ("post", "/v1/systems"),
    ("get", "/v1/systems"),
    ("get", "/v1/systems/{id}"),
    ("get", "/v1/profile"),
    ("post", "/v1/releases"),
    ("get", "/v1/releases"),
    ("get", "/v1/releases/{id}"),
    ("post", "/v1/releases/{id}/revisions"),
    ("post", "/v1/releases/{id}/submit"),
    ("get", "/v1/releases/{id}/gate"),
    ("post", "/v1/releases/{id}/reviews"),
    ("post", "/v1/releases/{id}/evidence"),
    ("get", "/v1/evidence/{digest}"),
    ("post", "/v1/releases/{id}/acceptances"),
    ("post", "/v1/releases/{id}/decision"),
    ("post", "/v1/releases/{id}/promote"),
    ("post", "/v1/releases/{id}/rollback"),
    ("post", "/v1/releases/{id}/retire"),
    ("get", "/v1/gate/check"),
    ("get", "/v1/ledger"),
    ("get", "/v1/ledger/verify"),
    ("post", "/v1/ledger/cosignatures"),
    // Agents, grants and credentials (issue 5).
    ("post", "/v1/agents"),
    ("get", "/v1/agents"),
    ("get", "/v1/agents/{id}"),
    ("post", "/v1/agents/{id}/suspend"),
    ("get", "/v1/grants"),
    ("get", "/v1/grants/due"),
    ("post", "/v1/grants/{id}/approve"),
    ("post", "/v1/grants/{id}/recertify"),
    ("post", "/v1/grants/{id}/revoke"),
    ("post", "/v1/credentials/revoke"),
    ("post", "/v1/keys/rotate"),
    ("post", "/v1/datasets"),
    ("get", "/v1/datasets"),
    ("get", "/v1/datasets/{key}"),
    ("post", "/v1/datasets/{key}/approval"),
    ("post", "/v1/runs"),
    ("get", "/v1/runs"),
    ("get", "/v1/runs/{id}"),
    ("post", "/v1/releases/{id}/block"),
    ("get", "/v1/releases/{id}/evaluation"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks"),
    ("get", "/v1/webhooks/{id}/deliveries"),
    // Runtime decisions, approvals, the action log (issue 6).
    ("get", "/v1/approvals"),
    ("get", "/v1/approvals/{id}"),
    ("post", "/v1/approvals/{id}/approve"),
    ("post", "/v1/approvals/{id}/deny"),
    ("get", "/v1/actions"),
    ("get", "/v1/actions/{id}"),
    ("post", "/v1/actions/{id}/review"),
    ("get", "/v1/reviews/queue"),
    ("get", "/v1/accountability"),
    ("get", "/v1/policies"),
    ("post", "/v1/policies/reload"),
];

/// One operation of the OpenAPI document.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    pub(crate) method: String,
    pub(crate) template: String,
    pub(crate) required_query: Vec<String>,
    pub(crate) raw_body: bool,
}

pub(crate) fn operations(doc: &Value) -> Vec<Op> {
    let mut ops = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let required_query = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "query" && p["required"] == true)
                        .map(|p| p["name"].as_str().expect("a parameter name").to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let raw_body = op["requestBody"]["content"]
                .as_object()
                .is_some_and(|c| c.contains_key("application/octet-stream"));
            ops.push(Op {
                method: method.to_owned(),
                template: template.clone(),
                required_query,
                raw_body,
            });
        }
    }
    ops
}

/// Real objects to put in paths, so a refusal is never a masked 404.
pub(crate) struct Fixture {
    pub(crate) cast: Cast,
    pub(crate) rel: Rel,
    pub(crate) evidence_digest: String,
    pub(crate) roleless: TestUser,
    pub(crate) agents: crate::agents::World,
    pub(crate) grant: String,
    pub(crate) dataset: String,
    pub(crate) run: String,
    pub(crate) webhook: String,
}

pub(crate) async fn fixture(h: &Harness) -> Fixture {
    let cast = h.cast().await;
    let rel = h.medium(&cast).await;
    let e = h
        .attach(&cast.author, &rel, "threat_model", b"stride")
        .await;
    let roleless = h.user("Nobody", &[]).await;
    let agents = crate::agents::world(h).await;
    let g = crate::agents::request_grant(
        h,
        &agents.agent,
        &agents.cast.system,
        &["read"],
        &["*"],
        chrono::Duration::days(30),
    )
    .await;
    let dataset = h
        .dataset(&cast.author, "walk-data", "1", &["walking"])
        .await;
    let run = h
        .run(
            &cast.author,
            "walk-run",
            &[&dataset],
            &cast.author,
            &rel.artifact,
        )
        .await;
    let hook = h
        .command(
            &h.admin,
            "/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["decided"]}),
            "webhook.create",
        )
        .await;
    Fixture {
        cast,
        rel,
        evidence_digest: e["digest"].as_str().expect("a digest").to_owned(),
        roleless,
        agents,
        grant: g["id"].as_str().expect("a grant id").to_owned(),
        dataset,
        run,
        webhook: hook["id"].as_str().expect("a webhook id").to_owned(),
    }
}

impl Fixture {
    pub(crate) fn path(&self, op: &Op) -> String {
        let id = if op.template.starts_with("/v1/users/") {
            self.cast.owner.id.as_str()
        } else if op.template.starts_with("/v1/runs/") {
            self.run.as_str()
        } else if op.template.starts_with("/v1/webhooks/") {
            self.webhook.as_str()
        } else if op.template.starts_with("/v1/systems/") {
            self.cast.system.as_str()
        } else if op.template.starts_with("/v1/agents/") {
            self.agents.agent.id.as_str()
        } else if op.template.starts_with("/v1/grants/") {
            self.grant.as_str()
        } else {
            self.rel.id.as_str()
        };
        let mut path = op
            .template
            .replace("{id}", id)
            .replace("{digest}", &self.evidence_digest)
            .replace("{key}", &self.dataset);
        assert!(
            !path.contains('{'),
            "unfilled path parameter in {}",
            op.template
        );
        let query: Vec<String> = op
            .required_query
            .iter()
            .map(|name| {
                let v = match name.as_str() {
                    "revision" => "1".to_owned(),
                    "kind" => "threat_model".to_owned(),
                    "name" => "walk.pdf".to_owned(),
                    "artifact" => self.rel.artifact.clone(),
                    "env" => "production".to_owned(),
                    "entry" | "from" => "1".to_owned(),
                    other => panic!(
                        "no value for required query parameter {other} of {}",
                        op.template
                    ),
                };
                format!("{name}={v}")
            })
            .collect();
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        path
    }

    /// A body that fits the route, so only the credentials are wrong.
    pub(crate) fn body(&self, h: &Harness, op: &Op) -> Option<Value> {
        if op.method != "post" || op.raw_body {
            return None;
        }
        let rel = &self.rel;
        let t = op.template.as_str();
        Some(match t {
            "/v1/users" => {
                json!({"name": "Walker", "email": "walker@example.com", "roles": ["legal"]})
            }
            "/v1/users/{id}/tokens" => json!({"label": "walk"}),
            "/v1/systems" => json!({"name": "walked", "owner": self.cast.owner.id}),
            "/v1/releases" => json!({
                "title": "walked", "kind": "model", "system": self.cast.system,
                "decision_owner": self.cast.owner.id, "bundle": h.bundle(&h.artifact()),
            }),
            "/v1/releases/{id}/revisions" => {
                json!({"based_on_revision": 1, "bundle": h.bundle(&h.artifact())})
            }
            "/v1/releases/{id}/submit" => json!({"revision": 1}),
            "/v1/releases/{id}/reviews" => h.review_body(rel, "security", "approve"),
            "/v1/releases/{id}/acceptances" => {
                h.acceptance_body(rel, "missing_review:security", chrono::Duration::days(1))
            }
            "/v1/releases/{id}/decision" => h.decision_body(rel, "go"),
            "/v1/releases/{id}/block" => json!({"revision": 1, "reason": "walking the routes"}),
            "/v1/webhooks" => json!({"url": "http://127.0.0.1:9/walk", "events": ["promoted"]}),
            "/v1/datasets" => h.dataset_body("walked", "1", &["walking"]),
            "/v1/datasets/{key}/approval" => json!({"comment": "walk"}),
            "/v1/runs" => h.run_body(
                "walked-run",
                &[&self.dataset],
                &self.cast.author,
                &rel.artifact,
            ),
            _ if t.ends_with("/promote") || t.ends_with("/rollback") || t.ends_with("/retire") => {
                json!({"revision": 1, "reason": "walk"})
            }
            "/v1/agents" => json!({
                "name": "walker", "owner": self.cast.owner.id, "use_case": "walk",
                "environment": "production", "release": self.agents.rel.id,
                "public_key": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            }),
            "/v1/grants" => json!({
                "client_assertion": "not-an-assertion", "system": self.agents.cast.system,
                "actions": ["read"], "resources": ["*"], "expires_at": h.now() + chrono::Duration::days(1),
            }),
            "/v1/oauth/token" => json!({
                "grant_type": "client_credentials", "client_assertion": "not-an-assertion",
                "task": "walk", "scope": format!("{}:read:x", self.agents.cast.system),
            }),
            "/v1/oauth/introspect" => json!({"token": "not-a-token"}),
            "/v1/ledger/cosignatures" => json!({"note": "walk", "witness": "walk"}),
            "/v1/credentials/revoke" => json!({"agent": self.agents.agent.id, "reason": "walk"}),
            _ if t.ends_with("/suspend") || t.ends_with("/revoke") => json!({"reason": "walk"}),
            _ => json!({}),
        })
    }

    pub(crate) fn request(&self, h: &Harness, op: &Op) -> reqwest::RequestBuilder {
        let method = Method::from_bytes(op.method.to_uppercase().as_bytes()).expect("a method");
        let req = h.request(method, &self.path(op));
        if op.raw_body {
            req.header(CONTENT_TYPE, "application/octet-stream")
                .body(b"walk".to_vec())
        } else if let Some(b) = self.body(h, op) {
            req.json(&b)
        } else {
            req
        }
    }
}

pub(crate) async fn openapi(h: &Harness) -> Value {
    let r = h.send(h.request(Method::GET, "/openapi.json")).await;
    assert_eq!(r.status, StatusCode::OK, "the OpenAPI document is public");
    r.body
}

#[tokio::test]
async fn authorization_every_route_refuses_missing_bad_and_roleless_tokens() {
    for backend in backends() {
        authorization_every_route_refuses_missing_bad_and_roleless_tokens_on(backend).await;
    }
}

async fn authorization_every_route_refuses_missing_bad_and_roleless_tokens_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let f = fixture(&h).await;
    let doc = openapi(&h).await;
    assert!(
        doc["paths"].as_object().expect("paths").len() >= 25,
        "the OpenAPI document lost routes"
    );
    let ops = operations(&doc);
    for (method, template) in KNOWN {
        assert!(
            ops.iter()
                .any(|o| o.method == method && o.template == template),
            "{method} {template} is missing from the OpenAPI document"
        );
    }

    let before = h.ledger_count().await;
    let bad_headers = [
        format!("Bearer cst_{}", "0".repeat(64)),
        "Bearer not-a-token".to_owned(),
        "Bearer ".to_owned(),
        format!("Basic {}", "YWRtaW46YWRtaW4="),
        f.cast.author.token.clone(), // a real secret without the Bearer scheme
    ];
    let mut walked = 0;
    for op in &ops {
        if PUBLIC.contains(&op.template.as_str()) {
            let r = h.send(f.request(&h, op)).await;
            assert_eq!(r.status, StatusCode::OK, "{} is public", op.template);
            continue;
        }
        walked += 1;
        let what = format!("{} {}", op.method.to_uppercase(), op.template);
        if AGENT.contains(&(op.method.as_str(), op.template.as_str())) {
            // No human credential of any kind authenticates an agent (I4).
            let r = h.send(f.request(&h, op)).await;
            r.assert_problem(StatusCode::UNAUTHORIZED, "invalid-client");
            for bad in bad_headers.iter().chain([
                &format!("Bearer {}", f.roleless.token),
                &format!("Bearer {}", h.admin.token),
            ]) {
                let r = h.send(f.request(&h, op).header(AUTHORIZATION, bad)).await;
                r.assert_problem(StatusCode::UNAUTHORIZED, "invalid-client");
            }
            continue;
        }

        if CREDENTIAL.contains(&(op.method.as_str(), op.template.as_str())) {
            // Only an agent's active credential authenticates; no human token does.
            let r = h.send(f.request(&h, op)).await;
            r.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credential");
            for bad in bad_headers.iter().chain([
                &format!("Bearer {}", f.roleless.token),
                &format!("Bearer {}", h.admin.token),
            ]) {
                let r = h.send(f.request(&h, op).header(AUTHORIZATION, bad)).await;
                r.assert_problem(StatusCode::UNAUTHORIZED, "invalid-credential");
            }
            continue;
        }

        let r = h.send(f.request(&h, op)).await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        assert_eq!(
            r.headers
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "{what} without a token"
        );
        for bad in &bad_headers {
            let r = h.send(f.request(&h, op).header(AUTHORIZATION, bad)).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{what} with {bad:?}: {}",
                r.body
            );
            r.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        }
        let r = h
            .send(f.request(&h, op).bearer_auth(&f.roleless.token))
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{what} with a roleless token: {}",
            r.body
        );
        r.assert_problem(StatusCode::FORBIDDEN, "missing-role");
    }
    for (method, template) in AGENT {
        assert!(
            ops.iter()
                .any(|o| o.method == method && o.template == template),
            "{method} {template} is missing from the OpenAPI document"
        );
    }
    for (method, template) in CREDENTIAL {
        assert!(
            ops.iter()
                .any(|o| o.method == method && o.template == template),
            "{method} {template} is missing from the OpenAPI document"
        );
    }
    assert!(
        walked >= KNOWN.len() + AGENT.len() + CREDENTIAL.len(),
        "walked only {walked} operations"
    );
    assert_eq!(
        h.ledger_count().await,
        before,
        "no refused request wrote anything"
    );
}

#[tokio::test]
async fn authorization_routes_refuse_a_token_lacking_the_needed_role() {
    for backend in backends() {
        authorization_routes_refuse_a_token_lacking_the_needed_role_on(backend).await;
    }
}

async fn authorization_routes_refuse_a_token_lacking_the_needed_role_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let f = fixture(&h).await;
    let cast = &f.cast;
    let ops = operations(&openapi(&h).await);
    let op = |method: &str, template: &str| -> Op {
        ops.iter()
            .find(|o| o.method == method && o.template == template)
            .unwrap_or_else(|| panic!("{method} {template} is not in the OpenAPI document"))
            .clone()
    };
    let security = cast.reviewer("security");
    let before = h.ledger_count().await;

    // (who, operation, expected problem code)
    let mut cases: Vec<(&TestUser, Op, &str)> = Vec::new();
    // Admin only: users, tokens, systems.
    for (m, t) in [
        ("post", "/v1/users"),
        ("get", "/v1/users"),
        ("post", "/v1/users/{id}/tokens"),
        ("post", "/v1/systems"),
        ("post", "/v1/webhooks"),
        ("get", "/v1/webhooks"),
        ("get", "/v1/webhooks/{id}/deliveries"),
    ] {
        for who in [security, &cast.author, &cast.owner] {
            cases.push((who, op(m, t), "missing-role"));
        }
    }
    // Admin, compliance or risk: the ledger.
    for t in ["/v1/ledger", "/v1/ledger/verify"] {
        for who in [&cast.author, security, cast.reviewer("operations")] {
            cases.push((who, op("get", t), "missing-role"));
        }
    }
    // mlops authors: create, revise, submit.
    for (m, t) in [
        ("post", "/v1/releases"),
        ("post", "/v1/releases/{id}/revisions"),
        ("post", "/v1/releases/{id}/submit"),
    ] {
        for who in [security, &cast.owner, &h.admin] {
            cases.push((who, op(m, t), "missing-role"));
        }
    }
    // mlops or operations deploy.
    for t in ["promote", "rollback", "retire"] {
        for who in [security, &cast.owner, &h.admin] {
            cases.push((
                who,
                op("post", &format!("/v1/releases/{{id}}/{t}")),
                "missing-role",
            ));
        }
    }
    // Lineage: data-governance or mlops register datasets; data-governance alone
    // approves them; mlops registers runs.
    for who in [security, &cast.owner, &h.admin] {
        cases.push((who, op("post", "/v1/datasets"), "missing-role"));
        cases.push((who, op("post", "/v1/runs"), "missing-role"));
    }
    for who in [security, &cast.author, &h.admin] {
        cases.push((
            who,
            op("post", "/v1/datasets/{key}/approval"),
            "missing-role",
        ));
    }
    cases.push((
        cast.reviewer("data-governance"),
        op("post", "/v1/runs"),
        "missing-role",
    ));
    // Reviewer roles attach evidence; an admin is none.
    cases.push((
        &h.admin,
        op("post", "/v1/releases/{id}/evidence"),
        "missing-role",
    ));
    // A review in a role the reviewer does not hold.
    for who in [cast.reviewer("operations"), &cast.author, &h.admin] {
        cases.push((who, op("post", "/v1/releases/{id}/reviews"), "missing-role"));
    }
    // The decision owner alone decides and accepts risk.
    for t in ["decision", "acceptances", "block"] {
        for who in [security, &cast.author, &h.admin, cast.reviewer("risk")] {
            cases.push((
                who,
                op("post", &format!("/v1/releases/{{id}}/{t}")),
                "not-decision-owner",
            ));
        }
    }

    // Agents (issue 5): registering needs admin, mlops or operations; keys need admin or
    // security; an agent's credentials, suspension and grants belong to their owners.
    for who in [security, &cast.owner, cast.reviewer("legal")] {
        cases.push((who, op("post", "/v1/agents"), "missing-role"));
    }
    for who in [&cast.author, &cast.owner] {
        cases.push((who, op("post", "/v1/keys/rotate"), "missing-role"));
        cases.push((who, op("post", "/v1/credentials/revoke"), "missing-role"));
        cases.push((who, op("post", "/v1/agents/{id}/suspend"), "missing-role"));
        cases.push((who, op("post", "/v1/grants/{id}/revoke"), "missing-role"));
        cases.push((
            who,
            op("post", "/v1/grants/{id}/approve"),
            "not-an-approver",
        ));
        cases.push((who, op("post", "/v1/grants/{id}/recertify"), "not-an-owner"));
    }

    for (who, o, code) in &cases {
        let r = h.send(f.request(&h, o).bearer_auth(&who.token)).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{} {} as {}: {}",
            o.method,
            o.template,
            who.id,
            r.body
        );
        r.assert_problem(StatusCode::FORBIDDEN, code);
    }
    assert_eq!(
        h.ledger_count().await,
        before,
        "no refused request wrote anything"
    );

    // The roles that may read the ledger can.
    for who in [&h.admin, &cast.owner, cast.reviewer("compliance")] {
        h.get_ok(who, "/v1/ledger").await;
        h.get_ok(who, "/v1/ledger/verify").await;
    }
}
