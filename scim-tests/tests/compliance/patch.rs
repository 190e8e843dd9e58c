//! PATCH (RFC 7644 §3.5.2) as Entra ID and Okta send it, projection, search, nested groups.

use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, group_body, user_body, TestApp};
use serde_json::{json, Value};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn ops(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

async fn entra_user_patch(app: TestApp) {
    let t = app.rw_token();
    let u = app.create_user(&t, "entra.user@example.com").await;
    let id = u["id"].as_str().unwrap();
    // exactly the shapes Entra ID's provisioning service sends
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            &t,
            &ops(json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "path": format!("{ENT}:department"), "value": "Sales"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"},
                {"op": "Add", "path": "title", "value": "Manager"},
                {"op": "Replace", "path": "name.familyName", "value": "Smith"}
            ])),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"], "W/\"2\"");
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["active"], false);
    assert_eq!(p[ENT]["department"], "Sales");
    assert_eq!(p["emails"][0]["value"], "new@example.com");
    assert_eq!(p["title"], "Manager");
    assert_eq!(p["name"]["familyName"], "Smith");
    assert_eq!(p["name"]["givenName"], "Test", "sub-attributes merge");
    // filters see the patched values (doc_norm updated)
    let l: Value = app
        .get("/Users?filter=title%20eq%20%22manager%22", &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);
    // Entra clears with an empty string; Okta sends the id in a no-path replace map
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            &t,
            &ops(json!([
                {"op": "Replace", "path": "title", "value": ""},
                {"op": "replace", "value": {"id": id, "active": true, "displayName": "Okta Name"}}
            ])),
        )
        .await;
    assert_eq!(res.status(), 200);
    let p: Value = res.json().await.unwrap();
    assert!(p.get("title").is_none());
    assert_eq!(p["active"], true);
    assert_eq!(p["displayName"], "Okta Name");
    // a no-op PATCH writes nothing
    let before = app.event_count();
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            &t,
            &ops(json!([{"op": "replace", "path": "active", "value": true}])),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.event_count(), before);
    // errors: readOnly, noTarget, bad body, stale If-Match; nothing changes
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            &t,
            &ops(json!([{"op": "replace", "path": "id", "value": "x"}])),
        )
        .await;
    assert_scim_error(res, 400, Some("mutability")).await;
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            &t,
            &ops(json!([{"op": "remove", "path": "emails[type eq \"home\"]"}])),
        )
        .await;
    assert_scim_error(res, 400, Some("noTarget")).await;
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            &t,
            &json!({"Operations": []}),
        )
        .await;
    assert_scim_error(res, 400, Some("invalidSyntax")).await;
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            &t,
            &ops(json!([{"op": "replace", "path": "active", "value": "maybe"}])),
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = app
        .req(Method::PATCH, &format!("/scim/v2/Users/{id}"), &t)
        .header("Content-Type", "application/scim+json")
        .header("If-Match", "W/\"1\"")
        .body(ops(json!([{"op": "replace", "path": "title", "value": "x"}])).to_string())
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 412, None).await;
    assert_eq!(app.event_count(), before);
    let res = app
        .send(
            Method::PATCH,
            "/Users/nope",
            &t,
            &ops(json!([{"op": "add", "path": "title", "value": "x"}])),
        )
        .await;
    assert_scim_error(res, 404, None).await;
}

