//! `push_cursors`: per target, the event-log cursor, the full-sync position and the lease.
//!
//! A lease is taken with a conditional UPDATE (`lease_until` past or empty) and carries a random
//! token. Every later write of the holder goes through [`fence`], which touches the row only if
//! the token is still there and unexpired: on PostgreSQL that UPDATE also row-locks the cursor,
//! so a takeover and a late write cannot interleave.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::conn::DbConn;
use crate::error::{Error, Result};
use crate::schema::push_cursors;

/// The full-sync position of a new target: users from the start.
pub const FULL_SYNC_START: &str = "User:";

/// A target's cursor row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = push_cursors)]
pub struct Cursor {
    /// The target.
    pub target_id: String,
    /// The last event seq whose changes are pushed.
    pub seq: i64,
    /// `User:<last id>` or `Group:<last id>` while a full sync runs; `None` when none is due.
    pub full_sync: Option<String>,
    /// The process holding the lease.
    pub lease_owner: Option<String>,
    /// The holder's fencing token.
    pub lease_token: Option<String>,
    /// When the lease ends unless renewed.
    pub lease_until: Option<NaiveDateTime>,
}

/// The cursor of `target_id`.
pub fn get(conn: &mut DbConn, target_id: &str) -> Result<Cursor> {
    Ok(push_cursors::table
        .find(target_id)
        .select(Cursor::as_select())
        .first(conn)?)
}

/// Takes the lease if it is free or expired; `true` when `token` now holds it.
pub fn acquire(
    conn: &mut DbConn,
    target_id: &str,
    owner: &str,
    token: &str,
    until: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool> {
    let n = diesel::update(
        push_cursors::table
            .filter(push_cursors::target_id.eq(target_id))
            .filter(
                push_cursors::lease_until
                    .is_null()
                    .or(push_cursors::lease_until.lt(now)),
            ),
    )
    .set((
        push_cursors::lease_owner.eq(owner),
        push_cursors::lease_token.eq(token),
        push_cursors::lease_until.eq(until),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Extends the lease held by `token`; fails with [`Error::LeaseLost`] if it is gone.
pub fn renew(
    conn: &mut DbConn,
    target_id: &str,
    token: &str,
    until: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<()> {
    let n = diesel::update(held(target_id, token, now))
        .set(push_cursors::lease_until.eq(until))
        .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        Err(Error::LeaseLost)
    }
}

/// Gives the lease up (on shutdown), so another replica can take over at once.
pub fn release(conn: &mut DbConn, target_id: &str, token: &str) -> Result<()> {
    diesel::update(
        push_cursors::table
            .filter(push_cursors::target_id.eq(target_id))
            .filter(push_cursors::lease_token.eq(token)),
    )
    .set((
        push_cursors::lease_owner.eq(None::<String>),
        push_cursors::lease_token.eq(None::<String>),
        push_cursors::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}

type Held = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<push_cursors::table, diesel::dsl::Eq<push_cursors::target_id, String>>,
        diesel::dsl::Eq<push_cursors::lease_token, String>,
    >,
    diesel::dsl::Gt<push_cursors::lease_until, NaiveDateTime>,
>;

fn held(target_id: &str, token: &str, now: NaiveDateTime) -> Held {
    push_cursors::table
        .filter(push_cursors::target_id.eq(target_id.to_string()))
        .filter(push_cursors::lease_token.eq(token.to_string()))
        .filter(push_cursors::lease_until.gt(now))
}

/// Fails with [`Error::LeaseLost`] unless `token` still holds the lease; call it first in every
/// transaction that writes push state.
pub fn fence(conn: &mut DbConn, target_id: &str, token: &str, now: NaiveDateTime) -> Result<()> {
    let n = diesel::update(held(target_id, token, now))
        .set(push_cursors::lease_token.eq(push_cursors::lease_token))
        .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        Err(Error::LeaseLost)
    }
}

/// Moves the cursor (after the push state of everything up to `seq` is committed).
pub fn advance(conn: &mut DbConn, target_id: &str, seq: i64) -> Result<()> {
    diesel::update(push_cursors::table.find(target_id))
        .set(push_cursors::seq.eq(seq))
        .execute(conn)?;
    Ok(())
}

/// Sets the full-sync position (`None`: finished).
pub fn set_full_sync(conn: &mut DbConn, target_id: &str, position: Option<&str>) -> Result<()> {
    diesel::update(push_cursors::table.find(target_id))
        .set(push_cursors::full_sync.eq(position))
        .execute(conn)?;
    Ok(())
}
