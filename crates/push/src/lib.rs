//! Roster outbound provisioning: push users and groups to downstream SCIM services.
//!
//! Level-triggered convergence over the `events` cursor (see docs/PUSH.md): a worker per target
//! holds the target's lease, reads the events past its cursor to learn *which* resources
//! changed, computes each one's desired remote state from current data, and converges the
//! remote (adopt, create, update, disable, delete). Push state, the call log, audit events and
//! the cursor are committed together in a fenced transaction, after the HTTP calls, so a crash
//! replays and converges instead of losing or duplicating anything. This crate does not depend
//! on actix: the server calls [`admin`] and [`Engine`].

pub mod admin;
pub mod client;
pub mod converge;
pub mod crypto;
pub mod desired;
pub mod engine;
pub mod error;
pub mod impact;
pub mod mapping;
pub mod ondemand;
pub mod reconcile;
pub mod run;
pub mod spec;
pub mod target;
pub mod worker;

pub use crypto::SecretKey;
pub use engine::{Engine, EngineOptions};
pub use error::{Error, Result};
