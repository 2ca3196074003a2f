//! `PolicySet::decide` and `PolicySet::decide_prepared` beside their peers on
//! the same policies and requests: bare Cedar, regorus (the Rust Rego engine,
//! its RVM) and the Open Policy Agent Go engine, for a production write (a
//! step-up) and a low-risk read (an allow).
//!
//! * `bare_cedar*`: `Authorizer::is_authorized` with the request and
//!   entities prebuilt (with the schema, so the store holds every action
//!   entity), over the whole policy set.
//! * `policy_decide*`: `decide` from a `Request`, building everything.
//! * `policy_decide_prepared*`: `decide_prepared` with the subject (agent on
//!   system) prepared once, as the server caches it per credential.
//! * `regorus_rvm*`: `bench/opa/runtime.rego` (the Rego translation of
//!   `policies/runtime.cedar`) compiled to an RVM program once; per call
//!   `set_input` + `execute`, with the input prebuilt as a `regorus::Value`
//!   (`regorus_rvm`) or parsed from JSON (`regorus_rvm_json`).
//! * OPA: `bench/opa/run.sh`, run from here, times the Go engine on the same
//!   Rego and the same JSON inputs (`bench/opa/inputs.json`); set
//!   `COUNTERSIGN_BENCH_OPA=0` to skip it.
//!
//! Before timing, every engine is checked to give the bench cases' answers,
//! and Cedar (`decide`) and regorus to agree on a grid of 384 more requests.
//! After criterion's report, a table prints each figure beside its peers,
//! measured again in this run with the engines interleaved batch by batch
//! (so a busy machine slows them alike), with the ratios.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use cedar_policy as cedar;
use countersign_policy::{Decision, Outcome, PolicySet, PolicySource, Request};
use criterion::{black_box, Criterion};
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::vm::RegoVM;
use std::str::FromStr;
use std::time::Instant;

const SCHEMA: &str = include_str!("../../../policies/runtime.cedarschema");
const POLICIES: &str = include_str!("../../../policies/runtime.cedar");
const REGO: &str = include_str!("../../../bench/opa/runtime.rego");
const OPA_INPUTS: &str = include_str!("../../../bench/opa/inputs.json");
const REGO_ENTRY: &str = "data.countersign.runtime.decision";

