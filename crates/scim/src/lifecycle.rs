//! Joiners and leavers by date: the phase of a User from Roster's lifecycle extension
//! (`startDate`, `endDate`, `employmentStatus`) and its `active` flag. Pure: the caller passes
//! the clock's instant and the phase the stored user had before the write.
//!
//! - **preHire**: created (or still) before `startDate` with `active` not false. Stored inactive;
//!   Roster activates the user at `startDate`. Rules grant birthright groups already, so
//!   downstream accounts can be prepared ahead of day one.
//! - **active**: the ordinary state.
//! - **inactive**: `endDate` has passed, `employmentStatus` is `terminated`, or HR sent
//!   `active: false`.
//!
//! The phase is stored as the read-only attribute `phase` of the lifecycle extension whenever a
//! document carries that extension, so that readers (the push engine, SCIM clients, filters such
//! as `urn:roster:params:scim:schemas:extension:lifecycle:2.0:User:phase eq "preHire"`) can tell a
//! pre-hire from a leaver without the clock. [`is_pre_hire`] reads it.

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::meta::parse_datetime;
use crate::schema::LIFECYCLE_USER_SCHEMA;

/// Where a user is in its employment lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before `startDate`: inactive, activated by Roster at `startDate`.
    PreHire,
    /// Employed and active.
    Active,
    /// Left, or deactivated by HR.
    Inactive,
}

impl Phase {
    /// The stored name (`preHire`, `active`, `inactive`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::PreHire => "preHire",
            Phase::Active => "active",
            Phase::Inactive => "inactive",
        }
    }

    /// Whether rules grant birthright access in this phase (pre-hires get it ahead of day one).
    pub fn gets_rule_access(&self) -> bool {
        !matches!(self, Phase::Inactive)
    }
}

fn ext(doc: &Value) -> Option<&Value> {
    doc.get(LIFECYCLE_USER_SCHEMA)
}

fn date(doc: &Value, name: &str) -> Option<NaiveDateTime> {
    ext(doc)?
        .get(name)
        .and_then(Value::as_str)
        .and_then(parse_datetime)
        .map(|t| t.naive_utc())
}

/// The lifecycle `startDate`, if any (a date without a time is 00:00 UTC).
pub fn start_date(doc: &Value) -> Option<NaiveDateTime> {
    date(doc, "startDate")
}

/// The lifecycle `endDate`, if any.
pub fn end_date(doc: &Value) -> Option<NaiveDateTime> {
    date(doc, "endDate")
}

/// The phase recorded in a stored document: its `phase` attribute if present, else derived from
/// `active` (absent means active).
pub fn stored_phase(doc: &Value) -> Phase {
    match ext(doc)
        .and_then(|e| e.get("phase"))
        .and_then(Value::as_str)
    {
        Some("preHire") => Phase::PreHire,
        Some("inactive") => Phase::Inactive,
        Some("active") => Phase::Active,
        _ if doc.get("active") == Some(&Value::Bool(false)) => Phase::Inactive,
        _ => Phase::Active,
    }
}

/// Whether a stored user is a pre-hire (created before its `startDate`, not yet activated).
pub fn is_pre_hire(doc: &Value) -> bool {
    stored_phase(doc) == Phase::PreHire
}

/// Decides the phase of `doc` at `now`, given the phase the stored user had before this write
/// (`None` for a new user), and writes it into the document: `active` is false unless the phase
/// is active (a document without `active` whose phase does not change is left without it), and
/// `phase` is set when the document has the lifecycle extension.
///
/// A pre-hire stays one while `startDate` is ahead, even though its stored (and inherited)
/// `active` is false; once `startDate` has passed it becomes active. `endDate` at or before
/// `now`, or `employmentStatus` `terminated`, makes the user inactive whatever `active` says.
pub fn settle(doc: &mut Value, previous: Option<Phase>, now: NaiveDateTime) -> Phase {
    let active = doc.get("active") != Some(&Value::Bool(false));
    let terminated = ext(doc)
        .and_then(|e| e.get("employmentStatus"))
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("terminated"));
    let was_pre_hire = previous == Some(Phase::PreHire);
    let phase = if terminated || end_date(doc).is_some_and(|e| e <= now) {
        Phase::Inactive
    } else if start_date(doc).is_some_and(|s| s > now) && (active || was_pre_hire) {
        Phase::PreHire
    } else if active || was_pre_hire {
        Phase::Active
    } else {
        Phase::Inactive
    };
    if let Some(obj) = doc.as_object_mut() {
        match (phase, obj.get("active")) {
            (Phase::Active, Some(Value::Bool(false))) => {
                obj.insert("active".into(), Value::Bool(true));
            }
            (Phase::Active, _) => {}
            // a client that removed `active` from a user already in this phase is not
            // contradicted (the stored `phase` still says inactive or pre-hire)
            (_, None) if previous == Some(phase) => {}
            _ => {
                obj.insert("active".into(), Value::Bool(false));
            }
        }
        if let Some(Value::Object(e)) = obj.get_mut(LIFECYCLE_USER_SCHEMA) {
            e.insert("phase".into(), Value::String(phase.as_str().into()));
        }
    }
    phase
}

