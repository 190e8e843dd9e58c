//! Birthright access rules: a SCIM filter over Users and the groups it grants
//! (docs/lifecycle.md).
//!
//! A rule row holds its definition and the progress of the re-evaluation of existing users
//! after a change (`status`, `evaluated`, `eval_cursor`). What a rule grants is kept per user
//! in `rule_grants` (one row per rule, group and user, with `expires` while a grace period
//! runs); the membership in effect is the `group_members` row, whose `source` is `manual` or
//! the `rule:ID` of the grant that holds it. [`crate::lifecycle`] applies rules to a user inside
//! the user's write transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::conn::DbConn;
use crate::error::{Error, Result};
use crate::events::format_ts;
use crate::schema::{group_members, groups, rule_grants, rules, users};
use crate::write::Tx;
use scim::schema::{Registry, ResourceKind};

/// `events.resource_type` of rule changes and grace-period notices.
pub const RESOURCE: &str = "Rule";
/// A rule's re-evaluation is done.
pub const READY: &str = "ready";
/// Existing users are being re-evaluated after a change.
pub const EVALUATING: &str = "evaluating";
/// The rule was deleted; its grants are being withdrawn, then the row goes.
pub const DELETING: &str = "deleting";
/// Longest grace period, in days.
pub const MAX_GRACE_DAYS: i64 = 3650;

/// The `group_members.source` of a membership held by rule `id`.
pub fn source_of(rule_id: &str) -> String {
    format!("rule:{rule_id}")
}

/// The rule id of a `rule:ID` source.
pub fn rule_of_source(source: &str) -> Option<&str> {
    source.strip_prefix("rule:")
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct RuleRow {
    /// Id (UUID).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The SCIM filter over Users.
    pub filter: String,
    /// JSON array of group ids.
    pub groups: String,
    /// Days a membership outlives the user's match.
    pub grace_days: i64,
    /// Version, 1 on create.
    pub version: i64,
    /// `ready`, `evaluating` or `deleting`.
    pub status: String,
    /// Users examined by the current (or last) re-evaluation.
    pub evaluated: i64,
    /// The last user id examined by the running re-evaluation.
    pub eval_cursor: Option<String>,
    /// Created.
    pub created: NaiveDateTime,
    /// Last changed.
    pub modified: NaiveDateTime,
}

impl RuleRow {
    /// The group ids.
    pub fn group_ids(&self) -> Result<Vec<String>> {
        Ok(serde_json::from_str(&self.groups)?)
    }
}

/// A validated rule body: `{"name", "filter", "groups": [ids], "graceDays"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInput {
    /// Unique name.
    pub name: String,
    /// The filter text as given.
    pub filter: String,
    /// Parsed filter.
    pub parsed: scim::Filter,
    /// Group ids, without duplicates, in the order given.
    pub groups: Vec<String>,
    /// Grace period in days (default 0).
    pub grace_days: i64,
}

fn invalid(detail: String) -> Error {
    Error::Scim(scim::Error::invalid_value(detail))
}

impl RuleInput {
    /// Validates a rule body (without the database: see [`check`] for the groups). Errors are
    /// `400 invalidValue` (or `invalidFilter`) naming the field.
    pub fn from_json(body: &Value) -> Result<RuleInput> {
        let obj = body
            .as_object()
            .ok_or_else(|| invalid("the body must be a JSON object".into()))?;
        for k in obj.keys() {
            if !["name", "filter", "groups", "graceDays", "id"].contains(&k.as_str()) {
                return Err(invalid(format!(
                    "{k}: unknown field (a rule has name, filter, groups, graceDays)"
                )));
            }
        }
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => {
                s.trim().to_string()
            }
            Some(Value::String(_)) => {
                return Err(invalid("name: must be 1 to 200 characters".into()))
            }
            Some(_) => return Err(invalid("name: must be a string".into())),
            None => return Err(invalid("name: required".into())),
        };
        let filter = match obj.get("filter") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => return Err(invalid("filter: must not be empty".into())),
            Some(_) => return Err(invalid("filter: must be a string".into())),
            None => return Err(invalid("filter: required".into())),
        };
        let parsed = scim::filter::parse(&filter).map_err(|e| {
            Error::Scim(scim::Error::invalid_filter(format!("filter: {}", e.detail)))
        })?;
        let groups = match obj.get("groups") {
            Some(Value::Array(items)) if !items.is_empty() => {
                let mut out: Vec<String> = Vec::new();
                for (i, g) in items.iter().enumerate() {
                    let id = g
                        .as_str()
                        .or_else(|| g.get("value").and_then(Value::as_str))
                        .ok_or_else(|| {
                            invalid(format!("groups[{i}]: must be a group id (string)"))
                        })?;
                    if !out.iter().any(|x| x == id) {
                        out.push(id.to_string());
                    }
                }
                out
            }
            Some(Value::Array(_)) => {
                return Err(invalid("groups: must name at least one group".into()))
            }
            Some(_) => return Err(invalid("groups: must be an array of group ids".into())),
            None => return Err(invalid("groups: required".into())),
        };
        let grace_days = match obj.get("graceDays") {
            None | Some(Value::Null) => 0,
            Some(v) => match v.as_i64() {
                Some(d) if (0..=MAX_GRACE_DAYS).contains(&d) => d,
                _ => {
                    return Err(invalid(format!(
                        "graceDays: must be a whole number of days from 0 to {MAX_GRACE_DAYS}"
                    )))
                }
            },
        };
        Ok(RuleInput {
            name,
            filter,
            parsed,
            groups,
            grace_days,
        })
    }
}

