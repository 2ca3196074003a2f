//! Property and table tests of policy loading and decisions against the example set in
//! `policies/`.

use crate::{Decision, LoadError, Outcome, PolicySet, PolicySource, Request};
use proptest::prelude::*;

const SCHEMA: &str = include_str!("../../../policies/runtime.cedarschema");
const POLICIES: &str = include_str!("../../../policies/runtime.cedar");

fn source(name: &str, text: &str) -> PolicySource {
    PolicySource {
        name: name.to_owned(),
        text: text.to_owned(),
    }
}

fn schema() -> PolicySource {
    source("runtime.cedarschema", SCHEMA)
}

fn example() -> PolicySet {
    PolicySet::load(&schema(), &[source("runtime.cedar", POLICIES)]).unwrap()
}

fn load_err(policies: &[(&str, &str)]) -> LoadError {
    let sources: Vec<PolicySource> = policies.iter().map(|(n, t)| source(n, t)).collect();
    PolicySet::load(&schema(), &sources).unwrap_err()
}

/// A low-risk read by a staging agent inside its window.
fn base<'a>(data_classes: &'a [String]) -> Request<'a> {
    Request {
        agent: "agent-7",
        agent_owner: "alice",
        environment: "staging",
        use_case: "order-support",
        action: "read",
        system: "shop",
        system_owner: "bob",
        resource: "orders/42",
        task: "answer a customer about order 42",
        risk_score: 10,
        confidence_pct: 90,
        data_classes,
        mutates: false,
        hour_utc: 14,
        within_window: true,
        impact: "none",
    }
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn example_set_loads_with_summaries_ordered_by_id() {
    let set = example();
    let got: Vec<(&str, &str, &str, Option<&str>)> = set
        .policies()
        .iter()
        .map(|p| {
            (
                p.id.as_str(),
                p.effect.as_str(),
                p.decision.as_str(),
                p.approver.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("allow-low-risk-reads", "permit", "allow", None),
            ("allow-nonproduction-writes", "permit", "allow", None),
            ("deny-outside-time-window", "forbid", "deny", None),
            (
                "deny-restricted-data-low-confidence",
                "forbid",
                "deny",
                None
            ),
            ("step-up-customer-communications", "permit", "step_up", None),
            ("step-up-payments", "permit", "step_up", Some("risk")),
            (
                "step-up-privilege-changes",
                "permit",
                "step_up",
                Some("security")
            ),
            ("step-up-production-writes", "permit", "step_up", None),
            ("step-up-risky-reads", "permit", "step_up", None),
        ]
    );
    let payments = &set.policies()[5];
    assert_eq!(payments.file, "runtime.cedar");
    assert!(payments.text.starts_with("@id(\"step-up-payments\")"));
    assert!(payments.text.contains("Countersign::Action::\"payments\""));
}

#[test]
fn decision_table() {
    let set = example();
    let none: Vec<String> = Vec::new();
    let restricted = vec!["pii".to_owned(), "restricted".to_owned()];

    struct Case<'a> {
        name: &'a str,
        req: Request<'a>,
        outcome: Outcome,
        determining: Vec<String>,
        approver: Option<&'a str>,
    }
    let b = base(&none);
    let cases = vec![
        Case {
            name: "low-risk read",
            req: b,
            outcome: Outcome::Allow,
            determining: ids(&["allow-low-risk-reads"]),
            approver: None,
        },
        Case {
            name: "risky read",
            req: Request {
                risk_score: 31,
                action: "list",
                ..b
            },
            outcome: Outcome::StepUp,
            determining: ids(&["step-up-risky-reads"]),
            approver: None,
        },
        Case {
            name: "production write",
            req: Request {
                action: "write",
                environment: "production",
                mutates: true,
                ..b
            },
            outcome: Outcome::StepUp,
            determining: ids(&["step-up-production-writes"]),
            approver: None,
        },
        Case {
            name: "staging write",
            req: Request {
                action: "update",
                mutates: true,
                risk_score: 50,
                ..b
            },
            outcome: Outcome::Allow,
            determining: ids(&["allow-nonproduction-writes"]),
            approver: None,
        },
        Case {
            name: "risky staging write",
            req: Request {
                action: "delete",
                mutates: true,
                risk_score: 51,
                ..b
            },
            outcome: Outcome::StepUp,
            determining: ids(&["step-up-production-writes"]),
            approver: None,
        },
        Case {
            name: "payment",
            req: Request {
                action: "pay",
                risk_score: 0,
                ..b
            },
            outcome: Outcome::StepUp,
            determining: ids(&["step-up-payments"]),
            approver: Some("risk"),
        },
        Case {
            name: "privilege change",
            req: Request {
                action: "grant_access",
                ..b
            },
            outcome: Outcome::StepUp,
            determining: ids(&["step-up-privilege-changes"]),
            approver: Some("security"),
        },
        Case {
            name: "customer email",
            req: Request {
                action: "send_email",
                ..b
            },
            outcome: Outcome::StepUp,
            determining: ids(&["step-up-customer-communications"]),
            approver: None,
        },
        Case {
            name: "outside window",
            req: Request {
                within_window: false,
                ..b
            },
            outcome: Outcome::Deny,
            determining: ids(&["deny-outside-time-window"]),
            approver: None,
        },
        Case {
            name: "restricted data, low confidence",
            req: Request {
                data_classes: &restricted,
                confidence_pct: 49,
                ..b
            },
            outcome: Outcome::Deny,
            determining: ids(&["deny-restricted-data-low-confidence"]),
            approver: None,
        },
        Case {
            name: "restricted data, confident",
            req: Request {
                data_classes: &restricted,
                confidence_pct: 50,
                ..b
            },
            outcome: Outcome::Allow,
            determining: ids(&["allow-low-risk-reads"]),
            approver: None,
        },
        Case {
            name: "both forbids",
            req: Request {
                data_classes: &restricted,
                confidence_pct: 10,
                within_window: false,
                action: "pay",
                ..b
            },
            outcome: Outcome::Deny,
            determining: ids(&[
                "deny-outside-time-window",
                "deny-restricted-data-low-confidence",
            ]),
            approver: None,
        },
    ];
    for c in cases {
        let d = set.decide(&c.req);
        assert_eq!(d.outcome, c.outcome, "{}: {d:?}", c.name);
        assert_eq!(d.determining, c.determining, "{}: {d:?}", c.name);
        assert_eq!(d.approver_role.as_deref(), c.approver, "{}: {d:?}", c.name);
        assert!(d.errors.is_empty(), "{}: {d:?}", c.name);
        assert_eq!(d.reasons.len(), d.determining.len(), "{}: {d:?}", c.name);
    }
}

