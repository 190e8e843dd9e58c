//! `push_state`: what was last pushed of each resource to each target, and what is pending.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::conn::DbConn;
use crate::error::Result;
use crate::schema::push_state;

/// The remote matches `pushed_hash`.
pub const SYNCED: &str = "synced";
/// The remote account is disabled (`active: false`) by deprovisioning.
pub const DISABLED: &str = "disabled";
/// The remote object was deleted (or never existed and is not wanted).
pub const DELETED: &str = "deleted";
/// A retryable failure; tried again at `next_attempt_at`.
pub const RETRYING: &str = "retrying";
/// A failure retrying cannot fix (the remote refused the data); `last_error` says why.
pub const FAILED: &str = "failed";

/// One resource's push state on one target.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = push_state, treat_none_as_null = true)]
pub struct StateRow {
    /// The target.
    pub target_id: String,
    /// `User` or `Group`.
    pub resource_type: String,
    /// The Roster id.
    pub resource_id: String,
    /// The id the remote gave the object.
    pub remote_id: Option<String>,
    /// Hash of the desired state last pushed successfully.
    pub pushed_hash: Option<String>,
    /// The document last pushed (to send only differences next time).
    pub pushed_doc: Option<String>,
    /// How to find the remote object again without its id (JSON: `userName`, `externalId`
    /// or `displayName`), recorded before the first create is sent.
    pub remote_key: Option<String>,
    /// One of the status constants.
    pub status: String,
    /// Failed attempts since the last success.
    pub attempts: i64,
    /// When to try again (retrying).
    pub next_attempt_at: Option<NaiveDateTime>,
    /// The last error (remote detail or transport error).
    pub last_error: Option<String>,
    /// Last change of this row.
    pub updated: NaiveDateTime,
}

