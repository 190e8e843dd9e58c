//! Attribute mapping: the document a target should hold for a Roster user.
//!
//! Without a mapping the remote gets the core User and Enterprise User attributes as they are
//! (other extensions, `id`, `meta`, `groups` and passwords never leave). The manager reference
//! is rewritten to the manager's remote id on that target, or dropped while the manager has none.
//! With a mapping the remote gets exactly the mapped attributes.

use serde_json::{Map, Value};

use scim::path::AttrPath;
use scim::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

use crate::spec::{Mapping, Transform};

/// Checks a mapping list; the message names the entry.
pub fn validate(mapping: &[Mapping]) -> Result<(), String> {
    let mut has_user_name = false;
    for (i, m) in mapping.iter().enumerate() {
        let at = |what: &str| format!("mapping[{i}]: {what}");
        let target = AttrPath::parse(&m.target).map_err(|e| at(&e.detail))?;
        if target.uri.is_none() && target.attr.eq_ignore_ascii_case("userName") {
            has_user_name = true;
        }
        if ["id", "meta", "schemas", "groups", "password"]
            .iter()
            .any(|a| target.uri.is_none() && target.attr.eq_ignore_ascii_case(a))
        {
            return Err(at(&format!("'{}' cannot be a mapping target", m.target)));
        }
        let kinds = [
            m.source.is_some(),
            m.constant.is_some(),
            m.template.is_some(),
        ]
        .iter()
        .filter(|k| **k)
        .count();
        if kinds != 1 {
            return Err(at("give exactly one of source, constant or template"));
        }
        if let Some(s) = &m.source {
            AttrPath::parse(s).map_err(|e| at(&e.detail))?;
        }
        if let Some(t) = &m.template {
            for p in placeholders(t).map_err(|e| at(&e))? {
                AttrPath::parse(p).map_err(|e| at(&e.detail))?;
            }
        }
    }
    if !has_user_name {
        return Err("mapping: userName must be mapped (the remote requires it)".into());
    }
    Ok(())
}

/// The `{path}` placeholders of a template.
fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "template: '{' without '}'".to_string())?;
        out.push(after[..close].trim());
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err("template: '}' without '{'".into());
    }
    Ok(out)
}

/// Case-insensitive member of a JSON object.
fn member<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The value at `path` in a stored user document.
pub fn get_path<'a>(doc: &'a Value, path: &AttrPath) -> Option<&'a Value> {
    let base = match &path.uri {
        Some(uri) if !uri.eq_ignore_ascii_case(USER_SCHEMA) => member(doc, uri)?,
        _ => doc,
    };
    let v = member(base, &path.attr)?;
    match &path.sub {
        None => Some(v),
        Some(sub) => match v {
            // a sub-attribute of a multi-valued attribute: the primary value, else the first
            Value::Array(items) => {
                let pick = items
                    .iter()
                    .find(|i| member(i, "primary") == Some(&Value::Bool(true)))
                    .or_else(|| items.first())?;
                member(pick, sub)
            }
            _ => member(v, sub),
        },
    }
}

