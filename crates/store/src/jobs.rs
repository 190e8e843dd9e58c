//! The scheduler's due work (`scheduled_jobs`): one row per job, found again after a restart.
//!
//! Jobs are keyed by what they settle: `user:ID` (a lifecycle date or a grace expiry of that
//! user is due), `rule:ID` (existing users are re-evaluated after a rule changed) and
//! `governance` (undecided access requests and time-bound memberships reach their end, see
//! [`crate::governance`]). A replica
//! [`claim`]s a due job with a conditional UPDATE (only one replica's UPDATE matches the row
//! while it is unclaimed or its claim has lapsed), then runs it in a write transaction that
//! starts with [`finish`]: deleting the row *as its claimer*. If another replica took the job
//! over after a lapsed claim, that delete matches nothing and the transaction is rolled back,
//! so the effect of a job is committed once, whatever the number of replicas.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::conn::DbConn;
use crate::error::Result;
use crate::schema::scheduled_jobs;

/// The job that settles a user's dates and grace expiries.
pub fn user_job(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// The job that re-evaluates existing users after a rule change.
pub fn rule_job(rule_id: &str) -> String {
    format!("rule:{rule_id}")
}

/// A scheduled job.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Job {
    /// `user:ID` or `rule:ID`.
    pub id: String,
    /// When it is due.
    pub due: NaiveDateTime,
    /// The replica working on it, if claimed.
    pub claimed_by: Option<String>,
    /// Until when the claim holds.
    pub claimed_until: Option<NaiveDateTime>,
    /// Failed attempts so far.
    pub attempts: i64,
    /// The last failure.
    pub last_error: Option<String>,
}

/// Schedules job `id` at `due` (moving it if it exists; a claim in progress is kept).
pub fn schedule(conn: &mut DbConn, id: &str, due: NaiveDateTime) -> Result<()> {
    let n = diesel::update(scheduled_jobs::table.find(id))
        .set(scheduled_jobs::due.eq(due))
        .execute(conn)?;
    if n == 0 {
        insert(conn, id, due)?;
    }
    Ok(())
}

fn insert(conn: &mut DbConn, id: &str, due: NaiveDateTime) -> Result<()> {
    diesel::insert_into(scheduled_jobs::table)
        .values((
            scheduled_jobs::id.eq(id),
            scheduled_jobs::due.eq(due),
            scheduled_jobs::attempts.eq(0i64),
        ))
        .execute(conn)?;
    Ok(())
}

/// Schedules job `id` at `due` unless it is already due earlier (a claim in progress is kept:
/// the running job settles on its next deadline itself when it finishes).
pub fn schedule_no_later(conn: &mut DbConn, id: &str, due: NaiveDateTime) -> Result<()> {
    let n = diesel::update(
        scheduled_jobs::table
            .filter(scheduled_jobs::id.eq(id))
            .filter(scheduled_jobs::due.gt(due)),
    )
    .set(scheduled_jobs::due.eq(due))
    .execute(conn)?;
    if n == 0 && get(conn, id)?.is_none() {
        insert(conn, id, due)?;
    }
    Ok(())
}

/// Removes job `id` (nothing is due any more).
pub fn cancel(conn: &mut DbConn, id: &str) -> Result<()> {
    diesel::delete(scheduled_jobs::table.find(id)).execute(conn)?;
    Ok(())
}

/// One job, if scheduled.
pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<Job>> {
    Ok(scheduled_jobs::table
        .find(id)
        .select(scheduled_jobs::all_columns)
        .first(conn)
        .optional()?)
}

/// Up to `limit` jobs due at `now` and not claimed (or whose claim lapsed), earliest first.
pub fn due(conn: &mut DbConn, now: NaiveDateTime, limit: i64) -> Result<Vec<Job>> {
    Ok(scheduled_jobs::table
        .filter(scheduled_jobs::due.le(now))
        .filter(
            scheduled_jobs::claimed_until
                .is_null()
                .or(scheduled_jobs::claimed_until.lt(now)),
        )
        .order((scheduled_jobs::due.asc(), scheduled_jobs::id.asc()))
        .limit(limit)
        .select(scheduled_jobs::all_columns)
        .load(conn)?)
}

/// Claims a due job for `owner` until `until`; false if another replica holds it or it is no
/// longer due (a conditional UPDATE: exactly one claimer wins).
pub fn claim(
    conn: &mut DbConn,
    id: &str,
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<bool> {
    let n = diesel::update(
        scheduled_jobs::table
            .filter(scheduled_jobs::id.eq(id))
            .filter(scheduled_jobs::due.le(now))
            .filter(
                scheduled_jobs::claimed_until
                    .is_null()
                    .or(scheduled_jobs::claimed_until.lt(now)),
            ),
    )
    .set((
        scheduled_jobs::claimed_by.eq(owner),
        scheduled_jobs::claimed_until.eq(until),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Deletes a claimed job as its claimer (first statement of the job's write transaction);
/// false if `owner` no longer holds it.
pub fn finish(conn: &mut DbConn, id: &str, owner: &str) -> Result<bool> {
    let n = diesel::delete(
        scheduled_jobs::table
            .filter(scheduled_jobs::id.eq(id))
            .filter(scheduled_jobs::claimed_by.eq(owner)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Releases a claimed job that failed: due again at `retry_at`, with the error recorded.
pub fn fail(
    conn: &mut DbConn,
    id: &str,
    owner: &str,
    error: &str,
    retry_at: NaiveDateTime,
) -> Result<()> {
    diesel::update(
        scheduled_jobs::table
            .filter(scheduled_jobs::id.eq(id))
            .filter(scheduled_jobs::claimed_by.eq(owner)),
    )
    .set((
        scheduled_jobs::due.eq(retry_at),
        scheduled_jobs::claimed_by.eq(None::<String>),
        scheduled_jobs::claimed_until.eq(None::<NaiveDateTime>),
        scheduled_jobs::attempts.eq(scheduled_jobs::attempts + 1),
        scheduled_jobs::last_error.eq(error),
    ))
    .execute(conn)?;
    Ok(())
}

/// Number of scheduled jobs (status, tests).
pub fn count(conn: &mut DbConn) -> Result<i64> {
    Ok(scheduled_jobs::table.count().get_result(conn)?)
}

/// Extends `owner`'s claim of a job until `until`; false if `owner` no longer holds it.
pub fn claim_renew(conn: &mut DbConn, id: &str, owner: &str, until: NaiveDateTime) -> Result<bool> {
    let n = diesel::update(
        scheduled_jobs::table
            .filter(scheduled_jobs::id.eq(id))
            .filter(scheduled_jobs::claimed_by.eq(owner)),
    )
    .set(scheduled_jobs::claimed_until.eq(until))
    .execute(conn)?;
    Ok(n == 1)
}
