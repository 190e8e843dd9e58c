//! What an event means to webhook subscribers: zero or more webhook event types, each with
//! its `data`.
//!
//! - `joiner`: a user becomes active (created active, rehired, a pre-hire activated at its
//!   start date, reactivated);
//! - `mover`: an active user stays active and its title, department, division, cost centre,
//!   organization or manager changes (`data.changes` has each `from` and `to`);
//! - `leaver`: an active user becomes inactive (deactivated, end date passed) or is deleted;
//!   `data.user.manager` names the manager (`value`, `displayName`, `userName`) so automation
//!   can forward mail or hand files over;
//! - `alert`: every `alert` event (see [`crate::alerts`] and the push engine);
//! - `access.*` and `membership.expired`: governance actions, passed through under their own
//!   names with the event's document as `data`.

use serde_json::{json, Map, Value};

use store::events::Event;
use store::DbConn;

use crate::error::Result;

/// The enterprise User extension.
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// One webhook event derived from a log event.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    /// The webhook event type.
    pub event_type: String,
    /// Its `data`.
    pub data: Value,
}

fn parse(text: &Option<String>) -> Option<Value> {
    text.as_deref().and_then(|t| serde_json::from_str(t).ok())
}

/// Whether a stored user document is an active, employed user.
pub fn is_active(doc: &Value) -> bool {
    doc.get("active") != Some(&Value::Bool(false))
        && scim::lifecycle::stored_phase(doc) == scim::lifecycle::Phase::Active
}

fn enterprise<'a>(doc: &'a Value, attr: &str) -> Option<&'a Value> {
    doc.get(ENTERPRISE).and_then(|e| e.get(attr))
}

/// The attributes whose change makes a mover, with how to read each.
fn mover_fields(doc: &Value) -> Vec<(&'static str, Value)> {
    let get = |v: Option<&Value>| v.cloned().unwrap_or(Value::Null);
    vec![
        ("title", get(doc.get("title"))),
        ("department", get(enterprise(doc, "department"))),
        ("division", get(enterprise(doc, "division"))),
        ("costCenter", get(enterprise(doc, "costCenter"))),
        ("organization", get(enterprise(doc, "organization"))),
        (
            "manager",
            get(enterprise(doc, "manager").and_then(|m| m.get("value"))),
        ),
    ]
}

/// The manager reference of a user: `value`, and `displayName`/`userName` when known.
fn manager(conn: &mut DbConn, doc: &Value) -> Result<Option<Value>> {
    let Some(m) = enterprise(doc, "manager") else {
        return Ok(None);
    };
    let Some(id) = m.get("value").and_then(Value::as_str) else {
        return Ok(None);
    };
    let mut out = Map::new();
    out.insert("value".into(), json!(id));
    if let Some(d) = m.get("displayName") {
        out.insert("displayName".into(), d.clone());
    }
    match store::users::get(conn, id) {
        Ok(u) => {
            for key in ["userName", "displayName"] {
                if let Some(v) = u.doc.get(key) {
                    out.entry(key).or_insert_with(|| v.clone());
                }
            }
            if let Some(email) = primary_email(&u.doc) {
                out.insert("email".into(), email);
            }
        }
        Err(store::Error::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Some(Value::Object(out)))
}

fn primary_email(doc: &Value) -> Option<Value> {
    let emails = doc.get("emails")?.as_array()?;
    emails
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| emails.first())
        .and_then(|e| e.get("value"))
        .cloned()
}

/// The summary of a user sent in joiner, mover and leaver events.
fn user_summary(
    conn: &mut DbConn,
    id: &str,
    doc: &Value,
    fallback: Option<&Value>,
) -> Result<Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    for key in ["userName", "externalId", "displayName", "title", "active"] {
        if let Some(v) = doc.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(e) = primary_email(doc) {
        out.insert("email".into(), e);
    }
    for key in [
        "employeeNumber",
        "department",
        "division",
        "costCenter",
        "organization",
    ] {
        if let Some(v) = enterprise(doc, key) {
            out.insert(key.into(), v.clone());
        }
    }
    let mut mgr = manager(conn, doc)?;
    if mgr.is_none() {
        if let Some(f) = fallback {
            mgr = manager(conn, f)?;
        }
    }
    out.insert("manager".into(), mgr.unwrap_or(Value::Null));
    let phase = scim::lifecycle::stored_phase(doc);
    out.insert("phase".into(), json!(phase.as_str()));
    Ok(Value::Object(out))
}

/// The webhook events `e` gives rise to.
pub fn classify(conn: &mut DbConn, e: &Event) -> Result<Vec<Derived>> {
    let mut out = Vec::new();
    if e.action == "alert" {
        out.push(Derived {
            event_type: "alert".into(),
            data: parse(&e.after).unwrap_or(Value::Null),
        });
        return Ok(out);
    }
    if e.action.starts_with("access.") || e.action == "membership.expired" {
        out.push(Derived {
            event_type: e.action.clone(),
            data: parse(&e.after)
                .or_else(|| parse(&e.before))
                .unwrap_or(Value::Null),
        });
        return Ok(out);
    }
    if e.resource_type != "User" {
        return Ok(out);
    }
    let before = parse(&e.before);
    let after = parse(&e.after);
    let was = before.as_ref().is_some_and(is_active);
    let is = after.as_ref().is_some_and(is_active);
    match (&before, &after) {
        (_, Some(a)) if is && !was => out.push(Derived {
            event_type: "joiner".into(),
            data: json!({"user": user_summary(conn, &e.resource_id, a, None)?}),
        }),
        (Some(b), None) if was => out.push(Derived {
            event_type: "leaver".into(),
            data: json!({"user": user_summary(conn, &e.resource_id, b, None)?, "deleted": true}),
        }),
        (Some(b), Some(a)) if was && !is => out.push(Derived {
            event_type: "leaver".into(),
            data: json!({"user": user_summary(conn, &e.resource_id, a, Some(b))?, "deleted": false}),
        }),
        (Some(b), Some(a)) if was && is => {
            let mut changes = Map::new();
            for ((name, from), (_, to)) in mover_fields(b).into_iter().zip(mover_fields(a)) {
                if from != to {
                    changes.insert(name.into(), json!({"from": from, "to": to}));
                }
            }
            if !changes.is_empty() {
                out.push(Derived {
                    event_type: "mover".into(),
                    data: json!({"user": user_summary(conn, &e.resource_id, a, None)?, "changes": changes}),
                });
            }
        }
        _ => {}
    }
    Ok(out)
}
