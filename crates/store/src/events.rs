//! The append-only event log and its SHA-256 hash chain.
//!
//! Each event's `hash` is `SHA-256(prev_hash || canonical(event))`, where the canonical form is a
//! JSON array of the event's fields in a fixed order, with `before`/`after` exactly as stored.
//! Editing, deleting or reordering any row breaks the chain at that row, which [`verify`] finds.
//!
//! `roster audit prune` (see [`crate::history::prune`]) deletes the oldest events; the chain
//! then starts at the [`Anchor`] (the first remaining seq and the hash it must link to), which
//! the prune also records in a `prune` event appended to the chain. [`verify`] starts at the
//! anchor and checks the anchor itself against the latest prune event.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::conn::DbConn;
use crate::error::Result;
use crate::schema::{chain_anchor, event_head, events};

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

/// The chain hash of `e` given its `prev_hash`: SHA-256 of `prev_hash`, a newline and the
/// compact JSON array `[seq, at, actor, actorId, requestId, action, resourceType, resourceId,
/// version, before, after]`. The array is serialised straight into the digest (no intermediate
/// value or string), and the digest is ring's SHA-256, which uses the CPU's SHA or vector
/// instructions where `sha2` here would run in portable code. The bytes hashed are fixed: every
/// stored chain depends on them.
pub fn compute_hash(e: &Event) -> String {
    let mut h = DigestWriter(ring::digest::Context::new(&ring::digest::SHA256));
    h.0.update(e.prev_hash.as_bytes());
    h.0.update(b"\n");
    let at = e.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let canonical = (
        e.seq,
        at,
        &e.actor,
        &e.actor_id,
        &e.request_id,
        &e.action,
        &e.resource_type,
        &e.resource_id,
        e.version,
        &e.before,
        &e.after,
    );
    // writing into a digest cannot fail, and the tuple always serialises
    let _ = serde_json::to_writer(&mut h, &canonical);
    hex::encode(h.0.finish().as_ref())
}

/// `io::Write` into a running digest.
struct DigestWriter(ring::digest::Context);

impl std::io::Write for DigestWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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

/// Events with `seq <= upto`, newest first, at most `limit` (to look back over a recent
/// window).
pub fn up_to(conn: &mut DbConn, upto: i64, limit: i64) -> Result<Vec<Event>> {
    Ok(events::table
        .filter(events::seq.le(upto))
        .order(events::seq.desc())
        .limit(limit)
        .select(Event::as_select())
        .load(conn)?)
}

/// The latest event with this action on this resource, if any.
pub fn latest(
    conn: &mut DbConn,
    action: &str,
    resource_type: &str,
    resource_id: &str,
) -> Result<Option<Event>> {
    Ok(events::table
        .filter(events::resource_id.eq(resource_id))
        .filter(events::resource_type.eq(resource_type))
        .filter(events::action.eq(action))
        .order(events::seq.desc())
        .select(Event::as_select())
        .first(conn)
        .optional()?)
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
        .get_result(conn)?)
}

/// The `action` of the event a prune appends.
pub const PRUNE_ACTION: &str = "prune";
/// The `resource_type` of the event a prune appends.
pub const AUDIT_RESOURCE: &str = "Audit";
/// The `resource_id` of the event a prune appends.
pub const CHAIN_ID: &str = "chain";

/// Where the chain starts: seq 1 and the genesis hash until the first prune, then the first
/// event left by the latest prune and the hash of the last event it deleted.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Anchor {
    /// The first event of the chain.
    pub seq: i64,
    /// The `prev_hash` that event must carry.
    pub prev_hash: String,
    /// Everything before this instant was pruned (`None`: never pruned).
    pub pruned_before: Option<NaiveDateTime>,
    /// The `prune` event that recorded this anchor (`None`: never pruned).
    pub prune_seq: Option<i64>,
}

