//! Compares `PolicySet::decide` with a bare Cedar `Authorizer::is_authorized`
//! on the same request, for a production write (a step-up) and a low-risk
//! read (an allow).
//!
//! The bare side gets its request and entities prebuilt (with the schema, so
//! the store holds every action entity) and evaluates the whole policy set;
//! `decide` builds its request and entities from a `Request` every time,
//! evaluates its action's slice, and turns Cedar's answer into a `Decision`.
//! Before timing, both sides are checked to reach the same answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cedar_policy as cedar;
use countersign_policy::{Outcome, PolicySet, PolicySource, Request};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::str::FromStr;

const SCHEMA: &str = include_str!("../../../policies/runtime.cedarschema");
const POLICIES: &str = include_str!("../../../policies/runtime.cedar");

/// One benchmarked request and the answer both sides must give.
struct Case {
    bare_name: &'static str,
    decide_name: &'static str,
    action: &'static str,
    environment: &'static str,
    task: &'static str,
    risk_score: u32,
    mutates: bool,
    impact: &'static str,
    data_classes: Vec<String>,
    outcome: Outcome,
    determining: &'static str,
}

fn cases() -> [Case; 2] {
    [
        Case {
            bare_name: "bare_cedar",
            decide_name: "policy_decide",
            action: "write",
            environment: "production",
            task: "update the shipping address of order 42",
            risk_score: 20,
            mutates: true,
            impact: "one order changes",
            data_classes: vec!["pii".to_owned()],
            outcome: Outcome::StepUp,
            determining: "step-up-production-writes",
        },
        Case {
            bare_name: "bare_cedar_read",
            decide_name: "policy_decide_read",
            action: "read",
            environment: "staging",
            task: "answer a customer about order 42",
            risk_score: 10,
            mutates: false,
            impact: "none",
            data_classes: vec![],
            outcome: Outcome::Allow,
            determining: "allow-low-risk-reads",
        },
    ]
}

fn request(case: &Case) -> Request<'_> {
    Request {
        agent: "agent-7",
        agent_owner: "alice",
        environment: case.environment,
        use_case: "order-support",
        action: case.action,
        system: "shop",
        system_owner: "bob",
        resource: "orders/42",
        task: case.task,
        risk_score: case.risk_score,
        confidence_pct: 90,
        data_classes: &case.data_classes,
        mutates: case.mutates,
        hour_utc: 14,
        within_window: true,
        impact: case.impact,
    }
}

fn bare_policies() -> cedar::PolicySet {
    let parsed = cedar::PolicySet::from_str(POLICIES).unwrap();
    let mut policies = cedar::PolicySet::new();
    for p in parsed.policies() {
        let id = p.annotation("id").unwrap().to_owned();
        policies.add(p.new_id(cedar::PolicyId::new(id))).unwrap();
    }
    policies
}

fn bare_inputs(schema: &cedar::Schema, case: &Case) -> (cedar::Request, cedar::Entities) {
    let entities = cedar::Entities::from_json_value(
        serde_json::json!([
            {"uid": {"type": "Countersign::Agent", "id": "agent-7"},
             "attrs": {"owner": "alice", "environment": case.environment, "use_case": "order-support"},
             "parents": []},
            {"uid": {"type": "Countersign::System", "id": "shop"},
             "attrs": {"owner": "bob"}, "parents": []},
            {"uid": {"type": "Countersign::Resource", "id": "shop/orders/42"},
             "attrs": {"path": "orders/42", "system": {"__entity": {"type": "Countersign::System", "id": "shop"}}},
             "parents": [{"type": "Countersign::System", "id": "shop"}]},
        ]),
        Some(schema),
    )
    .unwrap();
    let context = cedar::Context::from_json_value(
        serde_json::json!({
            "task": case.task,
            "risk_score": case.risk_score, "confidence_pct": 90,
            "data_classes": case.data_classes,
            "mutates": case.mutates, "hour_utc": 14, "within_window": true,
            "impact": case.impact, "environment": case.environment,
        }),
        None,
    )
    .unwrap();
    let req = cedar::Request::new(
        cedar::EntityUid::from_str(r#"Countersign::Agent::"agent-7""#).unwrap(),
        cedar::EntityUid::from_str(&format!(r#"Countersign::Action::"{}""#, case.action)).unwrap(),
        cedar::EntityUid::from_str(r#"Countersign::Resource::"shop/orders/42""#).unwrap(),
        context,
        Some(schema),
    )
    .unwrap();
    (req, entities)
}

fn bench(c: &mut Criterion) {
    let schema = cedar::Schema::from_cedarschema_str(SCHEMA).unwrap().0;
    let policies = bare_policies();
    let authorizer = cedar::Authorizer::new();
    let set = PolicySet::load(
        &PolicySource {
            name: "runtime.cedarschema".to_owned(),
            text: SCHEMA.to_owned(),
        },
        &[PolicySource {
            name: "runtime.cedar".to_owned(),
            text: POLICIES.to_owned(),
        }],
    )
    .unwrap();

    for case in cases() {
        let (req, entities) = bare_inputs(&schema, &case);
        let response = authorizer.is_authorized(&req, &policies, &entities);
        assert_eq!(response.decision(), cedar::Decision::Allow);
        let reasons: Vec<&str> = response.diagnostics().reason().map(AsRef::as_ref).collect();
        assert_eq!(reasons, vec![case.determining]);
        assert_eq!(response.diagnostics().errors().count(), 0);

        let request = request(&case);
        let decision = set.decide(&request);
        assert_eq!(decision.outcome, case.outcome);
        assert_eq!(decision.determining, vec![case.determining]);
        assert!(decision.errors.is_empty());

        c.bench_function(case.bare_name, |b| {
            b.iter(|| authorizer.is_authorized(black_box(&req), &policies, &entities))
        });
        c.bench_function(case.decide_name, |b| {
            b.iter(|| set.decide(black_box(&request)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
