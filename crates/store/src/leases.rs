//! `worker_leases`: background workers that run on one replica at a time (the webhook and
//! alert worker), each with a lease (conditional UPDATE, random fencing token, as in
//! [`crate::push::lease`]) and an event-log cursor where the worker keeps one.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::conn::DbConn;
use crate::error::{Error, Result};
use crate::schema::worker_leases;

/// Creates the row of worker `name` if it does not exist yet (cursor at `seq`).
pub fn ensure(conn: &mut DbConn, name: &str, seq: i64) -> Result<()> {
    let exists: i64 = worker_leases::table
        .filter(worker_leases::name.eq(name))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        let r = diesel::insert_into(worker_leases::table)
            .values((worker_leases::name.eq(name), worker_leases::seq.eq(seq)))
            .execute(conn);
        match r {
            Ok(_)
            | Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The cursor of worker `name`.
pub fn seq(conn: &mut DbConn, name: &str) -> Result<i64> {
    Ok(worker_leases::table
        .find(name)
        .select(worker_leases::seq)
        .get_result(conn)?)
}

/// Moves the cursor of worker `name`.
pub fn set_seq(conn: &mut DbConn, name: &str, seq: i64) -> Result<()> {
    diesel::update(worker_leases::table.find(name))
        .set(worker_leases::seq.eq(seq))
        .execute(conn)?;
    Ok(())
}

/// The process holding the lease of `name`, and until when.
pub fn holder(conn: &mut DbConn, name: &str) -> Result<(Option<String>, Option<NaiveDateTime>)> {
    Ok(worker_leases::table
        .find(name)
        .select((worker_leases::lease_owner, worker_leases::lease_until))
        .get_result(conn)?)
}

/// Takes the lease if it is free or expired; `true` when `token` now holds it.
pub fn acquire(
    conn: &mut DbConn,
    name: &str,
    owner: &str,
    token: &str,
    until: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool> {
    let n = diesel::update(
        worker_leases::table
            .filter(worker_leases::name.eq(name))
            .filter(
                worker_leases::lease_until
                    .is_null()
                    .or(worker_leases::lease_until.lt(now)),
            ),
    )
    .set((
        worker_leases::lease_owner.eq(owner),
        worker_leases::lease_token.eq(token),
        worker_leases::lease_until.eq(until),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Extends the lease held by `token` to `until`; fails with [`Error::LeaseLost`] if it is
/// gone.
pub fn renew(
    conn: &mut DbConn,
    name: &str,
    token: &str,
    until: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<()> {
    let n = diesel::update(
        worker_leases::table
            .filter(worker_leases::name.eq(name))
            .filter(worker_leases::lease_token.eq(token))
            .filter(worker_leases::lease_until.gt(now)),
    )
    .set(worker_leases::lease_until.eq(until))
    .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        Err(Error::LeaseLost)
    }
}

/// Fails with [`Error::LeaseLost`] unless `token` still holds the lease of `name` (a no-op
/// UPDATE that also row-locks it on PostgreSQL, so a takeover cannot interleave).
pub fn fence(conn: &mut DbConn, name: &str, token: &str, now: NaiveDateTime) -> Result<()> {
    let n = diesel::update(
        worker_leases::table
            .filter(worker_leases::name.eq(name))
            .filter(worker_leases::lease_token.eq(token))
            .filter(worker_leases::lease_until.gt(now)),
    )
    .set(worker_leases::lease_token.eq(worker_leases::lease_token))
    .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        Err(Error::LeaseLost)
    }
}

/// Gives the lease up (on shutdown), so another replica can take over at once.
pub fn release(conn: &mut DbConn, name: &str, token: &str) -> Result<()> {
    diesel::update(
        worker_leases::table
            .filter(worker_leases::name.eq(name))
            .filter(worker_leases::lease_token.eq(token)),
    )
    .set((
        worker_leases::lease_owner.eq(None::<String>),
        worker_leases::lease_token.eq(None::<String>),
        worker_leases::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}
