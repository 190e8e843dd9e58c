//! The `roster` binary end to end: token commands, serve, graceful shutdown on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn roster() -> Command {
    Command::new(env!("CARGO_BIN_EXE_roster"))
}

struct TempDb(PathBuf);

impl TempDb {
    fn new() -> TempDb {
        let dir = std::env::temp_dir()
            .join("roster-cli-tests")
            .join(uuid::Uuid::new_v4().simple().to_string());
        TempDb(dir)
    }
    fn url(&self) -> String {
        // a folder that does not exist yet: Roster must create it
        format!("sqlite://{}/data/roster.db", self.0.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn http_get(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    http(port, "GET", path, token, None)
}

fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    Some((status, out))
}

/// Issues a token named `t` with `scopes` through the CLI; returns the token (last line).
fn issue_token(db: &TempDb, scopes: &[&str]) -> String {
    let mut cmd = roster();
    cmd.args(["token", "issue", "--name", "t", "--database-url", &db.url()]);
    for s in scopes {
        cmd.args(["--scope", s]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string()
}

/// Waits (30 s at most) until the server on `port` answers `/healthz`.
fn wait_healthy(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(port, "/healthz", None).map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn token_issue_list_revoke() {
    let db = TempDb::new();
    let out = roster()
        .args([
            "token",
            "issue",
            "--name",
            "hr-feed",
            "--scope",
            "scim.read",
            "--scope",
            "scim.write",
        ])
        .args(["--expires-in", "30", "--database-url", &db.url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().last().unwrap();
    assert_eq!(token.split('.').count(), 3, "last line is a JWT: {stdout}");
    let jti = stdout
        .split("jti ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_string();

    let out = roster()
        .args(["token", "list", "--database-url", &db.url()])
        .output()
        .unwrap();
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(
        list.contains(&jti) && list.contains("hr-feed") && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains(token), "token list never prints tokens");

    let out = roster()
        .args(["token", "revoke", &jti, "--database-url", &db.url()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = roster()
        .args(["token", "list", "--database-url", &db.url()])
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("revoked"));

    let out = roster()
        .args(["token", "revoke", "nope", "--database-url", &db.url()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no token"));

    let out = roster()
        .args([
            "token",
            "issue",
            "--name",
            "x",
            "--scope",
            "root",
            "--database-url",
            &db.url(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "unknown scopes are refused");

    let out = roster()
        .args(["serve", "--database-url", "mysql://x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite:// or postgres://"));
}

#[test]
fn serve_answers_and_stops_gracefully_on_sigterm() {
    let db = TempDb::new();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token = issue_token(&db, &["scim.read"]);
    let mut child = roster()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &db.url(),
        ])
        .env("ROSTER_LOG", "info")
        .env("ROSTER_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_healthy(port);
    let (status, body) = http_get(port, "/scim/v2/Users", Some(&token)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(http_get(port, "/readyz", None).unwrap().0, 200);
    assert_eq!(
        http_get(port, "/scim/v2/Groups", Some("not-a-token"))
            .unwrap()
            .0,
        401
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("Roster listening"), "{log}");
    assert!(!log.contains(&token), "the token never appears in logs");
    // JSON logs: every line is one JSON object; lines written while serving a request carry
    // its request id (the 401 below is logged inside the request span)
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not a JSON line: {line}"
        );
    }
    assert!(
        log.lines()
            .any(|l| l.contains("request_id") && l.contains("/scim/v2/Groups")),
        "{log}"
    );
}

#[test]
fn custom_schema_extensions_from_roster_schema_dir() {
    let db = TempDb::new();
    let schemas = db.0.join("schemas");
    std::fs::create_dir_all(schemas.join("Group")).unwrap();
    std::fs::write(
        schemas.join("Group/acme.json"),
        r#"{"id": "urn:acme:params:scim:schemas:extension:2.0:Group", "name": "AcmeGroup",
            "description": "Acme group data",
            "attributes": [{"name": "costCode", "type": "string", "multiValued": false,
                            "caseExact": false, "mutability": "readWrite", "returned": "default"},
                           {"name": "badge", "type": "string", "multiValued": false,
                            "mutability": "immutable", "returned": "default"}]}"#,
    )
    .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token = issue_token(&db, &["scim.read", "scim.write"]);
    let mut child = roster()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &db.url(),
        ])
        .env("ROSTER_SCHEMA_DIR", &schemas)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(port);
    let urn = "urn:acme:params:scim:schemas:extension:2.0:Group";
    let (status, body) = http(
        port,
        "POST",
        "/scim/v2/Groups",
        Some(&token),
        Some(&format!(r#"{{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "{urn}"], "displayName": "Acme", "{urn}": {{"costCode": "CC-9", "badge": "B1"}}}}"#)),
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let id = body
        .split(r#""id":""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    // immutable: PUT may not change it once set (RFC 7644 §3.5.1)
    let (status, body) = http(
        port,
        "PUT",
        &format!("/scim/v2/Groups/{id}"),
        Some(&token),
        Some(&format!(r#"{{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Acme", "{urn}": {{"badge": "B2"}}}}"#)),
    )
    .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("mutability"), "{body}");
    let (_, list) = http_get(
        port,
        "/scim/v2/Groups?filter=costCode%20eq%20%22cc-9%22&sortBy=costCode",
        Some(&token),
    )
    .unwrap();
    assert!(list.contains(r#""totalResults":1"#), "{list}");
    let (status, body) = http(
        port,
        "POST",
        "/scim/v2/Groups",
        Some(&token),
        Some(&format!(r#"{{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "X", "{urn}": {{"costCode": 7}}}}"#)),
    )
    .unwrap();
    assert_eq!(status, 400, "validated by type: {body}");
    let (_, schemas_list) = http_get(port, "/scim/v2/Schemas", Some(&token)).unwrap();
    assert!(schemas_list.contains(urn));
    let (_, rt) = http_get(port, "/scim/v2/ResourceTypes/Group", Some(&token)).unwrap();
    assert!(rt.contains(urn), "{rt}");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    // a broken schema file stops the server at start with the file named
    std::fs::write(schemas.join("Group/broken.json"), "{").unwrap();
    let out = roster()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url(),
        ])
        .env("ROSTER_SCHEMA_DIR", &schemas)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.json"));
}

fn run_ok(args: &[&str]) -> String {
    let out = roster().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn rule_add_list_show_remove() {
    let db = TempDb::new();
    let url = db.url();
    run_ok(&["migrate", "--database-url", &url]);
    let store = store::Store::open(&url, &store::PoolOptions::default()).unwrap();
    let ctx = store::WriteCtx::system("test");
    let (group, user) = store
        .write(&ctx, |tx| {
            let (g, _) = store::groups::create(
                tx,
                serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "ops"}),
            )?;
            let u = store::users::create(
                tx,
                serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "op1", "title": "Operator"}),
            )?;
            Ok((g.id, u.id))
        })
        .unwrap();
    let out = run_ok(&[
        "rule",
        "add",
        "--name",
        "operators",
        "--filter",
        "title eq \"Operator\"",
        "--group",
        &group,
        "--grace-days",
        "3",
        "--database-url",
        &url,
    ]);
    assert!(out.contains("1 users evaluated, status ready"), "{out}");
    let id = out.lines().last().unwrap().trim().to_string();
    let sources = store
        .read(|c| store::members::sources_of(c, &user))
        .unwrap();
    assert_eq!(sources, vec![(group.clone(), format!("rule:{id}"))]);
    let list = run_ok(&["rule", "list", "--database-url", &url]);
    assert!(list.contains(&id) && list.contains("operators"), "{list}");
    let show = run_ok(&["rule", "show", "operators", "--database-url", &url]);
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(
        (v["id"].as_str(), v["graceDays"].as_i64()),
        (Some(id.as_str()), Some(3))
    );
    // validation names the field; nothing is written
    let bad = roster()
        .args([
            "rule",
            "add",
            "--name",
            "x",
            "--filter",
            "title eq",
            "--group",
            &group,
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("filter:"));
    let out = run_ok(&["rule", "remove", "operators", "--database-url", &url]);
    assert!(out.contains("1 memberships ended"), "{out}");
    assert!(store
        .read(|c| store::members::sources_of(c, &user))
        .unwrap()
        .is_empty());
    let missing = roster()
        .args(["rule", "show", &id, "--database-url", &url])
        .output()
        .unwrap();
    assert!(!missing.status.success());
}
