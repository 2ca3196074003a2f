#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The governance profile: the shipped example loads, tiers compute, bad profiles are
//! refused with file, field and reason.

use countersign_core::profile::{Profile, EXAMPLE_PROFILE};
use countersign_core::release::{Attributes, ReleaseKind};

fn example() -> Profile {
    Profile::from_toml("profiles/example.toml", EXAMPLE_PROFILE).unwrap()
}

#[test]
fn example_profile_loads_with_four_tiers() {
    let p = example();
    let names: Vec<&str> = p.tiers.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["low", "medium", "high", "critical"]);
}

#[test]
fn tiering_takes_the_highest_matching_rule() {
    let p = example();
    let low = Attributes::default();
    assert_eq!(p.tier_for(ReleaseKind::Model, &low).tier.name, "low");
    let cf = Attributes {
        customer_facing: true,
        ..Attributes::default()
    };
    assert_eq!(p.tier_for(ReleaseKind::Model, &cf).tier.name, "medium");
    let sensitive = Attributes {
        customer_facing: true,
        data_connected: true,
        data_classes: ["pii".to_owned()].into(),
        ..Attributes::default()
    };
    let t = p.tier_for(ReleaseKind::Model, &sensitive);
    assert_eq!(t.tier.name, "high");
    assert_eq!(t.matched_rules, ["customer-facing", "sensitive-data"]);
    let critical = Attributes {
        customer_facing: true,
        regulated: true,
        autonomy_level: 2,
        ..Attributes::default()
    };
    assert_eq!(
        p.tier_for(ReleaseKind::Agent, &critical).tier.name,
        "critical"
    );
}

#[test]
fn profile_digest_ignores_comments_but_not_rules() {
    let p = example();
    let commented = format!("# a new comment\n{EXAMPLE_PROFILE}");
    assert_eq!(
        Profile::from_toml("x", &commented).unwrap().digest(),
        p.digest()
    );
    let changed =
        EXAMPLE_PROFILE.replace("review_deadline_hours = 24", "review_deadline_hours = 12");
    assert_ne!(
        Profile::from_toml("x", &changed).unwrap().digest(),
        p.digest()
    );
}

