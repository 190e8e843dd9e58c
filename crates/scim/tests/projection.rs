//! Response projection: `attributes`, `excludedAttributes` and `returned`
//! (RFC 7644 §3.4.2.5, §3.9; RFC 7643 §2.4).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use scim::projection::{project, AttrSelection};
use scim::schema::{Returned, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use scim::{Registry, ResourceKind, ScimType};
use serde_json::{json, Value};

fn user() -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        "id": "2819c223",
        "externalId": "701984",
        "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z",
                 "lastModified": "2011-05-13T04:42:34Z", "version": "W/\"3\"",
                 "location": "https://example.com/v2/Users/2819c223"},
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs",
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                   {"value": "babs@jensen.org", "type": "home"}],
        "groups": [{"value": "g1", "display": "Tour Guides", "type": "direct"}],
        ENTERPRISE_USER_SCHEMA: {"employeeNumber": "701984", "department": "Tour",
                                 "manager": {"value": "m1", "displayName": "John"}}
    })
}

fn proj(attributes: Option<&str>, excluded: Option<&str>) -> Value {
    let reg = Registry::builtin();
    let sel = AttrSelection::parse(attributes, excluded, ResourceKind::User, reg).unwrap();
    project(&user(), &sel, ResourceKind::User, reg)
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn default_returns_everything_but_never() {
    let mut u = user();
    u["password"] = json!("secret");
    let reg = Registry::builtin();
    let sel = AttrSelection::all(ResourceKind::User, reg);
    let v = project(&u, &sel, ResourceKind::User, reg);
    assert_eq!(v, user());
    assert_eq!(proj(None, None), user());
    assert_eq!(proj(Some(" "), Some("")), user());
}

#[test]
fn attributes_keeps_named_plus_always() {
    let v = proj(Some("userName"), None);
    assert_eq!(
        v,
        json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "id": "2819c223", "userName": "bjensen"})
    );
    let v = proj(Some("name.givenName, EMAILS.value"), None);
    assert_eq!(v["name"], json!({"givenName": "Barbara"}));
    assert_eq!(
        v["emails"],
        json!([{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}])
    );
    assert_eq!(keys(&v), ["schemas", "id", "name", "emails"]);
    let v = proj(Some("meta.location,name,name.givenName"), None);
    assert_eq!(
        v["meta"],
        json!({"location": "https://example.com/v2/Users/2819c223"})
    );
    assert_eq!(
        v["name"],
        user()["name"],
        "the whole attribute wins over a sub-attribute"
    );
    let v = proj(
        Some("urn:ietf:params:scim:schemas:core:2.0:User:userName,id"),
        None,
    );
    assert_eq!(keys(&v), ["schemas", "id", "userName"]);
}

#[test]
fn extension_attributes_by_urn_path_or_whole() {
    let v = proj(
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
        None,
    );
    assert_eq!(v[ENTERPRISE_USER_SCHEMA], json!({"department": "Tour"}));
    assert_eq!(keys(&v), ["schemas", "id", ENTERPRISE_USER_SCHEMA]);
    let v = proj(
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"),
        None,
    );
    assert_eq!(v[ENTERPRISE_USER_SCHEMA], user()[ENTERPRISE_USER_SCHEMA]);
    let v = proj(
        Some(&format!("{ENTERPRISE_USER_SCHEMA}:manager.value")),
        None,
    );
    assert_eq!(
        v[ENTERPRISE_USER_SCHEMA],
        json!({"manager": {"value": "m1"}})
    );
    let v = proj(None, Some(ENTERPRISE_USER_SCHEMA));
    assert!(v.get(ENTERPRISE_USER_SCHEMA).is_none());
    let v = proj(
        None,
        Some(&format!(
            "{ENTERPRISE_USER_SCHEMA}:department,employeeNumber"
        )),
    );
    assert_eq!(
        v[ENTERPRISE_USER_SCHEMA],
        json!({"manager": {"value": "m1", "displayName": "John"}})
    );
}

#[test]
fn excluded_attributes() {
    let v = proj(None, Some("emails,meta, groups"));
    assert_eq!(
        keys(&v),
        [
            "schemas",
            "id",
            "externalId",
            "userName",
            "name",
            "displayName",
            ENTERPRISE_USER_SCHEMA
        ]
    );
    // always-returned attributes cannot be excluded; unknown names are ignored.
    let v = proj(None, Some("id,schemas,nope,name.nope"));
    assert_eq!(v, user());
    let v = proj(None, Some("name.familyName,emails.type"));
    assert_eq!(v["name"], json!({"givenName": "Barbara"}));
    assert_eq!(v["emails"][1], json!({"value": "babs@jensen.org"}));
    let v = proj(None, Some("name.familyName,name.givenName"));
    assert!(
        v.get("name").is_none(),
        "an attribute left empty is dropped"
    );
}

#[test]
fn attributes_wins_over_excluded() {
    assert_eq!(
        proj(Some("userName"), Some("userName")),
        proj(Some("userName"), None)
    );
}

#[test]
fn unknown_names_in_attributes_are_invalid_value() {
    for bad in ["nope", "name.nope", "members", "a b", "urn:example:Foo:bar"] {
        let e = AttrSelection::parse(Some(bad), None, ResourceKind::User, Registry::builtin())
            .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{bad}");
    }
    let e = AttrSelection::parse(
        Some("userName,nope"),
        None,
        ResourceKind::User,
        Registry::builtin(),
    )
    .unwrap_err();
    assert_eq!(
        e.detail,
        "'attributes' names 'nope', which is not an attribute of User"
    );
}

