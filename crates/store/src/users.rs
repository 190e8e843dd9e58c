//! Users: rows with projected, indexed attributes plus the JSON document.

use diesel::prelude::*;
use serde_json::Value;

use crate::conn::DbConn;
use crate::error::{Error, Result};
use crate::filter_sql;
use crate::groups;
use crate::history;
use crate::listing::{self, ListSpec};
use crate::members;
use crate::resource::{check_version, ResourceRow, ResourceType, StoredResource};
use crate::schema::{group_members, user_passwords, users};
use crate::write::Tx;
use scim::schema::ResourceKind;

const TYPE: ResourceType = ResourceType::User;

fn columns() -> (
    users::id,
    users::version,
    users::created,
    users::modified,
    users::doc,
) {
    (
        users::id,
        users::version,
        users::created,
        users::modified,
        users::doc,
    )
}

/// Loads one user.
pub fn get(conn: &mut DbConn, id: &str) -> Result<StoredResource> {
    let row: ResourceRow = users::table.find(id).select(columns()).get_result(conn)?;
    row.try_into()
}

/// The users with these ids (missing ids are absent), in no particular order.
pub fn get_many(conn: &mut DbConn, ids: &[String]) -> Result<Vec<StoredResource>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<ResourceRow> = users::table
            .filter(users::id.eq_any(chunk))
            .select(columns())
            .load(conn)?;
        for r in rows {
            out.push(r.try_into()?);
        }
    }
    Ok(out)
}

/// The id of the user whose `userName` matches `name` (case-insensitively), if any.
pub fn id_by_user_name(conn: &mut DbConn, name: &str) -> Result<Option<String>> {
    Ok(users::table
        .filter(users::user_name_norm.eq(scim::resource::normalize_case(name)))
        .select(users::id)
        .get_result(conn)
        .optional()?)
}

/// Up to `limit` user ids greater than `after`, in id order (key-set paging for full syncs).
pub fn ids_after(conn: &mut DbConn, after: &str, limit: i64) -> Result<Vec<String>> {
    Ok(users::table
        .filter(users::id.gt(after))
        .order(users::id.asc())
        .limit(limit)
        .select(users::id)
        .load(conn)?)
}

