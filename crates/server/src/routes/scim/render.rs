//! Stored resources -> SCIM JSON representations and HTTP responses.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use serde_json::{json, Map, Value};
use store::members::Member;
use store::StoredResource;

use crate::error::SCIM_JSON;

fn meta(kind: &str, r: &StoredResource, location: &str) -> Value {
    json!({
        "resourceType": kind,
        "created": scim::meta::format_datetime(r.created.and_utc()),
        "lastModified": scim::meta::format_datetime(r.modified.and_utc()),
        "location": location,
        "version": scim::meta::etag(r.version),
    })
}

/// `schemas`, `id`, then the document's attributes, in that order.
fn head(r: &StoredResource) -> Map<String, Value> {
    let mut out = Map::new();
    let doc = r.doc.as_object();
    if let Some(s) = doc.and_then(|d| d.get("schemas")) {
        out.insert("schemas".into(), s.clone());
    }
    out.insert("id".into(), Value::String(r.id.clone()));
    if let Some(d) = doc {
        for (k, v) in d {
            if k != "schemas" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// A group a user belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    /// Group id.
    pub id: String,
    /// Group displayName.
    pub display: String,
    /// Direct member (`type: direct`) or through a nested group (`indirect`).
    pub direct: bool,
}

/// A User as SCIM JSON. `groups` is `None` when the client did not ask for them.
pub fn user(r: &StoredResource, groups: Option<&[GroupRef]>, base: &str) -> Value {
    let mut out = head(r);
    if let Some(groups) = groups.filter(|g| !g.is_empty()) {
        let list: Vec<Value> = groups
            .iter()
            .map(|g| {
                json!({
                    "value": g.id,
                    "$ref": format!("{base}/Groups/{}", g.id),
                    "display": g.display,
                    "type": if g.direct { "direct" } else { "indirect" },
                })
            })
            .collect();
        out.insert("groups".into(), Value::Array(list));
    }
    let location = format!("{base}/Users/{}", r.id);
    out.insert("meta".into(), meta("User", r, &location));
    Value::Object(out)
}

/// A Group as SCIM JSON; `members` is `None` when the client excluded them.
pub fn group(r: &StoredResource, members: Option<&[Member]>, base: &str) -> Value {
    let mut out = head(r);
    if let Some(members) = members {
        let list: Vec<Value> = members
            .iter()
            .map(|m| {
                let endpoint = if m.member_type == "Group" {
                    "Groups"
                } else {
                    "Users"
                };
                json!({
                    "value": m.id,
                    "$ref": format!("{base}/{endpoint}/{}", m.id),
                    "type": m.member_type,
                })
            })
            .collect();
        out.insert("members".into(), Value::Array(list));
    }
    let location = format!("{base}/Groups/{}", r.id);
    out.insert("meta".into(), meta("Group", r, &location));
    Value::Object(out)
}

/// A resource response with `ETag` (and `Location` on 201).
pub fn resource(status: StatusCode, body: &Value, version: i64) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, SCIM_JSON))
        .insert_header((header::ETAG, scim::meta::etag(version)));
    if status == StatusCode::CREATED {
        if let Some(loc) = body.pointer("/meta/location").and_then(Value::as_str) {
            res.insert_header((header::LOCATION, loc.to_string()));
        }
    }
    res.body(body.to_string())
}

/// A plain SCIM JSON response.
pub fn ok(body: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, SCIM_JSON))
        .body(body.to_string())
}

/// `304 Not Modified` for a matching `If-None-Match`.
pub fn not_modified(version: i64) -> HttpResponse {
    HttpResponse::NotModified()
        .insert_header((header::ETAG, scim::meta::etag(version)))
        .finish()
}