#[test]
fn reasons_name_the_policies() {
    let set = example();
    let none: Vec<String> = Vec::new();
    let b = base(&none);
    assert_eq!(
        set.decide(&b).reasons,
        vec!["permitted by allow-low-risk-reads"]
    );
    let d = set.decide(&Request {
        within_window: false,
        ..b
    });
    assert_eq!(d.reasons, vec!["forbidden by deny-outside-time-window"]);
    let d = set.decide(&Request {
        action: "transfer",
        ..b
    });
    assert_eq!(d.reasons, vec!["step-up required by step-up-payments"]);
}

#[test]
fn unknown_action_denies_with_an_error() {
    let set = example();
    let none: Vec<String> = Vec::new();
    let d = set.decide(&Request {
        action: "launch_missiles",
        ..base(&none)
    });
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(d.determining.is_empty());
    assert_eq!(
        d.reasons,
        vec!["action \"launch_missiles\" is not in the runtime policy schema"]
    );
    assert_eq!(d.errors.len(), 1, "{d:?}");
    assert!(d.errors[0].contains("launch_missiles"), "{d:?}");
}

#[test]
fn action_group_is_not_an_action() {
    let set = example();
    let none: Vec<String> = Vec::new();
    let d = set.decide(&Request {
        action: "reads",
        ..base(&none)
    });
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.errors.len(), 1, "{d:?}");
}

#[test]
fn out_of_range_context_denies() {
    let set = example();
    let none: Vec<String> = Vec::new();
    for req in [
        Request {
            risk_score: 101,
            ..base(&none)
        },
        Request {
            confidence_pct: 101,
            ..base(&none)
        },
        Request {
            hour_utc: 24,
            ..base(&none)
        },
    ] {
        let d = set.decide(&req);
        assert_eq!(d.outcome, Outcome::Deny, "{d:?}");
        assert_eq!(d.errors.len(), 1, "{d:?}");
    }
}

#[test]
fn no_permit_denies_with_a_reason() {
    let set = PolicySet::load(
        &schema(),
        &[source(
            "only-payments.cedar",
            r#"@id("p") @decision("step_up") permit (principal, action in Countersign::Action::"payments", resource);"#,
        )],
    )
    .unwrap();
    let none: Vec<String> = Vec::new();
    let d = set.decide(&base(&none));
    assert_eq!(
        d,
        Decision {
            outcome: Outcome::Deny,
            approver_role: None,
            determining: vec![],
            reasons: vec!["no policy permits read on shop/orders/42".to_owned()],
            errors: vec![],
        }
    );
}

#[test]
fn evaluation_error_fails_closed() {
    // Overflow is an evaluation error in Cedar; the forbid errors, the permit
    // holds, and Cedar alone would allow.
    let set = PolicySet::load(
        &schema(),
        &[source(
            "overflow.cedar",
            r#"
            @id("allow-reads") permit (principal, action in Countersign::Action::"reads", resource);
            @id("overflowing") forbid (principal, action, resource)
            when { context.risk_score * 9223372036854775807 > 1 };
            "#,
        )],
    )
    .unwrap();
    let none: Vec<String> = Vec::new();
    let d = set.decide(&base(&none));
    assert_eq!(d.outcome, Outcome::Deny, "{d:?}");
    assert_eq!(d.determining, vec!["overflowing"]);
    assert_eq!(d.errors.len(), 1, "{d:?}");
    assert!(d.errors[0].contains("overflowing"), "{d:?}");
}

#[test]
fn policies_may_use_every_entity_and_context_field() {
    let set = PolicySet::load(
        &schema(),
        &[source(
            "all.cedar",
            r#"
            @id("everything") permit (principal, action, resource in Countersign::System::"shop")
            when {
              principal.owner == "alice" && principal.use_case == "order-support" &&
              resource.system.owner == "bob" && resource.path == "orders/42" &&
              resource.system == Countersign::System::"shop" &&
              context.task like "*order 42" && context.mutates == false &&
              context.hour_utc == 14 && context.impact == "none" &&
              context.environment == principal.environment && context.data_classes.isEmpty()
            };
            "#,
        )],
    )
    .unwrap();
    let none: Vec<String> = Vec::new();
    let d = set.decide(&base(&none));
    assert_eq!(d.outcome, Outcome::Allow, "{d:?}");
    let d = set.decide(&Request {
        system: "other",
        ..base(&none)
    });
    assert_eq!(d.outcome, Outcome::Deny, "{d:?}");
}

