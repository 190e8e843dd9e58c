//! PATCH (RFC 7644 §3.5.2): every example of §3.5.2.1–3, plus the semantics around them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use scim::patch::{self, MemberOp, OpKind, PatchOp, PatchOutcome, PatchPath};
use scim::resource::{validate, MemberRef};
use scim::schema::{Mutability, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, PATCH_OP, USER_SCHEMA};
use scim::{Error, Registry, ResourceKind, ScimType};
use serde_json::{json, Value};

const BJENSEN: &str = "2819c223-7f76-453a-919d-413861904646";
const JSMITH: &str = "08e1d05d-121c-4561-8b96-473d93df9210";

/// The stored form of the RFC 7643 §8.2 User (validated; no id/meta/groups).
fn user() -> Value {
    validate(
        ResourceKind::User,
        json!({
            "schemas": [USER_SCHEMA],
            "externalId": "701984",
            "userName": "bjensen@example.com",
            "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara"},
            "displayName": "Babs Jensen",
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "addresses": [
                {"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
                 "region": "CA", "postalCode": "91608", "country": "USA", "primary": true},
                {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood",
                 "region": "CA", "postalCode": "91608", "country": "USA"}
            ],
            "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
            "active": true
        }),
        Registry::builtin(),
    )
    .unwrap()
}

fn group() -> Value {
    json!({"schemas": [GROUP_SCHEMA], "displayName": "Tour Guides"})
}

fn body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn run(kind: ResourceKind, doc: &Value, ops: Value) -> Result<PatchOutcome, Error> {
    let ops = patch::parse_request(body(ops))?;
    patch::apply(kind, doc, &ops, Registry::builtin())
}

fn patch_user(ops: Value) -> Result<PatchOutcome, Error> {
    run(ResourceKind::User, &user(), ops)
}

fn patch_group(ops: Value) -> Result<PatchOutcome, Error> {
    run(ResourceKind::Group, &group(), ops)
}

fn member(id: &str) -> MemberRef {
    MemberRef {
        value: id.into(),
        kind: None,
    }
}

// ---- §3.5.2.1 add ----

#[test]
fn rfc_add_members() {
    let out = patch_group(json!([{
        "op": "add", "path": "members",
        "value": [{"display": "Babs Jensen", "$ref": format!("https://example.com/v2/Users/{BJENSEN}"), "value": BJENSEN}]
    }]))
    .unwrap();
    assert_eq!(out.members, vec![MemberOp::Add(vec![member(BJENSEN)])]);
    assert_eq!(out.doc, group(), "members never go into the document");
    assert!(out.changed);
}

#[test]
fn rfc_add_without_path() {
    let out = patch_user(json!([{
        "op": "add",
        "value": {"emails": [{"value": "babs@jensen.org", "type": "home"}], "nickname": "Babs"}
    }]))
    .unwrap();
    // The home email already exists: add de-duplicates identical values.
    assert_eq!(out.doc["emails"], user()["emails"]);
    assert_eq!(out.doc["nickName"], "Babs");
    assert!(out.changed);
    let out = patch_user(json!([{
        "op": "add", "value": {"emails": [{"value": "b@other.org", "type": "other"}]}
    }]))
    .unwrap();
    assert_eq!(out.doc["emails"].as_array().unwrap().len(), 3);
    assert_eq!(
        out.doc["emails"][2],
        json!({"value": "b@other.org", "type": "other"})
    );
}

#[test]
fn add_of_an_existing_value_is_a_no_op() {
    let out = patch_user(json!([
        {"op": "add", "path": "emails", "value": [{"value": "bjensen@example.com", "type": "work", "primary": true}]},
        {"op": "add", "path": "displayName", "value": "Babs Jensen"}
    ]))
    .unwrap();
    assert_eq!(out.doc, user());
    assert!(!out.changed);
}

#[test]
fn add_to_complex_merges_and_to_single_valued_replaces() {
    let out = patch_user(json!([
        {"op": "add", "path": "name", "value": {"middleName": "Jane", "GIVENNAME": "Babs"}},
        {"op": "add", "path": "displayName", "value": "B. Jensen"},
        {"op": "add", "path": "title", "value": "Tour Guide"}
    ]))
    .unwrap();
    assert_eq!(
        out.doc["name"],
        json!({"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Babs", "middleName": "Jane"})
    );
    assert_eq!(out.doc["displayName"], "B. Jensen");
    assert_eq!(out.doc["title"], "Tour Guide");
}

