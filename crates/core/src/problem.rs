//! The stable codes of every refusal countersign answers with: the `<code>` of a
//! problem's type `urn:countersign:problem:<code>`, and what clients, the console and
//! the MCP gateway match on. Each code's string is written once, in the table below;
//! a code never changes meaning once released.
//!
//! Two families are built from a value instead of listed: `<thing>-not-found` (a
//! named object does not exist, e.g. `release-not-found`) and
//! `segregation-of-duties/<violation>` (see [`crate::sod`]).

use crate::codes::stable_strings;

stable_strings! {
    /// A stable refusal code.
    pub enum ProblemCode: "problem code" {
        ActionNotAllowed = "action-not-allowed",
        AgentSuspended = "agent-suspended",
        AlreadyExists = "already-exists",
        ApprovalAnswered = "approval-answered",
        ApprovalExpired = "approval-expired",
        BodyTooLarge = "body-too-large",
        BundleUnchanged = "bundle-unchanged",
        CorruptKey = "corrupt-key",
        CrossSiteRequest = "cross-site-request",
        DelegationChangesTask = "delegation-changes-task",
        DelegationTooDeep = "delegation-too-deep",
        Demo = "demo",
        EnvironmentNotApproved = "environment-not-approved",
        EvidenceClosed = "evidence-closed",
        FreshSignInRequired = "fresh-sign-in-required",
        /// A friction rule (see [`crate::friction`]): the digest was not typed right.
        FrictionConfirmDigest = "friction-confirm-digest",
        /// A friction rule: too little time with the context since first opening it.
        FrictionMinReviewSeconds = "friction-min-review-seconds",
        /// A friction rule: a required evidence document was not opened.
        FrictionRequireOpenedEvidence = "friction-require-opened-evidence",
        GapNotAcceptable = "gap-not-acceptable",
        GateUnmet = "gate-unmet",
        GrantNotCertifiable = "grant-not-certifiable",
        GrantNotPending = "grant-not-pending",
        GrantRevoked = "grant-revoked",
        IdempotencyKeyReused = "idempotency-key-reused",
        IllegalTransition = "illegal-transition",
        /// An AuthZEN evaluation without a subject, action or resource.
        IncompleteEvaluation = "incomplete-evaluation",
        Internal = "internal",
        InvalidAction = "invalid-action",
        InvalidAgent = "invalid-agent",
        InvalidAttributes = "invalid-attributes",
        InvalidBody = "invalid-body",
        InvalidClient = "invalid-client",
        /// A witness's cosignature that does not verify over one of the log's checkpoints.
        InvalidCosignature = "invalid-cosignature",
        InvalidContext = "invalid-context",
        InvalidCredential = "invalid-credential",
        InvalidDigest = "invalid-digest",
        InvalidEmail = "invalid-email",
        InvalidEnvironment = "invalid-environment",
        InvalidExpiry = "invalid-expiry",
        InvalidGrant = "invalid-grant",
        InvalidIdempotencyKey = "invalid-idempotency-key",
        InvalidJustification = "invalid-justification",
        InvalidLabel = "invalid-label",
        InvalidLifetime = "invalid-lifetime",
        InvalidLineage = "invalid-lineage",
        InvalidName = "invalid-name",
        InvalidOutcome = "invalid-outcome",
        InvalidPolicySet = "invalid-policy-set",
        InvalidPublicKey = "invalid-public-key",
        InvalidQuery = "invalid-query",
        InvalidReason = "invalid-reason",
        InvalidResource = "invalid-resource",
        InvalidReview = "invalid-review",
        InvalidRevocation = "invalid-revocation",
        InvalidScope = "invalid-scope",
        InvalidSubjectToken = "invalid-subject-token",
        InvalidSystem = "invalid-system",
        InvalidTask = "invalid-task",
        InvalidTitle = "invalid-title",
        InvalidTokenRequest = "invalid-token-request",
        /// A ledger tree size or entry outside the tree, or sizes out of order.
        InvalidTreeSize = "invalid-tree-size",
        InvalidVerdict = "invalid-verdict",
        InvalidWebhook = "invalid-webhook",
        MalformedJson = "malformed-json",
        MethodNotAllowed = "method-not-allowed",
        MissingComment = "missing-comment",
        MissingReason = "missing-reason",
        MissingRole = "missing-role",
        NoAdmin = "no-admin",
        NoPolicyDirectory = "no-policy-directory",
        NotAnApprover = "not-an-approver",
        NotAnOwner = "not-an-owner",
        NotAssignee = "not-assignee",
        NotDecisionOwner = "not-decision-owner",
        NotFound = "not-found",
        NotInReview = "not-in-review",
        NotInReviewQueue = "not-in-review-queue",
        NotReady = "not-ready",
        NotSystemOwner = "not-system-owner",
        OutcomeReported = "outcome-reported",
        ReleaseNotInProduction = "release-not-in-production",
        RoleNotRequired = "role-not-required",
        RouteNotFound = "route-not-found",
        ScopeBeyondDelegator = "scope-beyond-delegator",
        ScopeNotGranted = "scope-not-granted",
        SelfApproval = "self-approval",
        SessionEnded = "session-ended",
        SignInFailed = "sign-in-failed",
        StaleRevision = "stale-revision",
        /// An AuthZEN subject that is not the agent whose credential asks.
        SubjectNotCredential = "subject-not-credential",
        TokenSignInOff = "token-sign-in-off",
        TrainerMismatch = "trainer-mismatch",
        Unauthenticated = "unauthenticated",
        Unavailable = "unavailable",
        UnknownDataset = "unknown-dataset",
        UnknownEvidenceKind = "unknown-evidence-kind",
        UnknownGap = "unknown-gap",
        UnknownOwner = "unknown-owner",
        UnknownPerson = "unknown-person",
        UnknownRelease = "unknown-release",
        UnknownSystem = "unknown-system",
        UnknownTier = "unknown-tier",
        UnknownTrainer = "unknown-trainer",
        UnreadableBody = "unreadable-body",
        Unserializable = "unserializable",
        UnsupportedGrantType = "unsupported-grant-type",
        UnsupportedMediaType = "unsupported-media-type",
        VetoNotAcceptable = "veto-not-acceptable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_code_is_unique_kebab_case_and_round_trips() {
        let strings: Vec<&str> = ProblemCode::ALL.iter().map(|c| c.as_str()).collect();
        crate::codes::assert_stable(ProblemCode::ALL, &strings);
        let unique: BTreeSet<&str> = strings.iter().copied().collect();
        assert_eq!(unique.len(), strings.len(), "a code is listed twice");
        for c in &strings {
            assert!(
                c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{c} is not kebab-case"
            );
        }
    }

    #[test]
    fn the_codes_clients_match_on_keep_their_strings() {
        assert_eq!(
            ProblemCode::IdempotencyKeyReused.as_str(),
            "idempotency-key-reused"
        );
        assert_eq!(ProblemCode::GateUnmet.as_str(), "gate-unmet");
        assert_eq!(ProblemCode::StaleRevision.as_str(), "stale-revision");
        assert_eq!(
            ProblemCode::InvalidCredential.to_string(),
            "invalid-credential"
        );
    }
}
