//! HTTP scenario tests: a real server on a loopback port over a real database, driven
//! through the API the way users and pipelines drive it. Tests name the invariants of
//! DESIGN.md they check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod agents;
mod authorization;
mod bad_input;
mod console;
mod deadlines;
mod evaluation;
mod evidence;
mod friction;
mod gate;
mod harness;
mod idempotency;
mod ledger;
mod lifecycle;
mod lineage;
mod openapi_statuses;
mod owner;
mod retrain;
mod revisions;
mod runtime;
mod segregation;
mod shapers;
mod transparency;
mod webhooks;
mod webhooks_tls;