/// Checks what needs the database: the filter names User attributes Roster knows, and every
/// group exists.
pub fn check(conn: &mut DbConn, input: &RuleInput) -> Result<()> {
    crate::filter_sql::users(&input.parsed, conn.backend()).map_err(|e| match e {
        Error::Scim(s) => Error::Scim(scim::Error::invalid_filter(format!("filter: {}", s.detail))),
        other => other,
    })?;
    if references_groups(&input.filter) {
        return Err(Error::Scim(scim::Error::invalid_filter(
            "filter: a rule cannot depend on group memberships (rules grant them)",
        )));
    }
    let found: BTreeSet<String> = groups::table
        .filter(groups::id.eq_any(&input.groups))
        .select(groups::id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    for (i, g) in input.groups.iter().enumerate() {
        if !found.contains(g) {
            return Err(invalid(format!("groups[{i}]: no Group has id '{g}'")));
        }
    }
    Ok(())
}

/// Whether a filter mentions the `groups` attribute (not evaluable in the write transaction).
fn references_groups(filter: &str) -> bool {
    let lower = filter.to_ascii_lowercase();
    lower
        .match_indices("groups")
        .any(|(i, _)| i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric())
}

/// The API view of a rule.
pub fn view(row: &RuleRow) -> Result<Value> {
    Ok(json!({
        "id": row.id,
        "name": row.name,
        "filter": row.filter,
        "groups": row.group_ids()?,
        "graceDays": row.grace_days,
        "version": row.version,
        "status": row.status,
        "evaluatedUsers": row.evaluated,
        "created": format_ts(row.created),
        "modified": format_ts(row.modified),
    }))
}

/// Every rule (deleting ones included), by name.
pub fn list(conn: &mut DbConn) -> Result<Vec<RuleRow>> {
    Ok(rules::table
        .order(rules::name.asc())
        .select(rules::all_columns)
        .load(conn)?)
}

/// One rule.
pub fn get(conn: &mut DbConn, id: &str) -> Result<RuleRow> {
    Ok(rules::table
        .find(id)
        .select(rules::all_columns)
        .first(conn)?)
}

/// One rule by id, or by name.
pub fn find(conn: &mut DbConn, id_or_name: &str) -> Result<RuleRow> {
    match get(conn, id_or_name) {
        Err(Error::NotFound) => Ok(rules::table
            .filter(rules::name.eq(id_or_name))
            .select(rules::all_columns)
            .first(conn)?),
        other => other,
    }
}

/// Creates a rule; existing users are evaluated by its `rule:ID` job (status `evaluating`).
pub fn create(tx: &mut Tx<'_>, input: &RuleInput) -> Result<RuleRow> {
    check(tx.conn, input)?;
    let now = tx.now();
    let row = RuleRow {
        id: uuid::Uuid::new_v4().to_string(),
        name: input.name.clone(),
        filter: input.filter.clone(),
        groups: serde_json::to_string(&input.groups)?,
        grace_days: input.grace_days,
        version: 1,
        status: EVALUATING.into(),
        evaluated: 0,
        eval_cursor: None,
        created: now,
        modified: now,
    };
    diesel::insert_into(rules::table)
        .values((
            rules::id.eq(&row.id),
            rules::name.eq(&row.name),
            rules::filter.eq(&row.filter),
            rules::groups.eq(&row.groups),
            rules::grace_days.eq(row.grace_days),
            rules::version.eq(row.version),
            rules::status.eq(&row.status),
            rules::evaluated.eq(0i64),
            rules::created.eq(now),
            rules::modified.eq(now),
        ))
        .execute(tx.conn)?;
    tx.append_event(
        "rule.create",
        RESOURCE,
        &row.id,
        1,
        None,
        Some(view(&row)?.to_string()),
    )?;
    crate::jobs::schedule(tx.conn, &crate::jobs::rule_job(&row.id), now)?;
    Ok(row)
}

/// Replaces a rule's definition (same id, version + 1); existing users are re-evaluated.
pub fn replace(tx: &mut Tx<'_>, id: &str, input: &RuleInput) -> Result<RuleRow> {
    let current = get(tx.conn, id)?;
    if current.status == DELETING {
        return Err(Error::NotFound);
    }
    check(tx.conn, input)?;
    let now = tx.now();
    let row = RuleRow {
        name: input.name.clone(),
        filter: input.filter.clone(),
        groups: serde_json::to_string(&input.groups)?,
        grace_days: input.grace_days,
        version: current.version + 1,
        status: EVALUATING.into(),
        evaluated: 0,
        eval_cursor: None,
        modified: now,
        ..current.clone()
    };
    diesel::update(rules::table.find(id))
        .set((
            rules::name.eq(&row.name),
            rules::filter.eq(&row.filter),
            rules::groups.eq(&row.groups),
            rules::grace_days.eq(row.grace_days),
            rules::version.eq(row.version),
            rules::status.eq(&row.status),
            rules::evaluated.eq(0i64),
            rules::eval_cursor.eq(None::<String>),
            rules::modified.eq(now),
        ))
        .execute(tx.conn)?;
    tx.append_event(
        "rule.replace",
        RESOURCE,
        id,
        row.version,
        Some(view(&current)?.to_string()),
        Some(view(&row)?.to_string()),
    )?;
    crate::jobs::schedule(tx.conn, &crate::jobs::rule_job(id), now)?;
    Ok(row)
}

/// Deletes a rule: it stops applying at once (status `deleting`); its job withdraws its grants
/// from existing users in batches, then removes the row.
pub fn delete(tx: &mut Tx<'_>, id: &str) -> Result<RuleRow> {
    let current = get(tx.conn, id)?;
    if current.status == DELETING {
        return Err(Error::NotFound);
    }
    let now = tx.now();
    diesel::update(rules::table.find(id))
        .set((
            rules::status.eq(DELETING),
            rules::evaluated.eq(0i64),
            rules::eval_cursor.eq(None::<String>),
            rules::version.eq(current.version + 1),
            rules::modified.eq(now),
        ))
        .execute(tx.conn)?;
    tx.append_event(
        "rule.delete",
        RESOURCE,
        id,
        current.version + 1,
        Some(view(&current)?.to_string()),
        None,
    )?;
    crate::jobs::schedule(tx.conn, &crate::jobs::rule_job(id), now)?;
    get(tx.conn, id)
}

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Rule id.
    pub id: String,
    /// Version.
    pub version: i64,
    /// Parsed filter.
    pub filter: scim::Filter,
    /// Groups granted.
    pub groups: Vec<String>,
    /// Grace period in days.
    pub grace_days: i64,
}

