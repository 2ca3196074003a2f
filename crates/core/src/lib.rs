//! countersign's pure domain: no IO, no async, no clock. Time comes in as an argument.
//!
//! * [`canonical`]: canonical JSON and `sha256:` digests.
//! * [`profile`]: the governance profile (tiers, tiering rules, checklists).
//! * [`release`]: kinds, attributes, bundles, the release state machine.
//! * [`review`]: reviews against checklists.
//! * [`gap`]: the stable gap codes, gap keys and findings every check reports in.
//! * [`gate`]: gate evaluation (I2).
//! * [`sod`]: segregation of duties (I4).
//! * [`grant`]: agents' grants, scopes, lifecycle and attenuation (I8, I9).
//! * [`lineage`]: lineage validation (I6).
//! * [`eval`]: evaluation gates and eval report parsing (I7).
//! * [`retrain`]: a retrain stays inside its promoted baseline's approved scope.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod canonical;
pub mod eval;
pub mod gap;
pub mod gate;
pub mod grant;
pub mod ids;
pub mod lineage;
pub mod profile;
pub mod release;
pub mod retrain;
pub mod review;
pub mod role;
pub mod sod;

pub use canonical::Digest;
pub use ids::{AgentId, GrantId, ReleaseId, SystemId, UserId};
pub use role::Role;
