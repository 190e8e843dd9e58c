//! Separation of duties (docs/governance.md#separation-of-duties): policies naming groups that
//! one user must not hold together, the check in the membership write path, accepted
//! exceptions and the report of current violations.
//!
//! - **Holding** a group means being a member directly or through nested groups, as everywhere
//!   in Roster ([`members::groups_of_transitive`]). Adding member `m` to group `g` makes every
//!   user `m` stands for (the user, or the users inside a nested group) hold `g` and the groups
//!   `g` is nested in.
//! - **A conflict** ([`conflicts`]): after the add, a user holds two or more groups of a policy
//!   and at least one of them is new, and no exception for (policy, user) was accepted.
//! - **Cost while no policy exists**: one probe of the primary key of `sod_policy_groups`.
//! - **Attempts** that are refused leave an `alert` event, written after the rollback
//!   ([`crate::write::Tx::defer`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::conn::DbConn;
use crate::error::{Error, Result};
use crate::events::format_ts;
use crate::members::{self, Member};
use crate::schema::{group_members, groups, sod_exceptions, sod_policies, sod_policy_groups};
use crate::write::{Deferred, Tx};

/// `events.resource_type` of policy events, alerts and accepted exceptions.
pub const RESOURCE: &str = "SodPolicy";
/// The `action` of alert events (as the push engine's).
pub const ALERT: &str = "alert";
/// The `kind` of the alert written when a change that would violate a policy is refused.
pub const VIOLATION_ATTEMPT: &str = "sod.violation_attempt";
/// The `action` of the event recording an accepted exception.
pub const EXCEPTION_ACCEPTED: &str = "sod.exception_accepted";
/// The most users a nested-group add is checked for; a larger group touching a policy is
/// refused (add its users, or smaller groups).
pub const MAX_CHECKED_USERS: usize = 1000;
/// Longest policy name, in characters.
const MAX_NAME: usize = 200;
/// Longest description, in characters.
const MAX_DESCRIPTION: usize = 2000;
/// Most groups in one policy.
const MAX_GROUPS: usize = 100;
/// Most alert events written for one refused change (one per policy and user).
const MAX_ALERTS: usize = 20;

/// A policy as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Id (UUID).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The group ids one user must not hold two of, sorted.
    pub groups: Vec<String>,
    /// When created.
    pub created: NaiveDateTime,
    /// When last changed.
    pub modified: NaiveDateTime,
}

/// A policy as an admin writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInput {
    /// Unique name (1 to 200 characters).
    pub name: String,
    /// Free text (at most 2000 characters).
    pub description: Option<String>,
    /// At least two distinct existing groups.
    pub groups: Vec<String>,
}

/// The JSON view of a policy.
pub fn view(p: &Policy) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "groups": p.groups,
        "created": format_ts(p.created),
        "modified": format_ts(p.modified),
    })
}

fn invalid(detail: String) -> Error {
    Error::Scim(scim::Error::invalid_value(detail))
}

fn not_found(id: &str) -> Error {
    Error::Scim(scim::Error::not_found(format!("SoD policy {id} not found")))
}

type PolicyRow = (String, String, Option<String>, NaiveDateTime, NaiveDateTime);

fn load(conn: &mut DbConn, rows: Vec<PolicyRow>) -> Result<Vec<Policy>> {
    let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let mut groups_of: HashMap<String, Vec<String>> = HashMap::new();
    if !ids.is_empty() {
        let pairs: Vec<(String, String)> = sod_policy_groups::table
            .filter(sod_policy_groups::policy_id.eq_any(&ids))
            .order((
                sod_policy_groups::policy_id.asc(),
                sod_policy_groups::group_id.asc(),
            ))
            .load(conn)?;
        for (p, g) in pairs {
            groups_of.entry(p).or_default().push(g);
        }
    }
    Ok(rows
        .into_iter()
        .map(|(id, name, description, created, modified)| Policy {
            groups: groups_of.remove(&id).unwrap_or_default(),
            id,
            name,
            description,
            created,
            modified,
        })
        .collect())
}

