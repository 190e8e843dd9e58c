//! Validation and normalisation of a client's resource document (create and replace).

use serde_json::{Map, Value};

use crate::error::Error;
use crate::meta::parse_datetime;
use crate::path::AttrPath;
use crate::schema::{AttrType, AttributeDef, Mutability, Registry, ResourceKind, SchemaDef};

/// Validates a client's User or Group body and returns the normalised document to store.
///
/// - `schemas` must list the core schema; every URN must be the core schema or one of the
///   kind's extensions. An extension object whose URN is missing from `schemas` is accepted
///   and its URN added. URNs come out in canonical case, core first.
/// - Attribute names (and sub-attribute names, and those inside extension objects) match
///   case-insensitively and come out in canonical case. Unknown names are `invalidSyntax`.
/// - readOnly attributes (`id`, `meta`, `groups`, ...) are dropped (RFC 7643 §2.2);
///   `null` and `[]` values are dropped (unassigned).
/// - Values are type-checked; boolean strings `"True"`/`"false"` (Entra) become booleans.
/// - At most one `primary: true` per multi-valued attribute; `userName` (User) and
///   `displayName` (Group) are required non-blank strings. `password` (writeOnly) is kept
///   as given: the caller must take it out with [`take_password`](super::take_password) and
///   store only a hash.
/// - A flattened extension key such as `"urn:...:enterprise:2.0:User:employeeNumber"` is
///   moved into its extension object.
pub fn validate(kind: ResourceKind, body: Value, registry: &Registry) -> Result<Value, Error> {
    let Value::Object(body) = body else {
        return Err(Error::invalid_syntax("request body must be a JSON object"));
    };
    let core = registry.schema(kind.core_schema()).ok_or_else(|| {
        Error::new(
            500,
            None,
            format!("schema {} is not registered", kind.core_schema()),
        )
    })?;

    let mut schemas = None;
    let mut external_id = None;
    let mut attrs = Map::new();
    let mut extensions: Vec<(&SchemaDef, Map<String, Value>)> = Vec::new();

    for (key, value) in body {
        if key.eq_ignore_ascii_case("schemas") {
            schemas = Some(value);
        } else if let Some(ext) = registry.extension(kind, &key) {
            let Value::Object(obj) = value else {
                if value.is_null() {
                    continue;
                }
                return Err(Error::invalid_syntax(format!(
                    "extension '{}' must be a JSON object",
                    ext.id
                )));
            };
            let target = extension_map(&mut extensions, ext);
            for (name, v) in obj {
                // some clients (python-scim's scim2-tester) repeat `schemas` inside an
                // extension object; RFC 7643 §3 defines it only at the top level: ignore it
                if name.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                put_attr(target, ext, &name, v, &format!("{}:", ext.id), kind)?;
            }
        } else if key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("meta") {
            // readOnly common attributes: ignored on input (RFC 7643 §3.1).
        } else if key.eq_ignore_ascii_case("externalId") {
            match value {
                // unassigned, as for every other attribute: an empty externalId is no
                // identifier, so no filter or lookup can match a resource through it
                Value::Null => {}
                Value::String(s) if s.is_empty() => {}
                Value::String(s) => external_id = Some(s),
                _ => {
                    return Err(Error::invalid_value(
                        "attribute 'externalId' must be a string",
                    ))
                }
            }
        } else if key.contains(':') {
            put_flattened(&mut attrs, &mut extensions, &key, value, kind, registry)?;
        } else {
            put_attr(&mut attrs, core, &key, value, "", kind)?;
        }
    }

    let schemas = check_schemas(kind, registry, schemas, &extensions)?;
    check_required(kind, core, &attrs)?;

    let mut out = Map::new();
    out.insert(
        "schemas".into(),
        Value::Array(schemas.into_iter().map(Value::from).collect()),
    );
    if let Some(e) = external_id {
        out.insert("externalId".into(), Value::String(e));
    }
    out.extend(attrs);
    for (ext, map) in extensions {
        if !map.is_empty() {
            out.insert(ext.id.clone(), Value::Object(map));
        }
    }
    let out = Value::Object(out);
    if kind == ResourceKind::Group {
        super::group_members(&out)?;
    }
    Ok(out)
}

