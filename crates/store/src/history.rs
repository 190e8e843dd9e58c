//! Point-in-time history: `resource_versions` and `membership_periods`, written only by the
//! write transaction (never updated except to close a validity span), and [`prune`], the only
//! way to delete history.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Value;

use crate::conn::DbConn;
use crate::error::Result;
use crate::events::{self, Anchor};
use crate::resource::ResourceType;
use crate::schema::{events as schema_events, membership_periods, resource_versions};
use crate::write::Tx;

/// Closes the open version of a resource (if any) and opens `version` with `doc` (`text` is
/// `doc` as stored, JSON text), recording its name (see [`ResourceType::name_of`]).
pub(crate) fn open_version(
    tx: &mut Tx<'_>,
    rtype: ResourceType,
    id: &str,
    version: i64,
    doc: &Value,
    text: &str,
    event_seq: i64,
) -> Result<()> {
    close_version(tx, rtype, id)?;
    let now = tx.now();
    diesel::insert_into(resource_versions::table)
        .values((
            resource_versions::resource_type.eq(rtype.as_str()),
            resource_versions::resource_id.eq(id),
            resource_versions::version.eq(version),
            resource_versions::doc.eq(text),
            resource_versions::valid_from.eq(now),
            resource_versions::event_seq.eq(event_seq),
            resource_versions::name.eq(rtype.name_of(doc)),
        ))
        .execute(tx.conn)?;
    Ok(())
}

/// Ends the validity of the open version of a resource (on delete, or before a new version).
pub(crate) fn close_version(tx: &mut Tx<'_>, rtype: ResourceType, id: &str) -> Result<()> {
    let now = tx.now();
    diesel::update(
        resource_versions::table
            .filter(resource_versions::resource_type.eq(rtype.as_str()))
            .filter(resource_versions::resource_id.eq(id))
            .filter(resource_versions::valid_to.is_null()),
    )
    .set(resource_versions::valid_to.eq(now))
    .execute(tx.conn)?;
    Ok(())
}

/// Opens a membership period.
pub(crate) fn open_membership(
    tx: &mut Tx<'_>,
    group_id: &str,
    member_id: &str,
    member_type: &str,
    source: &str,
) -> Result<()> {
    let now = tx.now();
    diesel::insert_into(membership_periods::table)
        .values((
            membership_periods::group_id.eq(group_id),
            membership_periods::member_id.eq(member_id),
            membership_periods::member_type.eq(member_type),
            membership_periods::source.eq(source),
            membership_periods::valid_from.eq(now),
        ))
        .execute(tx.conn)?;
    Ok(())
}

/// Closes the open membership period of `member_id` in `group_id`.
pub(crate) fn close_membership(tx: &mut Tx<'_>, group_id: &str, member_id: &str) -> Result<()> {
    let now = tx.now();
    diesel::update(
        membership_periods::table
            .filter(membership_periods::group_id.eq(group_id))
            .filter(membership_periods::member_id.eq(member_id))
            .filter(membership_periods::valid_to.is_null()),
    )
    .set(membership_periods::valid_to.eq(now))
    .execute(tx.conn)?;
    Ok(())
}

/// One stored version of a resource.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Version {
    /// Version number.
    pub version: i64,
    /// The document of that version (JSON text).
    pub doc: String,
    /// Start of validity.
    pub valid_from: NaiveDateTime,
    /// End of validity (`None` while current).
    pub valid_to: Option<NaiveDateTime>,
    /// The event that created it.
    pub event_seq: i64,
}

/// Every version of a resource, oldest first.
pub fn versions(conn: &mut DbConn, rtype: ResourceType, id: &str) -> Result<Vec<Version>> {
    Ok(resource_versions::table
        .filter(resource_versions::resource_type.eq(rtype.as_str()))
        .filter(resource_versions::resource_id.eq(id))
        .order(resource_versions::version.asc())
        .select((
            resource_versions::version,
            resource_versions::doc,
            resource_versions::valid_from,
            resource_versions::valid_to,
            resource_versions::event_seq,
        ))
        .load(conn)?)
}

