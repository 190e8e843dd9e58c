//! The one write transaction.
//!
//! [`Store::write`](crate::Store::write) opens a transaction and calls [`run`]: it first updates
//! the single `event_head` row (a row lock on PostgreSQL; on SQLite the first statement is a
//! write, so the database write lock is taken at once and `busy_timeout` applies). All writers are
//! therefore serialised at the head, which makes `events.seq` gap-free and equal to commit order.
//! The closure then changes rows through [`Tx`], which appends events and history in the same
//! transaction; the head is written back last.

use std::collections::HashSet;

use chrono::{DurationRound, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;

use crate::conn::DbConn;
use crate::error::Result;
use crate::events::{self, NewEvent};
use crate::protected::ProtectedGroups;
use crate::schema::event_head;

/// Who is writing, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct WriteCtx {
    /// Human name of the actor (token name, `cli`, `system`).
    pub actor: String,
    /// Stable id of the actor (token `jti`), if any.
    pub actor_id: Option<String>,
    /// The HTTP request id, if the write comes from a request.
    pub request_id: Option<String>,
    /// Groups whose membership this writer may not change (a SCIM token without `admin`);
    /// `None` for writers that may (`admin` tokens, the CLI, internal writes). See
    /// [`crate::protected`].
    pub protected_groups: Option<std::sync::Arc<ProtectedGroups>>,
    /// Whether this writer may change the governance settings of groups (a token with `admin`,
    /// the CLI, internal writes); see [`crate::governance`].
    pub may_govern: bool,
}

impl WriteCtx {
    /// A context for internal or CLI writes.
    pub fn system(actor: &str) -> Self {
        WriteCtx {
            actor: actor.to_string(),
            actor_id: None,
            request_id: None,
            protected_groups: None,
            may_govern: true,
        }
    }
}

/// An open write transaction with the event head locked.
pub struct Tx<'a> {
    /// The connection inside the transaction.
    pub conn: &'a mut DbConn,
    ctx: &'a WriteCtx,
    now: NaiveDateTime,
    seq: i64,
    hash: String,
    /// Groups found unprotected in this transaction (see [`crate::protected::check`]).
    pub(crate) unprotected: HashSet<String>,
}

/// The current instant, truncated to microseconds so that both backends store it exactly.
pub fn now() -> NaiveDateTime {
    let t = Utc::now().naive_utc();
    t.duration_round(TimeDelta::microseconds(1)).unwrap_or(t)
}

/// Runs `f` with the head locked; returns its result and whether events were appended.
pub(crate) fn run<T>(
    conn: &mut DbConn,
    ctx: &WriteCtx,
    clock: &crate::clock::Clock,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
) -> Result<(T, bool)> {
    // Take the head lock first: every writer queues here.
    diesel::update(event_head::table.find(1))
        .set(event_head::seq.eq(event_head::seq))
        .execute(conn)?;
    let (seq, hash): (i64, String) = event_head::table
        .find(1)
        .select((event_head::seq, event_head::hash))
        .first(conn)?;
    let mut tx = Tx {
        conn,
        ctx,
        now: clock.now(),
        seq,
        hash,
        unprotected: HashSet::new(),
    };
    let start_seq = seq;
    let out = f(&mut tx)?;
    let appended = tx.seq != start_seq;
    if appended {
        diesel::update(event_head::table.find(1))
            .set((event_head::seq.eq(tx.seq), event_head::hash.eq(&tx.hash)))
            .execute(tx.conn)?;
    }
    Ok((out, appended))
}

impl Tx<'_> {
    /// The transaction's timestamp (one instant for every row it writes).
    pub fn now(&self) -> NaiveDateTime {
        self.now
    }

    /// The writing actor.
    pub fn ctx(&self) -> &WriteCtx {
        self.ctx
    }

    /// Runs `f` in a savepoint: if it fails, its rows and events are rolled back and the rest
    /// of the transaction goes on (used to reject one row of a batch, e.g. an HR import).
    pub fn savepoint<T, E>(&mut self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<crate::error::Error>,
    {
        /// The caller's error, or the database's while opening or releasing the savepoint.
        enum Failed<E> {
            Inner(E),
            Db(diesel::result::Error),
        }
        impl<E> From<diesel::result::Error> for Failed<E> {
            fn from(e: diesel::result::Error) -> Self {
                Failed::Db(e)
            }
        }
        let ctx = self.ctx;
        let now = self.now;
        let seq = self.seq;
        let hash = self.hash.clone();
        let unprotected = self.unprotected.clone();
        let r = self.conn.transaction(|c| {
            let mut inner = Tx {
                conn: c,
                ctx,
                now,
                seq,
                hash,
                unprotected,
            };
            let out = f(&mut inner).map_err(Failed::Inner)?;
            Ok::<_, Failed<E>>((out, inner.seq, inner.hash, inner.unprotected))
        });
        match r {
            Ok((out, seq, hash, unprotected)) => {
                self.seq = seq;
                self.hash = hash;
                self.unprotected = unprotected;
                Ok(out)
            }
            Err(Failed::Inner(e)) => Err(e),
            Err(Failed::Db(e)) => Err(E::from(crate::error::Error::from(e))),
        }
    }

    /// Appends one event to the hash chain; returns its seq.
    pub fn append_event(
        &mut self,
        action: &str,
        resource_type: &str,
        resource_id: &str,
        version: i64,
        before: Option<String>,
        after: Option<String>,
    ) -> Result<i64> {
        let seq = self.seq + 1;
        let event = NewEvent {
            seq,
            at: self.now,
            actor: self.ctx.actor.clone(),
            actor_id: self.ctx.actor_id.clone(),
            request_id: self.ctx.request_id.clone(),
            action: action.to_string(),
            resource_type: resource_type.to_string(),
            resource_id: resource_id.to_string(),
            version,
            before,
            after,
            prev_hash: self.hash.clone(),
            hash: String::new(),
        };
        let hash = events::insert(self.conn, event)?;
        self.seq = seq;
        self.hash = hash;
        Ok(seq)
    }
}