fn extension_map<'s, 'v>(
    extensions: &'v mut Vec<(&'s SchemaDef, Map<String, Value>)>,
    ext: &'s SchemaDef,
) -> &'v mut Map<String, Value> {
    let idx = match extensions.iter().position(|(s, _)| s.id == ext.id) {
        Some(i) => i,
        None => {
            extensions.push((ext, Map::new()));
            extensions.len() - 1
        }
    };
    &mut extensions[idx].1
}

/// `"urn:...:User:employeeNumber": "42"` at the top level.
fn put_flattened<'s>(
    attrs: &mut Map<String, Value>,
    extensions: &mut Vec<(&'s SchemaDef, Map<String, Value>)>,
    key: &str,
    value: Value,
    kind: ResourceKind,
    registry: &'s Registry,
) -> Result<(), Error> {
    let unsupported = || {
        let supported: Vec<&str> = registry.schema_urns(kind);
        Error::invalid_value(format!(
            "unsupported schema or attribute '{key}' for {}; supported schemas: {}",
            kind.name(),
            supported.join(", ")
        ))
    };
    let path = AttrPath::parse(key).map_err(|_| unsupported())?;
    let Some(uri) = path.uri.as_deref() else {
        return Err(unsupported());
    };
    if path.sub.is_some() {
        return Err(Error::invalid_syntax(format!(
            "'{key}': give the complex attribute as an object, not a dotted key"
        )));
    }
    if let Some(ext) = registry.extension(kind, uri) {
        let target = extension_map(extensions, ext);
        return put_attr(
            target,
            ext,
            &path.attr,
            value,
            &format!("{}:", ext.id),
            kind,
        );
    }
    match registry.schema(kind.core_schema()) {
        Some(core) if core.id.eq_ignore_ascii_case(uri) => {
            put_attr(attrs, core, &path.attr, value, "", kind)
        }
        _ => Err(unsupported()),
    }
}

/// Validates one top-level attribute of `schema` and stores it under its canonical name.
fn put_attr(
    out: &mut Map<String, Value>,
    schema: &SchemaDef,
    name: &str,
    value: Value,
    prefix: &str,
    kind: ResourceKind,
) -> Result<(), Error> {
    let Some(def) = schema.attr(name) else {
        return Err(Error::invalid_syntax(format!(
            "unknown attribute '{prefix}{name}' for {}",
            kind.name()
        )));
    };
    if def.mutability == Mutability::ReadOnly {
        return Ok(());
    }
    let path = format!("{prefix}{}", def.name);
    if out.contains_key(&def.name) {
        return Err(Error::invalid_syntax(format!(
            "attribute '{path}' is given more than once"
        )));
    }
    if let Some(v) = check_value(def, value, &path)? {
        out.insert(def.name.clone(), v);
    }
    Ok(())
}

