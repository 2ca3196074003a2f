//! The console's pages as data: each page struct is what its template prints, built
//! from the application's answers here at the edge (as the API builds its views), so
//! templates hold no logic beyond loops and conditionals. Also the shared pieces:
//! state badges (one colour and one word per state, everywhere), shortened digests,
//! and times that are both relative and absolute.

use super::chart;
use super::page::{sentence, Refusal};
use crate::app::approvals::ApprovalView;
use crate::app::friction::Status as FrictionStatus;
use crate::app::gate::{Evaluation, GateReport};
use crate::app::inbox::Inbox;
use crate::app::lineage::Graph as LineageGraph;
use crate::app::releases::ReleaseDetail;
use crate::app::sessions::Viewer;
use askama::Template;
use chrono::{DateTime, Utc};
use countersign_core::eval::{EvalGate, MetricResult, ReportFact};
use countersign_core::friction::Rule as FrictionRule;
use countersign_core::gap::GapCode;
use countersign_core::profile::ChecklistItem;
use countersign_core::runtime::ApprovalState;
use countersign_core::{Digest, Role};
use countersign_ledger::Entry;

/// A state shown as a badge: its class sets the colour, and the word (with an icon
/// for the urgent ones) says it without colour. Rendered by its own partial template.
#[derive(Clone, Debug, Template)]
#[template(path = "console/_badge.html")]
pub struct Badge {
    pub class: &'static str,
    pub word: String,
    pub icon: &'static str,
}

/// The badge of a state word (`approved`, `step_up`, `overdue`, …).
pub fn badge(state: &str) -> Badge {
    let (class, icon) = match state {
        "allow" | "approved" | "approve" | "go" | "promoted" | "clear" | "reviewed"
        | "accepted" | "met" => ("ok", "✓"),
        "deny" | "denied" | "reject" | "rejected" | "no_go" | "blocked" | "rolled_back"
        | "unmet" | "blocking" => ("bad", "✕"),
        "escalated" | "overdue" => ("urgent", "⚠"),
        "expired" | "used" | "superseded" | "retired" | "stale" | "ended" => ("stale", "–"),
        _ => ("wait", "●"),
    };
    Badge {
        class,
        word: state.replace('_', " "),
        icon,
    }
}

/// A digest shortened to 12 hex characters, with the full value one click away.
#[derive(Clone, Debug, Template)]
#[template(path = "console/_digest.html")]
pub struct ShortDigest {
    pub short: String,
    pub full: String,
}

pub fn digest(d: &Digest) -> ShortDigest {
    let full = d.to_string();
    let hex = full.strip_prefix("sha256:").unwrap_or(&full);
    ShortDigest {
        short: hex.chars().take(12).collect(),
        full: full.clone(),
    }
}

/// "in 3 h (Thu 14:00 UTC)", "5 min ago (Thu 10:55 UTC)".
pub fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    let span = secs.unsigned_abs();
    let amount = if span < 60 {
        format!("{span} s")
    } else if span < 3600 {
        format!("{} min", span / 60)
    } else if span < 172_800 {
        format!("{} h", span / 3600)
    } else {
        format!("{} days", span / 86_400)
    };
    let rel = if secs >= 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    };
    format!("{rel} ({})", t.format("%a %d %b %H:%M UTC"))
}

/// The frame every signed-in page shares: who is signed in, and the form token.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub name: String,
    pub roles: String,
    pub csrf: String,
    pub title: String,
}

