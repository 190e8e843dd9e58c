//! Groups: rows plus the JSON document (without members, which are rows in `group_members`).

use std::collections::BTreeSet;

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::access_requests;
use crate::conn::DbConn;
use crate::error::{Error, Result};
use crate::filter_sql;
use crate::governance;
use crate::history;
use crate::listing::{self, ListSpec};
use crate::members::{self, Member, Outcome, MANUAL};
use crate::protected::{self, Change};
use crate::resource::{check_version, ResourceRow, ResourceType, StoredResource};
use crate::schema::{group_members, groups};
use crate::write::Tx;
use scim::schema::ResourceKind;

const TYPE: ResourceType = ResourceType::Group;

fn columns() -> (
    groups::id,
    groups::version,
    groups::created,
    groups::modified,
    groups::doc,
) {
    (
        groups::id,
        groups::version,
        groups::created,
        groups::modified,
        groups::doc,
    )
}

/// Loads one group (without members; see [`members::of_group`]).
pub fn get(conn: &mut DbConn, id: &str) -> Result<StoredResource> {
    let row: ResourceRow = groups::table.find(id).select(columns()).first(conn)?;
    row.try_into()
}

/// Display names of the given groups, as `(id, displayName)`.
pub fn display_names(conn: &mut DbConn, ids: &[String]) -> Result<Vec<(String, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, String)> = groups::table
        .filter(groups::id.eq_any(ids))
        .select((groups::id, groups::doc))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, doc)| {
            let doc: Value = serde_json::from_str(&doc)?;
            let name = doc
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Ok((id, name))
        })
        .collect()
}

