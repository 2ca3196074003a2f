//! Gate evaluation (I2): what is still unmet on a revision, each with a stable code
//! (the codes are in [`crate::gap`]).

use crate::gap::{Finding, GapCode, GapKey};
use crate::ids::UserId;
use crate::profile::TierPolicy;
use crate::review::Verdict;
use crate::role::Role;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeSet;

/// A review as the gate sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewFact {
    pub role: Role,
    pub reviewer: UserId,
    pub verdict: Verdict,
}

/// A risk acceptance as the gate sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptanceFact {
    pub gap: GapKey,
    pub expires_at: DateTime<Utc>,
}

/// Everything the gate needs about one revision.
#[derive(Clone, Debug)]
pub struct GateInput<'a> {
    pub tier: &'a TierPolicy,
    pub reviews: &'a [ReviewFact],
    pub evidence_kinds: &'a BTreeSet<String>,
    pub acceptances: &'a [AcceptanceFact],
    /// Lineage (I6) and evaluation (I7) findings, see [`crate::lineage`] and [`crate::eval`].
    pub findings: &'a [Finding],
    pub now: DateTime<Utc>,
}

/// One gap and whether an unexpired risk acceptance covers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub key: GapKey,
    pub code: GapCode,
    pub subject: String,
    pub detail: String,
    pub acceptable: bool,
    pub accepted: bool,
}

/// The gate's verdict on a revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GateStatus {
    pub tier: String,
    /// Every gap, accepted or not, in a stable order.
    pub gaps: Vec<Gap>,
    /// True when every gap is covered by an acceptance (so `go` may be recorded).
    pub clear: bool,
}

impl GateStatus {
    /// Gaps still blocking a `go`.
    pub fn unmet(&self) -> impl Iterator<Item = &Gap> {
        self.gaps.iter().filter(|g| !g.accepted)
    }
}

/// Evaluates the gate for one revision.
pub fn evaluate(input: &GateInput<'_>) -> GateStatus {
    let mut gaps = Vec::new();
    let tier = input.tier;
    for role in &tier.required_roles {
        let review = input.reviews.iter().find(|r| r.role == *role);
        let (code, detail) = match review {
            None => (GapCode::MissingReview, format!("no {role} review yet")),
            Some(r) if r.verdict.approves() => continue,
            Some(r) if tier.veto_roles.contains(role) => (
                GapCode::VetoRejection,
                format!(
                    "{} rejected as {role}, a veto role of tier {}",
                    r.reviewer, tier.name
                ),
            ),
            Some(r) => (
                GapCode::RejectedReview,
                format!("{} rejected as {role}", r.reviewer),
            ),
        };
        gaps.push((code, role.to_string(), detail));
    }
    for kind in &tier.required_evidence {
        if !input.evidence_kinds.contains(kind) {
            gaps.push((
                GapCode::MissingEvidence,
                kind.clone(),
                format!("no {kind} evidence attached"),
            ));
        }
    }
    for f in input.findings {
        gaps.push((f.code, f.subject.clone(), f.detail.clone()));
    }
    let gaps: Vec<Gap> = gaps
        .into_iter()
        .map(|(code, subject, detail)| {
            let key = GapKey {
                code,
                subject: subject.clone(),
            };
            // INVARIANT: a veto rejection (or another unacceptable gap) is never
            // accepted, whatever was recorded (I2).
            let accepted = code.acceptable()
                && input
                    .acceptances
                    .iter()
                    .any(|a| a.gap == key && a.expires_at > input.now);
            Gap {
                key,
                code,
                subject,
                detail,
                acceptable: code.acceptable(),
                accepted,
            }
        })
        .collect();
    let clear = gaps.iter().all(|g| g.accepted);
    GateStatus {
        tier: tier.name.clone(),
        gaps,
        clear,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tier() -> TierPolicy {
        TierPolicy {
            name: "medium".into(),
            description: String::new(),
            review_deadline_hours: 72,
            required_roles: [Role::Mlops, Role::Security].into(),
            required_evidence: ["threat_model".to_owned()].into(),
            veto_roles: [Role::Security].into(),
            eval_gates: vec![],
            approval_max_auth_age_minutes: None,
            friction: Default::default(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn review(role: Role, verdict: Verdict) -> ReviewFact {
        ReviewFact {
            role,
            reviewer: UserId::from(role.as_str()),
            verdict,
        }
    }

    #[test]
    fn i2_everything_unmet_is_listed_with_codes() {
        let t = tier();
        let s = evaluate(&GateInput {
            tier: &t,
            reviews: &[],
            evidence_kinds: &BTreeSet::new(),
            acceptances: &[],
            findings: &[],
            now: now(),
        });
        let keys: Vec<String> = s.gaps.iter().map(|g| g.key.to_string()).collect();
        assert_eq!(
            keys,
            [
                "missing_review:mlops",
                "missing_review:security",
                "missing_evidence:threat_model"
            ]
        );
        assert!(!s.clear);
    }

    #[test]
    fn i2_accepted_gap_clears_but_expired_acceptance_does_not() {
        let t = tier();
        let reviews = [
            review(Role::Mlops, Verdict::Approve),
            review(Role::Security, Verdict::Approve),
        ];
        let ev = BTreeSet::new();
        let gap: GapKey = "missing_evidence:threat_model".parse().unwrap();
        let live = [AcceptanceFact {
            gap: gap.clone(),
            expires_at: now() + chrono::Duration::days(1),
        }];
        let s = evaluate(&GateInput {
            tier: &t,
            reviews: &reviews,
            evidence_kinds: &ev,
            acceptances: &live,
            findings: &[],
            now: now(),
        });
        assert!(s.clear);
        let expired = [AcceptanceFact {
            gap,
            expires_at: now(),
        }];
        let s = evaluate(&GateInput {
            tier: &t,
            reviews: &reviews,
            evidence_kinds: &ev,
            acceptances: &expired,
            findings: &[],
            now: now(),
        });
        assert!(!s.clear);
    }

    #[test]
    fn i2_veto_rejection_cannot_be_accepted() {
        let t = tier();
        let reviews = [
            review(Role::Mlops, Verdict::Approve),
            review(Role::Security, Verdict::Reject),
        ];
        let ev: BTreeSet<String> = ["threat_model".to_owned()].into();
        let acc = [AcceptanceFact {
            gap: "veto_rejection:security".parse().unwrap(),
            expires_at: now() + chrono::Duration::days(1),
        }];
        let s = evaluate(&GateInput {
            tier: &t,
            reviews: &reviews,
            evidence_kinds: &ev,
            acceptances: &acc,
            findings: &[],
            now: now(),
        });
        assert_eq!(s.gaps.len(), 1);
        assert_eq!(s.gaps[0].code, GapCode::VetoRejection);
        assert!(!s.gaps[0].accepted);
        assert!(!s.clear);
    }

    #[test]
    fn non_veto_rejection_is_acceptable() {
        let t = tier();
        let reviews = [
            review(Role::Mlops, Verdict::Reject),
            review(Role::Security, Verdict::ApproveWithConditions),
        ];
        let ev: BTreeSet<String> = ["threat_model".to_owned()].into();
        let s = evaluate(&GateInput {
            tier: &t,
            reviews: &reviews,
            evidence_kinds: &ev,
            acceptances: &[],
            findings: &[],
            now: now(),
        });
        assert_eq!(s.gaps[0].key.to_string(), "rejected_review:mlops");
        assert!(s.gaps[0].acceptable);
    }
}
