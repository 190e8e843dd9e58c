//! Protected groups (`ROSTER_PROTECTED_GROUPS`): changing their members through SCIM needs the
//! `admin` scope as well as `scim.write`, on every path (POST, PUT, PATCH, `/Bulk`, deleting the
//! group or one of its members), and for groups nested in them. A refused request is 403 and
//! changes nothing.

use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, group_body, TestApp};
use serde_json::{json, Value};

const WRITER: &[&str] = &["scim.read", "scim.write"];
const ADMIN: &[&str] = &["scim.read", "scim.write", "admin"];

fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

fn add_member(id: &str) -> Value {
    patch(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]))
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn create_group(app: &TestApp, t: &str, name: &str, members: &[&str]) -> String {
    let res = app
        .send(Method::POST, "/Groups", t, &group_body(name, members))
        .await;
    assert_eq!(res.status(), 201, "create group {name}");
    id(&res.json().await.unwrap())
}

/// (member ids sorted, version) of a group.
async fn state(app: &TestApp, t: &str, group: &str) -> (Vec<String>, String) {
    let res = app.get(&format!("/Groups/{group}"), t).await;
    assert_eq!(res.status(), 200);
    let g: Value = res.json().await.unwrap();
    let mut members: Vec<String> = g["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    members.sort();
    (members, g["meta"]["version"].as_str().unwrap().to_string())
}

/// Asserts a 403 whose detail says the `admin` scope is needed.
async fn assert_refused(res: reqwest::Response, what: &str) -> String {
    let body = assert_scim_error(res, 403, None).await;
    let detail = body["detail"].as_str().unwrap().to_string();
    assert!(
        detail.contains("'admin' scope") || detail.contains("admin"),
        "{what}: {detail}"
    );
    detail
}

async fn spawn_protecting(app: TestApp, entries: &[&str]) -> TestApp {
    let backend = app.backend;
    drop(app);
    let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
    TestApp::spawn_with(backend, move |a| a.protected_groups = entries)
        .await
        .unwrap()
}

async fn protected_group_members_change_only_with_admin(app: TestApp) {
    // configured by displayName, in another case than the group's
    let app = spawn_protecting(app, &["ADMINS", "Domain Admins"]).await;
    let w = app.token(WRITER);
    let a = app.token(ADMIN);
    let alice = id(&app.create_user(&w, "alice").await);
    let mallory = id(&app.create_user(&w, "mallory").await);
    let before = app.event_count();

    // POST of a protected group with members: 403, no group
    let res = app
        .send(
            Method::POST,
            "/Groups",
            &w,
            &group_body("Admins", &[&mallory]),
        )
        .await;
    assert_refused(res, "POST with members").await;
    let list: Value = app
        .get("/Groups?filter=displayName%20eq%20%22Admins%22", &w)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["totalResults"], 0, "the refused POST created nothing");
    assert_eq!(app.event_count(), before);

    let admins = create_group(&app, &a, "Admins", &[&alice]).await;
    let staff = create_group(&app, &w, "Staff", &[&mallory]).await;
    let protected_state = state(&app, &w, &admins).await;
    let before = app.event_count();

    // every way a writer could change the members is refused
    let path = format!("/Groups/{admins}");
    let attempts: Vec<(Method, Value, &str)> = vec![
        (Method::PATCH, add_member(&mallory), "PATCH add"),
        (
            Method::PATCH,
            patch(json!([{"op": "remove", "path": format!("members[value eq \"{alice}\"]")}])),
            "PATCH remove one",
        ),
        (
            Method::PATCH,
            patch(json!([{"op": "remove", "path": "members"}])),
            "PATCH remove all",
        ),
        (
            Method::PATCH,
            patch(json!([{"op": "replace", "path": "members", "value": [{"value": mallory}]}])),
            "PATCH replace",
        ),
        (
            Method::PATCH,
            patch(json!([{"op": "replace", "value": {"members": [{"value": mallory}]}}])),
            "PATCH no-path replace",
        ),
        (
            Method::PATCH,
            patch(json!([{"op": "replace", "path": "displayName", "value": "Admins (old)"}])),
            "PATCH rename",
        ),
        (
            Method::PUT,
            group_body("Admins", &[&alice, &mallory]),
            "PUT adding",
        ),
        (Method::PUT, group_body("Admins", &[]), "PUT emptying"),
        (
            Method::PUT,
            group_body("Not Admins", &[&alice]),
            "PUT rename",
        ),
    ];
    for (method, body, what) in &attempts {
        let res = app.send(method.clone(), &path, &w, body).await;
        assert_refused(res, what).await;
    }
    let res = app
        .req(Method::DELETE, &format!("/scim/v2{path}"), &w)
        .send()
        .await
        .unwrap();
    assert_refused(res, "DELETE group").await;
    // deleting a member changes the group's members too
    let res = app
        .req(Method::DELETE, &format!("/scim/v2/Users/{alice}"), &w)
        .send()
        .await
        .unwrap();
    let detail = assert_refused(res, "DELETE member").await;
    assert!(detail.contains("Admins"), "{detail}");
    // giving another group the protected name
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{staff}"),
            &w,
            &patch(json!([{"op": "replace", "path": "displayName", "value": "admins"}])),
        )
        .await;
    assert_refused(res, "rename to a protected name").await;
    assert_eq!(app.event_count(), before, "a refused request wrote nothing");
    assert_eq!(state(&app, &w, &admins).await, protected_state);
    assert_eq!(app.get(&format!("/Users/{alice}"), &w).await.status(), 200);

    // what does not change the members passes: re-sending a member, other attributes
    let res = app
        .send(Method::PATCH, &path, &w, &add_member(&alice))
        .await;
    assert_eq!(res.status(), 200, "re-adding an existing member");
    let mut same_members = group_body("Admins", &[&alice]);
    same_members["externalId"] = json!("adm-1");
    let res = app.send(Method::PUT, &path, &w, &same_members).await;
    assert_eq!(res.status(), 200, "PUT with the same members");
    assert_eq!(
        state(&app, &w, &admins).await.0,
        std::slice::from_ref(&alice)
    );
    // an unprotected group is not affected
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{staff}"),
            &w,
            &add_member(&alice),
        )
        .await;
    assert_eq!(res.status(), 200, "unprotected group");

    // `admin` alone is not enough (the route needs scim.write) ...
    let admin_only = app.token(&["admin"]);
    let res = app
        .send(Method::PATCH, &path, &admin_only, &add_member(&mallory))
        .await;
    assert_scim_error(res, 403, None).await;
    // ... `admin` with `scim.write` may
    let res = app
        .send(Method::PATCH, &path, &a, &add_member(&mallory))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(state(&app, &w, &admins).await.0.len(), 2);
    let res = app
        .send(
            Method::PATCH,
            &path,
            &a,
            &patch(json!([{"op": "remove", "path": format!("members[value eq \"{mallory}\"]")}])),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .req(Method::DELETE, &format!("/scim/v2/Users/{alice}"), &a)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .req(Method::DELETE, &format!("/scim/v2{path}"), &a)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

async fn groups_nested_in_a_protected_group_are_protected(app: TestApp) {
    let app = spawn_protecting(app, &["Admins"]).await;
    let w = app.token(WRITER);
    let a = app.token(ADMIN);
    let mallory = id(&app.create_user(&w, "mallory").await);
    let oncall = create_group(&app, &w, "Oncall", &[]).await;
    let ops = create_group(&app, &w, "Ops", &[&oncall]).await;
    let admins = create_group(&app, &a, "Admins", &[&ops]).await;
    let gang = create_group(&app, &w, "Gang", &[&mallory]).await;
    let before = app.event_count();

    // a member of Ops or Oncall is a member of Admins: adding one needs admin
    for (group, outer) in [(&ops, "Admins"), (&oncall, "Admins")] {
        let res = app
            .send(
                Method::PATCH,
                &format!("/Groups/{group}"),
                &w,
                &add_member(&mallory),
            )
            .await;
        let detail = assert_refused(res, "nested add").await;
        assert!(
            detail.contains(&format!("nested in the protected group '{outer}'")),
            "{detail}"
        );
    }
    // nesting another group in Admins, or deleting a nested group
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{admins}"),
            &w,
            &add_member(&gang),
        )
        .await;
    assert_refused(res, "nest a group").await;
    for g in [&ops, &oncall] {
        let res = app
            .req(Method::DELETE, &format!("/scim/v2/Groups/{g}"), &w)
            .send()
            .await
            .unwrap();
        assert_refused(res, "delete nested").await;
    }
    assert_eq!(app.event_count(), before, "nothing written");
    // the other way round is no escalation: Admins may be nested in an unprotected group
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{gang}"),
            &w,
            &add_member(&admins),
        )
        .await;
    assert_eq!(res.status(), 200);
    // with admin
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{oncall}"),
            &a,
            &add_member(&mallory),
        )
        .await;
    assert_eq!(res.status(), 200);
    // once Ops leaves Admins (by admin), it is an ordinary group again
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{admins}"),
            &a,
            &patch(json!([{"op": "remove", "path": format!("members[value eq \"{ops}\"]")}])),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{ops}"),
            &w,
            &add_member(&mallory),
        )
        .await;
    assert_eq!(res.status(), 200);
}