/// One policy (`404` if unknown).
pub fn get(conn: &mut DbConn, id: &str) -> Result<Policy> {
    let rows: Vec<PolicyRow> = sod_policies::table
        .filter(sod_policies::id.eq(id))
        .select((
            sod_policies::id,
            sod_policies::name,
            sod_policies::description,
            sod_policies::created,
            sod_policies::modified,
        ))
        .load(conn)?;
    load(conn, rows)?
        .into_iter()
        .next()
        .ok_or_else(|| not_found(id))
}

/// Every policy, by name.
pub fn list(conn: &mut DbConn) -> Result<Vec<Policy>> {
    let rows: Vec<PolicyRow> = sod_policies::table
        .order((sod_policies::name.asc(), sod_policies::id.asc()))
        .select((
            sod_policies::id,
            sod_policies::name,
            sod_policies::description,
            sod_policies::created,
            sod_policies::modified,
        ))
        .load(conn)?;
    load(conn, rows)
}

/// Checks a policy: a name, a description of bounded length, at least two distinct existing
/// groups. Returns the group ids, sorted and deduplicated.
fn check(conn: &mut DbConn, input: &PolicyInput) -> Result<Vec<String>> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(invalid(format!(
            "name: must be a string of 1 to {MAX_NAME} characters"
        )));
    }
    if input
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(invalid(format!(
            "description: at most {MAX_DESCRIPTION} characters"
        )));
    }
    let distinct: BTreeSet<String> = input.groups.iter().cloned().collect();
    if distinct.len() < 2 || distinct.len() > MAX_GROUPS {
        return Err(invalid(format!(
            "groups: must name 2 to {MAX_GROUPS} distinct groups by id"
        )));
    }
    let ids: Vec<String> = distinct.into_iter().collect();
    let found: HashSet<String> = groups::table
        .filter(groups::id.eq_any(&ids))
        .select(groups::id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    if let Some((i, missing)) = input
        .groups
        .iter()
        .enumerate()
        .find(|(_, g)| !found.contains(*g))
    {
        return Err(invalid(format!("groups[{i}]: no Group has id '{missing}'")));
    }
    Ok(ids)
}

fn name_taken(e: Error) -> Error {
    match e {
        Error::Conflict { .. } => Error::Scim(scim::Error::uniqueness(
            "name: another SoD policy has this name",
        )),
        other => other,
    }
}

fn set_groups(tx: &mut Tx<'_>, id: &str, group_ids: &[String]) -> Result<()> {
    diesel::delete(sod_policy_groups::table.filter(sod_policy_groups::policy_id.eq(id)))
        .execute(tx.conn)?;
    for g in group_ids {
        diesel::insert_into(sod_policy_groups::table)
            .values((
                sod_policy_groups::policy_id.eq(id),
                sod_policy_groups::group_id.eq(g),
            ))
            .execute(tx.conn)?;
    }
    Ok(())
}

/// Creates a policy (event `sod.create`). Memberships that violate it already are allowed:
/// see [`violations`].
pub fn create(tx: &mut Tx<'_>, input: &PolicyInput) -> Result<Policy> {
    let group_ids = check(tx.conn, input)?;
    let now = tx.now();
    let p = Policy {
        id: uuid::Uuid::new_v4().to_string(),
        name: input.name.trim().to_string(),
        description: input.description.clone(),
        groups: group_ids,
        created: now,
        modified: now,
    };
    diesel::insert_into(sod_policies::table)
        .values((
            sod_policies::id.eq(&p.id),
            sod_policies::name.eq(&p.name),
            sod_policies::description.eq(&p.description),
            sod_policies::created.eq(now),
            sod_policies::modified.eq(now),
        ))
        .execute(tx.conn)
        .map_err(|e| name_taken(e.into()))?;
    set_groups(tx, &p.id, &p.groups)?;
    tx.append_event(
        "sod.create",
        RESOURCE,
        &p.id,
        1,
        None,
        Some(view(&p).to_string()),
    )?;
    Ok(p)
}