#[test]
fn parse_error_names_the_file() {
    let e = load_err(&[
        ("runtime.cedar", POLICIES),
        (
            "broken.cedar",
            r#"@id("x") permit (principal, action, resource"#,
        ),
    ]);
    assert!(
        matches!(&e, LoadError::Parse { file, .. } if file == "broken.cedar"),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("policy file broken.cedar does not parse: "),
        "{e}"
    );
}

#[test]
fn missing_id_is_refused() {
    let e = load_err(&[(
        "a.cedar",
        r#"@id("ok") permit (principal, action, resource);
        permit (principal, action in Countersign::Action::"reads", resource);"#,
    )]);
    match e {
        LoadError::MissingId {
            file,
            policy_text_start,
        } => {
            assert_eq!(file, "a.cedar");
            assert!(policy_text_start.starts_with("permit (principal, action in"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn duplicate_id_across_files_is_refused() {
    let e = load_err(&[
        (
            "a.cedar",
            r#"@id("same") permit (principal, action, resource);"#,
        ),
        (
            "b.cedar",
            r#"@id("same") forbid (principal, action, resource);"#,
        ),
    ]);
    assert!(
        matches!(&e, LoadError::DuplicateId { id, first_file, second_file }
            if id == "same" && first_file == "a.cedar" && second_file == "b.cedar"),
        "{e:?}"
    );
}

#[test]
fn duplicate_file_is_refused() {
    let e = load_err(&[
        (
            "a.cedar",
            r#"@id("one") permit (principal, action, resource);"#,
        ),
        (
            "a.cedar",
            r#"@id("two") permit (principal, action, resource);"#,
        ),
    ]);
    assert!(
        matches!(&e, LoadError::DuplicateFile { file } if file == "a.cedar"),
        "{e:?}"
    );
}

#[test]
fn policy_failing_validation_is_refused() {
    let e = load_err(&[
        ("runtime.cedar", POLICIES),
        (
            "extra.cedar",
            r#"@id("uses-nope") permit (principal, action, resource) when { context.nope == 1 };"#,
        ),
    ]);
    match &e {
        LoadError::Validation { messages } => {
            // Cedar reports the policy once per action it applies to.
            assert!(!messages.is_empty());
            for m in messages {
                assert!(m.starts_with("extra.cedar: "), "{m}");
                assert!(m.contains("`uses-nope`") && m.contains("`nope`"), "{m}");
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_action_in_a_policy_is_refused() {
    let e = load_err(&[(
        "a.cedar",
        r#"@id("x") permit (principal, action == Countersign::Action::"fly", resource);"#,
    )]);
    assert!(matches!(e, LoadError::Validation { .. }), "{e:?}");
}

#[test]
fn invalid_annotations_are_refused() {
    for (text, expected) in [
        (
            r#"@id("x") @decision("maybe") permit (principal, action, resource);"#,
            "\"maybe\"",
        ),
        (
            r#"@id("x") @decision("deny") permit (principal, action, resource);"#,
            "\"deny\"",
        ),
        (
            r#"@id("x") @decision("step_up") forbid (principal, action, resource);"#,
            "forbid",
        ),
        (
            r#"@id("x") @approver("risk") permit (principal, action, resource);"#,
            "@approver",
        ),
        (
            r#"@id("x") @decision("step_up") @approver("") permit (principal, action, resource);"#,
            "@approver",
        ),
        (r#"@id("") permit (principal, action, resource);"#, "@id"),
    ] {
        let e = load_err(&[("a.cedar", text)]);
        match &e {
            LoadError::InvalidAnnotation { file, message, .. } => {
                assert_eq!(file, "a.cedar");
                assert!(message.contains(expected), "{text}: {message}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn templates_are_refused() {
    let e = load_err(&[(
        "t.cedar",
        r#"@id("t") permit (principal == ?principal, action, resource);"#,
    )]);
    assert!(
        matches!(&e, LoadError::Template { file, .. } if file == "t.cedar"),
        "{e:?}"
    );
}

#[test]
fn empty_sets_and_bad_schemas_are_refused() {
    assert_eq!(
        PolicySet::load(&schema(), &[]).unwrap_err(),
        LoadError::NoPolicies
    );
    assert_eq!(
        load_err(&[("empty.cedar", "// nothing yet\n")]),
        LoadError::NoPolicies
    );
    let e = PolicySet::load(
        &source("bad.cedarschema", "namespace Countersign { entity Agent = "),
        &[source("runtime.cedar", POLICIES)],
    )
    .unwrap_err();
    assert!(
        matches!(&e, LoadError::Schema { file, .. } if file == "bad.cedarschema"),
        "{e:?}"
    );
    let e = PolicySet::load(
        &source("other.cedarschema", "namespace Other { entity Agent; }"),
        &[source(
            "a.cedar",
            r#"@id("a") permit (principal, action, resource);"#,
        )],
    )
    .unwrap_err();
    assert!(
        matches!(&e, LoadError::Schema { message, .. } if message.contains("Countersign::Agent")),
        "{e:?}"
    );
}

#[test]
fn error_messages_are_lowercase_without_trailing_period() {
    let errors = [
        load_err(&[("b.cedar", "permit (")]),
        load_err(&[("a.cedar", "permit (principal, action, resource);")]),
        LoadError::NoPolicies,
    ];
    for e in errors {
        let m = e.to_string();
        assert!(m.starts_with(|c: char| c.is_lowercase()), "{m}");
        assert!(!m.ends_with('.'), "{m}");
    }
}

#[test]
fn digest_is_stable_order_independent_and_sensitive() {
    let a = source(
        "a.cedar",
        r#"@id("a") permit (principal, action, resource);"#,
    );
    let b = source(
        "b.cedar",
        r#"@id("b") forbid (principal, action, resource) unless { context.within_window };"#,
    );
    let d1 = PolicySet::load(&schema(), &[a.clone(), b.clone()]).unwrap();
    let d2 = PolicySet::load(&schema(), &[b.clone(), a.clone()]).unwrap();
    assert_eq!(d1.digest(), d2.digest());
    assert_eq!(
        d1.digest(),
        PolicySet::load(&schema(), &[a.clone(), b.clone()])
            .unwrap()
            .digest()
    );
    assert!(d1.digest().as_str().starts_with("sha256:"));

    let changed_policy = source(
        "a.cedar",
        r#"@id("a") permit (principal, action, resource );"#,
    );
    let d3 = PolicySet::load(&schema(), &[changed_policy, b.clone()]).unwrap();
    assert_ne!(d1.digest(), d3.digest());

    let renamed = source("c.cedar", &a.text);
    let d4 = PolicySet::load(&schema(), &[renamed, b.clone()]).unwrap();
    assert_ne!(d1.digest(), d4.digest());

    let mut changed_schema = schema();
    changed_schema.text.push_str("\n// a comment\n");
    let d5 = PolicySet::load(&changed_schema, &[a, b]).unwrap();
    assert_ne!(d1.digest(), d5.digest());

    // The example set's digest is pinned by its text: recompute it by hand.
    let expected = countersign_core::canonical::Digest::of_canonical(&serde_json::json!({
        "schema": {"name": "runtime.cedarschema", "text": SCHEMA},
        "policies": [{"name": "runtime.cedar", "text": POLICIES}],
    }))
    .unwrap();
    assert_eq!(example().digest(), &expected);
}

#[test]
fn policy_set_is_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<PolicySet>();
    assert_send_sync::<LoadError>();
}

const ACTIONS: &[&str] = &[
    "read",
    "list",
    "get",
    "write",
    "update",
    "delete",
    "create",
    "deploy",
    "pay",
    "refund",
    "transfer",
    "grant_access",
    "revoke_access",
    "change_role",
    "send_email",
    "send_message",
];

#[test]
fn every_schema_action_is_decided_without_errors() {
    let set = example();
    let none: Vec<String> = Vec::new();
    for action in ACTIONS {
        let d = set.decide(&Request {
            action,
            ..base(&none)
        });
        assert!(d.errors.is_empty(), "{action}: {d:?}");
        assert!(!d.determining.is_empty(), "{action}: {d:?}");
    }
}

proptest! {
    #[test]
    fn outside_window_always_denies_and_payments_never_allow(
        risk in 0u32..=100,
        confidence in 0u32..=100,
        hour in 0u32..=23,
        action in proptest::sample::select(ACTIONS),
        production in any::<bool>(),
        restricted in any::<bool>(),
        within_window in any::<bool>(),
    ) {
        let set = example();
        let classes = if restricted { vec!["restricted".to_owned()] } else { vec![] };
        let req = Request {
            action,
            risk_score: risk,
            confidence_pct: confidence,
            hour_utc: hour,
            environment: if production { "production" } else { "staging" },
            data_classes: &classes,
            within_window,
            ..base(&classes)
        };
        let d = set.decide(&req);
        prop_assert!(d.errors.is_empty(), "{:?}", d);
        if !within_window {
            prop_assert_eq!(d.outcome, Outcome::Deny);
            prop_assert!(d.determining.contains(&"deny-outside-time-window".to_owned()));
        }
        if ["pay", "refund", "transfer"].contains(&action) {
            prop_assert_ne!(d.outcome, Outcome::Allow);
        }
    }
}

#[test]
fn per_action_slices_decide_like_the_whole_set() {
    let set = example();
    let whole = whole_set(&set);
    let authorizer = cedar_policy::Authorizer::new();
    let restricted = vec!["restricted".to_owned()];
    let mut sliced_total = 0;
    for action in ACTIONS {
        let slot = &set.actions[*action];
        sliced_total += slot.policies.policies().count();
        for (risk, confidence, within_window) in [(0, 100, true), (40, 10, true), (90, 90, false)] {
            let req = Request {
                action,
                risk_score: risk,
                confidence_pct: confidence,
                within_window,
                environment: "production",
                ..base(&restricted)
            };
            let (request, entities) = crate::decide::build(&set, slot, &req).unwrap();
            let full = authorizer.is_authorized(&request, &whole, &entities);
            let part = authorizer.is_authorized(&request, &slot.policies, &entities);
            assert_eq!(full.decision(), part.decision(), "{action}");
            assert_eq!(sorted_reasons(&full), sorted_reasons(&part), "{action}");
            assert_eq!(
                full.diagnostics().errors().count(),
                part.diagnostics().errors().count()
            );
        }
    }
    // Every action sees its group's permits and both forbids, nothing more.
    assert_eq!(sliced_total, 3 * 4 + 5 * 4 + 3 * 3 + 3 * 3 + 2 * 3);
}

/// The request and store `build` makes, rebuilt the slow way: the request
/// and the three entities validated against the schema, which also adds every
/// action entity of the schema to the store.
fn schema_checked(
    set: &PolicySet,
    request: &cedar_policy::Request,
    entities: &cedar_policy::Entities,
) -> (cedar_policy::Request, cedar_policy::Entities) {
    let checked = cedar_policy::Request::new(
        request.principal().unwrap().clone(),
        request.action().unwrap().clone(),
        request.resource().unwrap().clone(),
        request.context().unwrap().clone(),
        Some(&set.schema),
    )
    .unwrap();
    let non_actions = entities
        .iter()
        .filter(|e| e.uid().type_name() != &set.action_type)
        .cloned();
    let store = cedar_policy::Entities::from_entities(non_actions, Some(&set.schema)).unwrap();
    (checked, store)
}

/// The whole example set as one Cedar policy set.
fn whole_set(set: &PolicySet) -> cedar_policy::PolicySet {
    let mut whole = cedar_policy::PolicySet::new();
    for p in set.policies() {
        let policy =
            cedar_policy::Policy::parse(Some(cedar_policy::PolicyId::new(&p.id)), &p.text).unwrap();
        whole.add(policy).unwrap();
    }
    whole
}

fn sorted_reasons(r: &cedar_policy::Response) -> Vec<String> {
    let mut v: Vec<String> = r.diagnostics().reason().map(ToString::to_string).collect();
    v.sort();
    v
}

proptest! {
    /// `build` skips the schema; whatever the request holds, what it builds
    /// still conforms, and deciding on it (the slice, the slot's action
    /// entities) answers as Cedar does on the schema-checked request and
    /// store with the whole set.
    #[test]
    fn requests_built_without_the_schema_conform_and_decide_alike(
        strings in proptest::collection::vec(".{0,40}", 9),
        classes in proptest::collection::vec(
            proptest::sample::select(&["pii", "restricted", "financial", ""][..]), 0..3),
        risk in 0u32..=100,
        confidence in 0u32..=100,
        hour in 0u32..=23,
        action in proptest::sample::select(ACTIONS),
        production in any::<bool>(),
        mutates in any::<bool>(),
        within_window in any::<bool>(),
    ) {
        let set = example();
        let whole = whole_set(&set);
        let classes: Vec<String> = classes.iter().map(|c| (*c).to_owned()).collect();
        let req = Request {
            agent: &strings[0],
            agent_owner: &strings[1],
            environment: if production { "production" } else { &strings[2] },
            use_case: &strings[3],
            action,
            system: &strings[4],
            system_owner: &strings[5],
            resource: &strings[6],
            task: &strings[7],
            risk_score: risk,
            confidence_pct: confidence,
            data_classes: &classes,
            mutates,
            hour_utc: hour,
            within_window,
            impact: &strings[8],
        };
        let slot = &set.actions[action];
        let (request, entities) = crate::decide::build(&set, slot, &req).unwrap();
        prop_assert_eq!(
            crate::decide::check_against_schema(&set.schema, &request, &entities),
            Ok(())
        );
        let (checked, store) = schema_checked(&set, &request, &entities);
        let authorizer = cedar_policy::Authorizer::new();
        let fast = authorizer.is_authorized(&request, &slot.policies, &entities);
        let slow = authorizer.is_authorized(&checked, &whole, &store);
        prop_assert_eq!(fast.decision(), slow.decision());
        prop_assert_eq!(sorted_reasons(&fast), sorted_reasons(&slow));
        prop_assert_eq!(fast.diagnostics().errors().count(), 0);
        prop_assert_eq!(slow.diagnostics().errors().count(), 0);
    }
}

#[test]
fn group_policies_match_through_the_slot_entities() {
    let set = example();
    let none: Vec<String> = Vec::new();
    // `update` is only a member of `writes`; its store holds it and its group.
    let slot = &set.actions["update"];
    let writes: cedar_policy::EntityUid = r#"Countersign::Action::"writes""#.parse().unwrap();
    assert!(slot.entities.is_ancestor_of(&writes, &slot.uid));
    let d = set.decide(&Request {
        action: "update",
        environment: "production",
        ..base(&none)
    });
    assert_eq!(d.outcome, Outcome::StepUp, "{d:?}");
    assert_eq!(d.determining, ids(&["step-up-production-writes"]));
}

#[test]
fn policies_naming_other_actions_see_their_groups() {
    // The condition asks about an action that is not the request's: its
    // entity (and group) must be in the store for `in` to hold.
    let set = PolicySet::load(
        &schema(),
        &[source(
            "named.cedar",
            r#"
            @id("named") permit (principal, action in Countersign::Action::"writes", resource)
            when { Countersign::Action::"read" in Countersign::Action::"reads" };
            "#,
        )],
    )
    .unwrap();
    let none: Vec<String> = Vec::new();
    let d = set.decide(&Request {
        action: "write",
        ..base(&none)
    });
    assert_eq!(d.outcome, Outcome::Allow, "{d:?}");
    assert_eq!(d.determining, ids(&["named"]));
}

#[test]
fn a_schema_the_requests_do_not_conform_to_denies_every_request() {
    // Agents carry no `team`, so no request conforms to this schema.
    let with_team = SCHEMA.replace("use_case: String,", "use_case: String,\n    team: String,");
    assert_ne!(with_team, SCHEMA);
    let set = PolicySet::load(
        &source("runtime.cedarschema", &with_team),
        &[source("runtime.cedar", POLICIES)],
    )
    .unwrap();
    let none: Vec<String> = Vec::new();
    for action in ACTIONS {
        let d = set.decide(&Request {
            action,
            ..base(&none)
        });
        assert_eq!(d.outcome, Outcome::Deny, "{action}: {d:?}");
        assert!(d.determining.is_empty(), "{action}: {d:?}");
        assert_eq!(
            d.reasons,
            vec![format!(
                "the request for {action} on shop/orders/42 does not conform to the runtime policy schema"
            )]
        );
        assert_eq!(d.errors.len(), 1, "{d:?}");
        assert!(d.errors[0].contains("team"), "{d:?}");
    }
}

/// The request and store as `build` made them before subjects were
/// prepared: every entity built per call, the three added to the slot's
/// store at once. The reference the prepared path is checked against.
fn reference_build(
    set: &PolicySet,
    slot: &crate::model::ActionSlot,
    req: &Request<'_>,
) -> Result<(cedar_policy::Request, cedar_policy::Entities), Decision> {
    use cedar_policy as cedar;
    let deny = |reason: String, error: String| Decision {
        outcome: Outcome::Deny,
        approver_role: None,
        determining: vec![],
        reasons: vec![reason],
        errors: vec![error],
    };
    let invalid = |e: String| {
        deny(
            format!(
                "the request for {} on {}/{} does not conform to the runtime policy schema",
                req.action, req.system, req.resource
            ),
            e,
        )
    };
    for (field, value, max) in [
        ("risk_score", req.risk_score, 100),
        ("confidence_pct", req.confidence_pct, 100),
        ("hour_utc", req.hour_utc, 23),
    ] {
        if value > max {
            let msg = format!("{field} {value} is outside 0..={max}");
            return Err(deny(format!("the request cannot be evaluated: {msg}"), msg));
        }
    }
    if let Some(error) = &slot.nonconforming {
        return Err(invalid(error.clone()));
    }
    let uid = |ty: &cedar::EntityTypeName, id: &str| {
        cedar::EntityUid::from_type_name_and_id(ty.clone(), cedar::EntityId::new(id))
    };
    let string = |s: &str| cedar::RestrictedExpression::new_string(s.to_owned());
    let agent = uid(&set.agent_type, req.agent);
    let system = uid(&set.system_type, req.system);
    let resource = uid(
        &set.resource_type,
        &format!("{}/{}", req.system, req.resource),
    );
    let context = cedar::Context::from_pairs([
        ("task".to_owned(), string(req.task)),
        (
            "risk_score".to_owned(),
            cedar::RestrictedExpression::new_long(i64::from(req.risk_score)),
        ),
        (
            "confidence_pct".to_owned(),
            cedar::RestrictedExpression::new_long(i64::from(req.confidence_pct)),
        ),
        (
            "data_classes".to_owned(),
            cedar::RestrictedExpression::new_set(req.data_classes.iter().map(|c| string(c))),
        ),
        (
            "mutates".to_owned(),
            cedar::RestrictedExpression::new_bool(req.mutates),
        ),
        (
            "hour_utc".to_owned(),
            cedar::RestrictedExpression::new_long(i64::from(req.hour_utc)),
        ),
        (
            "within_window".to_owned(),
            cedar::RestrictedExpression::new_bool(req.within_window),
        ),
        ("impact".to_owned(), string(req.impact)),
        ("environment".to_owned(), string(req.environment)),
    ])
    .map_err(|e| invalid(e.to_string()))?;
    let request = cedar::Request::new(
        agent.clone(),
        slot.uid.clone(),
        resource.clone(),
        context,
        None,
    )
    .map_err(|e| invalid(e.to_string()))?;
    let agent_entity = cedar::Entity::new_with_tags(
        agent,
        [
            ("owner".to_owned(), string(req.agent_owner)),
            ("environment".to_owned(), string(req.environment)),
            ("use_case".to_owned(), string(req.use_case)),
        ],
        [],
        [],
    )
    .map_err(|e| invalid(e.to_string()))?;
    let system_entity = cedar::Entity::new_with_tags(
        system.clone(),
        [("owner".to_owned(), string(req.system_owner))],
        [],
        [],
    )
    .map_err(|e| invalid(e.to_string()))?;
    let resource_entity = cedar::Entity::new_with_tags(
        resource,
        [
            ("path".to_owned(), string(req.resource)),
            (
                "system".to_owned(),
                cedar::RestrictedExpression::new_entity_uid(system.clone()),
            ),
        ],
        [system],
        [],
    )
    .map_err(|e| invalid(e.to_string()))?;
    let entities = slot
        .entities
        .clone()
        .add_entities([agent_entity, system_entity, resource_entity], None)
        .map_err(|e| invalid(e.to_string()))?;
    Ok((request, entities))
}

/// `decide` as it was before subjects were prepared.
fn reference_decide(set: &PolicySet, req: &Request<'_>) -> Decision {
    let Some(slot) = set.actions.get(req.action) else {
        // The unknown-action path builds nothing and did not change.
        return set.decide(req);
    };
    match reference_build(set, slot, req) {
        Err(denied) => denied,
        Ok((request, entities)) => {
            let response = set
                .authorizer
                .is_authorized(&request, &slot.policies, &entities);
            crate::decide::interpret(set, req.action, req.system, req.resource, &response)
        }
    }
}

/// The example set, a set whose forbid fails to evaluate, a set reading
/// every entity attribute and context field, and the example set with a
/// forbid that reads a resource through an entity literal.
fn sets_for_equivalence() -> Vec<PolicySet> {
    vec![
        example(),
        PolicySet::load(
            &schema(),
            &[source(
                "overflow.cedar",
                r#"
                @id("allow-reads") permit (principal, action in Countersign::Action::"reads", resource);
                @id("overflowing") forbid (principal, action, resource)
                when { context.risk_score * 9223372036854775807 > 1 };
                "#,
            )],
        )
        .unwrap(),
        PolicySet::load(
            &schema(),
            &[source(
                "all.cedar",
                r#"
                @id("everything") @decision("step_up") @approver("ops")
                permit (principal, action, resource in Countersign::System::"shop")
                when {
                  principal.owner == "alice" && principal.use_case like "order*" &&
                  resource.system.owner == "bob" && resource.path like "orders/*" &&
                  resource.system == Countersign::System::"shop" &&
                  context.task like "*42*" && context.mutates == false &&
                  context.hour_utc < 20 && context.impact != "bad" &&
                  context.environment == principal.environment
                };
                @id("pii") forbid (principal, action in Countersign::Action::"writes", resource)
                when { context.data_classes.contains("pii") };
                "#,
            )],
        )
        .unwrap(),
        PolicySet::load(
            &schema(),
            &[
                source("runtime.cedar", POLICIES),
                source(
                    "literal.cedar",
                    r#"@id("literal") forbid (principal, action in Countersign::Action::"reads", resource)
                       when { Countersign::Resource::"shop/orders/42".path == "orders/42" };
                       @id("has-task") forbid (principal, action in Countersign::Action::"writes", resource)
                       when { context has task && context.task == "update" };"#,
                ),
            ],
        )
        .unwrap(),
    ]
}

const CALL_ACTIONS: &[&str] = &[
    "read",
    "list",
    "write",
    "update",
    "pay",
    "grant_access",
    "send_email",
    "reads",
    "launch_missiles",
];

proptest! {
    /// One prepared subject, reused across a run of random calls (the
    /// per-action stores built by one call are used by the next), decides
    /// every call exactly as `decide` on the whole request does, and as
    /// `decide` did before subjects were prepared: same outcome, approver,
    /// determining policies, reasons and errors.
    #[test]
    fn prepared_decides_like_the_plain_path(
        which in 0usize..4,
        strings in proptest::collection::vec(
            proptest::sample::select(&["alice", "bob", "shop", "orders/42", "answer about 42", "", "x/y", "production"][..]), 6),
        calls in proptest::collection::vec(
            (
                proptest::sample::select(CALL_ACTIONS),
                proptest::sample::select(&["orders/42", "orders/7", "", "a\"b"][..]),
                proptest::sample::select(&["answer about 42", "update", ""][..]),
                0u32..=104,
                0u32..=104,
                proptest::collection::vec(proptest::sample::select(&["pii", "restricted", ""][..]), 0..3),
                any::<bool>(),
                0u32..=25,
                any::<bool>(),
                proptest::sample::select(&["none", "bad"][..]),
            ),
            1..8,
        ),
    ) {
        let set = &sets_for_equivalence()[which];
        let subject = crate::Subject {
            agent: strings[0],
            agent_owner: strings[1],
            environment: strings[5],
            use_case: strings[3],
            system: strings[2],
            system_owner: strings[1],
        };
        let prepared = set.prepare(&subject);
        for (action, resource, task, risk, confidence, classes, mutates, hour, within_window, impact) in &calls {
            let classes: Vec<String> = classes.iter().map(|c| (*c).to_owned()).collect();
            let call = crate::Call {
                action,
                resource,
                task,
                risk_score: *risk,
                confidence_pct: *confidence,
                data_classes: &classes,
                mutates: *mutates,
                hour_utc: *hour,
                within_window: *within_window,
                impact,
            };
            let req = Request::from_parts(subject, call);
            let fast = set.decide_prepared(&prepared, &call);
            prop_assert_eq!(&fast, &set.decide(&req));
            prop_assert_eq!(&fast, &reference_decide(set, &req));
        }
    }
}

#[test]
fn a_subject_prepared_for_another_set_is_decided_by_this_one() {
    let none: Vec<String> = Vec::new();
    let req = base(&none);
    let old = example();
    let prepared = old.prepare(&req.subject());
    // Reloaded: reads now step up.
    let reloaded = PolicySet::load(
        &schema(),
        &[source(
            "reads.cedar",
            r#"@id("reads-step-up") @decision("step_up") permit (principal, action in Countersign::Action::"reads", resource);"#,
        )],
    )
    .unwrap();
    assert_ne!(prepared.digest(), reloaded.digest());
    let d = reloaded.decide_prepared(&prepared, &req.call());
    assert_eq!(d, reloaded.decide(&req));
    assert_eq!(d.outcome, Outcome::StepUp);
    assert_eq!(d.determining, ids(&["reads-step-up"]));
    assert_eq!(
        old.decide_prepared(&prepared, &req.call()).outcome,
        Outcome::Allow
    );
}

#[test]
fn request_splits_into_subject_and_call_and_back() {
    let classes = vec!["pii".to_owned()];
    let req = Request {
        action: "write",
        environment: "production",
        mutates: true,
        ..base(&classes)
    };
    let again = Request::from_parts(req.subject(), req.call());
    assert_eq!(format!("{again:?}"), format!("{req:?}"));
    let set = example();
    let prepared = set.prepare(&req.subject());
    assert_eq!(prepared.subject(), req.subject());
    assert_eq!(prepared.digest(), set.digest());
}

#[test]
fn prepared_is_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<crate::Prepared>();
}

#[test]
fn slots_know_whether_their_policies_read_the_resource() {
    // The example set never looks at the resource: every slot decides on the
    // prepared store as it is.
    let set = example();
    for action in ACTIONS {
        assert!(!set.actions[*action].reads_resource, "{action}");
    }
    for (policy, reads) in [
        (
            r#"permit (principal, action, resource) when { resource.path == "a" };"#,
            true,
        ),
        (
            r#"permit (principal, action, resource in Countersign::System::"shop");"#,
            true,
        ),
        (
            r#"permit (principal, action, resource) when { context.task == "x" || resource has path };"#,
            true,
        ),
        (
            r#"permit (principal, action, resource) when { Countersign::Resource::"shop/orders/42".path == "orders/42" };"#,
            true,
        ),
        (
            r#"permit (principal, action, resource) when { principal.owner == "alice" };"#,
            false,
        ),
        (
            r#"permit (principal, action, resource) when { Countersign::System::"shop".owner == "bob" };"#,
            false,
        ),
    ] {
        let set = PolicySet::load(
            &schema(),
            &[source("p.cedar", &format!("@id(\"p\") {policy}"))],
        )
        .unwrap();
        assert_eq!(set.actions["read"].reads_resource, reads, "{policy}");
        // Either way the decision is the reference one.
        let none: Vec<String> = Vec::new();
        let req = base(&none);
        assert_eq!(set.decide(&req), reference_decide(&set, &req), "{policy}");
    }
}

#[test]
fn a_resource_read_through_a_literal_matches_only_the_request_resource() {
    let set = PolicySet::load(
        &schema(),
        &[source(
            "literal.cedar",
            r#"@id("literal") permit (principal, action, resource)
               when { Countersign::Resource::"shop/orders/42".path == "orders/42" };"#,
        )],
    )
    .unwrap();
    let none: Vec<String> = Vec::new();
    let req = base(&none);
    let prepared = set.prepare(&req.subject());
    let d = set.decide_prepared(&prepared, &req.call());
    assert_eq!(d.outcome, Outcome::Allow, "{d:?}");
    // Another resource: the literal's entity is not in the store, and
    // Cedar's evaluation error denies.
    let other = crate::Call {
        resource: "orders/7",
        ..req.call()
    };
    let d = set.decide_prepared(&prepared, &other);
    assert_eq!(d.outcome, Outcome::Deny, "{d:?}");
    assert_eq!(d.errors.len(), 1, "{d:?}");
    assert_eq!(
        d,
        reference_decide(&set, &Request::from_parts(req.subject(), other))
    );
}

#[test]
fn slots_know_which_context_fields_their_policies_read() {
    use crate::decide::{ALL_FIELDS, CONTEXT_FIELDS};
    let names = |bits: u16| -> Vec<&str> {
        CONTEXT_FIELDS
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, f)| *f)
            .collect()
    };
    let set = example();
    assert_eq!(
        names(set.actions["write"].context_fields),
        vec![
            "risk_score",
            "confidence_pct",
            "data_classes",
            "within_window"
        ]
    );
    assert_eq!(
        names(set.actions["pay"].context_fields),
        vec!["confidence_pct", "data_classes", "within_window"]
    );
    for (policy, bits) in [
        (r#"permit (principal, action, resource);"#, 0),
        (
            r#"permit (principal, action, resource) when { context has impact };"#,
            1 << 7,
        ),
        (
            r#"permit (principal, action, resource) when { context.hour_utc < 9 && principal.environment == context.environment };"#,
            (1 << 5) | (1 << 8),
        ),
        (
            r#"permit (principal, action, resource) when { context == context };"#,
            ALL_FIELDS,
        ),
        (
            r#"permit (principal, action, resource) when { [context].contains(context) };"#,
            ALL_FIELDS,
        ),
    ] {
        let set = PolicySet::load(
            &schema(),
            &[source("p.cedar", &format!("@id(\"p\") {policy}"))],
        )
        .unwrap();
        assert_eq!(set.actions["read"].context_fields, bits, "{policy}");
        let none: Vec<String> = Vec::new();
        let req = base(&none);
        assert_eq!(set.decide(&req), reference_decide(&set, &req), "{policy}");
    }
}

#[test]
fn slot_policies_leave_the_action_scope_to_the_slot() {
    let set = example();
    for action in ACTIONS {
        for p in set.actions[*action].policies.policies() {
            assert!(
                matches!(p.action_constraint(), cedar_policy::ActionConstraint::Any),
                "{action}: {p}"
            );
            // Same id and annotations as the loaded policy.
            let summary = set.policies().iter().find(|s| s.id == p.id().to_string());
            assert!(summary.is_some(), "{action}: {}", p.id());
            assert_eq!(p.annotation("id"), Some(p.id().as_ref()));
        }
    }
}
