//! The database goes away and comes back (PostgreSQL behind a TCP proxy; the shared server
//! itself is never stopped): 503 with Retry-After meanwhile, recovery without a restart.

use std::time::{Duration, Instant};

use reqwest::Method;
use scim_tests::{assert_scim_error, user_body, TestApp, POSTGRES_ENV};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_is_503_with_retry_after_and_recovers() {
    let Some((app, proxy)) = TestApp::spawn_behind_proxy().await else {
        eprintln!("skipped: set {POSTGRES_ENV} to run PostgreSQL cases");
        return;
    };
    let t = app.rw_token();
    app.create_user(&t, "before").await;

    proxy.cut();
    for (method, path) in [(Method::GET, "/Users"), (Method::POST, "/Users")] {
        let started = Instant::now();
        let res = app
            .req(method.clone(), &format!("/scim/v2{path}"), &t)
            .header("Content-Type", "application/scim+json")
            .body(user_body("during").to_string())
            .send()
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(15), "{method} hung");
        assert_eq!(
            res.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string()),
            Some("5".to_string()),
            "{method} {path}"
        );
        let body = assert_scim_error(res, 503, None).await;
        assert!(
            !body["detail"].as_str().unwrap().contains("127.0.0.1"),
            "{body}"
        );
    }
    let res = app
        .client
        .get(format!("{}/readyz", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));

    proxy.restore();
    let started = Instant::now();
    loop {
        let status = app.get("/Users", &t).await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(started.elapsed() < Duration::from_secs(30), "no recovery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.create_user(&t, "after").await;
    let res = app
        .get("/Users?filter=userName%20eq%20%22during%22", &t)
        .await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["totalResults"], 0, "the refused write did not happen");
    assert_eq!(
        app.client
            .get(format!("{}/readyz", app.addr))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
