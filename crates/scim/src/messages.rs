//! Protocol messages: ListResponse (RFC 7644 §3.4.2) and list query parameters.

use serde_json::{json, Value};

use crate::schema::LIST_RESPONSE;

/// A ListResponse; `itemsPerPage` is the number of `resources` on this page.
pub fn list_response(total: u64, start_index: u64, resources: Vec<Value>) -> Value {
    // built by hand: `json!` would copy every resource through `to_value`
    let mut out = serde_json::Map::new();
    out.insert("schemas".into(), json!([LIST_RESPONSE]));
    out.insert("totalResults".into(), json!(total));
    out.insert("startIndex".into(), json!(start_index));
    out.insert("itemsPerPage".into(), json!(resources.len()));
    out.insert("Resources".into(), Value::Array(resources));
    Value::Object(out)
}

/// Query parameters of a list or `.search` request (RFC 7644 §3.4.2), as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// `filter`
    pub filter: Option<String>,
    /// `startIndex`, 1-based (after [`normalize_paging`]).
    pub start_index: u64,
    /// `count`
    pub count: Option<u64>,
    /// `sortBy`
    pub sort_by: Option<String>,
    /// `sortOrder` (`ascending` / `descending`)
    pub sort_order: Option<String>,
    /// `attributes`, comma-separated.
    pub attributes: Option<String>,
    /// `excludedAttributes`, comma-separated.
    pub excluded_attributes: Option<String>,
}

/// Applies RFC 7644 §3.4.2.4: `startIndex` below 1 becomes 1; a negative `count` becomes 0;
/// a missing `count` is `default`; `count` is capped at `max`.
pub fn normalize_paging(
    start_index: Option<i64>,
    count: Option<i64>,
    max: u64,
    default: u64,
) -> (u64, u64) {
    let start = start_index.map_or(1, |s| u64::try_from(s).unwrap_or(0).max(1));
    let count = match count {
        None => default,
        Some(c) => u64::try_from(c).unwrap_or(0),
    };
    (start, count.min(max))
}

// ---- SearchRequest (RFC 7644 §3.4.3) and Bulk (RFC 7644 §3.7) ----

/// Case-insensitive lookup in a message object (exact match first).
fn member<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key)
        .or_else(|| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

/// Whether `schemas` of a message lists `urn`.
fn lists_schema(obj: &serde_json::Map<String, Value>, urn: &str) -> bool {
    match member(obj, "schemas") {
        Some(Value::Array(items)) => items
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn))),
        _ => false,
    }
}

/// `sortOrder` (RFC 7644 §3.4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortOrder {
    /// `ascending` (the default).
    #[default]
    Ascending,
    /// `descending`
    Descending,
}

impl SortOrder {
    /// Parses `ascending`/`descending`, case-insensitively; anything else is `invalidValue`.
    pub fn parse(s: &str) -> Result<SortOrder, crate::Error> {
        if s.eq_ignore_ascii_case("ascending") {
            Ok(SortOrder::Ascending)
        } else if s.eq_ignore_ascii_case("descending") {
            Ok(SortOrder::Descending)
        } else {
            Err(crate::Error::invalid_value(format!(
                "'sortOrder' must be \"ascending\" or \"descending\", got \"{s}\""
            )))
        }
    }

    /// The wire value.
    pub fn as_str(&self) -> &'static str {
        match self {
            SortOrder::Ascending => "ascending",
            SortOrder::Descending => "descending",
        }
    }
}

/// A `POST .search` body (RFC 7644 §3.4.3), with `cursor` from RFC 9865.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchRequest {
    /// `attributes` (from an array of strings or a comma-separated string).
    pub attributes: Vec<String>,
    /// `excludedAttributes`
    pub excluded_attributes: Vec<String>,
    /// `filter`
    pub filter: Option<String>,
    /// `sortBy`
    pub sort_by: Option<String>,
    /// `sortOrder`
    pub sort_order: Option<SortOrder>,
    /// `startIndex` as given (normalise with [`normalize_paging`]).
    pub start_index: Option<i64>,
    /// `count` as given (normalise with [`normalize_paging`]).
    pub count: Option<i64>,
    /// `cursor` (RFC 9865); `Some("")` asks for the first page of a cursor listing.
    pub cursor: Option<String>,
}

