//! Access governance in the write path (docs/governance.md): the settings of Roster's Group
//! extension (`requiresApproval`, `approvers`, `maxDurationDays`), who may change them, who may
//! decide an access request, admin grants with an end, and the scheduler's job that expires
//! undecided requests and memberships that reached their end.
//!
//! - **Settings** live in the group document; `groups.requires_approval` projects the flag so
//!   that [`approval_needed`] costs one partial-index probe on every add while no group requires
//!   approval, and a primary-key read per nesting level once some do.
//! - **Who may change them**: like protected groups ([`crate::protected`]), the check runs where
//!   the group is written, inside the write transaction: a writer without `admin`
//!   ([`crate::WriteCtx::may_govern`]) gets `403` for any change, so an HR `scim.write` token
//!   cannot switch approval off. A PUT that omits the extension keeps the stored settings.
//! - **Deciders**: a token's name is its identity. It is matched to a User by `userName`; a
//!   group with approvers accepts a token whose User is listed, or a member (directly or through
//!   nesting) of a listed Group.
//! - **Expiry** is one scheduler job, [`JOB`], due at the earliest deadline (an undecided
//!   request's time to live, a membership's end); it runs in batches and reschedules itself.

use std::collections::HashSet;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use scim::governance::Settings;
use scim::resource::{MemberKind, MemberRef};
use serde_json::{json, Value};

use crate::access_requests::{self, Request};
use crate::conn::DbConn;
use crate::error::{Error, Result};
use crate::events::format_ts;
use crate::members::{self, MANUAL};
use crate::schema::{groups, rule_grants, users};
use crate::write::Tx;

/// The scheduler job that expires undecided requests and memberships at their end.
pub const JOB: &str = "governance";

fn forbidden(detail: String) -> Error {
    Error::Scim(scim::Error::new(403, None, detail))
}

/// Checks and completes the governance settings of a group document about to be written:
/// approvers must name existing Users or Groups (their `type` is filled in), and a writer
/// without `admin` may not change the settings (`403`). `before` is the stored document (`None`
/// on create); with `put`, a document without the extension keeps the stored settings. Returns
/// whether the group requires approval (the `groups.requires_approval` projection).
pub(crate) fn prepare(
    tx: &mut Tx<'_>,
    group_id: &str,
    before: Option<&Value>,
    after: &mut Value,
    put: bool,
) -> Result<bool> {
    if let (true, Some(b)) = (put, before) {
        scim::governance::keep_if_omitted(b, after);
    }
    let mut new = scim::governance::settings(after)?;
    let old = match before {
        Some(b) => scim::governance::settings(b)?,
        None => Settings::default(),
    };
    if unchanged(&old, &new) {
        // re-sent as stored (perhaps without the types Roster filled in): not a change, and
        // approvers deleted since do not block unrelated writes
        scim::governance::set_approvers(after, &old.approvers);
        return Ok(old.requires_approval);
    }
    if !new.approvers.is_empty() {
        new.approvers = resolve_approvers(tx.conn, &new.approvers)?;
        scim::governance::set_approvers(after, &new.approvers);
    }
    if !tx.ctx().may_govern {
        let name = scim::resource::group_projection(after).display_name;
        let what = if before.is_some() {
            format!("group '{name}' ({group_id}): changing its governance settings")
        } else {
            format!("creating group '{name}' with governance settings")
        };
        return Err(forbidden(format!(
            "{what} ({}) needs a token with the 'admin' scope",
            scim::schema::GOVERNANCE_GROUP_SCHEMA
        )));
    }
    Ok(new.requires_approval)
}

/// Whether `new` (as a client sent it) says what `old` (as stored, with approver types) says:
/// an approver sent without a `type` matches the stored one with the same id.
fn unchanged(old: &Settings, new: &Settings) -> bool {
    old.requires_approval == new.requires_approval
        && old.max_duration_days == new.max_duration_days
        && old.approvers.len() == new.approvers.len()
        && old
            .approvers
            .iter()
            .zip(&new.approvers)
            .all(|(o, n)| o.value == n.value && (n.kind.is_none() || n.kind == o.kind))
}