impl Chrome {
    pub fn new(v: &Viewer, title: impl Into<String>) -> Self {
        Chrome {
            name: v.ctx.actor.name.clone(),
            roles: v
                .ctx
                .actor
                .roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            csrf: v.csrf.clone(),
            title: title.into(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
pub struct SignInPage {
    pub csrf: String,
    pub next: String,
    pub message: Option<String>,
    /// The identity provider's name, when one is configured.
    pub provider: Option<String>,
    /// Where its button goes (the sign-in start, with `next`).
    pub provider_href: String,
    /// Whether the token form is offered.
    pub token: bool,
}

// ---------------------------------------------------------------------------------
// Inbox

pub struct ReviewRow {
    pub href: String,
    pub title: String,
    pub role: String,
    pub revision: u32,
    pub due: String,
    pub badge: Badge,
}

pub struct ApprovalRow {
    pub href: String,
    pub agent: String,
    pub action: String,
    pub resource: String,
    pub system: String,
    pub time_left: String,
    pub badge: Badge,
}

pub struct DecisionRow {
    pub href: String,
    pub title: String,
    pub revision: u32,
    pub note: String,
    pub badge: Badge,
}

/// The inbox's lists: the part htmx refreshes.
#[derive(Template)]
#[template(path = "console/inbox_items.html")]
pub struct InboxItems {
    pub reviews: Vec<ReviewRow>,
    pub approvals: Vec<ApprovalRow>,
    pub decisions: Vec<DecisionRow>,
}

#[derive(Template)]
#[template(path = "console/inbox.html")]
pub struct InboxPage {
    pub chrome: Chrome,
    pub items: InboxItems,
}

pub fn inbox_items(inbox: Inbox, now: DateTime<Utc>) -> InboxItems {
    InboxItems {
        reviews: inbox
            .reviews
            .into_iter()
            .map(|r| ReviewRow {
                href: format!("/console/releases/{}/review/{}", r.release.id, r.role),
                title: r.release.title,
                role: r.role.to_string(),
                revision: r.revision,
                due: r
                    .due_at
                    .map_or_else(|| "no deadline".into(), |d| format!("due {}", when(d, now))),
                badge: badge(if r.overdue { "overdue" } else { "pending" }),
            })
            .collect(),
        approvals: inbox
            .approvals
            .into_iter()
            .map(|a| ApprovalRow {
                href: format!("/console/approvals/{}", a.approval.id),
                agent: a.approval.agent_id.to_string(),
                action: a.approval.action.clone(),
                resource: a.approval.resource.clone(),
                system: a.approval.system_id.to_string(),
                time_left: format!("expires {}", when(a.approval.expires_at, now)),
                badge: badge(a.state.as_str()),
            })
            .collect(),
        decisions: inbox
            .decisions
            .into_iter()
            .map(|d| DecisionRow {
                href: format!("/console/releases/{}", d.release.id),
                title: d.release.title,
                revision: d.revision,
                note: if d.ready {
                    "every requirement is met or accepted: ready for your decision".into()
                } else {
                    format!("{} requirement(s) still unmet", d.unmet)
                },
                badge: badge(if d.escalated {
                    "escalated"
                } else if d.ready {
                    "clear"
                } else {
                    "in_review"
                }),
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------
// Release

pub struct Field {
    pub name: String,
    pub value: String,
    /// Shown in monospace (digests, ids, commits).
    pub mono: bool,
}

pub struct GapRow {
    pub key: String,
    pub detail: String,
    pub badge: Badge,
    pub acceptable: &'static str,
    /// Unmet and acceptable: the owner is offered a risk acceptance for it.
    pub offer_acceptance: bool,
}

/// What the decision owner may do now.
pub struct OwnerActions {
    pub clear: bool,
    /// Why go is not possible yet (shown beside the disabled button).
    pub go_blocked: Option<String>,
    pub blocking: usize,
}

pub struct RequestedRow {
    pub role: String,
    pub badge: Badge,
    pub reviewer: String,
    pub due: String,
    pub conditions: Option<String>,
    pub answers: String,
    /// Set when the viewer may review in this role now.
    pub review_href: Option<String>,
}

pub struct ExcludedRow {
    pub user: String,
    pub reason: String,
}

pub struct EvidenceRow {
    pub kind: String,
    pub name: String,
    pub href: String,
    pub preview_href: String,
    pub digest: ShortDigest,
    pub size: u64,
    pub revision: u32,
}

pub struct RevisionRow {
    pub number: u32,
    pub digest: ShortDigest,
    pub tier: String,
    pub badge: Badge,
}

/// Two revisions side by side: every bundle field that differs, and the tier.
pub struct RevisionDiff {
    pub from: u32,
    pub to: u32,
    pub changes: Vec<countersign_core::release::FieldChange>,
    /// The tiers, when they differ.
    pub tiers: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/release.html")]
pub struct ReleasePage {
    pub chrome: Chrome,
    pub id: String,
    pub title: String,
    pub kind: String,
    pub system: String,
    pub owner: String,
    pub status: Badge,
    pub tier: String,
    pub rules: String,
    pub revision: u32,
    pub bundle_digest: ShortDigest,
    pub bundle: Vec<Field>,
    pub gate: Badge,
    pub gaps: Vec<GapRow>,
    pub requested: Vec<RequestedRow>,
    pub excluded: Vec<ExcludedRow>,
    pub evidence: Vec<EvidenceRow>,
    pub revisions: Vec<RevisionRow>,
    /// With two revisions or more: what changed between the compared two.
    pub diff: Option<RevisionDiff>,
    /// What is asked of the viewer, in one sentence.
    pub ask: String,
    /// Set when the viewer owns the decision and the release is in review.
    pub decide: Option<OwnerActions>,
    /// Set when the viewer owns the decision and its go awaits promotion: the go can
    /// be withdrawn (for this environment).
    pub withdraw: Option<String>,
    pub csrf: String,
    /// What the viewer just did, or why it was refused.
    pub done: Option<String>,
    pub refusal: Option<Refusal>,
    /// The latest eval report against the tier's gates, when there are gates or a report.
    pub evaluation: Option<EvalView>,
    /// The lineage graph, for kinds lineage applies to.
    pub lineage: Option<LineageView>,
    /// The release's own ledger entries, newest first, one page.
    pub ledger: LedgerView,
}

/// What the release page shows beside the release itself, each from its own query.
pub struct ReleaseExtras {
    pub evaluation: Evaluation,
    pub lineage: LineageGraph,
    /// One page of the release's ledger entries, newest first, and the page size.
    pub ledger: Vec<Entry>,
    pub ledger_page: u32,
}

/// One metric of the eval report against one gate (or ungated).
pub struct EvalRow {
    pub metric: String,
    pub slice: String,
    pub value: String,
    pub threshold: String,
    /// Met or unmet; none for a metric no gate names.
    pub badge: Option<Badge>,
    /// The metric's bar against its threshold (SVG), when it can be drawn.
    pub chart: Option<String>,
}

pub struct EvalView {
    /// The eval report the values come from (its document name), if any.
    pub source: Option<String>,
    /// Why there are no values (no report, an unreadable one).
    pub note: Option<String>,
    pub rows: Vec<EvalRow>,
}

fn number(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

pub fn eval_view(e: &Evaluation) -> Option<EvalView> {
    let gates: Vec<&EvalGate> = e.gates.iter().chain(&e.drift_gates).collect();
    let (results, note): (&[MetricResult], Option<String>) = match &e.report {
        ReportFact::Parsed(r) => (&r.results, None),
        ReportFact::None => (
            &[],
            Some("No eval report is attached to this revision.".into()),
        ),
        ReportFact::Invalid { name, error } => (&[], Some(format!("{name}: {error}."))),
    };
    if gates.is_empty() && results.is_empty() {
        return None;
    }
    let mut rows = Vec::new();
    for g in &gates {
        let values: Vec<&MetricResult> = results.iter().filter(|r| r.metric == g.metric).collect();
        if values.is_empty() {
            rows.push(EvalRow {
                metric: g.metric.clone(),
                slice: "-".into(),
                value: "missing".into(),
                threshold: g.describe(),
                badge: Some(badge("unmet")),
                chart: None,
            });
        }
        for r in values {
            let passes = g.passes(r.value);
            rows.push(EvalRow {
                metric: g.metric.clone(),
                slice: r
                    .slice
                    .clone()
                    .or_else(|| r.dataset.clone())
                    .unwrap_or_else(|| "-".into()),
                value: number(r.value),
                threshold: g.describe(),
                badge: Some(badge(if passes { "met" } else { "unmet" })),
                chart: chart::metric_svg(&chart::MetricBar {
                    value: r.value,
                    min: g.min,
                    max: g.max,
                    passes,
                }),
            });
        }
    }
    for r in results
        .iter()
        .filter(|r| !gates.iter().any(|g| g.metric == r.metric))
    {
        rows.push(EvalRow {
            metric: r.metric.clone(),
            slice: r
                .slice
                .clone()
                .or_else(|| r.dataset.clone())
                .unwrap_or_else(|| "-".into()),
            value: number(r.value),
            threshold: "not gated".into(),
            badge: None,
            chart: None,
        });
    }
    Some(EvalView {
        source: e.evidence.as_ref().map(|d| d.name.clone()),
        note,
        rows,
    })
}

/// One node of the lineage graph, in words (the table beside the drawing).
pub struct LineageRow {
    pub kind: &'static str,
    pub name: String,
    pub badge: Badge,
    pub detail: String,
}

pub struct LineageView {
    pub svg: Option<String>,
    pub rows: Vec<LineageRow>,
    /// Lineage findings that belong to no node (a vendor model, an undeclared use).
    pub notes: Vec<String>,
}

pub fn lineage_view(g: &LineageGraph) -> Option<LineageView> {
    if !g.applies {
        return None;
    }
    let about = |subject: &str| -> Vec<&str> {
        g.findings
            .iter()
            .filter(|f| f.subject == subject)
            .map(|f| f.detail.as_str())
            .collect()
    };
    let node = |label: String, ok_state: &str, problems: Vec<&str>| chart::Node {
        label,
        ok: problems.is_empty(),
        state: problems
            .first()
            .map_or_else(|| ok_state.to_owned(), |p| (*p).to_owned()),
    };
    let mut rows = Vec::new();
    let mut datasets = Vec::new();
    for (key, d) in &g.datasets {
        let ok_state = match d {
            Some(d) => format!("approved, {}", d.classification),
            None => "not registered".into(),
        };
        let n = node(key.clone(), &ok_state, about(key));
        rows.push(LineageRow {
            kind: "dataset",
            name: key.clone(),
            badge: badge(if n.ok { "approved" } else { "unmet" }),
            detail: n.state.clone(),
        });
        datasets.push(n);
    }
    let run_id = g.run_id.clone().unwrap_or_else(|| "none".into());
    let run_state = g.run.as_ref().map_or_else(
        || "not registered".into(),
        |r| format!("trained by {}", r.trainer),
    );
    let artifact_problems: Vec<&str> = g
        .findings
        .iter()
        .filter(|f| f.code == GapCode::LineageArtifactMismatch)
        .map(|f| f.detail.as_str())
        .collect();
    let run_problems: Vec<&str> = about(&run_id)
        .into_iter()
        .filter(|p| !artifact_problems.contains(p))
        .collect();
    let run = node(format!("run {run_id}"), &run_state, run_problems);
    let short = g.artifact.hex().chars().take(12).collect::<String>();
    let artifact = node(
        format!("artifact {short}"),
        &format!("produced by run {run_id}"),
        artifact_problems,
    );
    rows.push(LineageRow {
        kind: "training run",
        name: run_id.clone(),
        badge: badge(if run.ok { "approved" } else { "unmet" }),
        detail: run.state.clone(),
    });
    rows.push(LineageRow {
        kind: "artifact",
        name: g.artifact.to_string(),
        badge: badge(if artifact.ok { "approved" } else { "unmet" }),
        detail: artifact.state.clone(),
    });
    let shown: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let notes = g
        .findings
        .iter()
        .filter(|f| {
            !shown.contains(&f.subject.as_str()) && f.code != GapCode::LineageArtifactMismatch
        })
        .map(|f| f.detail.clone())
        .collect();
    let svg = if g.third_party {
        None
    } else {
        chart::lineage_svg(&datasets, &run, &artifact)
    };
    Some(LineageView { svg, rows, notes })
}

/// One ledger entry on a page.
pub struct LedgerRow {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub payload: String,
}

pub struct LedgerView {
    pub rows: Vec<LedgerRow>,
    /// The next (older) page, by key.
    pub older_href: Option<String>,
}

fn ledger_view(id: &str, entries: &[Entry], page: u32, now: DateTime<Utc>) -> LedgerView {
    let rows: Vec<LedgerRow> = entries
        .iter()
        .map(|e| LedgerRow {
            seq: e.seq,
            at: DateTime::parse_from_rfc3339(&e.at)
                .map_or_else(|_| e.at.clone(), |t| when(t.with_timezone(&Utc), now)),
            actor: e.actor.clone(),
            action: e.action.clone(),
            payload: serde_json::to_string(&e.payload).unwrap_or_default(),
        })
        .collect();
    let full = u32::try_from(rows.len()).unwrap_or(u32::MAX) >= page;
    LedgerView {
        older_href: rows
            .last()
            .filter(|_| full)
            .map(|r| format!("/console/releases/{id}?ledger_before={}#h-ledger", r.seq)),
        rows,
    }
}

fn bundle_fields(b: &countersign_core::release::Bundle) -> Vec<Field> {
    let mut out = vec![Field {
        name: "artifact".into(),
        value: b.artifact_digest.to_string(),
        mono: true,
    }];
    let mut add = |name: &str, value: Option<String>, mono| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            out.push(Field {
                name: name.to_owned(),
                value,
                mono,
            });
        }
    };
    let list = |v: &mut dyn Iterator<Item = String>| Some(v.collect::<Vec<_>>().join(", "));
    add(
        "datasets",
        list(&mut b.dataset_versions.iter().cloned()),
        true,
    );
    add("training run", b.training_run_id.clone(), true);
    add(
        "trainer",
        b.trainer.as_ref().map(ToString::to_string),
        false,
    );
    add("code commit", b.code_commit.clone(), true);
    add(
        "parameters",
        list(&mut b.parameters.iter().map(|(k, v)| format!("{k}={v}"))),
        true,
    );
    add(
        "prompt package",
        b.prompt_package_digest.as_ref().map(ToString::to_string),
        true,
    );
    add(
        "runtime policy",
        b.runtime_policy_digest.as_ref().map(ToString::to_string),
        true,
    );
    add(
        "tool permissions",
        list(&mut b.tool_permissions.iter().cloned()),
        true,
    );
    add(
        "secret scopes",
        list(&mut b.secret_scopes.iter().cloned()),
        true,
    );
    out
}

/// What a `?done=` after a console command says.
pub fn done_notice(done: Option<&str>, entry: Option<u64>) -> Option<String> {
    let what = match done? {
        "review" => "Your review",
        "accept" => "Your risk acceptance",
        "decide" => "Your decision",
        "withdraw" => "Your withdrawal of the go",
        "answer" => "Your answer",
        "revoke" => "Your revocation",
        _ => return None,
    };
    Some(match entry {
        Some(n) => format!("{what} was recorded in the ledger as entry {n}."),
        None => format!("{what} was recorded in the ledger."),
    })
}

pub fn release_page(
    v: &Viewer,
    detail: ReleaseDetail,
    report: GateReport,
    extras: ReleaseExtras,
    done: Option<String>,
    refusal: Option<Refusal>,
    compare: (Option<u32>, Option<u32>),
) -> ReleasePage {
    let now = report.now;
    let diff = revision_diff(&detail.revisions, compare);
    let me = &v.ctx.actor;
    let rel = &report.release;
    let excluded_me = report.excluded.iter().any(|x| x.user == me.id);
    let in_review = rel.status == countersign_core::release::ReleaseStatus::InReview;
    let requested: Vec<RequestedRow> = report
        .requested
        .iter()
        .map(|r| {
            let state = match &r.review {
                Some(x) => x.verdict.as_str(),
                None if r.overdue => "overdue",
                None => "pending",
            };
            RequestedRow {
                role: r.role.to_string(),
                badge: badge(state),
                reviewer: r
                    .review
                    .as_ref()
                    .map_or_else(|| "-".into(), |x| x.reviewer.to_string()),
                due: r
                    .due_at
                    .map_or_else(|| "-".into(), |d| format!("due {}", when(d, now))),
                conditions: r.review.as_ref().and_then(|x| x.conditions.clone()),
                answers: r.review.as_ref().map_or_else(String::new, |x| {
                    x.answers
                        .iter()
                        .map(|(k, a)| format!("{k}: {}", answer_word(*a)))
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                review_href: (in_review && r.review.is_none() && me.has_role(r.role))
                    .then(|| format!("/console/releases/{}/review/{}", rel.id, r.role)),
            }
        })
        .collect();
    let owns_open = rel.decision_owner == me.id && in_review;
    let blocking = report.status.unmet().filter(|g| !g.acceptable).count();
    let unmet = report.status.unmet().count();
    let owner = owns_open.then(|| OwnerActions {
        clear: report.status.clear,
        go_blocked: (!report.status.clear).then(|| {
            if blocking > 0 {
                format!(
                    "{unmet} requirement(s) unmet, {blocking} of which cannot be accepted as risk"
                )
            } else {
                format!("{unmet} requirement(s) unmet: meet or accept each first")
            }
        }),
        blocking,
    });
    let ask = if rel.decision_owner == me.id {
        if report.status.clear {
            "You own this decision, and every requirement is met or accepted.".to_owned()
        } else {
            "You own this decision; the gate is not clear yet.".to_owned()
        }
    } else if excluded_me {
        "You shaped this revision or own its decision, so you cannot review it.".to_owned()
    } else if requested.iter().any(|r| r.review_href.is_some()) {
        "A review in one of your roles is waiting.".to_owned()
    } else {
        "Nothing here waits on you.".to_owned()
    };
    ReleasePage {
        chrome: Chrome::new(v, rel.title.clone()),
        id: rel.id.to_string(),
        title: rel.title.clone(),
        kind: rel.kind.as_str().to_owned(),
        system: rel.system_id.to_string(),
        owner: rel.decision_owner.to_string(),
        status: badge(rel.status.as_str()),
        tier: report.status.tier.clone(),
        rules: report.revision.matched_rules.join(", "),
        revision: report.revision.number,
        bundle_digest: digest(&report.revision.bundle_digest),
        bundle: bundle_fields(&report.revision.bundle),
        gate: badge(if report.status.clear {
            "clear"
        } else {
            "unmet"
        }),
        gaps: report
            .status
            .gaps
            .iter()
            .map(|g| GapRow {
                key: g.key.to_string(),
                detail: g.detail.clone(),
                badge: badge(if g.accepted { "accepted" } else { "unmet" }),
                acceptable: if g.acceptable {
                    "the owner may accept it"
                } else {
                    "cannot be accepted"
                },
                offer_acceptance: owns_open && g.acceptable && !g.accepted,
            })
            .collect(),
        requested: if excluded_me {
            requested
                .into_iter()
                .map(|r| RequestedRow {
                    review_href: None,
                    ..r
                })
                .collect()
        } else {
            requested
        },
        excluded: {
            let mut rows: Vec<ExcludedRow> = report
                .excluded
                .iter()
                .map(|x| ExcludedRow {
                    user: x.user.to_string(),
                    reason: x
                        .reasons
                        .first()
                        .map(|r| sentence(&r.to_string()))
                        .unwrap_or_default(),
                })
                .collect();
            // Grouped by why, so people excluded for the same reason sit together.
            rows.sort_by(|a, b| (&a.reason, &a.user).cmp(&(&b.reason, &b.user)));
            rows
        },
        evidence: detail
            .evidence
            .iter()
            .rev()
            .map(|e| EvidenceRow {
                kind: e.kind.clone(),
                name: e.name.clone(),
                href: format!("/console/evidence/{}", e.digest),
                preview_href: format!("/console/releases/{}/evidence/{}", rel.id, e.digest),
                digest: digest(&e.digest),
                size: e.size,
                revision: e.revision,
            })
            .collect(),
        diff,
        revisions: detail
            .revisions
            .iter()
            .rev()
            .map(|r| RevisionRow {
                number: r.number,
                digest: digest(&r.bundle_digest),
                tier: r.tier.clone(),
                badge: badge(if r.number == rel.current_revision {
                    "current"
                } else {
                    "superseded"
                }),
            })
            .collect(),
        ask,
        decide: owner,
        withdraw: (rel.decision_owner == me.id
            && rel.status == countersign_core::release::ReleaseStatus::Approved)
            .then(|| rel.environment.clone().unwrap_or_default()),
        csrf: v.csrf.clone(),
        done,
        refusal,
        evaluation: eval_view(&extras.evaluation),
        lineage: lineage_view(&extras.lineage),
        ledger: ledger_view(rel.id.as_str(), &extras.ledger, extras.ledger_page, now),
    }
}

/// The compared pair: the requested revisions, else the last two; none with fewer than
/// two revisions or a number that does not exist.
fn revision_diff(
    revisions: &[countersign_store::records::RevisionRecord],
    (from, to): (Option<u32>, Option<u32>),
) -> Option<RevisionDiff> {
    let last = revisions.iter().map(|r| r.number).max()?;
    let to = to.unwrap_or(last);
    let from = from.unwrap_or(to.saturating_sub(1));
    let find = |n: u32| revisions.iter().find(|r| r.number == n);
    let (a, b) = (find(from)?, find(to)?);
    if a.number == b.number {
        return None;
    }
    Some(RevisionDiff {
        from,
        to,
        changes: countersign_core::release::bundle_changes(&a.bundle, &b.bundle),
        tiers: (a.tier != b.tier).then(|| (a.tier.clone(), b.tier.clone())),
    })
}

fn answer_word(a: countersign_core::review::Answer) -> &'static str {
    use countersign_core::review::Answer;
    match a {
        Answer::Yes => "yes",
        Answer::No => "no",
        Answer::NotApplicable => "n/a",
    }
}

// ---------------------------------------------------------------------------------
// Evidence

/// Largest document shown inline; larger ones are downloaded.
const PREVIEW_LIMIT: usize = 256 * 1024;

#[derive(Template)]
#[template(path = "console/evidence.html")]
pub struct EvidencePage {
    pub chrome: Chrome,
    pub release_href: String,
    pub release_title: String,
    pub kind: String,
    pub name: String,
    pub media_type: String,
    pub digest: ShortDigest,
    pub size: u64,
    pub revision: u32,
    pub download_href: String,
    /// The document as text (JSON pretty-printed), when it is text and not too large.
    pub text: Option<String>,
    /// A Markdown document, rendered (its source stays in `text`).
    pub markdown: Option<String>,
}

/// A document's bytes as text to show: UTF-8 without control characters (other than
/// line breaks and tabs), JSON pretty-printed; `None` for anything else.
pub fn preview_text(bytes: &[u8]) -> Option<String> {
    if bytes.len() > PREVIEW_LIMIT {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return None;
    }
    Some(
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| text.to_owned()),
    )
}

/// A Markdown document as HTML for the evidence page: raw HTML in the document is
/// shown as text, never passed through, and a link or image is kept only when it is
/// http(s), mailto or relative (the CSP stops the rest anyway).
pub fn markdown_html(text: &str) -> String {
    use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};
    let safe = |url: &CowStr| {
        let u = url.trim().to_ascii_lowercase();
        !u.contains(':')
            || ["http:", "https:", "mailto:"]
                .iter()
                .any(|s| u.starts_with(s))
    };
    let events =
        Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(|e| {
            match e {
                Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
                Event::Start(Tag::Link { dest_url, .. }) if !safe(&dest_url) => {
                    Event::Start(Tag::Emphasis)
                }
                Event::Start(Tag::Image { dest_url, .. }) if !safe(&dest_url) => {
                    Event::Start(Tag::Emphasis)
                }
                other => other,
            }
        });
    // An unsafe link's or image's end closes the emphasis that replaced it.
    let mut open: Vec<bool> = Vec::new();
    let events: Vec<Event> = events
        .map(|e| match e {
            Event::Start(Tag::Link { .. }) | Event::Start(Tag::Image { .. }) => {
                open.push(false);
                e
            }
            Event::Start(Tag::Emphasis) => {
                open.push(true);
                e
            }
            Event::End(pulldown_cmark::TagEnd::Link)
            | Event::End(pulldown_cmark::TagEnd::Image)
                if open.pop() == Some(true) =>
            {
                Event::End(pulldown_cmark::TagEnd::Emphasis)
            }
            Event::End(pulldown_cmark::TagEnd::Emphasis) => {
                open.pop();
                e
            }
            other => other,
        })
        .collect();
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    html
}

fn is_markdown(e: &countersign_store::records::EvidenceRecord) -> bool {
    let name = e.name.to_ascii_lowercase();
    e.media_type.starts_with("text/markdown")
        || name.ends_with(".md")
        || name.ends_with(".markdown")
}

pub fn evidence_page(
    v: &Viewer,
    release: &countersign_store::records::ReleaseRecord,
    e: &countersign_store::records::EvidenceRecord,
    bytes: &[u8],
) -> EvidencePage {
    EvidencePage {
        chrome: Chrome::new(v, format!("{}: {}", e.kind, e.name)),
        release_href: format!("/console/releases/{}", release.id),
        release_title: release.title.clone(),
        kind: e.kind.clone(),
        name: e.name.clone(),
        media_type: e.media_type.clone(),
        digest: digest(&e.digest),
        size: e.size,
        revision: e.revision,
        download_href: format!("/console/evidence/{}", e.digest),
        markdown: preview_text(bytes)
            .filter(|_| is_markdown(e))
            .map(|t| markdown_html(&t)),
        text: preview_text(bytes),
    }
}

// ---------------------------------------------------------------------------------
// Review

pub struct ItemRow {
    pub id: String,
    pub text: String,
    /// The answer given so far (`yes`, `no`, `n/a`, or empty).
    pub answer: String,
}

#[derive(Template)]
#[template(path = "console/review.html")]
pub struct ReviewPage {
    pub chrome: Chrome,
    pub release_href: String,
    pub action: String,
    pub title: String,
    pub role: String,
    pub revision: u32,
    pub bundle_digest: ShortDigest,
    pub items: Vec<ItemRow>,
    pub verdict: String,
    pub conditions: String,
    pub comment: String,
    pub refusal: Option<Refusal>,
    pub friction: FrictionView,
}

/// What the reviewer typed so far, kept when a refusal sends the form back.
#[derive(Clone, Debug, Default)]
pub struct ReviewDraftForm {
    pub answers: Vec<(String, String)>,
    pub verdict: String,
    pub conditions: String,
    pub comment: String,
    pub confirm_digest: String,
}

pub fn review_page(
    v: &Viewer,
    report: &GateReport,
    friction: &FrictionStatus,
    role: Role,
    checklist: &[ChecklistItem],
    draft: ReviewDraftForm,
    refusal: Option<Refusal>,
) -> ReviewPage {
    let rel = &report.release;
    let answer = |id: &str| {
        draft
            .answers
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, a)| a.clone())
            .unwrap_or_default()
    };
    ReviewPage {
        chrome: Chrome::new(v, format!("Review: {}", rel.title)),
        release_href: format!("/console/releases/{}", rel.id),
        action: format!("/console/releases/{}/review/{role}", rel.id),
        title: rel.title.clone(),
        role: role.to_string(),
        revision: report.revision.number,
        bundle_digest: digest(&report.revision.bundle_digest),
        items: checklist
            .iter()
            .map(|c| ItemRow {
                id: c.id.clone(),
                text: c.text.clone(),
                answer: answer(&c.id),
            })
            .collect(),
        verdict: draft.verdict,
        conditions: draft.conditions,
        comment: draft.comment,
        refusal,
        friction: friction_view(friction, v.ctx.now, Some(&rel.id), draft.confirm_digest),
    }
}

// ---------------------------------------------------------------------------------
// Friction against rubber-stamping

/// The friction rules beside an approve control: what the tier asks, what is not met
/// yet (the control is disabled until it is), and the digest field when asked.
#[derive(Clone, Debug, Default)]
pub struct FrictionView {
    pub rules: Vec<String>,
    pub unmet: Vec<String>,
    pub blocks: bool,
    /// The code of the first unmet rule.
    pub code: String,
    /// When waiting alone meets the rules (RFC 3339), for the script to enable the
    /// control then.
    pub ready_at: Option<String>,
    /// Only the time rule is unmet.
    pub only_time: bool,
    pub confirm_digest: bool,
    /// `bundle` or `action`.
    pub digest_label: &'static str,
    /// What the person typed, kept when the form comes back refused.
    pub typed: String,
    /// Links to the required documents not opened yet (name, href).
    pub to_open: Vec<(String, String)>,
}

fn rule_words(r: FrictionRule, seconds: Option<u32>) -> String {
    match r {
        FrictionRule::MinReviewSeconds => format!(
            "spend at least {} s with it after first opening it",
            seconds.unwrap_or_default()
        ),
        FrictionRule::RequireOpenedEvidence => "open every required evidence document".into(),
        FrictionRule::ConfirmDigest => format!(
            "type the first {} characters of the digest you approve",
            countersign_core::friction::CONFIRM_HEX_LEN
        ),
    }
}

/// `release`: where the documents to open are (`None` for a step-up).
pub fn friction_view(
    s: &FrictionStatus,
    now: DateTime<Utc>,
    release: Option<&countersign_core::ReleaseId>,
    typed: String,
) -> FrictionView {
    let ready_at = s.unmet.iter().find_map(|u| u.ready_at());
    FrictionView {
        rules: s
            .rules
            .iter()
            .map(|r| rule_words(*r, s.min_review_seconds))
            .collect(),
        unmet: s.unmet.iter().map(|u| u.sentence(now)).collect(),
        blocks: s.blocks(),
        code: s
            .unmet
            .first()
            .map(|u| u.code().as_str().to_owned())
            .unwrap_or_default(),
        ready_at: ready_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        only_time: ready_at.is_some() && s.unmet.len() == 1,
        confirm_digest: s.rules.contains(&FrictionRule::ConfirmDigest),
        digest_label: if release.is_some() {
            "bundle"
        } else {
            "action"
        },
        typed,
        to_open: release
            .map(|id| {
                s.to_open
                    .iter()
                    .map(|(name, d)| (name.clone(), format!("/console/releases/{id}/evidence/{d}")))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------
// Step-up approval

#[derive(Template)]
#[template(path = "console/approval.html")]
pub struct ApprovalPage {
    pub chrome: Chrome,
    pub id: String,
    pub action_href: String,
    pub badge: Badge,
    pub agent: String,
    /// The delegation chain, root agent first, when the agent acts for another.
    pub delegation: Option<String>,
    pub owner: String,
    pub system: String,
    pub action: String,
    pub resource: String,
    pub task: String,
    pub action_digest: ShortDigest,
    pub arguments: String,
    pub context: Vec<Field>,
    pub risk: String,
    pub reasons: Vec<String>,
    pub policies: String,
    pub assignee: String,
    pub time_left: String,
    /// The viewer is the assignee and the request still waits.
    pub can_answer: bool,
    /// The viewer approved it and the action has not used it yet: it can be revoked.
    pub revoke_href: Option<String>,
    pub outcome: Option<String>,
    pub comment: String,
    pub refusal: Option<Refusal>,
    /// What the viewer just did.
    pub done: Option<String>,
    pub friction: FrictionView,
}

fn pretty(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// What the approver typed, kept when a refusal sends the form back.
#[derive(Clone, Debug, Default)]
pub struct ApprovalDraft {
    pub comment: String,
    pub confirm_digest: String,
}

pub fn approval_page(
    v: &Viewer,
    a: &ApprovalView,
    now: DateTime<Utc>,
    draft: ApprovalDraft,
    refusal: Option<Refusal>,
) -> ApprovalPage {
    let r = &a.approval;
    let context = r
        .context
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, val)| Field {
                    name: context_label(k),
                    value: pretty(val),
                    mono: !val.is_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let pending = a.state == ApprovalState::Pending;
    ApprovalPage {
        chrome: Chrome::new(v, format!("Step-up: {} {}", r.action, r.resource)),
        id: r.id.clone(),
        action_href: format!("/console/approvals/{}", r.id),
        badge: badge(if pending { "step_up" } else { a.state.as_str() }),
        agent: r.agent_id.to_string(),
        delegation: (a.delegation.len() > 1).then(|| {
            a.delegation
                .iter()
                .map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(" \u{2192} ")
        }),
        owner: a
            .action
            .as_ref()
            .map_or_else(|| "-".into(), |x| x.owner.to_string()),
        system: r.system_id.to_string(),
        action: r.action.clone(),
        resource: r.resource.clone(),
        task: r.task.clone(),
        action_digest: digest(&r.action_digest),
        arguments: serde_json::to_string_pretty(&r.arguments).unwrap_or_default(),
        context,
        risk: a
            .action
            .as_ref()
            .map_or_else(|| "-".into(), |x| x.risk_score.to_string()),
        reasons: a
            .action
            .as_ref()
            .map(|x| x.reasons.clone())
            .unwrap_or_default(),
        policies: r.policies.join(", "),
        assignee: r.assignee.to_string(),
        time_left: if pending {
            format!("expires {}", when(r.expires_at, now))
        } else {
            format!(
                "expired or answered; it expired {}",
                when(r.expires_at, now)
            )
        },
        can_answer: pending && r.assignee == v.ctx.actor.id,
        revoke_href: (a.state == ApprovalState::Approved && r.assignee == v.ctx.actor.id)
            .then(|| format!("/console/approvals/{}/revoke", r.id)),
        // A human answered: denied, or approved (and then perhaps used by the action).
        outcome: r.decided_by.as_ref().map(|by| {
            let verdict = if a.state == ApprovalState::Denied {
                "Denied"
            } else {
                "Approved"
            };
            let used = match (&r.used_by, &r.revoke_reason) {
                (Some(x), _) => format!("; used by action {x}"),
                (None, Some(why)) => format!("; then revoked (\u{201c}{why}\u{201d})"),
                (None, None) => String::new(),
            };
            format!(
                "{verdict} by {by}{used}{}",
                r.comment
                    .as_ref()
                    .map(|c| format!(": \u{201c}{c}\u{201d}"))
                    .unwrap_or_default()
            )
        }),
        comment: draft.comment,
        refusal,
        done: None,
        friction: friction_view(&a.friction, now, None, draft.confirm_digest),
    }
}

/// A readable label for a known context key; unknown keys as they are.
fn context_label(k: &str) -> String {
    let known = match k {
        "ai_input" => "AI input",
        "ai_output" => "AI output",
        "data_used" => "data used",
        "impact" => "downstream impact",
        "confidence" => "confidence",
        "risk_score" => "risk score",
        "data_classes" => "data classes",
        other => other,
    };
    known.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_are_relative_and_absolute() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 11, 0, 0).unwrap();
        let later = Utc.with_ymd_and_hms(2026, 12, 3, 14, 0, 0).unwrap();
        assert_eq!(when(later, now), "in 3 h (Thu 03 Dec 14:00 UTC)");
        assert_eq!(when(now, later), "3 h ago (Thu 03 Dec 11:00 UTC)");
        assert_eq!(
            sentence("you trained this model"),
            "You trained this model."
        );
    }

    #[test]
    fn the_sign_in_page_and_inbox_lists_render_as_recorded() {
        let page = SignInPage {
            csrf: "0".repeat(32),
            next: "/console/releases/rel_1".into(),
            message: Some("Your session expired. Sign in again to continue.".into()),
            provider: None,
            provider_href: String::new(),
            token: true,
        };
        insta::assert_snapshot!("sign_in", page.render().unwrap());
        let page = SignInPage {
            provider: Some("Acme SSO".into()),
            provider_href: "/console/sign-in/oidc?next=/console".into(),
            message: None,
            ..page
        };
        insta::assert_snapshot!("sign_in_oidc", page.render().unwrap());
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 11, 0, 0).unwrap();
        let items = InboxItems {
            reviews: vec![ReviewRow {
                href: "/console/releases/rel_1/review/security".into(),
                title: "Support <assistant> v2".into(),
                role: "security".into(),
                revision: 2,
                due: format!("due {}", when(now - chrono::Duration::hours(3), now)),
                badge: badge("overdue"),
            }],
            approvals: vec![ApprovalRow {
                href: "/console/approvals/apr_1".into(),
                agent: "agt_1".into(),
                action: "write".into(),
                resource: "orders/42".into(),
                system: "sys_1".into(),
                time_left: format!("expires {}", when(now + chrono::Duration::minutes(10), now)),
                badge: badge("step_up"),
            }],
            decisions: vec![],
        };
        // Titles are escaped; each state shows its word beside its colour.
        insta::assert_snapshot!("inbox_items", items.render().unwrap());
    }

    #[test]
    fn text_and_json_are_previewed_and_binary_is_not() {
        assert_eq!(
            preview_text(b"# Threat model\n\n- spoofing").as_deref(),
            Some("# Threat model\n\n- spoofing")
        );
        assert_eq!(
            preview_text(br#"{"accuracy":0.93}"#).as_deref(),
            Some("{\n  \"accuracy\": 0.93\n}")
        );
        assert_eq!(preview_text(&[0x89, b'P', b'N', b'G', 0, 1]), None);
        assert_eq!(preview_text(b"a\x07bell"), None);
        assert_eq!(preview_text(&vec![b'a'; PREVIEW_LIMIT + 1]), None);
    }

    #[test]
    fn markdown_evidence_renders_without_raw_html_or_script_links() {
        let html = markdown_html(
            "# Threat model\n\n- **spoofing**: [STRIDE](https://example.com/stride)\n\n\
             <script>alert(1)</script>\n\n[click](javascript:alert(1)) ![x](data:image/png;base64,AA)\n",
        );
        assert!(html.contains("<h1>Threat model</h1>"), "{html}");
        assert!(html.contains("<strong>spoofing</strong>"));
        assert!(
            html.contains(r#"<a href="https://example.com/stride">STRIDE</a>"#),
            "{html}"
        );
        assert!(!html.contains("<script"), "raw HTML is text: {html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(
            !html.contains("javascript:") && !html.contains("data:image"),
            "{html}"
        );
        assert!(
            html.contains("<em>click</em>"),
            "an unsafe link keeps its words: {html}"
        );
    }

    #[test]
    fn every_state_has_one_colour_and_a_word() {
        assert_eq!(badge("approved").class, "ok");
        assert_eq!(badge("denied").class, "bad");
        assert_eq!(badge("step_up").class, "wait");
        assert_eq!(badge("overdue").class, "urgent");
        assert_eq!(badge("superseded").class, "stale");
        assert_eq!(badge("no_go").word, "no go");
    }
}
