//! Read-only audit queries over the event log and the history tables.
//!
//! Every list is keyset-paged (the caller passes the last key it saw and a limit), so an export
//! can walk any result page by page in constant memory. Point-in-time and window queries read
//! `resource_versions` and `membership_periods` through indexes; nothing replays the log.
//! Nothing here writes.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Timestamp};
use serde_json::Value;

use crate::conn::DbConn;
use crate::error::Result;
use crate::events::Event;
use crate::resource::{ResourceType, StoredResource};
use crate::schema::{events, groups, membership_periods, resource_versions, users};

/// The lifecycle extension whose `endDate` marks when an account's owner left.
pub const LIFECYCLE_URN: &str = "urn:roster:params:scim:schemas:extension:lifecycle:2.0:User";

/// Before anything Roster recorded (an open window start); in range for both backends.
const BEGINNING: NaiveDateTime = chrono::DateTime::UNIX_EPOCH.naive_utc();

/// One connection to `url` for read-only checks (`roster audit verify`): unlike
/// [`Store::open`](crate::Store::open) it neither creates the database nor migrates it.
pub fn connect(url: &str) -> Result<DbConn> {
    use diesel::r2d2::ManageConnection;
    let url = crate::DbUrl::parse(url)?;
    if let Some(path) = url.sqlite_path() {
        if !path.exists() {
            return Err(crate::Error::Config(format!(
                "no database at {}",
                url.redacted()
            )));
        }
    }
    crate::conn::Manager::new(url.clone(), crate::SqliteSync::Full)
        .connect()
        .map_err(|e| crate::Error::Unavailable(format!("cannot open {}: {e}", url.redacted())))
}

/// Filters of the event list. `since` is inclusive, `until` exclusive.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// `User`, `Group`, `Token`.
    pub resource_type: Option<String>,
    /// One resource.
    pub resource_id: Option<String>,
    /// Token name that made the change.
    pub actor: Option<String>,
    /// `create`, `replace`, `delete`, `members`, `issue`, `revoke`.
    pub action: Option<String>,
    /// Events at or after this instant.
    pub since: Option<NaiveDateTime>,
    /// Events before this instant.
    pub until: Option<NaiveDateTime>,
    /// Events up to this seq (an export pins the head it started at).
    pub max_seq: Option<i64>,
}

/// Events matching `q` with `seq > after`, oldest first, at most `limit`.
pub fn events(conn: &mut DbConn, q: &EventQuery, after: i64, limit: i64) -> Result<Vec<Event>> {
    let mut query = events::table
        .filter(events::seq.gt(after))
        .select(Event::as_select())
        .into_boxed();
    if let Some(v) = &q.resource_type {
        query = query.filter(events::resource_type.eq(v.clone()));
    }
    if let Some(v) = &q.resource_id {
        query = query.filter(events::resource_id.eq(v.clone()));
    }
    if let Some(v) = &q.actor {
        query = query.filter(events::actor.eq(v.clone()));
    }
    if let Some(v) = &q.action {
        query = query.filter(events::action.eq(v.clone()));
    }
    if let Some(t) = q.since {
        query = query.filter(events::at.ge(t));
    }
    if let Some(t) = q.until {
        query = query.filter(events::at.lt(t));
    }
    if let Some(s) = q.max_seq {
        query = query.filter(events::seq.le(s));
    }
    Ok(query.order(events::seq.asc()).limit(limit).load(conn)?)
}

/// The time of event `seq`, if it exists.
pub fn event_time(conn: &mut DbConn, seq: i64) -> Result<Option<NaiveDateTime>> {
    Ok(events::table
        .find(seq)
        .select(events::at)
        .first(conn)
        .optional()?)
}

/// What a point-in-time lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum AtLookup {
    /// The resource as it was: `created` is when version 1 began, `modified` when this one did.
    Found(StoredResource),
    /// No resource with this id ever existed.
    NeverExisted,
    /// It was created after the instant asked for.
    NotYetCreated {
        /// When it was created.
        created: NaiveDateTime,
    },
    /// It had been deleted by then.
    Deleted {
        /// When it was deleted.
        deleted: NaiveDateTime,
    },
}