fn bulk(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})
}

async fn protected_by_id_and_through_bulk(app: TestApp) {
    // protection by id: the group exists before the server that protects it starts
    let w = app.rw_token();
    let alice = id(&app.create_user(&w, "alice").await);
    let payroll = create_group(&app, &w, "Payroll", &[&alice]).await;
    let staff = create_group(&app, &w, "Staff", &[]).await;
    let app = app
        .restart_with(|a| a.protected_groups = vec![payroll.clone(), "Admins".into()])
        .await;
    let w = app.token(WRITER);
    let a = app.token(ADMIN);
    let payroll_state = state(&app, &w, &payroll).await;
    let body = bulk(json!([
        {"method": "POST", "path": "/Users", "bulkId": "m",
         "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "mallory"}},
        {"method": "PATCH", "path": format!("/Groups/{payroll}"),
         "data": add_member("bulkId:m")},
        {"method": "PUT", "path": format!("/Groups/{payroll}"),
         "data": group_body("Payroll", &["bulkId:m"])},
        {"method": "POST", "path": "/Groups", "bulkId": "g",
         "data": group_body("admins", &["bulkId:m"])},
        {"method": "DELETE", "path": format!("/Groups/{payroll}")},
        {"method": "DELETE", "path": format!("/Users/{alice}")},
        {"method": "PATCH", "path": format!("/Groups/{staff}"), "data": add_member("bulkId:m")},
    ]));
    let res = app.send(Method::POST, "/Bulk", &w, &body).await;
    assert_eq!(res.status(), 200);
    let out: Value = res.json().await.unwrap();
    let statuses: Vec<&str> = out["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["201", "403", "403", "403", "403", "403", "200"],
        "{out}"
    );
    for op in &out["Operations"].as_array().unwrap()[1..6] {
        let detail = op["response"]["detail"].as_str().unwrap();
        assert!(detail.contains("'admin' scope"), "{detail}");
        assert_eq!(op["response"]["status"], "403");
    }
    assert_eq!(state(&app, &w, &payroll).await, payroll_state, "unchanged");
    let list: Value = app
        .get("/Groups?filter=displayName%20eq%20%22admins%22", &w)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["totalResults"], 0);
    // the same request with admin: every operation runs
    let body = bulk(json!([
        {"method": "POST", "path": "/Users", "bulkId": "e",
         "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "eve"}},
        {"method": "PATCH", "path": format!("/Groups/{payroll}"), "data": add_member("bulkId:e")},
        {"method": "POST", "path": "/Groups", "bulkId": "g",
         "data": group_body("admins", &["bulkId:e"])},
    ]));
    let res = app.send(Method::POST, "/Bulk", &a, &body).await;
    let out: Value = res.json().await.unwrap();
    let statuses: Vec<&str> = out["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["201", "200", "201"], "{out}");
    assert_eq!(state(&app, &w, &payroll).await.0.len(), 2);
}

async fn user_groups_attribute_cannot_change_membership(app: TestApp) {
    let app = spawn_protecting(app, &["Admins"]).await;
    let w = app.token(WRITER);
    let a = app.token(ADMIN);
    let mallory = app.create_user(&w, "mallory").await;
    let mallory_id = id(&mallory);
    let admins = create_group(&app, &a, "Admins", &[]).await;
    let groups = json!([{"value": admins}]);
    // `groups` is readOnly: PATCH naming it is refused, PUT and no-path PATCH ignore it
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{mallory_id}"),
            &w,
            &patch(json!([{"op": "add", "path": "groups", "value": groups}])),
        )
        .await;
    assert_scim_error(res, 400, Some("mutability")).await;
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{mallory_id}"),
            &w,
            &patch(json!([{"op": "add", "value": {"groups": groups}}])),
        )
        .await;
    assert_eq!(res.status(), 200);
    let mut put = scim_tests::user_body("mallory");
    put["groups"] = groups.clone();
    let res = app
        .send(Method::PUT, &format!("/Users/{mallory_id}"), &w, &put)
        .await;
    assert_eq!(res.status(), 200);
    assert!(state(&app, &w, &admins).await.0.is_empty(), "no member");
    let u: Value = app
        .get(&format!("/Users/{mallory_id}"), &w)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        u.get("groups")
            .is_none_or(|g| g.as_array().unwrap().is_empty()),
        "{u}"
    );
}

