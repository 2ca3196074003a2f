//! Runtime decisions, step-up approvals and the action log (issue 6): I9, I10, I11.

use crate::agents::{approve, assertion, post_anon, scope, token_ok, world, World};
use crate::harness::*;
use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// An agent's credential for `scope`, under a grant on `actions` over `orders/*` with
/// these constraints, approved by both owners.
pub(crate) async fn credential(
    h: &Harness,
    w: &World,
    actions: &[&str],
    constraints: Value,
    s: &str,
) -> String {
    let before = h.ledger_count().await;
    let r = post_anon(
        h,
        "/v1/grants",
        &json!({"client_assertion": assertion(h, &w.agent), "system": w.cast.system,
                "actions": actions, "resources": ["orders/*"], "constraints": constraints,
                "expires_at": h.now() + Duration::days(30)}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    h.assert_one_entry(before, "grant.request").await;
    let g = approve(h, &w.cast.owner, &r.body).await;
    let g = if g["state"] == "active" {
        g
    } else {
        approve(h, &w.agent_owner, &g).await
    };
    assert_eq!(g["state"], "active", "{g}");
    let before = h.ledger_count().await;
    let r = crate::agents::token_reply(h, &w.agent, s, json!({"risk_score": 5})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    h.assert_one_entry(before, "credential.issue").await;
    r.body["access_token"].as_str().expect("a token").to_owned()
}

async fn decide_reply(h: &Harness, token: &str, body: &Value) -> Reply {
    h.send(
        h.request(Method::POST, "/v1/decide")
            .bearer_auth(token)
            .json(body),
    )
    .await
}

/// Decides, and checks the answer is already in the ledger (I11): the entry is
/// committed before the answer is sent, so it is visible to a fresh read at once.
pub(crate) async fn decide(h: &Harness, token: &str, body: Value) -> Value {
    let before = h.ledger_count().await;
    let r = decide_reply(h, token, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let entries = h.ledger_after(before).await;
    assert_eq!(entries.len(), 1, "one ledger entry per decision");
    let e = &entries[0];
    assert_eq!(e.action, "action.decide");
    assert_eq!(e.subject, r.body["id"].as_str().unwrap());
    assert_eq!(e.payload["decision"], r.body["decision"]);
    assert_eq!(e.payload["action_digest"], r.body["action_digest"]);
    r.body
}

pub(crate) fn write_body(w: &World, amount: u64) -> Value {
    json!({"action": "write", "system": w.cast.system, "resource": "orders/42",
           "arguments": {"refund": amount, "currency": "EUR"},
           "context": {"confidence": 0.91, "risk_score": 40, "data_classes": ["pii"],
                       "ai_input": "customer asks for a refund of order 42",
                       "ai_output": format!("refund {amount} EUR on order 42"),
                       "data_used": ["orders/42", "tickets/7"],
                       "impact": "money leaves the company"}})
}

fn read_body(w: &World, risk: u32) -> Value {
    json!({"action": "read", "system": w.cast.system, "resource": "orders/42",
           "context": {"risk_score": risk, "confidence": 0.99}})
}

async fn wait(h: &Harness, token: &str, approval: &str, timeout: u64) -> Value {
    let r = h
        .send(
            h.request(
                Method::GET,
                &format!("/v1/approvals/{approval}/wait?timeout={timeout}"),
            )
            .bearer_auth(token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test]
async fn i10_allow_within_grant_and_the_action_lands_in_the_review_queue() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let t = credential(
            &h,
            &w,
            &["read"],
            json!({}),
            &scope(&sys, "read", "orders/*"),
        )
        .await;
        let d = decide(&h, &t, read_body(&w, 10)).await;
        assert_eq!(d["decision"], "allow", "{d}");
        assert_eq!(d["policies"], json!(["allow-low-risk-reads"]));
        assert!(d["policy_digest"].as_str().unwrap().starts_with("sha256:"));
        assert!(d["approval"].is_null());

        // The agent reports the outcome, once.
        let id = d["id"].as_str().unwrap();
        let before = h.ledger_count().await;
        let r = h
            .send(
                h.request(Method::POST, &format!("/v1/actions/{id}/outcome"))
                    .bearer_auth(&t)
                    .json(&json!({"status": "succeeded", "detail": {"rows": 1}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        h.assert_one_entry(before, "action.outcome").await;
        let again = h
            .send(
                h.request(Method::POST, &format!("/v1/actions/{id}/outcome"))
                    .bearer_auth(&t)
                    .json(&json!({"status": "failed"})),
            )
            .await;
        again.assert_problem(StatusCode::CONFLICT, "outcome-reported");
        // The same report again (a retry after a lost answer) gets the recorded one
        // and writes nothing.
        let before = h.ledger_count().await;
        let retry = h
            .send(
                h.request(Method::POST, &format!("/v1/actions/{id}/outcome"))
                    .bearer_auth(&t)
                    .json(&json!({"status": "succeeded", "detail": {"rows": 1}})),
            )
            .await;
        assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
        assert_eq!(retry.body["outcome"], r.body["outcome"]);
        assert_eq!(h.ledger_count().await, before);

        // Allowed without a human: it waits for the system owner's post-action review.
        let queue = h.get_ok(&w.cast.owner, "/v1/reviews/queue").await;
        assert_eq!(queue.as_array().unwrap().len(), 1, "{queue}");
        assert_eq!(queue[0]["id"], id);
        assert_eq!(queue[0]["outcome"]["status"], "succeeded");
        // Not the agent owner's queue, and only the system owner reviews.
        assert!(h
            .get_ok(&w.agent_owner, "/v1/reviews/queue")
            .await
            .as_array()
            .unwrap()
            .is_empty());
        h.refused(
            &w.agent_owner,
            &format!("/v1/actions/{id}/review"),
            &json!({"verdict": "ok"}),
            StatusCode::FORBIDDEN,
            "not-system-owner",
        )
        .await;
        h.command(
            &w.cast.owner,
            &format!("/v1/actions/{id}/review"),
            &json!({"verdict": "ok", "comment": "expected lookup"}),
            "action.review",
        )
        .await;
        assert!(h
            .get_ok(&w.cast.owner, "/v1/reviews/queue")
            .await
            .as_array()
            .unwrap()
            .is_empty());
        let a = h.get_ok(&w.cast.owner, &format!("/v1/actions/{id}")).await;
        assert_eq!(a["review"]["verdict"], "ok");
        assert_eq!(a["review_state"], "reviewed");
    }
}

#[tokio::test]
async fn i10_deny_without_grant() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let t = credential(
            &h,
            &w,
            &["read"],
            json!({"max_risk_score": 20}),
            &scope(&sys, "read", "orders/*"),
        )
        .await;
        // An action the grant does not hold.
        let d = decide(&h, &t, write_body(&w, 10)).await;
        assert_eq!(d["decision"], "deny");
        assert!(
            d["reasons"][0].as_str().unwrap().starts_with("no grant"),
            "{d}"
        );
        assert_eq!(d["policies"], json!([]), "denied before any policy ran");
        // A resource outside the grant, and another system.
        let mut other = read_body(&w, 10);
        other["resource"] = json!("customers/1");
        assert_eq!(decide(&h, &t, other).await["decision"], "deny");
        let mut elsewhere = read_body(&w, 10);
        elsewhere["system"] = json!("sys_elsewhere");
        assert_eq!(decide(&h, &t, elsewhere).await["decision"], "deny");
        // Another task than the credential's.
        let mut task = read_body(&w, 10);
        task["task"] = json!("task-other");
        let d = decide(&h, &t, task).await;
        assert_eq!(d["decision"], "deny");
        assert!(d["reasons"][0].as_str().unwrap().contains("task"), "{d}");
        // A risk score above the grant's maximum (20).
        let d = decide(&h, &t, read_body(&w, 25)).await;
        assert_eq!(d["decision"], "deny");
        assert!(
            d["reasons"][0].as_str().unwrap().contains("risk score"),
            "{d}"
        );
        assert_eq!(decide(&h, &t, read_body(&w, 20)).await["decision"], "allow");
    }
}

#[tokio::test]
async fn i10_deny_outside_time_window() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        // The harness starts at 09:00 UTC; the grant allows 09:00-10:00.
        h.advance(Duration::minutes(50));
        let t = credential(
            &h,
            &w,
            &["read"],
            json!({"window": {"start_hour": 9, "end_hour": 10}}),
            &scope(&sys, "read", "orders/*"),
        )
        .await;
        assert_eq!(decide(&h, &t, read_body(&w, 10)).await["decision"], "allow");
        h.advance(Duration::minutes(11)); // 10:01, the credential is still unexpired
        let d = decide(&h, &t, read_body(&w, 10)).await;
        assert_eq!(d["decision"], "deny", "{d}");
        assert!(
            d["reasons"][0]
                .as_str()
                .unwrap()
                .contains("outside the grant's time window"),
            "{d}"
        );
    }
}

#[tokio::test]
async fn i10_step_up_on_production_write_needs_the_named_human_once() {
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
        let d = decide(&h, &t, write_body(&w, 120)).await;
        assert_eq!(d["decision"], "step_up", "{d}");
        assert_eq!(d["policies"], json!(["step-up-production-writes"]));
        let apr = d["approval"]["id"].as_str().unwrap().to_owned();
        // Assigned to the target system's owner: the policy names no role.
        assert_eq!(d["approval"]["assignee"], w.cast.owner.id.as_str());
        assert_eq!(
            d["approval"]["wait_url"],
            format!("/v1/approvals/{apr}/wait")
        );
        // The decision entry records the request.
        let entry = h.ledger_after(0).await.pop().unwrap();
        assert_eq!(entry.payload["approval_request"]["id"], apr.as_str());

        // The agent polls: still pending.
        let polled = wait(&h, &t, &apr, 0).await;
        assert_eq!(polled["state"], "pending");
        // The agent's view says why it waits, as the decision did.
        assert_eq!(polled["reasons"], d["reasons"], "{polled}");
        assert!(!d["reasons"].as_array().unwrap().is_empty(), "{d}");
        // Without the approval, asking again steps up again (a new request).
        let d2 = decide(&h, &t, write_body(&w, 120)).await;
        assert_eq!(d2["decision"], "step_up");
        assert_ne!(d2["approval"]["id"], apr.as_str());

        // The owner sees it in their queue and opens the context: what the AI produced.
        let mine = h.get_ok(&w.cast.owner, "/v1/approvals").await;
        assert_eq!(mine.as_array().unwrap().len(), 2, "{mine}");
        assert!(
            mine.as_array()
                .unwrap()
                .iter()
                .all(|a| a["reasons"] == d["reasons"]),
            "{mine}"
        );
        let before = h.ledger_count().await;
        let ctx = h
            .get_ok(&w.cast.owner, &format!("/v1/approvals/{apr}"))
            .await;
        h.assert_one_entry(before, "approval.open").await;
        assert_eq!(ctx["context"]["ai_output"], "refund 120 EUR on order 42");
        assert_eq!(
            ctx["context"]["data_used"],
            json!(["orders/42", "tickets/7"])
        );
        assert_eq!(ctx["arguments"], json!({"refund": 120, "currency": "EUR"}));
        assert_eq!(
            ctx["reasons"][0],
            "step-up required by step-up-production-writes"
        );
        // Opening again writes nothing.
        let before = h.ledger_count().await;
        h.get_ok(&w.cast.owner, &format!("/v1/approvals/{apr}"))
            .await;
        assert_eq!(h.ledger_count().await, before);

        // Only the assignee answers, and with a comment.
        h.refused(
            &w.agent_owner,
            &format!("/v1/approvals/{apr}/approve"),
            &json!({"comment": "fine"}),
            StatusCode::FORBIDDEN,
            "not-assignee",
        )
        .await;
        h.refused(
            &w.cast.owner,
            &format!("/v1/approvals/{apr}/approve"),
            &json!({"comment": " "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing-comment",
        )
        .await;

        // The agent long-polls while the owner approves: it wakes with the answer.
        let waiter = {
            let (client, url, t) = (
                h.client.clone(),
                h.url(&format!("/v1/approvals/{apr}/wait?timeout=30")),
                t.clone(),
            );
            tokio::spawn(async move {
                client
                    .get(url)
                    .bearer_auth(t)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            })
        };
        let approved = h
            .command(
                &w.cast.owner,
                &format!("/v1/approvals/{apr}/approve"),
                &json!({"comment": "order 42 checked, refund matches the ticket"}),
                "approval.approve",
            )
            .await;
        assert_eq!(approved["state"], "approved");
        let woke = waiter.await.unwrap();
        assert_eq!(woke["state"], "approved", "{woke}");
        assert_eq!(woke["decided_by"], w.cast.owner.id.as_str());

        // The approved action now runs, once.
        let mut with = write_body(&w, 120);
        with["approval_id"] = json!(apr);
        let ok = decide(&h, &t, with.clone()).await;
        assert_eq!(ok["decision"], "allow", "{ok}");
        assert_eq!(ok["action_digest"], d["action_digest"]);
        let entry = h.ledger_after(0).await.pop().unwrap();
        assert_eq!(entry.payload["approval_used"], apr.as_str());
        let reuse = decide(&h, &t, with).await;
        assert_eq!(reuse["decision"], "deny", "{reuse}");
        assert!(reuse["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("single-use")));
        assert_eq!(wait(&h, &t, &apr, 0).await["state"], "used");

        // The action log links the AI input, the decision, the human decision and the
        // outcome; a human-approved action is not queued for post-action review.
        let id = ok["id"].as_str().unwrap();
        let r = h
            .send(
                h.request(Method::POST, &format!("/v1/actions/{id}/outcome"))
                    .bearer_auth(&t)
                    .json(&json!({"status": "succeeded", "detail": {"refund_id": "rf-1"}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let first = d["id"].as_str().unwrap();
        let logged = h
            .get_ok(&w.cast.owner, &format!("/v1/actions/{first}"))
            .await;
        assert_eq!(logged["decision"], "step_up");
        assert_eq!(
            logged["context"]["ai_input"],
            "customer asks for a refund of order 42"
        );
        assert_eq!(logged["approval"]["state"], "used");
        assert_eq!(logged["approval"]["used_by"], id);
        assert_eq!(
            logged["approval"]["comment"],
            "order 42 checked, refund matches the ticket"
        );
        let run = h.get_ok(&w.cast.owner, &format!("/v1/actions/{id}")).await;
        assert_eq!(run["outcome"]["status"], "succeeded");
        assert!(run["review_state"].is_null());
        let by_agent = h
            .get_ok(&h.admin, &format!("/v1/actions?agent={}", w.agent.id))
            .await;
        assert_eq!(by_agent.as_array().unwrap().len(), 4, "{by_agent}");
        let by_task = h.get_ok(&h.admin, "/v1/actions?task=task-42").await;
        assert_eq!(by_task.as_array().unwrap().len(), 4);
        assert!(h
            .get_ok(&h.admin, "/v1/actions?task=other")
            .await
            .as_array()
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn i10_an_approval_for_one_action_does_not_authorise_a_different_one() {
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
        let d = decide(&h, &t, write_body(&w, 10)).await;
        let apr = d["approval"]["id"].as_str().unwrap().to_owned();
        h.command(
            &w.cast.owner,
            &format!("/v1/approvals/{apr}/approve"),
            &json!({"comment": "ten euros is fine"}),
            "approval.approve",
        )
        .await;
        // Other arguments (a larger refund) cannot ride on it.
        let mut bigger = write_body(&w, 10_000);
        bigger["approval_id"] = json!(apr);
        let r = decide(&h, &t, bigger).await;
        assert_eq!(r["decision"], "deny", "{r}");
        assert!(r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().contains("different action")));
        // Nor another resource.
        let mut other = write_body(&w, 10);
        other["resource"] = json!("orders/43");
        other["approval_id"] = json!(apr);
        assert_eq!(decide(&h, &t, other).await["decision"], "deny");
        // The approval is still unused: the exact action runs.
        let mut exact = write_body(&w, 10);
        exact["approval_id"] = json!(apr);
        assert_eq!(decide(&h, &t, exact).await["decision"], "allow");
    }
}

#[tokio::test]
async fn i10_an_unused_approval_can_be_revoked_and_the_action_is_denied() {
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
        let d = decide(&h, &t, write_body(&w, 10)).await;
        let apr = d["approval"]["id"].as_str().unwrap().to_owned();
        let revoke = format!("/v1/approvals/{apr}/revoke");
        let reason = json!({"reason": "the customer withdrew the refund request"});
        // Nothing to revoke while it waits.
        h.refused(
            &w.cast.owner,
            &revoke,
            &reason,
            StatusCode::CONFLICT,
            "approval-answered",
        )
        .await;
        h.command(
            &w.cast.owner,
            &format!("/v1/approvals/{apr}/approve"),
            &json!({"comment": "ten euros is fine"}),
            "approval.approve",
        )
        .await;
        // Only its approver, and only with a reason.
        let other = h.user("Other", &["operations"]).await;
        h.refused(
            &other,
            &revoke,
            &reason,
            StatusCode::FORBIDDEN,
            "not-assignee",
        )
        .await;
        h.refused(
            &w.cast.owner,
            &revoke,
            &json!({"reason": " "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing-comment",
        )
        .await;
        let v = h
            .command(&w.cast.owner, &revoke, &reason, "approval.revoke")
            .await;
        assert_eq!(v["state"], "revoked", "{v}");
        // The agent's retry with it is denied, and says why.
        let mut exact = write_body(&w, 10);
        exact["approval_id"] = json!(apr);
        let r = decide(&h, &t, exact).await;
        assert_eq!(r["decision"], "deny", "{r}");
        assert!(
            r["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x.as_str().unwrap().contains("was revoked")),
            "{r}"
        );
        assert_eq!(wait(&h, &t, &apr, 0).await["state"], "revoked");

        // A used approval cannot be revoked.
        let d = decide(&h, &t, write_body(&w, 11)).await;
        let used = d["approval"]["id"].as_str().unwrap().to_owned();
        h.command(
            &w.cast.owner,
            &format!("/v1/approvals/{used}/approve"),
            &json!({"comment": "eleven euros is fine"}),
            "approval.approve",
        )
        .await;
        let mut exact = write_body(&w, 11);
        exact["approval_id"] = json!(used);
        assert_eq!(decide(&h, &t, exact).await["decision"], "allow");
        let body = h
            .refused(
                &w.cast.owner,
                &format!("/v1/approvals/{used}/revoke"),
                &reason,
                StatusCode::CONFLICT,
                "approval-answered",
            )
            .await;
        assert!(
            body["detail"].as_str().unwrap().contains("already used"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn i10_an_approval_request_shows_whom_a_delegated_agent_acts_for() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let a_token = credential(
            &h,
            &w,
            &["write"],
            json!({}),
            &scope(&sys, "write", "orders/*"),
        )
        .await;
        // Agent B, with its own write grant (both owners approve), acts for A.
        let b_owner = h.user("Delegate Owner", &["operations"]).await;
        let b = crate::agents::agent(&h, &b_owner, &w.rel).await;
        let g = crate::agents::request_grant(
            &h,
            &b,
            &sys,
            &["write"],
            &["orders/*"],
            Duration::days(30),
        )
        .await;
        let g = approve(&h, &w.cast.owner, &g).await;
        let g = if g["state"] == "active" {
            g
        } else {
            approve(&h, &b_owner, &g).await
        };
        assert_eq!(g["state"], "active", "{g}");
        let r = crate::agents::exchange(
            &h,
            &b,
            &json!({"access_token": a_token}),
            &scope(&sys, "write", "orders/42"),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let b_token = r.body["access_token"].as_str().unwrap().to_owned();
        let d = decide(&h, &b_token, write_body(&w, 10)).await;
        assert_eq!(d["decision"], "step_up", "{d}");
        let apr = d["approval"]["id"].as_str().unwrap().to_owned();
        // Opened by its approver, the request names the chain, root agent first.
        let v = h
            .get_ok(&w.cast.owner, &format!("/v1/approvals/{apr}"))
            .await;
        assert_eq!(v["agent"], b.id.as_str());
        assert_eq!(v["delegation"], json!([w.agent.id, b.id]), "{v}");
        // A request of an agent acting for itself names only it.
        let d = decide(&h, &a_token, write_body(&w, 11)).await;
        let own = d["approval"]["id"].as_str().unwrap().to_owned();
        let v = h
            .get_ok(&w.cast.owner, &format!("/v1/approvals/{own}"))
            .await;
        assert_eq!(v["delegation"], json!([w.agent.id]), "{v}");
    }
}

async fn decide_keyed(h: &Harness, token: &str, key: &str, body: &Value) -> Reply {
    h.send(
        h.request(Method::POST, "/v1/decide")
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body),
    )
    .await
}

#[tokio::test]
async fn i12_a_retried_decision_is_answered_with_the_first_and_writes_nothing() {
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
        // A step-up, then its retry: the same action and approval request, no new entry.
        let before = h.ledger_count().await;
        let first = decide_keyed(&h, &t, "k-1", &write_body(&w, 10)).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(first.body["decision"], "step_up");
        assert!(first.headers.get("idempotent-replayed").is_none());
        let retry = decide_keyed(&h, &t, "k-1", &write_body(&w, 10)).await;
        assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
        assert_eq!(retry.body, first.body);
        assert_eq!(retry.headers["idempotent-replayed"], "true");
        assert_eq!(h.ledger_after(before).await.len(), 1);
        // The same key on another request is refused and changes nothing.
        let other = decide_keyed(&h, &t, "k-1", &write_body(&w, 99)).await;
        other.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
        assert_eq!(h.ledger_after(before).await.len(), 1);

        // A retry of the decision that used the approval is not a second use.
        let apr = first.body["approval"]["id"].as_str().unwrap().to_owned();
        h.command(
            &w.cast.owner,
            &format!("/v1/approvals/{apr}/approve"),
            &json!({"comment": "ten euros is fine"}),
            "approval.approve",
        )
        .await;
        let mut with = write_body(&w, 10);
        with["approval_id"] = json!(apr);
        let used = decide_keyed(&h, &t, "k-2", &with).await;
        assert_eq!(used.body["decision"], "allow", "{}", used.body);
        let before = h.ledger_count().await;
        let again = decide_keyed(&h, &t, "k-2", &with).await;
        assert_eq!(again.body, used.body);
        assert_eq!(h.ledger_count().await, before);

        // Concurrent retries of one request: one decision, every caller gets it.
        let before = h.ledger_count().await;
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (client, url, t, body) = (
                h.client.clone(),
                h.url("/v1/decide"),
                t.clone(),
                write_body(&w, 20),
            );
            tasks.push(tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(t)
                    .header("Idempotency-Key", "k-3")
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                r.json::<Value>().await.unwrap()["id"].clone()
            }));
        }
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap());
        }
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        let entries = h.ledger_after(before).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].subject, ids[0].as_str().unwrap());
    }
}

#[tokio::test]
async fn i10_an_unanswered_request_expires_to_deny() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let s = scope(&sys, "write", "orders/*");
        let t = credential(&h, &w, &["write"], json!({}), &s).await;
        let d = decide(&h, &t, write_body(&w, 10)).await;
        let apr = d["approval"]["id"].as_str().unwrap().to_owned();
        // The example profile's step-up timeout is 15 minutes.
        h.advance(Duration::minutes(16));
        let t2 = token_ok(&h, &w.agent, &s).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(wait(&h, &t2, &apr, 0).await["state"], "expired");
        h.refused(
            &w.cast.owner,
            &format!("/v1/approvals/{apr}/approve"),
            &json!({"comment": "too late"}),
            StatusCode::CONFLICT,
            "approval-expired",
        )
        .await;
        let mut with = write_body(&w, 10);
        with["approval_id"] = json!(apr);
        let r = decide(&h, &t2, with).await;
        assert_eq!(r["decision"], "deny");
        assert!(r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().contains("expired")));
        // The expiry job writes it down, with its own ledger entry.
        let state =
            countersign_server::AppState::new(h.store.clone(), h.profile.clone(), h.clock.clone())
                .unwrap();
        let before = h.ledger_count().await;
        assert_eq!(
            countersign_server::app::approvals::expire_due(&state)
                .await
                .unwrap(),
            1
        );
        h.assert_one_entry(before, "approval.expire").await;
        assert_eq!(
            countersign_server::app::approvals::expire_due(&state)
                .await
                .unwrap(),
            0
        );
        let owners = h.get_ok(&w.cast.owner, "/v1/approvals?state=expired").await;
        assert_eq!(owners.as_array().unwrap().len(), 1, "{owners}");
    }
}

#[tokio::test]
async fn i9_a_revoked_credential_denies_at_once() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let t = credential(
            &h,
            &w,
            &["read"],
            json!({}),
            &scope(&sys, "read", "orders/*"),
        )
        .await;
        // Resolved and cached by the first decision.
        assert_eq!(decide(&h, &t, read_body(&w, 10)).await["decision"], "allow");
        assert_eq!(decide(&h, &t, read_body(&w, 10)).await["decision"], "allow");
        let jti = countersign_server::jwt::decode(&t).unwrap().claims["jti"]
            .as_str()
            .unwrap()
            .to_owned();
        h.command(
            &h.admin,
            "/v1/credentials/revoke",
            &json!({"jti": jti, "reason": "agent misbehaving"}),
            "credential.revoke",
        )
        .await;
        let before = h.ledger_count().await;
        decide_reply(&h, &t, &read_body(&w, 10))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credential");
        assert_eq!(
            h.ledger_count().await,
            before,
            "a refused request records nothing"
        );
        // Suspending the agent stops a fresh credential too.
        let t2 = token_ok(&h, &w.agent, &scope(&sys, "read", "orders/*")).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            decide(&h, &t2, read_body(&w, 10)).await["decision"],
            "allow"
        );
        h.command(
            &w.agent_owner,
            &format!("/v1/agents/{}/suspend", w.agent.id),
            &json!({"reason": "incident 7"}),
            "agent.suspend",
        )
        .await;
        decide_reply(&h, &t2, &read_body(&w, 10))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "invalid-credential");
    }
}

#[tokio::test]
async fn i10_unevaluable_requests_deny_and_bad_input_changes_nothing() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        // Granted, but not an action the runtime policy schema knows.
        let t = credential(
            &h,
            &w,
            &["frobnicate"],
            json!({}),
            &scope(&sys, "frobnicate", "orders/*"),
        )
        .await;
        let d = decide(
            &h,
            &t,
            json!({"action": "frobnicate", "system": sys, "resource": "orders/1", "context": {"risk_score": 1}}),
        )
        .await;
        assert_eq!(d["decision"], "deny", "{d}");
        assert!(
            d["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r.as_str().unwrap().contains("frobnicate")),
            "{d}"
        );
        // Malformed requests are problems, not decisions, and record nothing.
        let before = h.ledger_count().await;
        for (body, code) in [
            (
                json!({"action": "Read!", "system": sys, "resource": "orders/1"}),
                "invalid-action",
            ),
            (
                json!({"action": "read", "system": sys, "resource": "orders/*"}),
                "invalid-resource",
            ),
            (
                json!({"action": "read", "system": sys, "resource": "orders/1", "context": {"risk_score": 101}}),
                "invalid-context",
            ),
            (
                json!({"action": "read", "system": sys, "resource": "orders/1", "context": {"confidence": 1.5}}),
                "invalid-context",
            ),
            (json!({"action": "read", "system": sys}), "invalid-body"),
            (
                json!({"action": "read", "system": sys, "resource": "orders/1", "surprise": 1}),
                "invalid-body",
            ),
        ] {
            decide_reply(&h, &t, &body)
                .await
                .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, code);
        }
        let r = h
            .send(
                h.request(Method::POST, "/v1/decide")
                    .bearer_auth(&t)
                    .header("content-type", "application/json")
                    .body("{not json"),
            )
            .await;
        r.assert_problem(StatusCode::BAD_REQUEST, "malformed-json");
        assert_eq!(h.ledger_count().await, before);
    }
}