/// One page of users matching `spec.filter` (compiled to SQL), sorted and paged in SQL.
/// Returns the total number of matches and the page.
pub fn list(conn: &mut DbConn, spec: &ListSpec<'_>) -> Result<(i64, Vec<StoredResource>)> {
    let backend = conn.backend();
    let cond = spec
        .filter
        .map(|f| filter_sql::users(f, backend))
        .transpose()?;
    let count_all = |conn: &mut DbConn| -> Result<i64> {
        let mut total_q = users::table.select(diesel::dsl::count_star()).into_boxed();
        if let Some(c) = cond.clone() {
            total_q = total_q.filter(c);
        }
        Ok(total_q.get_result(conn)?)
    };
    if spec.count == 0 {
        return Ok((count_all(conn)?, Vec::new()));
    }
    let mut q = users::table.select(columns()).into_boxed();
    if let Some(c) = cond.clone() {
        q = q.filter(c);
    }
    let order = listing::Order::new(ResourceKind::User, spec, backend)?;
    q = q.order(order.order_by(false));
    let rows: Vec<ResourceRow> = q.offset(spec.offset()).limit(spec.limit()).load(conn)?;
    let total = listing::total_from_page(spec, rows.len()).map_or_else(|| count_all(conn), Ok)?;
    let page = rows
        .into_iter()
        .map(StoredResource::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok((total, page))
}

/// Refuses a document that still carries a plain-text password (only hashes are stored).
fn no_plain_password(doc: &Value) -> Result<()> {
    if doc
        .as_object()
        .is_some_and(|o| o.keys().any(|k| k.eq_ignore_ascii_case("password")))
    {
        return Err(scim::Error::invalid_value(
            "password must be taken out and hashed before the user is stored",
        )
        .into());
    }
    Ok(())
}

/// Creates a user from a validated document (without `password`; see [`set_password`]).
///
/// The lifecycle phase is settled first (a user created before its `startDate` is stored as an
/// inactive pre-hire), and rules are applied in the same transaction. If a deactivated user has
/// the same `externalId` (or, failing that, `employeeNumber`), this is a rehire: that user is
/// restored in place (same id, action `rehire`) instead of a second user being created.
pub fn create(tx: &mut Tx<'_>, mut doc: Value) -> Result<StoredResource> {
    no_plain_password(&doc)?;
    let now = tx.now();
    if let Some(former) = rehire_candidate(tx, &doc)? {
        return rehire(tx, former, doc);
    }
    scim::lifecycle::settle(&mut doc, None, now);
    let id = uuid::Uuid::new_v4().to_string();
    let text = doc.to_string();
    let p = scim::resource::user_projection(&doc);
    let norm_doc = index_doc(&doc);
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&id),
            users::user_name_norm.eq(scim::resource::normalize_case(&p.user_name)),
            users::external_id.eq(&p.external_id),
            users::display_name_norm.eq(norm(&p.display_name)),
            users::active.eq(p.active),
            users::given_name_norm.eq(norm(&p.given_name)),
            users::family_name_norm.eq(norm(&p.family_name)),
            users::email_norm.eq(norm(&p.email)),
            users::employee_number.eq(&p.employee_number),
            users::department_norm.eq(norm(&p.department)),
            users::manager_id.eq(&p.manager_id),
            users::created.eq(now),
            users::modified.eq(now),
            users::version.eq(1i64),
            users::doc.eq(&text),
            users::doc_norm.eq(&norm_doc),
        ))
        .execute(tx.conn)?;
    let seq = tx.append_event("create", TYPE.as_str(), &id, 1, None, Some(text.clone()))?;
    history::open_version(tx, TYPE, &id, 1, &doc, &text, seq)?;
    let stored = StoredResource {
        id,
        version: 1,
        created: now,
        modified: now,
        doc,
    };
    crate::lifecycle::apply(tx, &stored)?;
    Ok(stored)
}

/// Users whose `externalId` is `external_id` or, when none has it, whose `employeeNumber` is
/// `employee_number` (the keys an HR feed matches on; both are indexed).
pub fn find_by_keys(
    conn: &mut DbConn,
    external_id: Option<&str>,
    employee_number: Option<&str>,
) -> Result<Vec<StoredResource>> {
    if let Some(x) = external_id.filter(|x| !x.is_empty()) {
        let rows: Vec<ResourceRow> = users::table
            .filter(users::external_id.eq(x))
            .select(columns())
            .load(conn)?;
        if !rows.is_empty() {
            return rows.into_iter().map(StoredResource::try_from).collect();
        }
    }
    if let Some(n) = employee_number.filter(|n| !n.is_empty()) {
        let rows: Vec<ResourceRow> = users::table
            .filter(users::employee_number.eq(n))
            .select(columns())
            .load(conn)?;
        return rows.into_iter().map(StoredResource::try_from).collect();
    }
    Ok(Vec::new())
}

/// An HR-managed user (one with an `externalId` or `employeeNumber`): its id, keys and whether
/// it is active.
#[derive(Debug, Clone, Queryable)]
pub struct KeyedUser {
    /// The user id.
    pub id: String,
    /// `externalId`, if any.
    pub external_id: Option<String>,
    /// The enterprise `employeeNumber`, if any.
    pub employee_number: Option<String>,
    /// The `active` flag (false for leavers and pre-hires).
    pub active: bool,
}

/// Every user with an `externalId` or an `employeeNumber` (no documents loaded).
pub fn keyed(conn: &mut DbConn) -> Result<Vec<KeyedUser>> {
    Ok(users::table
        .filter(
            users::external_id
                .is_not_null()
                .or(users::employee_number.is_not_null()),
        )
        .select((
            users::id,
            users::external_id,
            users::employee_number,
            users::active,
        ))
        .order(users::id)
        .load(conn)?)
}