/// Replaces a policy's name, description and groups (event `sod.replace`). Accepted
/// exceptions stay.
pub fn replace(tx: &mut Tx<'_>, id: &str, input: &PolicyInput) -> Result<Policy> {
    let before = get(tx.conn, id)?;
    let group_ids = check(tx.conn, input)?;
    let p = Policy {
        name: input.name.trim().to_string(),
        description: input.description.clone(),
        groups: group_ids,
        modified: tx.now(),
        ..before.clone()
    };
    diesel::update(sod_policies::table.filter(sod_policies::id.eq(id)))
        .set((
            sod_policies::name.eq(&p.name),
            sod_policies::description.eq(&p.description),
            sod_policies::modified.eq(p.modified),
        ))
        .execute(tx.conn)
        .map_err(|e| name_taken(e.into()))?;
    set_groups(tx, id, &p.groups)?;
    tx.append_event(
        "sod.replace",
        RESOURCE,
        id,
        0,
        Some(view(&before).to_string()),
        Some(view(&p).to_string()),
    )?;
    Ok(p)
}

/// Deletes a policy and its accepted exceptions (event `sod.delete`; the exceptions stay in
/// the audit log as their `sod.exception_accepted` events).
pub fn delete(tx: &mut Tx<'_>, id: &str) -> Result<()> {
    let before = get(tx.conn, id)?;
    diesel::delete(sod_policy_groups::table.filter(sod_policy_groups::policy_id.eq(id)))
        .execute(tx.conn)?;
    diesel::delete(sod_exceptions::table.filter(sod_exceptions::policy_id.eq(id)))
        .execute(tx.conn)?;
    diesel::delete(sod_policies::table.filter(sod_policies::id.eq(id))).execute(tx.conn)?;
    tx.append_event(
        "sod.delete",
        RESOURCE,
        id,
        0,
        Some(view(&before).to_string()),
        None,
    )?;
    Ok(())
}

/// A membership change that would make one user hold groups of a policy together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The policy.
    pub policy_id: String,
    /// Its name.
    pub policy_name: String,
    /// The user.
    pub user_id: String,
    /// The groups of the policy the user would hold (ids, sorted).
    pub groups: Vec<String>,
}

/// Whether any policy exists: one probe of `sod_policy_groups`' primary key (an `EXISTS`, not
/// `LIMIT ?`, which would make SQLite prepare the statement again on every call).
fn any_policy(conn: &mut DbConn) -> Result<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        sod_policy_groups::table.select(sod_policy_groups::policy_id),
    ))
    .get_result(conn)?)
}

/// The users inside group `group_id`, directly or through nested groups, sorted; `None` if
/// more than `limit`.
fn users_under(conn: &mut DbConn, group_id: &str, limit: usize) -> Result<Option<Vec<String>>> {
    let mut users: BTreeSet<String> = BTreeSet::new();
    let mut seen: HashSet<String> = HashSet::from([group_id.to_string()]);
    let mut frontier = vec![group_id.to_string()];
    while !frontier.is_empty() {
        let rows: Vec<(String, String)> = group_members::table
            .filter(group_members::group_id.eq_any(&frontier))
            .select((group_members::member_id, group_members::member_type))
            .load(conn)?;
        frontier.clear();
        for (id, kind) in rows {
            if kind == "Group" {
                if seen.insert(id.clone()) {
                    frontier.push(id);
                }
            } else {
                users.insert(id);
                if users.len() > limit {
                    return Ok(None);
                }
            }
        }
    }
    Ok(Some(users.into_iter().collect()))
}

