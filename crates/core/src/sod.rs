//! Segregation of duties (I4).
//!
//! Whoever shaped a revision cannot review it or be its decision owner. A person
//! shaped revision `n` of a release when they created the release, authored, submitted
//! or trained (the trainer of the bound training run) revision `n` *or any earlier
//! revision*: each revision is written on top of the one before it, so a later
//! revision carries the earlier authors' work (a one-line revision of Noah's bundle is
//! still mostly Noah's). A person who only shaped a later revision is not excluded
//! from an earlier one. The decision owner gives the decision and cannot also review;
//! one person fills at most one required role per revision.

use crate::ids::UserId;
use crate::role::Role;
use serde::Serialize;

/// How a person shaped a revision. The order is the order in which a refusal names
/// them when one person shaped it in several ways (the most direct act first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shaping {
    /// Submitted the revision (or an earlier one) for review.
    Submitter,
    /// Trained the model of the revision's (or an earlier one's) bound training run.
    Trainer,
    /// Wrote the revision's (or an earlier one's) bundle.
    Author,
    /// Created the release.
    Creator,
}

impl Shaping {
    pub fn as_str(self) -> &'static str {
        match self {
            Shaping::Submitter => "submitter",
            Shaping::Trainer => "trainer",
            Shaping::Author => "author",
            Shaping::Creator => "creator",
        }
    }

    fn cannot_review(self, revision: u32) -> SodViolation {
        match self {
            Shaping::Submitter => SodViolation::SubmitterCannotReview { revision },
            Shaping::Trainer => SodViolation::TrainerCannotReview { revision },
            Shaping::Author => SodViolation::AuthorCannotReview { revision },
            Shaping::Creator => SodViolation::CreatorCannotReview,
        }
    }

    fn cannot_own(self, revision: u32) -> SodViolation {
        match self {
            Shaping::Submitter => SodViolation::SubmitterCannotOwn { revision },
            Shaping::Trainer => SodViolation::TrainerCannotOwn { revision },
            Shaping::Author => SodViolation::AuthorCannotOwn { revision },
            Shaping::Creator => SodViolation::CreatorCannotOwn,
        }
    }
}

/// One person's part in shaping a revision: `how`, on which revision. Writing
/// revision 1 is creating the release (`Creator`); `Author` is for later revisions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Shaper {
    pub user: UserId,
    pub how: Shaping,
    /// The revision they shaped (1 for the creator).
    pub revision: u32,
}

/// The people a revision's segregation rules are about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parties {
    pub decision_owner: UserId,
    /// Everyone who shaped the revision under review or an earlier revision.
    pub shapers: Vec<Shaper>,
}

impl Parties {
    pub fn new(decision_owner: UserId) -> Self {
        Parties {
            decision_owner,
            shapers: Vec::new(),
        }
    }

    /// Adds a person's part; `None` (no submitter yet, no trainer) adds nothing.
    pub fn shaped(&mut self, user: Option<&UserId>, how: Shaping, revision: u32) -> &mut Self {
        if let Some(user) = user {
            let s = Shaper {
                user: user.clone(),
                how,
                revision,
            };
            if !self.shapers.contains(&s) {
                self.shapers.push(s);
            }
        }
        self
    }

    /// The first way (in `Shaping` order, latest revision first) `who` shaped it.
    fn part_of(&self, who: &UserId) -> Option<&Shaper> {
        self.shapers
            .iter()
            .filter(|s| &s.user == who)
            .min_by(|a, b| a.how.cmp(&b.how).then(b.revision.cmp(&a.revision)))
    }
}

/// A segregation-of-duties refusal. `code` is stable and ends up in problem types.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum SodViolation {
    #[error("you submitted revision {revision} of this release, so you cannot review it")]
    SubmitterCannotReview { revision: u32 },
    #[error(
        "you trained the model of revision {revision} of this release, so you cannot review it"
    )]
    TrainerCannotReview { revision: u32 },
    #[error("you wrote revision {revision} of this release, so you cannot review it")]
    AuthorCannotReview { revision: u32 },
    #[error("you created this release, so you cannot review it")]
    CreatorCannotReview,
    #[error("the decision owner gives the decision and cannot also review")]
    OwnerCannotReview,
    #[error("one person fills at most one required role per revision; this reviewer already reviewed as {role}")]
    OneRolePerPerson { role: Role },
    #[error("the submitter of revision {revision} of a release cannot be its decision owner")]
    SubmitterCannotOwn { revision: u32 },
    #[error(
        "the trainer of the model of revision {revision} of a release cannot be its decision owner"
    )]
    TrainerCannotOwn { revision: u32 },
    #[error("the author of revision {revision} of a release cannot be its decision owner")]
    AuthorCannotOwn { revision: u32 },
    #[error("the creator of a release cannot be its decision owner")]
    CreatorCannotOwn,
}