async fn group_membership_patch(app: TestApp) {
    let t = app.rw_token();
    let a = app.create_user(&t, "pa").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = app.create_user(&t, "pb").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let g: Value = app
        .send(Method::POST, "/Groups", &t, &group_body("P", &[&a]))
        .await
        .json()
        .await
        .unwrap();
    let gid = g["id"].as_str().unwrap().to_string();
    // Entra: add members, remove with value list, remove by filter
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}?excludedAttributes=members"),
            &t,
            &ops(json!([{"op": "Add", "path": "members", "value": [{"value": b}]}])),
        )
        .await;
    assert_eq!(res.status(), 200);
    let p: Value = res.json().await.unwrap();
    assert!(p.get("members").is_none());
    let full: Value = app
        .get(&format!("/Groups/{gid}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(full["members"].as_array().unwrap().len(), 2);
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            &t,
            &ops(json!([{"op": "Remove", "path": "members", "value": [{"value": a}]}])),
        )
        .await;
    assert_eq!(res.status(), 200);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["members"].as_array().unwrap().len(), 1);
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            &t,
            &ops(json!([{"op": "remove", "path": format!("members[value eq \"{b}\"]")}])),
        )
        .await;
    assert_eq!(res.status(), 200);
    let p: Value = res.json().await.unwrap();
    assert!(p
        .get("members")
        .is_none_or(|m| m.as_array().unwrap().is_empty()));
    // Okta: replace displayName + members in one request
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            &t,
            &ops(json!([{"op": "replace", "value": {"id": gid, "displayName": "P2", "members": [{"value": a}, {"value": b}]}}])),
        )
        .await;
    assert_eq!(res.status(), 200);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["displayName"], "P2");
    assert_eq!(p["members"].as_array().unwrap().len(), 2);
    // unknown member: 400 and nothing changes
    let before = app.event_count();
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            &t,
            &ops(json!([{"op": "add", "path": "members", "value": [{"value": "ghost"}]}])),
        )
        .await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    assert_eq!(app.event_count(), before);
    // the patch event records the membership change
    let events = app
        .state
        .store
        .read(|c| store::events::for_resource(c, "Group", &gid))
        .unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.action, "patch");
    assert!(last.after.as_deref().unwrap().contains("membersAdded"));
}