/// Resolves approver references to existing Users or Groups (of the stated type, if given).
fn resolve_approvers(conn: &mut DbConn, refs: &[MemberRef]) -> Result<Vec<MemberRef>> {
    let ids: Vec<&str> = refs.iter().map(|r| r.value.as_str()).collect();
    let (user_ids, group_ids) = members::existing(conn, &ids)?;
    let at = format!("{}:approvers", scim::schema::GOVERNANCE_GROUP_SCHEMA);
    refs.iter()
        .enumerate()
        .map(|(i, r)| {
            let found = if user_ids.contains(&r.value) {
                MemberKind::User
            } else if group_ids.contains(&r.value) {
                MemberKind::Group
            } else {
                return Err(Error::Scim(scim::Error::invalid_value(format!(
                    "{at}[{i}]: no User or Group has id '{}'",
                    r.value
                ))));
            };
            if r.kind.is_some_and(|k| k != found) {
                return Err(Error::Scim(scim::Error::invalid_value(format!(
                    "{at}[{i}]: '{}' is a {}",
                    r.value,
                    found.as_str()
                ))));
            }
            Ok(MemberRef {
                value: r.value.clone(),
                kind: Some(found),
            })
        })
        .collect()
}

/// The group whose settings require approval for adding a member to `group_id`: the group
/// itself, or the nearest group it is nested in (directly or not) that requires approval — a
/// member of a nested group is a member of the outer group too. `None` if no approval is needed.
pub(crate) fn approval_needed(conn: &mut DbConn, group_id: &str) -> Result<Option<String>> {
    // while no group requires approval (one probe of a partial index), nothing to walk
    let any: Option<String> = groups::table
        .filter(groups::requires_approval)
        .select(groups::id)
        .first(conn)
        .optional()?;
    if any.is_none() {
        return Ok(None);
    }
    members::nearest_enclosing(conn, group_id, |conn, level| {
        Ok(groups::table
            .filter(groups::id.eq_any(level))
            .filter(groups::requires_approval)
            .order(groups::id.asc())
            .select(groups::id)
            .first(conn)
            .optional()?)
    })
}

/// The governance settings of a group (defaults if it has none, or no longer exists).
pub fn settings_of(conn: &mut DbConn, group_id: &str) -> Result<Settings> {
    match crate::groups::get(conn, group_id) {
        Ok(g) => Ok(scim::governance::settings(&g.doc)?),
        Err(Error::NotFound) => Ok(Settings::default()),
        Err(e) => Err(e),
    }
}

/// The User a token name stands for: the one whose `userName` it is (compared as userNames
/// are), if any.
pub fn user_of_token_name(conn: &mut DbConn, name: &str) -> Result<Option<String>> {
    Ok(users::table
        .filter(users::user_name_norm.eq(scim::resource::normalize_case(name)))
        .select(users::id)
        .first(conn)
        .optional()?)
}

