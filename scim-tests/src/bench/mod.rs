//! Modules of the `scim-bench` load generator (see `src/bin/scim-bench.rs`).

pub mod body;
pub mod http;
pub mod proc;
pub mod seed;
pub mod workload;
