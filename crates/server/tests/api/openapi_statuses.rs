//! The OpenAPI document describes every answer the server gives (issue 10): a walk
//! over every operation of the document sends the bad inputs a fuzzer sends (no body,
//! malformed JSON, an unknown field, an unknown query parameter, `revision=-1`, a bad
//! `Idempotency-Key`, a wrong token, an unknown id) and asserts each status it gets is
//! documented for that operation, each error is a problem document, and the bad
//! inputs are refused and change nothing (I12). Writes document `Idempotency-Key`.

use crate::authorization::{fixture, openapi, operations, Fixture, Op, CREDENTIAL};
use crate::harness::*;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

/// One bad request for one operation.
struct Case {
    what: &'static str,
    req: RequestBuilder,
    /// It must be refused with a 4xx (and so change nothing).
    refused: bool,
}

/// The documented operation `op` of `doc`.
fn operation<'a>(doc: &'a Value, op: &Op) -> &'a Value {
    &doc["paths"][op.template.as_str()][op.method.as_str()]
}

fn has_json_body(doc: &Value, op: &Op) -> bool {
    operation(doc, op)["requestBody"]["content"]
        .as_object()
        .is_some_and(|c| c.contains_key("application/json"))
}

fn params<'a>(doc: &'a Value, op: &Op, location: &str) -> Vec<&'a Value> {
    operation(doc, op)["parameters"]
        .as_array()
        .map(|ps| ps.iter().filter(|p| p["in"] == location).collect())
        .unwrap_or_default()
}

fn method(op: &Op) -> Method {
    Method::from_bytes(op.method.to_uppercase().as_bytes()).expect("a method")
}

fn with_query(path: &str, extra: &str) -> String {
    if path.contains('?') {
        format!("{path}&{extra}")
    } else {
        format!("{path}?{extra}")
    }
}

/// `op` at `path`, with the body the fixture gives it.
fn build(h: &Harness, f: &Fixture, op: &Op, path: &str) -> RequestBuilder {
    let req = h.request(method(op), path);
    if op.raw_body {
        req.header(CONTENT_TYPE, "application/octet-stream")
            .body(b"walk".to_vec())
    } else if let Some(b) = f.body(h, op) {
        req.json(&b)
    } else {
        req
    }
}

/// The bad requests for `op`, sent with `token` (a human admin's, or for the routes
/// that take one, an agent's active credential) so they get past authentication.
fn cases(h: &Harness, f: &Fixture, doc: &Value, op: &Op, token: &str) -> Vec<Case> {
    let path = f.path(op);
    let m = method(op);
    let mut v = Vec::new();
    let mut case = |what, req: RequestBuilder, refused| {
        v.push(Case {
            what,
            req: req.bearer_auth(token),
            refused,
        })
    };
    if has_json_body(doc, op) {
        case("no body", h.request(m.clone(), &path), true);
        case(
            "no body, as JSON",
            h.request(m.clone(), &path)
                .header(CONTENT_TYPE, "application/json"),
            true,
        );
        case(
            "malformed JSON",
            h.request(m.clone(), &path)
                .header(CONTENT_TYPE, "application/json")
                .body("{\"revision\": "),
            true,
        );
        let mut body = f.body(h, op).unwrap_or_else(|| json!({}));
        body["an_unknown_field"] = json!(1);
        case(
            "an unknown field",
            h.request(m.clone(), &path).json(&body),
            true,
        );
    }
    if op.method == "post" {
        case(
            "a bad Idempotency-Key",
            build(h, f, op, &path).header("Idempotency-Key", "not a key"),
            true,
        );
    }
    if !params(doc, op, "path").is_empty() {
        let unknown = op
            .template
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "nope-unknown"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let unknown = match path.split_once('?') {
            Some((_, query)) => format!("{unknown}?{query}"),
            None => unknown,
        };
        case("an unknown id", build(h, f, op, &unknown), true);
    }
    if params(doc, op, "query")
        .iter()
        .any(|p| p["name"] == "revision")
    {
        let bad = if path.contains("revision=1") {
            path.replace("revision=1", "revision=-1")
        } else {
            with_query(&path, "revision=-1")
        };
        case("revision=-1", build(h, f, op, &bad), true);
    }
    v.push(Case {
        what: "a wrong token",
        req: build(h, f, op, &path).bearer_auth(format!("cst_{}", "f".repeat(64))),
        refused: operation(doc, op).get("security").is_some(),
    });
    v
}

/// The unknown query parameter may be ignored by an operation that reads no query,
/// and then a write succeeds: sent last, after the ledger check.
fn unknown_query(h: &Harness, f: &Fixture, op: &Op, token: &str) -> Case {
    let path = with_query(&f.path(op), "an_unknown_parameter=1");
    Case {
        what: "an unknown query parameter",
        req: build(h, f, op, &path).bearer_auth(token),
        refused: false,
    }
}

