//! AuthZEN 1.0 access evaluation (issue 13): the requests of the specification's
//! examples (§6.1 and the HTTPS binding's §10.1.4 examples, shaped onto countersign's
//! agent and system) are answered on the same decision path as `POST /v1/decide` (I10,
//! I11): `true` only for allow, a step-up `false` with its approval, every decision in
//! the action log and the ledger.

use crate::agents::{scope, world, World};
use crate::harness::*;
use crate::runtime::credential;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn evaluate(h: &Harness, path: &str, token: &str, body: &Value) -> Reply {
    h.send(
        h.request(Method::POST, path)
            .bearer_auth(token)
            .header("X-Request-ID", "bfe9eb29-ab87-4ca3-be83-a1d5d8305716")
            .json(body),
    )
    .await
}

async fn read_credential(h: &Harness, w: &World) -> String {
    let sys = w.cast.system.clone();
    credential(h, w, &["read"], json!({}), &scope(&sys, "read", "orders/*")).await
}

#[tokio::test]
async fn i10_the_specifications_access_evaluation_is_answered_as_a_decision() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let t = read_credential(&h, &w).await;
        // §6.1's example request: a subject, a resource, an action with properties,
        // and a context key countersign does not read (ignored, as §10.1.1 requires).
        let before = h.ledger_count().await;
        let r = evaluate(
            &h,
            "/access/v1/evaluation",
            &t,
            &json!({
                "subject": {"type": "agent", "id": w.agent.id},
                "resource": {"type": w.cast.system, "id": "orders/42"},
                "action": {"name": "read", "properties": {"method": "GET"}},
                "context": {"time": "1985-10-26T01:22-07:00", "risk_score": 5}
            }),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // §10.1.4's answer: `{"decision": true}`, and countersign's context.
        assert_eq!(r.body["decision"], true, "{}", r.body);
        let c = &r.body["context"];
        assert_eq!(c["decision"], "allow");
        // Decided and recorded as /v1/decide: one durable entry before the answer.
        let entries = h.ledger_after(before).await;
        assert_eq!(entries.len(), 1, "one ledger entry per decision");
        assert_eq!(entries[0].action, "action.decide");
        assert_eq!(entries[0].subject, c["id"].as_str().unwrap());
        let action = h
            .get_ok(
                &w.cast.owner,
                &format!("/v1/actions/{}", c["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(action["agent"], w.agent.id.as_str());
        assert_eq!(action["resource"], "orders/42");
        assert_eq!(action["action_digest"], c["action_digest"]);

        // Another subject than the credential's agent is refused; nothing is written.
        let before = h.ledger_count().await;
        let r = evaluate(
            &h,
            "/access/v1/evaluation",
            &t,
            &json!({
                "subject": {"type": "user", "id": "alice@example.com"},
                "resource": {"type": w.cast.system, "id": "orders/42"},
                "action": {"name": "read"}
            }),
        )
        .await;
        r.assert_problem(StatusCode::FORBIDDEN, "subject-not-credential");
        // A missing entity is a bad request (§10.1.1).
        let r = evaluate(
            &h,
            "/access/v1/evaluation",
            &t,
            &json!({"subject": {"type": "agent", "id": w.agent.id}, "action": {"name": "read"}}),
        )
        .await;
        r.assert_problem(StatusCode::BAD_REQUEST, "incomplete-evaluation");
        assert_eq!(h.ledger_count().await, before);
    }
}

#[tokio::test]
async fn i10_the_specifications_access_evaluations_are_answered_in_order() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let t = read_credential(&h, &w).await;
        let sys = w.cast.system.as_str();
        // §10.1.4's batch: one subject, context and action as defaults, the third
        // evaluation overriding the action. Its answer: true, then an error, then a
        // denial with a reason.
        let before = h.ledger_count().await;
        let batch = json!({
            "subject": {"type": "agent", "id": w.agent.id},
            "context": {"time": "2024-05-31T15:22-07:00"},
            "action": {"name": "read"},
            "evaluations": [
                {"resource": {"type": sys, "id": "orders/1"}},
                {"resource": {"type": sys, "id": "orders/*"}},
                {"action": {"name": "write"}, "resource": {"type": sys, "id": "orders/3"}}
            ]
        });
        let r = evaluate(&h, "/access/v1/evaluations", &t, &batch).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.get("decision").is_none(), "{}", r.body);
        let e = r.body["evaluations"].as_array().unwrap();
        assert_eq!(e.len(), 3, "{}", r.body);
        assert_eq!(e[0]["decision"], true);
        assert_eq!(e[1]["decision"], false);
        assert_eq!(e[1]["context"]["error"]["status"], 422, "{}", r.body);
        assert_eq!(
            e[1]["context"]["error"]["type"],
            "urn:countersign:problem:invalid-resource"
        );
        assert_eq!(e[2]["decision"], false);
        assert_eq!(e[2]["context"]["decision"], "deny");
        assert!(
            !e[2]["context"]["reason"].as_str().unwrap().is_empty(),
            "{}",
            r.body
        );
        // Two decided (an entry each), the refused one wrote nothing.
        assert_eq!(h.ledger_count().await, before + 2);

        // §7.1.2.1: deny_on_first_deny stops at the first that is not permitted.
        let mut short = batch.clone();
        short["options"] = json!({"evaluations_semantic": "deny_on_first_deny"});
        short["evaluations"][1] =
            json!({"action": {"name": "write"}, "resource": {"type": sys, "id": "orders/2"}});
        let r = evaluate(&h, "/access/v1/evaluations", &t, &short).await;
        let e = r.body["evaluations"].as_array().unwrap();
        assert_eq!(
            e.iter().map(|d| d["decision"].clone()).collect::<Vec<_>>(),
            [json!(true), json!(false)],
            "{}",
            r.body
        );
        // permit_on_first_permit stops at the first permitted.
        short["options"] = json!({"evaluations_semantic": "permit_on_first_permit"});
        let r = evaluate(&h, "/access/v1/evaluations", &t, &short).await;
        assert_eq!(r.body["evaluations"].as_array().unwrap().len(), 1);

        // A retried batch with the same Idempotency-Key is answered as the first.
        let keyed = |body: &Value| {
            h.request(Method::POST, "/access/v1/evaluations")
                .bearer_auth(&t)
                .header("Idempotency-Key", "batch-1")
                .json(body)
        };
        let first = h.send(keyed(&batch)).await;
        let after_first = h.ledger_count().await;
        let again = h.send(keyed(&batch)).await;
        assert_eq!(again.body, first.body);
        assert_eq!(again.headers["idempotent-replayed"], "true");
        assert_eq!(
            h.ledger_count().await,
            after_first,
            "a replay writes nothing"
        );

        // Without `evaluations`, the batch form is one evaluation, answered at the top.
        let one = json!({"subject": {"type": "agent", "id": w.agent.id},
                         "action": {"name": "read"}, "resource": {"type": sys, "id": "orders/9"}});
        let r = evaluate(&h, "/access/v1/evaluations", &t, &one).await;
        assert_eq!(r.body["decision"], true, "{}", r.body);
        assert!(r.body.get("evaluations").is_none());
    }
}