/// One membership period.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct MembershipPeriod {
    /// The group.
    pub group_id: String,
    /// The member.
    pub member_id: String,
    /// `User` or `Group`.
    pub member_type: String,
    /// `manual` or `rule:ID`.
    pub source: String,
    /// Start.
    pub valid_from: NaiveDateTime,
    /// End (`None` while a member).
    pub valid_to: Option<NaiveDateTime>,
}

/// Every membership period of a group, oldest first.
pub fn group_periods(conn: &mut DbConn, group_id: &str) -> Result<Vec<MembershipPeriod>> {
    Ok(membership_periods::table
        .filter(membership_periods::group_id.eq(group_id))
        .order((
            membership_periods::valid_from.asc(),
            membership_periods::id.asc(),
        ))
        .select((
            membership_periods::group_id,
            membership_periods::member_id,
            membership_periods::member_type,
            membership_periods::source,
            membership_periods::valid_from,
            membership_periods::valid_to,
        ))
        .load(conn)?)
}

/// Members of `group_id` at instant `at`.
pub fn members_at(conn: &mut DbConn, group_id: &str, at: NaiveDateTime) -> Result<Vec<String>> {
    Ok(membership_periods::table
        .filter(membership_periods::group_id.eq(group_id))
        .filter(membership_periods::valid_from.le(at))
        .filter(
            membership_periods::valid_to
                .is_null()
                .or(membership_periods::valid_to.gt(at)),
        )
        .order(membership_periods::member_id.asc())
        .select(membership_periods::member_id)
        .load(conn)?)
}

/// What `roster audit prune` removed (or would refuse to).
#[derive(Debug, Clone, PartialEq)]
pub enum PruneOutcome {
    /// History before the cut was deleted and a `prune` event appended.
    Pruned(PruneReport),
    /// Nothing was older than the cut (or it was pruned already); nothing was written.
    Nothing,
    /// The prune was refused; nothing was written.
    Refused(String),
}

/// What one prune removed, as recorded in its `prune` event.
#[derive(Debug, Clone, PartialEq)]
pub struct PruneReport {
    /// The cut: history before this instant was removed.
    pub before: NaiveDateTime,
    /// The seqs of the deleted events (`None` if no event was deleted).
    pub seqs: Option<(i64, i64)>,
    /// The times of the first and last deleted events.
    pub times: Option<(NaiveDateTime, NaiveDateTime)>,
    /// Deleted events.
    pub events: i64,
    /// Deleted closed versions.
    pub versions: i64,
    /// Deleted closed membership periods.
    pub periods: i64,
    /// Events verified (from the old anchor to the head) before anything was deleted.
    pub verified: u64,
    /// The seq of the appended `prune` event.
    pub prune_seq: i64,
    /// The new start of the chain.
    pub anchor: Anchor,
}

