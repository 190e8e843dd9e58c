//! Downstream B: python-scim's scim2-server (an independent implementation from PyPI).
//! Joiner, mover, leaver and group push reach it; adoption by externalId; reconciliation.

use std::time::Duration;

use reqwest::Method;
use scim_tests::push::{add_target, wait_for, wait_idle, Scim2Server};
use scim_tests::{backend_tests, group_body, user_body, TestApp};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(30);
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

async fn one(down: &Scim2Server, name: &str) -> Option<Value> {
    let mut found = down.users_named(name).await;
    assert!(found.len() <= 1, "duplicates for {name}: {found:?}");
    found.pop()
}

async fn jml_and_groups_reach_scim2_server(app: TestApp) {
    let down = Scim2Server::start().await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let mut u = user_body("lin");
    u["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT]);
    u["externalId"] = json!("hr-lin");
    u[ENT] = json!({"department": "Support"});
    let res = app.send(Method::POST, "/Users", &rw, &u).await;
    assert_eq!(res.status(), 201);
    let lin: Value = res.json().await.unwrap();
    let lin_id = lin["id"].as_str().unwrap().to_string();
    let res = app
        .send(
            Method::POST,
            "/Groups",
            &rw,
            &group_body("support", &[&lin_id]),
        )
        .await;
    let g: Value = res.json().await.unwrap();
    let gid = g["id"].as_str().unwrap().to_string();
    let body = json!({
        "name": "s2", "baseUrl": down.base_url,
        "auth": {"type": "bearer", "token": down.token},
        "scope": {"type": "groups", "groups": [gid]},
        "pushGroups": "assigned",
        "deprovision": "disable",
    });
    let t = add_target(&app, &admin, &body).await;
    let tid = t["id"].as_str().unwrap().to_string();
    let r = wait_for(T, "lin on scim2-server", || one(&down, "lin")).await;
    assert_eq!(r["externalId"], "hr-lin");
    assert_eq!(r[ENT]["department"], "Support");
    wait_idle(&app, &admin, &tid, T).await;
    let groups = down.get("/Groups").await;
    let rg = &groups["Resources"][0];
    assert_eq!(rg["displayName"], "support");
    assert_eq!(rg["members"][0]["value"], r["id"], "{groups}");
    // mover
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "replace", "path": format!("{ENT}:department"), "value": "Sales"}]});
    let res = app
        .send(Method::PATCH, &format!("/Users/{lin_id}"), &rw, &patch)
        .await;
    assert_eq!(res.status(), 200);
    wait_for(T, "the move on scim2-server", || async {
        let r = one(&down, "lin").await?;
        (r[ENT]["department"] == "Sales").then_some(())
    })
    .await;
    // leaver
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "replace", "path": "active", "value": false}]});
    let res = app
        .send(Method::PATCH, &format!("/Users/{lin_id}"), &rw, &patch)
        .await;
    assert_eq!(res.status(), 200);
    wait_for(T, "lin disabled on scim2-server", || async {
        let r = one(&down, "lin").await?;
        (r["active"] == false).then_some(())
    })
    .await;
    let s = wait_idle(&app, &admin, &tid, T).await;
    assert_eq!(s["failed"], 0, "{s}");
    // drift on the remote is repaired by a reconciliation
    let r = one(&down, "lin").await.unwrap();
    let res = reqwest::Client::new()
        .patch(format!(
            "{}/Users/{}",
            down.base_url,
            r["id"].as_str().unwrap()
        ))
        .bearer_auth(&down.token)
        .header("content-type", "application/scim+json")
        .body(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "replace", "path": "active", "value": true}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let res = app
        .req(
            Method::POST,
            &format!("/admin/v1/targets/{tid}/reconcile"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    let report: Value = res.json().await.unwrap();
    // lin left the scope group (a leaver's manual memberships are suspended, docs/lifecycle.md):
    // the remote account is out of scope and is disabled again
    assert_eq!(
        report["extra"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(one(&down, "lin").await.unwrap()["active"], false);
}

backend_tests!(jml_and_groups_reach_scim2_server);
