//! The admin API of targets: validation, scopes, secrets never returned or stored in clear,
//! pause and resume, replace and delete, the CLI.

use std::time::Duration;

use diesel::prelude::*;
use reqwest::Method;
use scim_tests::push::{add_target, status, target_body, wait_for, wait_idle, Downstream};
use scim_tests::{assert_scim_error, backend_tests, TestApp};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(20);

async fn post(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.req(Method::POST, "/admin/v1/targets", token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn invalid_targets_are_refused_with_the_field_named(app: TestApp) {
    let admin = app.token(&["admin"]);
    let good = target_body("crm", "http://127.0.0.1:9/scim/v2", "tok");
    let cases: Vec<(Value, &str)> = vec![
        (json!({"baseUrl": "ftp://x"}), "baseUrl"),
        (json!({"baseUrl": "http://user:pw@h/scim"}), "baseUrl"),
        (json!({"name": "bad name!"}), "name"),
        (
            json!({"auth": {"type": "bearer", "token": " "}}),
            "auth.token",
        ),
        (json!({"auth": {"type": "kerberos"}}), "invalid target"),
        (
            json!({"scope": {"type": "groups", "groups": []}}),
            "scope.groups",
        ),
        (
            json!({"scope": {"type": "filter", "filter": "userName eq"}}),
            "scope.filter",
        ),
        (json!({"pushGroups": "assigned"}), "pushGroups"),
        (json!({"deletionThreshold": "ten"}), "invalid target"),
        (
            json!({"mapping": [{"target": "title", "constant": "x"}]}),
            "userName",
        ),
        (json!({"surprise": true}), "unknown field"),
    ];
    for (patch, field) in cases {
        let mut body = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = post(&app, &admin, &body).await;
        let err = assert_scim_error(res, 400, Some("invalidValue")).await;
        assert!(
            err["detail"].as_str().unwrap().contains(field),
            "{field}: {err}"
        );
    }
    let res = app
        .req(Method::POST, "/admin/v1/targets", &admin)
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 400, Some("invalidSyntax")).await;
    // nothing was created
    let list: Value = app
        .req(Method::GET, "/admin/v1/targets", &admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["totalResults"], 0);
}

async fn only_admin_tokens_reach_targets(app: TestApp) {
    for scopes in [&["scim.read", "scim.write"][..], &["audit.read"][..]] {
        let t = app.token(scopes);
        let res = app
            .req(Method::GET, "/admin/v1/targets", &t)
            .send()
            .await
            .unwrap();
        assert_scim_error(res, 403, None).await;
        let res = post(
            &app,
            &t,
            &target_body("x", "http://127.0.0.1:9/scim/v2", "tok"),
        )
        .await;
        assert_scim_error(res, 403, None).await;
    }
    let res = app
        .client
        .get(format!("{}/admin/v1/targets", app.addr))
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 401, None).await;
}

async fn credentials_go_in_and_never_come_out(app: TestApp) {
    let admin = app.token(&["admin"]);
    let secret = "s3cr3t-downstream-token-6d1f";
    let mut body = target_body("crm", "http://127.0.0.1:9/scim/v2", secret);
    body["auth"] = json!({"type": "oauth2", "tokenUrl": "http://127.0.0.1:9/token",
        "clientId": "roster", "clientSecret": secret, "scope": "scim"});
    let t = add_target(&app, &admin, &body).await;
    let id = t["id"].as_str().unwrap();
    assert_eq!(
        t["auth"],
        json!({"type": "oauth2", "tokenUrl": "http://127.0.0.1:9/token", "clientId": "roster", "scope": "scim"})
    );
    for path in [
        format!("/admin/v1/targets/{id}"),
        "/admin/v1/targets".into(),
        format!("/admin/v1/targets/{id}/status"),
    ] {
        let text = app
            .req(Method::GET, &path, &admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!text.contains(secret), "{path} leaks the secret");
    }
    let audit = app.token(&["audit.read"]);
    let text = app
        .req(Method::GET, "/audit/v1/events", &audit)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("target.create"));
    assert!(!text.contains(secret), "the audit log leaks the secret");
    // stored encrypted
    use store::schema::push_targets::dsl as pt;
    let mut raw = app.db.raw();
    let (config, sealed): (String, String) = pt::push_targets
        .select((pt::config, pt::secret))
        .first(&mut raw)
        .unwrap();
    assert!(!config.contains(secret) && !sealed.contains(secret));
    assert!(sealed.starts_with("xc1:"));
    // the same name twice is refused
    let res = post(&app, &admin, &body).await;
    let err = assert_scim_error(res, 400, Some("invalidValue")).await;
    assert!(err["detail"].as_str().unwrap().contains("name"));
}

