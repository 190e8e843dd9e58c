//! Persistence of the push engine: targets, per-target cursor and lease, per-resource push
//! state and the HTTP call log. The engine itself lives in the `push` crate; this module only
//! reads and writes rows.
//!
//! Every write a push worker makes goes through [`lease::fence`] in the same transaction, so a
//! worker that lost its lease (stalled past `lease_until`, another replica took over) writes
//! nothing.

pub mod lease;
pub mod log;
pub mod state;
pub mod targets;