impl Anchor {
    /// The anchor of a chain that was never pruned.
    pub fn genesis() -> Anchor {
        Anchor {
            seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
            pruned_before: None,
            prune_seq: None,
        }
    }
}

/// The chain anchor. A database without the `chain_anchor` table (not yet migrated) or
/// without its row was never pruned by Roster: the anchor is then the genesis. (Removing the
/// row of a pruned chain does not help hide anything: verification then starts at seq 1 and
/// reports the pruned events as missing.)
pub fn anchor(conn: &mut DbConn) -> Result<Anchor> {
    let row = chain_anchor::table
        .find(1)
        .select((
            chain_anchor::seq,
            chain_anchor::prev_hash,
            chain_anchor::pruned_before,
            chain_anchor::prune_seq,
        ))
        .first::<Anchor>(conn)
        .optional();
    Ok(match row {
        Ok(Some(a)) => a,
        Ok(None) | Err(_) => Anchor::genesis(),
    })
}

/// Replaces the anchor (inside the prune's write transaction).
pub(crate) fn set_anchor(conn: &mut DbConn, a: &Anchor) -> Result<()> {
    let n = diesel::update(chain_anchor::table.find(1))
        .set((
            chain_anchor::seq.eq(a.seq),
            chain_anchor::prev_hash.eq(&a.prev_hash),
            chain_anchor::pruned_before.eq(a.pruned_before),
            chain_anchor::prune_seq.eq(a.prune_seq),
        ))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(chain_anchor::table)
            .values((
                chain_anchor::id.eq(1),
                chain_anchor::seq.eq(a.seq),
                chain_anchor::prev_hash.eq(&a.prev_hash),
                chain_anchor::pruned_before.eq(a.pruned_before),
                chain_anchor::prune_seq.eq(a.prune_seq),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The event `seq`, if it exists.
pub fn by_seq(conn: &mut DbConn, seq: i64) -> Result<Option<Event>> {
    Ok(events::table
        .find(seq)
        .select(Event::as_select())
        .get_result(conn)
        .optional()?)
}

/// The instant format of the chain (and of the prune record).
pub fn format_ts(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Checks the anchor against the latest prune event found in the chain (`None` if none):
/// `Err(reason)` if they disagree.
fn check_anchor(a: &Anchor, last_prune: Option<&Event>) -> std::result::Result<(), (i64, String)> {
    match (a.prune_seq, last_prune) {
        (None, None) => {
            if a.seq != 1 || a.prev_hash != GENESIS_HASH || a.pruned_before.is_some() {
                return Err((
                    a.seq,
                    format!(
                        "the chain anchor says the chain starts at seq {} but no prune event \
                         records a cut there",
                        a.seq
                    ),
                ));
            }
            Ok(())
        }
        (None, Some(p)) => Err((
            p.seq,
            format!(
                "prune event {} is in the chain but the chain anchor does not record it \
                 (the anchor was reset)",
                p.seq
            ),
        )),
        (Some(ps), None) => Err((
            ps,
            format!("the chain anchor names prune event {ps}, which is not in the chain"),
        )),
        (Some(ps), Some(p)) if p.seq != ps => Err((
            p.seq,
            format!(
                "the latest prune event is {} but the chain anchor names prune event {ps}",
                p.seq
            ),
        )),
        (Some(ps), Some(p)) => {
            let rec: serde_json::Value = p
                .after
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_default();
            let seq_ok = rec["anchor"]["seq"].as_i64() == Some(a.seq);
            let hash_ok = rec["anchor"]["prevHash"].as_str() == Some(a.prev_hash.as_str());
            let cut_ok =
                rec["before"].as_str().map(str::to_string) == a.pruned_before.map(format_ts);
            if seq_ok && hash_ok && cut_ok {
                Ok(())
            } else {
                Err((
                    a.seq,
                    format!(
                        "the chain anchor (seq {}, prev_hash {}, pruned before {}) does not \
                         match what prune event {ps} recorded ({})",
                        a.seq,
                        a.prev_hash,
                        a.pruned_before.map(format_ts).unwrap_or_else(|| "-".into()),
                        rec
                    ),
                ))
            }
        }
    }
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

/// Walks the whole chain from its anchor in pages and checks seq continuity, links and hashes,
/// the anchor against the latest prune event, then the head.
pub fn verify(conn: &mut DbConn) -> Result<Verdict> {
    verify_against(conn, None)
}

/// [`verify`], and also checks that the chain still passes through a head recorded earlier:
/// the event at `expected.seq` must exist and carry `expected.hash`. A head that has since been
/// pruned cannot be checked, which is reported as a break (never silently passed).
pub fn verify_against(conn: &mut DbConn, expected: Option<&ExpectedHead>) -> Result<Verdict> {
    const PAGE: i64 = 1000;
    let anchor = anchor(conn)?;
    if anchor.seq < 1 {
        return Ok(Verdict::Broken {
            checked: 0,
            seq: anchor.seq,
            reason: format!("the chain anchor names seq {}", anchor.seq),
        });
    }
    if let Some(x) = expected.filter(|x| x.seq < anchor.seq) {
        return Ok(Verdict::Broken {
            checked: 0,
            seq: x.seq,
            reason: format!(
                "the expected head {}:{} was pruned: the chain now starts at seq {} (prune event \
                 {} removed everything before {}; it recorded hash {} for seq {}), so a head \
                 recorded before that prune can no longer be checked",
                x.seq,
                x.hash,
                anchor.seq,
                anchor
                    .prune_seq
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "?".into()),
                anchor
                    .pruned_before
                    .map(format_ts)
                    .unwrap_or_else(|| "?".into()),
                anchor.prev_hash,
                anchor.seq - 1
            ),
        });
    }
    let mut expected_seq = anchor.seq;
    let mut prev = anchor.prev_hash.clone();
    let mut checked = 0u64;
    let mut cursor = anchor.seq - 1;
    let mut last_prune: Option<Event> = None;
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
                let what = if e.seq == anchor.seq && anchor.prune_seq.is_some() {
                    "prev_hash does not match the chain anchor (the hash at the prune cut)"
                } else {
                    "prev_hash does not match the previous event"
                };
                return Ok(broken(what.into()));
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
            if e.action == PRUNE_ACTION && e.resource_type == AUDIT_RESOURCE {
                last_prune = Some(e);
            }
        }
    }
    if let Err((seq, reason)) = check_anchor(&anchor, last_prune.as_ref()) {
        return Ok(Verdict::Broken {
            checked,
            seq,
            reason,
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// The hash as first defined (a `json!` array, `sha2`): stored chains were made with it.
    fn reference_hash(e: &Event) -> String {
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

    #[test]
    fn the_chain_hash_is_byte_for_byte_the_original_one() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
            .unwrap()
            .and_hms_micro_opt(1, 2, 3, 456_789)
            .unwrap();
        let base = Event {
            seq: 42,
            at,
            actor: "hr-feed".into(),
            actor_id: Some("jti-1".into()),
            request_id: None,
            action: "patch".into(),
            resource_type: "User".into(),
            resource_id: "u-1".into(),
            version: 7,
            before: Some(r#"{"userName":"bjensen","name":{"givenName":"Barbara"}}"#.into()),
            after: Some(
                "{\"userName\":\"Bjørn \\\"B\\\" Jensen\",\"note\":\"tab\\t, é, 😀, \\u0001\"}"
                    .into(),
            ),
            prev_hash: "ab".repeat(32),
            hash: String::new(),
        };
        let mut none = base.clone();
        none.actor_id = None;
        none.before = None;
        none.after = None;
        none.seq = 1;
        for e in [base, none] {
            assert_eq!(compute_hash(&e), reference_hash(&e), "{e:?}");
        }
    }
}
