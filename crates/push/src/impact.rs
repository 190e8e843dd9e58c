//! Which push targets a change of group memberships reaches (for what-if answers such as the
//! rule preview): a target scoped to groups is reached when a changed group is one of its
//! assigned groups or nested in one; a target scoped by a filter that names `groups` may be.
//! A target of scope `all` is not: memberships do not decide who it receives.

use std::collections::{BTreeSet, HashSet};

use serde_json::{json, Value};
use store::DbConn;

use crate::error::Result;
use crate::spec::Scope;
use crate::target::settings_of;

/// A target a membership change reaches, and through which of the changed groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Reached {
    /// Target id.
    pub id: String,
    /// Target name.
    pub name: String,
    /// The changed groups in its scope.
    pub groups: BTreeSet<String>,
    /// Whether the target's scope is a filter (reached only if the filter's group condition
    /// holds; Roster does not evaluate it here).
    pub by_filter: bool,
}

impl Reached {
    /// The API view, with the number of previewed users whose change involves these groups.
    pub fn to_json(&self, users: usize) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "groups": self.groups,
            "scope": if self.by_filter { "filter" } else { "groups" },
            "users": users,
        })
    }
}

/// The groups `roots` and every group nested in them, at any depth.
fn with_nested(conn: &mut DbConn, roots: &[String]) -> Result<HashSet<String>> {
    let mut seen: HashSet<String> = roots.iter().cloned().collect();
    let mut frontier: Vec<String> = roots.to_vec();
    while !frontier.is_empty() {
        let members = store::members::of_groups(conn, &frontier)?;
        frontier = members
            .into_values()
            .flatten()
            .filter(|m| m.member_type == "Group")
            .filter_map(|m| seen.insert(m.id.clone()).then_some(m.id))
            .collect();
    }
    Ok(seen)
}

/// The targets that changes to the memberships of `changed` groups reach.
pub fn targets_reached(conn: &mut DbConn, changed: &BTreeSet<String>) -> Result<Vec<Reached>> {
    let mut out = Vec::new();
    if changed.is_empty() {
        return Ok(out);
    }
    for row in store::push::targets::list(conn)? {
        let settings = settings_of(&row)?;
        let (groups, by_filter) = match &settings.scope {
            Scope::All => continue,
            Scope::Groups { groups } => {
                let covered = with_nested(conn, groups)?;
                (
                    changed
                        .iter()
                        .filter(|g| covered.contains(*g))
                        .cloned()
                        .collect::<BTreeSet<_>>(),
                    false,
                )
            }
            Scope::Filter { filter } if filter.to_ascii_lowercase().contains("groups") => {
                (changed.clone(), true)
            }
            Scope::Filter { .. } => continue,
        };
        if !groups.is_empty() {
            out.push(Reached {
                id: row.id,
                name: row.name,
                groups,
                by_filter,
            });
        }
    }
    Ok(out)
}
