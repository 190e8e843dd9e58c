//! RFC 7643 / RFC 7644 examples as fixtures, plus filter round-trip property tests.

use proptest::prelude::*;
use scim::filter::{self, CompValue, CompareOp, Filter};
use scim::resource::{group_members, user_projection, validate};
use scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use scim::{AttrPath, Registry, ResourceKind};
use serde_json::{json, Number, Value};

/// Every filter example of RFC 7644 §3.4.2.2.
const RFC7644_FILTERS: &[&str] = &[
    r#"userName eq "bjensen""#,
    r#"name.familyName co "O'Malley""#,
    r#"userName sw "J""#,
    r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
    r#"title pr"#,
    r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
    r#"title pr and userType eq "Employee""#,
    r#"title pr or userType eq "Intern""#,
    r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
    r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
    r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
    r#"userType eq "Employee" and (emails.type eq "work")"#,
    r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
    r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
];

/// RFC 7643 §8.2 full User representation, with the §8.3 enterprise extension (§8.3 shows
/// the enterprise attributes of the same user).
fn rfc7643_full_enterprise_user() -> Value {
    json!({
      "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
      "id": "2819c223-7f76-453a-919d-413861904646",
      "externalId": "701984",
      "userName": "bjensen@example.com",
      "name": {
        "formatted": "Ms. Barbara J Jensen, III",
        "familyName": "Jensen",
        "givenName": "Barbara",
        "middleName": "Jane",
        "honorificPrefix": "Ms.",
        "honorificSuffix": "III"
      },
      "displayName": "Babs Jensen",
      "nickName": "Babs",
      "profileUrl": "https://login.example.com/bjensen",
      "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": true},
        {"value": "babs@jensen.org", "type": "home"}
      ],
      "addresses": [
        {
          "type": "work",
          "streetAddress": "100 Universal City Plaza",
          "locality": "Hollywood",
          "region": "CA",
          "postalCode": "91608",
          "country": "USA",
          "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
          "primary": true
        },
        {
          "type": "home",
          "streetAddress": "456 Hollywood Blvd",
          "locality": "Hollywood",
          "region": "CA",
          "postalCode": "91608",
          "country": "USA",
          "formatted": "456 Hollywood Blvd\nHollywood, CA 91608 USA"
        }
      ],
      "phoneNumbers": [
        {"value": "555-555-5555", "type": "work"},
        {"value": "555-555-4444", "type": "mobile"}
      ],
      "ims": [{"value": "someaimhandle", "type": "aim"}],
      "photos": [
        {"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"},
        {"value": "https://photos.example.com/profilephoto/72930000000Ccne/T", "type": "thumbnail"}
      ],
      "userType": "Employee",
      "title": "Tour Guide",
      "preferredLanguage": "en-US",
      "locale": "en-US",
      "timezone": "America/Los_Angeles",
      "active": true,
      "password": "t1meMa$heen",
      "groups": [
        {"value": "e9e30dba-f08f-4109-8486-d5c6a331660a",
         "$ref": "https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a",
         "display": "Tour Guides"},
        {"value": "fc348aa8-3835-40eb-a20b-c726e15c55b5",
         "$ref": "https://example.com/v2/Groups/fc348aa8-3835-40eb-a20b-c726e15c55b5",
         "display": "Employees"},
        {"value": "71ddacd2-a8e7-49b8-a5db-ae50d0a5bfd7",
         "$ref": "https://example.com/v2/Groups/71ddacd2-a8e7-49b8-a5db-ae50d0a5bfd7",
         "display": "US Employees"}
      ],
      "x509Certificates": [
        {"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}
      ],
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
        "employeeNumber": "701984",
        "costCenter": "4130",
        "organization": "Universal Studios",
        "division": "Theme Park",
        "department": "Tour Operations",
        "manager": {
          "value": "26118915-6090-4610-87e4-49d8ca9f808d",
          "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d",
          "displayName": "John Smith"
        }
      },
      "meta": {
        "resourceType": "User",
        "created": "2010-01-23T04:56:22Z",
        "lastModified": "2011-05-13T04:42:34Z",
        "version": "W/\"3694e05e9dff591\"",
        "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
      }
    })
}