#[tokio::test]
async fn i10_a_policy_naming_a_role_assigns_the_step_up_to_a_holder_of_that_role() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let t = credential(
            &h,
            &w,
            &["change_role"],
            json!({}),
            &scope(&sys, "change_role", "orders/*"),
        )
        .await;
        let d = decide(
            &h,
            &t,
            json!({"action": "change_role", "system": sys, "resource": "orders/admins",
                   "arguments": {"user": "u-9", "role": "admin"}, "context": {"risk_score": 70}}),
        )
        .await;
        assert_eq!(d["decision"], "step_up", "{d}");
        assert_eq!(d["policies"], json!(["step-up-privilege-changes"]));
        assert_eq!(d["approval"]["approver_role"], "security");
        assert_eq!(
            d["approval"]["assignee"],
            w.cast.reviewer("security").id.as_str()
        );
        let apr = d["approval"]["id"].as_str().unwrap();
        // The system owner is not the assignee here.
        h.refused(
            &w.cast.owner,
            &format!("/v1/approvals/{apr}/deny"),
            &json!({"comment": "no"}),
            StatusCode::FORBIDDEN,
            "not-assignee",
        )
        .await;
        h.command(
            w.cast.reviewer("security"),
            &format!("/v1/approvals/{apr}/deny"),
            &json!({"comment": "nobody becomes admin through a bot"}),
            "approval.deny",
        )
        .await;
        let mut with = json!({"action": "change_role", "system": sys, "resource": "orders/admins",
                              "arguments": {"user": "u-9", "role": "admin"}, "context": {"risk_score": 70}});
        with["approval_id"] = json!(apr);
        let r = decide(&h, &t, with).await;
        assert_eq!(r["decision"], "deny");
        assert!(r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().contains("was denied")));
    }
}

