//! Group membership rows (`group_members`) with their history periods.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use scim::resource::{MemberKind, MemberRef};

use crate::conn::DbConn;
use crate::error::{Error, Result};
use crate::history;
use crate::protected::{self, Change};
use crate::schema::{group_members, groups, users};
use crate::write::Tx;

/// Source of memberships made through SCIM.
pub const MANUAL: &str = "manual";

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Member {
    /// The member's id.
    pub id: String,
    /// `User` or `Group`.
    pub member_type: String,
}

/// Direct members of a group, ordered by id.
pub fn of_group(conn: &mut DbConn, group_id: &str) -> Result<Vec<Member>> {
    Ok(group_members::table
        .filter(group_members::group_id.eq(group_id))
        .order(group_members::member_id.asc())
        .select((group_members::member_id, group_members::member_type))
        .load(conn)?)
}

/// Direct members of each of the given groups, in one query (groups without members are
/// absent from the map).
pub fn of_groups(
    conn: &mut DbConn,
    group_ids: &[String],
) -> Result<std::collections::HashMap<String, Vec<Member>>> {
    let mut out: std::collections::HashMap<String, Vec<Member>> = Default::default();
    if group_ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(String, String, String)> = group_members::table
        .filter(group_members::group_id.eq_any(group_ids))
        .order((
            group_members::group_id.asc(),
            group_members::member_id.asc(),
        ))
        .select((
            group_members::group_id,
            group_members::member_id,
            group_members::member_type,
        ))
        .load(conn)?;
    for (group, id, member_type) in rows {
        out.entry(group)
            .or_default()
            .push(Member { id, member_type });
    }
    Ok(out)
}

/// `(member_id, group_id)` for every direct membership of the given members.
pub fn groups_of(conn: &mut DbConn, member_ids: &[String]) -> Result<Vec<(String, String)>> {
    match member_ids {
        [] => return Ok(Vec::new()),
        // the common case (one resource): `=` keeps the statement cacheable, an IN list of
        // varying length is prepared again on every call
        [one] => {
            return Ok(group_members::table
                .filter(group_members::member_id.eq(one))
                .order(group_members::group_id.asc())
                .select((group_members::member_id, group_members::group_id))
                .load(conn)?)
        }
        _ => {}
    }
    Ok(group_members::table
        .filter(group_members::member_id.eq_any(member_ids))
        .order((
            group_members::member_id.asc(),
            group_members::group_id.asc(),
        ))
        .select((group_members::member_id, group_members::group_id))
        .load(conn)?)
}

/// Which of `ids` are Users and which are Groups: `(user ids, group ids)`; ids of neither are
/// in neither set.
pub(crate) fn existing(
    conn: &mut DbConn,
    ids: &[&str],
) -> Result<(HashSet<String>, HashSet<String>)> {
    Ok(match ids {
        // one member (the usual PATCH): `=` keeps both statements cacheable
        [one] => (
            users::table
                .filter(users::id.eq(*one))
                .select(users::id)
                .load::<String>(conn)?
                .into_iter()
                .collect(),
            groups::table
                .filter(groups::id.eq(*one))
                .select(groups::id)
                .load::<String>(conn)?
                .into_iter()
                .collect(),
        ),
        _ => (
            users::table
                .filter(users::id.eq_any(ids))
                .select(users::id)
                .load::<String>(conn)?
                .into_iter()
                .collect(),
            groups::table
                .filter(groups::id.eq_any(ids))
                .select(groups::id)
                .load::<String>(conn)?
                .into_iter()
                .collect(),
        ),
    })
}

/// Checks that every reference names an existing User or Group (of the stated type, if given)
/// and that a group does not list itself; returns `(id, type)` pairs.
pub(crate) fn resolve(
    conn: &mut DbConn,
    group_id: &str,
    refs: &[MemberRef],
) -> Result<Vec<Member>> {
    let ids: Vec<&str> = refs.iter().map(|r| r.value.as_str()).collect();
    let (user_ids, group_ids) = existing(conn, &ids)?;
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        if r.value == group_id {
            return Err(scim::Error::invalid_value("a group cannot be a member of itself").into());
        }
        let found = if user_ids.contains(&r.value) {
            MemberKind::User
        } else if group_ids.contains(&r.value) {
            MemberKind::Group
        } else {
            return Err(Error::Scim(scim::Error::invalid_value(format!(
                "members: no User or Group has id '{}'",
                r.value
            ))));
        };
        if let Some(kind) = r.kind {
            if kind != found {
                return Err(Error::Scim(scim::Error::invalid_value(format!(
                    "members: '{}' is a {}, not a {}",
                    r.value,
                    kind_name(found),
                    kind_name(kind)
                ))));
            }
        }
        if found == MemberKind::Group {
            check_no_cycle(conn, group_id, &r.value)?;
        }
        out.push(Member {
            id: r.value.clone(),
            member_type: kind_name(found).to_string(),
        });
    }
    Ok(out)
}

