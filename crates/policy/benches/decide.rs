//! Compares `PolicySet::decide` with a bare Cedar `Authorizer::is_authorized`
//! on the same production-write request (the bare side gets its request and
//! entities prebuilt; `decide` builds them from a `Request` every time).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cedar_policy as cedar;
use countersign_policy::{Outcome, PolicySet, PolicySource, Request};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::str::FromStr;

const SCHEMA: &str = include_str!("../../../policies/runtime.cedarschema");
const POLICIES: &str = include_str!("../../../policies/runtime.cedar");

fn request(data_classes: &[String]) -> Request<'_> {
    Request {
        agent: "agent-7",
        agent_owner: "alice",
        environment: "production",
        use_case: "order-support",
        action: "write",
        system: "shop",
        system_owner: "bob",
        resource: "orders/42",
        task: "update the shipping address of order 42",
        risk_score: 20,
        confidence_pct: 90,
        data_classes,
        mutates: true,
        hour_utc: 14,
        within_window: true,
        impact: "one order changes",
    }
}

fn bare_inputs() -> (cedar::Request, cedar::Entities, cedar::PolicySet) {
    let schema = cedar::Schema::from_cedarschema_str(SCHEMA).unwrap().0;
    let parsed = cedar::PolicySet::from_str(POLICIES).unwrap();
    let mut policies = cedar::PolicySet::new();
    for p in parsed.policies() {
        let id = p.annotation("id").unwrap().to_owned();
        policies.add(p.new_id(cedar::PolicyId::new(id))).unwrap();
    }
    let entities = cedar::Entities::from_json_value(
        serde_json::json!([
            {"uid": {"type": "Countersign::Agent", "id": "agent-7"},
             "attrs": {"owner": "alice", "environment": "production", "use_case": "order-support"},
             "parents": []},
            {"uid": {"type": "Countersign::System", "id": "shop"},
             "attrs": {"owner": "bob"}, "parents": []},
            {"uid": {"type": "Countersign::Resource", "id": "shop/orders/42"},
             "attrs": {"path": "orders/42", "system": {"__entity": {"type": "Countersign::System", "id": "shop"}}},
             "parents": [{"type": "Countersign::System", "id": "shop"}]},
        ]),
        Some(&schema),
    )
    .unwrap();
    let context = cedar::Context::from_json_value(
        serde_json::json!({
            "task": "update the shipping address of order 42",
            "risk_score": 20, "confidence_pct": 90, "data_classes": ["pii"],
            "mutates": true, "hour_utc": 14, "within_window": true,
            "impact": "one order changes", "environment": "production",
        }),
        None,
    )
    .unwrap();
    let req = cedar::Request::new(
        cedar::EntityUid::from_str(r#"Countersign::Agent::"agent-7""#).unwrap(),
        cedar::EntityUid::from_str(r#"Countersign::Action::"write""#).unwrap(),
        cedar::EntityUid::from_str(r#"Countersign::Resource::"shop/orders/42""#).unwrap(),
        context,
        Some(&schema),
    )
    .unwrap();
    (req, entities, policies)
}

fn bench(c: &mut Criterion) {
    let (req, entities, policies) = bare_inputs();
    let authorizer = cedar::Authorizer::new();
    assert_eq!(
        authorizer
            .is_authorized(&req, &policies, &entities)
            .decision(),
        cedar::Decision::Allow
    );
    c.bench_function("bare_cedar", |b| {
        b.iter(|| authorizer.is_authorized(black_box(&req), &policies, &entities))
    });

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
    let classes = vec!["pii".to_owned()];
    let request = request(&classes);
    let decision = set.decide(&request);
    assert_eq!(decision.outcome, Outcome::StepUp);
    assert_eq!(decision.determining, vec!["step-up-production-writes"]);
    c.bench_function("policy_decide", |b| {
        b.iter(|| set.decide(black_box(&request)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
