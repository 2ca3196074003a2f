//! Everything the CLI prints to standard output goes through here. A response prints
//! as the server's JSON exactly as received (`--output json`), or is read into its
//! `countersign_api` view and rendered as text; a response that does not read as the
//! view it should be is reported on standard error and printed as JSON.
#![allow(clippy::print_stdout)]

use chrono::{DateTime, SecondsFormat, Utc};
use countersign_api::{
    AcceptanceView, ActionDecisionView, ActionView, AgentView, ApprovalView, CheckView,
    DatasetView, DecisionView, DeliveryLogView, DeploymentView, EvaluationView, EvidenceView,
    GateView, GrantView, LedgerEntryView, PolicySetView, PolicyView, ProfileView,
    ReleaseDetailView, ReleaseView, ReleaseWithRevisionView, ReviewView, RunView, SignalsView,
    SystemView, TokenView, UserView, WebhookView,
};
use countersign_core::Digest;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Display;

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

/// A response view with a text rendering.
pub trait Text: DeserializeOwned {
    /// What the response holds, for the error when it does not read as one.
    const WHAT: &'static str;
    /// Prints the view for a person.
    fn text(&self);
}

/// Prints a response in the chosen format: the JSON as received, or its view `T` as text.
pub fn show<T: Text>(format: Format, v: &Value) {
    if format == Format::Json {
        return json(v);
    }
    match T::deserialize(v) {
        Ok(view) => view.text(),
        Err(e) => {
            eprintln!(
                "error: the server's response does not read as {}: {e}; printing it as JSON",
                T::WHAT
            );
            json(v);
        }
    }
}

/// A time as the API writes it: RFC 3339 in UTC with `Z`.
fn at(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn dash() -> String {
    "-".into()
}

/// An optional value, `-` when absent.
fn or_dash<T: Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(dash, ToString::to_string)
}

fn opt_at(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map_or_else(dash, at)
}

/// A number as JSON writes it (`1.0`, not `1`).
fn num(x: f64) -> String {
    Value::from(x).to_string()
}

/// Names joined with commas, `none` when there are none.
fn list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let joined = items
        .into_iter()
        .map(|s| s.as_ref().to_owned())
        .collect::<Vec<_>>()
        .join(", ");
    if joined.is_empty() {
        "none".into()
    } else {
        joined
    }
}

fn reasons(reasons: &[String]) {
    for r in reasons {
        line(format!("  - {r}"));
    }
}

impl Text for UserView {
    const WHAT: &'static str = "a user";
    fn text(&self) {
        line(format!(
            "{}  {}  <{}>  roles: {}",
            self.id,
            self.name,
            self.email,
            list(&self.roles)
        ))
    }
}

impl Text for Vec<UserView> {
    const WHAT: &'static str = "a list of users";
    fn text(&self) {
        for u in self {
            line(format!(
                "{}  {:<20} {:<32} {}",
                u.id,
                u.name,
                u.email,
                list(&u.roles)
            ))
        }
    }
}

impl Text for TokenView {
    const WHAT: &'static str = "an API token";
    fn text(&self) {
        line(format!(
            "token {} for user {} (shown once; store it now):",
            self.id, self.user_id
        ));
        line(&self.token);
    }
}

impl Text for SystemView {
    const WHAT: &'static str = "a system";
    fn text(&self) {
        line(format!("{}  {}  owner {}", self.id, self.name, self.owner))
    }
}

impl Text for Vec<SystemView> {
    const WHAT: &'static str = "a list of systems";
    fn text(&self) {
        for x in self {
            line(format!("{}  {:<24} owner {}", x.id, x.name, x.owner))
        }
    }
}

impl Text for ReleaseWithRevisionView {
    const WHAT: &'static str = "a release and its revision";
    fn text(&self) {
        let (r, rev) = (&self.release, &self.revision);
        line(format!("release {}  \"{}\"", r.id, r.title));
        line(format!("  status     {}", r.status));
        line(format!(
            "  revision   {}  tier {}  (rules: {})",
            rev.number,
            rev.tier,
            list(&rev.matched_rules)
        ));
        line(format!("  bundle     {}", rev.bundle_digest));
        line(format!("  profile    {}", rev.profile_digest));
    }
}