fn refused(text: &str) -> String {
    Profile::from_toml("bad.toml", text)
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_profiles_are_refused_with_file_field_and_reason() {
    let e = refused(&EXAMPLE_PROFILE.replace(
        "tier = \"high\"\nwhen = { regulated",
        "tier = \"huge\"\nwhen = { regulated",
    ));
    assert_eq!(e, "bad.toml: rules[4].tier: unknown tier \"huge\"");

    let e = refused(
        &EXAMPLE_PROFILE.replace("veto_roles = [\"security\"]", "veto_roles = [\"legal\"]"),
    );
    assert_eq!(
        e,
        "bad.toml: tiers[1].veto_roles: veto role legal is not a required role of this tier"
    );

    let e = refused(
        &EXAMPLE_PROFILE.replace("review_deadline_hours = 72", "review_deadline_hours = 0"),
    );
    assert_eq!(
        e,
        "bad.toml: tiers[1].review_deadline_hours: must be at least 1"
    );

    let e = refused(&EXAMPLE_PROFILE.replace("\"model_card\",\n]", "]"));
    assert!(
        e.starts_with("bad.toml: tiers[3].required_evidence: evidence kind \"model_card\""),
        "{e}"
    );

    let e = refused(&EXAMPLE_PROFILE.replace(
        "required_roles = [\"mlops\", \"operations\"]",
        "required_roles = [\"mlops\", \"wizard\"]",
    ));
    assert!(e.starts_with("bad.toml: line "), "{e}");
    assert!(e.contains("wizard"), "{e}");

    let e = refused(&format!("surprise = 1\n{EXAMPLE_PROFILE}"));
    assert!(e.contains("unknown field `surprise`"), "{e}");

    let e = refused(&EXAMPLE_PROFILE.replace("legal = [", "legalx = ["));
    assert!(e.starts_with("bad.toml: line "), "{e}");
}

#[test]
fn grants_section_is_validated_and_defaults_keep_the_digest() {
    let e =
        refused(&EXAMPLE_PROFILE.replace("recertify_every_days = 90", "recertify_every_days = 0"));
    assert_eq!(
        e,
        "bad.toml: grants.recertify_every_days: must be between 1 and 3660"
    );
    let e =
        refused(&EXAMPLE_PROFILE.replace("max_delegation_depth = 2", "max_delegation_depth = 99"));
    assert_eq!(
        e,
        "bad.toml: grants.max_delegation_depth: must be at most 8"
    );
    let e = refused(&EXAMPLE_PROFILE.replace("max_delegation_depth = 2", "max_depth = 2"));
    assert!(e.contains("unknown field `max_depth`"), "{e}");
    // The example sets the defaults, so removing the section changes nothing, digest included.
    let p = example();
    assert_eq!(p.grants.recertify_every_days, 90);
    let without = EXAMPLE_PROFILE.replace(
        "[grants]\nrecertify_every_days = 90\nmax_delegation_depth = 2\n",
        "",
    );
    assert_ne!(without, EXAMPLE_PROFILE);
    assert_eq!(
        Profile::from_toml("x", &without).unwrap().digest(),
        p.digest()
    );
    let changed = EXAMPLE_PROFILE.replace("recertify_every_days = 90", "recertify_every_days = 30");
    let c = Profile::from_toml("x", &changed).unwrap();
    assert_eq!(c.grants.recertify_every_days, 30);
    assert_ne!(c.digest(), p.digest());
}

#[test]
fn i7_evaluation_gates_load_per_tier_and_bad_ones_are_refused() {
    let p = example();
    let medium = p.tier("medium").unwrap();
    let metrics: Vec<&str> = medium
        .eval_gates
        .iter()
        .map(|g| g.metric.as_str())
        .collect();
    assert_eq!(metrics, ["accuracy", "toxicity"]);
    assert!(p.tier("low").unwrap().eval_gates.is_empty());
    let critical = p.tier("critical").unwrap();
    assert!(critical
        .eval_gates
        .iter()
        .any(|g| g.metric == "jailbreak_resistance"));

    let e = refused(&EXAMPLE_PROFILE.replacen(
        "{ metric = \"accuracy\", min = 0.9 },",
        "{ metric = \"accuracy\" },",
        1,
    ));
    assert_eq!(
        e,
        "bad.toml: tiers[1].eval_gates[0]: metric \"accuracy\" needs min, max or both"
    );
    let e = refused(&EXAMPLE_PROFILE.replacen(
        "{ metric = \"accuracy\", min = 0.9 },",
        "{ metric = \"accuracy\", min = 0.9, max = 0.5 },",
        1,
    ));
    assert_eq!(
        e,
        "bad.toml: tiers[1].eval_gates[0]: metric \"accuracy\" has min 0.9 above max 0.5"
    );
    let e = refused(&EXAMPLE_PROFILE.replacen(
        "{ metric = \"toxicity\", max = 0.01 },",
        "{ metric = \"accuracy\", max = 0.01 },",
        1,
    ));
    assert_eq!(
        e,
        "bad.toml: tiers[1].eval_gates[1].metric: duplicate metric \"accuracy\""
    );
    let e = refused(&EXAMPLE_PROFILE.replacen(
        "{ metric = \"toxicity\", max = 0.01 },",
        "{ metric = \"Toxicity!\", max = 0.01 },",
        1,
    ));
    assert!(
        e.starts_with("bad.toml: tiers[1].eval_gates[1].metric: must be"),
        "{e}"
    );
    let e = refused(&EXAMPLE_PROFILE.replacen(
        "{ metric = \"toxicity\", max = 0.01 },",
        "{ metric = \"toxicity\", maximum = 0.01 },",
        1,
    ));
    assert!(e.contains("unknown field `maximum`"), "{e}");
}
