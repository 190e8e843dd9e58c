//! Fuzzing entry points: each takes arbitrary bytes, runs one input-facing part of the protocol
//! on them and **panics if a property is violated** (a panic, a stack overflow or an abort is
//! what a fuzzer reports). The same functions are called by the `cargo fuzz` targets in `fuzz/`
//! (run for minutes to hours, see `docs/SECURITY.md#fuzzing`) and by the regression test
//! `tests/fuzz_corpus.rs`, which replays the committed corpus and crash reproducers on every
//! `cargo test`.
//!
//! Properties checked beyond "does not panic":
//! - every error is a 4xx with the `scimType` the RFC names for that input (never a 500);
//! - what parses prints back ([`Display`](std::fmt::Display)) to text that parses to the same
//!   value (filters, PATCH paths);
//! - what validates validates again unchanged (validation is idempotent), and a PATCH result is
//!   itself a valid document.

use serde_json::{json, Value};

use crate::error::{Error, ScimType};
use crate::filter::{self, Filter};
use crate::limits::Limits;
use crate::messages::{bulk, SearchRequest};
use crate::patch::{self, PatchPath};
use crate::projection::{project, AttrSelection};
use crate::resource;
use crate::schema::{Registry, ResourceKind};

/// Inputs longer than this are cut: the limits refuse longer filters and bodies long before,
/// and short inputs keep the fuzzer fast.
pub const MAX_INPUT: usize = 64 * 1024;

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(&data[..data.len().min(MAX_INPUT)]).into_owned()
}

fn assert_client_error(e: &Error, allowed: &[ScimType], input: &str) {
    assert!(
        (400..500).contains(&e.status),
        "status {} for {input:?}: {}",
        e.status,
        e.detail
    );
    if let Some(t) = e.scim_type {
        assert!(
            allowed.contains(&t),
            "scimType {t} for {input:?}: {}",
            e.detail
        );
    }
}

/// A User with every kind of attribute, for evaluating filters and applying PATCHes.
pub fn sample_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "bjensen@example.com",
        "externalId": "701984",
        "name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen"},
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "title": "Tour Guide",
        "userType": "Employee",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
        "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza",
                       "locality": "Hollywood", "region": "CA", "postalCode": "91608",
                       "country": "USA", "primary": true}],
        "roles": [{"value": "guide", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        }
    })
}

/// A Group (members are rows in the store, so the document has none).
pub fn sample_group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Tour Guides",
        "externalId": "g-1"
    })
}

/// The filter parser: arbitrary text under the default limits and under tight ones.
///
/// A filter that parses prints to a filter that parses to the same tree (and prints the same),
/// and evaluates against a User and a Group without panicking; one that does not parse is
/// `400 invalidFilter`.
pub fn filter(data: &[u8]) {
    let input = text(data);
    let tight = filter::Limits {
        max_len: 256,
        max_depth: 4,
        max_nodes: 16,
    };
    for limits in [filter::Limits::default(), tight] {
        match filter::parse_limited(&input, limits) {
            Ok(f) => check_filter(&f, &input),
            Err(e) => assert_client_error(&e, &[ScimType::InvalidFilter], &input),
        }
    }
}

fn check_filter(f: &Filter, input: &str) {
    let printed = f.to_string();
    let again = match filter::parse(&printed) {
        Ok(g) => g,
        Err(e) => panic!("{input:?} printed as {printed:?}, which does not parse: {e}"),
    };
    assert_eq!(&again, f, "{input:?} printed as {printed:?}");
    assert_eq!(again.to_string(), printed, "printing is not stable");
    let reg = Registry::global();
    let _ = filter::eval(f, &sample_user(), ResourceKind::User, reg);
    let _ = filter::eval(f, &sample_group(), ResourceKind::Group, reg);
}

/// The PATCH path parser: a path that parses prints to a path that parses to the same value;
/// one that does not is `400 invalidPath` (or `invalidFilter` for its value filter).
pub fn patch_path(data: &[u8]) {
    let input = text(data);
    match PatchPath::parse(&input) {
        Ok(p) => {
            let printed = p.to_string();
            let again = match PatchPath::parse(&printed) {
                Ok(q) => q,
                Err(e) => panic!("{input:?} printed as {printed:?}, which does not parse: {e}"),
            };
            assert_eq!(again, p, "{input:?} printed as {printed:?}");
        }
        Err(e) => assert_client_error(
            &e,
            &[ScimType::InvalidPath, ScimType::InvalidFilter],
            &input,
        ),
    }
}