impl SodViolation {
    /// The stable code; `segregation-of-duties/<code with - for _>` is its problem type.
    pub fn code(&self) -> &'static str {
        match self {
            SodViolation::SubmitterCannotReview { .. } => "submitter_cannot_review",
            SodViolation::TrainerCannotReview { .. } => "trainer_cannot_review",
            SodViolation::AuthorCannotReview { .. } => "author_cannot_review",
            SodViolation::CreatorCannotReview => "creator_cannot_review",
            SodViolation::OwnerCannotReview => "owner_cannot_review",
            SodViolation::OneRolePerPerson { .. } => "one_role_per_person",
            SodViolation::SubmitterCannotOwn { .. } => "submitter_cannot_own",
            SodViolation::TrainerCannotOwn { .. } => "trainer_cannot_own",
            SodViolation::AuthorCannotOwn { .. } => "author_cannot_own",
            SodViolation::CreatorCannotOwn => "creator_cannot_own",
        }
    }

    /// The revision the person shaped, where the refusal is about one.
    pub fn revision(&self) -> Option<u32> {
        match self {
            SodViolation::SubmitterCannotReview { revision }
            | SodViolation::TrainerCannotReview { revision }
            | SodViolation::AuthorCannotReview { revision }
            | SodViolation::SubmitterCannotOwn { revision }
            | SodViolation::TrainerCannotOwn { revision }
            | SodViolation::AuthorCannotOwn { revision } => Some(*revision),
            SodViolation::CreatorCannotReview
            | SodViolation::OwnerCannotReview
            | SodViolation::OneRolePerPerson { .. }
            | SodViolation::CreatorCannotOwn => None,
        }
    }
}

