//! Point-in-time history: `resource_versions` and `membership_periods`, written only by the
//! write transaction (never updated except to close a validity span).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::conn::DbConn;
use crate::error::Result;
use crate::resource::ResourceType;
use crate::schema::{membership_periods, resource_versions};
use crate::write::Tx;

/// Closes the open version of a resource (if any) and opens `version` with `doc`.
pub(crate) fn open_version(
    tx: &mut Tx<'_>,
    rtype: ResourceType,
    id: &str,
    version: i64,
    doc: &str,
    event_seq: i64,
) -> Result<()> {
    close_version(tx, rtype, id)?;
    let now = tx.now();
    diesel::insert_into(resource_versions::table)
        .values((
            resource_versions::resource_type.eq(rtype.as_str()),
            resource_versions::resource_id.eq(id),
            resource_versions::version.eq(version),
            resource_versions::doc.eq(doc),
            resource_versions::valid_from.eq(now),
            resource_versions::event_seq.eq(event_seq),
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