impl Compiled {
    /// Whether the user (id and stored document) matches the rule's filter.
    pub fn matches(&self, user_id: &str, doc: &Value) -> bool {
        let mut full = doc.clone();
        if let Some(o) = full.as_object_mut() {
            o.insert("id".into(), Value::String(user_id.to_string()));
        }
        scim::filter::eval(&self.filter, &full, ResourceKind::User, Registry::global())
    }

    /// A rule from a validated body (for previews).
    pub fn from_input(id: &str, input: &RuleInput) -> Compiled {
        Compiled {
            id: id.to_string(),
            version: 0,
            filter: input.parsed.clone(),
            groups: input.groups.clone(),
            grace_days: input.grace_days,
        }
    }

    fn from_row(row: &RuleRow) -> Result<Compiled> {
        Ok(Compiled {
            id: row.id.clone(),
            version: row.version,
            filter: scim::filter::parse(&row.filter)
                .map_err(|e| Error::Corrupt(format!("rule {}: {}", row.id, e.detail)))?,
            groups: row.group_ids()?,
            grace_days: row.grace_days,
        })
    }
}

/// Every rule in force (not being deleted), compiled.
pub fn in_force(conn: &mut DbConn) -> Result<Vec<Compiled>> {
    rules::table
        .filter(rules::status.ne(DELETING))
        .order(rules::id.asc())
        .select(rules::all_columns)
        .load::<RuleRow>(conn)?
        .iter()
        .map(Compiled::from_row)
        .collect()
}

