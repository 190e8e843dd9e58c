//! The stored form of a SCIM resource: row metadata plus the JSON document.

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::error::{Error, Result};

/// A resource as stored: the document holds the client attributes (no `id`, `meta`,
/// `groups` or `members`); the row holds identity and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    /// Server-assigned id (UUID).
    pub id: String,
    /// Version, starting at 1 and incremented by every change.
    pub version: i64,
    /// Creation time (UTC).
    pub created: NaiveDateTime,
    /// Last modification time (UTC).
    pub modified: NaiveDateTime,
    /// The stored document.
    pub doc: Value,
}

/// The row tuple loaded for a resource.
pub(crate) type ResourceRow = (String, i64, NaiveDateTime, NaiveDateTime, String);

impl TryFrom<ResourceRow> for StoredResource {
    type Error = Error;

    fn try_from((id, version, created, modified, doc): ResourceRow) -> Result<Self> {
        Ok(StoredResource {
            id,
            version,
            created,
            modified,
            doc: serde_json::from_str(&doc)?,
        })
    }
}

/// The two resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    /// `User`
    User,
    /// `Group`
    Group,
}

impl ResourceType {
    /// The name stored in `events.resource_type` and `resource_versions`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ResourceType::User => "User",
            ResourceType::Group => "Group",
        }
    }

    /// The name of a resource of this type: `userName` of a User, `displayName` of a Group
    /// (empty if missing). Stored with every version in `resource_versions.name`, and shown by
    /// the audit API as a member's or group's `display`.
    pub fn name_of(&self, doc: &Value) -> String {
        let attr = match self {
            ResourceType::User => "userName",
            ResourceType::Group => "displayName",
        };
        doc.get(attr)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

/// Fails with [`Error::VersionMismatch`] when `if_match` names another version.
pub(crate) fn check_version(current: i64, if_match: Option<i64>) -> Result<()> {
    match if_match {
        Some(v) if v != current => Err(Error::VersionMismatch),
        _ => Ok(()),
    }
}

/// Back-fills a derived column batch by batch: `load` returns up to a batch of `(id, doc)` rows
/// still to do, `save` writes one; stops when a batch comes back empty. Each batch is one
/// transaction (one commit per 500 rows, not one per statement: on a 100k-user PostgreSQL
/// database that is the difference between minutes and seconds).
pub(crate) fn backfill(
    conn: &mut crate::conn::DbConn,
    load: impl Fn(&mut crate::conn::DbConn) -> Result<Vec<(String, String)>>,
    save: impl Fn(&mut crate::conn::DbConn, &str, &Value) -> Result<()>,
) -> Result<usize> {
    let mut done = 0;
    loop {
        let rows = load(conn)?;
        if rows.is_empty() {
            return Ok(done);
        }
        done += diesel::Connection::transaction(conn, |c| {
            let mut n = 0;
            for (id, doc) in &rows {
                save(c, id, &serde_json::from_str(doc)?)?;
                n += 1;
            }
            Ok::<_, crate::error::Error>(n)
        })?;
    }
}