/// Sets `path` in `doc` to `value`, creating the objects on the way.
fn set_path(doc: &mut Map<String, Value>, path: &AttrPath, value: Value) {
    let base = match &path.uri {
        Some(uri) if !uri.eq_ignore_ascii_case(USER_SCHEMA) => {
            let entry = doc
                .entry(uri.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            match entry.as_object_mut() {
                Some(o) => o,
                None => return,
            }
        }
        _ => doc,
    };
    match &path.sub {
        None => {
            base.insert(path.attr.clone(), value);
        }
        Some(sub) => {
            let entry = base
                .entry(path.attr.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(o) = entry.as_object_mut() {
                o.insert(sub.clone(), value);
            }
        }
    }
}

fn transform(v: Value, t: Option<Transform>) -> Value {
    match (t, v) {
        (Some(Transform::Lower), Value::String(s)) => Value::String(s.to_lowercase()),
        (Some(Transform::Upper), Value::String(s)) => Value::String(s.to_uppercase()),
        (_, v) => v,
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Renders a template; `None` if a placeholder has no value.
fn render(template: &str, doc: &Value) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let path = AttrPath::parse(after[..close].trim()).ok()?;
        out.push_str(&scalar_text(get_path(doc, &path)?)?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The remote document for a user (without `active`, which the engine sets).
/// `manager_remote` is the manager's id on the target, if the manager is pushed there.
pub fn user_document(
    mapping: Option<&[Mapping]>,
    doc: &Value,
    manager_remote: Option<&str>,
) -> Value {
    let mut out = Map::new();
    match mapping {
        None => {
            if let Some(obj) = doc.as_object() {
                for (k, v) in obj {
                    let lower = k.to_ascii_lowercase();
                    if matches!(
                        lower.as_str(),
                        "schemas" | "id" | "meta" | "groups" | "password" | "active"
                    ) || (k.contains(':') && !k.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA))
                    {
                        continue;
                    }
                    out.insert(k.clone(), v.clone());
                }
            }
            let ent_key = out
                .keys()
                .find(|k| k.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA))
                .cloned();
            if let Some(key) = ent_key {
                if let Some(ent) = out.get_mut(&key).and_then(Value::as_object_mut) {
                    let mgr_key = ent
                        .keys()
                        .find(|k| k.eq_ignore_ascii_case("manager"))
                        .cloned();
                    if let Some(mk) = mgr_key {
                        match manager_remote {
                            Some(r) => {
                                let mut m = Map::new();
                                m.insert("value".into(), Value::String(r.to_string()));
                                ent.insert(mk, Value::Object(m));
                            }
                            None => {
                                ent.remove(&mk);
                            }
                        }
                    }
                }
            }
        }
        Some(list) => {
            for m in list {
                let Ok(target) = AttrPath::parse(&m.target) else {
                    continue;
                };
                let value = if let Some(c) = &m.constant {
                    Some(c.clone())
                } else if let Some(t) = &m.template {
                    render(t, doc).map(Value::String)
                } else if let Some(s) = &m.source {
                    AttrPath::parse(s)
                        .ok()
                        .and_then(|p| get_path(doc, &p).cloned())
                } else {
                    None
                };
                if let Some(v) = value.filter(|v| !v.is_null()) {
                    set_path(&mut out, &target, transform(v, m.transform));
                }
            }
        }
    }
    let mut schemas = vec![Value::String(USER_SCHEMA.into())];
    if out
        .keys()
        .any(|k| k.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA))
    {
        schemas.push(Value::String(ENTERPRISE_USER_SCHEMA.into()));
    }
    let mut full = Map::new();
    full.insert("schemas".into(), Value::Array(schemas));
    full.extend(out);
    Value::Object(full)
}

/// The `userName` of a user document.
pub fn user_name(doc: &Value) -> Option<&str> {
    member(doc, "userName").and_then(Value::as_str)
}

/// The `externalId` of a document.
pub fn external_id(doc: &Value) -> Option<&str> {
    member(doc, "externalId").and_then(Value::as_str)
}

/// The enterprise manager's Roster id in a stored user document.
pub fn manager_id(doc: &Value) -> Option<&str> {
    member(doc, ENTERPRISE_USER_SCHEMA)
        .and_then(|e| member(e, "manager"))
        .and_then(|m| member(m, "value"))
        .and_then(Value::as_str)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, "urn:roster:x"],
            "userName": "Ada.Lovelace",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "a@x.example", "type": "home"}, {"value": "ada@corp.example", "primary": true}],
            "active": true,
            "urn:roster:x": {"secret": 1},
            ENTERPRISE_USER_SCHEMA: {"department": "R&D", "manager": {"value": "m-1", "$ref": "../Users/m-1"}}
        })
    }

    #[test]
    fn default_copies_core_and_enterprise_and_maps_the_manager() {
        let d = user_document(None, &user(), Some("remote-m"));
        assert_eq!(d["userName"], "Ada.Lovelace");
        assert!(d.get("urn:roster:x").is_none());
        assert!(d.get("active").is_none());
        assert_eq!(
            d[ENTERPRISE_USER_SCHEMA]["manager"],
            json!({"value": "remote-m"})
        );
        assert_eq!(d["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]));
        let d = user_document(None, &user(), None);
        assert!(d[ENTERPRISE_USER_SCHEMA].get("manager").is_none());
        assert_eq!(d[ENTERPRISE_USER_SCHEMA]["department"], "R&D");
    }

    #[test]
    fn explicit_mapping_copies_transforms_templates_and_constants() {
        let mapping: Vec<Mapping> = serde_json::from_value(json!([
            {"target": "userName", "template": "{name.givenName}.{name.familyName}@corp.example", "transform": "lower"},
            {"target": "displayName", "source": "name.familyName", "transform": "upper"},
            {"target": "title", "constant": "Employee"},
            {"target": "emails", "source": "emails"},
            {"target": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "source": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
            {"target": "nickName", "source": "nickName"}
        ]))
        .unwrap();
        validate(&mapping).unwrap();
        let d = user_document(Some(&mapping), &user(), None);
        assert_eq!(d["userName"], "ada.lovelace@corp.example");
        assert_eq!(d["displayName"], "LOVELACE");
        assert_eq!(d["title"], "Employee");
        assert_eq!(d["emails"].as_array().unwrap().len(), 2);
        assert_eq!(d[ENTERPRISE_USER_SCHEMA]["costCenter"], "R&D");
        assert!(d.get("nickName").is_none());
        assert!(d.get("name").is_none());
    }

    #[test]
    fn multi_valued_sub_attribute_reads_the_primary_value() {
        let p = AttrPath::parse("emails.value").unwrap();
        assert_eq!(get_path(&user(), &p).unwrap(), "ada@corp.example");
    }

    #[test]
    fn validation_names_the_entry() {
        let bad: Vec<Mapping> =
            serde_json::from_value(json!([{"target": "userName", "source": "a", "constant": 1}]))
                .unwrap();
        assert!(validate(&bad).unwrap_err().starts_with("mapping[0]"));
        let no_user: Vec<Mapping> =
            serde_json::from_value(json!([{"target": "title", "constant": "x"}])).unwrap();
        assert!(validate(&no_user).unwrap_err().contains("userName"));
        let bad_tpl: Vec<Mapping> =
            serde_json::from_value(json!([{"target": "userName", "template": "{name.givenName"}]))
                .unwrap();
        assert!(validate(&bad_tpl).is_err());
    }
}
