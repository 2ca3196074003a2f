//! Everything the CLI prints to standard output goes through here.
#![allow(clippy::print_stdout)]

use serde_json::Value;

/// How client commands print results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Readable summaries.
    Text,
    /// The API's JSON, for scripts.
    Json,
}

/// Writes one line to standard output. A closed pipe (`countersign … | head`) ends
/// the process quietly instead of panicking.
pub fn line(s: impl AsRef<str>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{}", s.as_ref()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

pub fn json(v: &Value) {
    line(serde_json::to_string_pretty(v).unwrap_or_default());
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

/// Prints a response in the chosen format, with a text rendering per kind.
pub fn show(format: Format, kind: &str, v: &Value) {
    if format == Format::Json {
        return json(v);
    }
    match kind {
        "user" => line(format!(
            "{}  {}  <{}>  roles: {}",
            s(v, "id"),
            s(v, "name"),
            s(v, "email"),
            roles(v)
        )),
        "users" => each(v, |u| {
            line(format!(
                "{}  {:<20} {:<32} {}",
                s(u, "id"),
                s(u, "name"),
                s(u, "email"),
                roles(u)
            ))
        }),
        "token" => {
            line(format!(
                "token {} for user {} (shown once; store it now):",
                s(v, "id"),
                s(v, "user_id")
            ));
            line(s(v, "token"));
        }
        "system" => line(format!(
            "{}  {}  owner {}",
            s(v, "id"),
            s(v, "name"),
            s(v, "owner")
        )),
        "systems" => each(v, |x| {
            line(format!(
                "{}  {:<24} owner {}",
                s(x, "id"),
                s(x, "name"),
                s(x, "owner")
            ))
        }),
        "release+revision" => {
            let r = &v["release"];
            let rev = &v["revision"];
            line(format!("release {}  \"{}\"", s(r, "id"), s(r, "title")));
            line(format!("  status     {}", s(r, "status")));
            line(format!(
                "  revision   {}  tier {}  (rules: {})",
                s(rev, "number"),
                s(rev, "tier"),
                list(&rev["matched_rules"])
            ));
            line(format!("  bundle     {}", s(rev, "bundle_digest")));
            line(format!("  profile    {}", s(rev, "profile_digest")));
        }
        "release" => line(format!(
            "release {}  status {}  revision {}",
            s(v, "id"),
            s(v, "status"),
            s(v, "current_revision")
        )),
        "releases" => each(v, |r| {
            line(format!(
                "{}  {:<12} rev {:<3} {:<8} {}",
                s(r, "id"),
                s(r, "status"),
                s(r, "current_revision"),
                s(r, "kind"),
                s(r, "title")
            ))
        }),
        "release-detail" => {
            let r = &v["release"];
            line(format!(
                "release {}  \"{}\"  ({})",
                s(r, "id"),
                s(r, "title"),
                s(r, "kind")
            ));
            line(format!(
                "  status {}  revision {}  environment {}",
                s(r, "status"),
                s(r, "current_revision"),
                s(r, "environment")
            ));
            line(format!(
                "  system {}  decision owner {}",
                s(r, "system"),
                s(r, "decision_owner")
            ));
            each(&v["revisions"], |x| {
                line(format!(
                    "  revision {}  tier {}  bundle {}",
                    s(x, "number"),
                    s(x, "tier"),
                    s(x, "bundle_digest")
                ))
            });
            each(&v["reviews"], |x| {
                line(format!(
                    "  review  rev {}  {:<16} {:<24} by {}",
                    s(x, "revision"),
                    s(x, "role"),
                    s(x, "verdict"),
                    s(x, "reviewer")
                ))
            });
            each(&v["evidence"], |x| {
                line(format!(
                    "  evidence rev {}  {:<18} {}  {}",
                    s(x, "revision"),
                    s(x, "kind"),
                    s(x, "name"),
                    s(x, "digest")
                ))
            });
            each(&v["acceptances"], |x| {
                line(format!(
                    "  accepted rev {}  {}  until {}",
                    s(x, "revision"),
                    s(x, "gap"),
                    s(x, "expires_at")
                ))
            });
            each(&v["decisions"], |x| {
                line(format!(
                    "  decision rev {}  {}  for {} by {}",
                    s(x, "revision"),
                    s(x, "decision"),
                    s(x, "environment"),
                    s(x, "decided_by")
                ))
            });
            each(&v["deployments"], |x| {
                line(format!(
                    "  {} rev {}  {}  by {}",
                    s(x, "action"),
                    s(x, "revision"),
                    s(x, "environment"),
                    s(x, "actor")
                ))
            });
        }
        "gate" => {
            line(format!(
                "release {} revision {} ({})  tier {}  {}",
                s(v, "release"),
                s(v, "revision"),
                s(v, "status"),
                s(v, "tier"),
                if v["clear"] == Value::Bool(true) {
                    "CLEAR: the owner may decide go"
                } else {
                    "NOT CLEAR"
                }
            ));
            line("  reviews:");
            each(&v["reviews"], |x| {
                line(format!(
                    "    {:<16} {:<24} {} due {}{}",
                    s(x, "role"),
                    s(x, "state"),
                    s(x, "reviewer"),
                    s(x, "due_at"),
                    if x["overdue"] == Value::Bool(true) {
                        "  OVERDUE"
                    } else {
                        ""
                    }
                ))
            });
            if v["escalated"] == Value::Bool(true) {
                line("  ESCALATED to the decision owner: accept each missing_review gap or block");
            }
            each(&v["escalations"], |e| {
                line(format!(
                    "    escalation {:<12} {:<9} due {}  escalated {}  to {}",
                    s(e, "role"),
                    s(e, "state"),
                    s(e, "due_at"),
                    s(e, "escalated_at"),
                    s(e, "escalated_to")
                ))
            });
            let excluded = v["excluded_reviewers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !excluded.is_empty() {
                line("  may not review (segregation of duties, I4):");
                for x in &excluded {
                    let why: Vec<String> = x["reasons"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .map(|r| s(r, "code"))
                        .collect();
                    line(format!("    {:<24} {}", s(x, "user"), why.join(", ")));
                }
            }
            let gaps = v["gaps"].as_array().cloned().unwrap_or_default();
            if gaps.is_empty() {
                line("  no gaps");
            } else {
                line("  gaps:");
                for g in &gaps {
                    let mark = if g["accepted"] == Value::Bool(true) {
                        "accepted"
                    } else if g["acceptable"] == Value::Bool(false) {
                        "BLOCKING"
                    } else {
                        "unmet"
                    };
                    line(format!(
                        "    {:<9} {:<36} {}",
                        mark,
                        s(g, "gap"),
                        s(g, "detail")
                    ));
                }
            }
        }
        "review" => line(format!(
            "review {} recorded: {} as {} on revision {}",
            s(v, "id"),
            s(v, "verdict"),
            s(v, "role"),
            s(v, "revision")
        )),
        "evidence" => line(format!(
            "evidence {} attached: {} {} ({} bytes) {}",
            s(v, "id"),
            s(v, "kind"),
            s(v, "name"),
            s(v, "size"),
            s(v, "digest")
        )),
        "acceptance" => line(format!(
            "risk accepted: {} on revision {} until {}",
            s(v, "gap"),
            s(v, "revision"),
            s(v, "expires_at")
        )),
        "decision" => line(format!(
            "decision {} recorded: {} for {} on revision {}",
            s(v, "id"),
            s(v, "decision"),
            s(v, "environment"),
            s(v, "revision")
        )),
        "deployment" => line(format!(
            "{} recorded: revision {} in {}",
            s(v, "action"),
            s(v, "revision"),
            s(v, "environment")
        )),
        "check" => {
            let verdict = if v["allowed"] == Value::Bool(true) {
                "ALLOWED"
            } else {
                "NOT ALLOWED"
            };
            line(format!(
                "{verdict}: {} in {}",
                s(v, "artifact"),
                s(v, "environment")
            ));
            each(&v["reasons"], |r| {
                line(format!("  - {}", r.as_str().unwrap_or_default()))
            });
        }
        "ledger" => each(v, |e| {
            line(format!(
                "{:>6}  {}  {:<18} {:<30} by {}",
                s(e, "seq"),
                s(e, "at"),
                s(e, "action"),
                s(e, "subject"),
                s(e, "actor")
            ))
        }),
        "dataset" | "datasets" => each_or_one(v, |d| {
            line(format!(
                "{:<32} {:<10} {:<12} uses: {}  {}",
                s(d, "key"),
                s(d, "classification"),
                if d["approved"] == true {
                    "approved"
                } else {
                    "unapproved"
                },
                list(&d["permitted_uses"]),
                s(d, "digest")
            ))
        }),
        "run" | "runs" => each_or_one(v, |r| {
            line(format!(
                "{:<28} commit {:<10} trainer {}  datasets: {}  artifact {}",
                s(r, "id"),
                s(r, "code_commit"),
                s(r, "trainer"),
                list(&r["datasets"]),
                s(r, "artifact_digest")
            ))
        }),
        "webhook" | "webhooks" => each_or_one(v, |w| {
            line(format!(
                "{}  {}  events: {}",
                s(w, "id"),
                s(w, "url"),
                list(&w["events"])
            ));
            if w["secret"].is_string() {
                line(format!(
                    "  signing secret (shown once; store it now): {}",
                    s(w, "secret")
                ));
            }
        }),
        "evaluation" => {
            line(format!(
                "release {} revision {}  tier {}  report {} ({})",
                s(v, "release"),
                s(v, "revision"),
                s(v, "tier"),
                s(v, "evidence_name"),
                s(v, "format")
            ));
            if v["error"].is_string() {
                line(format!("  unreadable: {}", s(v, "error")));
            }
            each(&v["checks"], |c| {
                let values: Vec<String> = c["values"]
                    .as_array()
                    .map(|a| a.iter().map(|x| x["value"].to_string()).collect())
                    .unwrap_or_default();
                line(format!(
                    "  {:<8} {:<24} min {} max {}  values [{}]  ({})",
                    s(c, "result"),
                    s(c, "metric"),
                    s(c, "min"),
                    s(c, "max"),
                    values.join(", "),
                    s(c, "source")
                ))
            });
        }
        "deliveries" => {
            each(&v["deliveries"], |d| {
                line(format!(
                    "{}  {:<9} attempts {}  next {}",
                    s(d, "event_id"),
                    s(d, "state"),
                    s(d, "attempts"),
                    s(d, "next_attempt_at")
                ))
            });
            each(&v["attempts"], |a| {
                line(format!(
                    "  {}  {} #{}  {:<9} HTTP {}  {}",
                    s(a, "at"),
                    s(a, "event_id"),
                    s(a, "attempt"),
                    s(a, "outcome"),
                    s(a, "status_code"),
                    s(a, "error")
                ))
            });
        }
        "profile" => line(format!(
            "profile {} version {}  digest {}",
            s(v, "name"),
            s(v, "version"),
            s(v, "digest")
        )),
        "agent" => line(format!(
            "agent {}  {}  owner {}  {} / {}  release {}  {}",
            s(v, "id"),
            s(v, "name"),
            s(v, "owner"),
            s(v, "use_case"),
            s(v, "environment"),
            s(v, "release"),
            s(v, "status")
        )),
        "agents" => each(v, |a| {
            line(format!(
                "{}  {:<10} {:<20} owner {}  {}  release {}",
                s(a, "id"),
                s(a, "status"),
                s(a, "name"),
                s(a, "owner"),
                s(a, "environment"),
                s(a, "release")
            ))
        }),
        "grant" => grant_line(v),
        "grants" => each(v, grant_line),
        "action-decision" => action_decision(v),
        "approval" => approval(v),
        "approvals" => {
            each(v, approval_line);
            if v.as_array().is_some_and(Vec::is_empty) {
                line("no approval requests");
            }
        }
        "action" => action(v),
        "actions" => {
            each(v, action_line);
            if v.as_array().is_some_and(Vec::is_empty) {
                line("no actions");
            }
        }
        "signals" => {
            each(v, signals_line);
            if v.as_array().is_some_and(Vec::is_empty) {
                line("no decisions yet");
            }
        }
        "policy-set" => policy_set(v),
        _ => json(v),
    }
}

/// `system:action:resource`, as scopes are written.
fn target(v: &Value) -> String {
    format!("{} {}:{}", s(v, "action"), s(v, "system"), s(v, "resource"))
}

fn reasons(v: &Value) {
    each(&v["reasons"], |r| {
        line(format!("  - {}", r.as_str().unwrap_or_default()))
    });
}

fn action_decision(v: &Value) {
    line(format!(
        "{}  action {}  policies: {}",
        s(v, "decision").to_uppercase(),
        s(v, "id"),
        list(&v["policies"])
    ));
    reasons(v);
    let a = &v["approval"];
    if a.is_object() {
        line(format!(
            "  approval {} assigned to {}{}, expires {}",
            s(a, "id"),
            s(a, "assignee"),
            a["approver_role"]
                .as_str()
                .map(|r| format!(" (role {r})"))
                .unwrap_or_default(),
            s(a, "expires_at")
        ));
        line(format!(
            "  once approved, ask again with --approval {} (wait: countersign approval wait {})",
            s(a, "id"),
            s(a, "id")
        ));
    }
}

fn approval_line(a: &Value) {
    line(format!(
        "{}  {:<8} {}  task {}  agent {}  assignee {}  expires {}",
        s(a, "id"),
        s(a, "state"),
        target(a),
        s(a, "task"),
        s(a, "agent"),
        s(a, "assignee"),
        s(a, "expires_at")
    ))
}

fn approval(a: &Value) {
    line(format!(
        "approval {}  {}  action {}",
        s(a, "id"),
        s(a, "state").to_uppercase(),
        s(a, "action_id")
    ));
    line(format!(
        "  {}  task {}  agent {}",
        target(a),
        s(a, "task"),
        s(a, "agent")
    ));
    line(format!(
        "  assigned to {}{}  created {}  expires {}",
        s(a, "assignee"),
        a["approver_role"]
            .as_str()
            .map(|r| format!(" (role {r})"))
            .unwrap_or_default(),
        s(a, "created_at"),
        s(a, "expires_at")
    ));
    reasons(a);
    line(format!("  arguments   {}", a["arguments"]));
    let c = &a["context"];
    for (label, key) in [
        ("ai input", "ai_input"),
        ("ai input digest", "ai_input_digest"),
        ("ai output", "ai_output"),
        ("impact", "impact"),
    ] {
        if c[key].as_str().is_some_and(|x| !x.is_empty()) {
            line(format!("  {label:<11} {}", s(c, key)));
        }
    }
    if c["data_used"].as_array().is_some_and(|d| !d.is_empty()) {
        line(format!("  data used   {}", list(&c["data_used"])));
    }
    line(format!(
        "  risk {}  confidence {}  data classes {}",
        s(c, "risk_score"),
        s(c, "confidence"),
        list(&c["data_classes"])
    ));
    answer_line(a);
    if a["used_by"].is_string() {
        line(format!("    used by action {}", s(a, "used_by")));
    }
}

/// The human's answer to an approval request: approved or denied, by whom, why.
fn answer_line(a: &Value) {
    if a["decided_by"].is_string() {
        line(format!(
            "    {} by {} at {}: {}",
            if a["state"] == "denied" {
                "denied"
            } else {
                "approved"
            },
            s(a, "decided_by"),
            s(a, "decided_at"),
            s(a, "comment")
        ));
    }
}

/// The delegation chain, root agent first: `ag_a > ag_b`.
fn chain(a: &Value) -> String {
    let agents: Vec<String> = a["delegation"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if agents.is_empty() {
        s(a, "agent")
    } else {
        agents.join(" > ")
    }
}

fn action_line(a: &Value) {
    line(format!(
        "{}  {:<8} {}  task {}  agent {}  approval {}  outcome {}  review {}",
        s(a, "id"),
        s(a, "decision"),
        target(a),
        s(a, "task"),
        chain(a),
        s(a, "approval_id"),
        a["outcome"]["status"].as_str().unwrap_or("-"),
        s(a, "review_state")
    ))
}

fn action(a: &Value) {
    line(format!(
        "action {}  {}  {}",
        s(a, "id"),
        s(a, "decision").to_uppercase(),
        target(a)
    ));
    line(format!(
        "  task {}  agent {} (owner {})  credential {}",
        s(a, "task"),
        s(a, "agent"),
        s(a, "owner"),
        s(a, "credential")
    ));
    line(format!("  delegation {}", chain(a)));
    line(format!(
        "  decided {}  risk {}  policies: {}",
        s(a, "decided_at"),
        s(a, "risk_score"),
        list(&a["policies"])
    ));
    reasons(a);
    let ap = &a["approval"];
    if ap.is_object() {
        line(format!(
            "  approval {}  {}  assigned to {}",
            s(ap, "id"),
            s(ap, "state"),
            s(ap, "assignee")
        ));
        answer_line(ap);
        if ap["used_by"].is_string() {
            line(format!("    used by action {}", s(ap, "used_by")));
        }
    } else if a["approval_id"].is_string() {
        line(format!("  approval {}", s(a, "approval_id")));
    }
    let o = &a["outcome"];
    if o.is_object() {
        line(format!(
            "  outcome {} at {}{}",
            s(o, "status"),
            s(o, "at"),
            if o["detail"].is_null() {
                String::new()
            } else {
                format!("  {}", o["detail"])
            }
        ));
    }
    let r = &a["review"];
    if r.is_object() {
        line(format!(
            "  reviewed {} by {} at {}{}",
            s(r, "verdict"),
            s(r, "by"),
            s(r, "at"),
            r["comment"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        ));
    } else if a["review_state"] == "pending" {
        line("  waiting for the system owner's post-action review");
    }
}

fn signals_line(x: &Value) {
    let secs = |k: &str| {
        x[k].as_i64()
            .map_or_else(|| "-".into(), |n| format!("{n}s"))
    };
    line(format!(
        "{}  {:<14} decisions {:<4} approved {:>3}%  median {} from assignment, {} from opening  decided unopened {}{}",
        s(x, "user"),
        s(x, "kind"),
        s(x, "decisions"),
        s(x, "approval_pct"),
        secs("median_seconds_from_assignment"),
        secs("median_seconds_from_open"),
        s(x, "decided_without_opening"),
        if x["flagged"] == true { "  FLAGGED" } else { "" }
    ));
    each(&x["flags"], |f| {
        line(format!("  - {}", f.as_str().unwrap_or_default()))
    });
}

fn policy_set(v: &Value) {
    let policies = v["policies"].as_array().map_or(0, Vec::len);
    let from = v["dir"].as_str().unwrap_or("the built-in example set");
    if v["valid"] == true {
        line(format!(
            "{from}: a valid policy set of {policies} policies, digest {}",
            s(v, "digest")
        ));
    } else {
        line(format!(
            "policy set {}  from {from}  loaded {}  ({policies} policies)",
            s(v, "digest"),
            s(v, "loaded_at")
        ));
    }
    each(&v["policies"], |p| {
        line(format!(
            "  {:<36} {:<7} {:<8} {:<18} {}",
            s(p, "id"),
            s(p, "effect"),
            s(p, "decision"),
            p["approver"]
                .as_str()
                .map(|r| format!("approver {r}"))
                .unwrap_or_default(),
            s(p, "file")
        ))
    });
}

fn grant_line(g: &Value) {
    line(format!(
        "{}  {:<8} agent {}  {} {} on {}  expires {}  recertify by {}{}",
        s(g, "id"),
        s(g, "state"),
        s(g, "agent"),
        list(&g["actions"]),
        list(&g["resources"]),
        s(g, "system"),
        s(g, "expires_at"),
        s(g, "recertify_by"),
        match g["missing_approvals"].as_array() {
            Some(m) if !m.is_empty() => format!("  waiting for {}", list(&g["missing_approvals"])),
            _ => String::new(),
        }
    ))
}

fn each(v: &Value, mut f: impl FnMut(&Value)) {
    if let Some(items) = v.as_array() {
        for i in items {
            f(i);
        }
    }
}

fn each_or_one(v: &Value, f: impl FnMut(&Value)) {
    if v.is_array() {
        each(v, f)
    } else {
        let mut f = f;
        f(v)
    }
}

fn list(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "none".into())
}

fn roles(v: &Value) -> String {
    list(&v["roles"])
}