#[tokio::test]
async fn i11_concurrent_decisions_are_each_answered_after_their_entry_is_durable() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let t = credential(
            &h,
            &w,
            &["read", "write"],
            json!({}),
            &format!(
                "{} {}",
                scope(&sys, "read", "orders/*"),
                scope(&sys, "write", "orders/*")
            ),
        )
        .await;
        let before = h.ledger_count().await;
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let (client, url, t) = (h.client.clone(), h.url("/v1/decide"), t.clone());
            let body = if i % 4 == 0 {
                write_body(&w, i)
            } else {
                read_body(&w, 10)
            };
            tasks.push(tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(t)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                r.json::<Value>().await.unwrap()
            }));
        }
        let mut answered = Vec::new();
        for task in tasks {
            answered.push(task.await.unwrap());
        }
        let entries = h.ledger_after(before).await;
        assert_eq!(entries.len(), 64);
        for a in &answered {
            let e = entries
                .iter()
                .find(|e| e.subject == a["id"].as_str().unwrap())
                .unwrap_or_else(|| panic!("answered decision {} is not in the ledger", a["id"]));
            assert_eq!(e.payload["decision"], a["decision"]);
        }
        assert_eq!(
            answered
                .iter()
                .filter(|a| a["decision"] == "step_up")
                .count(),
            16
        );
        let v = h.get_ok(&h.admin, "/v1/ledger/verify").await;
        assert_eq!(v["valid"], true, "{v}");
    }
}

