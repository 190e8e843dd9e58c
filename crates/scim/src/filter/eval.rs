//! In-memory filter evaluation: the reference semantics for the SQL compiler.
//!
//! - Attribute names and schema URNs match case-insensitively; string values compare
//!   case-insensitively unless the attribute is `caseExact`.
//! - Multi-valued attributes match if *any* value matches. A multi-valued complex
//!   attribute without a sub-attribute (`emails co "x"`) compares its `value` sub-attribute.
//! - `ne` is the negation of `eq`: it also matches resources where the attribute is absent.
//! - `eq null` matches an absent attribute and `ne null` a present one.
//! - `pr` means present and not null, `""`, `[]` or `{}`.
//! - `gt`/`ge`/`lt`/`le` order strings (case-folded unless caseExact), numbers, and
//!   dateTimes as instants; booleans and mismatched types never match.
//! - A path the registry cannot resolve matches nothing (the resolver rejects such filters
//!   with `invalidFilter` before they reach a database).

use std::cmp::Ordering;

use serde_json::Value;

use super::ast::{CompValue, CompareOp, Filter};
use crate::meta::parse_datetime;
use crate::path::AttrPath;
use crate::resource::normalize_case;
use crate::schema::{AttrType, AttributeDef, Registry, ResourceKind};

/// Whether `resource` (a SCIM JSON document of kind `kind`) matches `filter`.
pub fn eval(filter: &Filter, resource: &Value, kind: ResourceKind, registry: &Registry) -> bool {
    Evaluator { kind, registry }.eval(filter, Ctx::Resource(resource))
}

struct Evaluator<'r> {
    kind: ResourceKind,
    registry: &'r Registry,
}

/// What paths are relative to: the resource, or one value of a multi-valued attribute.
#[derive(Clone, Copy)]
enum Ctx<'a, 'r> {
    Resource(&'a Value),
    Element {
        parent: &'r AttributeDef,
        value: &'a Value,
    },
}

/// Case-insensitive object member lookup (exact match first).
fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Values of `v` under a definition: array elements if multi-valued, else `v` itself.
fn spread<'a>(v: Option<&'a Value>, def: &AttributeDef, out: &mut Vec<&'a Value>) {
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if def.multi_valued => {
            out.extend(items.iter().filter(|i| !i.is_null()))
        }
        Some(v) => out.push(v),
    }
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        _ => true,
    }
}

impl<'r> Evaluator<'r> {
    fn eval(&self, f: &Filter, ctx: Ctx<'_, 'r>) -> bool {
        match f {
            Filter::And(a, b) => self.eval(a, ctx) && self.eval(b, ctx),
            Filter::Or(a, b) => self.eval(a, ctx) || self.eval(b, ctx),
            Filter::Not(a) => !self.eval(a, ctx),
            Filter::Present(path) => self
                .lookup(path, ctx, false)
                .is_some_and(|(_, values)| values.into_iter().any(is_present)),
            Filter::Compare { path, op, value } => {
                let Some((leaf, values)) = self.lookup(path, ctx, true) else {
                    return false;
                };
                match (op, value) {
                    (CompareOp::Eq, CompValue::Null) => !values.into_iter().any(is_present),
                    (CompareOp::Ne, CompValue::Null) => values.into_iter().any(is_present),
                    (_, CompValue::Null) => false,
                    (CompareOp::Ne, v) => !values
                        .into_iter()
                        .any(|a| compare(leaf, a, CompareOp::Eq, v)),
                    (op, v) => values.into_iter().any(|a| compare(leaf, a, *op, v)),
                }
            }
            Filter::ValuePath { path, filter } => {
                let Ctx::Resource(_) = ctx else {
                    return false; // the parser never nests value filters
                };
                let Some((def, elements)) = self.lookup(path, ctx, false) else {
                    return false;
                };
                elements
                    .into_iter()
                    .any(|value| self.eval(filter, Ctx::Element { parent: def, value }))
            }
        }
    }

    /// Resolves `path` in `ctx`: the definition compared against and the candidate values.
    /// With `implicit_value`, a multi-valued complex attribute stands for its `value`s.
    fn lookup<'a>(
        &self,
        path: &AttrPath,
        ctx: Ctx<'a, 'r>,
        implicit_value: bool,
    ) -> Option<(&'r AttributeDef, Vec<&'a Value>)> {
        let (attr, sub, container) = match ctx {
            Ctx::Resource(resource) => {
                let r = self.registry.find_attr(self.kind, path)?;
                // an absent extension object means its attributes are absent (so `ne` matches)
                let container = if r.is_extension() {
                    get_ci(resource, r.schema).and_then(|h| get_ci(h, &r.attr.name))
                } else {
                    get_ci(resource, &r.attr.name)
                };
                (r.attr, r.sub, container)
            }
            Ctx::Element { parent, value } => {
                if path.uri.is_some() {
                    return None;
                }
                if !parent.is_complex() {
                    // `tags[value eq "x"]` over a simple multi-valued attribute.
                    let ok = path.attr.eq_ignore_ascii_case("value") && path.sub.is_none();
                    return ok.then(|| (parent, vec![value]));
                }
                let attr = parent.sub_attr(&path.attr)?;
                let sub = match &path.sub {
                    Some(s) => Some(attr.sub_attr(s)?),
                    None => None,
                };
                (attr, sub, get_ci(value, &attr.name))
            }
        };
        let mut top = Vec::new();
        spread(container, attr, &mut top);
        if let Some(sub) = sub {
            let mut out = Vec::new();
            for el in top {
                spread(get_ci(el, &sub.name), sub, &mut out);
            }
            return Some((sub, out));
        }
        if implicit_value && attr.is_complex() && attr.multi_valued {
            if let Some(value_def) = attr.sub_attr("value") {
                let out = top
                    .into_iter()
                    .filter_map(|el| get_ci(el, "value"))
                    .collect();
                return Some((value_def, out));
            }
        }
        Some((attr, top))
    }
}