/// Checks one answer against the document; returns what is wrong with it.
fn check(doc: &Value, op: &Op, case: &Case, r: &Reply) -> Option<String> {
    let what = format!(
        "{} {} with {}: {} {}",
        op.method.to_uppercase(),
        op.template,
        case.what,
        r.status,
        String::from_utf8_lossy(&r.bytes)
    );
    let responses = &operation(doc, op)["responses"];
    if responses.get(r.status.as_str()).is_none() {
        return Some(format!("undocumented status: {what}"));
    }
    if case.refused && !r.status.is_client_error() {
        return Some(format!("bad input accepted: {what}"));
    }
    if r.status.as_u16() >= 400 {
        let documented = &responses[r.status.as_str()]["content"]["application/problem+json"];
        if documented["schema"]["$ref"] != "#/components/schemas/Problem" {
            return Some(format!("documented without the problem schema: {what}"));
        }
        let is_problem = r.content_type() == "application/problem+json"
            && r.body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with(PROBLEM))
            && r.body["status"].as_u64() == Some(u64::from(r.status.as_u16()));
        if !is_problem {
            return Some(format!("not a problem document: {what}"));
        }
    }
    None
}

/// An active credential of the fixture's agent, for the routes that take one.
async fn agent_credential(h: &Harness, f: &Fixture) -> String {
    let w = &f.agents;
    let g = crate::agents::approve(h, &w.cast.owner, &json!({"id": f.grant})).await;
    let g = if g["state"] == "active" {
        g
    } else {
        crate::agents::approve(h, &w.agent_owner, &g).await
    };
    assert_eq!(g["state"], "active", "{g}");
    let s = crate::agents::scope(&w.cast.system, "read", "walk");
    crate::agents::token_ok(h, &w.agent, &s).await["access_token"]
        .as_str()
        .expect("a credential")
        .to_owned()
}

#[tokio::test]
async fn i12_every_answer_to_bad_input_is_documented_for_its_operation() {
    for backend in backends() {
        i12_every_answer_to_bad_input_is_documented_for_its_operation_on(backend).await;
    }
}

async fn i12_every_answer_to_bad_input_is_documented_for_its_operation_on(backend: Backend) {
    let h = Harness::start_on(backend).await;
    let f = fixture(&h).await;
    let credential = agent_credential(&h, &f).await;
    let doc = openapi(&h).await;
    let ops = operations(&doc);
    assert!(ops.len() >= 60, "the walk covers every operation");
    let token = |op: &Op| {
        if CREDENTIAL.contains(&(op.method.as_str(), op.template.as_str())) {
            credential.clone()
        } else {
            h.admin.token.clone()
        }
    };

    let before = h.ledger_count().await;
    let mut wrong = Vec::new();
    let mut sent = 0;
    for op in &ops {
        for case in cases(&h, &f, &doc, op, &token(op)) {
            let r = h.send(case.req.try_clone().expect("a request")).await;
            sent += 1;
            wrong.extend(check(&doc, op, &case, &r));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {sent} answers are not documented as sent:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(
        h.ledger_count().await,
        before,
        "no refused request wrote anything"
    );

    for op in &ops {
        let case = unknown_query(&h, &f, op, &token(op));
        let r = h.send(case.req.try_clone().expect("a request")).await;
        wrong.extend(check(&doc, op, &case, &r));
    }
    assert!(
        wrong.is_empty(),
        "answers not documented as sent:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn every_write_documents_the_idempotency_key_it_honours() {
    let h = Harness::start_on(Backend::Sqlite).await;
    let doc = openapi(&h).await;
    let ops = operations(&doc);
    // Written by an agent with its client assertion or credential: no human command,
    // so no stored answer to replay (decide stores its own and documents the key).
    let unkeyed = [
        "/v1/grants",
        "/v1/oauth/token",
        "/v1/oauth/introspect",
        "/v1/actions/{id}/outcome",
        // A POST that writes nothing: what a decision would be, recorded nowhere.
        "/v1/decide/preview",
    ];
    let mut keyed = 0;
    for op in ops.iter().filter(|o| o.method == "post") {
        let key = params(&doc, op, "header")
            .into_iter()
            .find(|p| p["name"] == "Idempotency-Key");
        if unkeyed.contains(&op.template.as_str()) {
            assert!(
                key.is_none(),
                "{} does not honour Idempotency-Key",
                op.template
            );
            continue;
        }
        let key = key.unwrap_or_else(|| panic!("{} honours Idempotency-Key", op.template));
        assert_eq!(key["required"], false, "{}", op.template);
        let responses = &operation(&doc, op)["responses"];
        for status in ["400", "422"] {
            assert!(
                responses.get(status).is_some(),
                "{}: a bad or reused key is documented",
                op.template
            );
        }
        keyed += 1;
    }
    assert!(keyed >= 30, "only {keyed} writes document Idempotency-Key");
}

/// What schemathesis found once stays fixed: a recertification horizon past the
/// last representable instant panicked the handler and dropped the connection.
#[tokio::test]
async fn fuzzer_findings_stay_fixed() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        for within in ["2147483648", "4294967295"] {
            h.get_ok(&h.admin, &format!("/v1/grants/due?within_days={within}"))
                .await;
        }
    }
}