/// One benchmarked request and the answer every engine must give.
struct Case {
    /// `write` or `read`; the suffix of the bench names and the OPA case.
    name: &'static str,
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
            name: "write",
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
            name: "read",
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

/// Criterion's names, kept from before the prepared path (the write case
/// has no suffix).
fn bench_name(base: &str, case: &Case) -> String {
    match case.name {
        "write" => base.to_owned(),
        other => format!("{base}_{other}"),
    }
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

/// The Rego input for a request (the layout `runtime.rego` documents).
fn rego_input(r: &Request<'_>) -> serde_json::Value {
    serde_json::json!({
        "action": r.action,
        "principal": {"id": r.agent, "owner": r.agent_owner,
                      "environment": r.environment, "use_case": r.use_case},
        "resource": {"system": r.system, "system_owner": r.system_owner, "path": r.resource},
        "context": {"task": r.task, "risk_score": r.risk_score,
                    "confidence_pct": r.confidence_pct, "data_classes": r.data_classes,
                    "mutates": r.mutates, "hour_utc": r.hour_utc,
                    "within_window": r.within_window, "impact": r.impact,
                    "environment": r.environment},
    })
}

/// A decision as the Rego policy writes it.
fn rego_answer(d: &Decision) -> serde_json::Value {
    let outcome = match d.outcome {
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
        Outcome::StepUp => "step_up",
    };
    serde_json::json!({"outcome": outcome, "determining": d.determining, "approver": d.approver_role})
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

/// The Rego policy compiled to an RVM program, loaded in a VM.
fn rego_vm() -> RegoVM {
    let mut engine = regorus::Engine::new();
    engine
        .add_policy("runtime.rego".to_owned(), REGO.to_owned())
        .unwrap();
    let entry: regorus::Rc<str> = REGO_ENTRY.into();
    let compiled = engine.compile_with_entrypoint(&entry).unwrap();
    let program = Compiler::compile_from_policy(&compiled, &[REGO_ENTRY]).unwrap();
    let mut vm = RegoVM::new();
    vm.load_program(program);
    vm
}

fn rego_eval(vm: &mut RegoVM, input: &serde_json::Value) -> serde_json::Value {
    vm.set_input(regorus::Value::from_json_str(&input.to_string()).unwrap());
    let out = vm.execute().unwrap();
    serde_json::from_str(&out.to_json_str().unwrap()).unwrap()
}

/// Cedar (`decide`) and regorus agree on every request of a grid: all the
/// schema's actions, both environments, three risks, in and out of the
/// window, with and without restricted data at low confidence.
fn check_engines_agree(set: &PolicySet, vm: &mut RegoVM) -> usize {
    const ACTIONS: [&str; 16] = [
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
    let restricted = vec!["restricted".to_owned(), "pii".to_owned()];
    let none: Vec<String> = vec![];
    let cases = cases();
    let base = request(&cases[1]);
    let mut checked = 0;
    for action in ACTIONS {
        for environment in ["production", "staging"] {
            for risk_score in [10, 40, 60] {
                for within_window in [true, false] {
                    for (data_classes, confidence_pct) in [(&none, 90), (&restricted, 40)] {
                        let req = Request {
                            action,
                            environment,
                            risk_score,
                            within_window,
                            data_classes,
                            confidence_pct,
                            ..base
                        };
                        let cedar = rego_answer(&set.decide(&req));
                        let rego = rego_eval(vm, &rego_input(&req));
                        assert_eq!(cedar, rego, "{req:?}");
                        checked += 1;
                    }
                }
            }
        }
    }
    checked
}

/// The median time of one call of each of `fs`, in nanoseconds: 31 rounds,
/// each timing one batch of every function in turn, so that all of them see
/// the same load on a shared machine; a batch lasts about 2 ms.
fn measure_together(fs: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let sizes: Vec<u32> = fs
        .iter_mut()
        .map(|f| {
            let start = Instant::now();
            let mut n = 0u32;
            while start.elapsed().as_millis() < 20 {
                f();
                n += 1;
            }
            (n / 10).max(10)
        })
        .collect();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); fs.len()];
    for _ in 0..31 {
        for ((f, size), out) in fs.iter_mut().zip(&sizes).zip(&mut samples) {
            let t = Instant::now();
            for _ in 0..*size {
                f();
            }
            out.push(t.elapsed().as_nanos() as f64 / f64::from(*size));
        }
    }
    samples
        .into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect()
}

/// The OPA Go engine's ns/op per case from `bench/opa/run.sh`, or why not.
fn opa() -> Result<Vec<(String, f64, f64)>, String> {
    if std::env::var("COUNTERSIGN_BENCH_OPA").as_deref() == Ok("0") {
        return Err("skipped (COUNTERSIGN_BENCH_OPA=0)".to_owned());
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/opa/run.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .output()
        .map_err(|e| format!("bench/opa/run.sh did not start: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(format!(
            "bench/opa/run.sh failed: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        ));
    }
    let mut results = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(rest) = line.strip_prefix("OPA_RESULT ") else {
            continue;
        };
        let field = |key: &str| {
            rest.split(' ')
                .find_map(|kv| kv.strip_prefix(key))
                .map(str::to_owned)
        };
        let (Some(case), Some(gross), Some(net)) =
            (field("case="), field("gross_ns="), field("net_ns="))
        else {
            continue;
        };
        results.push((
            case,
            gross.parse().unwrap_or(f64::NAN),
            net.parse().unwrap_or(f64::NAN),
        ));
    }
    Ok(results)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs each bench once with `--test`, and
    // `--profile-time` is for a profiler: check, then time nothing beyond
    // criterion and do not start OPA.
    let quick = args
        .iter()
        .any(|a| a == "--test" || a == "--list" || a == "--profile-time");
    let mut c = Criterion::default().configure_from_args();

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
    let mut vm = rego_vm();
    let agreed = check_engines_agree(&set, &mut vm);

    let cases = cases();
    let opa_inputs: Vec<serde_json::Value> = cases
        .iter()
        .map(|case| {
            let req = request(case);
            serde_json::json!({"name": case.name, "input": rego_input(&req),
                               "expected": rego_answer(&set.decide(&req))})
        })
        .collect();
    assert_eq!(
        serde_json::Value::Array(opa_inputs),
        serde_json::from_str::<serde_json::Value>(OPA_INPUTS).unwrap(),
        "bench/opa/inputs.json is not this bench's cases"
    );

    let mut rows = Vec::new();
    for case in &cases {
        let (req, entities) = bare_inputs(&schema, case);
        let response = authorizer.is_authorized(&req, &policies, &entities);
        assert_eq!(response.decision(), cedar::Decision::Allow);
        let reasons: Vec<&str> = response.diagnostics().reason().map(AsRef::as_ref).collect();
        assert_eq!(reasons, vec![case.determining]);
        assert_eq!(response.diagnostics().errors().count(), 0);

        let request = request(case);
        let decision = set.decide(&request);
        assert_eq!(decision.outcome, case.outcome);
        assert_eq!(decision.determining, vec![case.determining]);
        assert!(decision.errors.is_empty());
        let prepared = set.prepare(&request.subject());
        let call = request.call();
        assert_eq!(set.decide_prepared(&prepared, &call), decision);

        let json = rego_input(&request).to_string();
        let input = regorus::Value::from_json_str(&json).unwrap();
        assert_eq!(
            rego_eval(&mut vm, &rego_input(&request)),
            rego_answer(&decision)
        );

        c.bench_function(&bench_name("bare_cedar", case), |b| {
            b.iter(|| authorizer.is_authorized(black_box(&req), &policies, &entities))
        });
        c.bench_function(&bench_name("policy_decide", case), |b| {
            b.iter(|| set.decide(black_box(&request)))
        });
        c.bench_function(&bench_name("policy_decide_prepared", case), |b| {
            b.iter(|| set.decide_prepared(&prepared, black_box(&call)))
        });
        c.bench_function(&bench_name("regorus_rvm", case), |b| {
            b.iter(|| {
                vm.set_input(black_box(&input).clone());
                vm.execute().unwrap()
            })
        });
        c.bench_function(&bench_name("regorus_rvm_json", case), |b| {
            b.iter(|| {
                vm.set_input(regorus::Value::from_json_str(black_box(&json)).unwrap());
                vm.execute().unwrap()
            })
        });

        if !quick {
            let mut json_vm = rego_vm();
            let times = measure_together(&mut [
                &mut || {
                    black_box(set.decide_prepared(&prepared, black_box(&call)));
                },
                &mut || {
                    black_box(set.decide(black_box(&request)));
                },
                &mut || {
                    black_box(authorizer.is_authorized(black_box(&req), &policies, &entities));
                },
                &mut || {
                    vm.set_input(black_box(&input).clone());
                    black_box(vm.execute().unwrap());
                },
                &mut || {
                    json_vm.set_input(regorus::Value::from_json_str(black_box(&json)).unwrap());
                    black_box(json_vm.execute().unwrap());
                },
            ]);
            rows.push((
                case.name,
                [times[0], times[1], times[2], times[3], times[4]],
            ));
        }
    }
    c.final_summary();
    if quick {
        return;
    }

    let opa = opa();
    println!();
    println!("decide beside its peers, measured again in this run, interleaved (median of 31 rounds, µs per decision)");
    println!("Cedar and regorus agreed on the bench cases and {agreed} more requests; OPA checked the bench cases");
    println!(
        "{:<6} {:>9} {:>9} {:>11} {:>11} {:>11} {:>13}",
        "case", "prepared", "decide", "bare Cedar", "regorus", "regorus", "OPA Go"
    );
    println!(
        "{:<6} {:>9} {:>9} {:>11} {:>11} {:>11} {:>13}",
        "", "", "", "prebuilt", "prebuilt", "JSON in", "JSON in (net)"
    );
    for (name, [prepared, decide, bare, rvm, rvm_json]) in &rows {
        let opa_net = opa
            .as_ref()
            .ok()
            .and_then(|r| r.iter().find(|(case, _, _)| case == name))
            .map(|(_, _, net)| *net);
        let us = |ns: f64| format!("{:.2}", ns / 1000.0);
        println!(
            "{:<6} {:>9} {:>9} {:>11} {:>11} {:>11} {:>13}",
            name,
            us(*prepared),
            us(*decide),
            us(*bare),
            us(*rvm),
            us(*rvm_json),
            opa_net.map_or("-".to_owned(), us)
        );
        let mut ratios = format!(
            "{name}: prepared decide = {:.2}x bare Cedar (aim <= 1.1x), {:.2}x regorus RVM prebuilt (aim < 1x), {:.2}x regorus RVM JSON; decide = {:.2}x bare Cedar",
            prepared / bare,
            prepared / rvm,
            prepared / rvm_json,
            decide / bare,
        );
        match opa_net {
            Some(net) => ratios.push_str(&format!(
                "; OPA Go engine = {:.1}x slower than prepared decide (aim >= 10x)",
                net / prepared
            )),
            None => ratios.push_str("; OPA not measured"),
        }
        println!("{ratios}");
    }
    match &opa {
        Ok(results) => {
            for (case, gross, net) in results {
                println!(
                    "OPA {case}: {:.2} µs per call through ctypes, {:.2} µs net of the call floor (bench/opa/run.sh)",
                    gross / 1000.0,
                    net / 1000.0
                );
            }
        }
        Err(why) => println!("OPA Go engine: not measured: {why}"),
    }
}