fn ordering_matches(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Compares one attribute value with a filter literal, per the attribute's type.
fn compare(def: &AttributeDef, actual: &Value, op: CompareOp, expected: &CompValue) -> bool {
    match (def.ty, actual, expected) {
        (AttrType::Boolean, Value::Bool(a), CompValue::Bool(e)) => match op {
            CompareOp::Eq => a == e,
            CompareOp::Ne => a != e,
            _ => false,
        },
        (AttrType::Integer | AttrType::Decimal, Value::Number(a), CompValue::Number(e)) => {
            let ord = match (a.as_i64(), e.as_i64()) {
                (Some(a), Some(e)) => Some(a.cmp(&e)),
                _ => a
                    .as_f64()
                    .zip(e.as_f64())
                    .and_then(|(a, e)| a.partial_cmp(&e)),
            };
            ord.is_some_and(|o| ordering_matches(op, o))
        }
        (AttrType::DateTime, Value::String(a), CompValue::Str(e)) => {
            match (parse_datetime(a), parse_datetime(e)) {
                (Some(a), Some(e)) => ordering_matches(op, a.cmp(&e)),
                _ => false,
            }
        }
        (
            AttrType::String | AttrType::Reference | AttrType::Binary,
            Value::String(a),
            CompValue::Str(e),
        ) => {
            let (a, e) = if def.case_exact {
                (a.clone(), e.clone())
            } else {
                (normalize_case(a), normalize_case(e))
            };
            match op {
                CompareOp::Co => a.contains(&e),
                CompareOp::Sw => a.starts_with(&e),
                CompareOp::Ew => a.ends_with(&e),
                _ => ordering_matches(op, a.cmp(&e)),
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::parse;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "id": "2819c223",
            "userName": "BJensen@Example.com",
            "name": {"familyName": "O'Malley", "givenName": "Barbara"},
            "title": "",
            "userType": "Employee",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "ims": [{"value": "someaimhandle", "type": "aim"}],
            "meta": {"lastModified": "2011-05-13T04:42:34Z", "created": "2010-01-23T04:56:22Z", "resourceType": "User"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
            }
        })
    }

    fn m(filter: &str) -> bool {
        eval(
            &parse(filter).unwrap(),
            &user(),
            ResourceKind::User,
            Registry::builtin(),
        )
    }

    #[test]
    fn strings_fold_case_unless_case_exact() {
        assert!(m(r#"userName eq "bjensen@example.com""#));
        assert!(m(r#"USERNAME sw "bj""#));
        assert!(m(r#"name.familyName co "o'mal""#));
        assert!(m(r#"userName ew ".COM""#));
        assert!(!m(r#"id eq "2819C223""#));
        assert!(m(r#"id eq "2819c223""#));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B""#
        ));
        assert!(m(r#"userName gt "a" and userName lt "c""#));
    }

    #[test]
    fn presence() {
        assert!(!m("title pr"));
        assert!(m("name pr"));
        assert!(m("emails pr"));
        assert!(!m("nickName pr"));
        assert!(m("not (nickName pr)"));
        assert!(m(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr"
        ));
    }

    #[test]
    fn multi_valued_any_semantics() {
        assert!(m(r#"emails co "jensen.org""#));
        assert!(m(r#"emails.value co "example.com""#));
        assert!(m(r#"emails.type eq "home""#));
        assert!(m(r#"emails[type eq "work" and value co "@example.com"]"#));
        assert!(!m(r#"emails[type eq "home" and value co "@example.com"]"#));
        assert!(m(
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#
        ));
        assert!(m(r#"emails[not (type eq "home")]"#));
        assert!(m(r#"emails[primary eq true]"#));
    }

    #[test]
    fn ne_is_not_eq() {
        assert!(!m(r#"userType ne "employee""#));
        assert!(m(r#"nickName ne "x""#));
        assert!(!m(r#"emails.type ne "home""#));
        assert!(m("nickName eq null"));
        assert!(m("userName ne null"));
    }

    #[test]
    fn typed_comparisons() {
        assert!(m("active eq true"));
        assert!(!m("active eq false"));
        assert!(!m("active gt false"));
        assert!(!m(r#"active eq "true""#));
        assert!(m(
            r#"meta.lastModified gt "2011-05-13T04:42:34.000+00:00" or meta.lastModified ge "2011-05-13T06:42:34+02:00""#
        ));
        assert!(m(r#"meta.lastModified lt "2011-05-13T04:42:35Z""#));
        assert!(!m(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#));
        assert!(!m(r#"meta.lastModified gt "not a date""#));
        assert!(m(r#"employeeNumber eq "701984""#));
        assert!(!m("employeeNumber eq 701984"));
        assert!(!m(r#"unknownAttr eq "x""#));
        assert!(m(r#"not (unknownAttr eq "x")"#));
    }

    #[test]
    fn groups_and_members() {
        let g = json!({"displayName": "Admins", "members": [{"value": "u1", "type": "User"}, {"value": "g2", "type": "Group"}]});
        let r = Registry::builtin();
        let e = |f: &str| eval(&parse(f).unwrap(), &g, ResourceKind::Group, r);
        assert!(e(r#"displayName eq "admins""#));
        assert!(e(r#"members[value eq "u1"]"#));
        assert!(!e(r#"members[value eq "U1"]"#));
        assert!(e(r#"members.type eq "group""#));
        assert!(e(r#"members eq "g2""#));
        assert!(!e("userName pr"));
    }
}