/// Restores a deactivated user in place as a rehire (same id, action `rehire`): suspended
/// memberships are dropped, the lifecycle phase is settled and rules are applied again.
pub fn rehire(tx: &mut Tx<'_>, former: StoredResource, mut doc: Value) -> Result<StoredResource> {
    no_plain_password(&doc)?;
    scim::lifecycle::settle(&mut doc, None, tx.now());
    crate::lifecycle::drop_suspended(tx, &former.id)?;
    update_row(tx, former, doc, "rehire")
}

/// Writes `doc` as the next version of the loaded user `current` (a replace with the version
/// already checked by the caller, which read `current` in the same transaction). The phase is
/// settled from the stored one and rules are applied.
pub fn replace_loaded(
    tx: &mut Tx<'_>,
    current: StoredResource,
    doc: Value,
) -> Result<StoredResource> {
    no_plain_password(&doc)?;
    scim::patch::check_immutable(
        ResourceKind::User,
        scim::schema::Registry::global(),
        &current.doc,
        &doc,
    )?;
    let mut doc = doc;
    let previous = scim::lifecycle::stored_phase(&current.doc);
    scim::lifecycle::settle(&mut doc, Some(previous), tx.now());
    update_row(tx, current, doc, "replace")
}

/// A deactivated (not pre-hire) user with the same `externalId`, or else `employeeNumber`, as
/// `doc`: the most recently changed one.
fn rehire_candidate(tx: &mut Tx<'_>, doc: &Value) -> Result<Option<StoredResource>> {
    let p = scim::resource::user_projection(doc);
    let mut keys: Vec<(bool, String)> = Vec::new();
    if let Some(x) = p.external_id.filter(|x| !x.is_empty()) {
        keys.push((true, x));
    }
    if let Some(n) = p.employee_number.filter(|n| !n.is_empty()) {
        keys.push((false, n));
    }
    for (by_external_id, key) in keys {
        // no ORDER BY/LIMIT in SQL: with them PostgreSQL may walk the `modified` index over
        // every user looking for a match (the LIMIT trap); the key's own index finds the few
        // rows, which are ordered here
        let mut q = users::table
            .filter(users::active.eq(false))
            .select(columns())
            .into_boxed();
        q = if by_external_id {
            q.filter(users::external_id.eq(key))
        } else {
            q.filter(users::employee_number.eq(key))
        };
        let rows: Vec<ResourceRow> = q.load(tx.conn)?;
        let mut candidates: Vec<StoredResource> = rows
            .into_iter()
            .map(StoredResource::try_from)
            .collect::<Result<_>>()?;
        candidates.sort_by(|a, b| b.modified.cmp(&a.modified).then_with(|| a.id.cmp(&b.id)));
        if let Some(user) = candidates
            .into_iter()
            .find(|u| scim::lifecycle::stored_phase(&u.doc) == scim::lifecycle::Phase::Inactive)
        {
            return Ok(Some(user));
        }
    }
    Ok(None)
}

/// Writes a new version of a user whose document the lifecycle changed by itself (activation
/// at `startDate`, deactivation at `endDate`).
pub(crate) fn rewrite(
    tx: &mut Tx<'_>,
    current: StoredResource,
    doc: Value,
    action: &str,
) -> Result<StoredResource> {
    update_row(tx, current, doc, action)
}

/// Stores the Argon2 hash of a user's password (in the caller's write transaction; the
/// document never holds the password, and events record only that it changed).
pub fn set_password(tx: &mut Tx<'_>, id: &str, hash: &str) -> Result<()> {
    let now = tx.now();
    diesel::delete(user_passwords::table.find(id)).execute(tx.conn)?;
    diesel::insert_into(user_passwords::table)
        .values((
            user_passwords::user_id.eq(id),
            user_passwords::hash.eq(hash),
            user_passwords::changed.eq(now),
        ))
        .execute(tx.conn)?;
    Ok(())
}

