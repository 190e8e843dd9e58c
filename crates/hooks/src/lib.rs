//! Roster webhooks and alerts (docs/governance.md).
//!
//! Both are derived from the `events` log, like the push engine: one worker per process holds
//! the `hooks` lease (so exactly one replica works), and
//!
//! - the **alert watcher** ([`alerts`]) reads the log past its cursor and appends `alert`
//!   events (actor `system:alerts`) for mass deprovisioning, changes to protected or
//!   approval-required groups, paused targets, SoD violation attempts and a broken hash chain,
//!   in the same transaction that moves its cursor;
//! - the **webhook worker** ([`worker`]) reads the log past each webhook's cursor, maps each
//!   event to webhook event types ([`classify`]), enqueues one durable delivery per
//!   subscribed type in the transaction that moves the cursor, and sends them in order, signed
//!   ([`sign`]), retrying with backoff until the receiver answers 2xx.
//!
//! This crate does not know actix: the server calls [`admin`] and runs [`Engine`].

pub mod admin;
pub mod alerts;
pub mod classify;
pub mod deliver;
pub mod error;
pub mod sign;
pub mod spec;
pub mod worker;

pub use error::{Error, Result};
pub use worker::{Engine, Options};
