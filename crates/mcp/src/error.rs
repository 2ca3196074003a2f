//! The crate's errors.

/// Why the gateway could not do something.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("cannot reach countersign at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("countersign refused {what}: {detail} ({status} {code})")]
    Refused {
        what: String,
        status: u16,
        code: String,
        detail: String,
    },
    #[error("countersign answered {what} with a body that is not {expected}")]
    BadAnswer {
        what: String,
        expected: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot start the upstream MCP server {program:?}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {what}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// An error and its causes on one line, for texts a model or a person reads.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}
