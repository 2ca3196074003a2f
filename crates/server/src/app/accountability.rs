//! Accountability signals: how reviewers and approvers decide. For release reviews
//! and step-up approvals: time from assignment (and from first opening the context)
//! to decision, approval rate, decisions made without opening the context; and a
//! flag on reviewers who look like rubber stamps by the profile's `[accountability]`
//! thresholds; and how many approvals each friction rule was enforced on.

use super::{AppError, Ctx};
use chrono::{DateTime, Utc};
use countersign_core::friction::Rule;
use countersign_core::profile::AccountabilityPolicy;
use countersign_core::review::Verdict;
use countersign_core::runtime::ApprovalState;
use countersign_core::{Role, UserId};
use countersign_store::prelude::*;
use countersign_store::records::ApprovalFilter;
use std::collections::BTreeMap;

/// One decision, reduced to what the signals need.
#[derive(Clone, Debug)]
pub struct Sample {
    pub approved: bool,
    pub assigned_at: Option<DateTime<Utc>>,
    pub opened_at: Option<DateTime<Utc>>,
    pub decided_at: DateTime<Utc>,
    /// The friction rules the decision was accepted under.
    pub friction: Vec<Rule>,
}

/// One reviewer's signals for one kind of decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signals {
    pub user: UserId,
    /// `release_review` or `step_up`.
    pub kind: &'static str,
    pub decisions: u32,
    pub approvals: u32,
    pub approval_pct: u32,
    pub median_seconds_from_assignment: Option<i64>,
    pub median_seconds_from_open: Option<i64>,
    pub decided_without_opening: u32,
    /// Per friction rule, how many decisions were accepted under it.
    pub friction_enforced: BTreeMap<Rule, u32>,
    pub flags: Vec<String>,
}

fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[v.len() / 2])
}

/// Computes one reviewer's signals and flags (pure).
pub fn signals(
    user: UserId,
    kind: &'static str,
    samples: &[Sample],
    policy: &AccountabilityPolicy,
) -> Signals {
    let decisions = u32::try_from(samples.len()).unwrap_or(u32::MAX);
    let approvals = u32::try_from(samples.iter().filter(|s| s.approved).count()).unwrap_or(0);
    let approval_pct = (approvals * 100).checked_div(decisions).unwrap_or(0);
    let from_assignment = median(
        samples
            .iter()
            .filter_map(|s| s.assigned_at.map(|a| (s.decided_at - a).num_seconds()))
            .collect(),
    );
    let from_open = median(
        samples
            .iter()
            .filter_map(|s| s.opened_at.map(|o| (s.decided_at - o).num_seconds()))
            .collect(),
    );
    let unopened =
        u32::try_from(samples.iter().filter(|s| s.opened_at.is_none()).count()).unwrap_or(0);
    let mut friction_enforced = BTreeMap::new();
    for r in samples.iter().flat_map(|s| &s.friction) {
        *friction_enforced.entry(*r).or_insert(0) += 1;
    }
    let mut flags = Vec::new();
    if decisions >= policy.min_decisions {
        let quick = from_open
            .or(from_assignment)
            .is_some_and(|m| m < i64::from(policy.min_median_seconds));
        if approval_pct >= policy.max_approval_pct && quick {
            flags.push(format!(
                "rubber-stamp: approves {approval_pct}% with a median of {}s to decide (thresholds {}%, {}s)",
                from_open.or(from_assignment).unwrap_or(0),
                policy.max_approval_pct,
                policy.min_median_seconds
            ));
        }
        let unopened_pct = unopened * 100 / decisions.max(1);
        if unopened_pct > policy.max_unopened_pct {
            flags.push(format!(
                "unopened: {unopened_pct}% of decisions made without opening the context (threshold {}%)",
                policy.max_unopened_pct
            ));
        }
    }
    Signals {
        user,
        kind,
        decisions,
        approvals,
        approval_pct,
        median_seconds_from_assignment: from_assignment,
        median_seconds_from_open: from_open,
        decided_without_opening: unopened,
        friction_enforced,
        flags,
    }
}

