//! countersign's pure domain: no IO, no async, no clock. Time comes in as an argument.
//!
//! * [`canonical`]: canonical JSON and `sha256:` digests.
//! * [`codes`]: codes and states with their stable strings in one table ([`codes::UnknownCode`]).
//! * [`profile`]: the governance profile (tiers, tiering rules, checklists).
//! * [`release`]: kinds, attributes, bundles, the release state machine, go/no-go
//!   decisions and deployment actions.
//! * [`review`]: reviews against checklists.
//! * [`gap`]: the stable gap codes, gap keys and findings every check reports in.
//! * [`gate`]: gate evaluation (I2).
//! * [`sod`]: segregation of duties (I4).
//! * [`agent`]: an agent's status (I1).
//! * [`grant`]: agents' grants, scopes, lifecycle and attenuation (I8, I9).
//! * [`runtime`]: runtime decisions, approval, post-action review and outcome states (I10).
//! * [`delivery`]: webhook delivery states and attempt outcomes.
//! * [`lineage`]: lineage validation (I6).
//! * [`eval`]: evaluation gates and eval report parsing (I7).
//! * [`friction`]: friction against rubber-stamping (time with the context, opened
//!   evidence, a typed digest).
//! * [`retrain`]: a retrain stays inside its promoted baseline's approved scope.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod agent;
pub mod canonical;
pub mod codes;
pub mod delivery;
pub mod eval;
pub mod friction;
pub mod gap;
pub mod gate;
pub mod grant;
pub mod ids;
pub mod lineage;
pub mod oidc;
pub mod problem;
pub mod profile;
pub mod release;
pub mod retrain;
pub mod review;
pub mod role;
pub mod runtime;
pub mod session;
pub mod sod;

pub use canonical::Digest;
pub use ids::{AgentId, GrantId, ReleaseId, SystemId, UserId};
pub use role::Role;
