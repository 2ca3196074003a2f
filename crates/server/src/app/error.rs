//! Why an application command or query was refused.

use countersign_core::gap::GapKey;
use countersign_core::gate::Gap;
use countersign_core::problem::ProblemCode;
use countersign_core::release::IllegalTransition;
use countersign_core::review::ReviewError;
use countersign_core::sod::SodViolation;
use countersign_core::Role;
use countersign_store::StoreError;

/// A refusal or a failure of an application function.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{what} {id:?} does not exist")]
    NotFound { what: &'static str, id: String },
    #[error("this needs one of the roles {}", roles(.needed))]
    MissingRole { needed: Vec<Role> },
    #[error("only the decision owner ({owner}) can do this")]
    NotDecisionOwner { owner: String },
    #[error("segregation of duties: {0}")]
    Segregation(#[source] SodViolation),
    #[error("{0}")]
    IllegalTransition(#[source] IllegalTransition),
    #[error("revision {given} is stale: the release is at revision {current}")]
    StaleRevision { current: u32, given: u32 },
    #[error("{what} already exists")]
    Duplicate { what: String },
    #[error("the gate is not clear: {} unmet requirement(s)", .gaps.len())]
    GateUnmet { gaps: Vec<Gap> },
    #[error("gap {gap} is a veto rejection, which no risk acceptance can clear")]
    VetoNotAcceptable { gap: GapKey },
    #[error("gap {gap} cannot be accepted as risk; fix it at its source")]
    GapNotAcceptable { gap: GapKey },
    #[error("{detail}")]
    Invalid { code: ProblemCode, detail: String },
    #[error("{0}")]
    Review(#[source] ReviewError),
    // Agents, grants and credentials (issue 5).
    #[error("agent authentication failed: {reason}")]
    AgentUnauthenticated { reason: String },
    #[error("{detail}")]
    Forbidden { code: ProblemCode, detail: String },
    // Runtime decisions (issue 6).
    #[error("{detail}")]
    Conflict { code: ProblemCode, detail: String },
    #[error("{detail}")]
    Unavailable { detail: String },
    #[error("storage failed")]
    Store(#[source] StoreError),
}

fn roles(r: &[Role]) -> String {
    r.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { what } => AppError::Duplicate { what },
            other => AppError::Store(other),
        }
    }
}

impl AppError {
    pub fn forbidden(code: ProblemCode, detail: impl Into<String>) -> Self {
        AppError::Forbidden {
            code,
            detail: detail.into(),
        }
    }

    pub fn conflict(code: ProblemCode, detail: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn invalid(code: ProblemCode, detail: impl Into<String>) -> Self {
        AppError::Invalid {
            code,
            detail: detail.into(),
        }
    }
}