#[tokio::test]
async fn accountability_flags_an_approver_who_decides_without_opening_the_context() {
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
        for i in 0..5 {
            let d = decide(&h, &t, write_body(&w, i)).await;
            let apr = d["approval"]["id"].as_str().unwrap();
            h.advance(Duration::seconds(3));
            h.command(
                &w.cast.owner,
                &format!("/v1/approvals/{apr}/approve"),
                &json!({"comment": "ok"}),
                "approval.approve",
            )
            .await;
        }
        // Only admin, risk and compliance read the signals.
        let (status, _) = h.get(&w.agent_owner, "/v1/accountability").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let report = h.get_ok(&h.admin, "/v1/accountability").await;
        let mine = report
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["user"] == w.cast.owner.id.as_str() && s["kind"] == "step_up")
            .unwrap_or_else(|| panic!("no step_up signals for the owner: {report}"))
            .clone();
        assert_eq!(mine["decisions"], 5);
        assert_eq!(mine["approval_pct"], 100);
        assert_eq!(mine["decided_without_opening"], 5);
        assert_eq!(mine["median_seconds_from_assignment"], 3);
        assert_eq!(mine["flagged"], true, "{mine}");
        let flags: Vec<&str> = mine["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert!(
            flags.iter().any(|f| f.starts_with("rubber-stamp")),
            "{flags:?}"
        );
        assert!(flags.iter().any(|f| f.starts_with("unopened")), "{flags:?}");
        // The release reviewers of the world's release have signals too, unflagged (one decision each).
        let security = report
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                s["user"] == w.cast.reviewer("security").id.as_str()
                    && s["kind"] == "release_review"
            })
            .unwrap_or_else(|| panic!("no release review signals: {report}"));
        assert_eq!(security["decisions"], 1);
        assert_eq!(security["flagged"], false);
    }
}