/// Whether the writer may decide request `r` (approve, or deny); returns the governing group's
/// settings. Refused with `403`:
/// - approving a request the writer made (same token id, or same token name — which also covers
///   requests made without a token, by `cli` or `scheduler`);
/// - approving access for the writer's own User;
/// - a group with approvers, when the writer's User (by token name) is not one of them nor a
///   member of a listed Group.
pub(crate) fn check_decider(tx: &mut Tx<'_>, r: &Request, approving: bool) -> Result<Settings> {
    let actor = tx.ctx().actor.clone();
    let actor_id = tx.ctx().actor_id.clone();
    if approving {
        let same_token = r.requested_by_id.is_some() && r.requested_by_id == actor_id;
        let same_name = scim::resource::normalize_case(&r.requested_by)
            == scim::resource::normalize_case(&actor);
        if same_token || same_name {
            return Err(forbidden(format!(
                "access request {} was requested by '{}': the requester cannot approve its own \
                 request; another approver must decide",
                r.id, r.requested_by
            )));
        }
    }
    let me = user_of_token_name(tx.conn, &actor)?;
    if approving && me.as_deref() == Some(r.member_id.as_str()) {
        return Err(forbidden(format!(
            "'{actor}' cannot approve access for itself; another approver must decide"
        )));
    }
    let settings = settings_of(tx.conn, &r.governed_by)?;
    if settings.approvers.is_empty() {
        return Ok(settings);
    }
    let listed = match &me {
        None => false,
        Some(uid) => {
            let mine: HashSet<String> =
                members::groups_of_transitive(tx.conn, std::slice::from_ref(uid))?
                    .into_iter()
                    .map(|(_, g, _)| g)
                    .collect();
            settings.approvers.iter().any(|a| match a.kind {
                Some(MemberKind::Group) => mine.contains(&a.value),
                _ => &a.value == uid,
            })
        }
    };
    if !listed {
        let name = crate::groups::display_names(tx.conn, std::slice::from_ref(&r.governed_by))?
            .into_iter()
            .next()
            .map(|(_, n)| n)
            .unwrap_or_default();
        let why = if me.is_none() {
            "its name is no User's userName"
        } else {
            "its User is not listed, nor a member of a listed Group"
        };
        return Err(forbidden(format!(
            "the token '{actor}' is not an approver of group '{name}' ({}): {why}",
            r.governed_by
        )));
    }
    Ok(settings)
}

/// Makes the governance job due no later than `at`.
pub(crate) fn schedule(conn: &mut DbConn, at: NaiveDateTime) -> Result<()> {
    crate::jobs::schedule_no_later(conn, JOB, at)
}

/// One batch of the governance job (in the caller's write transaction): expires up to `batch`
/// requests undecided for longer than `ttl` and ends up to `batch` memberships whose end has
/// come. Returns true when nothing due is left.
pub fn expire_due(tx: &mut Tx<'_>, ttl: TimeDelta, batch: i64) -> Result<bool> {
    let now = tx.now();
    let requests = access_requests::expire(tx, now - ttl, ttl, batch)?;
    let ended = members::expired(tx.conn, now, batch)?;
    let memberships = ended.len();
    for m in ended {
        end_membership(tx, &m)?;
    }
    Ok((requests as i64) < batch && (memberships as i64) < batch)
}

/// Schedules the governance job at the next deadline (after [`expire_due`] finished).
pub fn reschedule(tx: &mut Tx<'_>, ttl: TimeDelta) -> Result<()> {
    let next_request = access_requests::oldest_pending(tx.conn)?.map(|t| t + ttl);
    let next_end = members::next_expiry(tx.conn)?;
    match next_request.into_iter().chain(next_end).min() {
        Some(at) => crate::jobs::schedule(tx.conn, JOB, at),
        None => crate::jobs::cancel(tx.conn, JOB),
    }
}

/// A membership reached its end. It is removed (group event `membership.expired`), unless it
/// is manual, a rule grants it too and its group needs no approval: a rule's grant is not
/// time-bound, so the membership stays, held by the rule.
fn end_membership(tx: &mut Tx<'_>, m: &members::Membership) -> Result<()> {
    let held_by_rule: Option<String> = if m.source == MANUAL {
        rule_grants::table
            .filter(rule_grants::group_id.eq(&m.group_id))
            .filter(rule_grants::user_id.eq(&m.member_id))
            .order(rule_grants::rule_id.asc())
            .select(rule_grants::rule_id)
            .first(tx.conn)
            .optional()?
    } else {
        None
    };
    if let Some(rule) = held_by_rule {
        if approval_needed(tx.conn, &m.group_id)?.is_none() {
            members::set_expiry(tx, &m.group_id, &m.member_id, None)?;
            members::set_source(
                tx,
                &m.group_id,
                &m.member_id,
                &crate::rules::source_of(&rule),
            )?;
            return Ok(());
        }
    }
    if members::remove_by_lifecycle(tx, &m.group_id, &m.member_id)? {
        let at = m.expires_at.map(format_ts);
        crate::groups::record_member_event(
            tx,
            &m.group_id,
            "membership.expired",
            &[],
            std::slice::from_ref(&m.member_id),
            json!({"source": m.source, "reason": "membership expired", "expiresAt": at}),
        )?;
    }
    Ok(())
}

