//! Helpers for push tests: a downstream Roster, waiting for convergence, admin calls.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::{Backend, TestApp};

/// A downstream Roster (always on SQLite: the upstream is the backend under test).
pub struct Downstream {
    /// The running server.
    pub app: TestApp,
    /// A read-write token for it.
    pub token: String,
}

impl Downstream {
    /// Starts a downstream Roster with its push engine off.
    pub async fn start() -> Downstream {
        let app = TestApp::spawn_with(Backend::Sqlite, |a| a.push.enabled = false)
            .await
            .unwrap();
        let token = app.rw_token();
        Downstream { app, token }
    }

    /// Its SCIM base URL.
    pub fn base_url(&self) -> String {
        format!("{}/scim/v2", self.app.addr)
    }

    /// Users whose userName equals `name` (exact filter).
    pub async fn users_named(&self, name: &str) -> Vec<Value> {
        let filter = crate::enc(&format!("userName eq \"{name}\""));
        let res = self
            .app
            .get(&format!("/Users?filter={filter}"), &self.token)
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["Resources"].as_array().cloned().unwrap_or_default()
    }

    /// The one user named `name`, if exactly one exists (panics on duplicates).
    pub async fn user(&self, name: &str) -> Option<Value> {
        let mut found = self.users_named(name).await;
        assert!(found.len() <= 1, "duplicate accounts for {name}: {found:?}");
        found.pop()
    }

    /// Total users.
    pub async fn count(&self) -> u64 {
        let res = self.app.get("/Users?count=0", &self.token).await;
        let body: Value = res.json().await.unwrap();
        body["totalResults"].as_u64().unwrap()
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `timeout` with `what`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A target body for `POST /admin/v1/targets`.
pub fn target_body(name: &str, base_url: &str, token: &str) -> Value {
    json!({
        "name": name,
        "baseUrl": base_url,
        "auth": {"type": "bearer", "token": token},
        "scope": {"type": "all"},
        "deprovision": "disable",
    })
}

/// Creates a target on `app` (asserts 201) and returns it.
pub async fn add_target(app: &TestApp, admin: &str, body: &Value) -> Value {
    let res = app
        .req(Method::POST, "/admin/v1/targets", admin)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "create target: {v}");
    v
}

/// `GET /admin/v1/targets/{id}/status`.
pub async fn status(app: &TestApp, admin: &str, id: &str) -> Value {
    let res = app
        .req(
            Method::GET,
            &format!("/admin/v1/targets/{id}/status"),
            admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Waits until the target has no lag, no full sync and nothing retrying.
pub async fn wait_idle(app: &TestApp, admin: &str, id: &str, timeout: Duration) -> Value {
    wait_for(timeout, "the target to catch up", || async {
        let s = status(app, admin, id).await;
        (s["lagEvents"] == 0 && s["fullSync"].is_null() && s["retrying"] == 0).then_some(s)
    })
    .await
}
