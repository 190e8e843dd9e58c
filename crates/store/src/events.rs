//! The append-only event log and its SHA-256 hash chain.
//!
//! Each event's `hash` is `SHA-256(prev_hash || canonical(event))`, where the canonical form is a
//! JSON array of the event's fields in a fixed order, with `before`/`after` exactly as stored.
//! Editing, deleting or reordering any row breaks the chain at that row, which [`verify`] finds.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::conn::DbConn;
use crate::error::Result;
use crate::schema::{event_head, events};

/// The hash that precedes the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event, as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub struct Event {
    /// Gap-free, commit-ordered sequence number (starts at 1).
    pub seq: i64,
    /// When the transaction ran (UTC).
    pub at: NaiveDateTime,
    /// Who made the change (token name).
    pub actor: String,
    /// The actor's stable id (token jti).
    pub actor_id: Option<String>,
    /// The HTTP request id.
    pub request_id: Option<String>,
    /// `create`, `replace`, `delete`, `members` …
    pub action: String,
    /// `User` or `Group`.
    pub resource_type: String,
    /// The resource id.
    pub resource_id: String,
    /// The resource version after the change.
    pub version: i64,
    /// The stored document before (JSON text), if any.
    pub before: Option<String>,
    /// The stored document after (JSON text), if any.
    pub after: Option<String>,
    /// The previous event's hash.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// An event about to be appended (its `hash` is computed on insert).
pub type NewEvent = Event;

/// The chain hash of `e` given its `prev_hash`.
pub fn compute_hash(e: &Event) -> String {
    let canonical = serde_json::json!([
        e.seq,
        e.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        e.actor,
        e.actor_id,
        e.request_id,
        e.action,
        e.resource_type,
        e.resource_id,
        e.version,
        e.before,
        e.after,
    ]);
    let mut h = Sha256::new();
    h.update(e.prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Inserts `e` with its computed hash; returns the hash.
pub(crate) fn insert(conn: &mut DbConn, mut e: Event) -> Result<String> {
    e.hash = compute_hash(&e);
    diesel::insert_into(events::table)
        .values(&e)
        .execute(conn)?;
    Ok(e.hash)
}

/// Events for one resource, oldest first.
pub fn for_resource(
    conn: &mut DbConn,
    resource_type: &str,
    resource_id: &str,
) -> Result<Vec<Event>> {
    Ok(events::table
        .filter(events::resource_type.eq(resource_type))
        .filter(events::resource_id.eq(resource_id))
        .order(events::seq.asc())
        .select(Event::as_select())
        .load(conn)?)
}

/// Events with `seq > after`, oldest first, at most `limit`.
pub fn after(conn: &mut DbConn, after: i64, limit: i64) -> Result<Vec<Event>> {
    Ok(events::table
        .filter(events::seq.gt(after))
        .order(events::seq.asc())
        .limit(limit)
        .select(Event::as_select())
        .load(conn)?)
}

/// Number of events.
pub fn count(conn: &mut DbConn) -> Result<i64> {
    Ok(events::table.count().get_result(conn)?)
}

/// The head: last seq and hash.
pub fn head(conn: &mut DbConn) -> Result<(i64, String)> {
    Ok(event_head::table
        .find(1)
        .select((event_head::seq, event_head::hash))
        .first(conn)?)
}

/// Outcome of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every event checked; the chain is intact and ends at the head.
    Ok {
        /// Events checked.
        checked: u64,
    },
    /// The first broken place.
    Broken {
        /// Events checked before the break.
        checked: u64,
        /// The seq where the chain breaks.
        seq: i64,
        /// What is wrong.
        reason: String,
    },
}

/// A head recorded earlier (from `GET /audit/v1/head`): the chain must still pass through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedHead {
    /// The recorded seq.
    pub seq: i64,
    /// The recorded hash of that event.
    pub hash: String,
}

impl std::str::FromStr for ExpectedHead {
    type Err = String;

    /// Parses `SEQ:HASH` (a 64-digit lowercase hex SHA-256).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (seq, hash) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("expected SEQ:HASH, got '{s}'"))?;
        let seq: i64 = seq
            .parse()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("'{seq}' is not a sequence number"))?;
        let hash = hash.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("'{hash}' is not a 64-digit hex SHA-256"));
        }
        Ok(ExpectedHead { seq, hash })
    }
}

/// Walks the whole chain in pages and checks seq continuity, links and hashes, then the head.
pub fn verify(conn: &mut DbConn) -> Result<Verdict> {
    verify_against(conn, None)
}

/// [`verify`], and also checks that the chain still passes through a head recorded earlier:
/// the event at `expected.seq` must exist and carry `expected.hash`.
pub fn verify_against(conn: &mut DbConn, expected: Option<&ExpectedHead>) -> Result<Verdict> {
    const PAGE: i64 = 1000;
    let mut expected_seq = 1i64;
    let mut prev = GENESIS_HASH.to_string();
    let mut checked = 0u64;
    let mut cursor = 0i64;
    loop {
        let page = after(conn, cursor, PAGE)?;
        if page.is_empty() {
            break;
        }
        for e in page {
            let broken = |reason: String| Verdict::Broken {
                checked,
                seq: e.seq,
                reason,
            };
            if e.seq != expected_seq {
                return Ok(Verdict::Broken {
                    checked,
                    seq: expected_seq,
                    reason: format!("event {expected_seq} is missing (next is {})", e.seq),
                });
            }
            if e.prev_hash != prev {
                return Ok(broken("prev_hash does not match the previous event".into()));
            }
            if compute_hash(&e) != e.hash {
                return Ok(broken("content does not match its hash".into()));
            }
            if let Some(x) = expected.filter(|x| x.seq == e.seq && x.hash != e.hash) {
                return Ok(broken(format!(
                    "hash {} differs from the expected head {}: history up to here was rewritten",
                    e.hash, x.hash
                )));
            }
            prev = e.hash.clone();
            cursor = e.seq;
            expected_seq += 1;
            checked += 1;
        }
    }
    if let Some(x) = expected.filter(|x| x.seq > cursor || (x.seq == 0 && x.hash != GENESIS_HASH)) {
        return Ok(Verdict::Broken {
            checked,
            seq: x.seq,
            reason: format!(
                "the expected head {}:{} is not in the chain, which ends at seq {cursor}",
                x.seq, x.hash
            ),
        });
    }
    let (head_seq, head_hash) = head(conn)?;
    if head_seq != cursor || head_hash != prev {
        return Ok(Verdict::Broken {
            checked,
            seq: head_seq,
            reason: format!("event_head ({head_seq}) does not match the last event ({cursor})"),
        });
    }
    Ok(Verdict::Ok { checked })
}