async fn pause_resume_replace_and_delete(app: TestApp) {
    let down = Downstream::start().await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let t = add_target(
        &app,
        &admin,
        &target_body("crm", &down.base_url(), &down.token),
    )
    .await;
    let id = t["id"].as_str().unwrap();
    wait_idle(&app, &admin, id, T).await;
    let res = app
        .req(
            Method::POST,
            &format!("/admin/v1/targets/{id}/pause"),
            &admin,
        )
        .json(&json!({"reason": "maintenance window"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let s: Value = res.json().await.unwrap();
    assert_eq!(s["state"], "paused");
    assert_eq!(s["pausedReason"], "maintenance window");
    app.create_user(&rw, "while-paused").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        down.user("while-paused").await.is_none(),
        "a paused target receives nothing"
    );
    let s = status(&app, &admin, id).await;
    assert!(s["lagEvents"].as_i64().unwrap() >= 1, "{s}");
    let res = app
        .req(
            Method::POST,
            &format!("/admin/v1/targets/{id}/resume"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    wait_for(T, "the change after resume", || down.user("while-paused")).await;
    // replace: settings change, credentials given again
    let mut body = target_body("crm-renamed", &down.base_url(), &down.token);
    body["rateLimit"] = json!(100.0);
    let res = app
        .req(Method::PUT, &format!("/admin/v1/targets/{id}"), &admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["name"], "crm-renamed");
    assert_eq!(v["rateLimit"], 100.0);
    // by name too
    let res = app
        .req(Method::GET, "/admin/v1/targets/crm-renamed", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .req(Method::DELETE, &format!("/admin/v1/targets/{id}"), &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .req(Method::GET, &format!("/admin/v1/targets/{id}"), &admin)
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 404, None).await;
    let res = app
        .req(Method::PATCH, "/admin/v1/targets", &admin)
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 405, None).await;
}

async fn cli_adds_lists_and_pauses_targets(app: TestApp) {
    let bin = scim_tests::roster_bin();
    let url = app.db.url();
    let key = scim_tests::TEST_SECRET_KEY;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&bin)
            .args(args)
            .args(["--database-url", &url])
            .env("ROSTER_SECRET_KEY", key)
            .env("ROSTER_TARGET_BEARER_TOKEN", "cli-secret-token")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let out = run(&[
        "target",
        "add",
        "--name",
        "hr-app",
        "--base-url",
        "http://127.0.0.1:9/scim/v2",
        "--scope",
        "filter:title eq \"Engineer\"",
        "--deprovision",
        "delete",
        "--deletion-threshold",
        "10%",
    ]);
    let id = out.lines().last().unwrap().trim().to_string();
    assert_eq!(id.len(), 36, "{out}");
    let admin = app.token(&["admin"]);
    let v: Value = app
        .req(Method::GET, &format!("/admin/v1/targets/{id}"), &admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["scope"],
        json!({"type": "filter", "filter": "title eq \"Engineer\""})
    );
    assert_eq!(v["deprovision"], "delete");
    assert_eq!(v["deletionThreshold"], "10%");
    let listed = run(&["target", "list"]);
    assert!(
        listed.contains("hr-app") && listed.contains(&id),
        "{listed}"
    );
    run(&["target", "pause", "hr-app", "--reason", "audit"]);
    let shown = run(&["target", "show", "hr-app"]);
    assert!(shown.contains("\"pausedReason\": \"audit\""), "{shown}");
    assert!(!shown.contains("cli-secret-token"));
    run(&["target", "resume", "hr-app"]);
    run(&["target", "retry", "hr-app"]);
    run(&["target", "reconcile", "hr-app"]);
    let s = status(&app, &admin, &id).await;
    assert_eq!(s["paused"], false);
}

async fn metrics_show_push_calls_and_target_health(app: TestApp) {
    let down = Downstream::start().await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let name = format!(
        "metrics-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let t = add_target(
        &app,
        &admin,
        &target_body(&name, &down.base_url(), &down.token),
    )
    .await;
    let id = t["id"].as_str().unwrap();
    app.create_user(&rw, "measured").await;
    wait_for(T, "measured downstream", || down.user("measured")).await;
    wait_idle(&app, &admin, id, T).await;
    app.req(
        Method::POST,
        &format!("/admin/v1/targets/{id}/pause"),
        &admin,
    )
    .send()
    .await
    .unwrap();
    let res = app
        .req(Method::GET, "/metrics", &admin)
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 403, None).await;
    let res = app
        .req(Method::GET, "/metrics", &app.token(&["metrics.read"]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix) && l.contains(&format!("target=\"{name}\"")))
            .unwrap_or_else(|| panic!("no {prefix} for {name} in:\n{text}"))
            .to_string()
    };
    assert!(line("roster_push_requests_total").contains("outcome=\"2xx\""));
    assert!(line("roster_push_paused").ends_with(" 1"));
    // paused: the pause event itself waits behind the cursor, as the status says
    let lag = status(&app, &admin, id).await["lagEvents"]
        .as_i64()
        .unwrap();
    assert!(lag >= 1);
    assert!(line("roster_push_lag_events").ends_with(&format!(" {lag}")));
    assert!(text.contains("roster_http_requests_total{"), "{text}");
    assert!(!text.contains(&down.token), "no secret in metrics");
}

backend_tests!(
    metrics_show_push_calls_and_target_health,
    invalid_targets_are_refused_with_the_field_named,
    only_admin_tokens_reach_targets,
    credentials_go_in_and_never_come_out,
    pause_resume_replace_and_delete,
    cli_adds_lists_and_pauses_targets,
);
