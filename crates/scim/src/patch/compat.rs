//! Named client quirks accepted by PATCH. Each is lenient input handling that RFC 7644
//! does not require; none changes the meaning of a conforming request.

use serde_json::{Map, Value};

use super::OpKind;
use crate::filter::{CompValue, CompareOp, Filter};
use crate::resource::normalize_case;
use crate::schema::{AttrType, AttributeDef};

/// `op` names match case-insensitively. Microsoft Entra ID sends `"Add"`, `"Replace"` and
/// `"Remove"` (capitalised), as shown in its SCIM provisioning documentation.
pub(super) fn op_kind(name: &str) -> Option<OpKind> {
    [
        ("add", OpKind::Add),
        ("remove", OpKind::Remove),
        ("replace", OpKind::Replace),
    ]
    .into_iter()
    .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
    .map(|(_, k)| k)
}

/// Booleans sent as the strings `"True"`/`"False"`: Entra ID does this unless the
/// `aadOptscim062020` flag is set (Microsoft's "known issues" page for SCIM 2.0
/// compliance). [`resource::validate`](crate::resource::validate) converts them too; we
/// convert early so that de-duplication, `primary` handling and value filters see booleans.
pub(super) fn bool_string(s: String) -> Value {
    if s.eq_ignore_ascii_case("true") {
        Value::Bool(true)
    } else if s.eq_ignore_ascii_case("false") {
        Value::Bool(false)
    } else {
        Value::String(s)
    }
}

/// A path operation on a simple single-valued attribute whose `value` is an object holding
/// just that attribute, `{"op":"replace","path":"active","value":{"active":false}}`: the
/// no-path shape sent with a path by some hand-written clients. An object is never a valid
/// value of a simple attribute, so unwrapping cannot change the meaning of a valid request.
pub(super) fn unwrap_single_value(leaf: &AttributeDef, value: Value) -> Value {
    if leaf.is_complex() || leaf.multi_valued {
        return value;
    }
    match value {
        Value::Object(mut obj) if obj.len() == 1 => {
            let key = obj.keys().next().cloned().unwrap_or_default();
            if key.eq_ignore_ascii_case(&leaf.name) || key.eq_ignore_ascii_case("value") {
                obj.remove(&key).unwrap_or(Value::Null)
            } else {
                Value::Object(obj)
            }
        }
        other => other,
    }
}

/// A complex single-valued attribute with a `value` sub-attribute given as a bare string:
/// Entra ID sends the enterprise `manager` as
/// `{"op":"Add","path":"urn:...:enterprise:2.0:User:manager","value":"<manager id>"}`.
/// A string is never a valid complex value, so wrapping it as `{"value": …}` is safe.
pub(super) fn wrap_complex_value(leaf: &AttributeDef, value: Value) -> Value {
    match value {
        Value::String(s)
            if leaf.is_complex() && !leaf.multi_valued && leaf.sub_attr("value").is_some() =>
        {
            let mut obj = Map::new();
            obj.insert("value".into(), Value::String(s));
            Value::Object(obj)
        }
        other => other,
    }
}

/// `add` with a value filter that matches nothing creates the value the filter describes:
/// Entra ID sends `{"op":"Add","path":"emails[type eq \"work\"].value","value":"x@y"}` for
/// a user that has no work email yet. Only filters made of `eq` comparisons joined by `and`
/// describe a value; anything else gives `None` (and the caller answers `noTarget`).
pub(super) fn element_from_filter(
    filter: &Filter,
    attr: &AttributeDef,
) -> Option<Map<String, Value>> {
    fn collect(f: &Filter, attr: &AttributeDef, out: &mut Map<String, Value>) -> Option<()> {
        match f {
            Filter::And(a, b) => {
                collect(a, attr, out)?;
                collect(b, attr, out)
            }
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.uri.is_none() && path.sub.is_none() => {
                let sub = attr.sub_attr(&path.attr)?;
                let v = match value {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => return None,
                };
                if sub.ty == AttrType::Complex || sub.multi_valued {
                    return None;
                }
                out.insert(sub.name.clone(), v);
                Some(())
            }
            _ => None,
        }
    }
    if !attr.is_complex() {
        return None;
    }
    let mut out = Map::new();
    collect(filter, attr, &mut out)?;
    Some(out)
}

/// `remove` of a multi-valued attribute with a `value` removes the listed values rather
/// than all of them: Entra ID and Okta send
/// `{"op":"Remove","path":"members","value":[{"value":"<id>"}]}` (Entra's SCIM docs; Okta's
/// group push). An item matches an existing value when every sub-attribute it names is
/// equal (names case-insensitive; strings case-insensitive unless `caseExact`).
pub(super) fn matches_listed(attr: &AttributeDef, listed: &[Value], existing: &Value) -> bool {
    listed.iter().any(|item| match (item, existing) {
        (Value::Object(want), Value::Object(have)) if attr.is_complex() => {
            !want.is_empty()
                && want.iter().all(|(k, v)| {
                    let sub = attr.sub_attr(k);
                    let have_v = have
                        .iter()
                        .find(|(hk, _)| hk.eq_ignore_ascii_case(k))
                        .map(|(_, hv)| hv);
                    match (sub, have_v) {
                        (Some(sub), Some(h)) => same_value(sub, v, h),
                        _ => false,
                    }
                })
        }
        (want, have) => same_value(attr, want, have),
    })
}

fn same_value(def: &AttributeDef, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) if def.is_case_insensitive_string() => {
            normalize_case(x) == normalize_case(y)
        }
        (Value::String(s), Value::Bool(y)) if def.ty == AttrType::Boolean => {
            bool_string(s.clone()) == Value::Bool(*y)
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn op_names_any_case() {
        assert_eq!(op_kind("Replace"), Some(OpKind::Replace));
        assert_eq!(op_kind("ADD"), Some(OpKind::Add));
        assert_eq!(op_kind("remove"), Some(OpKind::Remove));
        assert_eq!(op_kind("move"), None);
    }

    #[test]
    fn unwrap_only_simple_single() {
        let active = AttributeDef::new("active", AttrType::Boolean);
        assert_eq!(
            unwrap_single_value(&active, json!({"Active": false})),
            json!(false)
        );
        assert_eq!(
            unwrap_single_value(&active, json!({"value": false})),
            json!(false)
        );
        assert_eq!(
            unwrap_single_value(&active, json!({"other": false})),
            json!({"other": false})
        );
        let name = AttributeDef::new("name", AttrType::Complex);
        assert_eq!(
            unwrap_single_value(&name, json!({"name": 1})),
            json!({"name": 1})
        );
    }
}