fn kind_name(k: MemberKind) -> &'static str {
    match k {
        MemberKind::User => "User",
        MemberKind::Group => "Group",
    }
}

/// Fails with `invalidValue` if adding group `member` to group `group_id` would make a cycle
/// (`group_id` is `member` itself or one of the groups nested in it). Walks down one level
/// per query; nesting is shallow and cycles are never stored, so this terminates.
pub(crate) fn check_no_cycle(conn: &mut DbConn, group_id: &str, member: &str) -> Result<()> {
    let cycle = || -> Error {
        scim::Error::invalid_value(format!(
            "members: adding group '{member}' would make a cycle (it contains this group)"
        ))
        .into()
    };
    if member == group_id {
        return Err(cycle());
    }
    let mut seen: HashSet<String> = HashSet::from([member.to_string()]);
    let mut frontier = vec![member.to_string()];
    while !frontier.is_empty() {
        let children: Vec<String> = group_members::table
            .filter(group_members::group_id.eq_any(&frontier))
            .filter(group_members::member_type.eq("Group"))
            .select(group_members::member_id)
            .load(conn)?;
        frontier.clear();
        for c in children {
            if c == group_id {
                return Err(cycle());
            }
            if seen.insert(c.clone()) {
                frontier.push(c);
            }
        }
    }
    Ok(())
}

/// The nearest group, among `group_id` and the groups it is nested in (directly or not), that
/// `pick` chooses: `pick` gets one level of nesting at a time (`group_id` first, then its parent
/// groups, then theirs) and returns the group it picks from that level, if any. `None` if no
/// level has one. Memberships never form a cycle; a seen set guards the walk anyway.
pub(crate) fn nearest_enclosing(
    conn: &mut DbConn,
    group_id: &str,
    mut pick: impl FnMut(&mut DbConn, &[String]) -> Result<Option<String>>,
) -> Result<Option<String>> {
    let mut seen: HashSet<String> = HashSet::from([group_id.to_string()]);
    let mut frontier = vec![group_id.to_string()];
    while !frontier.is_empty() {
        if let Some(found) = pick(conn, &frontier)? {
            return Ok(Some(found));
        }
        let parents: Vec<String> = group_members::table
            .filter(group_members::member_id.eq_any(&frontier))
            .filter(group_members::member_type.eq("Group"))
            .select(group_members::group_id)
            .load(conn)?;
        frontier = parents
            .into_iter()
            .filter(|p| seen.insert(p.clone()))
            .collect();
    }
    Ok(None)
}

/// Every group each member belongs to, directly or through nested groups:
/// `(member_id, group_id, direct)`, ordered by member then group.
pub fn groups_of_transitive(
    conn: &mut DbConn,
    member_ids: &[String],
) -> Result<Vec<(String, String, bool)>> {
    let mut out = Vec::new();
    for (member, group) in groups_of(conn, member_ids)? {
        out.push((member, group, true));
    }
    // climb: the groups of each found group are indirect groups of the same member
    let mut frontier: Vec<(String, String)> =
        out.iter().map(|(m, g, _)| (m.clone(), g.clone())).collect();
    let mut seen: HashSet<(String, String)> = frontier.iter().cloned().collect();
    while !frontier.is_empty() {
        let mut groups: Vec<String> = frontier.iter().map(|(_, g)| g.clone()).collect();
        groups.sort();
        groups.dedup();
        let parents = groups_of(conn, &groups)?;
        let mut next = Vec::new();
        for (member, group) in &frontier {
            for (child, parent) in &parents {
                if child == group && seen.insert((member.clone(), parent.clone())) {
                    out.push((member.clone(), parent.clone(), false));
                    next.push((member.clone(), parent.clone()));
                }
            }
        }
        frontier = next;
    }
    out.sort();
    Ok(out)
}

/// Why a membership is being added: it decides which checks the add passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// A SCIM client: refused for protected groups without `admin`; a request when approval is
    /// required.
    Client,
    /// A rule's grant (configured by an admin): a request when approval is required.
    Rule,
    /// Undoing a suspension (access held before), or a governance decision (an approval, an
    /// admin's grant): no check.
    Settled,
}

/// Adds a membership row and opens its period; false if it already existed, or if the group
/// requires approval (an access request is opened instead, see [`crate::access_requests`]). A
/// manual add of a membership a rule holds makes it manual (a rule never removes a manual
/// membership).
pub(crate) fn add(tx: &mut Tx<'_>, group_id: &str, m: &Member, source: &str) -> Result<Outcome> {
    add_as(tx, group_id, m, source, None, Via::Client)
}