/// One grant of a rule to a user.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Grant {
    /// The rule.
    pub rule_id: String,
    /// The group.
    pub group_id: String,
    /// The user.
    pub user_id: String,
    /// Since when.
    pub granted: NaiveDateTime,
    /// When it ends, while a grace period runs.
    pub expires: Option<NaiveDateTime>,
}

/// Every grant held by the given users.
pub fn grants_of(conn: &mut DbConn, user_ids: &[String]) -> Result<Vec<Grant>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(rule_grants::table
        .filter(rule_grants::user_id.eq_any(user_ids))
        .order((
            rule_grants::user_id.asc(),
            rule_grants::rule_id.asc(),
            rule_grants::group_id.asc(),
        ))
        .select(rule_grants::all_columns)
        .load(conn)?)
}

/// Grants of (group, user) by rules other than `except`.
pub(crate) fn other_grants(
    conn: &mut DbConn,
    group_id: &str,
    user_id: &str,
    except: &str,
) -> Result<Vec<String>> {
    Ok(rule_grants::table
        .filter(rule_grants::group_id.eq(group_id))
        .filter(rule_grants::user_id.eq(user_id))
        .filter(rule_grants::rule_id.ne(except))
        .order(rule_grants::rule_id.asc())
        .select(rule_grants::rule_id)
        .load(conn)?)
}

/// What a rule change would do: per user, the groups gained and lost (memberships, not
/// grants: a group the user already has from elsewhere is neither).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preview {
    /// Users examined.
    pub users: i64,
    /// `user id -> (userName, groups gained)`.
    pub gain: BTreeMap<String, (String, Vec<String>)>,
    /// `user id -> (userName, groups lost)`.
    pub lose: BTreeMap<String, (String, Vec<String>)>,
}

impl Preview {
    /// Memberships gained.
    pub fn gained(&self) -> usize {
        self.gain.values().map(|(_, g)| g.len()).sum()
    }

    /// Memberships lost (at once or after the grace period).
    pub fn lost(&self) -> usize {
        self.lose.values().map(|(_, g)| g.len()).sum()
    }

    /// The API view.
    pub fn to_json(&self, grace_days: i64) -> Value {
        let list = |m: &BTreeMap<String, (String, Vec<String>)>| -> Vec<Value> {
            m.iter()
                .map(|(id, (name, groups))| json!({"id": id, "userName": name, "groups": groups}))
                .collect()
        };
        json!({
            "usersExamined": self.users,
            "gain": list(&self.gain),
            "lose": list(&self.lose),
            "totals": {
                "usersGaining": self.gain.len(),
                "usersLosing": self.lose.len(),
                "membershipsGained": self.gained(),
                "membershipsLost": self.lost(),
            },
            "graceDays": grace_days,
        })
    }
}

const PREVIEW_BATCH: i64 = 500;