impl SearchRequest {
    /// Parses a SearchRequest body. Keys match case-insensitively and `null` counts as
    /// absent. `schemas` must list `urn:ietf:params:scim:api:messages:2.0:SearchRequest`
    /// and unknown keys are refused (`invalidSyntax`); values of the wrong type are
    /// `invalidValue`.
    pub fn parse(body: Value) -> Result<SearchRequest, crate::Error> {
        use crate::schema::SEARCH_REQUEST;
        use crate::Error;
        let Value::Object(obj) = body else {
            return Err(Error::invalid_syntax(
                "SearchRequest body must be a JSON object",
            ));
        };
        if !lists_schema(&obj, SEARCH_REQUEST) {
            return Err(Error::invalid_syntax(format!(
                "SearchRequest body must have \"schemas\": [\"{SEARCH_REQUEST}\"]"
            )));
        }
        const KNOWN: [&str; 9] = [
            "schemas",
            "attributes",
            "excludedAttributes",
            "filter",
            "sortBy",
            "sortOrder",
            "startIndex",
            "count",
            "cursor",
        ];
        if let Some(k) = obj
            .keys()
            .find(|k| !KNOWN.iter().any(|n| n.eq_ignore_ascii_case(k)))
        {
            return Err(Error::invalid_syntax(format!(
                "unknown SearchRequest attribute '{k}'; expected one of {}",
                KNOWN.join(", ")
            )));
        }
        let string = |key: &str| -> Result<Option<String>, Error> {
            match member(&obj, key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Error::invalid_value(format!("'{key}' must be a string"))),
            }
        };
        let names = |key: &str| -> Result<Vec<String>, Error> {
            let bad = || {
                Error::invalid_value(format!(
                    "'{key}' must be an array of attribute names or a comma-separated string"
                ))
            };
            let parts: Vec<&str> = match member(&obj, key) {
                None => Vec::new(),
                Some(Value::String(s)) => vec![s.as_str()],
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| i.as_str().ok_or_else(bad))
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(bad()),
            };
            Ok(parts
                .into_iter()
                .flat_map(|p| p.split(','))
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect())
        };
        let integer = |key: &str| -> Result<Option<i64>, Error> {
            match member(&obj, key) {
                None => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| Error::invalid_value(format!("'{key}' must be an integer"))),
                Some(_) => Err(Error::invalid_value(format!("'{key}' must be an integer"))),
            }
        };
        Ok(SearchRequest {
            attributes: names("attributes")?,
            excluded_attributes: names("excludedAttributes")?,
            filter: string("filter")?,
            sort_by: string("sortBy")?,
            sort_order: string("sortOrder")?
                .map(|s| SortOrder::parse(&s))
                .transpose()?,
            start_index: integer("startIndex")?,
            count: integer("count")?,
            cursor: string("cursor")?,
        })
    }

    /// `attributes` joined with commas, for [`AttrSelection::parse`](crate::projection::AttrSelection::parse).
    pub fn attributes_param(&self) -> Option<String> {
        (!self.attributes.is_empty()).then(|| self.attributes.join(","))
    }

    /// `excludedAttributes` joined with commas.
    pub fn excluded_attributes_param(&self) -> Option<String> {
        (!self.excluded_attributes.is_empty()).then(|| self.excluded_attributes.join(","))
    }
}

pub use bulk::{bulk_response, BulkMethod, BulkOperation, BulkRequest};