/// Type-checks a value (single or multi) against its definition. `Ok(None)` = unassigned.
fn check_value(def: &AttributeDef, value: Value, path: &str) -> Result<Option<Value>, Error> {
    if value.is_null() {
        return Ok(None);
    }
    if !def.multi_valued {
        if value.is_array() {
            return Err(Error::invalid_value(format!(
                "attribute '{path}' is single-valued and must not be an array"
            )));
        }
        return check_single(def, value, path);
    }
    let Value::Array(items) = value else {
        return Err(Error::invalid_value(format!(
            "attribute '{path}' must be an array"
        )));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.is_array() {
            return Err(Error::invalid_value(format!(
                "attribute '{path}' must be an array of single values"
            )));
        }
        if let Some(v) = check_single(def, item, path)? {
            out.push(v);
        }
    }
    if def.is_complex() {
        let primaries = out
            .iter()
            .filter(|v| v.get("primary").and_then(Value::as_bool) == Some(true))
            .count();
        if primaries > 1 {
            return Err(Error::invalid_value(format!(
                "attribute '{path}' has more than one value with \"primary\": true"
            )));
        }
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn check_single(def: &AttributeDef, value: Value, path: &str) -> Result<Option<Value>, Error> {
    let must_be = |what: &str| Error::invalid_value(format!("attribute '{path}' must be {what}"));
    let v = match (def.ty, value) {
        (_, Value::Null) => return Ok(None),
        // An empty string is unassigned, like null (Entra ID clears attributes with "").
        (_, Value::String(s)) if s.is_empty() => return Ok(None),
        (AttrType::String | AttrType::Reference | AttrType::Binary, v @ Value::String(_)) => v,
        (AttrType::String | AttrType::Reference | AttrType::Binary, _) => {
            return Err(must_be("a string"))
        }
        (AttrType::Boolean, v @ Value::Bool(_)) => v,
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Value::Bool(true)
        }
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Value::Bool(false)
        }
        (AttrType::Boolean, _) => return Err(must_be("a boolean")),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n),
        (AttrType::Integer, _) => return Err(must_be("an integer")),
        (AttrType::Decimal, v @ Value::Number(_)) => v,
        (AttrType::Decimal, _) => return Err(must_be("a number")),
        (AttrType::DateTime, Value::String(s)) if parse_datetime(&s).is_some() => Value::String(s),
        (AttrType::DateTime, _) => {
            return Err(must_be(
                "a dateTime string such as \"2024-01-31T09:00:00Z\"",
            ))
        }
        (AttrType::Complex, Value::Object(obj)) => {
            let mut out = Map::new();
            for (name, v) in obj {
                let Some(sub) = def.sub_attr(&name) else {
                    return Err(Error::invalid_syntax(format!(
                        "unknown sub-attribute '{name}' of '{path}'"
                    )));
                };
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                let sub_path = format!("{path}.{}", sub.name);
                if out.contains_key(&sub.name) {
                    return Err(Error::invalid_syntax(format!(
                        "attribute '{sub_path}' is given more than once"
                    )));
                }
                if let Some(v) = check_value(sub, v, &sub_path)? {
                    out.insert(sub.name.clone(), v);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        (AttrType::Complex, _) => return Err(must_be("an object")),
    };
    Ok(Some(v))
}

/// Checks `schemas` and returns it canonical: core first, then extensions in use.
fn check_schemas<'r>(
    kind: ResourceKind,
    registry: &'r Registry,
    schemas: Option<Value>,
    extensions: &[(&SchemaDef, Map<String, Value>)],
) -> Result<Vec<&'r str>, Error> {
    let core = kind.core_schema();
    let listed = match schemas {
        None | Some(Value::Null) => {
            return Err(Error::invalid_value(format!(
                "attribute 'schemas' is required: include \"{core}\""
            )));
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(Error::invalid_syntax(
                "attribute 'schemas' must be an array of schema URN strings",
            ))
        }
    };
    let mut has_core = false;
    let mut ext_listed: Vec<&'r str> = Vec::new();
    for item in &listed {
        let Some(urn) = item.as_str() else {
            return Err(Error::invalid_syntax(
                "attribute 'schemas' must be an array of schema URN strings",
            ));
        };
        if urn.eq_ignore_ascii_case(core) {
            has_core = true;
        } else if let Some(ext) = registry
            .extension_urns(kind)
            .into_iter()
            .find(|e| e.eq_ignore_ascii_case(urn))
        {
            ext_listed.push(ext);
        } else {
            let supported = registry.schema_urns(kind);
            return Err(Error::invalid_value(format!(
                "unsupported schema '{urn}' for {}; supported: {}",
                kind.name(),
                supported.join(", ")
            )));
        }
    }
    if !has_core {
        return Err(Error::invalid_value(format!(
            "attribute 'schemas' must include \"{core}\""
        )));
    }
    let used = |ext: &str| {
        ext_listed.contains(&ext) || extensions.iter().any(|(s, m)| s.id == ext && !m.is_empty())
    };
    Ok(std::iter::once(core)
        .chain(
            registry
                .extension_urns(kind)
                .into_iter()
                .filter(|e| used(e)),
        )
        .collect())
}

