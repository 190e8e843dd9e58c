//! Access requests (docs/governance.md): an add to a group that requires approval, waiting for
//! a decision.
//!
//! [`crate::members`] opens one (in the adder's write transaction) instead of adding the
//! membership; at most one request per (group, member) is pending, so repeated adds find the
//! same one. A request is closed by a decision ([`approve`], [`deny`]), by lapsing when nobody
//! decides in time ([`expire`], run by the scheduler), or by being withdrawn ([`withdraw`]: the
//! client removed the member, the member or group was deleted, the user left). Every step is an
//! event on resource type `AccessRequest`: `access.requested`, `access.approved`,
//! `access.denied`, `access.expired`, `access.withdrawn`, each carrying the request with its
//! requester, decider and reason.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::conn::DbConn;
use crate::error::{Error, Result};
use crate::events::format_ts;
use crate::members::Member;
use crate::schema::{access_requests, rule_grants};
use crate::write::Tx;

/// `events.resource_type` of access request events.
pub const RESOURCE: &str = "AccessRequest";
/// Waiting for a decision.
pub const PENDING: &str = "pending";
/// Approved: the membership was granted.
pub const APPROVED: &str = "approved";
/// Denied.
pub const DENIED: &str = "denied";
/// Nobody decided in time.
pub const EXPIRED: &str = "expired";
/// Closed without a decision: the add was taken back, or the member or group is gone.
pub const WITHDRAWN: &str = "withdrawn";
/// Every status, for validating a listing filter.
pub const STATUSES: [&str; 5] = [PENDING, APPROVED, DENIED, EXPIRED, WITHDRAWN];

/// A stored access request.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = access_requests)]
pub struct Request {
    /// Id (UUID).
    pub id: String,
    /// The group the member is to be added to.
    pub group_id: String,
    /// The member to add.
    pub member_id: String,
    /// `User` or `Group`.
    pub member_type: String,
    /// What asked for the membership: `manual` (a SCIM client) or `rule:ID`.
    pub source: String,
    /// The group whose `requiresApproval` asked for this request: `group_id`, or a group it is
    /// nested in. Its approvers decide, its `maxDurationDays` applies.
    pub governed_by: String,
    /// `pending`, `approved`, `denied`, `expired` or `withdrawn`.
    pub status: String,
    /// Who asked (token name, `scheduler`, `cli` …).
    pub requested_by: String,
    /// The requester's token id, if any.
    pub requested_by_id: Option<String>,
    /// When.
    pub requested: NaiveDateTime,
    /// Who decided or closed it.
    pub decided_by: Option<String>,
    /// That actor's token id, if any.
    pub decided_by_id: Option<String>,
    /// When it was decided or closed.
    pub decided: Option<NaiveDateTime>,
    /// The decider's reason (or why it was closed).
    pub reason: Option<String>,
    /// The end of the membership an approval granted, if it has one.
    pub access_expires: Option<NaiveDateTime>,
    /// A JSON object: `sodConflicts`, the separation-of-duties policies granting it would
    /// violate when it was opened (approving it then needs `acceptSodException`), and
    /// `justification`, why an admin opened it explicitly ([`open_explicit`]).
    pub notes: Option<String>,
}

/// The JSON view of a request (API answers and event bodies).
pub fn view(r: &Request) -> Value {
    let actor = |name: &Option<String>, id: &Option<String>| match name {
        Some(n) => json!({"actor": n, "actorId": id}),
        None => Value::Null,
    };
    json!({
        "id": r.id,
        "groupId": r.group_id,
        "memberId": r.member_id,
        "memberType": r.member_type,
        "source": r.source,
        "governedBy": r.governed_by,
        "status": r.status,
        "requester": actor(&Some(r.requested_by.clone()), &r.requested_by_id),
        "requestedAt": format_ts(r.requested),
        "decidedBy": actor(&r.decided_by, &r.decided_by_id),
        "decidedAt": r.decided.map(format_ts),
        "reason": r.reason,
        "expiresAt": r.access_expires.map(format_ts),
        "sodConflicts": note(r, "sodConflicts").unwrap_or_else(|| json!([])),
        "justification": note(r, "justification"),
    })
}