#[test]
fn add_sub_attribute_and_extension() {
    let out = patch_user(json!([
        {"op": "add", "path": "name.honorificPrefix", "value": "Ms."},
        {"op": "add", "path": format!("{ENTERPRISE_USER_SCHEMA}:manager.value"), "value": "m1"},
        {"op": "add", "path": "employeeNumber", "value": "42"}
    ]))
    .unwrap();
    assert_eq!(out.doc["name"]["honorificPrefix"], "Ms.");
    assert_eq!(
        out.doc[ENTERPRISE_USER_SCHEMA],
        json!({"manager": {"value": "m1"}, "employeeNumber": "42"})
    );
    assert_eq!(
        out.doc["schemas"],
        json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA])
    );
}

#[test]
fn add_primary_takes_it_from_the_others() {
    let out = patch_user(json!([{
        "op": "add", "path": "emails", "value": [{"value": "new@x.org", "type": "other", "primary": true}]
    }]))
    .unwrap();
    let emails = out.doc["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 3);
    assert!(emails[0].get("primary").is_none(), "{emails:?}");
    assert_eq!(emails[2]["primary"], true);
    // Setting primary through a filter and a sub-attribute does the same.
    let out = patch_user(json!([{
        "op": "replace", "path": "emails[type eq \"home\"].primary", "value": true
    }]))
    .unwrap();
    assert_eq!(out.doc["emails"][1]["primary"], true);
    assert!(out.doc["emails"][0].get("primary").is_none());
}

// ---- §3.5.2.2 remove ----

#[test]
fn rfc_remove_single_member() {
    let out =
        patch_group(json!([{"op": "remove", "path": format!("members[value eq \"{BJENSEN}\"]")}]))
            .unwrap();
    assert_eq!(out.members, vec![MemberOp::Remove(vec![BJENSEN.into()])]);
}

#[test]
fn rfc_remove_all_members() {
    let out = patch_group(json!([{"op": "remove", "path": "members"}])).unwrap();
    assert_eq!(out.members, vec![MemberOp::RemoveAll]);
}

#[test]
fn rfc_remove_multi_valued_with_filter() {
    let out = patch_user(json!([{
        "op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"
    }]))
    .unwrap();
    assert_eq!(
        out.doc["emails"],
        json!([{"value": "babs@jensen.org", "type": "home"}])
    );
}

#[test]
fn rfc_remove_then_add_member() {
    let out = patch_group(json!([
        {"op": "remove", "path": format!("members[value eq \"{BJENSEN}\"]")},
        {"op": "add", "path": "members", "value": [{"display": "James Smith", "$ref": format!("https://example.com/v2/Users/{JSMITH}"), "value": JSMITH}]}
    ]))
    .unwrap();
    assert_eq!(
        out.members,
        vec![
            MemberOp::Remove(vec![BJENSEN.into()]),
            MemberOp::Add(vec![member(JSMITH)])
        ]
    );
}

#[test]
fn rfc_remove_all_then_add_members() {
    let out = patch_group(json!([
        {"op": "remove", "path": "members"},
        {"op": "add", "path": "members", "value": [
            {"display": "Babs Jensen", "value": BJENSEN},
            {"display": "James Smith", "value": JSMITH, "type": "User"}
        ]}
    ]))
    .unwrap();
    assert_eq!(out.members.len(), 2);
    assert_eq!(out.members[0], MemberOp::RemoveAll);
    let MemberOp::Add(refs) = &out.members[1] else {
        panic!("{:?}", out.members)
    };
    assert_eq!(refs[0], member(BJENSEN));
    assert_eq!(refs[1].kind, Some(scim::resource::MemberKind::User));
}

#[test]
fn remove_single_valued_complex_sub_and_extension() {
    let mut doc = user();
    doc[ENTERPRISE_USER_SCHEMA] = json!({"department": "Tour", "manager": {"value": "m1"}});
    let out = run(
        ResourceKind::User,
        &doc,
        json!([
            {"op": "remove", "path": "name.formatted"},
            {"op": "remove", "path": "phoneNumbers"},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"},
            {"op": "remove", "path": "displayName"}
        ]),
    )
    .unwrap();
    assert_eq!(
        out.doc["name"],
        json!({"familyName": "Jensen", "givenName": "Barbara"})
    );
    assert!(out.doc.get("phoneNumbers").is_none());
    assert!(out.doc.get("displayName").is_none());
    assert_eq!(
        out.doc[ENTERPRISE_USER_SCHEMA],
        json!({"department": "Tour"})
    );
    // Removing the last extension attribute removes the extension object.
    let out = run(
        ResourceKind::User,
        &out.doc,
        json!([{"op": "remove", "path": "department"}]),
    )
    .unwrap();
    assert!(out.doc.get(ENTERPRISE_USER_SCHEMA).is_none());
}

#[test]
fn remove_of_an_absent_attribute_is_a_no_op() {
    let out = patch_user(json!([{"op": "remove", "path": "nickName"}])).unwrap();
    assert!(!out.changed);
    assert_eq!(out.doc, user());
}

#[test]
fn remove_filtered_sub_attribute() {
    let out = patch_user(json!([{"op": "remove", "path": "addresses[type eq \"work\"].region"}]))
        .unwrap();
    assert!(out.doc["addresses"][0].get("region").is_none());
    assert_eq!(out.doc["addresses"][1]["region"], "CA");
}

#[test]
fn remove_last_filtered_value_unassigns_the_attribute() {
    let out =
        patch_user(json!([{"op": "remove", "path": "phoneNumbers[type eq \"work\"]"}])).unwrap();
    assert!(out.doc.get("phoneNumbers").is_none());
}

// ---- §3.5.2.3 replace ----

#[test]
fn rfc_replace_members() {
    let out = patch_group(json!([{
        "op": "replace", "path": "members",
        "value": [{"display": "Babs Jensen", "value": BJENSEN}, {"display": "James Smith", "value": JSMITH}]
    }]))
    .unwrap();
    assert_eq!(
        out.members,
        vec![MemberOp::ReplaceAll(vec![member(BJENSEN), member(JSMITH)])]
    );
}

#[test]
fn rfc_replace_filtered_complex_value() {
    let out = patch_user(json!([{
        "op": "replace", "path": "addresses[type eq \"work\"]",
        "value": {
            "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood",
            "region": "CA", "postalCode": "91608", "country": "US",
            "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true
        }
    }]))
    .unwrap();
    assert_eq!(
        out.doc["addresses"][0]["streetAddress"],
        "911 Universal City Plaza"
    );
    assert_eq!(out.doc["addresses"][0]["country"], "US");
    assert_eq!(out.doc["addresses"][1]["type"], "home");
}

#[test]
fn rfc_replace_filtered_sub_attribute() {
    let out = patch_user(json!([{
        "op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"
    }]))
    .unwrap();
    assert_eq!(
        out.doc["addresses"][0]["streetAddress"],
        "1010 Broadway Ave"
    );
    assert_eq!(out.doc["addresses"][0]["locality"], "Hollywood");
    let out = patch_user(json!([{
        "op": "replace", "path": "emails[type eq \"work\"].value", "value": "babs@work.example"
    }]))
    .unwrap();
    assert_eq!(
        out.doc["emails"][0],
        json!({"value": "babs@work.example", "type": "work", "primary": true})
    );
}

#[test]
fn rfc_replace_without_path() {
    let out = patch_user(json!([{
        "op": "replace",
        "value": {
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "nickname": "Babs"
        }
    }]))
    .unwrap();
    assert_eq!(out.doc["emails"], user()["emails"]);
    assert_eq!(out.doc["nickName"], "Babs");
    let out =
        patch_user(json!([{"op": "replace", "value": {"emails": [{"value": "only@x.org"}]}}]))
            .unwrap();
    assert_eq!(out.doc["emails"], json!([{"value": "only@x.org"}]));
}

#[test]
fn replace_name_sub_attribute_and_complex_merge() {
    let out = patch_user(json!([{"op": "replace", "path": "name.familyName", "value": "Smith"}]))
        .unwrap();
    assert_eq!(out.doc["name"]["familyName"], "Smith");
    assert_eq!(out.doc["name"]["givenName"], "Barbara");
    // §3.5.2.3: sub-attributes not given are left unchanged.
    let out =
        patch_user(json!([{"op": "replace", "path": "name", "value": {"givenName": "Babs"}}]))
            .unwrap();
    assert_eq!(
        out.doc["name"],
        json!({"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Babs"})
    );
}

#[test]
fn replace_of_an_absent_attribute_adds_it() {
    let out = patch_user(json!([
        {"op": "replace", "path": "title", "value": "Guide"},
        {"op": "replace", "path": "ims", "value": [{"value": "babs", "type": "aim"}]}
    ]))
    .unwrap();
    assert_eq!(out.doc["title"], "Guide");
    assert_eq!(out.doc["ims"], json!([{"value": "babs", "type": "aim"}]));
}

#[test]
fn replace_with_null_removes() {
    let out = patch_user(json!([{"op": "replace", "path": "displayName", "value": null}])).unwrap();
    assert!(out.doc.get("displayName").is_none());
}

// ---- errors ----

fn err(ops: Value) -> Error {
    patch_user(ops).unwrap_err()
}

#[test]
fn no_target_for_unmatched_filters_and_pathless_remove() {
    for ops in [
        json!([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": "x@y"}]),
        json!([{"op": "replace", "path": "emails[type eq \"other\"]", "value": {"value": "x@y"}}]),
        json!([{"op": "remove", "path": "emails[type eq \"other\"]"}]),
        json!([{"op": "remove", "path": "ims[type eq \"aim\"].value"}]),
        json!([{"op": "remove"}]),
    ] {
        let e = err(ops.clone());
        assert_eq!(
            (e.status, e.scim_type),
            (400, Some(ScimType::NoTarget)),
            "{ops}: {}",
            e.detail
        );
    }
    let e =
        err(json!([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": "x"}]));
    assert_eq!(
        e.detail,
        "Operations[0]: no value of 'emails' matches 'emails[type eq \"other\"].value'"
    );
}

#[test]
fn read_only_paths_are_mutability_errors() {
    for (path, name) in [
        ("id", "id"),
        ("meta.lastModified", "meta.lastModified"),
        ("groups", "groups"),
        ("META", "META"),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
        ),
    ] {
        for op in ["add", "replace", "remove"] {
            let e = err(json!([{"op": op, "path": path, "value": "x"}]));
            assert_eq!(e.scim_type, Some(ScimType::Mutability), "{op} {path}");
            assert_eq!(
                e.detail,
                format!("Operations[0]: attribute '{name}' is readOnly")
            );
        }
    }
}

#[test]
fn removing_a_required_attribute_is_refused() {
    let e = err(json!([{"op": "remove", "path": "userName"}]));
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    assert!(e.detail.contains("'userName' is required"), "{}", e.detail);
    let e = run(
        ResourceKind::Group,
        &group(),
        json!([{"op": "remove", "path": "displayName"}]),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    // Emptying it another way fails validation like a POST would.
    let e = err(json!([{"op": "replace", "path": "userName", "value": "  "}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    assert!(e.detail.starts_with("userName is required"), "{}", e.detail);
}

#[test]
fn unknown_paths_are_invalid_path() {
    for path in [
        "nope",
        "name.nope",
        "emails[type eq \"work\"].nope",
        "displayName[value pr]",
    ] {
        let e = err(json!([{"op": "replace", "path": path, "value": "x"}]));
        assert_eq!(
            e.scim_type,
            Some(ScimType::InvalidPath),
            "{path}: {}",
            e.detail
        );
    }
    let e = err(json!([{"op": "replace", "path": "emails.value", "value": "x"}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    assert!(
        e.detail.contains("emails[type eq \\\"work\\\"].value")
            || e.detail.contains("emails[type eq \"work\"].value"),
        "{}",
        e.detail
    );
}

#[test]
fn type_errors_are_the_same_as_for_post() {
    let e = err(json!([{"op": "replace", "path": "active", "value": "yes"}]));
    assert_eq!(
        (e.scim_type, e.detail.as_ref()),
        (
            Some(ScimType::InvalidValue),
            "attribute 'active' must be a boolean"
        )
    );
    let e = err(
        json!([{"op": "add", "path": "emails", "value": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}]),
    );
    assert!(
        e.detail
            .contains("more than one value with \"primary\": true"),
        "{}",
        e.detail
    );
    let e = err(json!([{"op": "add", "value": {"nope": 1}}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    // password is writeOnly: PATCH may set it (the caller hashes it), never read it back
    let out =
        patch_user(json!([{"op": "replace", "path": "password", "value": "hunter2"}])).unwrap();
    assert_eq!(out.doc["password"], "hunter2");
}

#[test]
fn operations_are_atomic() {
    let doc = user();
    let before = doc.clone();
    let ops = patch::parse_request(body(json!([
        {"op": "replace", "path": "displayName", "value": "First"},
        {"op": "add", "path": "emails", "value": [{"value": "x@y.org"}]},
        {"op": "replace", "path": "emails[type eq \"fax\"].value", "value": "z"}
    ])))
    .unwrap();
    let e = patch::apply(ResourceKind::User, &doc, &ops, Registry::builtin()).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    assert!(e.detail.starts_with("Operations[2]: "), "{}", e.detail);
    assert_eq!(doc, before);
    // Member operations are not returned when a later operation fails.
    let e = patch_group(json!([
        {"op": "add", "path": "members", "value": [{"value": BJENSEN}]},
        {"op": "replace", "path": "displayName", "value": 7}
    ]))
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn immutable_attributes_can_be_set_once() {
    // The built-in schemas have no immutable User attribute: make `nickName` one.
    let mut schemas = Registry::builtin().schemas().to_vec();
    let user_schema = schemas.iter_mut().find(|s| s.id == USER_SCHEMA).unwrap();
    let nick = user_schema
        .attributes
        .iter_mut()
        .find(|a| a.name == "nickName")
        .unwrap();
    nick.mutability = Mutability::Immutable;
    let reg = Registry::new(schemas);
    let apply = |doc: &Value, ops: Value| {
        patch::apply(
            ResourceKind::User,
            doc,
            &patch::parse_request(body(ops)).unwrap(),
            &reg,
        )
    };
    let out = apply(
        &user(),
        json!([{"op": "add", "path": "nickName", "value": "Babs"}]),
    )
    .unwrap();
    assert_eq!(out.doc["nickName"], "Babs");
    let same = apply(
        &out.doc,
        json!([{"op": "replace", "path": "nickName", "value": "Babs"}]),
    )
    .unwrap();
    assert!(!same.changed);
    for ops in [
        json!([{"op": "replace", "path": "nickName", "value": "B"}]),
        json!([{"op": "remove", "path": "nickName"}]),
        json!([{"op": "replace", "value": {"nickName": "B"}}]),
    ] {
        let e = apply(&out.doc, ops).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        assert_eq!(
            e.detail,
            "attribute 'nickName' is immutable: it cannot be changed once set"
        );
    }
}

#[test]
fn member_filters_other_than_value_eq_are_refused() {
    for path in [
        "members[type eq \"User\"]",
        "members[value co \"28\"]",
        "members[value eq \"a\" or value eq \"b\"]",
    ] {
        let e = patch_group(json!([{"op": "remove", "path": path}])).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{path}");
        assert_eq!(
            e.detail,
            "Operations[0]: only members[value eq \"…\"] is supported"
        );
    }
    let e = patch_group(
        json!([{"op": "replace", "path": "members[value eq \"a\"]", "value": {"value": "b"}}]),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = patch_group(json!([{"op": "add", "path": "members", "value": [{"display": "no id"}]}]))
        .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn group_members_in_a_no_path_map_and_other_attributes_together() {
    let out = patch_group(json!([
        {"op": "replace", "value": {"displayName": "Guides", "members": [{"value": BJENSEN}]}},
        {"op": "add", "value": {"members": [{"value": JSMITH}]}},
        {"op": "replace", "path": "members", "value": []}
    ]))
    .unwrap();
    assert_eq!(out.doc["displayName"], "Guides");
    assert!(out.doc.get("members").is_none());
    assert_eq!(
        out.members,
        vec![
            MemberOp::ReplaceAll(vec![member(BJENSEN)]),
            MemberOp::Add(vec![member(JSMITH)]),
            MemberOp::ReplaceAll(vec![])
        ]
    );
}

#[test]
fn patch_ops_can_be_built_directly() {
    let ops = vec![PatchOp {
        op: OpKind::Replace,
        path: Some("name.givenName".parse::<PatchPath>().unwrap()),
        value: Some(json!("Babs")),
    }];
    let out = patch::apply(ResourceKind::User, &user(), &ops, Registry::builtin()).unwrap();
    assert_eq!(out.doc["name"]["givenName"], "Babs");
    let e = patch::apply(ResourceKind::User, &json!([]), &ops, Registry::builtin()).unwrap_err();
    assert_eq!(e.status, 500);
}