fn check_required(
    kind: ResourceKind,
    core: &SchemaDef,
    attrs: &Map<String, Value>,
) -> Result<(), Error> {
    for def in core.attributes.iter().filter(|a| a.required) {
        let ok = match attrs.get(&def.name) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(_) => true,
            None => false,
        };
        if !ok {
            let what = if def.ty == AttrType::String {
                " and must be a non-empty string"
            } else {
                ""
            };
            return Err(Error::invalid_value(format!(
                "{} is required{what} ({})",
                def.name,
                kind.name()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
    use serde_json::json;

    fn user(body: Value) -> Result<Value, Error> {
        validate(ResourceKind::User, body, Registry::builtin())
    }

    fn err(body: Value) -> Error {
        user(body).unwrap_err()
    }

    #[test]
    fn minimal_user() {
        let v = user(json!({"schemas": [USER_SCHEMA], "userName": "bjensen"})).unwrap();
        assert_eq!(v, json!({"schemas": [USER_SCHEMA], "userName": "bjensen"}));
    }

    #[test]
    fn body_and_schemas_shape() {
        assert_eq!(
            user(json!([1])).unwrap_err().detail,
            "request body must be a JSON object"
        );
        assert_eq!(
            err(json!({"userName": "x"})).scim_type,
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            err(json!({"schemas": USER_SCHEMA, "userName": "x"})).scim_type,
            Some(ScimType::InvalidSyntax)
        );
        assert_eq!(
            err(json!({"schemas": [1], "userName": "x"})).scim_type,
            Some(ScimType::InvalidSyntax)
        );
        let e = err(json!({"schemas": [ENTERPRISE_USER_SCHEMA], "userName": "x"}));
        assert!(e.detail.contains("must include"), "{}", e.detail);
        let e = err(json!({"schemas": [USER_SCHEMA, GROUP_SCHEMA], "userName": "x"}));
        assert!(e.detail.starts_with("unsupported schema"), "{}", e.detail);
    }

    #[test]
    fn canonical_case_everywhere() {
        let v = user(json!({
            "SCHEMAS": ["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"],
            "USERNAME": "bjensen",
            "Name": {"GIVENNAME": "Barbara"},
            "emails": [{"VALUE": "a@b.c", "Primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"EmployeeNumber": "1", "MANAGER": {"Value": "m"}}
        }))
        .unwrap();
        assert_eq!(
            v,
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "userName": "bjensen",
                "name": {"givenName": "Barbara"},
                "emails": [{"value": "a@b.c", "primary": true}],
                ENTERPRISE_USER_SCHEMA: {"employeeNumber": "1", "manager": {"value": "m"}}
            })
        );
    }

    #[test]
    fn read_only_dropped_and_nulls_removed() {
        let v = user(json!({
            "schemas": [USER_SCHEMA], "id": "client-id", "meta": {"version": "W/\"1\""},
            "userName": "x", "groups": [{"value": "g"}], "nickName": null, "emails": [],
            "name": {"givenName": null}, "externalId": "e1",
            ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m", "displayName": "Boss"}}
        }))
        .unwrap();
        assert_eq!(
            v,
            json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "externalId": "e1", "userName": "x",
                   ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m"}}})
        );
    }

    #[test]
    fn an_empty_external_id_is_unassigned() {
        for e in [json!(""), json!(null)] {
            let v =
                user(json!({"schemas": [USER_SCHEMA], "userName": "x", "externalId": e})).unwrap();
            assert!(v.get("externalId").is_none(), "{v}");
        }
        let v =
            user(json!({"schemas": [USER_SCHEMA], "userName": "x", "externalId": " "})).unwrap();
        assert_eq!(
            v["externalId"], " ",
            "a blank one is a value (caseExact, kept as given)"
        );
    }

    #[test]
    fn unknown_attributes_are_invalid_syntax() {
        let e = err(json!({"schemas": [USER_SCHEMA], "userName": "x", "foo": 1}));
        assert_eq!(
            (e.scim_type, e.detail.as_ref()),
            (
                Some(ScimType::InvalidSyntax),
                "unknown attribute 'foo' for User"
            )
        );
        let e = err(json!({"schemas": [USER_SCHEMA], "userName": "x", "name": {"nick": "y"}}));
        assert_eq!(e.detail, "unknown sub-attribute 'nick' of 'name'");
        let e = err(
            json!({"schemas": [USER_SCHEMA], "userName": "x", ENTERPRISE_USER_SCHEMA: {"badge": "1"}}),
        );
        assert_eq!(
            e.detail,
            format!("unknown attribute '{ENTERPRISE_USER_SCHEMA}:badge' for User")
        );
        let e = err(json!({"schemas": [USER_SCHEMA], "userName": "x", "urn:example:foo": {}}));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn type_errors_name_the_path() {
        let cases = [
            (
                json!({"name": {"givenName": 5}}),
                "attribute 'name.givenName' must be a string",
            ),
            (
                json!({"active": "yes"}),
                "attribute 'active' must be a boolean",
            ),
            (
                json!({"emails": {"value": "a@b"}}),
                "attribute 'emails' must be an array",
            ),
            (
                json!({"emails": ["a@b"]}),
                "attribute 'emails' must be an object",
            ),
            (
                json!({"emails": [{"primary": "maybe"}]}),
                "attribute 'emails.primary' must be a boolean",
            ),
            (
                json!({"displayName": ["a"]}),
                "attribute 'displayName' is single-valued and must not be an array",
            ),
            (
                json!({"name": "Barbara"}),
                "attribute 'name' must be an object",
            ),
        ];
        for (extra, detail) in cases {
            let mut body = json!({"schemas": [USER_SCHEMA], "userName": "x"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let e = user(body).unwrap_err();
            assert_eq!(
                (e.status, e.scim_type, e.detail.as_ref()),
                (400, Some(ScimType::InvalidValue), detail)
            );
        }
    }

    #[test]
    fn entra_boolean_strings() {
        let v = user(
            json!({"schemas": [USER_SCHEMA], "userName": "x", "active": "False",
                            "emails": [{"value": "a@b", "primary": "True"}]}),
        )
        .unwrap();
        assert_eq!(v["active"], false);
        assert_eq!(v["emails"][0]["primary"], true);
    }

    #[test]
    fn primary_at_most_once() {
        let e = err(json!({"schemas": [USER_SCHEMA], "userName": "x",
                           "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}));
        assert_eq!(
            e.detail,
            "attribute 'emails' has more than one value with \"primary\": true"
        );
    }

    #[test]
    fn required_and_password() {
        let e = err(json!({"schemas": [USER_SCHEMA]}));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        let ok = validate(
            ResourceKind::User,
            json!({"schemas": [USER_SCHEMA], "userName": "x", "password": "hunter2"}),
            Registry::builtin(),
        )
        .unwrap();
        assert_eq!(ok["password"], "hunter2", "kept for the caller to hash");
    }

    #[test]
    fn extension_urn_added_and_flattened_keys_accepted() {
        let v = user(json!({"schemas": [USER_SCHEMA], "userName": "x",
                            ENTERPRISE_USER_SCHEMA: {"department": "Ops"},
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7"}))
        .unwrap();
        assert_eq!(v["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]));
        assert_eq!(
            v[ENTERPRISE_USER_SCHEMA],
            json!({"department": "Ops", "employeeNumber": "7"})
        );
        let v = user(json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "userName": "x"}))
            .unwrap();
        assert_eq!(v["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]));
    }

    #[test]
    fn types_integer_decimal_datetime() {
        let mut def = AttributeDef::new("n", AttrType::Integer);
        assert!(check_value(&def, json!(1.5), "n").is_err());
        assert_eq!(check_value(&def, json!(-3), "n").unwrap(), Some(json!(-3)));
        def.ty = AttrType::Decimal;
        assert!(check_value(&def, json!(1.5), "n").is_ok());
        assert!(check_value(&def, json!("1.5"), "n").is_err());
        def.ty = AttrType::DateTime;
        assert!(check_value(&def, json!("2024-01-31T09:00:00Z"), "n").is_ok());
        assert!(check_value(&def, json!("yesterday"), "n")
            .unwrap_err()
            .detail
            .contains("dateTime"));
    }

    #[test]
    fn group_members_kept_and_checked() {
        let r = Registry::builtin();
        let v = validate(
            ResourceKind::Group,
            json!({"schemas": [GROUP_SCHEMA], "DisplayName": "Admins",
                   "members": [{"value": "u1", "display": "Babs", "type": "User"}]}),
            r,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Admins", "members": [{"value": "u1", "type": "User"}]})
        );
        let e = validate(
            ResourceKind::Group,
            json!({"schemas": [GROUP_SCHEMA], "displayName": "A", "members": [{"type": "User"}]}),
            r,
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        let e = validate(
            ResourceKind::Group,
            json!({"schemas": [GROUP_SCHEMA], "displayName": "A", "userName": "x"}),
            r,
        )
        .unwrap_err();
        assert_eq!(e.detail, "unknown attribute 'userName' for Group");
    }
}