/// When version 1 of a resource began, if it ever existed. After a prune that removed its first
/// versions, the creation time comes from the live row if the resource still exists (else the
/// start of its earliest remaining version, the best the kept history knows).
pub fn created(conn: &mut DbConn, rtype: ResourceType, id: &str) -> Result<Option<NaiveDateTime>> {
    let first: Option<(i64, NaiveDateTime)> = resource_versions::table
        .filter(resource_versions::resource_type.eq(rtype.as_str()))
        .filter(resource_versions::resource_id.eq(id))
        .order(resource_versions::version.asc())
        .select((resource_versions::version, resource_versions::valid_from))
        .first(conn)
        .optional()?;
    let Some((version, valid_from)) = first else {
        return Ok(None);
    };
    if version <= 1 {
        return Ok(Some(valid_from));
    }
    let live: Option<NaiveDateTime> = match rtype {
        ResourceType::User => users::table
            .find(id)
            .select(users::created)
            .first(conn)
            .optional()?,
        ResourceType::Group => groups::table
            .find(id)
            .select(groups::created)
            .first(conn)
            .optional()?,
    };
    Ok(Some(live.unwrap_or(valid_from)))
}

/// The resource `id` as it was at instant `at` (the version whose span contains `at`).
pub fn resource_at(
    conn: &mut DbConn,
    rtype: ResourceType,
    id: &str,
    at: NaiveDateTime,
) -> Result<AtLookup> {
    let row: Option<(i64, String, NaiveDateTime, Option<NaiveDateTime>)> = resource_versions::table
        .filter(resource_versions::resource_type.eq(rtype.as_str()))
        .filter(resource_versions::resource_id.eq(id))
        .filter(resource_versions::valid_from.le(at))
        .order((
            resource_versions::valid_from.desc(),
            resource_versions::version.desc(),
        ))
        .select((
            resource_versions::version,
            resource_versions::doc,
            resource_versions::valid_from,
            resource_versions::valid_to,
        ))
        .first(conn)
        .optional()?;
    let Some(created) = created(conn, rtype, id)? else {
        return Ok(AtLookup::NeverExisted);
    };
    Ok(match row {
        None => AtLookup::NotYetCreated { created },
        Some((_, _, _, Some(end))) if end <= at => AtLookup::Deleted { deleted: end },
        Some((version, doc, valid_from, _)) => AtLookup::Found(StoredResource {
            id: id.to_string(),
            version,
            created,
            modified: valid_from,
            doc: serde_json::from_str(&doc)?,
        }),
    })
}

/// One version of a resource with the event (and so the actor) that made it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct VersionRecord {
    /// Version number.
    pub version: i64,
    /// The stored document of that version (JSON text).
    pub doc: String,
    /// Start of validity.
    pub valid_from: NaiveDateTime,
    /// End of validity (`None` while current).
    pub valid_to: Option<NaiveDateTime>,
    /// The event that made it.
    pub event_seq: i64,
    /// That event's action (`None` if the event was pruned).
    pub action: Option<String>,
    /// Who made it (token name; `None` if the event was pruned).
    pub actor: Option<String>,
    /// The actor's token id.
    pub actor_id: Option<String>,
    /// The HTTP request id.
    pub request_id: Option<String>,
}

/// Versions of a resource with `version > after`, oldest first, at most `limit`; with
/// `since`/`until`, only the versions valid at some moment of `[since, until)` (the one current
/// at `since` included).
pub fn versions(
    conn: &mut DbConn,
    rtype: ResourceType,
    id: &str,
    (since, until): (Option<NaiveDateTime>, Option<NaiveDateTime>),
    after: i64,
    limit: i64,
) -> Result<Vec<VersionRecord>> {
    // left join: a version still valid after a prune keeps its row although its event is gone
    let mut query = resource_versions::table
        .left_join(events::table.on(events::seq.eq(resource_versions::event_seq)))
        .filter(resource_versions::resource_type.eq(rtype.as_str()))
        .filter(resource_versions::resource_id.eq(id))
        .filter(resource_versions::version.gt(after))
        .into_boxed();
    if let Some(t) = since {
        query = query.filter(
            resource_versions::valid_to
                .is_null()
                .or(resource_versions::valid_to.gt(t)),
        );
    }
    if let Some(t) = until {
        query = query.filter(resource_versions::valid_from.lt(t));
    }
    Ok(query
        .order(resource_versions::version.asc())
        .limit(limit)
        .select((
            resource_versions::version,
            resource_versions::doc,
            resource_versions::valid_from,
            resource_versions::valid_to,
            resource_versions::event_seq,
            events::action.nullable(),
            events::actor.nullable(),
            events::actor_id.nullable(),
            events::request_id.nullable(),
        ))
        .load(conn)?)
}

