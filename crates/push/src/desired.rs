//! What each resource should look like on a target, and the step that gets it there.
//!
//! Everything here reads the database only (call it from a blocking context) and is computed
//! from current data, never from the events themselves: the events only say which resources to
//! look at (level-triggered convergence).

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use scim::schema::{Registry, ResourceKind, GROUP_SCHEMA};
use store::push::state::{self, StateRow};
use store::{DbConn, Error as StoreError};

use crate::mapping;
use crate::spec::{Deprovision, PushGroups, Scope};
use crate::target::Target;

/// `User` or `Group`.
pub const USER: &str = "User";
/// `Group`.
pub const GROUP: &str = "Group";

/// The state a remote object should be in.
#[derive(Debug, Clone, PartialEq)]
pub enum Desired {
    /// Exists with exactly this document.
    Present {
        /// The document (with `active` for users).
        doc: Value,
        /// Hash of `doc`.
        hash: String,
    },
    /// Exists, disabled (`active: false`); other attributes as last pushed.
    Disabled,
    /// Does not exist.
    Absent,
}

/// The step that converges one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do.
    Noop,
    /// Find the remote object (adopt) or create it.
    Create,
    /// Update the known remote object.
    Update,
    /// `PATCH active: false`.
    Disable,
    /// `DELETE`.
    Delete,
}

/// One resource to converge.
#[derive(Debug, Clone)]
pub struct Item {
    /// `User` or `Group`.
    pub rtype: &'static str,
    /// The Roster id.
    pub id: String,
    /// Its version (0 when deleted).
    pub version: i64,
    /// What it should be.
    pub desired: Desired,
    /// What was last pushed.
    pub state: Option<StateRow>,
    /// The step.
    pub step: Step,
    /// Push even if the hash matches (reconciliation found drift).
    pub force: bool,
}

impl Item {
    /// How the remote object is found again: `{"userName": …, "externalId": …}` or
    /// `{"displayName": …}` — from the desired document, else from the state.
    pub fn remote_key(&self) -> Option<String> {
        if let Desired::Present { doc, .. } = &self.desired {
            let key = if self.rtype == USER {
                json!({"userName": mapping::user_name(doc), "externalId": mapping::external_id(doc)})
            } else {
                json!({"displayName": doc.get("displayName")})
            };
            return Some(key.to_string());
        }
        self.state.as_ref().and_then(|s| s.remote_key.clone())
    }

    /// Whether running this item disables or deletes an account that is active remotely.
    pub fn deprovisions(&self) -> bool {
        match self.step {
            Step::Disable | Step::Delete => self.rtype == USER,
            Step::Update => {
                let now_inactive = matches!(&self.desired, Desired::Present { doc, .. }
                    if doc.get("active") == Some(&Value::Bool(false)));
                let was_active = self
                    .state
                    .as_ref()
                    .and_then(|s| s.pushed_doc.as_deref())
                    .and_then(|d| serde_json::from_str::<Value>(d).ok())
                    .is_some_and(|d| d.get("active") != Some(&Value::Bool(false)));
                self.rtype == USER && now_inactive && was_active
            }
            _ => false,
        }
    }
}

/// SHA-256 of a document's JSON text.
pub fn hash(doc: &Value) -> String {
    hex::encode(Sha256::digest(doc.to_string().as_bytes()))
}

fn step_for(desired: &Desired, state: Option<&StateRow>, force: bool) -> Step {
    let remote = state.and_then(|s| s.remote_id.as_deref()).is_some();
    let status = state.map(|s| s.status.as_str());
    match desired {
        Desired::Present { hash, .. } => {
            let same = state.and_then(|s| s.pushed_hash.as_deref()) == Some(hash.as_str());
            if remote && same && status == Some(state::SYNCED) && !force {
                Step::Noop
            } else if remote {
                Step::Update
            } else {
                Step::Create
            }
        }
        Desired::Disabled => match status {
            None | Some(state::DISABLED) | Some(state::DELETED) if !force => Step::Noop,
            None => Step::Noop,
            _ if remote || state.and_then(|s| s.remote_key.as_ref()).is_some() => Step::Disable,
            _ => Step::Noop,
        },
        Desired::Absent => match status {
            None | Some(state::DELETED) => Step::Noop,
            _ if remote || state.and_then(|s| s.remote_key.as_ref()).is_some() => Step::Delete,
            _ => Step::Noop,
        },
    }
}