impl Text for ReleaseView {
    const WHAT: &'static str = "a release";
    fn text(&self) {
        line(format!(
            "release {}  status {}  revision {}",
            self.id, self.status, self.current_revision
        ))
    }
}

impl Text for Vec<ReleaseView> {
    const WHAT: &'static str = "a list of releases";
    fn text(&self) {
        for r in self {
            line(format!(
                "{}  {:<12} rev {:<3} {:<8} {}",
                r.id, r.status, r.current_revision, r.kind, r.title
            ))
        }
    }
}

impl Text for ReleaseDetailView {
    const WHAT: &'static str = "a release with its history";
    fn text(&self) {
        let r = &self.release;
        line(format!("release {}  \"{}\"  ({})", r.id, r.title, r.kind));
        line(format!(
            "  status {}  revision {}  environment {}",
            r.status,
            r.current_revision,
            or_dash(&r.environment)
        ));
        line(format!(
            "  system {}  decision owner {}",
            r.system, r.decision_owner
        ));
        for x in &self.revisions {
            line(format!(
                "  revision {}  tier {}  bundle {}",
                x.number, x.tier, x.bundle_digest
            ))
        }
        for x in &self.reviews {
            line(format!(
                "  review  rev {}  {:<16} {:<24} by {}",
                x.revision, x.role, x.verdict, x.reviewer
            ))
        }
        for x in &self.evidence {
            line(format!(
                "  evidence rev {}  {:<18} {}  {}",
                x.revision, x.kind, x.name, x.digest
            ))
        }
        for x in &self.acceptances {
            line(format!(
                "  accepted rev {}  {}  until {}",
                x.revision,
                x.gap,
                at(&x.expires_at)
            ))
        }
        for x in &self.decisions {
            line(format!(
                "  decision rev {}  {}  for {} by {}",
                x.revision, x.decision, x.environment, x.decided_by
            ))
        }
        for x in &self.deployments {
            line(format!(
                "  {} rev {}  {}  by {}",
                x.action, x.revision, x.environment, x.actor
            ))
        }
    }
}

impl Text for GateView {
    const WHAT: &'static str = "a gate status";
    fn text(&self) {
        line(format!(
            "release {} revision {} ({})  tier {}  {}",
            self.release,
            self.revision,
            self.status,
            self.tier,
            if self.clear {
                "CLEAR: the owner may decide go"
            } else {
                "NOT CLEAR"
            }
        ));
        line("  reviews:");
        for x in &self.reviews {
            line(format!(
                "    {:<16} {:<24} {} due {}{}",
                x.role,
                x.state,
                or_dash(&x.reviewer),
                opt_at(&x.due_at),
                if x.overdue { "  OVERDUE" } else { "" }
            ))
        }
        if self.escalated {
            line("  ESCALATED to the decision owner: accept each missing_review gap or block");
        }
        for e in &self.escalations {
            line(format!(
                "    escalation {:<12} {:<9} due {}  escalated {}  to {}",
                e.role,
                e.state,
                at(&e.due_at),
                at(&e.escalated_at),
                e.escalated_to
            ))
        }
        if !self.excluded_reviewers.is_empty() {
            line("  may not review (segregation of duties, I4):");
            for x in &self.excluded_reviewers {
                let why: Vec<&str> = x.reasons.iter().map(|r| r.code.as_str()).collect();
                line(format!("    {:<24} {}", x.user, why.join(", ")));
            }
        }
        if self.gaps.is_empty() {
            line("  no gaps");
        } else {
            line("  gaps:");
            for g in &self.gaps {
                let mark = if g.accepted {
                    "accepted"
                } else if !g.acceptable {
                    "BLOCKING"
                } else {
                    "unmet"
                };
                line(format!("    {:<9} {:<36} {}", mark, g.gap, g.detail));
            }
        }
    }
}

