//! Joiners, movers and leavers reach the downstream; existing accounts are adopted, never
//! duplicated; group scope and group push; reconciliation repairs drift; provision on demand.

use std::time::Duration;

use reqwest::Method;
use scim_tests::push::{add_target, target_body, wait_for, wait_idle, Downstream};
use scim_tests::{backend_tests, group_body, user_body, TestApp};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(20);
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn employee(name: &str, dept: &str) -> Value {
    let mut b = user_body(name);
    b["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT]);
    b["externalId"] = json!(format!("hr-{name}"));
    b[ENT] = json!({"department": dept, "employeeNumber": format!("E-{name}")});
    b
}

async fn patch(app: &TestApp, token: &str, path: &str, ops: Value) {
    let body =
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let res = app.send(Method::PATCH, path, token, &body).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

async fn joiner_mover_leaver_reach_the_downstream(app: TestApp) {
    let down = Downstream::start().await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    // an account that existed before the target: pushed by the initial full sync
    let early = app
        .send(Method::POST, "/Users", &rw, &employee("early", "Ops"))
        .await;
    assert_eq!(early.status(), 201);
    let target = add_target(
        &app,
        &admin,
        &target_body("crm", &down.base_url(), &down.token),
    )
    .await;
    let tid = target["id"].as_str().unwrap().to_string();
    // joiner
    let res = app
        .send(Method::POST, "/Users", &rw, &employee("ada", "R&D"))
        .await;
    assert_eq!(res.status(), 201);
    let ada: Value = res.json().await.unwrap();
    let uid = ada["id"].as_str().unwrap().to_string();
    let remote = wait_for(T, "ada downstream", || down.user("ada")).await;
    assert_eq!(remote["externalId"], "hr-ada");
    assert_eq!(remote[ENT]["department"], "R&D");
    assert_eq!(remote["active"], true);
    wait_for(T, "early downstream", || down.user("early")).await;
    // mover: two changes between runs become the remote's state
    patch(
        &app,
        &rw,
        &format!("/Users/{uid}"),
        json!([
            {"op": "replace", "path": format!("{ENT}:department"), "value": "Marketing"},
            {"op": "replace", "path": "title", "value": "Manager"}
        ]),
    )
    .await;
    wait_for(T, "the move downstream", || async {
        let r = down.user("ada").await?;
        (r[ENT]["department"] == "Marketing" && r["title"] == "Manager").then_some(())
    })
    .await;
    // leaver: HR sends active false -> disabled downstream
    patch(
        &app,
        &rw,
        &format!("/Users/{uid}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    wait_for(T, "ada disabled downstream", || async {
        let r = down.user("ada").await?;
        (r["active"] == false).then_some(())
    })
    .await;
    // deleting the user keeps the account disabled (mode disable), never deleted
    let res = app
        .req(Method::DELETE, &format!("/scim/v2/Users/{uid}"), &rw)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let s = wait_idle(&app, &admin, &tid, T).await;
    let r = down.user("ada").await.expect("still there");
    assert_eq!(r["active"], false);
    assert_eq!(down.count().await, 2, "exactly the two accounts");
    assert_eq!(s["failed"], 0);
    // the audit log says when the app was told, as actor push:crm
    let ev = app
        .req(
            Method::GET,
            &format!("/audit/v1/events?resourceId={uid}&actor=push:crm"),
            &app.token(&["audit.read"]),
        )
        .send()
        .await
        .unwrap();
    let ev: Value = ev.json().await.unwrap();
    let actions: Vec<&str> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"push.create"), "{actions:?}");
    assert!(actions.contains(&"push.update"), "{actions:?}");
    // the call log has every HTTP call, without credentials
    let log: Value = app
        .req(
            Method::GET,
            &format!("/admin/v1/targets/{tid}/log?count=1000"),
            &admin,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = log["items"].as_array().unwrap();
    assert!(items
        .iter()
        .any(|c| c["method"] == "POST" && c["status"] == 201));
    assert!(!log.to_string().contains(&down.token));
}

async fn delete_mode_removes_the_account_and_adoption_never_duplicates(app: TestApp) {
    let down = Downstream::start().await;
    // the downstream already has grace's account (created by someone else)
    let res = down
        .app
        .send(Method::POST, "/Users", &down.token, &user_body("grace"))
        .await;
    assert_eq!(res.status(), 201);
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let mut body = target_body("erp", &down.base_url(), &down.token);
    body["deprovision"] = json!("delete");
    let target = add_target(&app, &admin, &body).await;
    let tid = target["id"].as_str().unwrap();
    let res = app
        .send(Method::POST, "/Users", &rw, &employee("grace", "Finance"))
        .await;
    assert_eq!(res.status(), 201);
    let grace: Value = res.json().await.unwrap();
    wait_for(T, "grace adopted and updated", || async {
        let r = down.user("grace").await?;
        (r[ENT]["department"] == "Finance").then_some(())
    })
    .await;
    wait_idle(&app, &admin, tid, T).await;
    assert_eq!(
        down.users_named("grace").await.len(),
        1,
        "adopted, not duplicated"
    );
    let res = app
        .req(
            Method::DELETE,
            &format!("/scim/v2/Users/{}", grace["id"].as_str().unwrap()),
            &rw,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    wait_for(T, "grace deleted downstream", || async {
        down.users_named("grace").await.is_empty().then_some(())
    })
    .await;
}

async fn group_scope_pushes_members_and_their_group(app: TestApp) {
    let down = Downstream::start().await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let a = app.create_user(&rw, "in-a").await;
    let b = app.create_user(&rw, "in-b").await;
    app.create_user(&rw, "outsider").await;
    let a_id = a["id"].as_str().unwrap();
    let b_id = b["id"].as_str().unwrap();
    let res = app
        .send(
            Method::POST,
            "/Groups",
            &rw,
            &group_body("sales", &[a_id, b_id]),
        )
        .await;
    assert_eq!(res.status(), 201);
    let g: Value = res.json().await.unwrap();
    let gid = g["id"].as_str().unwrap();
    let mut body = target_body("crm", &down.base_url(), &down.token);
    body["scope"] = json!({"type": "groups", "groups": [gid]});
    body["pushGroups"] = json!("assigned");
    let target = add_target(&app, &admin, &body).await;
    let tid = target["id"].as_str().unwrap();
    wait_idle(&app, &admin, tid, T).await;
    assert!(down.user("in-a").await.is_some());
    assert!(down.user("in-b").await.is_some());
    assert!(
        down.user("outsider").await.is_none(),
        "not assigned, not pushed"
    );
    let rg = remote_group(&down).await;
    assert_eq!(rg["members"].as_array().map(Vec::len), Some(2), "{rg}");
    // removing b from the group: b is disabled downstream and leaves the remote group
    patch(
        &app,
        &rw,
        &format!("/Groups/{gid}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{b_id}\"]")}]),
    )
    .await;
    wait_for(T, "in-b disabled", || async {
        let r = down.user("in-b").await?;
        (r["active"] == false).then_some(())
    })
    .await;
    wait_idle(&app, &admin, tid, T).await;
    let rg = remote_group(&down).await;
    let members: Vec<String> = rg["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    let ra = down.user("in-a").await.unwrap();
    assert_eq!(members, vec![ra["id"].as_str().unwrap().to_string()]);
}

