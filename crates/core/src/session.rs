//! Console sessions: how a person signed in, and when a session still counts. A
//! session ends at its expiry or when it is ended (sign-out, revocation), whichever
//! comes first; a high-impact approval may also ask that the sign-in itself be recent.

use crate::codes::stable_strings;
use chrono::{DateTime, Duration, Utc};

stable_strings! {
    /// How a console session's person proved who they are.
    pub enum SignInMethod: "sign-in method" {
        /// An API token pasted on the sign-in page (the bootstrap admin, `--demo`).
        Token = "token",
        /// The company's OpenID Connect provider.
        Oidc = "oidc",
    }
}

/// How long a console session lasts from sign-in unless it is ended first.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);

/// Where a session stands at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    Live,
    /// Past its expiry.
    Expired,
    /// Ended by sign-out or revocation.
    Ended,
}

/// The state of a session created with `expires_at` and `ended_at`, at `now`.
pub fn session_state(
    expires_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> SessionState {
    match ended_at {
        Some(end) if end <= now => SessionState::Ended,
        _ if now >= expires_at => SessionState::Expired,
        _ => SessionState::Live,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_session_is_live_until_it_expires_or_ends() {
        let t = |h| Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap();
        assert_eq!(session_state(t(12), None, t(11)), SessionState::Live);
        assert_eq!(session_state(t(12), None, t(12)), SessionState::Expired);
        assert_eq!(
            session_state(t(12), Some(t(10)), t(11)),
            SessionState::Ended
        );
        assert_eq!(
            session_state(t(12), Some(t(10)), t(13)),
            SessionState::Ended
        );
        assert_eq!(SignInMethod::Oidc.as_str(), "oidc");
        assert_eq!(
            "token".parse::<SignInMethod>().ok(),
            Some(SignInMethod::Token)
        );
    }
}