impl Text for ReviewView {
    const WHAT: &'static str = "a review";
    fn text(&self) {
        line(format!(
            "review {} recorded: {} as {} on revision {}",
            self.id, self.verdict, self.role, self.revision
        ))
    }
}

impl Text for EvidenceView {
    const WHAT: &'static str = "an evidence document";
    fn text(&self) {
        line(format!(
            "evidence {} attached: {} {} ({} bytes) {}",
            self.id, self.kind, self.name, self.size, self.digest
        ))
    }
}

impl Text for AcceptanceView {
    const WHAT: &'static str = "a risk acceptance";
    fn text(&self) {
        line(format!(
            "risk accepted: {} on revision {} until {}",
            self.gap,
            self.revision,
            at(&self.expires_at)
        ))
    }
}

impl Text for DecisionView {
    const WHAT: &'static str = "a decision";
    fn text(&self) {
        line(format!(
            "decision {} recorded: {} for {} on revision {}",
            self.id, self.decision, self.environment, self.revision
        ))
    }
}

impl Text for DeploymentView {
    const WHAT: &'static str = "a deployment";
    fn text(&self) {
        line(format!(
            "{} recorded: revision {} in {}",
            self.action, self.revision, self.environment
        ))
    }
}

impl Text for CheckView {
    const WHAT: &'static str = "a gate check";
    fn text(&self) {
        let verdict = if self.allowed {
            "ALLOWED"
        } else {
            "NOT ALLOWED"
        };
        line(format!(
            "{verdict}: {} in {}",
            self.artifact, self.environment
        ));
        reasons(&self.reasons);
    }
}

impl Text for Vec<LedgerEntryView> {
    const WHAT: &'static str = "a page of ledger entries";
    fn text(&self) {
        for e in self {
            line(format!(
                "{:>6}  {}  {:<18} {:<30} by {}",
                e.seq, e.at, e.action, e.subject, e.actor
            ))
        }
    }
}

impl Text for DatasetView {
    const WHAT: &'static str = "a dataset version";
    fn text(&self) {
        line(format!(
            "{:<32} {:<10} {:<12} uses: {}  {}",
            self.key,
            self.classification,
            if self.approved {
                "approved"
            } else {
                "unapproved"
            },
            list(&self.permitted_uses),
            self.digest
        ))
    }
}

impl Text for Vec<DatasetView> {
    const WHAT: &'static str = "a list of dataset versions";
    fn text(&self) {
        self.iter().for_each(Text::text)
    }
}

impl Text for RunView {
    const WHAT: &'static str = "a training run";
    fn text(&self) {
        line(format!(
            "{:<28} commit {:<10} trainer {}  datasets: {}  artifact {}",
            self.id,
            self.code_commit,
            self.trainer,
            list(&self.datasets),
            self.artifact_digest
        ))
    }
}

impl Text for Vec<RunView> {
    const WHAT: &'static str = "a list of training runs";
    fn text(&self) {
        self.iter().for_each(Text::text)
    }
}

impl Text for WebhookView {
    const WHAT: &'static str = "a webhook";
    fn text(&self) {
        line(format!(
            "{}  {}  events: {}",
            self.id,
            self.url,
            list(&self.events)
        ));
        if let Some(secret) = &self.secret {
            line(format!(
                "  signing secret (shown once; store it now): {secret}"
            ));
        }
    }
}

impl Text for Vec<WebhookView> {
    const WHAT: &'static str = "a list of webhooks";
    fn text(&self) {
        self.iter().for_each(Text::text)
    }
}

impl Text for EvaluationView {
    const WHAT: &'static str = "an evaluation report";
    fn text(&self) {
        line(format!(
            "release {} revision {}  tier {}  report {} ({})",
            self.release,
            self.revision,
            self.tier,
            or_dash(&self.evidence_name),
            or_dash(&self.format)
        ));
        if let Some(error) = &self.error {
            line(format!("  unreadable: {error}"));
        }
        for c in &self.checks {
            let values: Vec<String> = c.values.iter().map(|x| num(x.value)).collect();
            line(format!(
                "  {:<8} {:<24} min {} max {}  values [{}]  ({})",
                c.result,
                c.metric,
                c.min.map_or_else(dash, num),
                c.max.map_or_else(dash, num),
                values.join(", "),
                c.source
            ))
        }
    }
}