/// A membership period.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Period {
    /// The member.
    pub member_id: String,
    /// `User` or `Group`.
    pub member_type: String,
    /// `manual` or `rule:ID`.
    pub source: String,
    /// Start.
    pub valid_from: NaiveDateTime,
    /// End (`None` while still a member).
    pub valid_to: Option<NaiveDateTime>,
}

fn period_columns() -> (
    membership_periods::member_id,
    membership_periods::member_type,
    membership_periods::source,
    membership_periods::valid_from,
    membership_periods::valid_to,
) {
    (
        membership_periods::member_id,
        membership_periods::member_type,
        membership_periods::source,
        membership_periods::valid_from,
        membership_periods::valid_to,
    )
}

/// Members of `group_id` at instant `at` with `member_id > after`, by member id, at most `limit`.
pub fn members_at(
    conn: &mut DbConn,
    group_id: &str,
    at: NaiveDateTime,
    after: &str,
    limit: i64,
) -> Result<Vec<Period>> {
    Ok(membership_periods::table
        .filter(membership_periods::group_id.eq(group_id))
        .filter(membership_periods::member_id.gt(after))
        .filter(membership_periods::valid_from.le(at))
        .filter(
            membership_periods::valid_to
                .is_null()
                .or(membership_periods::valid_to.gt(at)),
        )
        .order(membership_periods::member_id.asc())
        .limit(limit)
        .select(period_columns())
        .load(conn)?)
}

/// [`members_at`] with each member's name at `at` in the same query: per member, a correlated
/// subquery reads the `name` of its latest version begun at or before `at` (for a member at
/// `at`, the version valid then) from the point-in-time index, backwards from `at`, so each
/// member costs one index-only descent and one entry. Versions of zero length (replaced in the
/// transaction that made them) were never valid and are skipped. One statement and one index
/// range for the page, instead of a period query and a names query with a 1,000-id `IN` list.
pub fn members_at_named(
    conn: &mut DbConn,
    group_id: &str,
    at: NaiveDateTime,
    after: &str,
    limit: i64,
) -> Result<Vec<(Period, Option<String>)>> {
    let name_then = resource_versions::table
        .filter(resource_versions::resource_type.eq(membership_periods::member_type))
        .filter(resource_versions::resource_id.eq(membership_periods::member_id))
        .filter(resource_versions::valid_from.le(at))
        .filter(
            resource_versions::valid_to
                .is_null()
                .or(resource_versions::valid_to.gt(resource_versions::valid_from.nullable())),
        )
        .order(resource_versions::valid_from.desc())
        .select(resource_versions::name)
        .limit(1)
        .single_value();
    let mut rows: Vec<(Period, Option<String>)> = membership_periods::table
        .filter(membership_periods::group_id.eq(group_id))
        .filter(membership_periods::member_id.gt(after))
        .filter(membership_periods::valid_from.le(at))
        .filter(
            membership_periods::valid_to
                .is_null()
                .or(membership_periods::valid_to.gt(at)),
        )
        .order(membership_periods::member_id.asc())
        .limit(limit)
        .select((period_columns(), name_then))
        .load(conn)?;
    let missing: Vec<String> = rows
        .iter()
        .filter(|(_, name)| name.is_none())
        .map(|(p, _)| p.member_id.clone())
        .collect();
    if !missing.is_empty() {
        let names = names_at(conn, &missing, at)?;
        for (p, name) in rows.iter_mut() {
            if name.is_none() {
                *name = names.get(&p.member_id).cloned();
            }
        }
    }
    Ok(rows)
}