/// Replaces a user's document (PUT). `if_match` is the version the client expects.
pub fn replace(
    tx: &mut Tx<'_>,
    id: &str,
    doc: Value,
    if_match: Option<i64>,
) -> Result<StoredResource> {
    no_plain_password(&doc)?;
    let current = get(tx.conn, id)?;
    check_version(current.version, if_match)?;
    scim::patch::check_immutable(
        ResourceKind::User,
        scim::schema::Registry::global(),
        &current.doc,
        &doc,
    )?;
    let mut doc = doc;
    let previous = scim::lifecycle::stored_phase(&current.doc);
    scim::lifecycle::settle(&mut doc, Some(previous), tx.now());
    update_row(tx, current, doc, "replace")
}

/// Applies a PATCH (RFC 7644 §3.5.2) to a user, all or nothing. A PATCH that changes nothing
/// writes nothing (same version, no event). If the operations set `password`, the caller
/// passes its Argon2 hash (computed outside the transaction); the event says only that the
/// password changed.
pub fn patch(
    tx: &mut Tx<'_>,
    id: &str,
    ops: &[scim::patch::PatchOp],
    if_match: Option<i64>,
    password_hash: Option<&str>,
) -> Result<StoredResource> {
    let current = get(tx.conn, id)?;
    check_version(current.version, if_match)?;
    let mut out = scim::patch::apply(
        ResourceKind::User,
        &current.doc,
        ops,
        scim::schema::Registry::global(),
    )?;
    let password = scim::resource::take_password(&mut out.doc);
    let previous = scim::lifecycle::stored_phase(&current.doc);
    scim::lifecycle::settle(&mut out.doc, Some(previous), tx.now());
    if let Some(_plain) = &password {
        let hash = password_hash.ok_or_else(|| {
            scim::Error::invalid_value("password could not be processed; send it as a string")
        })?;
        set_password(tx, id, hash)?;
    }
    if password.is_none() && (!out.changed || out.doc == current.doc) {
        return Ok(current);
    }
    let action = if password.is_some() && out.doc == current.doc {
        "password"
    } else {
        "patch"
    };
    update_row(tx, current, out.doc, action)
}

/// Writes a new version of a user: row, projections, event (`action`) and history.
fn update_row(
    tx: &mut Tx<'_>,
    current: StoredResource,
    doc: Value,
    action: &str,
) -> Result<StoredResource> {
    let id = current.id.as_str();
    let version = current.version + 1;
    let now = tx.now();
    let text = doc.to_string();
    let p = scim::resource::user_projection(&doc);
    let norm_doc = index_doc(&doc);
    let n = diesel::update(
        users::table
            .filter(users::id.eq(id))
            .filter(users::version.eq(current.version)),
    )
    .set((
        users::user_name_norm.eq(scim::resource::normalize_case(&p.user_name)),
        users::external_id.eq(&p.external_id),
        users::display_name_norm.eq(norm(&p.display_name)),
        users::active.eq(p.active),
        users::given_name_norm.eq(norm(&p.given_name)),
        users::family_name_norm.eq(norm(&p.family_name)),
        users::email_norm.eq(norm(&p.email)),
        users::employee_number.eq(&p.employee_number),
        users::department_norm.eq(norm(&p.department)),
        users::manager_id.eq(&p.manager_id),
        users::modified.eq(now),
        users::version.eq(version),
        users::doc.eq(&text),
        users::doc_norm.eq(&norm_doc),
    ))
    .execute(tx.conn)?;
    if n != 1 {
        return Err(Error::VersionMismatch);
    }
    let seq = tx.append_event(
        action,
        TYPE.as_str(),
        id,
        version,
        Some(current.doc.to_string()),
        Some(text.clone()),
    )?;
    history::open_version(tx, TYPE, id, version, &doc, &text, seq)?;
    let stored = StoredResource {
        id: current.id,
        version,
        created: current.created,
        modified: now,
        doc,
    };
    crate::lifecycle::apply(tx, &stored)?;
    Ok(stored)
}

