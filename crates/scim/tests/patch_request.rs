//! The PatchOp request message and PATCH path syntax (RFC 7644 §3.5.2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use scim::patch::{parse_request, OpKind, PatchPath};
use scim::schema::PATCH_OP;
use scim::ScimType;
use serde_json::{json, Value};

fn syntax_error(body: Value) -> String {
    let e = parse_request(body).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax), "{}", e.detail);
    e.detail.into_owned()
}

#[test]
fn parses_ops_in_any_case() {
    let ops = parse_request(json!({
        "SCHEMAS": ["URN:IETF:PARAMS:SCIM:API:MESSAGES:2.0:PATCHOP"],
        "operations": [
            {"op": "ADD", "path": "nickName", "value": "b"},
            {"OP": "Remove", "PATH": "title"},
            {"op": "replace", "value": {"active": false}},
            {"op": "Replace", "path": "title", "value": null}
        ]
    }))
    .unwrap();
    let kinds: Vec<OpKind> = ops.iter().map(|o| o.op).collect();
    assert_eq!(
        kinds,
        [
            OpKind::Add,
            OpKind::Remove,
            OpKind::Replace,
            OpKind::Replace
        ]
    );
    assert_eq!(ops[1].value, None);
    assert_eq!(ops[2].path, None);
    assert_eq!(ops[3].value, Some(Value::Null));
    assert_eq!(ops[0].path.as_ref().unwrap().to_string(), "nickName");
}

#[test]
fn request_shape_errors() {
    assert!(syntax_error(json!([])).contains("JSON object"));
    assert!(
        syntax_error(json!({"Operations": [{"op": "remove", "path": "x"}]})).contains(PATCH_OP)
    );
    assert!(syntax_error(json!({"schemas": ["urn:x"], "Operations": []})).contains(PATCH_OP));
    assert!(syntax_error(json!({"schemas": [PATCH_OP]})).contains("\"Operations\""));
    assert!(
        syntax_error(json!({"schemas": [PATCH_OP], "Operations": []})).contains("at least one")
    );
    assert!(syntax_error(json!({"schemas": [PATCH_OP], "Operations": {}})).contains("array"));
    let d =
        syntax_error(json!({"schemas": [PATCH_OP], "Operations": [{"op": "move", "path": "a"}]}));
    assert_eq!(
        d,
        "Operations[0]: \"op\" must be \"add\", \"remove\" or \"replace\", got \"move\""
    );
    let d = syntax_error(json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "remove", "path": "a"}, {"op": "add", "path": "title"}]}));
    assert_eq!(d, "Operations[1]: \"add\" needs a \"value\"");
    syntax_error(
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "title", "value": null}]}),
    );
    syntax_error(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": null}]}));
    syntax_error(json!({"schemas": [PATCH_OP], "Operations": [{"path": "title"}]}));
    syntax_error(json!({"schemas": [PATCH_OP], "Operations": ["add"]}));
}

#[test]
fn bad_paths_are_invalid_path() {
    for path in [
        json!("emails[type eq \"work\""),
        json!("a b"),
        json!(7),
        json!(""),
    ] {
        let e = parse_request(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": path, "value": "x"}]}))
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{path}");
        assert!(e.detail.starts_with("Operations[0]: "), "{}", e.detail);
    }
    let e = PatchPath::parse("emails[type eq work]").unwrap_err();
    assert!(e.detail.contains("found 'work'"), "{}", e.detail);
}

#[test]
fn rfc_paths_parse() {
    for p in [
        "members",
        "name.familyName",
        "addresses[type eq \"work\"]",
        "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]",
        "members[value eq \"2819c223-7f76-453a-919d-413861904646\"].displayName",
        "emails[type eq \"work\" and value ew \"example.com\"]",
        "addresses[type eq \"work\"].streetAddress",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq \"work\"].value",
    ] {
        let parsed: PatchPath = p.parse().unwrap();
        assert_eq!(parsed.to_string(), p);
    }
}

/// Attribute names; the `x` prefix keeps clear of the keywords `and`, `or` and `not`.
fn name() -> impl Strategy<Value = String> {
    "x[a-zA-Z0-9_-]{0,8}"
}

proptest! {
    #[test]
    fn path_display_round_trips(
        attr in name(),
        sub in proptest::option::of(name()),
        filter_attr in name(),
        literal in "[ -~]{0,12}",
        with_filter in any::<bool>(),
        urn in proptest::option::of(Just("urn:ietf:params:scim:schemas:core:2.0:User")),
    ) {
        let prefix = urn.map(|u| format!("{u}:")).unwrap_or_default();
        let text = if with_filter {
            let lit = Value::String(literal).to_string();
            let sub = sub.map(|s| format!(".{s}")).unwrap_or_default();
            format!("{prefix}{attr}[{filter_attr} eq {lit}]{sub}")
        } else {
            let sub = sub.map(|s| format!(".{s}")).unwrap_or_default();
            format!("{prefix}{attr}{sub}")
        };
        let p = PatchPath::parse(&text).unwrap();
        prop_assert_eq!(p.to_string(), text.clone());
        prop_assert_eq!(PatchPath::parse(&p.to_string()).unwrap(), p);
    }
}
