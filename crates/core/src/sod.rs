//! Segregation of duties (I4).

use crate::ids::UserId;
use crate::role::Role;
use serde::Serialize;

/// The people a revision's segregation rules are about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parties<'a> {
    pub decision_owner: &'a UserId,
    pub submitter: Option<&'a UserId>,
    pub trainer: Option<&'a UserId>,
}

/// A segregation-of-duties refusal. `code` is stable and ends up in problem types.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum SodViolation {
    #[error("the submitter of a release cannot review it")]
    SubmitterCannotReview,
    #[error("the trainer of a release cannot review it")]
    TrainerCannotReview,
    #[error("the decision owner gives the decision and cannot also review")]
    OwnerCannotReview,
    #[error("one person fills at most one required role per revision; this reviewer already reviewed as {role}")]
    OneRolePerPerson { role: Role },
    #[error("the submitter of a release cannot be its decision owner")]
    SubmitterCannotOwn,
    #[error("the trainer of a release cannot be its decision owner")]
    TrainerCannotOwn,
}

impl SodViolation {
    pub fn code(&self) -> &'static str {
        match self {
            SodViolation::SubmitterCannotReview => "submitter_cannot_review",
            SodViolation::TrainerCannotReview => "trainer_cannot_review",
            SodViolation::OwnerCannotReview => "owner_cannot_review",
            SodViolation::OneRolePerPerson { .. } => "one_role_per_person",
            SodViolation::SubmitterCannotOwn => "submitter_cannot_own",
            SodViolation::TrainerCannotOwn => "trainer_cannot_own",
        }
    }
}

/// May `reviewer` review `role` on a revision whose existing reviews are
/// `existing` (reviewer, role)?
pub fn check_reviewer(
    parties: &Parties<'_>,
    reviewer: &UserId,
    role: Role,
    existing: &[(UserId, Role)],
) -> Result<(), SodViolation> {
    if parties.submitter == Some(reviewer) {
        return Err(SodViolation::SubmitterCannotReview);
    }
    if parties.trainer == Some(reviewer) {
        return Err(SodViolation::TrainerCannotReview);
    }
    if parties.decision_owner == reviewer {
        return Err(SodViolation::OwnerCannotReview);
    }
    if let Some((_, other)) = existing
        .iter()
        .find(|(who, r)| who == reviewer && *r != role)
    {
        return Err(SodViolation::OneRolePerPerson { role: *other });
    }
    Ok(())
}

/// May the decision owner own this revision's decision?
pub fn check_owner(parties: &Parties<'_>) -> Result<(), SodViolation> {
    if parties.submitter == Some(parties.decision_owner) {
        return Err(SodViolation::SubmitterCannotOwn);
    }
    if parties.trainer == Some(parties.decision_owner) {
        return Err(SodViolation::TrainerCannotOwn);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i4_rules() {
        let owner = UserId::from("owner");
        let sub = UserId::from("sub");
        let trainer = UserId::from("trainer");
        let p = Parties {
            decision_owner: &owner,
            submitter: Some(&sub),
            trainer: Some(&trainer),
        };
        assert_eq!(
            check_reviewer(&p, &sub, Role::Security, &[]),
            Err(SodViolation::SubmitterCannotReview)
        );
        assert_eq!(
            check_reviewer(&p, &trainer, Role::Security, &[]),
            Err(SodViolation::TrainerCannotReview)
        );
        assert_eq!(
            check_reviewer(&p, &owner, Role::Security, &[]),
            Err(SodViolation::OwnerCannotReview)
        );
        let alice = UserId::from("alice");
        let existing = vec![(alice.clone(), Role::Privacy)];
        assert_eq!(
            check_reviewer(&p, &alice, Role::Security, &existing),
            Err(SodViolation::OneRolePerPerson {
                role: Role::Privacy
            })
        );
        assert_eq!(check_reviewer(&p, &alice, Role::Legal, &[]), Ok(()));
        assert_eq!(check_owner(&p), Ok(()));
        let p2 = Parties {
            decision_owner: &trainer,
            submitter: Some(&sub),
            trainer: Some(&trainer),
        };
        assert_eq!(check_owner(&p2), Err(SodViolation::TrainerCannotOwn));
    }
}