#[tokio::test]
async fn policies_are_listed_and_an_invalid_reload_keeps_the_running_set() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies");
        for f in ["runtime.cedar", "runtime.cedarschema"] {
            std::fs::copy(format!("{root}/{f}"), dir.path().join(f)).unwrap();
        }
        let h = Harness::start_with(backend, Some(dir.path().to_owned())).await;
        let p = h.get_ok(&h.admin, "/v1/policies").await;
        let digest = p["digest"].as_str().unwrap().to_owned();
        let ids: Vec<&str> = p["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        assert!(
            ids.contains(&"deny-outside-time-window") && ids.contains(&"step-up-payments"),
            "{ids:?}"
        );
        assert_eq!(p["dir"], dir.path().display().to_string());

        // An invalid set is refused and the running set stays.
        std::fs::write(
            dir.path().join("broken.cedar"),
            "@id(\"broken\")\npermit (principal, action, resource) when { context.nope == 1 };\n",
        )
        .unwrap();
        let refused = h
            .refused(
                &h.admin,
                "/v1/policies/reload",
                &json!({}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-policy-set",
            )
            .await;
        let detail = refused["detail"].as_str().unwrap();
        assert!(detail.contains("broken.cedar"), "{refused}");
        assert!(!detail.contains(";;"), "{refused}");
        assert_eq!(
            h.get_ok(&h.admin, "/v1/policies").await["digest"],
            digest.as_str()
        );

        // A valid change is loaded, recorded, and decides from then on.
        std::fs::write(
            dir.path().join("broken.cedar"),
            "@id(\"deny-everything-on-orders-99\")\nforbid (principal, action, resource) when { resource.path == \"orders/99\" };\n",
        )
        .unwrap();
        // Security may reload too; other roles may not.
        h.refused(
            &w_user(&h).await,
            "/v1/policies/reload",
            &json!({}),
            StatusCode::FORBIDDEN,
            "missing-role",
        )
        .await;
        let r = h
            .command(&h.admin, "/v1/policies/reload", &json!({}), "policy.reload")
            .await;
        assert_ne!(r["digest"], digest.as_str());
        let w = world(&h).await;
        let sys = w.cast.system.clone();
        let t = credential(
            &h,
            &w,
            &["read"],
            json!({}),
            &scope(&sys, "read", "orders/*"),
        )
        .await;
        let mut body = read_body(&w, 10);
        body["resource"] = json!("orders/99");
        let d = decide(&h, &t, body).await;
        assert_eq!(d["decision"], "deny");
        assert_eq!(d["policies"], json!(["deny-everything-on-orders-99"]));
        assert_eq!(d["policy_digest"], r["digest"]);

        // Reloading the same files again changes nothing and records nothing.
        let before = h.ledger_count().await;
        let same = h
            .send(
                h.request(Method::POST, "/v1/policies/reload")
                    .bearer_auth(&h.admin.token)
                    .json(&json!({})),
            )
            .await;
        assert_eq!(same.status, StatusCode::OK, "{}", same.body);
        assert_eq!(same.body["digest"], r["digest"]);
        assert_eq!(h.ledger_count().await, before);
    }
}