/// What an admin grant did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// The membership as it now is.
    pub membership: members::Membership,
    /// Whether it is new (false: an existing membership got this end).
    pub created: bool,
}

/// An admin's grant of a membership (the admin API): a new membership, or a new end for an
/// existing one, ending at the earlier of `until` and the governing group's `maxDurationDays`.
/// It needs no approval (the admin decides) and withdraws a pending request for it.
pub fn grant(
    tx: &mut Tx<'_>,
    group_id: &str,
    member: &MemberRef,
    until: access_requests::Until,
    reason: Option<&str>,
) -> Result<Granted> {
    crate::groups::get(tx.conn, group_id)?;
    let resolved = members::resolve(tx.conn, group_id, std::slice::from_ref(member))?;
    let Some(m) = resolved.into_iter().next() else {
        return Err(Error::NotFound);
    };
    let now = tx.now();
    let governed_by = approval_needed(tx.conn, group_id)?.unwrap_or_else(|| group_id.to_string());
    let expires = until.end(now, settings_of(tx.conn, &governed_by)?.max_duration_days)?;
    access_requests::withdraw(
        tx,
        access_requests::Pending::Of(group_id, &m.id),
        "granted by an admin",
    )?;
    let mut change = json!({"source": MANUAL, "reason": reason.unwrap_or("granted by an admin")});
    if let (Some(at), Some(o)) = (expires, change.as_object_mut()) {
        o.insert("expiresAt".into(), Value::String(format_ts(at)));
    }
    let created = members::add_settled(tx, group_id, &m, MANUAL, expires)?;
    if created {
        crate::groups::record_member_change_with(
            tx,
            group_id,
            std::slice::from_ref(&m.id),
            &[],
            change,
        )?;
    } else {
        members::set_expiry(tx, group_id, &m.id, expires)?;
        if let Some(o) = change.as_object_mut() {
            o.insert("member".into(), Value::String(m.id.clone()));
            o.remove("source");
            if expires.is_none() {
                o.insert("expiresAt".into(), Value::Null);
            }
        }
        crate::groups::record_member_event(
            tx,
            group_id,
            "membership.expiry_set",
            &[],
            &[],
            change,
        )?;
    }
    let membership = members::membership(tx.conn, group_id, &m.id)?.ok_or(Error::NotFound)?;
    Ok(Granted {
        membership,
        created,
    })
}

/// An admin's removal of a membership (the admin API), with a `members` event. A membership a
/// rule grants is refused with `409` when its group needs no approval (change the rule or the
/// user instead); in a group that needs approval the rule's grant stays without the membership,
/// as after a denial. `404` if there is no such membership.
pub fn revoke(tx: &mut Tx<'_>, group_id: &str, member_id: &str) -> Result<()> {
    let Some(m) = members::membership(tx.conn, group_id, member_id)? else {
        return Err(Error::NotFound);
    };
    let granted_by: Option<String> = rule_grants::table
        .filter(rule_grants::group_id.eq(group_id))
        .filter(rule_grants::user_id.eq(member_id))
        .order(rule_grants::rule_id.asc())
        .select(rule_grants::rule_id)
        .first(tx.conn)
        .optional()?;
    if let Some(rule) = granted_by {
        if approval_needed(tx.conn, group_id)?.is_none() {
            return Err(Error::Scim(scim::Error::conflict(format!(
                "rule {rule} grants this membership: change the rule or the user's attributes"
            ))));
        }
    }
    members::remove_by_lifecycle(tx, group_id, member_id)?;
    crate::groups::record_member_change_with(
        tx,
        group_id,
        &[],
        &[member_id.to_string()],
        json!({"source": m.source, "reason": "revoked by an admin"}),
    )
}