/// PATCH application: the bytes are a PatchOp request body (JSON); if it parses and is within
/// the limits, it is applied to a User and to a Group.
///
/// Application is atomic and validated: a result is a document that validates to itself, and
/// applying nothing to it changes nothing; a failure is a 4xx with a PATCH `scimType`.
pub fn patch_apply(data: &[u8]) {
    let Some(body) = json_value(data) else { return };
    let input = text(data);
    let ops = match patch::parse_request(body) {
        Ok(ops) => ops,
        Err(e) => {
            return assert_client_error(
                &e,
                &[
                    ScimType::InvalidSyntax,
                    ScimType::InvalidPath,
                    ScimType::InvalidFilter,
                    ScimType::InvalidValue,
                ],
                &input,
            )
        }
    };
    if Limits::default().check_patch(&ops).is_err() {
        return;
    }
    let reg = Registry::global();
    for (kind, doc) in [
        (ResourceKind::User, sample_user()),
        (ResourceKind::Group, sample_group()),
    ] {
        match patch::apply(kind, &doc, &ops, reg) {
            Ok(out) => {
                let again = match resource::validate(kind, out.doc.clone(), reg) {
                    Ok(d) => d,
                    Err(e) => panic!("PATCH {input:?} gave an invalid {kind:?}: {e}"),
                };
                assert_eq!(again, out.doc, "validation of a PATCH result is not stable");
                let noop = match patch::apply(kind, &out.doc, &[], reg) {
                    Ok(o) => o,
                    Err(e) => panic!("an empty PATCH of a PATCH result failed: {e}"),
                };
                assert_eq!(noop.doc, out.doc, "an empty PATCH changed the document");
                assert!(!noop.changed, "an empty PATCH reports a change");
                if kind == ResourceKind::User {
                    assert!(out.members.is_empty(), "member operations on a User");
                }
            }
            Err(e) => assert_client_error(
                &e,
                &[
                    ScimType::InvalidSyntax,
                    ScimType::InvalidPath,
                    ScimType::InvalidFilter,
                    ScimType::InvalidValue,
                    ScimType::NoTarget,
                    ScimType::Mutability,
                ],
                &input,
            ),
        }
    }
}

/// The SCIM JSON body pipeline, as the server runs it on POST, PUT, PATCH, `/Bulk` and
/// `.search` bodies: nesting check on the bytes, JSON parse, string-length check, then each
/// request parser and the resource validator.
///
/// Too deep is `invalidSyntax` before parsing; a validated resource validates again unchanged
/// and can be indexed and projected; every refusal is a 4xx.
pub fn body(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT)];
    let input = text(data);
    let limits = Limits::default();
    if let Err(e) = limits.check_json_depth(data) {
        assert_client_error(&e, &[ScimType::InvalidSyntax], &input);
        return;
    }
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Err(e) = limits.check_value_lengths(&value) {
        assert_client_error(&e, &[ScimType::InvalidValue], &input);
        return;
    }
    let reg = Registry::global();
    let any = [
        ScimType::InvalidSyntax,
        ScimType::InvalidValue,
        ScimType::InvalidPath,
        ScimType::InvalidFilter,
        ScimType::Mutability,
        ScimType::TooMany,
        ScimType::InvalidCount,
        ScimType::Uniqueness,
    ];
    for kind in [ResourceKind::User, ResourceKind::Group] {
        match resource::validate(kind, value.clone(), reg) {
            Ok(doc) => {
                let again = match resource::validate(kind, doc.clone(), reg) {
                    Ok(d) => d,
                    Err(e) => panic!("{input:?} validated as {doc}, which does not validate: {e}"),
                };
                assert_eq!(again, doc, "validation of {input:?} is not stable");
                let _ = resource::index_doc(kind, &doc, reg);
                match kind {
                    ResourceKind::User => {
                        let _ = resource::user_projection(&doc);
                    }
                    ResourceKind::Group => {
                        let _ = resource::group_projection(&doc);
                        if let Err(e) = resource::group_members(&value) {
                            assert_client_error(&e, &any, &input);
                        }
                    }
                }
                let _ = project(&doc, &AttrSelection::all(kind, reg), kind, reg);
            }
            Err(e) => assert_client_error(&e, &any, &input),
        }
    }
    if let Err(e) = patch::parse_request(value.clone()) {
        assert_client_error(&e, &any, &input);
    }
    match bulk::BulkRequest::parse(value.clone()) {
        Ok(req) => {
            if let Err(e) = bulk::resolve_references(&req.operations) {
                assert!(e.status == 409 || (400..500).contains(&e.status));
            }
        }
        Err(e) => assert_client_error(&e, &any, &input),
    }
    if let Err(e) = SearchRequest::parse(value) {
        assert_client_error(&e, &any, &input);
    }
}

fn json_value(data: &[u8]) -> Option<Value> {
    let data = &data[..data.len().min(MAX_INPUT)];
    Limits::default().check_json_depth(data).ok()?;
    serde_json::from_slice(data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_valid() {
        let reg = Registry::global();
        let u = resource::validate(ResourceKind::User, sample_user(), reg).unwrap();
        assert_eq!(u, sample_user());
        let g = resource::validate(ResourceKind::Group, sample_group(), reg).unwrap();
        assert_eq!(g, sample_group());
    }

    #[test]
    #[should_panic(expected = "status 500")]
    fn a_server_error_is_a_finding() {
        assert_client_error(&Error::new(500, None, "boom"), &[], "x");
    }

    #[test]
    #[should_panic(expected = "scimType")]
    fn a_wrong_scim_type_is_a_finding() {
        assert_client_error(&Error::invalid_value("x"), &[ScimType::InvalidFilter], "x");
    }
}
