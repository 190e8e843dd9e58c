//! Access governance of a Group: Roster's extension
//! `urn:roster:params:scim:schemas:extension:governance:2.0:Group` (`requiresApproval`,
//! `approvers`, `maxDurationDays`), read from a validated group document. Pure: the store
//! resolves approver references and decides who may change the settings (docs/governance.md).

use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::resource::{MemberKind, MemberRef};
use crate::schema::GOVERNANCE_GROUP_SCHEMA;

/// Longest `maxDurationDays` (and approval duration), in days.
pub const MAX_DURATION_DAYS: i64 = 3650;

/// The governance settings of a group (all defaults: no approval, no approvers, no limit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Adding a member opens an access request instead of granting the membership.
    pub requires_approval: bool,
    /// Who may decide its access requests (empty: any token with the `approve` scope).
    pub approvers: Vec<MemberRef>,
    /// Longest access an approval or an admin grant gives, in days.
    pub max_duration_days: Option<i64>,
}

fn invalid(detail: String) -> Error {
    Error::invalid_value(detail)
}

/// The governance extension object of a group document, if any.
pub fn extension(doc: &Value) -> Option<&Map<String, Value>> {
    doc.get(GOVERNANCE_GROUP_SCHEMA).and_then(Value::as_object)
}

/// Reads and checks the settings of a validated group document. Errors are `400
/// invalidValue` naming the attribute: `maxDurationDays` outside 1–3650, an approver without a
/// `value` or with a `type` other than `User`/`Group`.
pub fn settings(doc: &Value) -> Result<Settings, Error> {
    let Some(ext) = extension(doc) else {
        return Ok(Settings::default());
    };
    let at = |name: &str| format!("{GOVERNANCE_GROUP_SCHEMA}:{name}");
    let requires_approval = match ext.get("requiresApproval") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(invalid(format!(
                "{} must be a boolean",
                at("requiresApproval")
            )))
        }
    };
    let max_duration_days = match ext.get("maxDurationDays") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(d) if (1..=MAX_DURATION_DAYS).contains(&d) => Some(d),
            _ => {
                return Err(invalid(format!(
                    "{} must be a whole number of days from 1 to {MAX_DURATION_DAYS}",
                    at("maxDurationDays")
                )))
            }
        },
    };
    let mut approvers: Vec<MemberRef> = Vec::new();
    let items = match ext.get("approvers") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => return Err(invalid(format!("{} must be an array", at("approvers")))),
    };
    for (i, item) in items.iter().enumerate() {
        let value = item
            .get("value")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "{}[{i}].value is required: the id of a User or Group",
                    at("approvers")
                ))
            })?;
        let kind = match item.get("type") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) if t.eq_ignore_ascii_case("User") => Some(MemberKind::User),
            Some(Value::String(t)) if t.eq_ignore_ascii_case("Group") => Some(MemberKind::Group),
            Some(_) => {
                return Err(invalid(format!(
                    "{}[{i}].type must be \"User\" or \"Group\"",
                    at("approvers")
                )))
            }
        };
        if !approvers.iter().any(|a| a.value == value) {
            approvers.push(MemberRef {
                value: value.to_string(),
                kind,
            });
        }
    }
    Ok(Settings {
        requires_approval,
        approvers,
        max_duration_days,
    })
}

/// Writes resolved approvers (each with its `type`) back into the document, in canonical form.
pub fn set_approvers(doc: &mut Value, approvers: &[MemberRef]) {
    let Some(ext) = doc
        .get_mut(GOVERNANCE_GROUP_SCHEMA)
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if approvers.is_empty() {
        ext.remove("approvers");
        return;
    }
    let list = approvers
        .iter()
        .map(|a| match a.kind {
            Some(k) => json!({"value": a.value, "type": k.as_str()}),
            None => json!({"value": a.value}),
        })
        .collect();
    ext.insert("approvers".into(), Value::Array(list));
}

