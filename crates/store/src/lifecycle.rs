//! Applies rules and lifecycle dates to one user, inside the user's write transaction
//! (docs/lifecycle.md).
//!
//! [`apply`] runs after every write of a user (create, PUT, PATCH, Bulk, rehire) and from the
//! scheduler. It makes the user's rule grants match the rules in force: new grants arrive at
//! once, grants the user no longer matches get an expiry `graceDays` ahead (or end at once for
//! a grace of zero, a deleted rule, or a user who is no longer active). Inactive users have their
//! manual memberships suspended; active ones get suspended memberships back. Finally the user's
//! next due instant (start date, end date, earliest grace expiry) is scheduled as job `user:ID`.
//!
//! Memberships: one `group_members` row per (group, user), whatever holds it. Its `source` is
//! `manual` when a SCIM client added it (even if rules grant it too), else `rule:ID` of a rule
//! that grants it. A rule never adds a second row and never removes a `manual` one; a manual
//! removal of a membership a rule still grants leaves it in place with the rule as source.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::access_requests;
use crate::error::{Error, Result};
use crate::events::format_ts;
use crate::groups;
use crate::jobs;
use crate::members::{self, Member, MANUAL};
use crate::resource::StoredResource;
use crate::rules::{self, source_of};
use crate::schema::{group_members, groups as groups_t, rule_grants, suspended_memberships};
use crate::write::Tx;
use scim::lifecycle::{next_change, stored_phase, Phase};