/// What a client's add or removal of one membership did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The membership was added, or it ended.
    Done,
    /// Only what holds it changed (its history period was closed and another opened): a
    /// membership a rule held, added by hand, is now manual; a manual one, removed while a rule
    /// still grants it, stays, held by the rule. The caller records it in the group's event.
    SourceChanged,
    /// Nothing changed (or an access request was opened instead).
    Unchanged,
}

/// [`add`] for a rule's grant: configured by an admin, so protected groups do not refuse it,
/// but a group that requires approval gets an access request like any other add.
pub(crate) fn add_by_rule(
    tx: &mut Tx<'_>,
    group_id: &str,
    m: &Member,
    source: &str,
) -> Result<bool> {
    Ok(add_as(tx, group_id, m, source, None, Via::Rule)? == Outcome::Done)
}

/// Adds a membership decided already: a restored suspension (with the end it had), an approved
/// access request or an admin's grant (with the end they set). Neither protection nor approval
/// applies; false if it already existed (the existing row is left as it is).
pub(crate) fn add_settled(
    tx: &mut Tx<'_>,
    group_id: &str,
    m: &Member,
    source: &str,
    expires_at: Option<NaiveDateTime>,
) -> Result<bool> {
    Ok(add_as(tx, group_id, m, source, expires_at, Via::Settled)? == Outcome::Done)
}

fn add_as(
    tx: &mut Tx<'_>,
    group_id: &str,
    m: &Member,
    source: &str,
    expires_at: Option<NaiveDateTime>,
    via: Via,
) -> Result<Outcome> {
    let existing: Option<String> = group_members::table
        .filter(group_members::group_id.eq(group_id))
        .filter(group_members::member_id.eq(&m.id))
        .select(group_members::source)
        .first(tx.conn)
        .optional()?;
    if let Some(held_by) = existing {
        if via != Via::Settled && source == MANUAL && held_by != MANUAL {
            set_source(tx, group_id, &m.id, MANUAL)?;
            return Ok(Outcome::SourceChanged);
        }
        return Ok(Outcome::Unchanged);
    }
    if via == Via::Client {
        protected::check(tx, group_id, Change::Members)?;
    }
    if via != Via::Settled {
        if let Some(governed_by) = crate::governance::approval_needed(tx.conn, group_id)? {
            crate::access_requests::open(tx, group_id, m, source, &governed_by)?;
            return Ok(Outcome::Unchanged);
        }
    }
    let now = tx.now();
    diesel::insert_into(group_members::table)
        .values((
            group_members::group_id.eq(group_id),
            group_members::member_id.eq(&m.id),
            group_members::member_type.eq(&m.member_type),
            group_members::source.eq(source),
            group_members::added.eq(now),
            group_members::expires_at.eq(expires_at),
        ))
        .execute(tx.conn)?;
    history::open_membership(tx, group_id, &m.id, &m.member_type, source)?;
    if let Some(at) = expires_at {
        crate::governance::schedule(tx.conn, at)?;
    }
    Ok(Outcome::Done)
}

/// Removes a membership row and closes its period; false if there was none.
pub(crate) fn remove(tx: &mut Tx<'_>, group_id: &str, member_id: &str) -> Result<bool> {
    remove_as(tx, group_id, member_id, true)
}

/// [`remove`] for lifecycle and governance effects (a leaver losing access, a rule's grant
/// ending, a membership reaching its end): removing access is never blocked by a group's
/// protection — leavers lose access at once.
pub(crate) fn remove_by_lifecycle(
    tx: &mut Tx<'_>,
    group_id: &str,
    member_id: &str,
) -> Result<bool> {
    remove_as(tx, group_id, member_id, false)
}

fn remove_as(
    tx: &mut Tx<'_>,
    group_id: &str,
    member_id: &str,
    check_protected: bool,
) -> Result<bool> {
    let n = diesel::delete(
        group_members::table
            .filter(group_members::group_id.eq(group_id))
            .filter(group_members::member_id.eq(member_id)),
    )
    .execute(tx.conn)?;
    if n > 0 {
        // a refusal fails the transaction, which undoes the delete
        if check_protected {
            protected::check(tx, group_id, Change::Members)?;
        }
        history::close_membership(tx, group_id, member_id)?;
    }
    Ok(n > 0)
}

/// Changes what holds a membership (`manual` or `rule:ID`): the row's source, and in history the
/// open period ends and one with the new source starts.
pub(crate) fn set_source(
    tx: &mut Tx<'_>,
    group_id: &str,
    member_id: &str,
    source: &str,
) -> Result<()> {
    let member_type: Option<String> = group_members::table
        .filter(group_members::group_id.eq(group_id))
        .filter(group_members::member_id.eq(member_id))
        .select(group_members::member_type)
        .first(tx.conn)
        .optional()?;
    let Some(member_type) = member_type else {
        return Ok(());
    };
    diesel::update(
        group_members::table
            .filter(group_members::group_id.eq(group_id))
            .filter(group_members::member_id.eq(member_id)),
    )
    .set(group_members::source.eq(source))
    .execute(tx.conn)?;
    history::close_membership(tx, group_id, member_id)?;
    history::open_membership(tx, group_id, member_id, &member_type, source)?;
    Ok(())
}