/// For a PUT: if the new document does not carry the governance extension, it keeps the stored
/// one (RFC 7644 §3.5.1 lets a service provider treat an omitted attribute as not asserted), so
/// that a client that does not know the extension (Entra ID, Okta) cannot switch approval off
/// by replacing the group.
pub fn keep_if_omitted(before: &Value, after: &mut Value) {
    if extension(after).is_some() {
        return;
    }
    let Some(kept) = before.get(GOVERNANCE_GROUP_SCHEMA).cloned() else {
        return;
    };
    let Some(obj) = after.as_object_mut() else {
        return;
    };
    obj.insert(GOVERNANCE_GROUP_SCHEMA.into(), kept);
    if let Some(Value::Array(schemas)) = obj.get_mut("schemas") {
        if !schemas.iter().any(|s| s == GOVERNANCE_GROUP_SCHEMA) {
            schemas.push(Value::from(GOVERNANCE_GROUP_SCHEMA));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(ext: Value) -> Value {
        json!({"displayName": "g", GOVERNANCE_GROUP_SCHEMA: ext})
    }

    #[test]
    fn reads_defaults_and_values() {
        assert_eq!(
            settings(&json!({"displayName": "g"})).unwrap(),
            Settings::default()
        );
        let s = settings(&doc(json!({
            "requiresApproval": true,
            "approvers": [{"value": "u1", "type": "user"}, {"value": "g1"}, {"value": "u1"}],
            "maxDurationDays": 30
        })))
        .unwrap();
        assert!(s.requires_approval);
        assert_eq!(s.max_duration_days, Some(30));
        assert_eq!(
            s.approvers,
            [
                MemberRef {
                    value: "u1".into(),
                    kind: Some(MemberKind::User)
                },
                MemberRef {
                    value: "g1".into(),
                    kind: None
                }
            ]
        );
        // `requiresApproval: false` alone is the same as no settings
        assert_eq!(
            settings(&doc(json!({"requiresApproval": false}))).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn refuses_bad_values_naming_the_attribute() {
        for (ext, name) in [
            (json!({"maxDurationDays": 0}), "maxDurationDays"),
            (json!({"maxDurationDays": 3651}), "maxDurationDays"),
            (json!({"maxDurationDays": 1.5}), "maxDurationDays"),
            (
                json!({"approvers": [{"type": "User"}]}),
                "approvers[0].value",
            ),
            (
                json!({"approvers": [{"value": "x", "type": "Robot"}]}),
                "approvers[0].type",
            ),
            (json!({"approvers": {"value": "x"}}), "approvers"),
        ] {
            let e = settings(&doc(ext)).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(
                e.detail
                    .contains(&format!("{GOVERNANCE_GROUP_SCHEMA}:{name}")),
                "{e}"
            );
        }
    }

    #[test]
    fn approvers_are_written_canonically_and_put_keeps_omitted_settings() {
        let mut d = doc(json!({"approvers": [{"value": "u1"}]}));
        set_approvers(
            &mut d,
            &[MemberRef {
                value: "u1".into(),
                kind: Some(MemberKind::User),
            }],
        );
        assert_eq!(
            d[GOVERNANCE_GROUP_SCHEMA]["approvers"],
            json!([{"value": "u1", "type": "User"}])
        );
        let before = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", GOVERNANCE_GROUP_SCHEMA],
            "displayName": "g",
            GOVERNANCE_GROUP_SCHEMA: {"requiresApproval": true}
        });
        let mut after = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "h"
        });
        keep_if_omitted(&before, &mut after);
        assert_eq!(after[GOVERNANCE_GROUP_SCHEMA]["requiresApproval"], true);
        assert_eq!(after["schemas"][1], GOVERNANCE_GROUP_SCHEMA);
        let mut changed = doc(json!({"requiresApproval": false}));
        keep_if_omitted(&before, &mut changed);
        assert_eq!(changed[GOVERNANCE_GROUP_SCHEMA]["requiresApproval"], false);
    }
}