#[tokio::test]
async fn i10_a_step_up_is_not_permitted_until_the_named_human_approves_once() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let t = credential(
            &h,
            &w,
            &["write"],
            json!({}),
            &scope(&sys, "write", "orders/*"),
        )
        .await;
        let ask = |approval: Option<&str>, refund: u64| {
            let mut context = json!({"arguments": {"refund": refund, "currency": "EUR"},
                                     "risk_score": 40, "ai_output": format!("refund {refund} EUR")});
            if let Some(a) = approval {
                context["approval_id"] = json!(a);
            }
            json!({"subject": {"type": "agent", "id": w.agent.id},
                   "action": {"name": "write"},
                   "resource": {"type": sys, "id": "orders/42"},
                   "context": context})
        };
        let r = evaluate(&h, "/access/v1/evaluation", &t, &ask(None, 120)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // Like the specification's step-up example (§5.5.2): false, and the context
        // says what it takes: here a named human's approval.
        assert_eq!(r.body["decision"], false, "{}", r.body);
        let c = &r.body["context"];
        assert_eq!(c["decision"], "step_up");
        assert_eq!(c["policies"], json!(["step-up-production-writes"]));
        let apr = c["approval"]["id"].as_str().unwrap().to_owned();
        assert_eq!(c["approval"]["assignee"], w.cast.owner.id.as_str());
        assert_eq!(c["approval_url"], format!("/console/approvals/{apr}"));
        assert_eq!(
            c["approval"]["wait_url"],
            format!("/v1/approvals/{apr}/wait")
        );

        h.command(
            &w.cast.owner,
            &format!("/v1/approvals/{apr}/approve"),
            &json!({"comment": "order 42 checked"}),
            "approval.approve",
        )
        .await;
        // Other arguments do not ride on the approval.
        let r = evaluate(&h, "/access/v1/evaluation", &t, &ask(Some(&apr), 999)).await;
        assert_eq!(r.body["decision"], false, "{}", r.body);
        // The same call, retried with the approval: permitted once.
        let r = evaluate(&h, "/access/v1/evaluation", &t, &ask(Some(&apr), 120)).await;
        assert_eq!(r.body["decision"], true, "{}", r.body);
        let r = evaluate(&h, "/access/v1/evaluation", &t, &ask(Some(&apr), 120)).await;
        assert_eq!(r.body["decision"], false, "single use: {}", r.body);
    }
}

#[tokio::test]
async fn authzen_refuses_an_unreadable_request_with_400_and_echoes_the_request_id() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let t = read_credential(&h, &w).await;
        let before = h.ledger_count().await;
        // A wrongly typed field (the resource is not an object): 400, as AuthZEN
        // answers a request it cannot read, with a problem; nothing is written.
        for path in ["/access/v1/evaluation", "/access/v1/evaluations"] {
            let r = evaluate(
                &h,
                path,
                &t,
                &json!({
                    "subject": {"type": "agent", "id": w.agent.id},
                    "resource": "orders/42",
                    "action": {"name": "read"}
                }),
            )
            .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
            assert_eq!(r.body["status"], 400, "{}", r.body);
            assert_eq!(
                r.headers["x-request-id"], "bfe9eb29-ab87-4ca3-be83-a1d5d8305716",
                "{path}: the request id is echoed on a refusal"
            );
        }
        assert_eq!(h.ledger_count().await, before, "nothing written");
        // A decision carries it too; a refused credential as well.
        let r = evaluate(
            &h,
            "/access/v1/evaluation",
            &t,
            &json!({
                "subject": {"type": "agent", "id": w.agent.id},
                "resource": {"type": w.cast.system, "id": "orders/42"},
                "action": {"name": "read"},
                "context": {"risk_score": 5}
            }),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            r.headers["x-request-id"],
            "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"
        );
        let r = evaluate(&h, "/access/v1/evaluation", "not-a-credential", &json!({})).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_eq!(
            r.headers["x-request-id"],
            "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"
        );
    }
}