/// Removes a membership on a client's request (SCIM PATCH/PUT of a group). A membership a rule
/// still grants stays, held by the rule (change the rule or the user's attributes to end it).
pub(crate) fn remove_manual(tx: &mut Tx<'_>, group_id: &str, member_id: &str) -> Result<Outcome> {
    use crate::schema::rule_grants;
    let granted_by: Option<String> = rule_grants::table
        .filter(rule_grants::group_id.eq(group_id))
        .filter(rule_grants::user_id.eq(member_id))
        .order(rule_grants::rule_id.asc())
        .select(rule_grants::rule_id)
        .first(tx.conn)
        .optional()?;
    match granted_by {
        Some(rule) => {
            let source: Option<String> = group_members::table
                .filter(group_members::group_id.eq(group_id))
                .filter(group_members::member_id.eq(member_id))
                .select(group_members::source)
                .first(tx.conn)
                .optional()?;
            if source.as_deref() == Some(MANUAL) {
                set_source(tx, group_id, member_id, &crate::rules::source_of(&rule))?;
                return Ok(Outcome::SourceChanged);
            }
            Ok(Outcome::Unchanged)
        }
        None if remove(tx, group_id, member_id)? => Ok(Outcome::Done),
        None => Ok(Outcome::Unchanged),
    }
}

/// Removes a member on a client's request ([`remove_manual`]) and withdraws a pending access
/// request for it: a client that takes back an add that is waiting for approval means it no
/// longer wants it.
pub(crate) fn remove_by_client(
    tx: &mut Tx<'_>,
    group_id: &str,
    member_id: &str,
) -> Result<Outcome> {
    crate::access_requests::withdraw(
        tx,
        crate::access_requests::Pending::Of(group_id, member_id),
        "the client removed the member",
    )?;
    remove_manual(tx, group_id, member_id)
}

/// One membership row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = group_members)]
pub struct Membership {
    /// The group.
    pub group_id: String,
    /// The member.
    pub member_id: String,
    /// `User` or `Group`.
    pub member_type: String,
    /// `manual` or `rule:ID`.
    pub source: String,
    /// Since when.
    pub added: NaiveDateTime,
    /// When it ends by itself, if it does.
    pub expires_at: Option<NaiveDateTime>,
}

/// The membership of `member_id` in `group_id`, if any.
pub fn membership(
    conn: &mut DbConn,
    group_id: &str,
    member_id: &str,
) -> Result<Option<Membership>> {
    Ok(group_members::table
        .filter(group_members::group_id.eq(group_id))
        .filter(group_members::member_id.eq(member_id))
        .select(Membership::as_select())
        .first(conn)
        .optional()?)
}

/// Sets when a membership ends (`None`: never); false if there is no such membership.
pub(crate) fn set_expiry(
    tx: &mut Tx<'_>,
    group_id: &str,
    member_id: &str,
    expires_at: Option<NaiveDateTime>,
) -> Result<bool> {
    let n = diesel::update(
        group_members::table
            .filter(group_members::group_id.eq(group_id))
            .filter(group_members::member_id.eq(member_id)),
    )
    .set(group_members::expires_at.eq(expires_at))
    .execute(tx.conn)?;
    if let (1, Some(at)) = (n, expires_at) {
        crate::governance::schedule(tx.conn, at)?;
    }
    Ok(n == 1)
}

/// Up to `limit` memberships whose end is at or before `now`, earliest first.
pub fn expired(conn: &mut DbConn, now: NaiveDateTime, limit: i64) -> Result<Vec<Membership>> {
    Ok(group_members::table
        .filter(group_members::expires_at.le(now))
        .order((
            group_members::expires_at.asc(),
            group_members::group_id.asc(),
            group_members::member_id.asc(),
        ))
        .limit(limit)
        .select(Membership::as_select())
        .load(conn)?)
}

/// The earliest end of any membership.
pub fn next_expiry(conn: &mut DbConn) -> Result<Option<NaiveDateTime>> {
    Ok(group_members::table
        .select(diesel::dsl::min(group_members::expires_at))
        .first(conn)?)
}

/// The source of each direct membership of a member: `(group_id, source)`.
pub fn sources_of(conn: &mut DbConn, member_id: &str) -> Result<Vec<(String, String)>> {
    Ok(group_members::table
        .filter(group_members::member_id.eq(member_id))
        .order(group_members::group_id.asc())
        .select((group_members::group_id, group_members::source))
        .load(conn)?)
}
