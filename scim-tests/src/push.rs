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

/// python-scim's `scim2-server` (in-memory SCIM server from PyPI), started on loopback as an
/// independent downstream. The virtualenv is created on first use from
/// `scim-tests/downstream/requirements.txt` (pinned), under the cargo target folder.
pub struct Scim2Server {
    child: std::process::Child,
    /// Base URL (`http://127.0.0.1:PORT/v2`).
    pub base_url: String,
    /// The bearer token it accepts.
    pub token: String,
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn target_dir() -> std::path::PathBuf {
    if let Ok(d) = std::env::var("CARGO_TARGET_DIR") {
        let p = std::path::PathBuf::from(d);
        if p.is_absolute() {
            return p;
        }
    }
    // <target>/debug/deps/<test binary>
    std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .unwrap()
        .to_path_buf()
}

/// The virtualenv holding scim2-server (created and filled once per test process).
fn scim2_venv() -> std::path::PathBuf {
    static VENV: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    VENV.get_or_init(|| {
        let reqs =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("downstream/requirements.txt");
        let wanted = std::fs::read_to_string(&reqs).unwrap();
        let venv = std::env::var("ROSTER_DOWNSTREAM_VENV")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| target_dir().join("downstream-venv"));
        let stamp = venv.join("roster-requirements.txt");
        // reuse only a venv that was filled from these pins and still runs (a copied or moved
        // venv keeps its stamp but its scripts point at the old path)
        let runs = || {
            std::process::Command::new(venv.join("bin/scim2-server"))
                .arg("--help")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && runs() {
            return venv;
        }
        let python =
            std::env::var("ROSTER_CONFORMANCE_PYTHON").unwrap_or_else(|_| "python3".into());
        let run = |cmd: &mut std::process::Command, what: &str| {
            let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(
                out.status.success(),
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let _ = std::fs::remove_dir_all(&venv);
        run(
            std::process::Command::new(&python)
                .args(["-m", "venv"])
                .arg(&venv),
            "python3 -m venv",
        );
        let pip = venv.join("bin/pip");
        run(
            std::process::Command::new(&pip)
                .args([
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "--no-deps",
                    "-r",
                ])
                .arg(&reqs),
            "pip install scim2-server",
        );
        run(
            std::process::Command::new(&pip).args(["check"]),
            "pip check",
        );
        std::fs::write(&stamp, wanted).unwrap();
        venv
    })
    .clone()
}

impl Scim2Server {
    /// Starts scim2-server on a free loopback port and waits until it answers.
    pub async fn start() -> Scim2Server {
        let venv = scim2_venv();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let token = format!("s2-{}", uuid::Uuid::new_v4().simple());
        let child = std::process::Command::new(venv.join("bin/scim2-server"))
            .args([
                "--hostname",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--bearer-token",
                &token,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let base_url = format!("http://127.0.0.1:{port}/v2");
        let server = Scim2Server {
            child,
            base_url,
            token,
        };
        let client = reqwest::Client::new();
        wait_for(Duration::from_secs(30), "scim2-server to start", || {
            let c = client.clone();
            let url = format!("{}/ServiceProviderConfig", server.base_url);
            let t = server.token.clone();
            async move {
                let r = c.get(url).bearer_auth(t).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
        server
    }

    /// `GET {path}` on the server (path below the base URL), as JSON.
    pub async fn get(&self, path: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Users whose userName equals `name`.
    pub async fn users_named(&self, name: &str) -> Vec<Value> {
        let filter = crate::enc(&format!("userName eq \"{name}\""));
        let v = self.get(&format!("/Users?filter={filter}")).await;
        v["Resources"].as_array().cloned().unwrap_or_default()
    }
}