/// Deletes a user and removes it from every group (each group change is its own event).
pub fn delete(tx: &mut Tx<'_>, id: &str, if_match: Option<i64>) -> Result<()> {
    let current = get(tx.conn, id)?;
    check_version(current.version, if_match)?;
    let group_ids: Vec<String> = group_members::table
        .filter(group_members::member_id.eq(id))
        .order(group_members::group_id.asc())
        .select(group_members::group_id)
        .load(tx.conn)?;
    for g in &group_ids {
        members::remove(tx, g, id)?;
        groups::record_member_change(tx, g, &[], &[id.to_string()])?;
    }
    crate::lifecycle::forget_user(tx, id)?;
    diesel::delete(user_passwords::table.find(id)).execute(tx.conn)?;
    diesel::delete(users::table.find(id)).execute(tx.conn)?;
    tx.append_event(
        "delete",
        TYPE.as_str(),
        id,
        current.version,
        Some(current.doc.to_string()),
        None,
    )?;
    history::close_version(tx, TYPE, id)?;
    Ok(())
}

/// The filter-index copy of a user document (see `scim::resource::index_doc`).
pub(crate) fn index_doc(doc: &Value) -> String {
    scim::resource::index_doc(
        scim::schema::ResourceKind::User,
        doc,
        scim::schema::Registry::global(),
    )
    .to_string()
}

/// The stored password hash of a user, if any (for verification by later features).
pub fn password_hash(conn: &mut DbConn, id: &str) -> Result<Option<String>> {
    Ok(user_passwords::table
        .find(id)
        .select(user_passwords::hash)
        .get_result(conn)
        .optional()?)
}

fn norm(v: &Option<String>) -> Option<String> {
    v.as_deref().map(scim::resource::normalize_case)
}

/// Fills `doc_norm` and the `*_norm` columns for rows whose `doc_norm` is empty (written before
/// it existed, or reset by a migration that changed [`scim::resource::normalize_case`]), in
/// batches; returns the count. Two users whose userNames were distinct under the old key and
/// are equal under the new one cannot both have it: the later one keeps its old key (and stays
/// reachable by it) and a warning names both, for an operator to rename one.
pub(crate) fn backfill_index(conn: &mut DbConn) -> Result<usize> {
    crate::resource::backfill(
        conn,
        |c| {
            Ok(users::table
                .filter(users::doc_norm.eq(""))
                .select((users::id, users::doc))
                .limit(500)
                .load(c)?)
        },
        |c, id, doc| {
            let p = scim::resource::user_projection(doc);
            let key = scim::resource::normalize_case(&p.user_name);
            // a savepoint: a uniqueness clash must not abort the batch's transaction
            match diesel::Connection::transaction(c, |c| {
                diesel::update(users::table.find(id))
                    .set(users::user_name_norm.eq(&key))
                    .execute(c)
            }) {
                Ok(_) => {}
                Err(e) => match Error::from(e) {
                    Error::Conflict { .. } => {
                        let holder: Option<String> = users::table
                            .filter(users::user_name_norm.eq(&key))
                            .select(users::id)
                            .first(c)
                            .optional()?;
                        tracing::warn!(
                            user_id = id,
                            other_user_id = holder.as_deref().unwrap_or("?"),
                            "two users' userNames are now the same (case or Unicode form); \
                             this one keeps its old key until one of them is renamed"
                        );
                    }
                    other => return Err(other),
                },
            }
            diesel::update(users::table.find(id))
                .set((
                    users::display_name_norm.eq(norm(&p.display_name)),
                    users::given_name_norm.eq(norm(&p.given_name)),
                    users::family_name_norm.eq(norm(&p.family_name)),
                    users::email_norm.eq(norm(&p.email)),
                    users::department_norm.eq(norm(&p.department)),
                    users::doc_norm.eq(index_doc(doc)),
                ))
                .execute(c)?;
            Ok(())
        },
    )
}