async fn w_user(h: &Harness) -> TestUser {
    h.user("Ops", &["operations"]).await
}

#[tokio::test]
async fn reloading_the_built_in_set_is_refused() {
    for backend in backends() {
        let h = Harness::start_on(backend).await;
        h.refused(
            &h.admin,
            "/v1/policies/reload",
            &json!({}),
            StatusCode::CONFLICT,
            "no-policy-directory",
        )
        .await;
    }
}

#[tokio::test]
async fn i10_a_preview_says_what_would_be_decided_and_records_nothing() {
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
        let before = h.ledger_count().await;
        let preview = |body: Value| {
            let h = &h;
            let t = t.clone();
            async move {
                h.send(
                    h.request(Method::POST, "/v1/decide/preview")
                        .bearer_auth(&t)
                        .json(&body),
                )
                .await
            }
        };
        // A production write would step up, to the system's owner.
        let r = preview(write_body(&w, 120)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["decision"], "step_up", "{}", r.body);
        assert_eq!(r.body["policies"], json!(["step-up-production-writes"]));
        assert_eq!(r.body["assignee"], w.cast.owner.id.as_str());
        // Outside the credential's grants: deny, with the reason.
        let mut pay = write_body(&w, 120);
        pay["action"] = json!("payments");
        let r = preview(pay).await;
        assert_eq!(r.body["decision"], "deny", "{}", r.body);
        assert!(!r.body["reasons"].as_array().unwrap().is_empty());
        // Nothing recorded: no entry, no action, no approval request to answer.
        assert_eq!(h.ledger_count().await, before, "a preview is a read");
        let mine = h.get_ok(&w.cast.owner, "/v1/approvals").await;
        assert_eq!(mine, json!([]), "no approval request was opened");
        // It is the same decision /v1/decide gives, with the same action digest.
        let d = decide(&h, &t, write_body(&w, 120)).await;
        let r = preview(write_body(&w, 120)).await;
        assert_eq!(
            (d["decision"].clone(), d["action_digest"].clone()),
            (r.body["decision"].clone(), r.body["action_digest"].clone())
        );
        // Bad input is refused as /v1/decide refuses it.
        let r = preview(json!({"action": "write"})).await;
        assert!(r.status.is_client_error(), "{}", r.body);
        assert!(r.body["type"].is_string(), "{}", r.body);
    }
}

