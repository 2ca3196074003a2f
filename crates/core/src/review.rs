//! Reviews: one role's conditional approval of one revision, against its checklist.

use crate::profile::ChecklistItem;
use crate::role::Role;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A reviewer's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    ApproveWithConditions,
    Reject,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::ApproveWithConditions => "approve_with_conditions",
            Verdict::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Approve, Self::ApproveWithConditions, Self::Reject]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    pub fn approves(self) -> bool {
        self != Verdict::Reject
    }
}

/// The answer to one checklist item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Yes,
    No,
    #[serde(rename = "n/a")]
    NotApplicable,
}

/// What a reviewer submits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewDraft {
    pub role: Role,
    pub verdict: Verdict,
    pub answers: BTreeMap<String, Answer>,
    pub conditions: Option<String>,
    pub comment: Option<String>,
}

/// Why a review does not fit its checklist or verdict.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("checklist item {item:?} of role {role} is not answered")]
    Unanswered { role: Role, item: String },
    #[error("{item:?} is not an item of the {role} checklist")]
    UnknownItem { role: Role, item: String },
    #[error("an approval cannot answer no to {item:?}; approve with conditions or reject")]
    ApprovedWithNo { item: String },
    #[error("approve_with_conditions needs non-empty conditions")]
    MissingConditions,
    #[error("conditions are only for approve_with_conditions")]
    UnexpectedConditions,
    #[error("a rejection needs a comment saying why")]
    MissingRejectionReason,
}

/// Checks a review against its role's checklist.
pub fn validate_review(checklist: &[ChecklistItem], r: &ReviewDraft) -> Result<(), ReviewError> {
    for item in &r.answers {
        if !checklist.iter().any(|c| &c.id == item.0) {
            return Err(ReviewError::UnknownItem {
                role: r.role,
                item: item.0.clone(),
            });
        }
    }
    for c in checklist {
        match r.answers.get(&c.id) {
            None => {
                return Err(ReviewError::Unanswered {
                    role: r.role,
                    item: c.id.clone(),
                })
            }
            Some(Answer::No) if r.verdict == Verdict::Approve => {
                return Err(ReviewError::ApprovedWithNo { item: c.id.clone() })
            }
            Some(_) => {}
        }
    }
    let has = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.trim().is_empty());
    match r.verdict {
        Verdict::ApproveWithConditions if !has(&r.conditions) => {
            Err(ReviewError::MissingConditions)
        }
        Verdict::Approve | Verdict::Reject if r.conditions.is_some() => {
            Err(ReviewError::UnexpectedConditions)
        }
        Verdict::Reject if !has(&r.comment) => Err(ReviewError::MissingRejectionReason),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checklist() -> Vec<ChecklistItem> {
        ["a", "b"]
            .iter()
            .map(|id| ChecklistItem {
                id: (*id).into(),
                text: "t".into(),
            })
            .collect()
    }

    fn draft(verdict: Verdict, a: Answer, b: Option<Answer>) -> ReviewDraft {
        let mut answers = BTreeMap::from([("a".to_owned(), a)]);
        if let Some(b) = b {
            answers.insert("b".into(), b);
        }
        ReviewDraft {
            role: Role::Security,
            verdict,
            answers,
            conditions: None,
            comment: None,
        }
    }

    #[test]
    fn every_item_must_be_answered() {
        let r = draft(Verdict::Approve, Answer::Yes, None);
        assert_eq!(
            validate_review(&checklist(), &r),
            Err(ReviewError::Unanswered {
                role: Role::Security,
                item: "b".into()
            })
        );
    }

    #[test]
    fn approval_cannot_answer_no() {
        let r = draft(Verdict::Approve, Answer::No, Some(Answer::Yes));
        assert!(matches!(
            validate_review(&checklist(), &r),
            Err(ReviewError::ApprovedWithNo { .. })
        ));
        let mut r = draft(
            Verdict::ApproveWithConditions,
            Answer::No,
            Some(Answer::NotApplicable),
        );
        assert_eq!(
            validate_review(&checklist(), &r),
            Err(ReviewError::MissingConditions)
        );
        r.conditions = Some("retest in 30 days".into());
        assert_eq!(validate_review(&checklist(), &r), Ok(()));
    }

    #[test]
    fn rejection_needs_a_reason() {
        let mut r = draft(Verdict::Reject, Answer::No, Some(Answer::No));
        assert_eq!(
            validate_review(&checklist(), &r),
            Err(ReviewError::MissingRejectionReason)
        );
        r.comment = Some("no threat model".into());
        assert_eq!(validate_review(&checklist(), &r), Ok(()));
    }
}