/// The (policy, user) pairs among these with an accepted exception.
fn excepted(
    conn: &mut DbConn,
    policies: &[String],
    users: &[String],
) -> Result<HashSet<(String, String)>> {
    Ok(sod_exceptions::table
        .filter(sod_exceptions::policy_id.eq_any(policies))
        .filter(sod_exceptions::user_id.eq_any(users))
        .select((sod_exceptions::policy_id, sod_exceptions::user_id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// The conflicts that adding `m` to `group_id` would create (empty: none). While no policy
/// exists this is one index probe; otherwise the groups `group_id` is nested in are walked, and
/// only if a policy names one of them are the member's groups read. A Group member with more
/// than [`MAX_CHECKED_USERS`] users inside is refused (`400`) when a policy is concerned.
pub fn conflicts(conn: &mut DbConn, group_id: &str, m: &Member) -> Result<Vec<Conflict>> {
    if !any_policy(conn)? {
        return Ok(Vec::new());
    }
    // the groups the member comes to hold: group_id and every group it is nested in
    let mut gained: Vec<String> = vec![group_id.to_string()];
    gained.extend(
        members::groups_of_transitive(conn, &[group_id.to_string()])?
            .into_iter()
            .map(|(_, g, _)| g),
    );
    gained.sort();
    gained.dedup();
    let touched: Vec<(String, String)> = sod_policy_groups::table
        .filter(sod_policy_groups::group_id.eq_any(&gained))
        .select((sod_policy_groups::policy_id, sod_policy_groups::group_id))
        .load(conn)?;
    if touched.is_empty() {
        return Ok(Vec::new());
    }
    let mut policy_ids: Vec<String> = touched.iter().map(|(p, _)| p.clone()).collect();
    policy_ids.sort();
    policy_ids.dedup();
    let policies = load_by_ids(conn, &policy_ids)?;
    let users = if m.member_type == "Group" {
        match users_under(conn, &m.id, MAX_CHECKED_USERS)? {
            Some(u) => u,
            None => {
                return Err(invalid(format!(
                    "separation of duties: group '{}' has more than {MAX_CHECKED_USERS} users, \
                     too many to check against policy '{}' that this group concerns; add its \
                     users, or smaller groups",
                    m.id, policies[0].name
                )))
            }
        }
    } else {
        vec![m.id.clone()]
    };
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let mut held: HashMap<String, HashSet<String>> = HashMap::new();
    for (user, group, _) in members::groups_of_transitive(conn, &users)? {
        held.entry(user).or_default().insert(group);
    }
    let exceptions = excepted(conn, &policy_ids, &users)?;
    let gained: HashSet<String> = gained.into_iter().collect();
    let mut out = Vec::new();
    for p in &policies {
        for u in &users {
            let mine = held.get(u);
            let holds = |g: &String| mine.is_some_and(|s| s.contains(g));
            let after: Vec<String> = p
                .groups
                .iter()
                .filter(|g| holds(g) || gained.contains(*g))
                .cloned()
                .collect();
            let new = p.groups.iter().any(|g| gained.contains(g) && !holds(g));
            if after.len() >= 2 && new && !exceptions.contains(&(p.id.clone(), u.clone())) {
                out.push(Conflict {
                    policy_id: p.id.clone(),
                    policy_name: p.name.clone(),
                    user_id: u.clone(),
                    groups: after,
                });
            }
        }
    }
    Ok(out)
}

fn load_by_ids(conn: &mut DbConn, ids: &[String]) -> Result<Vec<Policy>> {
    let rows: Vec<PolicyRow> = sod_policies::table
        .filter(sod_policies::id.eq_any(ids))
        .order((sod_policies::name.asc(), sod_policies::id.asc()))
        .select((
            sod_policies::id,
            sod_policies::name,
            sod_policies::description,
            sod_policies::created,
            sod_policies::modified,
        ))
        .load(conn)?;
    load(conn, rows)
}

/// `'a', 'b' and 'c'` for the display names of these groups (sorted).
fn names_of(conn: &mut DbConn, ids: &[String]) -> Result<String> {
    let names: HashMap<String, String> = crate::groups::display_names(conn, ids)?
        .into_iter()
        .collect();
    let mut quoted: Vec<String> = ids
        .iter()
        .map(|id| format!("'{}'", names.get(id).map_or(id.as_str(), String::as_str)))
        .collect();
    quoted.sort();
    Ok(match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    })
}

/// The human description of a conflict: `policy 'payments' does not allow one user to hold
/// 'accounts-payable' and 'payment-approval'`.
pub fn describe(conn: &mut DbConn, c: &Conflict) -> Result<String> {
    Ok(format!(
        "policy '{}' does not allow one user to hold {}",
        c.policy_name,
        names_of(conn, &c.groups)?
    ))
}

/// Queues one `alert` event per conflict (at most 20): `{"kind": "sod.violation_attempt",
/// "policy", "policyName", "user", "group", "member", "groups", "actor", "actorId", "outcome"}`.
/// They are written after the transaction, so they stay when it rolls back.
pub(crate) fn alert(
    tx: &mut Tx<'_>,
    group_id: &str,
    m: &Member,
    found: &[Conflict],
    outcome: &str,
) {
    let actor = tx.ctx().actor.clone();
    let actor_id = tx.ctx().actor_id.clone();
    for c in found.iter().take(MAX_ALERTS) {
        tracing::warn!(policy = %c.policy_name, user = %c.user_id, group = %group_id, %outcome, "separation of duties: violation attempt");
        tx.defer(Deferred {
            action: ALERT,
            resource_type: RESOURCE,
            resource_id: c.policy_id.clone(),
            after: json!({
                "kind": VIOLATION_ATTEMPT,
                "policy": c.policy_id,
                "policyName": c.policy_name,
                "user": c.user_id,
                "group": group_id,
                "member": m.id,
                "groups": c.groups,
                "actor": actor,
                "actorId": actor_id,
                "outcome": outcome,
            }),
        });
    }
}

/// The error refusing a change with these conflicts (`400 invalidValue`, naming the policy),
/// after queueing its alert.
pub(crate) fn refuse(tx: &mut Tx<'_>, group_id: &str, m: &Member, found: &[Conflict]) -> Error {
    alert(tx, group_id, m, found, "refused");
    let detail = match found.first().map(|c| describe(tx.conn, c)) {
        Some(Ok(d)) => d,
        Some(Err(e)) => return e,
        None => "a policy".into(),
    };
    let who = match found.first() {
        Some(c) if c.user_id != m.id => format!(" (user {} through group {})", c.user_id, m.id),
        _ => String::new(),
    };
    invalid(format!(
        "separation of duties: {detail}{who}; an approver can accept an exception through an \
         access request"
    ))
}

/// The names of the policies in these conflicts, sorted and once each.
pub fn policy_names(found: &[Conflict]) -> Vec<String> {
    let names: BTreeSet<String> = found.iter().map(|c| c.policy_name.clone()).collect();
    names.into_iter().collect()
}

/// Records the exceptions an approver accepted by approving `request_id` with `reason`: one
/// row and one `sod.exception_accepted` event per conflict.
pub(crate) fn accept(
    tx: &mut Tx<'_>,
    found: &[Conflict],
    reason: &str,
    request_id: &str,
) -> Result<()> {
    let actor = tx.ctx().actor.clone();
    let actor_id = tx.ctx().actor_id.clone();
    let now = tx.now();
    for c in found {
        let id = uuid::Uuid::new_v4().to_string();
        diesel::insert_into(sod_exceptions::table)
            .values((
                sod_exceptions::id.eq(&id),
                sod_exceptions::policy_id.eq(&c.policy_id),
                sod_exceptions::user_id.eq(&c.user_id),
                sod_exceptions::accepted_by.eq(&actor),
                sod_exceptions::accepted_by_id.eq(&actor_id),
                sod_exceptions::reason.eq(reason),
                sod_exceptions::access_request_id.eq(request_id),
                sod_exceptions::accepted.eq(now),
            ))
            .execute(tx.conn)?;
        tx.append_event(
            EXCEPTION_ACCEPTED,
            RESOURCE,
            &c.policy_id,
            0,
            None,
            Some(
                json!({
                    "exception": id,
                    "policy": c.policy_id,
                    "policyName": c.policy_name,
                    "user": c.user_id,
                    "groups": c.groups,
                    "acceptedBy": {"actor": actor, "actorId": actor_id},
                    "reason": reason,
                    "accessRequest": request_id,
                })
                .to_string(),
            ),
        )?;
    }
    Ok(())
}

/// One user holding two or more groups of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The policy.
    pub policy_id: String,
    /// Its name.
    pub policy_name: String,
    /// The user.
    pub user_id: String,
    /// The user's `userName`.
    pub user_name: String,
    /// `(id, displayName)` of the policy's groups the user holds.
    pub groups: Vec<(String, String)>,
    /// The accepted exception, if any: `(accepted by, reason, access request, when)`.
    pub exception: Option<Value>,
}

/// The JSON view of a violation.
pub fn violation_view(v: &Violation) -> Value {
    json!({
        "policy": {"id": v.policy_id, "name": v.policy_name},
        "user": {"id": v.user_id, "userName": v.user_name},
        "groups": v.groups.iter().map(|(id, name)| json!({"id": id, "displayName": name})).collect::<Vec<_>>(),
        "exceptionAccepted": v.exception.is_some(),
        "exception": v.exception,
    })
}

/// Every user holding two or more groups of a policy (all policies, or the one given), by
/// policy name then user id: violations that existed before a policy, and accepted exceptions.
pub fn violations(conn: &mut DbConn, only: Option<&str>) -> Result<Vec<Violation>> {
    let policies = match only {
        Some(id) => vec![get(conn, id)?],
        None => list(conn)?,
    };
    let mut under: HashMap<String, Vec<String>> = HashMap::new();
    let mut out = Vec::new();
    for p in &policies {
        let mut by_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for g in &p.groups {
            if !under.contains_key(g) {
                let users = users_under(conn, g, usize::MAX)?.unwrap_or_default();
                under.insert(g.clone(), users);
            }
            for u in under.get(g).into_iter().flatten() {
                by_user.entry(u.clone()).or_default().push(g.clone());
            }
        }
        by_user.retain(|_, gs| gs.len() >= 2);
        if by_user.is_empty() {
            continue;
        }
        let user_ids: Vec<String> = by_user.keys().cloned().collect();
        let names: HashMap<String, String> = crate::users::get_many(conn, &user_ids)?
            .into_iter()
            .map(|u| {
                let name = u
                    .doc
                    .get("userName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                (u.id, name)
            })
            .collect();
        let group_names: HashMap<String, String> = crate::groups::display_names(conn, &p.groups)?
            .into_iter()
            .collect();
        type ExceptionRow = (
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            NaiveDateTime,
        );
        let mut exceptions: HashMap<String, Value> = HashMap::new();
        let rows: Vec<ExceptionRow> = sod_exceptions::table
            .filter(sod_exceptions::policy_id.eq(&p.id))
            .filter(sod_exceptions::user_id.eq_any(&user_ids))
            .order(sod_exceptions::accepted.asc())
            .select((
                sod_exceptions::user_id,
                sod_exceptions::accepted_by,
                sod_exceptions::accepted_by_id,
                sod_exceptions::reason,
                sod_exceptions::access_request_id,
                sod_exceptions::accepted,
            ))
            .load(conn)?;
        for (user, by, by_id, reason, request, at) in rows {
            exceptions.insert(
                user,
                json!({
                    "acceptedBy": {"actor": by, "actorId": by_id},
                    "reason": reason,
                    "accessRequest": request,
                    "acceptedAt": format_ts(at),
                }),
            );
        }
        for (user, gs) in by_user {
            out.push(Violation {
                policy_id: p.id.clone(),
                policy_name: p.name.clone(),
                user_name: names.get(&user).cloned().unwrap_or_default(),
                groups: gs
                    .iter()
                    .map(|g| (g.clone(), group_names.get(g).cloned().unwrap_or_default()))
                    .collect(),
                exception: exceptions.remove(&user),
                user_id: user,
            });
        }
    }
    Ok(out)
}