/// One field of a request's notes.
fn note(r: &Request, key: &str) -> Option<Value> {
    let notes: Value = serde_json::from_str(r.notes.as_deref()?).ok()?;
    notes.get(key).cloned()
}

fn not_found(id: &str) -> Error {
    Error::Scim(scim::Error::not_found(format!(
        "access request {id} not found"
    )))
}

/// One request.
pub fn get(conn: &mut DbConn, id: &str) -> Result<Request> {
    access_requests::table
        .find(id)
        .select(Request::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| not_found(id))
}

/// The pending request of (group, member), if any.
pub fn pending_of(conn: &mut DbConn, group_id: &str, member_id: &str) -> Result<Option<Request>> {
    Ok(access_requests::table
        .filter(access_requests::group_id.eq(group_id))
        .filter(access_requests::member_id.eq(member_id))
        .filter(access_requests::status.eq(PENDING))
        .select(Request::as_select())
        .get_result(conn)
        .optional()?)
}

/// One page of requests (all, or those with `status`), newest first; with the total count.
pub fn list(
    conn: &mut DbConn,
    status: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<Request>)> {
    let mut count = access_requests::table.count().into_boxed();
    let mut page = access_requests::table
        .select(Request::as_select())
        .into_boxed();
    if let Some(s) = status {
        count = count.filter(access_requests::status.eq(s));
        page = page.filter(access_requests::status.eq(s));
    }
    let total: i64 = count.get_result(conn)?;
    let rows = page
        .order((
            access_requests::requested.desc(),
            access_requests::id.desc(),
        ))
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    Ok((total, rows))
}

/// What a request is opened for, besides the membership.
#[derive(Debug, Clone, Default)]
pub(crate) struct Opening {
    /// The names of the SoD policies its grant would violate.
    pub sod_conflicts: Vec<String>,
    /// The admin's reason, for an explicit request.
    pub justification: Option<String>,
}

/// Opens the request to add `m` to `group_id` (asked for by `source`, required by the settings
/// of `governed_by`), or returns the pending one (false): repeated adds are idempotent.
pub(crate) fn open(
    tx: &mut Tx<'_>,
    group_id: &str,
    m: &Member,
    source: &str,
    governed_by: &str,
    opening: Opening,
) -> Result<(Request, bool)> {
    if let Some(r) = pending_of(tx.conn, group_id, &m.id)? {
        return Ok((r, false));
    }
    let mut notes = serde_json::Map::new();
    if !opening.sod_conflicts.is_empty() {
        notes.insert("sodConflicts".into(), Value::from(opening.sod_conflicts));
    }
    if let Some(j) = opening.justification {
        notes.insert("justification".into(), Value::String(j));
    }
    let notes = (!notes.is_empty()).then(|| Value::Object(notes).to_string());
    let ctx = tx.ctx();
    let r = Request {
        id: uuid::Uuid::new_v4().to_string(),
        group_id: group_id.to_string(),
        member_id: m.id.clone(),
        member_type: m.member_type.clone(),
        source: source.to_string(),
        governed_by: governed_by.to_string(),
        status: PENDING.into(),
        requested_by: ctx.actor.clone(),
        requested_by_id: ctx.actor_id.clone(),
        requested: tx.now(),
        decided_by: None,
        decided_by_id: None,
        decided: None,
        reason: None,
        access_expires: None,
        notes,
    };
    diesel::insert_into(access_requests::table)
        .values((
            access_requests::id.eq(&r.id),
            access_requests::group_id.eq(&r.group_id),
            access_requests::member_id.eq(&r.member_id),
            access_requests::member_type.eq(&r.member_type),
            access_requests::source.eq(&r.source),
            access_requests::governed_by.eq(&r.governed_by),
            access_requests::status.eq(&r.status),
            access_requests::requested_by.eq(&r.requested_by),
            access_requests::requested_by_id.eq(&r.requested_by_id),
            access_requests::requested.eq(r.requested),
            access_requests::notes.eq(&r.notes),
        ))
        .execute(tx.conn)?;
    tx.append_event(
        "access.requested",
        RESOURCE,
        &r.id,
        1,
        None,
        Some(view(&r).to_string()),
    )?;
    // the scheduler looks at it soon and settles on its deadline (the time to live is the
    // server's setting)
    crate::governance::schedule(tx.conn, tx.now())?;
    Ok((r, true))
}

