//! Roster's server: the SCIM 2.0 HTTP API (actix-web), bearer-token auth, and the `roster` CLI.

pub mod auth;
pub mod cli;
pub mod cli_audit;
pub mod cli_import;
pub mod cli_rule;
pub mod cli_target;
pub mod config;
pub mod db;
pub mod error;
pub mod import;
pub mod metrics;
pub mod password;
pub mod routes;
pub mod scheduler;
pub mod schemas;
pub mod startup;
pub mod state;
pub mod telemetry;