/// Everyone who was a member of `group_id` at any moment of `[from, to)` (no `from`: since the
/// beginning), with every period that overlaps the window; `member_id > after`, by member id,
/// at most `limit` members.
pub fn members_in_window(
    conn: &mut DbConn,
    group_id: &str,
    from: Option<NaiveDateTime>,
    to: NaiveDateTime,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, Vec<Period>)>> {
    let from = from.unwrap_or(BEGINNING);
    let ids: Vec<String> = membership_periods::table
        .filter(membership_periods::group_id.eq(group_id))
        .filter(membership_periods::member_id.gt(after))
        .filter(membership_periods::valid_from.lt(to))
        .filter(
            membership_periods::valid_to
                .is_null()
                .or(membership_periods::valid_to.gt(from)),
        )
        .select(membership_periods::member_id)
        .distinct()
        .order(membership_periods::member_id.asc())
        .limit(limit)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let periods: Vec<Period> = membership_periods::table
        .filter(membership_periods::group_id.eq(group_id))
        .filter(membership_periods::member_id.eq_any(&ids))
        .filter(membership_periods::valid_from.lt(to))
        .filter(
            membership_periods::valid_to
                .is_null()
                .or(membership_periods::valid_to.gt(from)),
        )
        .order((
            membership_periods::member_id.asc(),
            membership_periods::valid_from.asc(),
        ))
        .select(period_columns())
        .load(conn)?;
    let mut out: Vec<(String, Vec<Period>)> = Vec::with_capacity(ids.len());
    for p in periods {
        match out.last_mut() {
            Some((id, list)) if *id == p.member_id => list.push(p),
            _ => out.push((p.member_id.clone(), vec![p])),
        }
    }
    Ok(out)
}

/// The name (`userName` of a User, `displayName` of a Group) of each id as it was at `at`, or
/// as last known before `at` for resources deleted by then. Read from `resource_versions.name`
/// through the point-in-time index (no document is read).
pub fn names_at(
    conn: &mut DbConn,
    ids: &[String],
    at: NaiveDateTime,
) -> Result<HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = resource_versions::table
        .filter(resource_versions::resource_type.eq_any(["User", "Group"]))
        .filter(resource_versions::resource_id.eq_any(ids))
        .filter(resource_versions::valid_from.le(at))
        .filter(
            resource_versions::valid_to
                .is_null()
                .or(resource_versions::valid_to.gt(at)),
        )
        .select((resource_versions::resource_id, resource_versions::name))
        .load(conn)?;
    let mut out: HashMap<String, String> = rows.into_iter().collect();
    for id in ids {
        if out.contains_key(id) {
            continue;
        }
        let last: Option<String> = resource_versions::table
            .filter(resource_versions::resource_type.eq_any(["User", "Group"]))
            .filter(resource_versions::resource_id.eq(id))
            .filter(resource_versions::valid_from.le(at))
            .order(resource_versions::valid_from.desc())
            .select(resource_versions::name)
            .first(conn)
            .optional()?;
        if let Some(name) = last {
            out.insert(id.clone(), name);
        }
    }
    Ok(out)
}

/// One way a member belonged to a group during a window.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct GroupPath {
    /// The group.
    #[diesel(sql_type = Text)]
    pub group_id: String,
    /// Group ids from the direct group to `group_id`, joined by `/` (just `group_id` if direct).
    #[diesel(sql_type = Text)]
    pub path: String,
    /// 0 for a direct membership, n for one inherited through n nested groups.
    #[diesel(sql_type = Integer)]
    pub depth: i32,
    /// Start of this membership (for an indirect one, of every link of the chain).
    #[diesel(sql_type = Timestamp)]
    pub valid_from: NaiveDateTime,
    /// End (`None` while current).
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub valid_to: Option<NaiveDateTime>,
}

/// Deepest nesting followed (also what stops a cycle of groups).
pub const MAX_NESTING: i32 = 16;

const GROUPS_OF_MEMBER: &str = "\
WITH RECURSIVE chain(group_id, path, depth, valid_from, valid_to) AS (
    SELECT p.group_id, p.group_id{C}, 0, p.valid_from, p.valid_to
      FROM membership_periods p
     WHERE p.member_id = ? AND p.valid_from < ? AND (p.valid_to IS NULL OR p.valid_to > ?)
    UNION ALL
    SELECT p.group_id, (c.path || '/' || p.group_id){C}, c.depth + 1,
           CASE WHEN p.valid_from > c.valid_from THEN p.valid_from ELSE c.valid_from END,
           CASE WHEN c.valid_to IS NULL THEN p.valid_to
                WHEN p.valid_to IS NULL OR p.valid_to > c.valid_to THEN c.valid_to
                ELSE p.valid_to END
      FROM chain c
      JOIN membership_periods p ON p.member_id = c.group_id AND p.member_type = 'Group'
     WHERE c.depth < ?
       AND p.valid_from < ? AND (p.valid_to IS NULL OR p.valid_to > ?)
       AND (c.valid_to IS NULL OR p.valid_from < c.valid_to)
       AND (p.valid_to IS NULL OR p.valid_to > c.valid_from)
)
SELECT group_id, path, depth, valid_from, valid_to FROM chain
 ORDER BY group_id, valid_from, depth, path";