/// Whether a user is in the target's scope (`doc` is its stored document).
fn in_scope(target: &Target, id: &str, doc: &Value, assigned_members: &HashSet<String>) -> bool {
    match &target.settings.scope {
        Scope::All => true,
        Scope::Groups { .. } => assigned_members.contains(id),
        Scope::Filter { .. } => match &target.filter {
            Some(f) => {
                let mut full = doc.clone();
                if let Some(o) = full.as_object_mut() {
                    o.insert("id".into(), Value::String(id.to_string()));
                }
                scim::filter::eval(f, &full, ResourceKind::User, Registry::global())
            }
            None => false,
        },
    }
}

/// For scope `groups`: which of `ids` are members, directly or through nesting, of an
/// assigned group (one climb of the group graph for the whole batch).
fn assigned_members(
    conn: &mut DbConn,
    target: &Target,
    ids: &[String],
) -> Result<HashSet<String>, StoreError> {
    let assigned = target.assigned();
    if assigned.is_empty() || ids.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(store::members::groups_of_transitive(conn, ids)?
        .into_iter()
        .filter(|(_, g, _)| assigned.contains(g))
        .map(|(m, _, _)| m)
        .collect())
}

/// Plans users: loads each one, its push state, and decides its desired state and step.
pub fn plan_users(
    conn: &mut DbConn,
    target: &Target,
    ids: &[String],
    force: &HashSet<String>,
    now: chrono::NaiveDateTime,
) -> Result<Vec<Item>, StoreError> {
    let window = chrono::TimeDelta::days(i64::from(target.settings.provision_before_start_days));
    let states: HashMap<String, StateRow> = state::get_many(conn, &target.row.id, USER, ids)?
        .into_iter()
        .map(|s| (s.resource_id.clone(), s))
        .collect();
    let mut users: HashMap<String, store::StoredResource> = store::users::get_many(conn, ids)?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    let assigned_members = match target.settings.scope {
        Scope::Groups { .. } => {
            let present: Vec<String> = users.keys().cloned().collect();
            assigned_members(conn, target, &present)?
        }
        _ => HashSet::new(),
    };
    // the managers' remote ids on this target, in one query for the whole batch
    let manager_ids: Vec<String> = users
        .values()
        .filter_map(|u| mapping::manager_id(&u.doc).map(str::to_string))
        .collect();
    let manager_remotes: HashMap<String, String> =
        state::get_many(conn, &target.row.id, USER, &manager_ids)?
            .into_iter()
            .filter(|s| s.status != state::DELETED)
            .filter_map(|s| s.remote_id.map(|r| (s.resource_id, r)))
            .collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let user = users.remove(id);
        let gone = match target.settings.deprovision {
            Deprovision::Disable => Desired::Disabled,
            Deprovision::Delete => Desired::Absent,
        };
        let (desired, version) = match user {
            None => (gone, 0),
            Some(u) => {
                let active = u.doc.get("active") != Some(&Value::Bool(false));
                let pre_hire = scim::lifecycle::is_pre_hire(&u.doc);
                let pushed = states.get(id).is_some_and(|s| s.remote_id.is_some());
                let in_window =
                    scim::lifecycle::start_date(&u.doc).is_none_or(|start| now + window >= start);
                if !in_scope(target, id, &u.doc, &assigned_members) {
                    (gone, u.version)
                } else if pre_hire && !in_window && !pushed {
                    // too early: nothing downstream yet (Disabled without state is no step)
                    (Desired::Disabled, u.version)
                } else if !active && !pre_hire && target.settings.deprovision == Deprovision::Delete
                {
                    (Desired::Absent, u.version)
                } else {
                    let manager_remote = mapping::manager_id(&u.doc)
                        .and_then(|m| manager_remotes.get(m))
                        .cloned();
                    let mut doc = mapping::user_document(
                        target.settings.mapping.as_deref(),
                        &u.doc,
                        manager_remote.as_deref(),
                    );
                    if let Some(o) = doc.as_object_mut() {
                        o.insert("active".into(), Value::Bool(active));
                    }
                    let hash = hash(&doc);
                    (Desired::Present { doc, hash }, u.version)
                }
            }
        };
        let state = states.get(id).cloned();
        let force = force.contains(id);
        let step = step_for(&desired, state.as_ref(), force);
        out.push(Item {
            rtype: USER,
            id: id.clone(),
            version,
            desired,
            state,
            step,
            force,
        });
    }
    Ok(out)
}

