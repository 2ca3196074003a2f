//! How people may sign in to the console: the options `serve` sets once. A leaf:
//! the unit of work holds them, the session commands read them.

use crate::oidc::OidcClient;
use std::sync::Arc;

/// How people may sign in to the console.
#[derive(Clone, Debug)]
pub struct SignInOptions {
    /// Whether an API token may be pasted to sign in (the bootstrap admin, `--demo`).
    pub token: bool,
    /// The company's OpenID Connect provider, when configured.
    pub oidc: Option<Arc<OidcClient>>,
    /// How long a console session lasts from sign-in unless it is ended first.
    pub session_lifetime: chrono::Duration,
}

impl Default for SignInOptions {
    fn default() -> Self {
        SignInOptions {
            token: true,
            oidc: None,
            session_lifetime: countersign_core::session::SESSION_LIFETIME,
        }
    }
}
