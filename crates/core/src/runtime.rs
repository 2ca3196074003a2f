//! Runtime control's codes and states (I10): what a decision answered an agent, where
//! a step-up approval request stands, and the post-action review and reported outcome
//! of an allowed action. The strings are the ones stored, sent and written to the
//! ledger; each is written once, in its enum's table.

use crate::codes::stable_strings;

stable_strings! {
    /// What a runtime decision answered an agent.
    pub enum ActionDecision: "action decision" {
        /// The action may go ahead.
        Allow = "allow",
        /// The action is refused.
        Deny = "deny",
        /// A named human must approve first; the decision created an approval request.
        StepUp = "step_up",
    }
}

stable_strings! {
    /// Where a step-up approval request stands.
    pub enum ApprovalState: "approval state" {
        /// Waiting for its assignee (past its expiry it counts as expired).
        Pending = "pending",
        /// Approved and not yet used.
        Approved = "approved",
        /// Denied by its assignee.
        Denied = "denied",
        /// Unanswered until it expired; an expired request denies.
        Expired = "expired",
        /// Approved and consumed by the one action it was for (single use).
        Used = "used",
        /// Approved, then taken back by its approver before the action used it; the
        /// action is denied.
        Revoked = "revoked",
    }
}

stable_strings! {
    /// Where the post-action review of an action allowed without a human stands.
    pub enum ReviewState: "review state" {
        /// In the system owner's post-action review queue.
        Pending = "pending",
        /// Reviewed by the system owner.
        Reviewed = "reviewed",
    }
}

stable_strings! {
    /// The system owner's verdict in a post-action review.
    pub enum PostReviewVerdict: "post-action review verdict" {
        /// Nothing to report.
        Ok = "ok",
        /// Something is wrong; a flag needs a comment.
        Flagged = "flagged",
    }
}

stable_strings! {
    /// What finally happened to an allowed action, as its agent reported.
    pub enum OutcomeStatus: "outcome status" {
        Succeeded = "succeeded",
        Failed = "failed",
        Abandoned = "abandoned",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::assert_stable;

    #[test]
    fn action_decisions_keep_their_strings() {
        assert_stable(ActionDecision::ALL, &["allow", "deny", "step_up"]);
    }

    #[test]
    fn approval_states_keep_their_strings() {
        assert_stable(
            ApprovalState::ALL,
            &[
                "pending", "approved", "denied", "expired", "used", "revoked",
            ],
        );
    }

    #[test]
    fn review_states_keep_their_strings() {
        assert_stable(ReviewState::ALL, &["pending", "reviewed"]);
    }

    #[test]
    fn post_review_verdicts_keep_their_strings() {
        assert_stable(PostReviewVerdict::ALL, &["ok", "flagged"]);
    }

    #[test]
    fn outcome_statuses_keep_their_strings() {
        assert_stable(OutcomeStatus::ALL, &["succeeded", "failed", "abandoned"]);
    }

    #[test]
    fn an_unknown_string_names_the_kind() {
        let e = "maybe".parse::<ActionDecision>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown action decision \"maybe\" (expected one of allow, deny, step_up)"
        );
    }
}