/// The rows of `ids` (of one type) on a target.
pub fn get_many(
    conn: &mut DbConn,
    target_id: &str,
    resource_type: &str,
    ids: &[String],
) -> Result<Vec<StateRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        out.extend(
            push_state::table
                .filter(push_state::target_id.eq(target_id))
                .filter(push_state::resource_type.eq(resource_type))
                .filter(push_state::resource_id.eq_any(chunk))
                .select(StateRow::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// Inserts or replaces a row (the caller holds the target's lease).
pub fn upsert(conn: &mut DbConn, row: &StateRow) -> Result<()> {
    let n = diesel::update(push_state::table.find((
        &row.target_id,
        &row.resource_type,
        &row.resource_id,
    )))
    .set(row)
    .execute(conn)?;
    if n == 0 {
        diesel::insert_into(push_state::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// Inserts or replaces many rows (PostgreSQL: one `INSERT … ON CONFLICT DO UPDATE` per 500
/// rows; SQLite: [`upsert`] per row, in-process).
pub fn upsert_many(conn: &mut DbConn, rows: &[StateRow]) -> Result<()> {
    match conn {
        DbConn::Postgres(c) => {
            use diesel::upsert::excluded;
            // one statement cannot touch a row twice: keep the last row per key
            let mut last: std::collections::HashMap<(&str, &str, &str), usize> =
                std::collections::HashMap::new();
            for (i, r) in rows.iter().enumerate() {
                last.insert((&r.target_id, &r.resource_type, &r.resource_id), i);
            }
            let mut keep: Vec<usize> = last.into_values().collect();
            keep.sort_unstable();
            let rows: Vec<&StateRow> = keep.into_iter().map(|i| &rows[i]).collect();
            for chunk in rows.chunks(500) {
                let chunk: Vec<StateRow> = chunk.iter().map(|r| (*r).clone()).collect();
                diesel::insert_into(push_state::table)
                    .values(&chunk)
                    .on_conflict((
                        push_state::target_id,
                        push_state::resource_type,
                        push_state::resource_id,
                    ))
                    .do_update()
                    .set((
                        push_state::remote_id.eq(excluded(push_state::remote_id)),
                        push_state::pushed_hash.eq(excluded(push_state::pushed_hash)),
                        push_state::pushed_doc.eq(excluded(push_state::pushed_doc)),
                        push_state::remote_key.eq(excluded(push_state::remote_key)),
                        push_state::status.eq(excluded(push_state::status)),
                        push_state::attempts.eq(excluded(push_state::attempts)),
                        push_state::next_attempt_at.eq(excluded(push_state::next_attempt_at)),
                        push_state::last_error.eq(excluded(push_state::last_error)),
                        push_state::updated.eq(excluded(push_state::updated)),
                    ))
                    .execute(c)?;
            }
            Ok(())
        }
        DbConn::Sqlite(_) => {
            for r in rows {
                upsert(conn, r)?;
            }
            Ok(())
        }
    }
}

/// Resources whose retry is due, oldest first.
pub fn due(
    conn: &mut DbConn,
    target_id: &str,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<(String, String)>> {
    Ok(push_state::table
        .filter(push_state::target_id.eq(target_id))
        .filter(push_state::status.eq(RETRYING))
        .filter(push_state::next_attempt_at.le(now))
        .order(push_state::next_attempt_at.asc())
        .limit(limit)
        .select((push_state::resource_type, push_state::resource_id))
        .load(conn)?)
}

/// The earliest pending retry, if any.
pub fn next_due(conn: &mut DbConn, target_id: &str) -> Result<Option<NaiveDateTime>> {
    Ok(push_state::table
        .filter(push_state::target_id.eq(target_id))
        .filter(push_state::status.eq(RETRYING))
        .select(diesel::dsl::min(push_state::next_attempt_at))
        .first::<Option<NaiveDateTime>>(conn)?)
}

/// Number of rows per status.
pub fn counts(conn: &mut DbConn, target_id: &str) -> Result<Vec<(String, i64)>> {
    Ok(push_state::table
        .filter(push_state::target_id.eq(target_id))
        .group_by(push_state::status)
        .select((push_state::status, diesel::dsl::count_star()))
        .load(conn)?)
}

/// Puts every failed item back in the retry queue, due now; returns how many.
pub fn retry_failed(conn: &mut DbConn, target_id: &str, now: NaiveDateTime) -> Result<usize> {
    Ok(diesel::update(
        push_state::table
            .filter(push_state::target_id.eq(target_id))
            .filter(push_state::status.eq(FAILED)),
    )
    .set((
        push_state::status.eq(RETRYING),
        push_state::attempts.eq(0i64),
        push_state::next_attempt_at.eq(now),
        push_state::updated.eq(now),
    ))
    .execute(conn)?)
}

/// A page of rows with one status (ordered by type and id, after `after`).
pub fn with_status(
    conn: &mut DbConn,
    target_id: &str,
    status: &str,
    limit: i64,
) -> Result<Vec<StateRow>> {
    Ok(push_state::table
        .filter(push_state::target_id.eq(target_id))
        .filter(push_state::status.eq(status))
        .order((
            push_state::resource_type.asc(),
            push_state::resource_id.asc(),
        ))
        .limit(limit)
        .select(StateRow::as_select())
        .load(conn)?)
}

/// Every row of one type that has a remote object, after `after` by id (reconciliation).
pub fn with_remote(
    conn: &mut DbConn,
    target_id: &str,
    resource_type: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<StateRow>> {
    Ok(push_state::table
        .filter(push_state::target_id.eq(target_id))
        .filter(push_state::resource_type.eq(resource_type))
        .filter(push_state::remote_id.is_not_null())
        .filter(push_state::resource_id.gt(after))
        .order(push_state::resource_id.asc())
        .limit(limit)
        .select(StateRow::as_select())
        .load(conn)?)
}

/// The row whose remote object has `remote_id`, if any.
pub fn by_remote_id(
    conn: &mut DbConn,
    target_id: &str,
    resource_type: &str,
    remote_id: &str,
) -> Result<Option<StateRow>> {
    Ok(push_state::table
        .filter(push_state::target_id.eq(target_id))
        .filter(push_state::resource_type.eq(resource_type))
        .filter(push_state::remote_id.eq(remote_id))
        .select(StateRow::as_select())
        .first(conn)
        .optional()?)
}