impl Text for DeliveryLogView {
    const WHAT: &'static str = "a webhook's delivery log";
    fn text(&self) {
        for d in &self.deliveries {
            line(format!(
                "{}  {:<9} attempts {}  next {}",
                d.event_id,
                d.state,
                d.attempts,
                at(&d.next_attempt_at)
            ))
        }
        for a in &self.attempts {
            line(format!(
                "  {}  {} #{}  {:<9} HTTP {}  {}",
                at(&a.at),
                a.event_id,
                a.attempt,
                a.outcome,
                a.status_code,
                a.error
            ))
        }
    }
}

impl Text for ProfileView {
    const WHAT: &'static str = "a governance profile";
    fn text(&self) {
        line(format!(
            "profile {} version {}  digest {}",
            self.name, self.version, self.digest
        ))
    }
}

impl Text for AgentView {
    const WHAT: &'static str = "an agent";
    fn text(&self) {
        line(format!(
            "agent {}  {}  owner {}  {} / {}  release {}  {}",
            self.id,
            self.name,
            self.owner,
            self.use_case,
            self.environment,
            self.release,
            self.status
        ))
    }
}

impl Text for Vec<AgentView> {
    const WHAT: &'static str = "a list of agents";
    fn text(&self) {
        for a in self {
            line(format!(
                "{}  {:<10} {:<20} owner {}  {}  release {}",
                a.id, a.status, a.name, a.owner, a.environment, a.release
            ))
        }
    }
}

impl Text for GrantView {
    const WHAT: &'static str = "a grant";
    fn text(&self) {
        line(format!(
            "{}  {:<8} agent {}  {} {} on {}  expires {}  recertify by {}{}",
            self.id,
            self.state,
            self.agent,
            list(&self.actions),
            list(&self.resources),
            self.system,
            at(&self.expires_at),
            opt_at(&self.recertify_by),
            if self.missing_approvals.is_empty() {
                String::new()
            } else {
                format!("  waiting for {}", list(&self.missing_approvals))
            }
        ))
    }
}

impl Text for Vec<GrantView> {
    const WHAT: &'static str = "a list of grants";
    fn text(&self) {
        self.iter().for_each(Text::text)
    }
}

/// `action system:resource`, as scopes are written.
fn target(action: &str, system: &str, resource: &str) -> String {
    format!("{action} {system}:{resource}")
}

/// ` (role R)` when an approver role is named.
fn role_suffix(role: &Option<String>) -> String {
    role.as_ref()
        .map(|r| format!(" (role {r})"))
        .unwrap_or_default()
}

impl Text for ActionDecisionView {
    const WHAT: &'static str = "a decision";
    fn text(&self) {
        line(format!(
            "{}  action {}  policies: {}",
            self.decision.to_uppercase(),
            self.id,
            list(&self.policies)
        ));
        reasons(&self.reasons);
        if let Some(a) = &self.approval {
            line(format!(
                "  approval {} assigned to {}{}, expires {}",
                a.id,
                a.assignee,
                role_suffix(&a.approver_role),
                at(&a.expires_at)
            ));
            line(format!(
                "  once approved, ask again with --approval {} (wait: countersign approval wait {})",
                a.id, a.id
            ));
        }
    }
}

