//! Protected groups (`ROSTER_PROTECTED_GROUPS`): groups whose membership a SCIM token may change
//! only if it also holds the `admin` scope.
//!
//! The check sits where membership rows are written ([`crate::members`] `add`/`remove`), inside
//! the write transaction, so every path is covered: POST/PUT/PATCH of a group, `/Bulk`, deleting
//! a group, and deleting a User or Group that is a member of one. It judges effects, not
//! requests: re-sending members a protected group already has changes no row and passes. A
//! refused change fails the whole transaction, so nothing of the request is written.
//!
//! A group is protected if its id or its displayName (compared as `userName`s are, see
//! `scim::resource::normalize_case`) is listed, or if it is nested, directly or not, in a
//! protected group: a member of a nested group is a member of the protected group too.
//! Renaming a protected group, or giving any group a protected displayName, is refused the
//! same way (the name is what makes it protected, and what downstream apps often map roles by).

use std::collections::BTreeSet;

use diesel::prelude::*;

use crate::error::{Error, Result};
use crate::schema::groups;
use crate::write::Tx;

/// The configured protected groups: ids and displayNames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtectedGroups {
    entries: BTreeSet<String>,
    names: BTreeSet<String>,
}

/// What a writer is about to do to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Add or remove a member.
    Members,
    /// Change its displayName.
    Rename,
    /// Delete it.
    Delete,
}

impl ProtectedGroups {
    /// Protected groups from configuration entries, each a group id or a displayName (blank
    /// entries are ignored).
    pub fn new<S: AsRef<str>>(entries: impl IntoIterator<Item = S>) -> Self {
        let entries: BTreeSet<String> = entries
            .into_iter()
            .map(|e| e.as_ref().trim().to_string())
            .filter(|e| !e.is_empty())
            .collect();
        let names = entries
            .iter()
            .map(|e| scim::resource::normalize_case(e))
            .collect();
        ProtectedGroups { entries, names }
    }

    /// Whether no group is protected.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The configured entries, sorted.
    pub fn entries(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(String::as_str)
    }

    /// Whether `display_name` is a protected name.
    pub fn names(&self, display_name: &str) -> bool {
        !self.is_empty()
            && self
                .names
                .contains(&scim::resource::normalize_case(display_name))
    }

    fn lists(&self, id: &str, display_name_norm: &str) -> bool {
        self.entries.contains(id) || self.names.contains(display_name_norm)
    }

    /// The protected group that makes `group_id` protected: the group itself, or the nearest
    /// protected group it is nested in. `None` if it is not protected (or does not exist).
    pub fn protecting(&self, conn: &mut crate::DbConn, group_id: &str) -> Result<Option<String>> {
        if self.is_empty() {
            return Ok(None);
        }
        crate::members::nearest_enclosing(conn, group_id, |conn, level| {
            let rows: Vec<(String, String)> = groups::table
                .filter(groups::id.eq_any(level))
                .select((groups::id, groups::display_name_norm))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .filter(|(id, name)| self.lists(id, name))
                .map(|(id, _)| id)
                .min())
        })
    }
}

fn display_name(tx: &mut Tx<'_>, id: &str) -> Result<String> {
    Ok(crate::groups::display_names(tx.conn, &[id.to_string()])?
        .into_iter()
        .next()
        .map(|(_, name)| name)
        .unwrap_or_default())
}

fn forbidden(detail: String) -> Error {
    Error::Scim(scim::Error::new(403, None, detail))
}

const NEEDS: &str = "needs a token with the 'admin' scope (as well as 'scim.write')";

/// Refuses `change` to group `group_id` if the writer may not change protected groups and the
/// group is protected. Groups found unprotected are remembered for the rest of the transaction.
pub(crate) fn check(tx: &mut Tx<'_>, group_id: &str, change: Change) -> Result<()> {
    let Some(protected) = tx.ctx().protected_groups.clone() else {
        return Ok(());
    };
    if protected.is_empty() || tx.unprotected.contains(group_id) {
        return Ok(());
    }
    let Some(by) = protected.protecting(tx.conn, group_id)? else {
        tx.unprotected.insert(group_id.to_string());
        return Ok(());
    };
    let name = display_name(tx, group_id)?;
    let what = match change {
        Change::Members => "changing its members",
        Change::Rename => "renaming it",
        Change::Delete => "deleting it",
    };
    let detail = if by == group_id {
        format!("group '{name}' ({group_id}) is protected: {what} {NEEDS}")
    } else {
        let outer = display_name(tx, &by)?;
        format!(
            "group '{name}' ({group_id}) is nested in the protected group '{outer}' ({by}): \
             {what} {NEEDS}"
        )
    };
    Err(forbidden(detail))
}

/// Refuses giving group `group_id` the displayName `new_name` (from `old_name`) if the writer may
/// not change protected groups and either the group is protected or the new name is.
pub(crate) fn check_rename(
    tx: &mut Tx<'_>,
    group_id: &str,
    old_name: &str,
    new_name: &str,
) -> Result<()> {
    if scim::resource::normalize_case(old_name) == scim::resource::normalize_case(new_name) {
        return Ok(());
    }
    let Some(protected) = tx.ctx().protected_groups.clone() else {
        return Ok(());
    };
    if protected.names(new_name) {
        return Err(forbidden(format!(
            "'{new_name}' is the name of a protected group: giving it to a group {NEEDS}"
        )));
    }
    check(tx, group_id, Change::Rename)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_trimmed_and_names_compared_like_user_names() {
        let p = ProtectedGroups::new([" Admins ", "", "Straße", "0b1c"]);
        assert_eq!(
            p.entries().collect::<Vec<_>>(),
            ["0b1c", "Admins", "Straße"]
        );
        assert!(p.names("ADMINS"));
        assert!(p.names("STRASSE"));
        assert!(p.names("Ａｄｍｉｎｓ"));
        assert!(!p.names("Admin"));
        assert!(ProtectedGroups::new(["", "  "]).is_empty());
        assert!(!ProtectedGroups::default().names(""));
    }
}
