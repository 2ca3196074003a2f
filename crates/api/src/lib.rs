//! The wire contract of countersign's HTTP API, one module per area: the params a
//! request carries and the views a response shows. The server converts its records to
//! these views at the edge; the CLI sends and reads the same types. This crate does no
//! IO and depends on `countersign-core` only: never on the store, the server or axum.

pub mod access;
pub mod agents;
pub mod credentials;
pub mod gate;
pub mod grants;
pub mod health;
pub mod ledger;
pub mod lineage;
pub mod releases;
pub mod runtime;
pub mod systems;
pub mod users;
pub mod webhooks;

pub use access::*;
pub use agents::*;
pub use credentials::*;
pub use gate::*;
pub use grants::*;
pub use health::*;
pub use ledger::*;
pub use lineage::*;
pub use releases::*;
pub use runtime::*;
pub use systems::*;
pub use users::*;
pub use webhooks::*;