/// Settles user `id` now: re-reads it and [`apply`]s rules and dates. A pre-hire whose start
/// date has come is activated, and an active user whose end date has passed is deactivated
/// (a new version, action `activate` or `deactivate`).
pub fn settle_user(tx: &mut Tx<'_>, id: &str) -> Result<()> {
    let user = match crate::users::get(tx.conn, id) {
        Ok(u) => u,
        Err(Error::NotFound) => {
            jobs::cancel(tx.conn, &jobs::user_job(id))?;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let mut doc = user.doc.clone();
    let before = stored_phase(&doc);
    let after = scim::lifecycle::settle(&mut doc, Some(before), tx.now());
    if doc != user.doc {
        let action = match after {
            Phase::Active => "activate",
            _ => "deactivate",
        };
        crate::users::rewrite(tx, user, doc, action)?;
        return Ok(());
    }
    apply(tx, &user)
}

fn group_exists(tx: &mut Tx<'_>, id: &str) -> Result<bool> {
    Ok(groups_t::table
        .find(id)
        .select(groups_t::id)
        .first::<String>(tx.conn)
        .optional()?
        .is_some())
}

fn membership_source(tx: &mut Tx<'_>, group_id: &str, user_id: &str) -> Result<Option<String>> {
    Ok(group_members::table
        .filter(group_members::group_id.eq(group_id))
        .filter(group_members::member_id.eq(user_id))
        .select(group_members::source)
        .first(tx.conn)
        .optional()?)
}

fn user_member(user_id: &str) -> Member {
    Member {
        id: user_id.to_string(),
        member_type: "User".into(),
    }
}

/// Makes (group, user) a member because rule `rule_id` grants it, unless it already is one.
fn grant_membership(tx: &mut Tx<'_>, group_id: &str, user_id: &str, rule_id: &str) -> Result<()> {
    let source = source_of(rule_id);
    if members::add_by_rule(tx, group_id, &user_member(user_id), &source)? {
        groups::record_member_change_with(
            tx,
            group_id,
            &[user_id.to_string()],
            &[],
            json!({"source": source, "reason": "rule grants it"}),
        )?;
    }
    Ok(())
}

/// Ends (group, user) after rule `rule_id` stopped granting it, unless the membership is
/// manual or another rule still grants it (the source then moves to that rule). A request for
/// it that waits for approval is withdrawn (and asked again for the other rule, if one grants
/// it).
fn revoke_membership(
    tx: &mut Tx<'_>,
    group_id: &str,
    user_id: &str,
    rule_id: &str,
    reason: &str,
) -> Result<()> {
    let others = rules::other_grants(tx.conn, group_id, user_id, rule_id)?;
    let Some(source) = membership_source(tx, group_id, user_id)? else {
        let withdrawn = access_requests::withdraw(
            tx,
            access_requests::Pending::OfRule(rule_id, group_id, user_id),
            reason,
        )?;
        if let (true, Some(other)) = (withdrawn > 0, others.first()) {
            grant_membership(tx, group_id, user_id, other)?;
        }
        return Ok(());
    };
    if source == MANUAL {
        return Ok(());
    }
    if let Some(other) = others.first() {
        if source == source_of(rule_id) {
            members::set_source(tx, group_id, user_id, &source_of(other))?;
        }
        return Ok(());
    }
    if members::remove_by_lifecycle(tx, group_id, user_id)? {
        groups::record_member_change_with(
            tx,
            group_id,
            &[],
            &[user_id.to_string()],
            json!({"source": source_of(rule_id), "reason": reason}),
        )?;
    }
    Ok(())
}

/// Applies rules, suspensions and the next due instant to a stored user (see the module docs).
pub fn apply(tx: &mut Tx<'_>, user: &StoredResource) -> Result<()> {
    let now = tx.now();
    let uid = user.id.as_str();
    let phase = stored_phase(&user.doc);
    let in_force = rules::in_force(tx.conn)?;
    let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
    if phase.gets_rule_access() {
        for r in in_force.iter().filter(|r| r.matches(uid, &user.doc)) {
            for g in &r.groups {
                wanted.insert((r.id.clone(), g.clone()));
            }
        }
    }
    let held: BTreeMap<(String, String), Option<NaiveDateTime>> =
        rules::grants_of(tx.conn, std::slice::from_ref(&user.id))?
            .into_iter()
            .map(|g| ((g.rule_id, g.group_id), g.expires))
            .collect();

    // grants that arrive (or whose grace period is cancelled because the user matches again)
    let mut cancelled: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (rule_id, group_id) in &wanted {
        match held.get(&(rule_id.clone(), group_id.clone())) {
            None => {
                if !group_exists(tx, group_id)? {
                    continue;
                }
                diesel::insert_into(rule_grants::table)
                    .values((
                        rule_grants::rule_id.eq(rule_id),
                        rule_grants::group_id.eq(group_id),
                        rule_grants::user_id.eq(uid),
                        rule_grants::granted.eq(now),
                    ))
                    .execute(tx.conn)?;
                grant_membership(tx, group_id, uid, rule_id)?;
            }
            Some(Some(_)) => {
                set_expiry(tx, rule_id, group_id, uid, None)?;
                // the membership is still there (the grant was in its grace period)
                grant_membership(tx, group_id, uid, rule_id)?;
                cancelled
                    .entry(rule_id.clone())
                    .or_default()
                    .push(group_id.clone());
            }
            Some(None) => {}
        }
    }
    for (rule_id, groups) in cancelled {
        notice(tx, &rule_id, "rule.expiry_cancelled", uid, &groups, None)?;
    }

    // grants that end, now or after the grace period
    let mut scheduled: BTreeMap<String, (Vec<String>, NaiveDateTime)> = BTreeMap::new();
    for ((rule_id, group_id), expires) in &held {
        if wanted.contains(&(rule_id.clone(), group_id.clone())) {
            continue;
        }
        let rule = in_force.iter().find(|r| &r.id == rule_id);
        let ends_now = if !phase.gets_rule_access() {
            Some("user is inactive")
        } else if rule.is_none() {
            Some("rule deleted")
        } else if !rule.is_some_and(|r| r.groups.contains(group_id)) {
            Some("rule no longer grants this group")
        } else if rule.is_some_and(|r| r.grace_days == 0) {
            Some("user no longer matches the rule")
        } else if expires.is_some_and(|e| e <= now) {
            Some("grace period ended")
        } else {
            None
        };
        match (ends_now, expires, rule) {
            (Some(reason), _, _) => {
                diesel::delete(
                    rule_grants::table
                        .filter(rule_grants::rule_id.eq(rule_id))
                        .filter(rule_grants::group_id.eq(group_id))
                        .filter(rule_grants::user_id.eq(uid)),
                )
                .execute(tx.conn)?;
                revoke_membership(tx, group_id, uid, rule_id, reason)?;
            }
            (None, None, Some(r)) => {
                let at = now + TimeDelta::days(r.grace_days);
                set_expiry(tx, rule_id, group_id, uid, Some(at))?;
                scheduled
                    .entry(rule_id.clone())
                    .or_insert_with(|| (Vec::new(), at))
                    .0
                    .push(group_id.clone());
            }
            _ => {}
        }
    }
    for (rule_id, (groups, at)) in scheduled {
        notice(
            tx,
            &rule_id,
            "rule.expiry_scheduled",
            uid,
            &groups,
            Some(at),
        )?;
    }

    if phase == Phase::Inactive {
        suspend_manual(tx, uid)?;
        access_requests::withdraw(
            tx,
            access_requests::Pending::OfMember(uid),
            "user is inactive",
        )?;
    } else {
        restore_suspended(tx, uid)?;
    }

    // the next instant something changes by itself
    let next_expiry: Option<NaiveDateTime> = rule_grants::table
        .filter(rule_grants::user_id.eq(uid))
        .select(diesel::dsl::min(rule_grants::expires))
        .first(tx.conn)?;
    let next = [next_change(&user.doc, phase, now), next_expiry]
        .into_iter()
        .flatten()
        .min();
    match next {
        Some(at) => jobs::schedule(tx.conn, &jobs::user_job(uid), at),
        None => jobs::cancel(tx.conn, &jobs::user_job(uid)),
    }
}

fn set_expiry(
    tx: &mut Tx<'_>,
    rule_id: &str,
    group_id: &str,
    user_id: &str,
    at: Option<NaiveDateTime>,
) -> Result<()> {
    diesel::update(
        rule_grants::table
            .filter(rule_grants::rule_id.eq(rule_id))
            .filter(rule_grants::group_id.eq(group_id))
            .filter(rule_grants::user_id.eq(user_id)),
    )
    .set(rule_grants::expires.eq(at))
    .execute(tx.conn)?;
    Ok(())
}

/// An audit notice about a rule's grants to one user that is not a membership change: a grace
/// period starts (`rule.expiry_scheduled`, with `expires`) or is cancelled.
fn notice(
    tx: &mut Tx<'_>,
    rule_id: &str,
    action: &str,
    user_id: &str,
    groups: &[String],
    expires: Option<NaiveDateTime>,
) -> Result<()> {
    let version: i64 = rules::get(tx.conn, rule_id).map_or(0, |r| r.version);
    let mut after = json!({"user": user_id, "groups": groups});
    if let (Some(at), Some(o)) = (expires, after.as_object_mut()) {
        o.insert("expires".into(), Value::String(format_ts(at)));
    }
    tx.append_event(
        action,
        rules::RESOURCE,
        rule_id,
        version,
        None,
        Some(after.to_string()),
    )?;
    Ok(())
}

/// Takes an inactive user's manual memberships out of effect, keeping them (with their end, if
/// they have one) to restore.
fn suspend_manual(tx: &mut Tx<'_>, uid: &str) -> Result<()> {
    let rows: Vec<(String, String, Option<NaiveDateTime>)> = group_members::table
        .filter(group_members::member_id.eq(uid))
        .filter(group_members::source.eq(MANUAL))
        .order(group_members::group_id.asc())
        .select((
            group_members::group_id,
            group_members::member_type,
            group_members::expires_at,
        ))
        .load(tx.conn)?;
    let now = tx.now();
    for (group_id, member_type, expires_at) in rows {
        members::remove_by_lifecycle(tx, &group_id, uid)?;
        diesel::delete(
            suspended_memberships::table
                .filter(suspended_memberships::group_id.eq(&group_id))
                .filter(suspended_memberships::member_id.eq(uid)),
        )
        .execute(tx.conn)?;
        diesel::insert_into(suspended_memberships::table)
            .values((
                suspended_memberships::group_id.eq(&group_id),
                suspended_memberships::member_id.eq(uid),
                suspended_memberships::member_type.eq(&member_type),
                suspended_memberships::suspended.eq(now),
                suspended_memberships::expires_at.eq(expires_at),
            ))
            .execute(tx.conn)?;
        groups::record_member_change_with(
            tx,
            &group_id,
            &[],
            &[uid.to_string()],
            json!({"source": MANUAL, "reason": "suspended: user is inactive"}),
        )?;
    }
    Ok(())
}

/// Gives a user that is active again the manual memberships suspended while it was inactive
/// (with the end they had; one whose end passed meanwhile is not restored). They were granted
/// before, so neither protection nor approval applies.
fn restore_suspended(tx: &mut Tx<'_>, uid: &str) -> Result<()> {
    let rows: Vec<(String, String, Option<NaiveDateTime>)> = suspended_memberships::table
        .filter(suspended_memberships::member_id.eq(uid))
        .order(suspended_memberships::group_id.asc())
        .select((
            suspended_memberships::group_id,
            suspended_memberships::member_type,
            suspended_memberships::expires_at,
        ))
        .load(tx.conn)?;
    let now = tx.now();
    for (group_id, member_type, expires_at) in rows {
        diesel::delete(
            suspended_memberships::table
                .filter(suspended_memberships::group_id.eq(&group_id))
                .filter(suspended_memberships::member_id.eq(uid)),
        )
        .execute(tx.conn)?;
        if !group_exists(tx, &group_id)? || expires_at.is_some_and(|t| t <= now) {
            continue;
        }
        let m = Member {
            id: uid.to_string(),
            member_type,
        };
        if members::add_settled(tx, &group_id, &m, MANUAL, expires_at)? {
            groups::record_member_change_with(
                tx,
                &group_id,
                &[uid.to_string()],
                &[],
                json!({"source": MANUAL, "reason": "restored: user is active again"}),
            )?;
        }
    }
    Ok(())
}

/// Forgets the suspended memberships of a user (a rehire starts without its old manual access).
pub(crate) fn drop_suspended(tx: &mut Tx<'_>, uid: &str) -> Result<()> {
    diesel::delete(suspended_memberships::table.filter(suspended_memberships::member_id.eq(uid)))
        .execute(tx.conn)?;
    Ok(())
}

/// Removes everything lifecycle keeps about a deleted user (its pending access requests are
/// withdrawn).
pub(crate) fn forget_user(tx: &mut Tx<'_>, uid: &str) -> Result<()> {
    diesel::delete(rule_grants::table.filter(rule_grants::user_id.eq(uid))).execute(tx.conn)?;
    drop_suspended(tx, uid)?;
    access_requests::withdraw(
        tx,
        access_requests::Pending::OfMember(uid),
        "member deleted",
    )?;
    jobs::cancel(tx.conn, &jobs::user_job(uid))
}

/// Removes everything lifecycle keeps about a deleted group (pending access requests to join
/// it, or for it to join another group, are withdrawn).
pub(crate) fn forget_group(tx: &mut Tx<'_>, gid: &str) -> Result<()> {
    access_requests::withdraw(tx, access_requests::Pending::OfGroup(gid), "group deleted")?;
    access_requests::withdraw(
        tx,
        access_requests::Pending::OfMember(gid),
        "member deleted",
    )?;
    diesel::delete(rule_grants::table.filter(rule_grants::group_id.eq(gid))).execute(tx.conn)?;
    diesel::delete(suspended_memberships::table.filter(suspended_memberships::group_id.eq(gid)))
        .execute(tx.conn)?;
    Ok(())
}

/// The suspended memberships of a user, as group ids.
pub fn suspended_of(conn: &mut crate::DbConn, uid: &str) -> Result<Vec<String>> {
    Ok(suspended_memberships::table
        .filter(suspended_memberships::member_id.eq(uid))
        .order(suspended_memberships::group_id.asc())
        .select(suspended_memberships::group_id)
        .load(conn)?)
}
