//! PATCH requests as Microsoft Entra ID and Okta send them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use scim::patch::{self, MemberOp, PatchOutcome};
use scim::resource::{validate, MemberRef};
use scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, PATCH_OP, USER_SCHEMA};
use scim::{Error, Registry, ResourceKind, ScimType};
use serde_json::{json, Value};

fn user() -> Value {
    validate(
        ResourceKind::User,
        json!({
            "schemas": [USER_SCHEMA],
            "userName": "Test_User_ab6490ee@contoso.com",
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "name": {"givenName": "Test", "familyName": "User"},
            "active": true,
            "emails": [{"value": "Test_User_ab6490ee@contoso.com", "type": "work", "primary": true}]
        }),
        Registry::builtin(),
    )
    .unwrap()
}

fn group() -> Value {
    json!({"schemas": [GROUP_SCHEMA], "displayName": "Group1DisplayName", "externalId": "60f1bb27"})
}

fn apply(kind: ResourceKind, doc: &Value, body: Value) -> Result<PatchOutcome, Error> {
    let ops = patch::parse_request(body)?;
    patch::apply(kind, doc, &ops, Registry::builtin())
}

fn ops(list: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": list})
}

#[test]
fn entra_combined_request_parses() {
    let body = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
        {"op":"Replace","path":"active","value":"False"},
        {"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Sales"},
        {"op":"Replace","path":"emails[type eq \"work\"].value","value":"x@y.com"},
        {"op":"Remove","path":"members","value":[{"value":"abc"}]}
    ]});
    assert_eq!(patch::parse_request(body).unwrap().len(), 4);
}

#[test]
fn entra_user_update() {
    let out = apply(
        ResourceKind::User,
        &user(),
        ops(json!([
            {"op":"Replace","path":"active","value":"False"},
            {"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Sales"},
            {"op":"Replace","path":"emails[type eq \"work\"].value","value":"x@y.com"}
        ])),
    )
    .unwrap();
    assert_eq!(out.doc["active"], false);
    assert_eq!(
        out.doc[ENTERPRISE_USER_SCHEMA],
        json!({"department": "Sales"})
    );
    assert_eq!(
        out.doc["emails"],
        json!([{"value": "x@y.com", "type": "work", "primary": true}])
    );
    assert_eq!(
        out.doc["schemas"],
        json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA])
    );
    assert!(out.changed);
}