#[test]
fn wants_tells_the_server_what_to_load() {
    let reg = Registry::builtin();
    let g = ResourceKind::Group;
    let parse = |a: Option<&str>, e: Option<&str>| AttrSelection::parse(a, e, g, reg).unwrap();
    assert!(AttrSelection::all(g, reg).wants("members"));
    assert!(!parse(Some("displayName"), None).wants("members"));
    assert!(parse(Some("members.value"), None).wants("MEMBERS"));
    assert!(!parse(None, Some("members")).wants("members"));
    assert!(parse(None, Some("members.display")).wants("members"));
    assert!(parse(Some("displayName"), None).wants("id"));
    let u = ResourceKind::User;
    let sel = AttrSelection::parse(
        Some(&format!("{ENTERPRISE_USER_SCHEMA}:department")),
        None,
        u,
        reg,
    )
    .unwrap();
    assert!(sel.wants(ENTERPRISE_USER_SCHEMA));
    assert!(!sel.wants("groups"));
    assert!(!AttrSelection::all(u, reg).wants("password"));
    assert!(AttrSelection::all(u, reg).wants("groups"));
}

#[test]
fn group_projection() {
    let reg = Registry::builtin();
    let g = json!({"schemas": [GROUP_SCHEMA], "id": "e9e3", "displayName": "Tour Guides",
                   "members": [{"value": "u1", "display": "Babs", "$ref": "https://x/Users/u1", "type": "User"}],
                   "meta": {"resourceType": "Group"}});
    let sel = AttrSelection::parse(Some("members.value"), None, ResourceKind::Group, reg).unwrap();
    assert_eq!(
        project(&g, &sel, ResourceKind::Group, reg),
        json!({"schemas": [GROUP_SCHEMA], "id": "e9e3", "members": [{"value": "u1"}]})
    );
    let sel = AttrSelection::parse(None, Some("members"), ResourceKind::Group, reg).unwrap();
    assert!(project(&g, &sel, ResourceKind::Group, reg)
        .get("members")
        .is_none());
}

#[test]
fn returned_request_and_never_from_the_schema() {
    // Make `nickName` returned=request and `name.middleName` returned=never.
    let mut schemas = Registry::builtin().schemas().to_vec();
    let user_schema = schemas.iter_mut().find(|s| s.id == USER_SCHEMA).unwrap();
    for a in user_schema.attributes.iter_mut() {
        if a.name == "nickName" {
            a.returned = Returned::Request;
        }
        if a.name == "name" {
            for s in a
                .sub_attributes
                .iter_mut()
                .filter(|s| s.name == "middleName")
            {
                s.returned = Returned::Never;
            }
        }
    }
    let reg = Registry::new(schemas);
    let u = json!({"schemas": [USER_SCHEMA], "id": "1", "userName": "b", "nickName": "Babs",
                   "name": {"givenName": "B", "middleName": "J"}});
    let p = |a: Option<&str>, e: Option<&str>| {
        let sel = AttrSelection::parse(a, e, ResourceKind::User, &reg).unwrap();
        project(&u, &sel, ResourceKind::User, &reg)
    };
    assert!(p(None, None).get("nickName").is_none());
    assert_eq!(p(None, None)["name"], json!({"givenName": "B"}));
    assert!(p(None, Some("userName")).get("nickName").is_none());
    assert_eq!(p(Some("nickName"), None)["nickName"], "Babs");
    assert_eq!(p(Some("name"), None)["name"], json!({"givenName": "B"}));
    assert!(p(Some("name.middleName"), None).get("name").is_none());
    let sel = AttrSelection::all(ResourceKind::User, &reg);
    assert!(!sel.wants("nickName"));
    assert!(
        AttrSelection::parse(Some("nickName"), None, ResourceKind::User, &reg)
            .unwrap()
            .wants("nickName")
    );
}

#[test]
fn the_in_place_default_projection_matches_the_copying_one() {
    use scim::projection::project_owned;
    let reg = Registry::global();
    let sel = AttrSelection::parse(None, None, ResourceKind::User, reg).unwrap();
    let mut docs = vec![user()];
    let mut odd = user();
    odd["emails"] = json!([{"value": "a@example.com", "type": "work", "bogus": 1}, {"bogus": 2}]);
    odd["name"] = json!({"unknown": "x"});
    odd["password"] = json!("secret");
    odd["notInSchema"] = json!(true);
    odd["urn:roster:params:scim:schemas:extension:lifecycle:2.0:User"] =
        json!({"phase": "active", "startDate": "2027-01-01T00:00:00Z"});
    odd[ENTERPRISE_USER_SCHEMA]["nope"] = json!(1);
    docs.push(odd);
    for doc in docs {
        let copied = project(&doc, &sel, ResourceKind::User, reg);
        let owned = project_owned(doc.clone(), &sel, ResourceKind::User, reg);
        assert_eq!(owned, copied, "{doc}");
        assert_eq!(
            serde_json::to_string(&owned).unwrap(),
            serde_json::to_string(&copied).unwrap(),
            "same order"
        );
    }
}