/// What replacing rule `existing` (or adding a rule, if `None`) by `proposed` (or deleting it, if
/// `None`) would change for every user, computed in batches and changing nothing.
pub fn preview(
    conn: &mut DbConn,
    existing: Option<&str>,
    proposed: Option<&Compiled>,
) -> Result<Preview> {
    let mut out = Preview::default();
    let mut after = String::new();
    loop {
        let batch: Vec<(String, String)> = users::table
            .filter(users::id.gt(&after))
            .order(users::id.asc())
            .limit(PREVIEW_BATCH)
            .select((users::id, users::doc))
            .load(conn)?;
        let Some((last, _)) = batch.last() else {
            return Ok(out);
        };
        after = last.clone();
        let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
        let mut member_of: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (m, g) in crate::members::groups_of(conn, &ids)? {
            member_of.entry(m).or_default().insert(g);
        }
        let manual: BTreeSet<(String, String)> = group_members::table
            .filter(group_members::member_id.eq_any(&ids))
            .filter(group_members::source.eq(crate::members::MANUAL))
            .select((group_members::member_id, group_members::group_id))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect();
        let mut grants: HashMap<String, Vec<Grant>> = HashMap::new();
        for g in grants_of(conn, &ids)? {
            grants.entry(g.user_id.clone()).or_default().push(g);
        }
        for (id, text) in &batch {
            out.users += 1;
            let doc: Value = serde_json::from_str(text)?;
            let phase = scim::lifecycle::stored_phase(&doc);
            let wanted: BTreeSet<String> = match proposed {
                Some(r) if phase.gets_rule_access() && r.matches(id, &doc) => {
                    r.groups.iter().cloned().collect()
                }
                _ => BTreeSet::new(),
            };
            let empty = BTreeSet::new();
            let current = member_of.get(id).unwrap_or(&empty);
            let user_grants = grants.get(id).map(Vec::as_slice).unwrap_or(&[]);
            let gained: Vec<String> = wanted
                .iter()
                .filter(|g| !current.contains(*g))
                .cloned()
                .collect();
            let lost: Vec<String> = match existing {
                Some(rule) => user_grants
                    .iter()
                    .filter(|g| g.rule_id == rule && !wanted.contains(&g.group_id))
                    .filter(|g| !manual.contains(&(id.clone(), g.group_id.clone())))
                    .filter(|g| {
                        !user_grants
                            .iter()
                            .any(|o| o.rule_id != rule && o.group_id == g.group_id)
                    })
                    .map(|g| g.group_id.clone())
                    .collect(),
                None => Vec::new(),
            };
            let name = || {
                doc.get("userName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            if !gained.is_empty() {
                out.gain.insert(id.clone(), (name(), gained));
            }
            if !lost.is_empty() {
                out.lose.insert(id.clone(), (name(), lost));
            }
        }
    }
}

/// Re-evaluates the next batch of users for rule job `rule_id` (in the caller's write
/// transaction): users whose grants of this rule differ from what the rule now says are settled
/// by [`crate::lifecycle::settle_user`]. Returns true when every user was examined; the rule is
/// then `ready` again (or, if it was being deleted, gone).
pub fn reevaluate_batch(tx: &mut Tx<'_>, rule_id: &str, batch: i64) -> Result<bool> {
    let row = match get(tx.conn, rule_id) {
        Ok(r) => r,
        Err(Error::NotFound) => return Ok(true),
        Err(e) => return Err(e),
    };
    let rule = if row.status == DELETING {
        None
    } else {
        Some(Compiled::from_row(&row)?)
    };
    let after = row.eval_cursor.clone().unwrap_or_default();
    let page: Vec<(String, String)> = users::table
        .filter(users::id.gt(&after))
        .order(users::id.asc())
        .limit(batch)
        .select((users::id, users::doc))
        .load(tx.conn)?;
    let ids: Vec<String> = page.iter().map(|(id, _)| id.clone()).collect();
    let mut held: HashMap<String, BTreeMap<String, Option<NaiveDateTime>>> = HashMap::new();
    for g in grants_of(tx.conn, &ids)?
        .into_iter()
        .filter(|g| g.rule_id == rule_id)
    {
        held.entry(g.user_id)
            .or_default()
            .insert(g.group_id, g.expires);
    }
    for (id, text) in &page {
        let doc: Value = serde_json::from_str(text)?;
        let wanted: BTreeSet<&String> = match &rule {
            Some(r)
                if scim::lifecycle::stored_phase(&doc).gets_rule_access()
                    && r.matches(id, &doc) =>
            {
                r.groups.iter().collect()
            }
            _ => BTreeSet::new(),
        };
        let have = held.remove(id).unwrap_or_default();
        let in_step =
            wanted.len() == have.len() && wanted.iter().all(|g| matches!(have.get(*g), Some(None)));
        if !in_step {
            crate::lifecycle::settle_user(tx, id)?;
        }
    }
    let done = (page.len() as i64) < batch;
    if done && row.status == DELETING {
        diesel::delete(rule_grants::table.filter(rule_grants::rule_id.eq(rule_id)))
            .execute(tx.conn)?;
        diesel::delete(rules::table.find(rule_id)).execute(tx.conn)?;
    } else {
        diesel::update(rules::table.find(rule_id))
            .set((
                rules::evaluated.eq(row.evaluated + page.len() as i64),
                rules::eval_cursor.eq(if done { None } else { ids.last().cloned() }),
                rules::status.eq(if done { READY } else { row.status.as_str() }),
            ))
            .execute(tx.conn)?;
    }
    Ok(done)
}
