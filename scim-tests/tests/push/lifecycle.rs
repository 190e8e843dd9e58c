//! Joiners before day one: a pre-hire reaches a target, inactive, `provisionBeforeStartDays`
//! before its `startDate` (not earlier), is activated there on day one, and a leaver is removed
//! (delete mode) — with the store clock moved instead of sleeping.

use std::time::Duration;

use chrono::TimeDelta;
use reqwest::Method;
use scim_tests::push::{add_target, target_body, wait_for, wait_idle, Downstream};
use scim_tests::{Backend, TestApp};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(20);
const LIFECYCLE: &str = "urn:roster:params:scim:schemas:extension:lifecycle:2.0:User";

async fn pre_hires_reach_the_target_inactive_ahead_of_day_one(app: TestApp) {
    let down = Downstream::start().await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let mut body = target_body("crm", &down.base_url(), &down.token);
    body["deprovision"] = json!("delete");
    body["provisionBeforeStartDays"] = json!(3);
    let t = add_target(&app, &admin, &body).await;
    let tid = t["id"].as_str().unwrap();
    assert_eq!(t["provisionBeforeStartDays"], 3);
    let clock = app.state.store.clock().clone();
    let start = (clock.now() + TimeDelta::days(10))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut u = scim_tests::user_body("joiner");
    u["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", LIFECYCLE]);
    u[LIFECYCLE] = json!({"startDate": start});
    let res = app.send(Method::POST, "/Users", &rw, &u).await;
    assert_eq!(res.status(), 201);
    let user: Value = res.json().await.unwrap();
    let uid = user["id"].as_str().unwrap().to_string();
    assert_eq!(user["active"], false, "a pre-hire");
    wait_idle(&app, &admin, tid, T).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        down.user("joiner").await.is_none(),
        "ten days ahead: too early"
    );
    // eight days later the three-day window is open: created, inactive
    clock.advance(TimeDelta::days(8));
    let r = wait_for(T, "the pre-hire downstream", || down.user("joiner")).await;
    assert_eq!(r["active"], false);
    let s = wait_idle(&app, &admin, tid, T).await;
    assert_eq!(s["synced"], 1, "recorded as pushed: {s}");
    // day one: the scheduler activates the user, the target follows
    clock.advance(TimeDelta::days(3));
    let scheduler = app.state.scheduler.clone();
    let report = tokio::task::spawn_blocking(move || scheduler.run_due())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.done, 1, "one activation");
    wait_for(T, "the joiner active downstream", || async {
        (down.user("joiner").await?["active"] == true).then_some(())
    })
    .await;
    // a leaver on a delete-mode target: the account goes
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let res = app
        .send(Method::PATCH, &format!("/Users/{uid}"), &rw, &patch)
        .await;
    assert_eq!(res.status(), 200);
    wait_for(T, "the leaver deleted downstream", || async {
        down.users_named("joiner").await.is_empty().then_some(())
    })
    .await;
}

async fn spawn(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |a| a.push.prehire_check_secs = 0).await
}

#[tokio::test]
async fn sqlite_pre_hires_reach_the_target_inactive_ahead_of_day_one() {
    pre_hires_reach_the_target_inactive_ahead_of_day_one(spawn(Backend::Sqlite).await.unwrap())
        .await;
}

#[tokio::test]
async fn postgres_pre_hires_reach_the_target_inactive_ahead_of_day_one() {
    match spawn(Backend::Postgres).await {
        Some(app) => pre_hires_reach_the_target_inactive_ahead_of_day_one(app).await,
        None => eprintln!(
            "skipped: set {} to run PostgreSQL cases",
            scim_tests::POSTGRES_ENV
        ),
    }
}