/// An admin opens a request explicitly (the admin API): for a group that requires approval, or
/// for a membership that separation of duties refuses otherwise, so that an approver can accept
/// the exception. Returns the request and whether it is new (false: the pending one). `404` for
/// an unknown group, `400` for an unknown member, `409` if it is a member already.
pub fn open_explicit(
    tx: &mut Tx<'_>,
    group_id: &str,
    member: &scim::resource::MemberRef,
    reason: &str,
) -> Result<(Request, bool)> {
    crate::groups::get(tx.conn, group_id).map_err(|e| match e {
        Error::NotFound => Error::Scim(scim::Error::not_found(format!(
            "group {group_id} not found"
        ))),
        other => other,
    })?;
    let resolved = crate::members::resolve(tx.conn, group_id, std::slice::from_ref(member))?;
    let Some(m) = resolved.into_iter().next() else {
        return Err(Error::NotFound);
    };
    if crate::members::membership(tx.conn, group_id, &m.id)?.is_some() {
        return Err(conflict(format!(
            "{} is already a member of group {group_id}",
            m.id
        )));
    }
    let governed_by = crate::governance::approval_needed(tx.conn, group_id)?
        .unwrap_or_else(|| group_id.to_string());
    let found = crate::sod::conflicts(tx.conn, group_id, &m)?;
    let opening = Opening {
        sod_conflicts: crate::sod::policy_names(&found),
        justification: Some(reason.to_string()),
    };
    open(
        tx,
        group_id,
        &m,
        crate::members::MANUAL,
        &governed_by,
        opening,
    )
}

/// Closes a pending request with `status` (approved, denied, expired, withdrawn) as decided by
/// the writer, with `reason`; appends `access.<status>` with the request before and after.
fn close(
    tx: &mut Tx<'_>,
    r: &Request,
    status: &str,
    reason: &str,
    access_expires: Option<NaiveDateTime>,
) -> Result<Request> {
    let ctx = tx.ctx();
    let closed = Request {
        status: status.to_string(),
        decided_by: Some(ctx.actor.clone()),
        decided_by_id: ctx.actor_id.clone(),
        decided: Some(tx.now()),
        reason: Some(reason.to_string()),
        access_expires,
        ..r.clone()
    };
    let n = diesel::update(
        access_requests::table
            .filter(access_requests::id.eq(&r.id))
            .filter(access_requests::status.eq(PENDING)),
    )
    .set((
        access_requests::status.eq(&closed.status),
        access_requests::decided_by.eq(&closed.decided_by),
        access_requests::decided_by_id.eq(&closed.decided_by_id),
        access_requests::decided.eq(closed.decided),
        access_requests::reason.eq(&closed.reason),
        access_requests::access_expires.eq(closed.access_expires),
    ))
    .execute(tx.conn)?;
    if n != 1 {
        return Err(already_decided(&r.id, &get(tx.conn, &r.id)?.status));
    }
    tx.append_event(
        &format!("access.{status}"),
        RESOURCE,
        &r.id,
        2,
        Some(view(r).to_string()),
        Some(view(&closed).to_string()),
    )?;
    Ok(closed)
}

fn already_decided(id: &str, status: &str) -> Error {
    Error::Scim(scim::Error::conflict(format!(
        "access request {id} is already {status}: a request is decided once"
    )))
}

/// Loads a request that must still be pending (404 if unknown, 409 if closed).
fn pending(tx: &mut Tx<'_>, id: &str) -> Result<Request> {
    let r = get(tx.conn, id)?;
    if r.status != PENDING {
        return Err(already_decided(id, &r.status));
    }
    Ok(r)
}

/// How long an approval grants access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// No end of its own (the group's `maxDurationDays` may still set one).
    Open,
    /// Until this instant (must be in the future).
    At(NaiveDateTime),
    /// For this many days from the decision.
    Days(i64),
}