async fn concurrent_member_patches_all_land(app: TestApp) {
    let t = app.rw_token();
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(
            app.create_user(&t, &format!("m{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let g: Value = app
        .send(Method::POST, "/Groups", &t, &group_body("Race", &[]))
        .await
        .json()
        .await
        .unwrap();
    let gid = g["id"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let client = app.client.clone();
        let url = format!(
            "{}/scim/v2/Groups/{gid}?excludedAttributes=members",
            app.addr
        );
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            client
                .patch(url)
                .bearer_auth(t)
                .header("Content-Type", "application/scim+json")
                .body(
                    ops(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]))
                        .to_string(),
                )
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let g: Value = app
        .get(&format!("/Groups/{gid}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(g["members"].as_array().unwrap().len(), 50, "no lost update");
    assert_eq!(g["meta"]["version"], "W/\"51\"");
}

async fn nested_groups_cycles_and_indirect_membership(app: TestApp) {
    let t = app.rw_token();
    let u = app.create_user(&t, "nested").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let inner: Value = app
        .send(Method::POST, "/Groups", &t, &group_body("Inner", &[&u]))
        .await
        .json()
        .await
        .unwrap();
    let inner_id = inner["id"].as_str().unwrap().to_string();
    let outer: Value = app
        .send(
            Method::POST,
            "/Groups",
            &t,
            &group_body("Outer", &[&inner_id]),
        )
        .await
        .json()
        .await
        .unwrap();
    let outer_id = outer["id"].as_str().unwrap().to_string();
    let top: Value = app
        .send(
            Method::POST,
            "/Groups",
            &t,
            &group_body("Top", &[&outer_id]),
        )
        .await
        .json()
        .await
        .unwrap();
    let top_id = top["id"].as_str().unwrap().to_string();
    let user: Value = app
        .get(&format!("/Users/{u}"), &t)
        .await
        .json()
        .await
        .unwrap();
    let mut groups: Vec<(String, String)> = user["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["display"].as_str().unwrap().to_string(),
                g["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        [
            ("Inner".into(), "direct".into()),
            ("Outer".into(), "indirect".into()),
            ("Top".into(), "indirect".into())
        ]
    );
    // cycles are refused: Inner cannot contain Top (Top contains Outer contains Inner)
    let before = app.event_count();
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{inner_id}"),
            &t,
            &ops(json!([{"op": "add", "path": "members", "value": [{"value": top_id}]}])),
        )
        .await;
    let err = assert_scim_error(res, 400, Some("invalidValue")).await;
    assert!(err["detail"].as_str().unwrap().contains("cycle"));
    let res = app
        .send(
            Method::PUT,
            &format!("/Groups/{inner_id}"),
            &t,
            &group_body("Inner", &[&u, &inner_id]),
        )
        .await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    assert_eq!(app.event_count(), before);
    // filter users by group
    let f = format!("groups[value eq \"{inner_id}\"]")
        .replace(' ', "%20")
        .replace('"', "%22")
        .replace('[', "%5B")
        .replace(']', "%5D");
    let l: Value = app
        .get(&format!("/Users?filter={f}"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 1);
}

async fn projection_and_search(app: TestApp) {
    let t = app.rw_token();
    let mut b = user_body("proj");
    b[ENT] = json!({"department": "R&D", "employeeNumber": "42"});
    b["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT]);
    let u: Value = app
        .send(Method::POST, "/Users?attributes=userName", &t, &b)
        .await
        .json()
        .await
        .unwrap();
    let id = u["id"].as_str().unwrap().to_string();
    assert_eq!(u["userName"], "proj");
    assert!(
        u.get("emails").is_none(),
        "POST response honours attributes"
    );
    let u: Value = app
        .get(
            &format!("/Users/{id}?attributes=name.givenName,{ENT}:department"),
            &t,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["id"], id.as_str(), "id is always returned");
    assert_eq!(u["name"], json!({"givenName": "Test"}));
    assert_eq!(u[ENT], json!({"department": "R&D"}));
    assert!(u.get("userName").is_none());
    let u: Value = app
        .get(&format!("/Users/{id}?excludedAttributes=emails,name"), &t)
        .await
        .json()
        .await
        .unwrap();
    assert!(u.get("emails").is_none() && u.get("name").is_none());
    assert_eq!(u["userName"], "proj");
    let res = app
        .get(&format!("/Users/{id}?attributes=shoeSize"), &t)
        .await;
    assert_scim_error(res, 400, Some("invalidValue")).await;

    app.send(
        Method::POST,
        "/Groups",
        &t,
        &group_body("projgroup", &[&id]),
    )
    .await;
    let search = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName sw \"pro\"",
        "attributes": ["userName"],
        "startIndex": 1,
        "count": 10
    });
    let res = app.send(Method::POST, "/Users/.search", &t, &search).await;
    assert_eq!(res.status(), 200);
    let l: Value = res.json().await.unwrap();
    assert_eq!(l["totalResults"], 1);
    assert!(l["Resources"][0].get("emails").is_none());
    // root search spans both types; userName does not apply to Groups
    let res = app.send(Method::POST, "/.search", &t, &search).await;
    let l: Value = res.json().await.unwrap();
    assert_eq!(l["totalResults"], 1);
    let both = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "meta.created gt \"2000-01-01T00:00:00Z\"", "count": 1, "startIndex": 2});
    let l: Value = app
        .send(Method::POST, "/.search", &t, &both)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l["totalResults"], 2);
    assert_eq!(l["Resources"][0]["meta"]["resourceType"], "Group");
    let res = app
        .send(Method::POST, "/Users/.search", &t, &json!({"filter": "x"}))
        .await;
    assert_eq!(res.status(), 400);
    // /Me and wrong methods on discovery endpoints
    assert_scim_error(app.get("/Me", &t).await, 501, None).await;
    let res = app
        .req(Method::POST, "/scim/v2/ServiceProviderConfig", &t)
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 405, None).await;
    let res = app
        .req(Method::DELETE, "/scim/v2/Schemas", &t)
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 405, None).await;
}

backend_tests!(
    entra_user_patch,
    group_membership_patch,
    concurrent_member_patches_all_land,
    nested_groups_cycles_and_indirect_membership,
    projection_and_search
);
