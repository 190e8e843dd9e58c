//! Webhooks and alerts (docs/governance.md) delivered to a real receiver on loopback: signed,
//! in order, retried while the receiver is down, durable across a restart; the admin API's
//! validation, scopes and secrecy.

use std::time::Duration;

use reqwest::Method;
use scim_tests::push::wait_for;
use scim_tests::webhook::{signature_valid, Receiver};
use scim_tests::{assert_scim_error, backend_tests, user_body, TestApp};
use serde_json::{json, Value};

const SECRET: &str = "whsec-0123456789-abcdef";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const WAIT: Duration = Duration::from_secs(30);

async fn add_webhook(app: &TestApp, admin: &str, url: &str, events: &[&str]) -> Value {
    let res = app
        .req(Method::POST, "/admin/v1/webhooks", admin)
        .json(&json!({"url": url, "events": events, "secret": SECRET}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "create webhook: {v}");
    v
}

async fn deliveries(app: &TestApp, admin: &str, id: &str, query: &str) -> Vec<Value> {
    let res = app
        .req(
            Method::GET,
            &format!("/admin/v1/webhooks/{id}/deliveries{query}"),
            admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v["items"].as_array().cloned().unwrap()
}

async fn patch_user(app: &TestApp, token: &str, id: &str, ops: Value) {
    let res = app
        .send(
            Method::PATCH,
            &format!("/Users/{id}"),
            token,
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
        )
        .await;
    assert_eq!(res.status(), 200, "patch {id}");
}

async fn wait_delivered(rx: &Receiver, n: usize) -> Vec<scim_tests::webhook::Received> {
    wait_for(WAIT, &format!("{n} deliveries"), || async {
        let got = rx.delivered();
        (got.len() >= n).then_some(got)
    })
    .await
}

async fn joiner_mover_leaver_are_signed_and_the_leaver_names_the_manager(app: TestApp) {
    let rx = Receiver::start().await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let hook = add_webhook(&app, &admin, &rx.url, &["joiner", "mover", "leaver"]).await;
    assert!(hook.get("secret").is_none());
    let boss = app.create_user(&rw, "boss").await;
    let boss_id = boss["id"].as_str().unwrap();
    let mut body = user_body("ann");
    body["schemas"]
        .as_array_mut()
        .unwrap()
        .push(json!(ENTERPRISE));
    body[ENTERPRISE] =
        json!({"employeeNumber": "E-7", "department": "Eng", "manager": {"value": boss_id}});
    body["externalId"] = json!("hr-7");
    let res = app.send(Method::POST, "/Users", &rw, &body).await;
    assert_eq!(res.status(), 201);
    let ann: Value = res.json().await.unwrap();
    let ann_id = ann["id"].as_str().unwrap();
    patch_user(
        &app,
        &rw,
        ann_id,
        json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Sales"}]),
    )
    .await;
    patch_user(
        &app,
        &rw,
        ann_id,
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;

    let got = wait_delivered(&rx, 4).await;
    assert_eq!(got.len(), 4, "{got:?}");
    let types: Vec<&str> = got.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(types, ["joiner", "joiner", "mover", "leaver"]);
    for r in &got {
        assert!(
            signature_valid(SECRET, &r.signature, &r.body),
            "bad signature on {}",
            r.body
        );
        assert!(!signature_valid(
            "another-secret-entirely",
            &r.signature,
            &r.body
        ));
        assert_eq!(r.json["id"], r.id.as_str());
        assert_eq!(r.json["type"], r.event.as_str());
    }
    let seqs: Vec<i64> = got
        .iter()
        .map(|r| r.json["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in log order: {seqs:?}"
    );
    let mover = &got[2].json;
    assert_eq!(
        mover["data"]["changes"]["department"],
        json!({"from": "Eng", "to": "Sales"})
    );
    let leaver = &got[3].json;
    assert_eq!(leaver["resource"], json!({"type": "User", "id": ann_id}));
    let user = &leaver["data"]["user"];
    assert_eq!(user["userName"], "ann");
    assert_eq!(user["externalId"], "hr-7");
    assert_eq!(user["employeeNumber"], "E-7");
    assert_eq!(user["manager"]["value"], boss_id);
    assert_eq!(user["manager"]["userName"], "boss");
    assert_eq!(user["manager"]["email"], "boss@example.com");

    let hid = hook["id"].as_str().unwrap();
    // the receiver answered before Roster recorded the outcome: wait for the record
    let list = wait_for(WAIT, "4 delivered in the API", || async {
        let l = deliveries(&app, &admin, hid, "?status=delivered").await;
        (l.len() == 4).then_some(l)
    })
    .await;
    assert!(list
        .iter()
        .all(|d| d["attempts"] == 1 && d["lastStatus"] == 200));
    rx.stop().await;
}

async fn a_mass_deprovision_raises_one_alert_delivered_signed(app: TestApp) {
    let app = app
        .restart_with(|a| {
            a.hooks.mass_deprovision_count = 3;
            a.hooks.mass_deprovision_minutes = 10;
        })
        .await;
    let rx = Receiver::start().await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            app.create_user(&rw, &format!("leaver{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    add_webhook(&app, &admin, &rx.url, &["alert"]).await;
    // a second actor's three deactivations stay under the threshold
    let other = app.rw_token();
    for id in &ids[..2] {
        patch_user(
            &app,
            &other,
            id,
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    }
    // four by one token cross it (more than 3): one alert, not one per event
    let bulk = app.token(&["scim.read", "scim.write"]);
    for id in &ids[2..6] {
        patch_user(
            &app,
            &bulk,
            id,
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    }
    let got = wait_delivered(&rx, 1).await;
    // give a wrong second alert time to show up
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got = if rx.delivered().len() > got.len() {
        rx.delivered()
    } else {
        got
    };
    assert_eq!(got.len(), 1, "exactly one alert: {got:?}");
    let alert = &got[0];
    assert_eq!(alert.event, "alert");
    assert!(signature_valid(SECRET, &alert.signature, &alert.body));
    assert_eq!(alert.json["data"]["kind"], "massDeprovision");
    assert_eq!(alert.json["data"]["count"], 4);
    assert_eq!(alert.json["data"]["threshold"], 3);
    assert_eq!(alert.json["actor"], "system:alerts");

    // once in the audit log, by system:alerts
    let audit = app.token(&["audit.read"]);
    let res = app
        .req(Method::GET, "/audit/v1/events?action=alert", &audit)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let text = v.to_string();
    assert_eq!(text.matches("massDeprovision").count(), 1, "{text}");
    rx.stop().await;
}

async fn a_receiver_down_for_a_while_gets_every_delivery_in_order(app: TestApp) {
    let rx = Receiver::start().await;
    rx.fail_with(503);
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let hook = add_webhook(&app, &admin, &rx.url, &["joiner"]).await;
    let hid = hook["id"].as_str().unwrap();
    for i in 0..5 {
        app.create_user(&rw, &format!("joiner{i}")).await;
    }
    // the first delivery is tried again and again; the later ones wait behind it
    wait_for(WAIT, "three failed attempts", || async {
        (rx.requests().len() >= 3).then_some(())
    })
    .await;
    let tried: Vec<String> = rx.requests().iter().map(|r| r.id.clone()).collect();
    assert!(
        tried.iter().all(|id| id == &tried[0]),
        "no overtaking: {tried:?}"
    );
    let pending = deliveries(&app, &admin, hid, "?status=pending").await;
    assert_eq!(pending.len(), 5);
    let first = pending
        .iter()
        .find(|d| d["id"] == tried[0].as_str())
        .unwrap();
    assert!(first["attempts"].as_i64().unwrap() >= 2, "{first}");
    assert_eq!(first["lastStatus"], 503);
    assert!(first["lastError"].as_str().unwrap().contains("503"));

    rx.fail_with(0);
    let got = wait_delivered(&rx, 5).await;
    let names: Vec<&str> = got
        .iter()
        .map(|r| r.json["data"]["user"]["userName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["joiner0", "joiner1", "joiner2", "joiner3", "joiner4"]
    );
    assert!(got
        .iter()
        .all(|r| signature_valid(SECRET, &r.signature, &r.body)));
    let done = wait_for(WAIT, "5 delivered in the API", || async {
        let l = deliveries(&app, &admin, hid, "?status=delivered").await;
        (l.len() == 5).then_some(l)
    })
    .await;
    let first = done.iter().find(|d| d["id"] == tried[0].as_str()).unwrap();
    assert!(first["attempts"].as_i64().unwrap() >= 3);
    assert!(first["deliveredAt"].is_string());
    rx.stop().await;
}

async fn pending_deliveries_survive_a_restart(app: TestApp) {
    let rx = Receiver::start().await;
    rx.fail_with(503);
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let hook = add_webhook(&app, &admin, &rx.url, &["joiner"]).await;
    let hid = hook["id"].as_str().unwrap().to_string();
    for i in 0..3 {
        app.create_user(&rw, &format!("durable{i}")).await;
    }
    wait_for(WAIT, "deliveries enqueued", || async {
        (deliveries(&app, &admin, &hid, "?status=pending")
            .await
            .len()
            == 3)
            .then_some(())
    })
    .await;
    let app = app.restart_with(|_| {}).await;
    rx.fail_with(0);
    let got = wait_delivered(&rx, 3).await;
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each delivery once: {got:?}");
    let admin = app.token(&["admin"]);
    wait_for(WAIT, "3 delivered in the API", || async {
        (deliveries(&app, &admin, &hid, "?status=delivered")
            .await
            .len()
            == 3)
            .then_some(())
    })
    .await;
    rx.stop().await;
}

async fn the_admin_api_validates_scopes_and_keeps_the_secret(app: TestApp) {
    let logs = scim_tests::capture_logs();
    let admin = app.token(&["admin"]);
    let post = |token: String, body: Value| {
        let req = app
            .req(Method::POST, "/admin/v1/webhooks", &token)
            .json(&body);
        async move { req.send().await.unwrap() }
    };
    for (body, field) in [
        (
            json!({"url": "ftp://x.example/h", "events": ["alert"], "secret": SECRET}),
            "url",
        ),
        (
            json!({"url": "not a url", "events": ["alert"], "secret": SECRET}),
            "url",
        ),
        (
            json!({"url": "https://x.example/h", "events": ["hired"], "secret": SECRET}),
            "events",
        ),
        (
            json!({"url": "https://x.example/h", "events": [], "secret": SECRET}),
            "events",
        ),
        (
            json!({"url": "https://x.example/h", "events": ["alert"], "secret": "short"}),
            "secret",
        ),
        (
            json!({"url": "https://x.example/h", "events": ["alert"]}),
            "secret",
        ),
    ] {
        let err =
            assert_scim_error(post(admin.clone(), body).await, 400, Some("invalidValue")).await;
        assert!(
            err["detail"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field}:")),
            "{err}"
        );
    }
    let ok = json!({"url": "https://x.example/h", "events": ["alert", "leaver"], "secret": SECRET});
    assert_eq!(post(app.rw_token(), ok.clone()).await.status(), 403);
    let res = app
        .client
        .post(format!("{}/admin/v1/webhooks", app.addr))
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = post(admin.clone(), ok).await;
    assert_eq!(res.status(), 201);
    let hook: Value = res.json().await.unwrap();
    let id = hook["id"].as_str().unwrap();
    assert_eq!(hook["events"], json!(["leaver", "alert"]));
    // PUT without a secret keeps it; with a short one is refused
    let res = app
        .req(Method::PUT, &format!("/admin/v1/webhooks/{id}"), &admin)
        .json(&json!({"url": "https://y.example/h", "events": ["joiner"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .req(Method::PUT, &format!("/admin/v1/webhooks/{id}"), &admin)
        .json(&json!({"url": "https://y.example/h", "events": ["joiner"], "secret": "tiny"}))
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 400, Some("invalidValue")).await;
    let missing = "2819c223-7f76-453a-919d-413861904646";
    let res = app
        .req(
            Method::GET,
            &format!("/admin/v1/webhooks/{missing}"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 404, None).await;
    let res = app
        .req(
            Method::GET,
            &format!("/admin/v1/webhooks/{id}/deliveries?status=lost"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 400, Some("invalidValue")).await;
    // the secret is nowhere: answers, the audit log, the database in clear, the server log
    for path in [
        "/admin/v1/webhooks".to_string(),
        format!("/admin/v1/webhooks/{id}"),
    ] {
        let text = app
            .req(Method::GET, &path, &admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("y.example") && !text.contains(SECRET),
            "{path}: {text}"
        );
    }
    let audit = app.token(&["audit.read"]);
    let text = app
        .req(
            Method::GET,
            &format!("/audit/v1/events?resourceId={id}"),
            &audit,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("webhook.create") && text.contains("webhook.replace"),
        "{text}"
    );
    assert!(!text.contains(SECRET));
    let row = app
        .state
        .store
        .read(|c| store::webhooks::get(c, id))
        .unwrap();
    assert!(row.secret.starts_with("xc1:") && !row.secret.contains(SECRET));
    assert!(
        !logs.text().contains(SECRET),
        "the server log leaks the secret"
    );
    let res = app
        .req(Method::DELETE, &format!("/admin/v1/webhooks/{id}"), &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .req(Method::GET, &format!("/admin/v1/webhooks/{id}"), &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

async fn protected_group_sod_attempt_and_broken_chain_alerts_reach_the_webhook(app: TestApp) {
    let app = app
        .restart_with(|a| {
            a.protected_groups = vec!["payroll".into()];
            a.hooks.verify_interval_secs = 1;
        })
        .await;
    let rx = Receiver::start().await;
    // an operator: may change protected groups and SoD policies
    let op = app.token(&["admin", "scim.read", "scim.write"]);
    let group = |name: &str| {
        let app = &app;
        let op = op.clone();
        let name = name.to_string();
        async move {
            let res = app
                .send(
                    Method::POST,
                    "/Groups",
                    &op,
                    &scim_tests::group_body(&name, &[]),
                )
                .await;
            assert_eq!(res.status(), 201, "group {name}");
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let payroll = group("payroll").await;
    let ap = group("accounts-payable").await;
    let approve = group("payment-approval").await;
    let user = app.create_user(&op, "pat").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .req(Method::POST, "/admin/v1/sod-policies", &op)
        .json(&json!({"name": "payments", "groups": [ap, approve]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    add_webhook(&app, &op, &rx.url, &["alert"]).await;
    let add = |g: String| {
        let app = &app;
        let op = op.clone();
        let user = user.clone();
        async move {
            app.send(
                Method::PATCH,
                &format!("/Groups/{g}"),
                &op,
                &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]}),
            )
            .await
            .status()
        }
    };
    // a change to a protected group, allowed (admin) but alerted
    assert_eq!(add(payroll.clone()).await, 200);
    // the second group of an SoD policy: refused, and the attempt alerted
    assert_eq!(add(ap.clone()).await, 200);
    assert_eq!(add(approve.clone()).await, 400);
    let got = wait_delivered(&rx, 2).await;
    let kinds: Vec<String> = got
        .iter()
        .map(|d| d.json["data"]["kind"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        kinds.contains(&"sensitiveGroupChange".to_string()),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"sod.violation_attempt".to_string()),
        "{kinds:?}"
    );
    let sensitive = got
        .iter()
        .find(|d| d.json["data"]["kind"] == "sensitiveGroupChange")
        .unwrap();
    assert_eq!(sensitive.json["data"]["group"], payroll);
    assert_eq!(sensitive.json["data"]["membersAdded"], json!([user]));

    // someone edits the log behind Roster's back: the periodic check raises chainBroken
    let mut raw = app.db.raw();
    use diesel::connection::SimpleConnection;
    raw.batch_execute("UPDATE events SET actor = 'mallory' WHERE seq = 3")
        .unwrap();
    let got = wait_for(WAIT, "a chainBroken alert", || async {
        let got = rx.delivered();
        got.iter()
            .any(|d| d.json["data"]["kind"] == "chainBroken")
            .then_some(got)
    })
    .await;
    let broken = got
        .iter()
        .find(|d| d.json["data"]["kind"] == "chainBroken")
        .unwrap();
    assert_eq!(broken.json["data"]["brokenSeq"], 3, "{}", broken.json);
    assert!(got
        .iter()
        .all(|d| signature_valid(SECRET, &d.signature, &d.body)));
    rx.stop().await;
}

backend_tests!(
    joiner_mover_leaver_are_signed_and_the_leaver_names_the_manager,
    a_mass_deprovision_raises_one_alert_delivered_signed,
    a_receiver_down_for_a_while_gets_every_delivery_in_order,
    pending_deliveries_survive_a_restart,
    the_admin_api_validates_scopes_and_keeps_the_secret,
    protected_group_sod_attempt_and_broken_chain_alerts_reach_the_webhook,
);