/// Every group `member_id` belonged to at any moment of `[from, to)`, directly or through
/// nested groups (one `WITH RECURSIVE` query), with the period of each path. Indirect periods
/// are the intersection of the periods along the chain, so they always overlap the window.
pub fn groups_of_member(
    conn: &mut DbConn,
    member_id: &str,
    from: Option<NaiveDateTime>,
    to: NaiveDateTime,
) -> Result<Vec<GroupPath>> {
    let from = from.unwrap_or(BEGINNING);
    let mut rows: Vec<GroupPath> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(GROUPS_OF_MEMBER.replace("{C}", ""))
            .bind::<Text, _>(member_id)
            .bind::<Timestamp, _>(to)
            .bind::<Timestamp, _>(from)
            .bind::<Integer, _>(MAX_NESTING)
            .bind::<Timestamp, _>(to)
            .bind::<Timestamp, _>(from)
            .load(c)?,
        DbConn::Postgres(c) => {
            diesel::sql_query(numbered(&GROUPS_OF_MEMBER.replace("{C}", " COLLATE \"C\"")))
                .bind::<Text, _>(member_id)
                .bind::<Timestamp, _>(to)
                .bind::<Timestamp, _>(from)
                .bind::<Integer, _>(MAX_NESTING)
                .bind::<Timestamp, _>(to)
                .bind::<Timestamp, _>(from)
                .load(c)?
        }
    };
    rows.dedup();
    Ok(rows)
}

/// `?` placeholders -> `$1, $2, …` (PostgreSQL); the queries here have no `?` in literals.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Why an account is reported as orphaned.
#[derive(Debug, Clone, PartialEq)]
pub enum OrphanReason {
    /// The lifecycle `endDate` has passed but the account is still active.
    EndDatePassed {
        /// The `endDate` as stored.
        end_date: String,
    },
    /// The account was made active again after having been deactivated.
    Reactivated {
        /// The version that re-activated it.
        version: i64,
        /// When it was re-activated.
        reactivated_at: NaiveDateTime,
        /// The seq of the event that did.
        event_seq: i64,
        /// That event (who, which request); `None` if it was pruned.
        event: Option<Box<Event>>,
        /// When it had been deactivated.
        deactivated_at: NaiveDateTime,
        /// Who had deactivated it (`None` if that event was pruned).
        deactivated_by: Option<String>,
    },
}

/// An active account that should probably not be.
#[derive(Debug, Clone, PartialEq)]
pub struct Orphan {
    /// User id.
    pub user_id: String,
    /// Current `userName`.
    pub user_name: String,
    /// Current version.
    pub version: i64,
    /// Why it is reported (at least one).
    pub reasons: Vec<OrphanReason>,
}

/// How many candidate users one scan step loads.
const ORPHAN_BATCH: i64 = 500;

/// Active accounts whose lifecycle `endDate` is before `now`, or that were re-activated after
/// a deactivation, with `user id > after`, by id, at most `limit`. Returns the orphans and the
/// last user id examined (the cursor to continue from), `None` when the scan is complete.
///
/// SQL narrows the candidates portably (active users whose document mentions the lifecycle
/// extension, or with an earlier version containing `"active":false`); Rust then decides on
/// the parsed documents, since JSON functions differ between SQLite and PostgreSQL.
pub fn orphans(
    conn: &mut DbConn,
    now: NaiveDateTime,
    after: &str,
    limit: i64,
) -> Result<(Vec<Orphan>, Option<String>)> {
    let mut out = Vec::new();
    let mut cursor = after.to_string();
    let inactive_before = exists(
        resource_versions::table
            .filter(resource_versions::resource_type.eq("User"))
            .filter(resource_versions::resource_id.eq(users::id))
            .filter(resource_versions::doc.like("%\"active\":false%")),
    );
    loop {
        let batch: Vec<(String, i64, String)> = users::table
            .filter(users::active.eq(true))
            .filter(users::id.gt(&cursor))
            .filter(
                users::doc
                    .like(format!("%{LIFECYCLE_URN}%"))
                    .or(inactive_before),
            )
            .order(users::id.asc())
            .limit(ORPHAN_BATCH)
            .select((users::id, users::version, users::doc))
            .load(conn)?;
        let exhausted = (batch.len() as i64) < ORPHAN_BATCH;
        for (id, version, doc) in batch {
            cursor = id.clone();
            if let Some(o) = examine(conn, id, version, &doc, now)? {
                out.push(o);
                if out.len() as i64 >= limit {
                    return Ok((out, Some(cursor)));
                }
            }
        }
        if exhausted {
            return Ok((out, None));
        }
    }
}

