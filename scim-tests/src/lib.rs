//! Test harness: starts the real Roster server on a random loopback port against a fresh
//! database (an SQLite file, or a PostgreSQL database created for the test and dropped after)
//! and talks to it over HTTP.
//!
//! PostgreSQL cases run when `ROSTER_TEST_POSTGRES_URL` names a server database the tests may
//! create databases from (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); without it they
//! print that they were skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod process;
pub mod proxy;
pub mod push;
pub mod webhook;

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::Connection;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use server::config::ServeArgs;
use server::startup::Application;

/// Environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "ROSTER_TEST_POSTGRES_URL";

/// The credentials key of test servers (`ROSTER_SECRET_KEY`), so that CLI runs and replicas
/// in a test share it.
pub const TEST_SECRET_KEY: &str =
    "7465737420736563726574206b657920666f7220726f73746572207465737473";

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

/// A fresh database, removed on drop.
pub enum TestDb {
    /// SQLite file path.
    Sqlite(PathBuf),
    /// PostgreSQL: admin URL and database name.
    Postgres {
        /// URL of the maintenance database.
        admin_url: String,
        /// The database created for this test.
        name: String,
    },
}

impl TestDb {
    /// Creates a fresh database, or `None` for PostgreSQL when it is not configured.
    pub fn create(backend: Backend) -> Option<TestDb> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join("roster-tests");
                std::fs::create_dir_all(&dir).unwrap();
                Some(TestDb::Sqlite(dir.join(format!("{id}.db"))))
            }
            Backend::Postgres => {
                let admin_url = std::env::var(POSTGRES_ENV).ok()?;
                let name = format!("roster_test_{id}");
                let mut c = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
                    panic!("{POSTGRES_ENV} is set but PostgreSQL is unreachable: {e}")
                });
                c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
                Some(TestDb::Postgres { admin_url, name })
            }
        }
    }

    /// The Roster database URL.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(p) => format!("sqlite://{}", p.display()),
            TestDb::Postgres { admin_url, name } => {
                let (prefix, _) = admin_url.rsplit_once('/').unwrap();
                format!("{prefix}/{name}")
            }
        }
    }

    /// A direct diesel connection to the test database (for tampering in tests).
    pub fn raw(&self) -> store::DbConn {
        match self {
            TestDb::Sqlite(p) => store::DbConn::Sqlite(
                diesel::sqlite::SqliteConnection::establish(&p.display().to_string()).unwrap(),
            ),
            TestDb::Postgres { .. } => {
                store::DbConn::Postgres(PgConnection::establish(&self.url()).unwrap())
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite(p) => store::remove_sqlite_files(p),
            TestDb::Postgres { admin_url, name } => {
                if let Ok(mut c) = PgConnection::establish(admin_url) {
                    let _ =
                        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
        }
    }
}

/// A running Roster plus an HTTP client.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub addr: String,
    /// The HTTP client (keep-alive).
    pub client: reqwest::Client,
    /// The server's state (store, keys).
    pub state: server::state::AppState,
    /// The backend under test.
    pub backend: Backend,
    handle: actix_web::dev::ServerHandle,
    /// The server with its background workers (push, webhooks, scheduler); done when they have
    /// all stopped and released their leases.
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The database (dropped last).
    pub db: TestDb,
}

impl TestApp {
    /// Starts Roster on a fresh database, or `None` if the backend is not configured.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// [`spawn`](TestApp::spawn) with settings changed by `configure`.
    pub async fn spawn_with(
        backend: Backend,
        configure: impl FnOnce(&mut ServeArgs),
    ) -> Option<TestApp> {
        let db = TestDb::create(backend)?;
        let mut args = ServeArgs::for_database(&db.url());
        args.db.secret_key = Some(TEST_SECRET_KEY.to_string());
        configure(&mut args);
        let app = Application::build(&args).expect("server starts");
        let addr = format!("http://{}", app.addr());
        let state = app.state().clone();
        let handle = app.handle();
        let task = tokio::spawn(app.run_until_stopped());
        Some(TestApp {
            addr,
            client: reqwest::Client::new(),
            state,
            backend,
            handle,
            task,
            db,
        })
    }

    /// Stops this server and starts another on the same database with settings changed by
    /// `configure` (for settings that name existing resources, such as protected group ids).
    pub async fn restart_with(self, configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
        self.stop().await;
        let TestApp {
            client,
            backend,
            db,
            task,
            ..
        } = self;
        // the old workers must be gone (leases released, cursors written) before the new ones
        // start, or the old ones, with the old settings, would handle the new server's events
        let _ = tokio::time::timeout(std::time::Duration::from_secs(60), task).await;
        let mut args = ServeArgs::for_database(&db.url());
        args.db.secret_key = Some(TEST_SECRET_KEY.to_string());
        configure(&mut args);
        let app = Application::build(&args).expect("server starts");
        let addr = format!("http://{}", app.addr());
        let state = app.state().clone();
        let handle = app.handle();
        let task = tokio::spawn(app.run_until_stopped());
        TestApp {
            addr,
            client,
            state,
            backend,
            handle,
            task,
            db,
        }
    }

    /// Issues a token with these scopes (through the same code as `roster token issue`).
    pub fn token(&self, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        server::auth::issue(&self.state.store, &self.state.keys, "test", &scopes, 1)
            .unwrap()
            .token
    }

    /// A token with `scim.read` and `scim.write`.
    pub fn rw_token(&self) -> String {
        self.token(&["scim.read", "scim.write"])
    }

    /// A request to `path` (relative to the server root) with a bearer token.
    pub fn req(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.addr, path))
            .bearer_auth(token)
    }

    /// `GET /scim/v2{path}`.
    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.req(Method::GET, &format!("/scim/v2{path}"), token)
            .send()
            .await
            .unwrap()
    }

    /// Sends `body` as `application/scim+json` with `method` to `/scim/v2{path}`.
    pub async fn send(&self, method: Method, path: &str, token: &str, body: &Value) -> Response {
        self.req(method, &format!("/scim/v2{path}"), token)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// Creates a user and returns its representation (asserts 201).
    pub async fn create_user(&self, token: &str, user_name: &str) -> Value {
        let res = self
            .send(Method::POST, "/Users", token, &user_body(user_name))
            .await;
        assert_eq!(res.status(), 201, "create user {user_name}");
        res.json().await.unwrap()
    }

    /// Number of events in the log, leaving out the alerts the background watcher appends on
    /// its own schedule (actor `system:alerts`), so that "nothing was written" checks do not
    /// race it; [`all_event_count`](TestApp::all_event_count) counts those too.
    pub fn event_count(&self) -> i64 {
        use diesel::prelude::*;
        use store::schema::events::dsl as e;
        self.state
            .store
            .read(|c| {
                Ok(e::events
                    .filter(e::actor.ne("system:alerts"))
                    .count()
                    .get_result(c)?)
            })
            .unwrap()
    }

    /// Number of events in the log, alerts included.
    pub fn all_event_count(&self) -> i64 {
        self.state.store.read(store::events::count).unwrap()
    }

    /// Stops the server gracefully.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// The `roster` binary of this workspace, built once per test process (so that it is never
/// older than the code under test).
pub fn roster_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = std::env::current_exe()
                .unwrap()
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .to_path_buf();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let ok = std::process::Command::new(cargo)
                .args(["build", "-q", "-p", "roster-server", "--bin", "roster"])
                .status()
                .unwrap()
                .success();
            let bin = dir.join("roster");
            assert!(ok && bin.exists(), "could not build {}", bin.display());
            bin
        })
        .clone()
}

