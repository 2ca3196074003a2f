//! Agents (I1): an agent workload's lifecycle status.

use crate::codes::stable_strings;

stable_strings! {
    /// Whether an agent may authenticate and act.
    pub enum AgentStatus: "agent status" {
        /// It authenticates, is issued credentials and is decided for.
        Active = "active",
        /// Suspended (by its owner, an admin or security, or when its release is rolled
        /// back or retired): its credentials are revoked and it cannot authenticate.
        Suspended = "suspended",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::assert_stable;

    #[test]
    fn agent_statuses_keep_their_strings() {
        assert_stable(AgentStatus::ALL, &["active", "suspended"]);
    }
}