/// Plans groups (`pushGroups: assigned`): each assigned group with its direct user members
/// that have a remote id on this target; groups no longer assigned or deleted are removed.
pub fn plan_groups(
    conn: &mut DbConn,
    target: &Target,
    ids: &[String],
    force: &HashSet<String>,
) -> Result<Vec<Item>, StoreError> {
    let assigned = target.assigned();
    let states: HashMap<String, StateRow> = state::get_many(conn, &target.row.id, GROUP, ids)?
        .into_iter()
        .map(|s| (s.resource_id.clone(), s))
        .collect();
    let mut out = Vec::new();
    for id in ids {
        let state = states.get(id).cloned();
        let wanted = target.settings.push_groups == PushGroups::Assigned && assigned.contains(id);
        let group = if wanted {
            match store::groups::get(conn, id) {
                Ok(g) => Some(g),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let (desired, version) = match group {
            None => (Desired::Absent, 0),
            Some(g) => {
                let user_ids: Vec<String> = store::members::of_group(conn, id)?
                    .into_iter()
                    .filter(|m| m.member_type == USER)
                    .map(|m| m.id)
                    .collect();
                let mut remote: Vec<String> =
                    state::get_many(conn, &target.row.id, USER, &user_ids)?
                        .into_iter()
                        .filter(|s| s.status == state::SYNCED || s.status == state::RETRYING)
                        .filter_map(|s| s.remote_id)
                        .collect();
                remote.sort();
                let mut doc = json!({
                    "schemas": [GROUP_SCHEMA],
                    "displayName": g.doc.get("displayName").cloned().unwrap_or(Value::Null),
                    "members": remote.iter().map(|r| json!({"value": r})).collect::<Vec<_>>(),
                });
                if let (Some(o), Some(ext)) = (doc.as_object_mut(), mapping::external_id(&g.doc)) {
                    o.insert("externalId".into(), Value::String(ext.to_string()));
                }
                let hash = hash(&doc);
                (Desired::Present { doc, hash }, g.version)
            }
        };
        let force = force.contains(id);
        let step = step_for(&desired, state.as_ref(), force);
        out.push(Item {
            rtype: GROUP,
            id: id.clone(),
            version,
            desired,
            state,
            step,
            force,
        });
    }
    Ok(out)
}

/// For scope `groups`: the ids in `touched` that are groups (a nested group added to or removed
/// from a group) are replaced by every user inside them, directly or through deeper nesting.
pub fn expand_nested(conn: &mut DbConn, touched: &[String]) -> Result<Vec<String>, StoreError> {
    let mut frontier: Vec<String> = store::groups::display_names(conn, touched)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let nested: HashSet<String> = frontier.iter().cloned().collect();
    let mut seen_groups = nested.clone();
    let mut users: Vec<String> = touched
        .iter()
        .filter(|id| !nested.contains(*id))
        .cloned()
        .collect();
    let mut seen_users: HashSet<String> = users.iter().cloned().collect();
    while !frontier.is_empty() {
        let members = store::members::of_groups(conn, &frontier)?;
        let mut next = Vec::new();
        for m in members.into_values().flatten() {
            if m.member_type == GROUP {
                if seen_groups.insert(m.id.clone()) {
                    next.push(m.id);
                }
            } else if seen_users.insert(m.id.clone()) {
                users.push(m.id);
            }
        }
        frontier = next;
    }
    Ok(users)
}

/// The resources an event batch touches: `(users, groups)`. Group events touch the group and,
/// for scope `groups`, every member they name (added, removed, before and after).
pub fn touched(events: &[store::events::Event], target: &Target) -> (Vec<String>, Vec<String>) {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut seen = HashSet::new();
    let by_members = matches!(target.settings.scope, Scope::Groups { .. });
    for e in events {
        if e.action.starts_with("push.") {
            continue;
        }
        match e.resource_type.as_str() {
            USER if seen.insert((USER, e.resource_id.clone())) => {
                users.push(e.resource_id.clone());
            }
            GROUP => {
                if seen.insert((GROUP, e.resource_id.clone())) {
                    groups.push(e.resource_id.clone());
                }
                if by_members {
                    for doc in [&e.before, &e.after].into_iter().flatten() {
                        let Ok(v) = serde_json::from_str::<Value>(doc) else {
                            continue;
                        };
                        for key in [
                            "members",
                            "membersAdded",
                            "membersRemoved",
                            "added",
                            "removed",
                        ] {
                            for m in v.get(key).and_then(Value::as_array).into_iter().flatten() {
                                let id = m
                                    .as_str()
                                    .or_else(|| m.get("value").and_then(Value::as_str));
                                if let Some(id) = id {
                                    if seen.insert((USER, id.to_string())) {
                                        users.push(id.to_string());
                                    }
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    (users, groups)
}