impl Text for ApprovalView {
    const WHAT: &'static str = "an approval request";
    fn text(&self) {
        let a = self;
        line(format!(
            "approval {}  {}  action {}",
            a.id,
            a.state.to_uppercase(),
            a.action_id
        ));
        line(format!(
            "  {}  task {}  agent {}",
            target(&a.action, a.system.as_str(), &a.resource),
            a.task,
            a.agent
        ));
        line(format!(
            "  assigned to {}{}  created {}  expires {}",
            a.assignee,
            role_suffix(&a.approver_role),
            at(&a.created_at),
            at(&a.expires_at)
        ));
        reasons(&a.reasons);
        line(format!("  arguments   {}", a.arguments));
        match countersign_api::ActionContextParams::deserialize(&a.context) {
            Ok(c) => {
                let digest = c.ai_input_digest.as_ref().map(Digest::to_string);
                for (label, value) in [
                    ("ai input", c.ai_input.as_deref()),
                    ("ai input digest", digest.as_deref()),
                    ("ai output", c.ai_output.as_deref()),
                    ("impact", Some(c.impact.as_str())),
                ] {
                    if let Some(v) = value.filter(|v| !v.is_empty()) {
                        line(format!("  {label:<11} {v}"));
                    }
                }
                if !c.data_used.is_empty() {
                    line(format!("  data used   {}", list(&c.data_used)));
                }
                line(format!(
                    "  risk {}  confidence {}  data classes {}",
                    c.risk_score,
                    c.confidence.map_or_else(dash, num),
                    list(&c.data_classes)
                ));
            }
            Err(e) => {
                eprintln!("error: the approval's context does not read as one: {e}");
                line(format!("  context     {}", a.context));
            }
        }
        answer_line(a);
        if let Some(by) = &a.used_by {
            line(format!("    used by action {by}"));
        }
    }
}

impl Text for Vec<ApprovalView> {
    const WHAT: &'static str = "a list of approval requests";
    fn text(&self) {
        for a in self {
            line(format!(
                "{}  {:<8} {}  task {}  agent {}  assignee {}  expires {}",
                a.id,
                a.state,
                target(&a.action, a.system.as_str(), &a.resource),
                a.task,
                a.agent,
                a.assignee,
                at(&a.expires_at)
            ))
        }
        if self.is_empty() {
            line("no approval requests");
        }
    }
}

/// The human's answer to an approval request: approved or denied, by whom, why.
fn answer_line(a: &ApprovalView) {
    if let Some(by) = &a.decided_by {
        line(format!(
            "    {} by {} at {}: {}",
            if a.state == "denied" {
                "denied"
            } else {
                "approved"
            },
            by,
            opt_at(&a.decided_at),
            or_dash(&a.comment)
        ));
    }
}

/// The delegation chain, root agent first: `ag_a > ag_b`.
fn chain(a: &ActionView) -> String {
    if a.delegation.is_empty() {
        a.agent.to_string()
    } else {
        let agents: Vec<&str> = a.delegation.iter().map(|x| x.as_str()).collect();
        agents.join(" > ")
    }
}

impl Text for ActionView {
    const WHAT: &'static str = "an action";
    fn text(&self) {
        let a = self;
        line(format!(
            "action {}  {}  {}",
            a.id,
            a.decision.to_uppercase(),
            target(&a.action, a.system.as_str(), &a.resource)
        ));
        line(format!(
            "  task {}  agent {} (owner {})  credential {}",
            a.task, a.agent, a.owner, a.credential
        ));
        line(format!("  delegation {}", chain(a)));
        line(format!(
            "  decided {}  risk {}  policies: {}",
            at(&a.decided_at),
            a.risk_score,
            list(&a.policies)
        ));
        reasons(&a.reasons);
        if let Some(ap) = &a.approval {
            line(format!(
                "  approval {}  {}  assigned to {}",
                ap.id, ap.state, ap.assignee
            ));
            answer_line(ap);
            if let Some(by) = &ap.used_by {
                line(format!("    used by action {by}"));
            }
        } else if let Some(id) = &a.approval_id {
            line(format!("  approval {id}"));
        }
        if let Some(o) = &a.outcome {
            line(format!(
                "  outcome {} at {}{}",
                o.status,
                at(&o.at),
                if o.detail.is_null() {
                    String::new()
                } else {
                    format!("  {}", o.detail)
                }
            ));
        }
        if let Some(r) = &a.review {
            line(format!(
                "  reviewed {} by {} at {}{}",
                r.verdict,
                r.by,
                at(&r.at),
                if r.comment.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.comment)
                }
            ));
        } else if a.review_state.as_deref() == Some("pending") {
            line("  waiting for the system owner's post-action review");
        }
    }
}

