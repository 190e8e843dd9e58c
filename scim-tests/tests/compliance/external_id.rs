//! `externalId` never matches a resource it was not set on: not through a filter whose value
//! is another resource's `id` or an admin's `userName`, not through a resource path or a member
//! reference, not after PATCH or PUT, not by case or Unicode form, and an empty one is no
//! externalId at all. (Published SCIM servers have resolved `externalId` to internal accounts, e.g.
//! a numeric `externalId` taken as the id of the built-in admin.)

use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, enc, group_body, user_body, TestApp};
use serde_json::{json, Value};

/// A one-element id list.
fn one(id: &str) -> Vec<String> {
    vec![id.to_string()]
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn create_user_with(app: &TestApp, t: &str, user_name: &str, external_id: &str) -> String {
    let mut body = user_body(user_name);
    body["externalId"] = json!(external_id);
    let res = app.send(Method::POST, "/Users", t, &body).await;
    assert_eq!(res.status(), 201, "create {user_name}");
    let u: Value = res.json().await.unwrap();
    if external_id.is_empty() {
        // unassigned, like any attribute set to "" (RFC 7643 §2.5)
        assert!(u.get("externalId").is_none(), "{u}");
    } else {
        assert_eq!(u["externalId"], external_id, "stored as given");
    }
    id(&u)
}

/// Ids of the resources of `endpoint` matching `filter`, sorted (both via GET and `.search`).
async fn matching(app: &TestApp, t: &str, endpoint: &str, filter: &str) -> Vec<String> {
    let res = app
        .get(&format!("{endpoint}?filter={}&count=100", enc(filter)), t)
        .await;
    assert_eq!(res.status(), 200, "{filter}");
    let body: Value = res.json().await.unwrap();
    let mut ids: Vec<String> = body["Resources"]
        .as_array()
        .map(|a| a.iter().map(id).collect())
        .unwrap_or_default();
    ids.sort();
    let search = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": filter, "count": 100
    });
    let res = app
        .send(Method::POST, &format!("{endpoint}/.search"), t, &search)
        .await;
    let body: Value = res.json().await.unwrap();
    let mut searched: Vec<String> = body["Resources"]
        .as_array()
        .map(|a| a.iter().map(id).collect())
        .unwrap_or_default();
    searched.sort();
    assert_eq!(searched, ids, ".search and GET agree on {filter}");
    ids
}