/// A minimal valid User body.
pub fn user_body(user_name: &str) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": user_name},
        "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
        "active": true
    })
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved characters kept).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A Group body with these member ids.
pub fn group_body(name: &str, members: &[&str]) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": name,
        "members": members.iter().map(|m| serde_json::json!({"value": m})).collect::<Vec<_>>()
    })
}

/// Reads a JSON body and asserts it is a SCIM error with this status (and scimType, if given).
pub async fn assert_scim_error(res: Response, status: u16, scim_type: Option<&str>) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(ct.starts_with("application/scim+json"), "content type {ct}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(body["status"], status.to_string());
    assert_eq!(body["scimType"].as_str(), scim_type, "scimType in {body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn(TestApp)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let app = $crate::TestApp::spawn($crate::Backend::Sqlite).await.unwrap();
                    super::$name(app).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    match $crate::TestApp::spawn($crate::Backend::Postgres).await {
                        Some(app) => super::$name(app).await,
                        None => eprintln!("skipped: set {} to run PostgreSQL cases", $crate::POSTGRES_ENV),
                    }
                }
            )+
        }
    };
}

/// Everything the server logs in this test process, as the production text format writes it
/// (see [`capture_logs`]).
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// The log lines captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once per test process) a global tracing subscriber that keeps every line the
/// server logs at `info` and Roster's own crates at `debug`, and returns the capture.
pub fn capture_logs() -> LogCapture {
    static LOGS: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let capture = LogCapture::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,server=debug,store=debug,scim=debug,push=debug,tracing_actix_web=debug",
            ))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("no other tracing subscriber in the test process");
        capture
    })
    .clone()
}

/// A TCP proxy between Roster and its database that a test can cut and restore (crates.io's
/// `ChaosProxy`): the database stays up for everyone else while this server loses it.
pub struct ChaosProxy {
    /// `127.0.0.1:PORT` to connect to instead of the database.
    pub addr: std::net::SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl ChaosProxy {
    /// Starts forwarding connections to `target`.
    pub async fn start(target: String) -> ChaosProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> =
            Default::default();
        let (c, l) = (cut.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused by closing it
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                l.lock().unwrap().push(task.abort_handle());
            }
        });
        ChaosProxy {
            addr,
            cut,
            links,
            accept,
        }
    }

    /// The database goes away: open connections are closed, new ones are closed at once.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// The database comes back.
    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

impl TestApp {
    /// Starts Roster on a fresh PostgreSQL database reached through a [`ChaosProxy`], or `None`
    /// when PostgreSQL is not configured.
    pub async fn spawn_behind_proxy() -> Option<(TestApp, ChaosProxy)> {
        let db = TestDb::create(Backend::Postgres)?;
        let url = db.url();
        let (scheme_user, rest) = url.split_once('@').unwrap();
        let (host_port, path) = rest.split_once('/').unwrap();
        let target = if host_port.contains(':') {
            host_port.to_string()
        } else {
            format!("{host_port}:5432")
        };
        let proxy = ChaosProxy::start(target).await;
        let proxied = format!("{scheme_user}@{}/{path}", proxy.addr);
        let args = ServeArgs::for_database(&proxied);
        let app = Application::build(&args).expect("server starts");
        let addr = format!("http://{}", app.addr());
        let state = app.state().clone();
        let handle = app.handle();
        let task = tokio::spawn(app.run_until_stopped());
        Some((
            TestApp {
                addr,
                client: reqwest::Client::new(),
                state,
                backend: Backend::Postgres,
                handle,
                task,
                db,
            },
            proxy,
        ))
    }
}
