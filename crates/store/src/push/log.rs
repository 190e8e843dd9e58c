//! `push_log`: every HTTP call made to a target.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::conn::DbConn;
use crate::error::Result;
use crate::schema::push_log;

/// One logged call.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = push_log)]
pub struct LogEntry {
    /// Increasing id (the paging cursor).
    pub id: i64,
    /// The target.
    pub target_id: String,
    /// When the call started.
    pub at: NaiveDateTime,
    /// The process that made it.
    pub owner: String,
    /// `User` or `Group`, when the call concerned one resource.
    pub resource_type: Option<String>,
    /// The Roster id of that resource.
    pub resource_id: Option<String>,
    /// HTTP method.
    pub method: String,
    /// URL path and query (never credentials).
    pub path: String,
    /// HTTP status, if a response arrived.
    pub status: Option<i64>,
    /// Latency in milliseconds.
    pub latency_ms: i64,
    /// Transport error or the remote's error detail.
    pub error: Option<String>,
}

/// A call to log.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = push_log)]
pub struct NewLogEntry {
    /// The target.
    pub target_id: String,
    /// When the call started.
    pub at: NaiveDateTime,
    /// The process that made it.
    pub owner: String,
    /// `User` or `Group`.
    pub resource_type: Option<String>,
    /// The Roster id.
    pub resource_id: Option<String>,
    /// HTTP method.
    pub method: String,
    /// URL path and query.
    pub path: String,
    /// HTTP status.
    pub status: Option<i64>,
    /// Latency in milliseconds.
    pub latency_ms: i64,
    /// Error text.
    pub error: Option<String>,
}

/// Appends calls (PostgreSQL: multi-row inserts, one round trip per 1,000 calls; SQLite is
/// in-process, one statement per row costs no round trip).
pub fn insert(conn: &mut DbConn, entries: &[NewLogEntry]) -> Result<()> {
    match conn {
        DbConn::Postgres(c) => {
            for chunk in entries.chunks(1000) {
                diesel::insert_into(push_log::table)
                    .values(chunk)
                    .execute(c)?;
            }
        }
        DbConn::Sqlite(c) => {
            for e in entries {
                diesel::insert_into(push_log::table).values(e).execute(c)?;
            }
        }
    }
    Ok(())
}

/// A page of a target's log, newest first, with ids below `before` (if given).
pub fn page(
    conn: &mut DbConn,
    target_id: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<LogEntry>> {
    let mut q = push_log::table
        .filter(push_log::target_id.eq(target_id))
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(push_log::id.lt(b));
    }
    Ok(q.order(push_log::id.desc())
        .limit(limit)
        .select(LogEntry::as_select())
        .load(conn)?)
}