fn examine(
    conn: &mut DbConn,
    id: String,
    version: i64,
    doc: &str,
    now: NaiveDateTime,
) -> Result<Option<Orphan>> {
    let doc: Value = serde_json::from_str(doc)?;
    let mut reasons = Vec::new();
    if let Some(end) = doc
        .get(LIFECYCLE_URN)
        .and_then(|x| x.get("endDate"))
        .and_then(Value::as_str)
    {
        if parse_end_date(end).is_some_and(|t| t < now) {
            reasons.push(OrphanReason::EndDatePassed {
                end_date: end.to_string(),
            });
        }
    }
    if version > 1 {
        if let Some(r) = reactivation(conn, &id)? {
            reasons.push(r);
        }
    }
    if reasons.is_empty() {
        return Ok(None);
    }
    let user_name = doc
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok(Some(Orphan {
        user_id: id,
        user_name,
        version,
        reasons,
    }))
}

/// An `endDate`: RFC 3339, a date-time without offset (UTC), or a date (its midnight UTC).
fn parse_end_date(s: &str) -> Option<NaiveDateTime> {
    scim::meta::parse_datetime(s)
        .map(|t| t.naive_utc())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// The last inactive -> active transition of a (currently active) user, if any.
fn reactivation(conn: &mut DbConn, id: &str) -> Result<Option<OrphanReason>> {
    let rows: Vec<(i64, String, NaiveDateTime, i64)> = resource_versions::table
        .filter(resource_versions::resource_type.eq("User"))
        .filter(resource_versions::resource_id.eq(id))
        .order(resource_versions::version.asc())
        .select((
            resource_versions::version,
            resource_versions::doc,
            resource_versions::valid_from,
            resource_versions::event_seq,
        ))
        .load(conn)?;
    let mut flags = Vec::with_capacity(rows.len());
    for (_, doc, _, _) in &rows {
        let doc: Value = serde_json::from_str(doc)?;
        flags.push(scim::resource::user_projection(&doc).active);
    }
    let Some(i) = (1..rows.len()).rev().find(|&i| flags[i] && !flags[i - 1]) else {
        return Ok(None);
    };
    let mut start = i - 1;
    while start > 0 && !flags[start - 1] {
        start -= 1;
    }
    let event = crate::events::by_seq(conn, rows[i].3)?;
    let deactivated_by = crate::events::by_seq(conn, rows[start].3)?.map(|e| e.actor);
    Ok(Some(OrphanReason::Reactivated {
        version: rows[i].0,
        reactivated_at: rows[i].2,
        event_seq: rows[i].3,
        event: event.map(Box::new),
        deactivated_at: rows[start].2,
        deactivated_by,
    }))
}

/// Groups the rows of [`groups_of_member`] by group id, keeping their order.
pub fn by_group(rows: Vec<GroupPath>) -> BTreeMap<String, Vec<GroupPath>> {
    let mut out: BTreeMap<String, Vec<GroupPath>> = BTreeMap::new();
    for r in rows {
        out.entry(r.group_id.clone()).or_default().push(r);
    }
    out
}

/// Row count helper for tests and the benchmark: `(events, resource_versions)`.
pub fn sizes(conn: &mut DbConn) -> Result<(i64, i64)> {
    let e: i64 = events::table.count().get_result(conn)?;
    let v: i64 = resource_versions::table.count().get_result(conn)?;
    Ok((e, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(numbered("a = ? AND b < ?"), "a = $1 AND b < $2");
    }

    #[test]
    fn end_dates_parse_in_three_forms() {
        assert!(parse_end_date("2026-03-01").is_some());
        assert!(parse_end_date("2026-03-01T10:00:00Z").is_some());
        assert!(parse_end_date("2026-03-01T10:00:00").is_some());
        assert!(parse_end_date("soon").is_none());
    }
}