/// RFC 7643 §8.4 Group representation.
fn rfc7643_group() -> Value {
    json!({
      "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
      "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
      "displayName": "Tour Guides",
      "members": [
        {"value": "2819c223-7f76-453a-919d-413861904646",
         "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
         "display": "Babs Jensen"},
        {"value": "902c246b-6245-4190-8e05-00816be7344a",
         "$ref": "https://example.com/v2/Users/902c246b-6245-4190-8e05-00816be7344a",
         "display": "Mandy Pepperidge"}
      ],
      "meta": {
        "resourceType": "Group",
        "created": "2010-01-23T04:56:22Z",
        "lastModified": "2011-05-13T04:42:34Z",
        "version": "W/\"3694e05e9dff592\"",
        "location": "https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a"
      }
    })
}

#[test]
fn every_rfc7644_filter_example_parses_and_round_trips() {
    for text in RFC7644_FILTERS {
        let f = filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(filter::parse(&f.to_string()).unwrap(), f, "{text}");
        if !text.contains("(emails.type") {
            assert_eq!(
                f.to_string(),
                *text,
                "the RFC examples are already canonical"
            );
        }
    }
}

#[test]
fn rfc7644_examples_have_the_expected_shape() {
    let f = filter::parse(RFC7644_FILTERS[13]).unwrap();
    let Filter::And(left, right) = f else {
        panic!("expected and")
    };
    assert!(matches!(
        *left,
        Filter::Compare {
            op: CompareOp::Ne,
            ..
        }
    ));
    assert!(matches!(*right, Filter::Not(ref inner) if matches!(**inner, Filter::Or(..))));
    let f = filter::parse(RFC7644_FILTERS[16]).unwrap();
    let Filter::Or(a, b) = f else {
        panic!("expected or")
    };
    assert!(matches!(*a, Filter::ValuePath { ref path, .. } if path.attr == "emails"));
    assert!(matches!(*b, Filter::ValuePath { ref path, .. } if path.attr == "ims"));
    let Filter::Compare { path, .. } = filter::parse(RFC7644_FILTERS[3]).unwrap() else {
        panic!()
    };
    assert_eq!(path.uri.as_deref(), Some(USER_SCHEMA));
}

#[test]
fn rfc7644_examples_evaluate_against_the_rfc7643_user() {
    let reg = Registry::builtin();
    let mut doc = validate(
        ResourceKind::User,
        without_password(rfc7643_full_enterprise_user()),
        reg,
    )
    .unwrap();
    // As stored and served: the server adds `meta`.
    doc["meta"] = rfc7643_full_enterprise_user()["meta"].clone();
    let expected = [
        false, false, false, false, true, false, true, false, true, true, true, true, true, false,
        true, true, true,
    ];
    for (text, want) in RFC7644_FILTERS.iter().zip(expected) {
        let f = filter::parse(text).unwrap();
        assert_eq!(
            filter::eval(&f, &doc, ResourceKind::User, reg),
            want,
            "{text}"
        );
    }
}

fn without_password(mut v: Value) -> Value {
    v.as_object_mut().map(|o| o.remove("password"));
    v
}