/// Bulk requests (RFC 7644 §3.7): parsing, `bulkId` cross-references and the response.
pub mod bulk {
    use std::collections::HashMap;

    use serde_json::{json, Value};

    use super::{lists_schema, member};
    use crate::schema::{BULK_REQUEST, BULK_RESPONSE};
    use crate::Error;

    /// The `bulkId:` prefix of a cross-reference (RFC 7644 §3.7.2).
    pub const BULK_ID_PREFIX: &str = "bulkId:";

    /// The HTTP method of a bulk operation.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum BulkMethod {
        /// `POST`
        Post,
        /// `PUT`
        Put,
        /// `PATCH`
        Patch,
        /// `DELETE`
        Delete,
    }

    impl BulkMethod {
        /// The upper-case method name.
        pub fn as_str(&self) -> &'static str {
            match self {
                BulkMethod::Post => "POST",
                BulkMethod::Put => "PUT",
                BulkMethod::Patch => "PATCH",
                BulkMethod::Delete => "DELETE",
            }
        }

        fn parse(s: &str) -> Option<BulkMethod> {
            [
                BulkMethod::Post,
                BulkMethod::Put,
                BulkMethod::Patch,
                BulkMethod::Delete,
            ]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
        }
    }

    /// One operation of a BulkRequest.
    #[derive(Debug, Clone, PartialEq)]
    pub struct BulkOperation {
        /// `method`
        pub method: BulkMethod,
        /// `bulkId` (required for POST).
        pub bulk_id: Option<String>,
        /// `version` (an ETag, for If-Match).
        pub version: Option<String>,
        /// `path`, e.g. `/Users` or `/Groups/bulkId:qwerty`.
        pub path: String,
        /// `data` (required for POST, PUT and PATCH).
        pub data: Option<Value>,
    }

    /// A BulkRequest (RFC 7644 §3.7).
    #[derive(Debug, Clone, PartialEq)]
    pub struct BulkRequest {
        /// `failOnErrors`
        pub fail_on_errors: Option<u64>,
        /// `Operations`, in request order.
        pub operations: Vec<BulkOperation>,
    }

    impl BulkRequest {
        /// Parses a BulkRequest body. Keys match case-insensitively. `schemas` must list
        /// `urn:ietf:params:scim:api:messages:2.0:BulkRequest` and `Operations` must be a
        /// non-empty array (`invalidSyntax`). `method` and `path` are required; `bulkId`
        /// is required for POST and unique; `data` is a required object for POST, PUT and
        /// PATCH (`invalidValue`). The caller enforces `maxOperations`/`maxPayloadSize`.
        pub fn parse(body: Value) -> Result<BulkRequest, Error> {
            let Value::Object(obj) = body else {
                return Err(Error::invalid_syntax(
                    "BulkRequest body must be a JSON object",
                ));
            };
            if !lists_schema(&obj, BULK_REQUEST) {
                return Err(Error::invalid_syntax(format!(
                    "BulkRequest body must have \"schemas\": [\"{BULK_REQUEST}\"]"
                )));
            }
            let fail_on_errors = match member(&obj, "failOnErrors") {
                None => None,
                Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                    Error::invalid_value("'failOnErrors' must be a positive integer")
                })?),
            };
            let ops = match member(&obj, "Operations") {
                Some(Value::Array(ops)) if !ops.is_empty() => ops,
                _ => {
                    return Err(Error::invalid_syntax(
                        "BulkRequest must have a non-empty \"Operations\" array",
                    ))
                }
            };
            let mut operations: Vec<BulkOperation> = Vec::with_capacity(ops.len());
            for (i, op) in ops.iter().enumerate() {
                let op = parse_operation(op).map_err(|e| crate::patch::at_operation(e, i))?;
                if let Some(id) = &op.bulk_id {
                    if let Some(j) = operations
                        .iter()
                        .position(|o| o.bulk_id.as_ref() == Some(id))
                    {
                        return Err(Error::invalid_value(format!(
                            "bulkId '{id}' is used by Operations[{j}] and Operations[{i}]; bulkIds must be unique"
                        )));
                    }
                }
                operations.push(op);
            }
            Ok(BulkRequest {
                fail_on_errors,
                operations,
            })
        }
    }

    fn parse_operation(op: &Value) -> Result<BulkOperation, Error> {
        let Value::Object(op) = op else {
            return Err(Error::invalid_syntax(
                "each bulk operation must be an object with \"method\" and \"path\"",
            ));
        };
        let text = |key: &str| -> Result<Option<String>, Error> {
            match member(op, key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Error::invalid_value(format!("'{key}' must be a string"))),
            }
        };
        let method = match text("method")? {
            Some(m) => BulkMethod::parse(&m).ok_or_else(|| {
                Error::invalid_value(format!(
                    "'method' must be POST, PUT, PATCH or DELETE, got \"{m}\""
                ))
            })?,
            None => return Err(Error::invalid_value("'method' is required")),
        };
        let path = match text("path")? {
            Some(p) if p.starts_with('/') && p.len() > 1 => p,
            Some(p) => {
                return Err(Error::invalid_value(format!(
                    "'path' must be a relative resource path such as \"/Users\", got \"{p}\""
                )))
            }
            None => return Err(Error::invalid_value("'path' is required")),
        };
        let bulk_id = text("bulkId")?;
        if bulk_id.as_deref().is_some_and(|b| b.trim().is_empty()) {
            return Err(Error::invalid_value("'bulkId' must not be empty"));
        }
        if method == BulkMethod::Post && bulk_id.is_none() {
            return Err(Error::invalid_value("'bulkId' is required for POST"));
        }
        let data = member(op, "data").cloned();
        match (&data, method) {
            (_, BulkMethod::Delete) | (Some(Value::Object(_)), _) => {}
            (None, _) => {
                return Err(Error::invalid_value(format!(
                    "'data' is required for {}",
                    method.as_str()
                )))
            }
            (Some(_), _) => return Err(Error::invalid_value("'data' must be an object")),
        }
        Ok(BulkOperation {
            method,
            bulk_id,
            version: text("version")?,
            path,
            data: if method == BulkMethod::Delete {
                None
            } else {
                data
            },
        })
    }

    /// The bulkId of a reference string `bulkId:xyz` (`xyz` non-empty, without whitespace).
    fn reference_id(s: &str) -> Option<&str> {
        s.strip_prefix(BULK_ID_PREFIX)
            .filter(|id| !id.is_empty() && !id.chars().any(char::is_whitespace))
    }

    /// A BulkResponse body around the per-operation results.
    pub fn bulk_response(ops: Vec<Value>) -> Value {
        json!({ "schemas": [BULK_RESPONSE], "Operations": ops })
    }

    /// The bulkIds an operation refers to: every string value exactly `bulkId:xyz` (no
    /// whitespace in `xyz`) at any
    /// depth of `data`, and `bulkId:xyz` segments of `path` (`/Groups/bulkId:xyz`).
    pub fn references(op: &BulkOperation) -> Vec<String> {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => {
                    if let Some(id) = reference_id(s) {
                        if !out.iter().any(|o| o == id) {
                            out.push(id.to_owned());
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
                Value::Object(obj) => obj.values().for_each(|i| walk(i, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for seg in op.path.split('/') {
            walk(&Value::String(seg.to_owned()), &mut out);
        }
        if let Some(data) = &op.data {
            walk(data, &mut out);
        }
        out
    }

    /// The order in which to execute `ops`: request order, except that an operation
    /// referring to a `bulkId` runs after the operation defining it (forward references
    /// are allowed). A reference to an undefined bulkId is `invalidValue`; circular
    /// references (including an operation referring to itself) are `409 Conflict`, which
    /// RFC 7644 §3.7.1 allows a service provider to return instead of resolving them.
    pub fn resolve_references(ops: &[BulkOperation]) -> Result<Vec<usize>, Error> {
        let defined: HashMap<&str, usize> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.bulk_id.as_deref().map(|b| (b, i)))
            .collect();
        let mut deps: Vec<Vec<usize>> = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let mut d = Vec::new();
            for r in references(op) {
                match defined.get(r.as_str()) {
                    Some(&j) => d.push(j),
                    None => {
                        return Err(Error::invalid_value(format!(
                        "Operations[{i}] refers to 'bulkId:{r}', but no operation has bulkId '{r}'"
                    )))
                    }
                }
            }
            deps.push(d);
        }
        // Iterative depth-first post-order: dependencies before dependants.
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        let mut mark = vec![Mark::New; ops.len()];
        let mut order = Vec::with_capacity(ops.len());
        for start in 0..ops.len() {
            if mark[start] != Mark::New {
                continue;
            }
            let mut stack = vec![(start, 0usize)];
            mark[start] = Mark::Active;
            while let Some((node, next)) = stack.last().copied() {
                let node_deps = &deps[node];
                if let Some(&dep) = node_deps.get(next) {
                    if let Some(top) = stack.last_mut() {
                        top.1 += 1;
                    }
                    match mark[dep] {
                        Mark::New => {
                            mark[dep] = Mark::Active;
                            stack.push((dep, 0));
                        }
                        Mark::Active => {
                            let cycle: Vec<String> = stack
                                .iter()
                                .skip_while(|(n, _)| *n != dep)
                                .filter_map(|(n, _)| ops[*n].bulk_id.clone())
                                .collect();
                            return Err(Error::conflict(format!(
                                "circular bulkId references: {} -> {}; create the resources first and link them with a later PATCH",
                                cycle.join(" -> "),
                                ops[dep].bulk_id.as_deref().unwrap_or_default()
                            )));
                        }
                        Mark::Done => {}
                    }
                } else {
                    mark[node] = Mark::Done;
                    order.push(node);
                    stack.pop();
                }
            }
        }
        Ok(order)
    }

    /// Replaces every `bulkId:xyz` string in `data` (at any depth) whose `xyz` is in
    /// `resolved` with the created resource's id. Unresolved references are left as is.
    pub fn substitute(data: &mut Value, resolved: &HashMap<String, String>) {
        match data {
            Value::String(s) => {
                if let Some(id) = reference_id(s).and_then(|b| resolved.get(b)) {
                    *s = id.clone();
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, resolved)),
            Value::Object(obj) => obj.values_mut().for_each(|v| substitute(v, resolved)),
            _ => {}
        }
    }

    /// [`substitute`] for the segments of a `path` (`/Groups/bulkId:xyz`).
    pub fn substitute_path(path: &str, resolved: &HashMap<String, String>) -> String {
        path.split('/')
            .map(|seg| {
                reference_id(seg)
                    .and_then(|b| resolved.get(b))
                    .map_or(seg, String::as_str)
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_response_shape() {
        let v = list_response(10, 3, vec![json!({"id": "a"}), json!({"id": "b"})]);
        assert_eq!(v["schemas"][0], LIST_RESPONSE);
        assert_eq!(
            (
                v["totalResults"].as_u64(),
                v["startIndex"].as_u64(),
                v["itemsPerPage"].as_u64()
            ),
            (Some(10), Some(3), Some(2))
        );
        assert_eq!(v["Resources"][1]["id"], "b");
        assert_eq!(list_response(0, 1, vec![])["Resources"], json!([]));
    }

    #[test]
    fn paging_per_rfc() {
        assert_eq!(normalize_paging(None, None, 200, 100), (1, 100));
        assert_eq!(normalize_paging(Some(0), Some(-5), 200, 100), (1, 0));
        assert_eq!(normalize_paging(Some(-3), Some(0), 200, 100), (1, 0));
        assert_eq!(normalize_paging(Some(7), Some(1000), 200, 100), (7, 200));
        assert_eq!(normalize_paging(None, None, 50, 100), (1, 50));
    }
}

#[cfg(test)]
mod search_and_bulk_tests {
    use std::collections::HashMap;

    use super::bulk::{references, resolve_references, substitute, substitute_path};
    use super::*;
    use crate::error::ScimType;
    use crate::schema::{BULK_REQUEST, BULK_RESPONSE, SEARCH_REQUEST};

    #[test]
    fn search_request_rfc_example() {
        let r = SearchRequest::parse(json!({
            "schemas": [SEARCH_REQUEST],
            "attributes": ["displayName", "userName"],
            "filter": "displayName sw \"smith\"",
            "startIndex": 1,
            "count": 10
        }))
        .unwrap();
        assert_eq!(r.attributes, ["displayName", "userName"]);
        assert_eq!(
            r.attributes_param().as_deref(),
            Some("displayName,userName")
        );
        assert_eq!(r.excluded_attributes_param(), None);
        assert_eq!(r.filter.as_deref(), Some("displayName sw \"smith\""));
        assert_eq!((r.start_index, r.count), (Some(1), Some(10)));
    }

    #[test]
    fn search_request_keys_any_case_and_comma_strings() {
        let r = SearchRequest::parse(json!({
            "Schemas": [SEARCH_REQUEST.to_uppercase()],
            "EXCLUDEDATTRIBUTES": "emails, groups",
            "sortby": "userName", "SortOrder": "DESCENDING",
            "cursor": "", "filter": null
        }))
        .unwrap();
        assert_eq!(r.excluded_attributes, ["emails", "groups"]);
        assert_eq!(r.sort_by.as_deref(), Some("userName"));
        assert_eq!(r.sort_order, Some(SortOrder::Descending));
        assert_eq!(r.cursor.as_deref(), Some(""));
        assert_eq!(r.filter, None);
        assert_eq!(SortOrder::Ascending.as_str(), "ascending");
    }

    #[test]
    fn search_request_errors() {
        let t = |v: Value| SearchRequest::parse(v).unwrap_err();
        assert_eq!(
            t(json!({"filter": "x pr"})).scim_type,
            Some(ScimType::InvalidSyntax)
        );
        assert_eq!(t(json!([])).scim_type, Some(ScimType::InvalidSyntax));
        let e = t(json!({"schemas": [SEARCH_REQUEST], "filtr": "x pr"}));
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        assert!(e
            .detail
            .starts_with("unknown SearchRequest attribute 'filtr'"));
        for (k, v, msg) in [
            ("count", json!("10"), "'count' must be an integer"),
            ("startIndex", json!(1.5), "'startIndex' must be an integer"),
            ("filter", json!(1), "'filter' must be a string"),
            (
                "sortOrder",
                json!("up"),
                "'sortOrder' must be \"ascending\" or \"descending\", got \"up\"",
            ),
            (
                "attributes",
                json!([1]),
                "'attributes' must be an array of attribute names or a comma-separated string",
            ),
            (
                "attributes",
                json!({}),
                "'attributes' must be an array of attribute names or a comma-separated string",
            ),
        ] {
            let mut body = json!({"schemas": [SEARCH_REQUEST]});
            body[k] = v;
            let e = t(body);
            assert_eq!(
                (e.scim_type, e.detail.as_ref()),
                (Some(ScimType::InvalidValue), msg)
            );
        }
    }

    /// RFC 7644 §3.7.2 example (abridged): a user and a group that references it.
    fn rfc_bulk() -> Value {
        json!({
            "schemas": [BULK_REQUEST],
            "failOnErrors": 1,
            "Operations": [
                {"method": "POST", "path": "/Groups", "bulkId": "ytrewq",
                 "data": {"schemas": [crate::schema::GROUP_SCHEMA], "displayName": "Tour Guides",
                          "members": [{"type": "User", "value": "bulkId:qwerty"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "qwerty",
                 "data": {"schemas": [crate::schema::USER_SCHEMA], "userName": "Alice"}},
                {"method": "patch", "path": "/Groups/bulkId:ytrewq", "version": "W/\"1\"",
                 "data": {"schemas": [crate::schema::PATCH_OP], "Operations": [{"op": "remove", "path": "members"}]}},
                {"method": "DELETE", "path": "/Users/b7c14771", "data": {"ignored": true}}
            ]
        })
    }

    #[test]
    fn bulk_request_parses() {
        let r = BulkRequest::parse(rfc_bulk()).unwrap();
        assert_eq!(r.fail_on_errors, Some(1));
        assert_eq!(r.operations.len(), 4);
        assert_eq!(r.operations[2].method, BulkMethod::Patch);
        assert_eq!(r.operations[2].version.as_deref(), Some("W/\"1\""));
        assert_eq!(r.operations[3].data, None);
        assert_eq!(references(&r.operations[0]), ["qwerty"]);
        assert_eq!(references(&r.operations[2]), ["ytrewq"]);
    }

    #[test]
    fn bulk_request_errors() {
        let t = |f: &dyn Fn(&mut Value)| {
            let mut v = rfc_bulk();
            f(&mut v);
            BulkRequest::parse(v).unwrap_err()
        };
        assert_eq!(
            t(&|v| v["schemas"] = json!([])).scim_type,
            Some(ScimType::InvalidSyntax)
        );
        assert_eq!(
            t(&|v| v["Operations"] = json!([])).scim_type,
            Some(ScimType::InvalidSyntax)
        );
        assert_eq!(
            t(&|v| v["failOnErrors"] = json!(0)).detail,
            "'failOnErrors' must be a positive integer"
        );
        let e = t(&|v| v["Operations"][1]["bulkId"] = json!("ytrewq"));
        assert_eq!(
            e.detail,
            "bulkId 'ytrewq' is used by Operations[0] and Operations[1]; bulkIds must be unique"
        );
        type Edit<'a> = &'a dyn Fn(&mut Value);
        let cases: [(Edit, &str); 6] = [
            (&|v| v["Operations"][0]["method"] = json!("GET"), "Operations[0]: 'method' must be POST, PUT, PATCH or DELETE, got \"GET\""),
            (&|v| { v["Operations"][1].as_object_mut().unwrap().remove("bulkId"); }, "Operations[1]: 'bulkId' is required for POST"),
            (&|v| v["Operations"][1]["path"] = json!("Users"), "Operations[1]: 'path' must be a relative resource path such as \"/Users\", got \"Users\""),
            (&|v| { v["Operations"][2].as_object_mut().unwrap().remove("data"); }, "Operations[2]: 'data' is required for PATCH"),
            (&|v| v["Operations"][2]["data"] = json!([1]), "Operations[2]: 'data' must be an object"),
            (&|v| { v["Operations"][3].as_object_mut().unwrap().remove("path"); }, "Operations[3]: 'path' is required"),
        ];
        for (f, msg) in cases {
            let e = t(f);
            assert_eq!(
                (e.scim_type, e.detail.as_ref()),
                (Some(ScimType::InvalidValue), msg)
            );
        }
    }

    fn op(bulk_id: Option<&str>, path: &str, data: Value) -> BulkOperation {
        BulkOperation {
            method: if bulk_id.is_some() {
                BulkMethod::Post
            } else {
                BulkMethod::Patch
            },
            bulk_id: bulk_id.map(str::to_owned),
            version: None,
            path: path.into(),
            data: Some(data),
        }
    }

    #[test]
    fn forward_references_run_first() {
        let r = BulkRequest::parse(rfc_bulk()).unwrap();
        assert_eq!(resolve_references(&r.operations).unwrap(), [1, 0, 2, 3]);
        // No references: request order.
        let ops = vec![
            op(Some("a"), "/Users", json!({})),
            op(Some("b"), "/Users", json!({})),
        ];
        assert_eq!(resolve_references(&ops).unwrap(), [0, 1]);
        // A chain written backwards, with references at depth and in paths.
        let ops = vec![
            op(
                None,
                "/Groups/bulkId:g",
                json!({"Operations": [{"value": [{"value": "bulkId:u"}]}]}),
            ),
            op(
                Some("g"),
                "/Groups",
                json!({"members": [{"value": "bulkId:u"}]}),
            ),
            op(
                Some("u"),
                "/Users",
                json!({"x": {"manager": {"value": "bulkId:m"}}}),
            ),
            op(
                Some("m"),
                "/Users",
                json!({"note": "bulkId: not a reference"}),
            ),
        ];
        assert_eq!(resolve_references(&ops).unwrap(), [3, 2, 1, 0]);
    }

    #[test]
    fn circular_and_unknown_references() {
        // RFC 7644 §3.7.1: two groups that contain each other.
        let ops = vec![
            op(
                Some("qwerty"),
                "/Groups",
                json!({"members": [{"value": "bulkId:ytrewq"}]}),
            ),
            op(
                Some("ytrewq"),
                "/Groups",
                json!({"members": [{"value": "bulkId:qwerty"}]}),
            ),
        ];
        let e = resolve_references(&ops).unwrap_err();
        assert_eq!((e.status, e.scim_type), (409, None));
        assert!(
            e.detail
                .starts_with("circular bulkId references: qwerty -> ytrewq -> qwerty"),
            "{}",
            e.detail
        );
        let ops = vec![op(
            Some("self"),
            "/Groups",
            json!({"members": [{"value": "bulkId:self"}]}),
        )];
        assert_eq!(resolve_references(&ops).unwrap_err().status, 409);
        let ops = vec![op(
            Some("a"),
            "/Groups",
            json!({"members": [{"value": "bulkId:zzz"}]}),
        )];
        let e = resolve_references(&ops).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert_eq!(
            e.detail,
            "Operations[0] refers to 'bulkId:zzz', but no operation has bulkId 'zzz'"
        );
    }

    #[test]
    fn long_chains_do_not_overflow() {
        let n = 20_000;
        let ops: Vec<BulkOperation> = (0..n)
            .map(|i| {
                let id = format!("b{i}");
                let next = format!("bulkId:b{}", i + 1);
                let data = if i + 1 < n {
                    json!({"ref": next})
                } else {
                    json!({})
                };
                op(Some(&id), "/Users", data)
            })
            .collect();
        let order = resolve_references(&ops).unwrap();
        assert_eq!(order.first(), Some(&(n - 1)));
        assert_eq!(order.last(), Some(&0));
    }

    #[test]
    fn substitution_and_response() {
        let resolved = HashMap::from([("qwerty".to_owned(), "92b725cd".to_owned())]);
        let mut data =
            json!({"members": [{"value": "bulkId:qwerty"}, {"value": "bulkId:other"}], "n": 1});
        substitute(&mut data, &resolved);
        assert_eq!(
            data,
            json!({"members": [{"value": "92b725cd"}, {"value": "bulkId:other"}], "n": 1})
        );
        assert_eq!(
            substitute_path("/Groups/bulkId:qwerty", &resolved),
            "/Groups/92b725cd"
        );
        assert_eq!(
            substitute_path("/Groups/bulkId:nope", &resolved),
            "/Groups/bulkId:nope"
        );
        let v = bulk_response(vec![json!({"method": "POST", "status": "201"})]);
        assert_eq!(v["schemas"], json!([BULK_RESPONSE]));
        assert_eq!(v["Operations"][0]["status"], "201");
    }
}