/// When the phase of a user settled at `now` changes next by itself: `startDate` of a pre-hire,
/// `endDate` of an active user.
pub fn next_change(doc: &Value, phase: Phase, now: NaiveDateTime) -> Option<NaiveDateTime> {
    match phase {
        Phase::PreHire => start_date(doc),
        Phase::Active => end_date(doc).filter(|e| *e > now),
        Phase::Inactive => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> NaiveDateTime {
        parse_datetime(s).map(|d| d.naive_utc()).unwrap_or_default()
    }

    fn user(active: Option<bool>, start: Option<&str>, end: Option<&str>) -> Value {
        let mut ext = serde_json::Map::new();
        if let Some(s) = start {
            ext.insert("startDate".into(), json!(s));
        }
        if let Some(e) = end {
            ext.insert("endDate".into(), json!(e));
        }
        let mut doc = json!({"userName": "u", LIFECYCLE_USER_SCHEMA: ext});
        if let Some(a) = active {
            doc["active"] = json!(a);
        }
        doc
    }

    #[test]
    fn joiner_before_start_is_pre_hire_then_active_at_start() {
        let now = t("2026-01-01T00:00:00Z");
        let mut d = user(Some(true), Some("2026-02-01"), None);
        assert_eq!(settle(&mut d, None, now), Phase::PreHire);
        assert_eq!(d["active"], json!(false));
        assert_eq!(d[LIFECYCLE_USER_SCHEMA]["phase"], json!("preHire"));
        assert!(is_pre_hire(&d));
        assert_eq!(
            next_change(&d, Phase::PreHire, now),
            Some(t("2026-02-01T00:00:00Z"))
        );
        // an edit before the start keeps it pre-hire although the stored active is false
        let mut edit = d.clone();
        assert_eq!(settle(&mut edit, Some(Phase::PreHire), now), Phase::PreHire);
        // at the start date it becomes active
        let mut at_start = d.clone();
        let start = t("2026-02-01T00:00:00Z");
        assert_eq!(
            settle(&mut at_start, Some(Phase::PreHire), start),
            Phase::Active
        );
        assert_eq!(at_start["active"], json!(true));
        assert_eq!(at_start[LIFECYCLE_USER_SCHEMA]["phase"], json!("active"));
    }

    #[test]
    fn leaver_by_end_date_by_active_false_and_by_status() {
        let now = t("2026-06-01T00:00:00Z");
        let mut d = user(Some(true), Some("2025-01-01"), Some("2026-05-31"));
        assert_eq!(settle(&mut d, Some(Phase::Active), now), Phase::Inactive);
        assert_eq!(d["active"], json!(false));
        let mut d = user(Some(false), None, None);
        assert_eq!(settle(&mut d, Some(Phase::Active), now), Phase::Inactive);
        let mut d = user(Some(true), None, Some("2026-12-31"));
        assert_eq!(settle(&mut d, None, now), Phase::Active);
        assert_eq!(
            next_change(&d, Phase::Active, now),
            Some(t("2026-12-31T00:00:00Z"))
        );
        d[LIFECYCLE_USER_SCHEMA]["employmentStatus"] = json!("Terminated");
        assert_eq!(settle(&mut d, Some(Phase::Active), now), Phase::Inactive);
    }

    #[test]
    fn explicit_inactive_new_user_with_future_start_is_not_pre_hire() {
        let now = t("2026-01-01T00:00:00Z");
        let mut d = user(Some(false), Some("2026-02-01"), None);
        assert_eq!(settle(&mut d, None, now), Phase::Inactive);
        assert_eq!(next_change(&d, Phase::Inactive, now), None);
    }

    #[test]
    fn removing_active_from_a_leaver_is_not_contradicted() {
        let now = t("2026-06-01T00:00:00Z");
        let mut d = user(None, None, Some("2026-01-01"));
        // a new user with a past end date is deactivated explicitly
        assert_eq!(settle(&mut d.clone(), None, now), Phase::Inactive);
        let mut fresh = d.clone();
        settle(&mut fresh, None, now);
        assert_eq!(fresh["active"], json!(false));
        // an inactive user whose `active` a client removed stays without it
        assert_eq!(settle(&mut d, Some(Phase::Inactive), now), Phase::Inactive);
        assert!(d.get("active").is_none());
        // but a user that becomes inactive in this write gets `active: false`
        let mut d = user(None, None, Some("2026-01-01"));
        assert_eq!(settle(&mut d, Some(Phase::Active), now), Phase::Inactive);
        assert_eq!(d["active"], json!(false));
    }

    #[test]
    fn users_without_the_extension_keep_their_document() {
        let now = t("2026-01-01T00:00:00Z");
        let mut d = json!({"userName": "u"});
        assert_eq!(settle(&mut d, None, now), Phase::Active);
        assert_eq!(d, json!({"userName": "u"}));
        let mut d = json!({"userName": "u", "active": true});
        assert_eq!(settle(&mut d, None, now), Phase::Active);
        assert_eq!(d, json!({"userName": "u", "active": true}));
    }
}
