//! Faults between Roster and the downstream (a proxy injects them): 500s, 429 with
//! Retry-After, hangs past the timeout and dropped connections are retried until the remote
//! converges; a refusal retrying cannot fix is parked with the remote's message; a target that
//! keeps failing is quarantined; a run over the deletion threshold pauses the target.

use std::time::Duration;

use reqwest::Method;
use scim_tests::proxy::{Fault, FaultProxy};
use scim_tests::push::{add_target, status, target_body, wait_for, wait_idle, Downstream};
use scim_tests::{backend_tests, Backend, TestApp};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(30);

async fn faults_are_retried_until_the_remote_converges(app: TestApp) {
    let down = Downstream::start().await;
    let proxy = FaultProxy::start(&down.app.addr).await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let t = add_target(
        &app,
        &admin,
        &target_body("crm", &format!("{}/scim/v2", proxy.addr), &down.token),
    )
    .await;
    let id = t["id"].as_str().unwrap();
    wait_idle(&app, &admin, id, T).await;
    // fewer consecutive failing runs than the quarantine needs
    proxy.schedule([
        Fault::Status(500),
        Fault::Drop,
        Fault::Hang(Duration::from_millis(1500)),
    ]);
    app.create_user(&rw, "flaky").await;
    let r = wait_for(T, "flaky downstream after the faults", || {
        down.user("flaky")
    })
    .await;
    assert_eq!(r["active"], true);
    wait_idle(&app, &admin, id, T).await;
    assert_eq!(down.users_named("flaky").await.len(), 1);
    let log: Value = app
        .req(
            Method::GET,
            &format!("/admin/v1/targets/{id}/log?count=100"),
            &admin,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = log["items"].as_array().unwrap();
    let errors: Vec<&Value> = items
        .iter()
        .filter(|c| c["status"] != 200 && c["status"] != 201)
        .collect();
    assert!(errors.iter().any(|c| c["status"] == 500), "{log}");
    assert!(
        errors
            .iter()
            .any(|c| c["status"].is_null()
                && c["error"].as_str().unwrap_or("").contains("timed out")),
        "{log}"
    );
    // 429 with Retry-After: the next attempt waits at least that long
    proxy.schedule([Fault::TooMany(2)]);
    let started = std::time::Instant::now();
    app.create_user(&rw, "throttled").await;
    wait_for(T, "throttled downstream", || down.user("throttled")).await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After honoured"
    );
}