impl Until {
    /// The end of access granted at `now`: the earlier of this and `max_days` after `now`
    /// (`None`: no end). An instant that is not in the future is `400 invalidValue`.
    pub fn end(self, now: NaiveDateTime, max_days: Option<i64>) -> Result<Option<NaiveDateTime>> {
        let asked = match self {
            Until::Open => None,
            Until::At(t) if t <= now => {
                return Err(Error::Scim(scim::Error::invalid_value(
                    "expiresAt: must be in the future",
                )))
            }
            Until::At(t) => Some(t),
            Until::Days(d) => Some(now + TimeDelta::days(d)),
        };
        let cap = max_days.map(|d| now + TimeDelta::days(d));
        Ok(match (asked, cap) {
            (Some(a), Some(c)) => Some(a.min(c)),
            (a, c) => a.or(c),
        })
    }
}

fn conflict(detail: String) -> Error {
    Error::Scim(scim::Error::conflict(detail))
}

/// Approves a pending request as the writer (who must be allowed to: see
/// [`crate::governance::check_decider`]) and grants the membership, ending at the earlier of
/// `until` and the governing group's `maxDurationDays`. Refused with 409 if the request was
/// decided already or the membership can no longer be granted (the member or its rule grant is
/// gone, the user is inactive).
///
/// If the grant would violate a separation-of-duties policy (checked now, not when the request
/// was opened), it is refused with 409 naming the policy unless `accept_sod` is set: then the
/// exception is recorded ([`crate::sod`]: a row and a `sod.exception_accepted` event per
/// policy and user) and the membership granted.
pub fn approve(
    tx: &mut Tx<'_>,
    id: &str,
    reason: &str,
    until: Until,
    accept_sod: bool,
) -> Result<Request> {
    let r = pending(tx, id)?;
    let settings = crate::governance::check_decider(tx, &r, true)?;
    let now = tx.now();
    let expires = until.end(now, settings.max_duration_days)?;
    check_grantable(tx, &r)?;
    let m = Member {
        id: r.member_id.clone(),
        member_type: r.member_type.clone(),
    };
    let found = crate::sod::conflicts(tx.conn, &r.group_id, &m)?;
    if let Some(first) = found.first() {
        if !accept_sod {
            return Err(conflict(format!(
                "separation of duties: {}; approve with \"acceptSodException\": true to accept \
                 the exception (it is recorded), or deny the request",
                crate::sod::describe(tx.conn, first)?
            )));
        }
        crate::sod::accept(tx, &found, reason, &r.id)?;
    }
    let added = crate::members::add_settled(tx, &r.group_id, &m, &r.source, expires)?;
    let closed = close(tx, &r, APPROVED, reason, expires.filter(|_| added))?;
    if added {
        let mut change = json!({
            "source": r.source,
            "reason": "access request approved",
            "accessRequest": r.id,
        });
        if let (Some(at), Some(o)) = (expires, change.as_object_mut()) {
            o.insert("expiresAt".into(), Value::String(format_ts(at)));
        }
        crate::groups::record_member_change_with(
            tx,
            &r.group_id,
            std::slice::from_ref(&r.member_id),
            &[],
            change,
        )?;
    }
    Ok(closed)
}