#[test]
fn entra_group_remove_members_with_value_list() {
    let out = apply(
        ResourceKind::Group,
        &group(),
        ops(json!([
            {"op":"Remove","path":"members","value":[{"value":"abc"},{"value":"def"}]},
            {"op":"Add","path":"members","value":[{"value":"ghi"}]},
            {"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}
        ])),
    )
    .unwrap();
    assert_eq!(
        out.members,
        vec![
            MemberOp::Remove(vec!["abc".into(), "def".into()]),
            MemberOp::Add(vec![MemberRef {
                value: "ghi".into(),
                kind: None
            }])
        ]
    );
    assert_eq!(
        out.doc["displayName"],
        "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    );
}

#[test]
fn entra_no_path_replace_with_dotted_and_urn_keys() {
    let out = apply(
        ResourceKind::User,
        &user(),
        ops(json!([{"op":"Replace","value":{
            "name.givenName":"Barbara",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Tour",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value":"m1",
            "urn:ietf:params:scim:schemas:core:2.0:User:displayName":"Babs",
            "active":"True",
            "externalId":"e2"
        }}])),
    )
    .unwrap();
    assert_eq!(
        out.doc["name"],
        json!({"givenName": "Barbara", "familyName": "User"})
    );
    assert_eq!(
        out.doc[ENTERPRISE_USER_SCHEMA],
        json!({"department": "Tour", "manager": {"value": "m1"}})
    );
    assert_eq!(out.doc["displayName"], "Babs");
    assert_eq!(out.doc["active"], true);
    assert_eq!(out.doc["externalId"], "e2");
}

#[test]
fn entra_add_filtered_value_creates_it() {
    let out = apply(
        ResourceKind::User,
        &user(),
        ops(json!([
            {"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"555-1234"},
            {"op":"Add","path":"addresses[type eq \"work\"].formatted","value":"1 Main St"},
            {"op":"Add","path":"addresses[type eq \"work\"].locality","value":"Springfield"},
            {"op":"Add","path":"emails[type eq \"work\"].value","value":"new@contoso.com"}
        ])),
    )
    .unwrap();
    assert_eq!(
        out.doc["phoneNumbers"],
        json!([{"type": "mobile", "value": "555-1234"}])
    );
    assert_eq!(
        out.doc["addresses"],
        json!([{"type": "work", "formatted": "1 Main St", "locality": "Springfield"}])
    );
    // An existing match is updated rather than duplicated.
    assert_eq!(out.doc["emails"].as_array().unwrap().len(), 1);
    assert_eq!(out.doc["emails"][0]["value"], "new@contoso.com");
    // A filter that does not describe a value cannot create one.
    let e = apply(
        ResourceKind::User,
        &user(),
        ops(json!([{"op":"Add","path":"phoneNumbers[type co \"mob\"].value","value":"1"}])),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
}

#[test]
fn entra_manager_as_bare_id() {
    let out = apply(
        ResourceKind::User,
        &user(),
        ops(json!([{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"26118915"}])),
    )
    .unwrap();
    assert_eq!(
        out.doc[ENTERPRISE_USER_SCHEMA]["manager"],
        json!({"value": "26118915"})
    );
    let out = apply(
        ResourceKind::User,
        &out.doc,
        ops(json!([{"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}])),
    )
    .unwrap();
    assert!(out.doc.get(ENTERPRISE_USER_SCHEMA).is_none());
}

#[test]
fn okta_deactivate_with_id_in_the_map() {
    let out = apply(
        ResourceKind::User,
        &user(),
        ops(
            json!([{"op":"replace","value":{"id":"00u1f96ECLNVOKVMUSEA","active":false,
            "meta":{"resourceType":"User"},"groups":[{"value":"g"}]}}]),
        ),
    )
    .unwrap();
    assert_eq!(out.doc["active"], false);
    assert!(out.doc.get("id").is_none() && out.doc.get("meta").is_none());
    // The same map with a path naming id is an error.
    let e = apply(
        ResourceKind::User,
        &user(),
        ops(json!([{"op":"replace","path":"id","value":"x"}])),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
}

#[test]
fn okta_group_push() {
    let out = apply(
        ResourceKind::Group,
        &group(),
        ops(json!([
            {"op":"replace","value":{"id":"abf4dd94-a4c0-4f67-89c9-76b03340cb9b","displayName":"Test SCIMv2"}},
            {"op":"remove","path":"members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"]"},
            {"op":"add","path":"members","value":[{"value":"23a35c27-23d3-4c03-b4c5-6443c09e7173","display":"test.user@okta.local"}]}
        ])),
    )
    .unwrap();
    assert_eq!(out.doc["displayName"], "Test SCIMv2");
    assert_eq!(
        out.members,
        vec![
            MemberOp::Remove(vec!["89bb1940-b905-4575-9e7f-6f887cfb368e".into()]),
            MemberOp::Add(vec![MemberRef {
                value: "23a35c27-23d3-4c03-b4c5-6443c09e7173".into(),
                kind: None
            }])
        ]
    );
}

#[test]
fn simple_value_wrapped_in_an_object() {
    let out = apply(
        ResourceKind::User,
        &user(),
        ops(json!([
            {"op":"replace","path":"active","value":{"active":false}},
            {"op":"replace","path":"displayName","value":{"value":"Babs"}}
        ])),
    )
    .unwrap();
    assert_eq!(out.doc["active"], false);
    assert_eq!(out.doc["displayName"], "Babs");
}

#[test]
fn boolean_strings_in_filters_and_values() {
    let out = apply(
        ResourceKind::User,
        &user(),
        ops(json!([
            {"op":"Add","path":"emails","value":[{"value":"home@x.org","type":"home","primary":"True"}]},
            {"op":"Replace","path":"emails[primary eq true].type","value":"home"}
        ])),
    )
    .unwrap();
    assert_eq!(
        out.doc["emails"],
        json!([
            {"value": "Test_User_ab6490ee@contoso.com", "type": "work"},
            {"value": "home@x.org", "type": "home", "primary": true}
        ])
    );
}

#[test]
fn remove_listed_values_of_other_multi_valued_attributes() {
    let out = apply(
        ResourceKind::User,
        &user(),
        ops(json!([{"op":"remove","path":"emails","value":[{"VALUE":"test_user_AB6490EE@contoso.com"}]}])),
    )
    .unwrap();
    assert!(out.doc.get("emails").is_none());
    // Values that are not there are ignored.
    let out = apply(
        ResourceKind::User,
        &user(),
        ops(json!([{"op":"remove","path":"emails","value":[{"value":"other@x"}]}])),
    )
    .unwrap();
    assert!(!out.changed);
}

/// python-scim's scim2-tester sends a whole extension as the value of its URN path, with a
/// `schemas` key inside (RFC 7643 §3 defines `schemas` only at the top level): ignored.
#[test]
fn schemas_inside_an_extension_value_is_ignored() {
    let reg = Registry::builtin();
    let doc = validate(
        ResourceKind::User,
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x"}),
        reg,
    )
    .unwrap();
    let ops = patch::parse_request(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "value": {"schemas": ["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"], "department": "D"}}]
    }))
    .unwrap();
    let out = patch::apply(ResourceKind::User, &doc, &ops, reg).unwrap();
    assert_eq!(
        out.doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "D"
    );
}