#[tokio::test]
async fn i10_the_same_action_asked_again_after_approval_runs_once_without_naming_it() {
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
        let d = decide(&h, &t, write_body(&w, 10)).await;
        assert_eq!(d["decision"], "step_up", "{d}");
        let apr = d["approval"]["id"].as_str().unwrap().to_owned();
        // Asked again before anyone answered: a step-up (a new request).
        let again = decide(&h, &t, write_body(&w, 10)).await;
        assert_eq!(again["decision"], "step_up", "{again}");
        h.command(
            &w.cast.owner,
            &format!("/v1/approvals/{apr}/approve"),
            &json!({"comment": "ten euros is fine"}),
            "approval.approve",
        )
        .await;
        // Other arguments never find it.
        let bigger = decide(&h, &t, write_body(&w, 10_000)).await;
        assert_eq!(bigger["decision"], "step_up", "{bigger}");
        // The exact action, asked again without naming it: allowed, using it.
        let ran = decide(&h, &t, write_body(&w, 10)).await;
        assert_eq!(ran["decision"], "allow", "{ran}");
        assert_eq!(ran["action_digest"], d["action_digest"]);
        let shown = h
            .get_ok(
                &w.cast.owner,
                &format!("/v1/actions/{}", ran["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(shown["approval_id"], apr.as_str(), "{shown}");
        let polled = wait(&h, &t, &apr, 0).await;
        assert_eq!(polled["state"], "used", "{polled}");
        // Once: the next identical request asks a human again.
        let next = decide(&h, &t, write_body(&w, 10)).await;
        assert_eq!(next["decision"], "step_up", "{next}");
    }
}
