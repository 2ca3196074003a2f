//! Webhook delivery states: where the delivery of one event to one webhook stands,
//! and what one attempt came to. The strings are the ones stored and shown in the
//! delivery log; each is written once, in its enum's table.

use crate::codes::stable_strings;

stable_strings! {
    /// Where the delivery of one event to one webhook stands.
    pub enum DeliveryState: "delivery state" {
        /// Not delivered yet; due at its next attempt time (also the lease of a
        /// claimed delivery).
        Pending = "pending",
        /// The receiver answered 2xx.
        Delivered = "delivered",
        /// Attempts exhausted; no more are made.
        Dead = "dead",
    }
}

stable_strings! {
    /// What one delivery attempt came to.
    pub enum AttemptOutcome: "delivery attempt outcome" {
        /// The receiver answered 2xx.
        Delivered = "delivered",
        /// It failed; another attempt follows after a back-off.
        Retry = "retry",
        /// It failed and was the last attempt.
        Dead = "dead",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::assert_stable;

    #[test]
    fn delivery_states_keep_their_strings() {
        assert_stable(DeliveryState::ALL, &["pending", "delivered", "dead"]);
    }

    #[test]
    fn attempt_outcomes_keep_their_strings() {
        assert_stable(AttemptOutcome::ALL, &["delivered", "retry", "dead"]);
    }
}
