//! Push engine suite: Roster pushes to real downstream SCIM servers over loopback (a second
//! Roster; faults injected by a proxy in between). Every case runs with the upstream on SQLite
//! and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod crash;
mod faults;
mod flows;
mod lifecycle;
mod scim2server;
mod webhooks;