/// Deletes the history before `before` in the current write transaction: the events older
/// than the cut (a prefix of the chain: every event before the first one at or after the cut),
/// and the versions and membership periods whose validity ended before the cut. Open rows
/// (`valid_to IS NULL`, the current state) are never touched, whatever the cut, so every
/// resource stays readable at every instant from the cut on.
///
/// The chain is verified first (a broken chain is never pruned, so a prune cannot erase a
/// tamper), then a `prune` event recording the range, the counts and the hash at the cut is
/// appended through the normal write path, and the [`Anchor`] is moved to the first remaining
/// event. Refuses a cut in the future.
pub fn prune(tx: &mut Tx<'_>, before: NaiveDateTime) -> Result<PruneOutcome> {
    if before > tx.now() {
        return Ok(PruneOutcome::Refused(format!(
            "the cut {} is in the future (now is {}): only the past can be pruned",
            events::format_ts(before),
            events::format_ts(tx.now())
        )));
    }
    let verified = match events::verify(tx.conn)? {
        events::Verdict::Ok { checked } => checked,
        events::Verdict::Broken {
            checked,
            seq,
            reason,
        } => {
            return Ok(PruneOutcome::Refused(format!(
                "the event log fails verification (checked {checked} events: BROKEN at seq \
                 {seq}: {reason}); a broken chain is never pruned, investigate it first"
            )))
        }
    };
    let old = events::anchor(tx.conn)?;
    if old.pruned_before.is_some_and(|t| t >= before) {
        return Ok(PruneOutcome::Nothing);
    }
    let (head_seq, _) = events::head(tx.conn)?;
    let first_kept: Option<i64> = schema_events::table
        .filter(schema_events::seq.ge(old.seq))
        .filter(schema_events::at.ge(before))
        .select(diesel::dsl::min(schema_events::seq))
        .first(tx.conn)?;
    let last_pruned = first_kept.map(|s| s - 1).unwrap_or(head_seq);
    let seqs = (last_pruned >= old.seq).then_some((old.seq, last_pruned));
    let versions = diesel::delete(
        resource_versions::table
            .filter(resource_versions::valid_to.is_not_null())
            .filter(resource_versions::valid_to.lt(before)),
    )
    .execute(tx.conn)? as i64;
    let periods = diesel::delete(
        membership_periods::table
            .filter(membership_periods::valid_to.is_not_null())
            .filter(membership_periods::valid_to.lt(before)),
    )
    .execute(tx.conn)? as i64;
    if seqs.is_none() && versions == 0 && periods == 0 {
        return Ok(PruneOutcome::Nothing);
    }
    // prunes are numbered (the event's version); read before the old prune event may go
    let number = match old.prune_seq {
        Some(s) => events::by_seq(tx.conn, s)?.map_or(0, |e| e.version),
        None => 0,
    } + 1;
    let mut times = None;
    let mut cut_hash = old.prev_hash.clone();
    let mut events_deleted = 0;
    if let Some((from, to)) = seqs {
        let first = events::by_seq(tx.conn, from)?.ok_or(crate::Error::NotFound)?;
        let last = events::by_seq(tx.conn, to)?.ok_or(crate::Error::NotFound)?;
        times = Some((first.at, last.at));
        cut_hash = last.hash;
        events_deleted = diesel::delete(schema_events::table.filter(schema_events::seq.le(to)))
            .execute(tx.conn)? as i64;
    }
    let anchor_seq = last_pruned.max(old.seq - 1) + 1;
    let ts = events::format_ts;
    let record = serde_json::json!({
        "before": ts(before),
        "pruned": {
            "fromSeq": seqs.map(|s| s.0),
            "toSeq": seqs.map(|s| s.1),
            "fromTime": times.map(|t| ts(t.0)),
            "toTime": times.map(|t| ts(t.1)),
        },
        "events": events_deleted,
        "resourceVersions": versions,
        "membershipPeriods": periods,
        "verifiedEvents": verified,
        "cut": {"seq": anchor_seq - 1, "hash": cut_hash},
        "anchor": {"seq": anchor_seq, "prevHash": cut_hash},
        "previousPrune": old.prune_seq,
    });
    let prune_seq = tx.append_event(
        events::PRUNE_ACTION,
        events::AUDIT_RESOURCE,
        events::CHAIN_ID,
        number,
        None,
        Some(record.to_string()),
    )?;
    let anchor = Anchor {
        seq: anchor_seq,
        prev_hash: cut_hash,
        pruned_before: Some(before),
        prune_seq: Some(prune_seq),
    };
    events::set_anchor(tx.conn, &anchor)?;
    Ok(PruneOutcome::Pruned(PruneReport {
        before,
        seqs,
        times,
        events: events_deleted,
        versions,
        periods,
        verified,
        prune_seq,
        anchor,
    }))
}