/// May `reviewer` review `role` on a revision whose existing reviews are
/// `existing` (reviewer, role)?
pub fn check_reviewer(
    parties: &Parties,
    reviewer: &UserId,
    role: Role,
    existing: &[(UserId, Role)],
) -> Result<(), SodViolation> {
    // INVARIANT (I4): nobody who shaped this revision or an earlier one reviews it.
    if let Some(s) = parties.part_of(reviewer) {
        return Err(s.how.cannot_review(s.revision));
    }
    if &parties.decision_owner == reviewer {
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
pub fn check_owner(parties: &Parties) -> Result<(), SodViolation> {
    // INVARIANT (I4): nobody who shaped this revision or an earlier one owns it.
    match parties.part_of(&parties.decision_owner) {
        Some(s) => Err(s.how.cannot_own(s.revision)),
        None => Ok(()),
    }
}

/// Why one person may not review a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exclusion {
    pub user: UserId,
    /// Every reason, the one a refusal names first.
    pub reasons: Vec<SodViolation>,
}

/// Everyone excluded from reviewing the revision, and why: its shapers and its
/// decision owner. Sorted by user id, so the answer is the same every time.
pub fn excluded_reviewers(parties: &Parties) -> Vec<Exclusion> {
    let mut users: Vec<&UserId> = parties.shapers.iter().map(|s| &s.user).collect();
    users.push(&parties.decision_owner);
    users.sort();
    users.dedup();
    users
        .into_iter()
        .map(|user| {
            let mut parts: Vec<&Shaper> =
                parties.shapers.iter().filter(|s| &s.user == user).collect();
            parts.sort_by(|a, b| a.how.cmp(&b.how).then(b.revision.cmp(&a.revision)));
            let mut reasons: Vec<SodViolation> = parts
                .into_iter()
                .map(|s| s.how.cannot_review(s.revision))
                .collect();
            if user == &parties.decision_owner {
                reasons.push(SodViolation::OwnerCannotReview);
            }
            Exclusion {
                user: user.clone(),
                reasons,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> UserId {
        UserId::from(s)
    }

    /// Sue created the release (writing revision 1), Sam submitted it, Tom trained its
    /// model; Noah wrote revision 2 and Sue submitted it. Olivia owns it.
    fn two_revisions() -> Parties {
        let mut p = Parties::new(u("olivia"));
        p.shaped(Some(&u("sue")), Shaping::Creator, 1)
            .shaped(Some(&u("sam")), Shaping::Submitter, 1)
            .shaped(Some(&u("tom")), Shaping::Trainer, 1)
            .shaped(Some(&u("noah")), Shaping::Author, 2)
            .shaped(Some(&u("sue")), Shaping::Submitter, 2)
            .shaped(None, Shaping::Trainer, 2);
        p
    }

    #[test]
    fn i4_every_shaper_of_a_revision_or_an_earlier_one_is_refused_as_reviewer() {
        let p = two_revisions();
        let review = |who: &str| check_reviewer(&p, &u(who), Role::Security, &[]);
        assert_eq!(
            review("sue"),
            Err(SodViolation::SubmitterCannotReview { revision: 2 })
        );
        assert_eq!(
            review("sam"),
            Err(SodViolation::SubmitterCannotReview { revision: 1 })
        );
        assert_eq!(
            review("tom"),
            Err(SodViolation::TrainerCannotReview { revision: 1 })
        );
        assert_eq!(
            review("noah"),
            Err(SodViolation::AuthorCannotReview { revision: 2 })
        );
        assert_eq!(review("olivia"), Err(SodViolation::OwnerCannotReview));
        assert_eq!(review("alice"), Ok(()));
    }

    #[test]
    fn i4_a_creator_who_did_nothing_else_is_refused_as_creator() {
        let mut p = Parties::new(u("olivia"));
        p.shaped(Some(&u("sue")), Shaping::Creator, 1);
        assert_eq!(
            check_reviewer(&p, &u("sue"), Role::Mlops, &[]),
            Err(SodViolation::CreatorCannotReview)
        );
        let mut own = Parties::new(u("sue"));
        own.shaped(Some(&u("sue")), Shaping::Creator, 1);
        assert_eq!(check_owner(&own), Err(SodViolation::CreatorCannotOwn));
    }

    #[test]
    fn i4_no_shaper_may_own_the_decision() {
        for (who, want) in [
            ("sue", SodViolation::SubmitterCannotOwn { revision: 2 }),
            ("sam", SodViolation::SubmitterCannotOwn { revision: 1 }),
            ("tom", SodViolation::TrainerCannotOwn { revision: 1 }),
            ("noah", SodViolation::AuthorCannotOwn { revision: 2 }),
        ] {
            let mut p = two_revisions();
            p.decision_owner = u(who);
            assert_eq!(check_owner(&p), Err(want), "{who}");
        }
        assert_eq!(check_owner(&two_revisions()), Ok(()));
    }

    #[test]
    fn i4_one_person_fills_at_most_one_required_role() {
        let p = two_revisions();
        let existing = vec![(u("alice"), Role::Privacy)];
        assert_eq!(
            check_reviewer(&p, &u("alice"), Role::Security, &existing),
            Err(SodViolation::OneRolePerPerson {
                role: Role::Privacy
            })
        );
        assert_eq!(
            check_reviewer(&p, &u("alice"), Role::Privacy, &existing),
            Ok(())
        );
    }

    #[test]
    fn i4_the_exclusion_list_names_everyone_and_every_reason() {
        let ex = excluded_reviewers(&two_revisions());
        let users: Vec<&str> = ex.iter().map(|e| e.user.as_str()).collect();
        assert_eq!(users, ["noah", "olivia", "sam", "sue", "tom"]);
        let sue = &ex[3];
        assert_eq!(
            sue.reasons,
            [
                SodViolation::SubmitterCannotReview { revision: 2 },
                SodViolation::CreatorCannotReview,
            ]
        );
        assert_eq!(ex[1].reasons, [SodViolation::OwnerCannotReview]);
        // Each first reason is what a review by that person is refused with.
        let p = two_revisions();
        for e in &ex {
            assert_eq!(
                check_reviewer(&p, &e.user, Role::Legal, &[]),
                Err(e.reasons[0].clone())
            );
        }
    }

    #[test]
    fn codes_are_stable() {
        let all = [
            SodViolation::SubmitterCannotReview { revision: 1 },
            SodViolation::TrainerCannotReview { revision: 1 },
            SodViolation::AuthorCannotReview { revision: 1 },
            SodViolation::CreatorCannotReview,
            SodViolation::OwnerCannotReview,
            SodViolation::OneRolePerPerson { role: Role::Legal },
            SodViolation::SubmitterCannotOwn { revision: 1 },
            SodViolation::TrainerCannotOwn { revision: 1 },
            SodViolation::AuthorCannotOwn { revision: 1 },
            SodViolation::CreatorCannotOwn,
        ];
        let codes: Vec<&str> = all.iter().map(SodViolation::code).collect();
        assert_eq!(
            codes,
            [
                "submitter_cannot_review",
                "trainer_cannot_review",
                "author_cannot_review",
                "creator_cannot_review",
                "owner_cannot_review",
                "one_role_per_person",
                "submitter_cannot_own",
                "trainer_cannot_own",
                "author_cannot_own",
                "creator_cannot_own",
            ]
        );
    }
}