async fn external_id_never_resolves_to_another_resource(app: TestApp) {
    let t = app.rw_token();
    let admin = id(&app.create_user(&t, "admin").await);
    let admins = {
        let res = app
            .send(
                Method::POST,
                "/Groups",
                &t,
                &group_body("Admins", &[&admin]),
            )
            .await;
        id(&res.json().await.unwrap())
    };
    // externalIds equal to the admin's id, its userName and the admin group's id
    let mallory = create_user_with(&app, &t, "mallory", &admin).await;
    let eve = create_user_with(&app, &t, "eve", "admin").await;
    let decoy = {
        let mut body = group_body("Decoy", &[]);
        body["externalId"] = json!(admins);
        let res = app.send(Method::POST, "/Groups", &t, &body).await;
        assert_eq!(res.status(), 201);
        id(&res.json().await.unwrap())
    };
    let plain = id(&app.create_user(&t, "plain").await);

    let f = |attr: &str, v: &str| format!("{attr} eq \"{v}\"");
    assert_eq!(
        matching(&app, &t, "/Users", &f("externalId", &admin)).await,
        one(&mallory)
    );
    assert_eq!(
        matching(&app, &t, "/Users", &f("id", &admin)).await,
        one(&admin)
    );
    assert_eq!(
        matching(&app, &t, "/Users", &f("externalId", "admin")).await,
        one(&eve)
    );
    assert_eq!(
        matching(&app, &t, "/Users", &f("userName", "admin")).await,
        one(&admin)
    );
    assert_eq!(
        matching(&app, &t, "/Groups", &f("externalId", &admins)).await,
        one(&decoy)
    );
    assert_eq!(
        matching(&app, &t, "/Groups", &f("id", &admins)).await,
        one(&admins)
    );
    // a qualified name and an `or` with a non-matching id change nothing
    let qualified = f(
        "urn:ietf:params:scim:schemas:core:2.0:User:externalId",
        &admin,
    );
    assert_eq!(
        matching(&app, &t, "/Users", &qualified).await,
        one(&mallory)
    );
    let either = format!("{} or {}", f("externalId", &admin), f("id", "nobody"));
    assert_eq!(matching(&app, &t, "/Users", &either).await, one(&mallory));
    // resources without an externalId match no externalId filter
    for v in ["", "admin", &admin, &plain] {
        let found = matching(&app, &t, "/Users", &f("externalId", v)).await;
        assert!(
            !found.contains(&plain) && !found.contains(&admin),
            "{v}: {found:?}"
        );
    }

    // resource paths and member references are ids, never externalIds or userNames
    for path in ["/Users/admin", "/Groups/admin"] {
        assert_scim_error(app.get(path, &t).await, 404, None).await;
    }
    let res = app
        .send(
            Method::PATCH,
            "/Users/admin",
            &t,
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "active", "value": false}]}),
        )
        .await;
    assert_scim_error(res, 404, None).await;
    let before = app.event_count();
    let res = app
        .send(
            Method::POST,
            "/Groups",
            &t,
            &group_body("Sneaky", &["admin"]),
        )
        .await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "DELETE", "path": "/Users/admin"}]
    });
    let out: Value = app
        .send(Method::POST, "/Bulk", &t, &bulk)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(out["Operations"][0]["status"], "404", "{out}");
    assert_eq!(app.event_count(), before, "nothing written");
    let a: Value = app
        .get(&format!("/Users/{admin}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["active"], true);
    assert!(a.get("externalId").is_none(), "{a}");
}

async fn external_id_writes_change_only_their_resource(app: TestApp) {
    let t = app.rw_token();
    let admin = app.create_user(&t, "admin").await;
    let admin_id = id(&admin);
    let mallory = id(&app.create_user(&t, "mallory").await);
    let eve = id(&app.create_user(&t, "eve").await);
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    // PATCH with a path, PATCH without one (also naming the readOnly id), PUT
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{mallory}"),
            &t,
            &patch(json!([{"op": "replace", "path": "externalId", "value": admin_id}])),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{eve}"),
            &t,
            &patch(json!([{"op": "replace", "value": {"externalId": admin_id, "id": admin_id}}])),
        )
        .await;
    assert_eq!(res.status(), 200);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["id"], eve.as_str(), "id is readOnly");
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{eve}"),
            &t,
            &patch(json!([{"op": "replace", "path": "id", "value": admin_id}])),
        )
        .await;
    assert_scim_error(res, 400, Some("mutability")).await;
    let mut put = user_body("mallory");
    put["externalId"] = json!("admin");
    put["id"] = json!(admin_id);
    let res = app
        .send(Method::PUT, &format!("/Users/{mallory}"), &t, &put)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["id"], mallory.as_str());

    // the admin is untouched, and filters find only the resources the values were set on
    let now: Value = app
        .get(&format!("/Users/{admin_id}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        now["meta"]["version"], admin["meta"]["version"],
        "admin unchanged"
    );
    assert!(now.get("externalId").is_none());
    let by = |v: &str| format!("externalId eq \"{v}\"");
    assert_eq!(
        matching(&app, &t, "/Users", &by(&admin_id)).await,
        one(&eve)
    );
    assert_eq!(
        matching(&app, &t, "/Users", &by("admin")).await,
        one(&mallory)
    );
    // removing it leaves nothing behind to match
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{eve}"),
            &t,
            &patch(json!([{"op": "remove", "path": "externalId"}])),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(matching(&app, &t, "/Users", &by(&admin_id))
        .await
        .is_empty());
    // and so does setting it to "" (unassigned, as Entra ID clears attributes)
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{mallory}"),
            &t,
            &patch(json!([{"op": "replace", "path": "externalId", "value": ""}])),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res
        .json::<Value>()
        .await
        .unwrap()
        .get("externalId")
        .is_none());
    assert!(matching(&app, &t, "/Users", &by("admin")).await.is_empty());
    assert!(matching(&app, &t, "/Users", &by("")).await.is_empty());
}

async fn external_id_matches_exactly(app: TestApp) {
    let t = app.rw_token();
    let ext = create_user_with(&app, &t, "ext", "Ext-1").await;
    let upper = create_user_with(&app, &t, "upper", "EXT-1").await;
    let wide = create_user_with(&app, &t, "wide", "Ｅｘｔ-1").await;
    let wild = create_user_with(&app, &t, "wild", "a%b_c\\d").await;
    let empty = create_user_with(&app, &t, "empty", "").await;
    let none = id(&app.create_user(&t, "none").await);
    let all = |ids: &[&String]| {
        let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        // caseExact: no case folding, no Unicode compatibility folding
        (r#"externalId eq "Ext-1""#, all(&[&ext])),
        (r#"externalId eq "ext-1""#, all(&[])),
        (r#"externalId eq "EXT-1""#, all(&[&upper])),
        (r#"externalId eq "Ｅｘｔ-1""#, all(&[&wide])),
        (r#"externalId sw "Ext""#, all(&[&ext])),
        // LIKE wildcards in a value are literal characters
        (r#"externalId co "%""#, all(&[&wild])),
        (r#"externalId sw "_""#, all(&[])),
        (r#"externalId co "b_c\\d""#, all(&[&wild])),
        (r#"externalId ew "%""#, all(&[])),
        // an empty externalId is no externalId: it matches nothing, not even `eq ""`
        (r#"externalId eq """#, all(&[])),
        (r#"externalId co """#, all(&[&ext, &upper, &wide, &wild])),
        (r#"externalId pr"#, all(&[&ext, &upper, &wide, &wild])),
        (r#"not (externalId pr)"#, all(&[&empty, &none])),
    ];
    for (filter, want) in cases {
        assert_eq!(matching(&app, &t, "/Users", filter).await, want, "{filter}");
    }
}

backend_tests!(
    external_id_never_resolves_to_another_resource,
    external_id_writes_change_only_their_resource,
    external_id_matches_exactly,
);