#[test]
fn rfc7643_full_enterprise_user_validates() {
    let reg = Registry::builtin();
    // The RFC example carries a password: validation keeps it for the caller to hash.
    let with = validate(ResourceKind::User, rfc7643_full_enterprise_user(), reg).unwrap();
    assert_eq!(with["password"], "t1meMa$heen");

    let doc = validate(
        ResourceKind::User,
        without_password(rfc7643_full_enterprise_user()),
        reg,
    )
    .unwrap();
    let o = doc.as_object().unwrap();
    for gone in ["id", "meta", "groups", "password"] {
        assert!(!o.contains_key(gone), "{gone} must be dropped");
    }
    assert_eq!(doc["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]));
    assert_eq!(doc["externalId"], "701984");
    assert_eq!(
        doc["addresses"][0]["formatted"],
        "100 Universal City Plaza\nHollywood, CA 91608 USA"
    );
    assert_eq!(
        doc[ENTERPRISE_USER_SCHEMA]["manager"],
        json!({
            "value": "26118915-6090-4610-87e4-49d8ca9f808d",
            "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d"
        })
    );
    // Validation is idempotent: a stored document validates to itself.
    assert_eq!(validate(ResourceKind::User, doc.clone(), reg).unwrap(), doc);

    let p = user_projection(&doc);
    assert_eq!(p.user_name, "bjensen@example.com");
    assert_eq!(p.email.as_deref(), Some("bjensen@example.com"));
    assert_eq!(p.employee_number.as_deref(), Some("701984"));
    assert_eq!(p.department.as_deref(), Some("Tour Operations"));
    assert_eq!(
        p.manager_id.as_deref(),
        Some("26118915-6090-4610-87e4-49d8ca9f808d")
    );
    assert!(p.active);
}

#[test]
fn rfc7643_minimal_user_and_group_validate() {
    let reg = Registry::builtin();
    let minimal = json!({
      "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
      "id": "2819c223-7f76-453a-919d-413861904646",
      "userName": "bjensen@example.com",
      "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z"}
    });
    assert_eq!(
        validate(ResourceKind::User, minimal, reg).unwrap(),
        json!({"schemas": [USER_SCHEMA], "userName": "bjensen@example.com"})
    );
    let g = validate(ResourceKind::Group, rfc7643_group(), reg).unwrap();
    assert_eq!(g["schemas"], json!([GROUP_SCHEMA]));
    assert!(
        g["members"][0].get("display").is_none(),
        "member display is readOnly"
    );
    assert_eq!(group_members(&g).unwrap().len(), 2);
}

#[test]
fn schema_discovery_covers_all_builtin_schemas() {
    let reg = Registry::builtin();
    for s in reg.schemas() {
        let v = reg.schema_json(s, "https://roster.example/scim/v2");
        assert_eq!(v["id"], s.id.as_str());
        assert!(v["attributes"].as_array().is_some_and(|a| !a.is_empty()));
        for a in v["attributes"].as_array().unwrap() {
            for key in [
                "name",
                "type",
                "multiValued",
                "description",
                "required",
                "caseExact",
                "mutability",
                "returned",
                "uniqueness",
            ] {
                assert!(a.get(key).is_some(), "{} lacks {key}", a["name"]);
            }
        }
    }
}

// ---- property tests: Display then parse gives the same AST ----

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,8}".prop_filter("'not' is a keyword in attribute position", |s| {
        !s.eq_ignore_ascii_case("not")
    })
}

fn attr_path(allow_sub: bool) -> impl Strategy<Value = AttrPath> {
    let uri = prop::option::of(prop::sample::select(vec![
        USER_SCHEMA.to_owned(),
        ENTERPRISE_USER_SCHEMA.to_owned(),
        "urn:example:x".to_owned(),
    ]));
    let sub = if allow_sub {
        prop::option::of(name()).boxed()
    } else {
        Just(None).boxed()
    };
    (uri, name(), sub).prop_map(|(uri, attr, sub)| AttrPath { uri, attr, sub })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(CompValue::Number)),
        any::<String>().prop_map(CompValue::Str),
    ]
}

fn leaf(allow_sub: bool) -> impl Strategy<Value = Filter> {
    let op = prop::sample::select(CompareOp::ALL.to_vec());
    prop_oneof![
        attr_path(allow_sub).prop_map(Filter::Present),
        (attr_path(allow_sub), op, comp_value()).prop_map(|(path, op, value)| Filter::Compare {
            path,
            op,
            value
        }),
    ]
}

fn logic(base: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
    base.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::and(a, b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::or(a, b)),
            inner.prop_map(Filter::not),
        ]
    })
    .boxed()
}

fn any_filter() -> BoxedStrategy<Filter> {
    let value_path =
        (attr_path(false), logic(leaf(true).boxed())).prop_map(|(path, f)| Filter::ValuePath {
            path,
            filter: Box::new(f),
        });
    logic(prop_oneof![3 => leaf(true), 1 => value_path].boxed())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn display_then_parse_round_trips(f in any_filter()) {
        let text = f.to_string();
        let back = filter::parse(&text);
        prop_assert_eq!(back.as_ref(), Ok(&f), "{}", text);
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,64}") {
        let _ = filter::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_filter_like_input(
        parts in prop::collection::vec(prop::sample::select(vec![
            "(", ")", "[", "]", "not", "and", "or", "pr", "eq", "co", "\"x\"", "\"", "1", "true",
            "emails", "name.givenName", "urn:a:b:c", " ", "\\",
        ]), 0..40)
    ) {
        let _ = filter::parse(&parts.concat());
        let _ = filter::parse(&parts.join(" "));
    }
}