/// One page of groups matching `spec.filter` (compiled to SQL), sorted and paged in SQL.
/// Returns the total number of matches and the page.
pub fn list(conn: &mut DbConn, spec: &ListSpec<'_>) -> Result<(i64, Vec<StoredResource>)> {
    let backend = conn.backend();
    let cond = spec
        .filter
        .map(|f| filter_sql::groups(f, backend))
        .transpose()?;
    let mut total_q = groups::table.select(diesel::dsl::count_star()).into_boxed();
    if let Some(c) = cond.clone() {
        total_q = total_q.filter(c);
    }
    let total: i64 = total_q.get_result(conn)?;
    if spec.count == 0 || total == 0 {
        return Ok((total, Vec::new()));
    }
    let mut q = groups::table.select(columns()).into_boxed();
    if let Some(c) = cond {
        q = q.filter(c);
    }
    let order = listing::Order::new(ResourceKind::Group, spec, backend)?;
    q = q.order(order.order_by(false));
    let rows: Vec<ResourceRow> = q.offset(spec.offset()).limit(spec.limit()).load(conn)?;
    let page = rows
        .into_iter()
        .map(StoredResource::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok((total, page))
}

/// Splits a validated group document into the stored document and its member references.
fn split_members(mut doc: Value) -> Result<(Value, Vec<scim::resource::MemberRef>)> {
    let refs = scim::resource::group_members(&doc)?;
    if let Some(obj) = doc.as_object_mut() {
        obj.remove("members");
    }
    Ok((doc, refs))
}

/// The audit snapshot of a group: its document plus its member list.
fn snapshot(doc: &Value, members: &[Member]) -> String {
    snapshot_value(doc, members).to_string()
}

fn snapshot_value(doc: &Value, members: &[Member]) -> Value {
    let mut v = doc.clone();
    if let Some(obj) = v.as_object_mut() {
        let list: Vec<Value> = members
            .iter()
            .map(|m| json!({"value": m.id, "type": m.member_type}))
            .collect();
        obj.insert("members".into(), Value::Array(list));
    }
    v
}

/// The filter-index copy of a group document (see `scim::resource::index_doc`).
pub(crate) fn index_doc(doc: &Value) -> String {
    scim::resource::index_doc(
        scim::schema::ResourceKind::Group,
        doc,
        scim::schema::Registry::global(),
    )
    .to_string()
}

fn display_name_norm(doc: &Value) -> String {
    scim::resource::normalize_case(&scim::resource::group_projection(doc).display_name)
}

/// Creates a group; its members must exist. Governance settings need a writer with `admin`;
/// if they require approval, the members become access requests (see [`members::add`]).
pub fn create(tx: &mut Tx<'_>, doc: Value) -> Result<(StoredResource, Vec<Member>)> {
    let (mut doc, refs) = split_members(doc)?;
    let id = uuid::Uuid::new_v4().to_string();
    let requires_approval = governance::prepare(tx, &id, None, &mut doc, false)?;
    let resolved = members::resolve(tx.conn, &id, &refs)?;
    let now = tx.now();
    let text = doc.to_string();
    let p = scim::resource::group_projection(&doc);
    diesel::insert_into(groups::table)
        .values((
            groups::id.eq(&id),
            groups::display_name_norm.eq(display_name_norm(&doc)),
            groups::external_id.eq(&p.external_id),
            groups::created.eq(now),
            groups::modified.eq(now),
            groups::version.eq(1i64),
            groups::doc.eq(&text),
            groups::doc_norm.eq(index_doc(&doc)),
            groups::requires_approval.eq(requires_approval),
        ))
        .execute(tx.conn)?;
    for m in &resolved {
        members::add(tx, &id, m, MANUAL)?;
    }
    let seq = tx.append_event(
        "create",
        TYPE.as_str(),
        &id,
        1,
        None,
        Some(snapshot(&doc, &resolved)),
    )?;
    history::open_version(tx, TYPE, &id, 1, &doc, &text, seq)?;
    let stored = StoredResource {
        id,
        version: 1,
        created: now,
        modified: now,
        doc,
    };
    let members = members::of_group(tx.conn, &stored.id)?;
    Ok((stored, members))
}

/// Writes a new version of a group's row (document, projections, version, modified), guarded
/// by the version read in this transaction; returns the new version and the stored text.
/// `requires_approval` is the projection [`governance::prepare`] returned for `doc`.
fn write_row(
    tx: &mut Tx<'_>,
    current: &StoredResource,
    doc: &Value,
    requires_approval: bool,
) -> Result<(i64, String)> {
    let version = current.version + 1;
    let now = tx.now();
    let text = doc.to_string();
    let p = scim::resource::group_projection(doc);
    let n = diesel::update(
        groups::table
            .filter(groups::id.eq(&current.id))
            .filter(groups::version.eq(current.version)),
    )
    .set((
        groups::display_name_norm.eq(display_name_norm(doc)),
        groups::external_id.eq(&p.external_id),
        groups::modified.eq(now),
        groups::version.eq(version),
        groups::doc.eq(&text),
        groups::doc_norm.eq(index_doc(doc)),
        groups::requires_approval.eq(requires_approval),
    ))
    .execute(tx.conn)?;
    if n != 1 {
        return Err(Error::VersionMismatch);
    }
    Ok((version, text))
}

/// Refuses a displayName change that a writer without `admin` may not make (see
/// [`protected::check_rename`]).
fn check_rename(tx: &mut Tx<'_>, id: &str, before: &Value, after: &Value) -> Result<()> {
    let old = scim::resource::group_projection(before).display_name;
    let new = scim::resource::group_projection(after).display_name;
    protected::check_rename(tx, id, &old, &new)
}

/// What a client's member operations changed, by member id.
#[derive(Debug, Default)]
struct MemberChanges {
    added: Vec<String>,
    removed: Vec<String>,
    /// Memberships a rule held that the client added: now manual (rules never end them).
    made_manual: Vec<String>,
    /// Manual memberships the client removed that rules still grant: kept, held by a rule.
    kept_by_rules: Vec<String>,
}

impl MemberChanges {
    fn add(&mut self, tx: &mut Tx<'_>, group_id: &str, m: &Member) -> Result<()> {
        match members::add(tx, group_id, m, MANUAL)? {
            Outcome::Done => self.added.push(m.id.clone()),
            Outcome::SourceChanged => self.made_manual.push(m.id.clone()),
            Outcome::Unchanged => {}
        }
        Ok(())
    }

    /// Removes one member; `withdraw` also withdraws a pending access request for it.
    fn remove(
        &mut self,
        tx: &mut Tx<'_>,
        group_id: &str,
        member_id: &str,
        withdraw: bool,
    ) -> Result<()> {
        let outcome = if withdraw {
            members::remove_by_client(tx, group_id, member_id)?
        } else {
            members::remove_manual(tx, group_id, member_id)?
        };
        match outcome {
            Outcome::Done => self.removed.push(member_id.to_string()),
            Outcome::SourceChanged => self.kept_by_rules.push(member_id.to_string()),
            Outcome::Unchanged => {}
        }
        Ok(())
    }

    /// Whether only what holds some memberships changed.
    fn sources_changed(&self) -> bool {
        !self.made_manual.is_empty() || !self.kept_by_rules.is_empty()
    }

    /// Adds `membersMadeManual` and `membersKeptByRules` (when not empty) to an event's `after`:
    /// a change of what holds a membership is a client's change of who keeps access.
    fn note_sources(&self, after: &mut Value) {
        if let Some(obj) = after.as_object_mut() {
            for (key, ids) in [
                ("membersMadeManual", &self.made_manual),
                ("membersKeptByRules", &self.kept_by_rules),
            ] {
                if !ids.is_empty() {
                    obj.insert(key.into(), json!(ids));
                }
            }
        }
    }
}

/// Makes the member list exactly `wanted` (pending access requests for members not wanted are
/// withdrawn).
fn set_members(
    tx: &mut Tx<'_>,
    id: &str,
    wanted: &[Member],
    changes: &mut MemberChanges,
) -> Result<()> {
    let wanted_ids: BTreeSet<&str> = wanted.iter().map(|m| m.id.as_str()).collect();
    let keep: Vec<&str> = wanted_ids.iter().copied().collect();
    access_requests::withdraw(
        tx,
        access_requests::Pending::OfGroupExcept(id, &keep),
        "the client replaced the member list without it",
    )?;
    for m in members::of_group(tx.conn, id)? {
        if !wanted_ids.contains(m.id.as_str()) {
            changes.remove(tx, id, &m.id, false)?;
        }
    }
    for m in wanted {
        changes.add(tx, id, m)?;
    }
    Ok(())
}

/// Replaces a group's document and member list (PUT).
pub fn replace(
    tx: &mut Tx<'_>,
    id: &str,
    doc: Value,
    if_match: Option<i64>,
) -> Result<(StoredResource, Vec<Member>)> {
    let current = get(tx.conn, id)?;
    check_version(current.version, if_match)?;
    let (mut doc, refs) = split_members(doc)?;
    scim::patch::check_immutable(
        scim::schema::ResourceKind::Group,
        scim::schema::Registry::global(),
        &current.doc,
        &doc,
    )?;
    check_rename(tx, id, &current.doc, &doc)?;
    let requires_approval = governance::prepare(tx, id, Some(&current.doc), &mut doc, true)?;
    let wanted = members::resolve(tx.conn, id, &refs)?;
    let before_members = members::of_group(tx.conn, id)?;
    // the row first: members are added under the governance settings of this request
    let (version, text) = write_row(tx, &current, &doc, requires_approval)?;
    let mut changes = MemberChanges::default();
    set_members(tx, id, &wanted, &mut changes)?;
    let now = tx.now();
    let after_members = members::of_group(tx.conn, id)?;
    let mut after = snapshot_value(&doc, &after_members);
    changes.note_sources(&mut after);
    let seq = tx.append_event(
        "replace",
        TYPE.as_str(),
        id,
        version,
        Some(snapshot(&current.doc, &before_members)),
        Some(after.to_string()),
    )?;
    history::open_version(tx, TYPE, id, version, &doc, &text, seq)?;
    let stored = StoredResource {
        id: id.to_string(),
        version,
        created: current.created,
        modified: now,
        doc,
    };
    Ok((stored, after_members))
}

/// Applies a PATCH (RFC 7644 §3.5.2) to a group. Member operations change rows one by one
/// (a 100k-member group is never loaded to add one member); a PATCH that changes nothing
/// writes nothing. One `patch` event records the document before and after plus the
/// members added and removed, and those whose membership only changed hands between the client
/// and the rules (`membersMadeManual`, `membersKeptByRules`).
pub fn patch(
    tx: &mut Tx<'_>,
    id: &str,
    ops: &[scim::patch::PatchOp],
    if_match: Option<i64>,
) -> Result<StoredResource> {
    use scim::patch::MemberOp;
    let current = get(tx.conn, id)?;
    check_version(current.version, if_match)?;
    let out = scim::patch::apply(
        scim::schema::ResourceKind::Group,
        &current.doc,
        ops,
        scim::schema::Registry::global(),
    )?;
    let mut out = out;
    check_rename(tx, id, &current.doc, &out.doc)?;
    let requires_approval = governance::prepare(tx, id, Some(&current.doc), &mut out.doc, false)?;
    // a changed document is written first, so that members are added under the governance
    // settings of this request
    let doc_changed = out.doc != current.doc;
    let written = if doc_changed {
        Some(write_row(tx, &current, &out.doc, requires_approval)?)
    } else {
        None
    };
    let mut changes = MemberChanges::default();
    for op in &out.members {
        match op {
            MemberOp::Add(refs) => {
                for m in members::resolve(tx.conn, id, refs)? {
                    changes.add(tx, id, &m)?;
                }
            }
            MemberOp::Remove(ids) => {
                for m in ids {
                    changes.remove(tx, id, m, true)?;
                }
            }
            MemberOp::RemoveAll => {
                access_requests::withdraw(
                    tx,
                    access_requests::Pending::OfGroup(id),
                    "the client removed every member",
                )?;
                for m in members::of_group(tx.conn, id)? {
                    changes.remove(tx, id, &m.id, false)?;
                }
            }
            MemberOp::ReplaceAll(refs) => {
                let wanted = members::resolve(tx.conn, id, refs)?;
                set_members(tx, id, &wanted, &mut changes)?;
            }
        }
    }
    let (added, removed) = (&changes.added, &changes.removed);
    // an id both added and removed in one request is a net no-op for the audit summary
    let net_added: Vec<String> = added
        .iter()
        .filter(|a| !removed.contains(a))
        .cloned()
        .collect();
    let net_removed: Vec<String> = removed
        .iter()
        .filter(|r| !added.contains(r))
        .cloned()
        .collect();
    if !doc_changed && added.is_empty() && removed.is_empty() && !changes.sources_changed() {
        return Ok(current);
    }
    let doc = out.doc;
    let (version, text) = match written {
        Some(w) => w,
        None => write_row(tx, &current, &doc, requires_approval)?,
    };
    let now = tx.now();
    let mut after = doc.clone();
    if let Some(obj) = after.as_object_mut() {
        if !net_added.is_empty() {
            obj.insert("membersAdded".into(), json!(net_added));
        }
        if !net_removed.is_empty() {
            obj.insert("membersRemoved".into(), json!(net_removed));
        }
    }
    changes.note_sources(&mut after);
    let seq = tx.append_event(
        "patch",
        TYPE.as_str(),
        id,
        version,
        Some(current.doc.to_string()),
        Some(after.to_string()),
    )?;
    history::open_version(tx, TYPE, id, version, &doc, &text, seq)?;
    Ok(StoredResource {
        id: id.to_string(),
        version,
        created: current.created,
        modified: now,
        doc,
    })
}

/// Deletes a group: its own memberships and its membership in other groups end.
pub fn delete(tx: &mut Tx<'_>, id: &str, if_match: Option<i64>) -> Result<()> {
    let current = get(tx.conn, id)?;
    check_version(current.version, if_match)?;
    protected::check(tx, id, Change::Delete)?;
    let own = members::of_group(tx.conn, id)?;
    for m in &own {
        members::remove(tx, id, &m.id)?;
    }
    let parents: Vec<String> = group_members::table
        .filter(group_members::member_id.eq(id))
        .order(group_members::group_id.asc())
        .select(group_members::group_id)
        .load(tx.conn)?;
    for g in &parents {
        members::remove(tx, g, id)?;
        record_member_change(tx, g, &[], &[id.to_string()])?;
    }
    crate::lifecycle::forget_group(tx, id)?;
    diesel::delete(groups::table.find(id)).execute(tx.conn)?;
    tx.append_event(
        "delete",
        TYPE.as_str(),
        id,
        current.version,
        Some(snapshot(&current.doc, &own)),
        None,
    )?;
    history::close_version(tx, TYPE, id)?;
    Ok(())
}

/// Records a membership change of `group_id` made as a side effect (a member was deleted):
/// bumps the group's version and appends a `members` event listing what was added and removed.
pub(crate) fn record_member_change(
    tx: &mut Tx<'_>,
    group_id: &str,
    added: &[String],
    removed: &[String],
) -> Result<()> {
    record_member_change_with(tx, group_id, added, removed, json!({}))
}

/// [`record_member_change`] with more fields in the event (`source`, `reason` of a change made
/// by a rule, a suspension or a restore).
pub(crate) fn record_member_change_with(
    tx: &mut Tx<'_>,
    group_id: &str,
    added: &[String],
    removed: &[String],
    extra: Value,
) -> Result<()> {
    record_member_event(tx, group_id, "members", added, removed, extra)
}

/// [`record_member_change_with`] under another action than `members` (`membership.expired`,
/// `membership.expiry_set`): a group event with a new version, like every membership change.
pub(crate) fn record_member_event(
    tx: &mut Tx<'_>,
    group_id: &str,
    action: &str,
    added: &[String],
    removed: &[String],
    extra: Value,
) -> Result<()> {
    let current = get(tx.conn, group_id)?;
    let version = current.version + 1;
    let now = tx.now();
    diesel::update(groups::table.find(group_id))
        .set((groups::version.eq(version), groups::modified.eq(now)))
        .execute(tx.conn)?;
    let mut change = json!({"added": added, "removed": removed});
    if let (Some(c), Value::Object(more)) = (change.as_object_mut(), extra) {
        c.extend(more);
    }
    let change = change.to_string();
    let seq = tx.append_event(action, TYPE.as_str(), group_id, version, None, Some(change))?;
    history::open_version(
        tx,
        TYPE,
        group_id,
        version,
        &current.doc,
        &current.doc.to_string(),
        seq,
    )?;
    Ok(())
}

/// Fills `doc_norm` and `display_name_norm` for rows whose `doc_norm` is empty (written before
/// it existed, or reset by a migration that changed the normalisation), in batches; returns the
/// count.
pub(crate) fn backfill_index(conn: &mut DbConn) -> Result<usize> {
    crate::resource::backfill(
        conn,
        |c| {
            Ok(groups::table
                .filter(groups::doc_norm.eq(""))
                .select((groups::id, groups::doc))
                .limit(500)
                .load(c)?)
        },
        |c, id, doc| {
            diesel::update(groups::table.find(id))
                .set((
                    groups::display_name_norm.eq(display_name_norm(doc)),
                    groups::doc_norm.eq(index_doc(doc)),
                ))
                .execute(c)?;
            Ok(())
        },
    )
}