async fn refusals_are_parked_with_the_remote_message_and_retried_on_request(app: TestApp) {
    let down = Downstream::start().await;
    let proxy = FaultProxy::start(&down.app.addr).await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let t = add_target(
        &app,
        &admin,
        &target_body("crm", &format!("{}/scim/v2", proxy.addr), &down.token),
    )
    .await;
    let id = t["id"].as_str().unwrap();
    wait_idle(&app, &admin, id, T).await;
    proxy.always(Some(Fault::Status(400)));
    app.create_user(&rw, "refused").await;
    let s = wait_for(T, "the item to be parked", || async {
        let s = status(&app, &admin, id).await;
        (s["failed"] == 1).then_some(s)
    })
    .await;
    assert_eq!(s["retrying"], 0);
    let failed: Value = app
        .req(
            Method::GET,
            &format!("/admin/v1/targets/{id}/failed"),
            &admin,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        failed["items"][0]["error"]
            .as_str()
            .unwrap()
            .contains("injected fault 400"),
        "{failed}"
    );
    proxy.always(None);
    let res = app
        .req(
            Method::POST,
            &format!("/admin/v1/targets/{id}/retry"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["requeued"], 1);
    wait_for(T, "refused downstream after retry", || down.user("refused")).await;
    let s = wait_idle(&app, &admin, id, T).await;
    assert_eq!(s["failed"], 0);
}

async fn a_failing_target_is_quarantined_and_resumes(app: TestApp) {
    let down = Downstream::start().await;
    let proxy = FaultProxy::start(&down.app.addr).await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let t = add_target(
        &app,
        &admin,
        &target_body("crm", &format!("{}/scim/v2", proxy.addr), &down.token),
    )
    .await;
    let id = t["id"].as_str().unwrap();
    wait_idle(&app, &admin, id, T).await;
    proxy.always(Some(Fault::Status(503)));
    for i in 0..3 {
        app.create_user(&rw, &format!("q{i}")).await;
    }
    wait_for(Duration::from_secs(40), "quarantine", || async {
        let s = status(&app, &admin, id).await;
        (s["state"] == "quarantined").then_some(())
    })
    .await;
    let audit = app.token(&["audit.read"]);
    let ev: Value = app
        .req(Method::GET, "/audit/v1/events?action=alert", &audit)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(ev.to_string().contains("quarantined"), "{ev}");
    proxy.always(None);
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
    let res = app
        .req(
            Method::POST,
            &format!("/admin/v1/targets/{id}/retry"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    wait_for(Duration::from_secs(40), "all three downstream", || async {
        (down.count().await == 3).then_some(())
    })
    .await;
}

async fn the_deletion_threshold_pauses_a_mass_deprovisioning(app: TestApp) {
    let down = Downstream::start().await;
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            app.create_user(&rw, &format!("d{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut body = target_body("crm", &down.base_url(), &down.token);
    body["deletionThreshold"] = json!(2);
    let t = add_target(&app, &admin, &body).await;
    let id = t["id"].as_str().unwrap();
    wait_idle(&app, &admin, id, T).await;
    assert_eq!(down.count().await, 5);
    // a burst of leavers arrives while the target is paused, then lands in one run
    app.req(
        Method::POST,
        &format!("/admin/v1/targets/{id}/pause"),
        &admin,
    )
    .send()
    .await
    .unwrap();
    for uid in &ids {
        let res = app
            .req(Method::DELETE, &format!("/scim/v2/Users/{uid}"), &rw)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
    app.req(
        Method::POST,
        &format!("/admin/v1/targets/{id}/resume"),
        &admin,
    )
    .send()
    .await
    .unwrap();
    let s = wait_for(T, "the threshold pause", || async {
        let s = status(&app, &admin, id).await;
        (s["paused"] == true).then_some(s)
    })
    .await;
    assert!(
        s["pausedReason"]
            .as_str()
            .unwrap()
            .contains("deletion threshold"),
        "{s}"
    );
    for i in 0..5 {
        assert_eq!(
            down.user(&format!("d{i}")).await.unwrap()["active"],
            true,
            "nothing disabled"
        );
    }
    let audit = app.token(&["audit.read"]);
    let ev: Value = app
        .req(Method::GET, "/audit/v1/events?action=alert", &audit)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(ev.to_string().contains("deletionThreshold"), "{ev}");
    // an admin reviews and resumes: the run goes through (the threshold is per run; resuming
    // after review accepts it)
    let mut body = target_body("crm", &down.base_url(), &down.token);
    body["deletionThreshold"] = json!(10);
    let res = app
        .req(Method::PUT, &format!("/admin/v1/targets/{id}"), &admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.req(
        Method::POST,
        &format!("/admin/v1/targets/{id}/resume"),
        &admin,
    )
    .send()
    .await
    .unwrap();
    wait_for(T, "all disabled", || async {
        for i in 0..5 {
            if down.user(&format!("d{i}")).await?["active"] != false {
                return None;
            }
        }
        Some(())
    })
    .await;
}

async fn spawn_quick(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |a| {
        a.push.timeout_ms = 500;
        a.push.quarantine_after = 3;
        a.push.retry_base_ms = 100;
        a.push.poll_ms = 50;
    })
    .await
}

mod quick {
    macro_rules! both {
        ($($name:ident),+) => {
            mod sqlite { $(
                #[tokio::test]
                async fn $name() {
                    super::super::$name(super::super::spawn_quick(scim_tests::Backend::Sqlite).await.unwrap()).await;
                }
            )+ }
            mod postgres { $(
                #[tokio::test]
                async fn $name() {
                    match super::super::spawn_quick(scim_tests::Backend::Postgres).await {
                        Some(app) => super::super::$name(app).await,
                        None => eprintln!("skipped: set {} to run PostgreSQL cases", scim_tests::POSTGRES_ENV),
                    }
                }
            )+ }
        };
    }
    both!(
        faults_are_retried_until_the_remote_converges,
        a_failing_target_is_quarantined_and_resumes
    );
}

backend_tests!(
    downstream_credentials_never_leak,
    refusals_are_parked_with_the_remote_message_and_retried_on_request,
    the_deletion_threshold_pauses_a_mass_deprovisioning,
);

/// Downstream credentials never reach the server log, the call log, the status or the audit
/// log, even when calls fail and the remote echoes errors.
async fn downstream_credentials_never_leak(app: TestApp) {
    use scim_tests::proxy::Gate;
    let logs = scim_tests::capture_logs();
    let down = Downstream::start().await;
    let proxy = FaultProxy::start(&down.app.addr).await;
    let secret = format!("cs-{}", uuid::Uuid::new_v4().simple());
    proxy.gate(Gate::OAuth2("roster".into(), secret.clone()), &down.token);
    let admin = app.token(&["admin"]);
    let rw = app.rw_token();
    let mut body = target_body("leak", &format!("{}/scim/v2", proxy.addr), "unused");
    body["auth"] = json!({"type": "oauth2", "tokenUrl": format!("{}/oauth/token", proxy.addr),
        "clientId": "roster", "clientSecret": secret});
    let t = add_target(&app, &admin, &body).await;
    let id = t["id"].as_str().unwrap();
    proxy.schedule([Fault::Status(500), Fault::Status(503)]);
    let u = app.create_user(&rw, "leaky").await;
    let _ = app
        .req(
            Method::POST,
            &format!(
                "/admin/v1/targets/{id}/provision/Users/{}",
                u["id"].as_str().unwrap()
            ),
            &admin,
        )
        .send()
        .await
        .unwrap();
    wait_for(T, "leaky downstream", || down.user("leaky")).await;
    let mut texts = vec![logs.text()];
    for path in [
        format!("/admin/v1/targets/{id}"),
        format!("/admin/v1/targets/{id}/status"),
        format!("/admin/v1/targets/{id}/log?count=1000"),
        format!("/admin/v1/targets/{id}/failed"),
    ] {
        texts.push(
            app.req(Method::GET, &path, &admin)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    let audit = app.token(&["audit.read"]);
    texts.push(
        app.req(Method::GET, "/audit/v1/events?limit=1000", &audit)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(texts[0].contains("push"), "the capture holds push logs");
    for t in &texts {
        assert!(!t.contains(&secret), "the client secret leaked");
        assert!(!t.contains("Bearer at-"), "the access token leaked");
    }
}