/// Protection guards who may *change* a protected group through SCIM; it never blocks access
/// management Roster does itself: an admin's rule grants it, and a leaver loses it at once even
/// when HR (no `admin`) sends the `active: false`.
async fn rules_grant_and_leavers_lose_protected_access(app: TestApp) {
    let app = spawn_protecting(app, &["Admins"]).await;
    let w = app.token(WRITER);
    let a = app.token(ADMIN);
    let admins = create_group(&app, &a, "Admins", &[]).await;
    let alice = id(&app.create_user(&w, "alice").await);
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{admins}"),
            &a,
            &add_member(&alice),
        )
        .await;
    assert_eq!(res.status(), 200);
    // an admin's rule grants the protected group to HR's joiners
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let rule = json!({"name": "it-admins", "filter": format!("{ent}:department eq \"IT\""),
        "groups": [admins], "graceDays": 0});
    let res = app
        .req(Method::POST, "/admin/v1/rules", &app.token(&["admin"]))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let mut body = scim_tests::user_body("bob");
    body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ent]);
    body[ent] = json!({"department": "IT"});
    let res = app.send(Method::POST, "/Users", &w, &body).await;
    assert_eq!(
        res.status(),
        201,
        "a joiner matching the rule is created by HR"
    );
    let bob = id(&res.json().await.unwrap());
    let (members, _) = state(&app, &a, &admins).await;
    assert!(members.contains(&bob), "granted by the rule");
    // HR makes alice a leaver: accepted, and her protected access ends
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{alice}"),
            &w,
            &patch(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(res.status(), 200, "a leaver is never blocked by protection");
    let (members, _) = state(&app, &a, &admins).await;
    assert!(
        !members.contains(&alice),
        "a leaver loses protected access at once"
    );
    // while HR still cannot add anyone by hand
    let carol = id(&app.create_user(&w, "carol").await);
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{admins}"),
            &w,
            &add_member(&carol),
        )
        .await;
    assert_refused(res, "manual add by HR").await;
}

backend_tests!(
    rules_grant_and_leavers_lose_protected_access,
    protected_group_members_change_only_with_admin,
    groups_nested_in_a_protected_group_are_protected,
    protected_by_id_and_through_bulk,
    user_groups_attribute_cannot_change_membership,
);
