//! Hot attributes of stored documents, for indexed columns and membership rows.

use serde_json::Value;

use super::get_ci;
use crate::error::Error;
use crate::schema::ENTERPRISE_USER_SCHEMA;

/// The User attributes the store projects into columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserProjection {
    /// `userName` (empty if absent; [`validate`](super::validate) guarantees it is set).
    pub user_name: String,
    /// `externalId`
    pub external_id: Option<String>,
    /// `displayName`
    pub display_name: Option<String>,
    /// `active`, `true` when absent.
    pub active: bool,
    /// `name.givenName`
    pub given_name: Option<String>,
    /// `name.familyName`
    pub family_name: Option<String>,
    /// The primary email's `value`, else the first email's.
    pub email: Option<String>,
    /// Enterprise `employeeNumber`
    pub employee_number: Option<String>,
    /// Enterprise `department`
    pub department: Option<String>,
    /// Enterprise `manager.value`
    pub manager_id: Option<String>,
}

/// The Group attributes the store projects into columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupProjection {
    /// `displayName` (empty if absent).
    pub display_name: String,
    /// `externalId`
    pub external_id: Option<String>,
}

/// The type of a group member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    /// A User.
    User,
    /// A (nested) Group.
    Group,
}

impl MemberKind {
    /// `"User"` or `"Group"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            MemberKind::User => "User",
            MemberKind::Group => "Group",
        }
    }
}

/// One entry of a Group's `members`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberRef {
    /// The member's `id`.
    pub value: String,
    /// The member's type, when the client said.
    pub kind: Option<MemberKind>,
}

fn str_at(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

/// Projects a (validated) User document.
pub fn user_projection(doc: &Value) -> UserProjection {
    let name = get_ci(doc, "name");
    let ext = get_ci(doc, ENTERPRISE_USER_SCHEMA);
    let emails = get_ci(doc, "emails").and_then(Value::as_array);
    let email = emails.and_then(|list| {
        let primary = list
            .iter()
            .find(|e| get_ci(e, "primary").and_then(Value::as_bool) == Some(true));
        primary
            .and_then(|e| str_at(get_ci(e, "value")))
            .or_else(|| list.iter().find_map(|e| str_at(get_ci(e, "value"))))
    });
    UserProjection {
        user_name: str_at(get_ci(doc, "userName")).unwrap_or_default(),
        external_id: str_at(get_ci(doc, "externalId")),
        display_name: str_at(get_ci(doc, "displayName")),
        active: get_ci(doc, "active")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        given_name: str_at(name.and_then(|n| get_ci(n, "givenName"))),
        family_name: str_at(name.and_then(|n| get_ci(n, "familyName"))),
        email,
        employee_number: str_at(ext.and_then(|e| get_ci(e, "employeeNumber"))),
        department: str_at(ext.and_then(|e| get_ci(e, "department"))),
        manager_id: str_at(
            ext.and_then(|e| get_ci(e, "manager"))
                .and_then(|m| get_ci(m, "value")),
        ),
    }
}

/// Projects a (validated) Group document.
pub fn group_projection(doc: &Value) -> GroupProjection {
    GroupProjection {
        display_name: str_at(get_ci(doc, "displayName")).unwrap_or_default(),
        external_id: str_at(get_ci(doc, "externalId")),
    }
}

/// The `members` of a Group document, deduplicated by `value` (first occurrence wins; a
/// later occurrence only fills in a missing `type`). Absent or `null` members give `[]`.
pub fn group_members(doc: &Value) -> Result<Vec<MemberRef>, Error> {
    let items = match get_ci(doc, "members") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Error::invalid_value("attribute 'members' must be an array")),
    };
    let mut out: Vec<MemberRef> = Vec::with_capacity(items.len());
    for item in items.iter().filter(|i| !i.is_null()) {
        if !item.is_object() {
            return Err(Error::invalid_value(
                "each entry of 'members' must be an object with a 'value'",
            ));
        }
        let value = match get_ci(item, "value") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => {
                return Err(Error::invalid_value(
                    "attribute 'members.value' is required and must be a non-empty string",
                ))
            }
        };
        let kind = match get_ci(item, "type") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) if t.eq_ignore_ascii_case("user") => Some(MemberKind::User),
            Some(Value::String(t)) if t.eq_ignore_ascii_case("group") => Some(MemberKind::Group),
            Some(other) => {
                return Err(Error::invalid_value(format!(
                    "attribute 'members.type' must be \"User\" or \"Group\", got {other}"
                )))
            }
        };
        match out.iter_mut().find(|m| m.value == value) {
            Some(existing) => {
                if existing.kind.is_none() {
                    existing.kind = kind;
                }
            }
            None => out.push(MemberRef { value, kind }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_projection_picks_hot_attributes() {
        let doc = json!({
            "userName": "bjensen", "externalId": "701984", "displayName": "Babs",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "home@x.org"}, {"value": "work@x.com", "primary": true}],
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "42", "department": "Tour", "manager": {"value": "m1"}}
        });
        let p = user_projection(&doc);
        assert_eq!(p.user_name, "bjensen");
        assert!(p.active);
        assert_eq!(p.email.as_deref(), Some("work@x.com"));
        assert_eq!(
            (p.given_name.as_deref(), p.family_name.as_deref()),
            (Some("Barbara"), Some("Jensen"))
        );
        assert_eq!(
            (
                p.employee_number.as_deref(),
                p.department.as_deref(),
                p.manager_id.as_deref()
            ),
            (Some("42"), Some("Tour"), Some("m1"))
        );
        let p = user_projection(
            &json!({"userName": "x", "active": false, "emails": [{"value": "a@b"}]}),
        );
        assert!(!p.active);
        assert_eq!(p.email.as_deref(), Some("a@b"));
        assert_eq!(p.manager_id, None);
    }

    #[test]
    fn group_projection_and_members() {
        let doc = json!({"displayName": "Admins", "externalId": "e", "members": [
            {"value": "u1"}, {"value": "g1", "type": "group"}, {"value": "u1", "type": "User"}, null
        ]});
        assert_eq!(
            group_projection(&doc),
            GroupProjection {
                display_name: "Admins".into(),
                external_id: Some("e".into())
            }
        );
        assert_eq!(
            group_members(&doc).unwrap(),
            vec![
                MemberRef {
                    value: "u1".into(),
                    kind: Some(MemberKind::User)
                },
                MemberRef {
                    value: "g1".into(),
                    kind: Some(MemberKind::Group)
                }
            ]
        );
        assert!(group_members(&json!({})).unwrap().is_empty());
        assert!(group_members(&json!({"members": [{"display": "x"}]})).is_err());
        assert!(group_members(&json!({"members": [{"value": "u", "type": "Robot"}]})).is_err());
        assert!(group_members(&json!({"members": {"value": "u"}})).is_err());
    }
}