/// Every reviewer's signals. Admin, risk and compliance only.
pub async fn report(tx: &mut dyn Tx, ctx: &Ctx) -> Result<Vec<Signals>, AppError> {
    ctx.require_any(&[Role::Admin, Role::Risk, Role::Compliance])?;
    let policy = &ctx.profile.accountability;
    let views: BTreeMap<(String, UserId), DateTime<Utc>> = tx
        .list_views("release")
        .await?
        .into_iter()
        .map(|v| ((v.subject, v.user), v.first_opened_at))
        .collect();
    let mut reviews: BTreeMap<UserId, Vec<Sample>> = BTreeMap::new();
    let mut submitted: BTreeMap<(String, u32), Option<DateTime<Utc>>> = BTreeMap::new();
    for r in tx.list_all_reviews().await? {
        let key = (r.release_id.to_string(), r.revision);
        if !submitted.contains_key(&key) {
            let at = tx
                .get_revision(&r.release_id, r.revision)
                .await?
                .and_then(|rev| rev.submitted_at);
            submitted.insert(key.clone(), at);
        }
        let subject = super::friction::revision_subject(&r.release_id, r.revision);
        let opened = views
            .get(&(subject, r.reviewer.clone()))
            .copied()
            .filter(|o| *o <= r.created_at);
        reviews.entry(r.reviewer.clone()).or_default().push(Sample {
            approved: r.verdict != Verdict::Reject,
            assigned_at: submitted.get(&key).copied().flatten(),
            opened_at: opened,
            decided_at: r.created_at,
            friction: r.friction.clone(),
        });
    }
    let mut step_ups: BTreeMap<UserId, Vec<Sample>> = BTreeMap::new();
    let all = tx
        .list_approvals(&ApprovalFilter {
            limit: 100_000,
            ..Default::default()
        })
        .await?;
    for a in all {
        let (Some(by), Some(at)) = (a.decided_by.clone(), a.decided_at) else {
            continue;
        };
        step_ups.entry(by).or_default().push(Sample {
            approved: matches!(a.state, ApprovalState::Approved | ApprovalState::Used),
            assigned_at: Some(a.created_at),
            opened_at: a.first_opened_at.filter(|o| *o <= at),
            decided_at: at,
            friction: a.friction.clone(),
        });
    }
    let mut out = Vec::new();
    for (u, s) in reviews {
        out.push(signals(u, "release_review", &s, policy));
    }
    for (u, s) in step_ups {
        out.push(signals(u, "step_up", &s, policy));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn sample(approved: bool, opened: Option<i64>, decided: i64) -> Sample {
        Sample {
            approved,
            assigned_at: Some(t(0)),
            opened_at: opened.map(t),
            decided_at: t(decided),
            friction: if approved {
                vec![Rule::MinReviewSeconds]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn quick_unanimous_approvals_are_flagged_as_rubber_stamp() {
        let s: Vec<_> = (0..6).map(|i| sample(true, Some(i), i + 5)).collect();
        let sig = signals(
            UserId("u".into()),
            "step_up",
            &s,
            &AccountabilityPolicy::default(),
        );
        assert_eq!(sig.decisions, 6);
        assert_eq!(sig.approval_pct, 100);
        assert_eq!(sig.median_seconds_from_open, Some(5));
        assert_eq!(sig.flags.len(), 1, "{:?}", sig.flags);
        assert!(sig.flags[0].starts_with("rubber-stamp"));
        assert_eq!(
            sig.friction_enforced,
            [(Rule::MinReviewSeconds, 6)].into(),
            "every approval counted under the rule it met"
        );
    }

    #[test]
    fn careful_reviewers_and_small_samples_are_not_flagged() {
        let careful: Vec<_> = (0..6)
            .map(|i| sample(i % 3 != 0, Some(0), 600 + i))
            .collect();
        let sig = signals(
            UserId("u".into()),
            "release_review",
            &careful,
            &AccountabilityPolicy::default(),
        );
        assert!(sig.flags.is_empty(), "{:?}", sig.flags);
        let few: Vec<_> = (0..4).map(|i| sample(true, None, i)).collect();
        let sig = signals(
            UserId("u".into()),
            "step_up",
            &few,
            &AccountabilityPolicy::default(),
        );
        assert!(sig.flags.is_empty());
        assert_eq!(sig.decided_without_opening, 4);
    }

    #[test]
    fn deciding_without_opening_the_context_is_flagged() {
        let s: Vec<_> = (0..5).map(|i| sample(i % 2 == 0, None, 900)).collect();
        let sig = signals(
            UserId("u".into()),
            "step_up",
            &s,
            &AccountabilityPolicy::default(),
        );
        assert_eq!(sig.flags.len(), 1, "{:?}", sig.flags);
        assert!(sig.flags[0].starts_with("unopened"));
    }
}