async fn reconcile_repairs_drift_made_on_the_downstream(app: TestApp) {
    let down = Downstream::start().await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    for n in ["r1", "r2", "r3"] {
        let res = app
            .send(Method::POST, "/Users", &rw, &employee(n, "Ops"))
            .await;
        assert_eq!(res.status(), 201);
    }
    let target = add_target(
        &app,
        &admin,
        &target_body("crm", &down.base_url(), &down.token),
    )
    .await;
    let tid = target["id"].as_str().unwrap();
    wait_idle(&app, &admin, tid, T).await;
    // drift: r1 changed, r2 deleted, r3 disabled by someone on the app side
    let r1 = down.user("r1").await.unwrap();
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "replace", "path": format!("{ENT}:department"), "value": "Hacked"}]});
    let res = down
        .app
        .send(
            Method::PATCH,
            &format!("/Users/{}", r1["id"].as_str().unwrap()),
            &down.token,
            &body,
        )
        .await;
    assert_eq!(res.status(), 200);
    let r2 = down.user("r2").await.unwrap();
    let res = down
        .app
        .req(
            Method::DELETE,
            &format!("/scim/v2/Users/{}", r2["id"].as_str().unwrap()),
            &down.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let r3 = down.user("r3").await.unwrap();
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "replace", "path": "active", "value": false}]});
    let res = down
        .app
        .send(
            Method::PATCH,
            &format!("/Users/{}", r3["id"].as_str().unwrap()),
            &down.token,
            &body,
        )
        .await;
    assert_eq!(res.status(), 200);
    // an account Roster does not manage is reported, not touched
    let res = down
        .app
        .send(Method::POST, "/Users", &down.token, &user_body("stranger"))
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .req(
            Method::POST,
            &format!("/admin/v1/targets/{tid}/reconcile"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["missing"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["changed"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(report["unmanagedCount"], 1, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(down.user("r1").await.unwrap()[ENT]["department"], "Ops");
    assert_eq!(down.user("r2").await.unwrap()["active"], true);
    assert_eq!(down.user("r3").await.unwrap()["active"], true);
    assert!(down.user("stranger").await.is_some());
    assert_eq!(down.count().await, 4);
}

async fn provision_on_demand_reports_each_step(app: TestApp) {
    let down = Downstream::start().await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let mut body = target_body("crm", &down.base_url(), &down.token);
    body["scope"] = json!({"type": "filter", "filter": format!("{ENT}:department eq \"Sales\"")});
    let target = add_target(&app, &admin, &body).await;
    let tid = target["id"].as_str().unwrap();
    let res = app
        .send(Method::POST, "/Users", &rw, &employee("sam", "Sales"))
        .await;
    let sam: Value = res.json().await.unwrap();
    let res = app
        .send(Method::POST, "/Users", &rw, &employee("olga", "Ops"))
        .await;
    let olga: Value = res.json().await.unwrap();
    wait_idle(&app, &admin, tid, T).await;
    assert!(down.user("olga").await.is_none(), "out of the filter scope");
    let res = app
        .req(
            Method::POST,
            &format!(
                "/admin/v1/targets/{tid}/provision/Users/{}",
                sam["id"].as_str().unwrap()
            ),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["desiredState"], "present");
    assert_eq!(r["result"], "synced");
    assert!(!r["steps"].as_array().unwrap().is_empty(), "{r}");
    assert_eq!(r["remoteId"], down.user("sam").await.unwrap()["id"]);
    let res = app
        .req(
            Method::POST,
            &format!(
                "/admin/v1/targets/{tid}/provision/Users/{}",
                olga["id"].as_str().unwrap()
            ),
            &admin,
        )
        .send()
        .await
        .unwrap();
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["desiredState"], "disabled", "{r}");
    assert_eq!(r["action"], "none", "{r}");
    let res = app
        .req(
            Method::POST,
            &format!("/admin/v1/targets/{tid}/provision/Users/nope"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

async fn remote_group(d: &Downstream) -> Value {
    let res = d
        .app
        .get(
            &format!(
                "/Groups?filter={}",
                scim_tests::enc("displayName eq \"sales\"")
            ),
            &d.token,
        )
        .await;
    let v: Value = res.json().await.unwrap();
    v["Resources"][0].clone()
}

backend_tests!(
    joiner_mover_leaver_reach_the_downstream,
    delete_mode_removes_the_account_and_adoption_never_duplicates,
    group_scope_pushes_members_and_their_group,
    reconcile_repairs_drift_made_on_the_downstream,
    provision_on_demand_reports_each_step,
    every_auth_type_reaches_the_downstream,
    changes_coalesce_mapping_applies_and_rate_limit_holds,
    nested_group_changes_reach_their_users_at_once,
    adoption_can_be_limited_to_external_id,
);

/// Basic, custom-header and OAuth 2.0 client-credentials auth (with a token that expires and
/// is fetched again) all reach the downstream through an authenticating proxy.
async fn every_auth_type_reaches_the_downstream(app: TestApp) {
    use scim_tests::proxy::{FaultProxy, Gate};
    let down = Downstream::start().await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let cases = [
        (
            Gate::Basic("svc".into(), "pa:ss wörd".into()),
            json!({"type": "basic", "username": "svc", "password": "pa:ss wörd"}),
        ),
        (
            Gate::Header("X-Api-Key".into(), "k-123".into()),
            json!({"type": "header", "name": "X-Api-Key", "value": "k-123"}),
        ),
        (Gate::OAuth2("roster".into(), "cs-9".into()), json!(null)),
    ];
    for (i, (gate, auth)) in cases.into_iter().enumerate() {
        let proxy = FaultProxy::start(&down.app.addr).await;
        proxy.gate(gate.clone(), &down.token);
        let auth = if auth.is_null() {
            json!({"type": "oauth2", "tokenUrl": format!("{}/oauth/token", proxy.addr),
                "clientId": "roster", "clientSecret": "cs-9"})
        } else {
            auth
        };
        let mut body = target_body(
            &format!("t{i}"),
            &format!("{}/scim/v2", proxy.addr),
            "unused",
        );
        body["auth"] = auth;
        body["scope"] = json!({"type": "filter", "filter": format!("userName sw \"auth{i}-\"")});
        let t = add_target(&app, &admin, &body).await;
        let tid = t["id"].as_str().unwrap().to_string();
        let a = format!("auth{i}-a");
        app.create_user(&rw, &a).await;
        wait_for(T, "the user through the gate", || down.user(&a)).await;
        if matches!(gate, Gate::OAuth2(..)) {
            assert_eq!(proxy.oauth_issued(), 1, "one token fetched, then reused");
            proxy.expire_oauth_tokens();
            let b = format!("auth{i}-b");
            app.create_user(&rw, &b).await;
            wait_for(T, "the user after a token refresh", || down.user(&b)).await;
            assert_eq!(proxy.oauth_issued(), 2, "refreshed once after the 401");
        }
        let s = wait_idle(&app, &admin, &tid, T).await;
        assert_eq!(s["failed"], 0, "{s}");
    }
}

/// Five changes to one user while the target waits become one request; a mapping shapes the
/// remote document; `rateLimit` spaces the requests.
async fn changes_coalesce_mapping_applies_and_rate_limit_holds(app: TestApp) {
    use scim_tests::proxy::FaultProxy;
    let down = Downstream::start().await;
    let proxy = FaultProxy::start(&down.app.addr).await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let mut body = target_body("crm", &format!("{}/scim/v2", proxy.addr), &down.token);
    body["mapping"] = json!([
        {"target": "userName", "template": "{name.givenName}.{name.familyName}@corp.example", "transform": "lower"},
        {"target": "title", "source": "title", "transform": "upper"},
        {"target": "externalId", "source": "externalId"},
        {"target": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
         "source": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}
    ]);
    body["rateLimit"] = json!(10.0);
    let t = add_target(&app, &admin, &body).await;
    let tid = t["id"].as_str().unwrap();
    let res = app
        .send(Method::POST, "/Users", &rw, &employee("Coa", "Ops"))
        .await;
    let u: Value = res.json().await.unwrap();
    let uid = u["id"].as_str().unwrap();
    // userName comes from the template: givenName "Test", familyName "Coa"
    let r = wait_for(T, "the mapped user", || down.user("test.coa@corp.example")).await;
    assert_eq!(r[ENT]["costCenter"], "Ops");
    assert!(
        r.get("emails").is_none(),
        "only mapped attributes are sent: {r}"
    );
    wait_idle(&app, &admin, tid, T).await;
    app.req(
        Method::POST,
        &format!("/admin/v1/targets/{tid}/pause"),
        &admin,
    )
    .send()
    .await
    .unwrap();
    for i in 0..5 {
        patch(
            &app,
            &rw,
            &format!("/Users/{uid}"),
            json!([{"op": "replace", "path": "title", "value": format!("t{i}")}]),
        )
        .await;
    }
    let before = proxy.count("PATCH", "/scim/v2/Users");
    app.req(
        Method::POST,
        &format!("/admin/v1/targets/{tid}/resume"),
        &admin,
    )
    .send()
    .await
    .unwrap();
    wait_for(T, "the last title", || async {
        let r = down.user("test.coa@corp.example").await?;
        (r["title"] == "T4").then_some(())
    })
    .await;
    wait_idle(&app, &admin, tid, T).await;
    assert_eq!(
        proxy.count("PATCH", "/scim/v2/Users") - before,
        1,
        "five changes, one request"
    );
    // rate limit: 10 requests/s -> 12 new users (two requests each) take over a second
    let started = std::time::Instant::now();
    for i in 0..12 {
        let mut b = employee(&format!("rl{i}"), "Ops");
        b["name"]["familyName"] = json!(format!("rl{i}"));
        assert_eq!(
            app.send(Method::POST, "/Users", &rw, &b).await.status(),
            201
        );
    }
    wait_for(T, "the rate-limited users", || async {
        (down.count().await == 13).then_some(())
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(2000),
        "24 requests at 10/s: {:?}",
        started.elapsed()
    );
}

/// Scope `groups` follows nesting: removing a nested group from the assigned group disables
/// its users at once, adding it back enables them.
async fn nested_group_changes_reach_their_users_at_once(app: TestApp) {
    let down = Downstream::start().await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let u = app.create_user(&rw, "nested-user").await;
    let uid = u["id"].as_str().unwrap();
    let res = app
        .send(Method::POST, "/Groups", &rw, &group_body("team", &[uid]))
        .await;
    let team: Value = res.json().await.unwrap();
    let team_id = team["id"].as_str().unwrap();
    let res = app
        .send(
            Method::POST,
            "/Groups",
            &rw,
            &group_body("dept", &[team_id]),
        )
        .await;
    let dept: Value = res.json().await.unwrap();
    let dept_id = dept["id"].as_str().unwrap();
    let mut body = target_body("crm", &down.base_url(), &down.token);
    body["scope"] = json!({"type": "groups", "groups": [dept_id]});
    let t = add_target(&app, &admin, &body).await;
    let tid = t["id"].as_str().unwrap();
    let r = wait_for(T, "the nested user", || down.user("nested-user")).await;
    assert_eq!(r["active"], true);
    wait_idle(&app, &admin, tid, T).await;
    patch(
        &app,
        &rw,
        &format!("/Groups/{dept_id}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{team_id}\"]")}]),
    )
    .await;
    wait_for(T, "the nested user disabled", || async {
        (down.user("nested-user").await?["active"] == false).then_some(())
    })
    .await;
    patch(
        &app,
        &rw,
        &format!("/Groups/{dept_id}"),
        json!([{"op": "add", "path": "members", "value": [{"value": team_id}]}]),
    )
    .await;
    wait_for(T, "the nested user enabled again", || async {
        (down.user("nested-user").await?["active"] == true).then_some(())
    })
    .await;
}

/// `adoptBy` limits takeover: with only `externalId`, an existing remote account of the same
/// userName is never overwritten; the item is parked with the remote's 409.
async fn adoption_can_be_limited_to_external_id(app: TestApp) {
    let down = Downstream::start().await;
    let mut existing = user_body("admin-like");
    existing["title"] = json!("Remote admin");
    let res = down
        .app
        .send(Method::POST, "/Users", &down.token, &existing)
        .await;
    assert_eq!(res.status(), 201);
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let mut body = target_body("crm", &down.base_url(), &down.token);
    body["adoptBy"] = json!(["externalId"]);
    let t = add_target(&app, &admin, &body).await;
    let tid = t["id"].as_str().unwrap();
    assert_eq!(t["adoptBy"], json!(["externalId"]));
    let res = app
        .send(Method::POST, "/Users", &rw, &employee("admin-like", "Ops"))
        .await;
    assert_eq!(res.status(), 201);
    let s = wait_for(T, "the item parked", || async {
        let s = scim_tests::push::status(&app, &admin, tid).await;
        (s["failed"] == 1).then_some(s)
    })
    .await;
    assert_eq!(s["synced"], 0);
    let r = down.user("admin-like").await.unwrap();
    assert_eq!(
        r["title"], "Remote admin",
        "the remote account was not taken over"
    );
    let bad = json!({"name": "x", "baseUrl": "http://127.0.0.1:9/scim/v2",
        "auth": {"type": "bearer", "token": "t"}, "adoptBy": ["email"]});
    let res = app
        .req(Method::POST, "/admin/v1/targets", &admin)
        .json(&bad)
        .send()
        .await
        .unwrap();
    let err = scim_tests::assert_scim_error(res, 400, Some("invalidValue")).await;
    assert!(err["detail"].as_str().unwrap().contains("adoptBy"));
}