impl Text for Vec<ActionView> {
    const WHAT: &'static str = "a list of actions";
    fn text(&self) {
        for a in self {
            line(format!(
                "{}  {:<8} {}  task {}  agent {}  approval {}  outcome {}  review {}",
                a.id,
                a.decision,
                target(&a.action, a.system.as_str(), &a.resource),
                a.task,
                chain(a),
                or_dash(&a.approval_id),
                a.outcome.as_ref().map_or("-", |o| o.status.as_str()),
                or_dash(&a.review_state)
            ))
        }
        if self.is_empty() {
            line("no actions");
        }
    }
}

impl Text for Vec<SignalsView> {
    const WHAT: &'static str = "a list of accountability signals";
    fn text(&self) {
        let secs = |n: Option<i64>| n.map_or_else(dash, |n| format!("{n}s"));
        for x in self {
            line(format!(
                "{}  {:<14} decisions {:<4} approved {:>3}%  median {} from assignment, {} from opening  decided unopened {}{}",
                x.user,
                x.kind,
                x.decisions,
                x.approval_pct,
                secs(x.median_seconds_from_assignment),
                secs(x.median_seconds_from_open),
                x.decided_without_opening,
                if x.flagged { "  FLAGGED" } else { "" }
            ));
            for f in &x.flags {
                line(format!("  - {f}"));
            }
        }
        if self.is_empty() {
            line("no decisions yet");
        }
    }
}

fn policy_lines(policies: &[PolicyView]) {
    for p in policies {
        line(format!(
            "  {:<36} {:<7} {:<8} {:<18} {}",
            p.id,
            p.effect,
            p.decision,
            p.approver
                .as_ref()
                .map(|r| format!("approver {r}"))
                .unwrap_or_default(),
            p.file
        ))
    }
}

/// Where a policy set came from: its directory, or the built-in example set.
fn origin(dir: &Option<String>) -> &str {
    dir.as_deref().unwrap_or("the built-in example set")
}

impl Text for PolicySetView {
    const WHAT: &'static str = "a policy set";
    fn text(&self) {
        line(format!(
            "policy set {}  from {}  loaded {}  ({} policies)",
            self.digest,
            origin(&self.dir),
            at(&self.loaded_at),
            self.policies.len()
        ));
        policy_lines(&self.policies);
    }
}

/// `policy check`: a policy directory validated offline, without a server.
#[derive(Serialize)]
pub struct PolicyCheckView {
    /// Always true: an invalid set is an error, not a view.
    pub valid: bool,
    pub digest: Digest,
    pub dir: Option<String>,
    pub policies: Vec<PolicyView>,
}

impl PolicyCheckView {
    /// Prints the check: its JSON (keys in the order a JSON object keeps them), or text.
    pub fn show(&self, format: Format) -> anyhow::Result<()> {
        if format == Format::Json {
            json(&serde_json::to_value(self)?);
            return Ok(());
        }
        line(format!(
            "{}: a valid policy set of {} policies, digest {}",
            origin(&self.dir),
            self.policies.len(),
            self.digest
        ));
        policy_lines(&self.policies);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn times_and_numbers_print_as_the_api_writes_them() {
        for t in ["2026-12-03T10:32:00Z", "2026-12-03T10:32:00.123456Z"] {
            let parsed: DateTime<Utc> = serde_json::from_value(Value::from(t)).unwrap();
            assert_eq!(at(&parsed), t);
        }
        assert_eq!(num(1.0), "1.0");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(list(Vec::<String>::new()), "none");
        assert_eq!(list(["a", "b"]), "a, b");
        assert_eq!(or_dash(&None::<String>), "-");
    }

    #[test]
    fn a_response_that_is_not_the_view_falls_back_to_json() {
        // Missing fields: reported on stderr and printed as JSON, no panic.
        show::<UserView>(Format::Text, &serde_json::json!({"id": 1}));
        show::<Vec<UserView>>(Format::Text, &serde_json::json!({"not": "a list"}));
        assert!(UserView::deserialize(&serde_json::json!({"id": 1})).is_err());
    }
}