/// Checks that the membership a request asks for can still be granted.
fn check_grantable(tx: &mut Tx<'_>, r: &Request) -> Result<()> {
    if r.member_type == "User" {
        match crate::users::get(tx.conn, &r.member_id) {
            Ok(u) => {
                if scim::lifecycle::stored_phase(&u.doc) == scim::lifecycle::Phase::Inactive {
                    return Err(conflict(format!(
                        "user {} is inactive: deny the request instead",
                        r.member_id
                    )));
                }
            }
            Err(Error::NotFound) => {
                return Err(conflict(format!("user {} no longer exists", r.member_id)))
            }
            Err(e) => return Err(e),
        }
    } else {
        match crate::groups::get(tx.conn, &r.member_id) {
            Ok(_) => {
                crate::members::check_no_cycle(tx.conn, &r.group_id, &r.member_id).map_err(|e| {
                    match e {
                        Error::Scim(s) => conflict(s.detail.into_owned()),
                        other => other,
                    }
                })?
            }
            Err(Error::NotFound) => {
                return Err(conflict(format!("group {} no longer exists", r.member_id)))
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(rule) = crate::rules::rule_of_source(&r.source) {
        let granted: i64 = rule_grants::table
            .filter(rule_grants::rule_id.eq(rule))
            .filter(rule_grants::group_id.eq(&r.group_id))
            .filter(rule_grants::user_id.eq(&r.member_id))
            .count()
            .get_result(tx.conn)?;
        if granted == 0 {
            return Err(conflict(format!(
                "rule {rule} no longer grants this membership: deny the request instead"
            )));
        }
    }
    Ok(())
}

/// Denies a pending request as the writer (see [`crate::governance::check_decider`]).
pub fn deny(tx: &mut Tx<'_>, id: &str, reason: &str) -> Result<Request> {
    let r = pending(tx, id)?;
    crate::governance::check_decider(tx, &r, false)?;
    close(tx, &r, DENIED, reason, None)
}

/// Which pending requests to withdraw.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pending<'a> {
    /// The one of (group, member).
    Of(&'a str, &'a str),
    /// Every request of a group (it is deleted).
    OfGroup(&'a str),
    /// Every request for a member (deleted, or a user that left).
    OfMember(&'a str),
    /// A group's requests except for these members (a client replaced the member list).
    OfGroupExcept(&'a str, &'a [&'a str]),
    /// A rule's request of (group, user) (the rule no longer grants it).
    OfRule(&'a str, &'a str, &'a str),
}

/// Withdraws pending requests (`access.withdrawn`, with `reason`); returns how many.
pub(crate) fn withdraw(tx: &mut Tx<'_>, which: Pending<'_>, reason: &str) -> Result<usize> {
    let mut q = access_requests::table
        .filter(access_requests::status.eq(PENDING))
        .select(Request::as_select())
        .into_boxed();
    q = match which {
        Pending::Of(g, m) => q
            .filter(access_requests::group_id.eq(g))
            .filter(access_requests::member_id.eq(m)),
        Pending::OfGroup(g) => q.filter(access_requests::group_id.eq(g)),
        Pending::OfMember(m) => q.filter(access_requests::member_id.eq(m)),
        Pending::OfGroupExcept(g, _) => q.filter(access_requests::group_id.eq(g)),
        Pending::OfRule(rule, g, m) => q
            .filter(access_requests::group_id.eq(g))
            .filter(access_requests::member_id.eq(m))
            .filter(access_requests::source.eq(crate::rules::source_of(rule))),
    };
    let mut rows: Vec<Request> = q.order(access_requests::id.asc()).load(tx.conn)?;
    if let Pending::OfGroupExcept(_, keep) = which {
        rows.retain(|r| !keep.contains(&r.member_id.as_str()));
    }
    for r in &rows {
        close(tx, r, WITHDRAWN, reason, None)?;
    }
    Ok(rows.len())
}

/// Expires up to `limit` pending requests made at or before `cutoff` (nobody decided within the
/// time to live, `ttl`); returns how many.
pub fn expire(tx: &mut Tx<'_>, cutoff: NaiveDateTime, ttl: TimeDelta, limit: i64) -> Result<usize> {
    let rows: Vec<Request> = access_requests::table
        .filter(access_requests::status.eq(PENDING))
        .filter(access_requests::requested.le(cutoff))
        .order((access_requests::requested.asc(), access_requests::id.asc()))
        .limit(limit)
        .select(Request::as_select())
        .load(tx.conn)?;
    let reason = format!("not decided within {} days", ttl.num_days());
    for r in &rows {
        close(tx, r, EXPIRED, &reason, None)?;
    }
    Ok(rows.len())
}

/// When the oldest pending request was made.
pub fn oldest_pending(conn: &mut DbConn) -> Result<Option<NaiveDateTime>> {
    Ok(access_requests::table
        .filter(access_requests::status.eq(PENDING))
        .select(diesel::dsl::min(access_requests::requested))
        .get_result(conn)?)
}
