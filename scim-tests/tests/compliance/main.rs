//! Black-box compliance suite: one test binary, every case on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod auth;
mod authz;
mod bulk;
mod concurrency;
mod cursor;
mod discovery;
mod events;
mod external_id;
mod filter_agreement;
mod filters;
mod governance;
mod groups;
mod import;
mod lifecycle;
mod limits;
mod outage;
mod patch;
mod protected;
mod schema;
mod secrets;
mod unicode;
mod users;
mod year;
