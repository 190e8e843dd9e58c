//! The filter-index form of a stored document.
//!
//! The store keeps, beside each document, a copy in which every string of a case-insensitive
//! attribute is lower-cased with [`normalize_case`](super::normalize_case) and every dateTime
//! is rewritten in one fixed-width UTC form ([`canonical_datetime`]). SQL filters compare
//! against this copy with values normalised the same way, so that SQLite and PostgreSQL agree
//! with each other and with the in-memory evaluator on Unicode case folding (neither backend's
//! `lower()` matches Rust's) and on instants written with different offsets.

use serde_json::{Map, Value};

use super::normalize_case;
use crate::meta::parse_datetime;
use crate::schema::{AttrType, AttributeDef, Registry, ResourceKind};

/// A dateTime in the fixed-width form used for ordering as text:
/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC). `None` if `s` is not an xsd:dateTime.
pub fn canonical_datetime(s: &str) -> Option<String> {
    parse_datetime(s).map(|t| t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string())
}

/// The filter-index form of a validated document of kind `kind` (see the module docs).
/// Attributes the registry does not know are copied unchanged.
pub fn index_doc(kind: ResourceKind, doc: &Value, registry: &Registry) -> Value {
    let Some(obj) = doc.as_object() else {
        return doc.clone();
    };
    let core = registry.schema(kind.core_schema());
    let common = registry.common_attributes();
    let mut out = Map::with_capacity(obj.len());
    for (key, value) in obj {
        let v = if let Some(ext) = registry.extension(kind, key) {
            match value.as_object() {
                Some(inner) => Value::Object(
                    inner
                        .iter()
                        .map(|(k, v)| {
                            let def = ext.attributes.iter().find(|a| a.name == *k);
                            (k.clone(), def.map_or_else(|| v.clone(), |d| attr(d, v)))
                        })
                        .collect(),
                ),
                None => value.clone(),
            }
        } else if let Some(def) = core
            .and_then(|c| c.attributes.iter().find(|a| a.name == *key))
            .or_else(|| common.iter().find(|a| a.name == *key))
        {
            attr(def, value)
        } else {
            value.clone()
        };
        out.insert(key.clone(), v);
    }
    Value::Object(out)
}

fn attr(def: &AttributeDef, value: &Value) -> Value {
    match value {
        Value::Array(items) if def.multi_valued => {
            Value::Array(items.iter().map(|v| single(def, v)).collect())
        }
        v => single(def, v),
    }
}

fn single(def: &AttributeDef, value: &Value) -> Value {
    match (def.ty, value) {
        (AttrType::Complex, Value::Object(obj)) => Value::Object(
            obj.iter()
                .map(|(k, v)| {
                    let sub = def.sub_attributes.iter().find(|s| s.name == *k);
                    (k.clone(), sub.map_or_else(|| v.clone(), |s| attr(s, v)))
                })
                .collect(),
        ),
        (AttrType::DateTime, Value::String(s)) => {
            Value::String(canonical_datetime(s).unwrap_or_else(|| s.clone()))
        }
        (AttrType::String | AttrType::Reference, Value::String(s)) if !def.case_exact => {
            Value::String(normalize_case(s))
        }
        (_, v) => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn folds_case_insensitive_strings_and_canonicalises_datetimes() {
        let reg = Registry::builtin();
        let doc = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "externalId": "AbC",
            "userName": "ÉLODIE",
            "name": {"familyName": "ΣΑΣ"},
            "emails": [{"value": "A@B.COM", "type": "Work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
            "active": true
        });
        let idx = index_doc(ResourceKind::User, &doc, reg);
        assert_eq!(idx["userName"], "élodie");
        assert_eq!(idx["externalId"], "AbC", "externalId is caseExact");
        assert_eq!(idx["name"]["familyName"], "σασ", "final sigma folded");
        assert_eq!(idx["emails"][0]["value"], "a@b.com");
        assert_eq!(idx["emails"][0]["primary"], true);
        assert_eq!(
            idx["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            "r&d"
        );
        assert_eq!(
            canonical_datetime("2011-05-13T06:42:34+02:00").as_deref(),
            Some("2011-05-13T04:42:34.000000000Z")
        );
    }
}
