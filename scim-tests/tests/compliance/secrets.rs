//! Nothing secret leaves: planted tokens, passwords and the signing key never appear in a log
//! line, a response body or header, or the audit API; error bodies carry no SQL, paths or
//! backtraces.

use reqwest::Method;
use scim_tests::{backend_tests, capture_logs, enc, TestApp};
use serde_json::{json, Value};

/// One response as the client saw it.
struct Seen {
    what: String,
    status: u16,
    text: String,
}

async fn record(seen: &mut Vec<Seen>, what: &str, res: reqwest::Response) {
    let status = res.status().as_u16();
    let headers = format!("{:?}", res.headers());
    let body = res.text().await.unwrap();
    seen.push(Seen {
        what: what.to_string(),
        status,
        text: format!("{headers}\n{body}"),
    });
}

async fn planted_secrets_never_leave(app: TestApp) {
    let logs = capture_logs();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let password = format!("Planted-Pa55-{tag}");
    let password2 = format!("Second-Pa55-{tag}");
    let writer = app.token(&["scim.read", "scim.write"]);
    let reader = app.token(&["scim.read"]);
    let auditor = app.token(&["audit.read"]);
    let signing_key = app
        .state
        .store
        .read(|c| store::settings::get(c, "jwt_hs256_secret"))
        .unwrap()
        .unwrap();
    let forged = format!("{writer}x");
    let mut seen = Vec::new();
    let user = |name: &str, pw: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "password": pw});
    let scim = |m: Method, path: &str, token: &str, body: Option<String>| {
        let mut r = app
            .req(m, &format!("/scim/v2{path}"), token)
            .header("Content-Type", "application/scim+json");
        if let Some(b) = body {
            r = r.body(b);
        }
        r
    };

    // successful writes carrying passwords
    let res = scim(
        Method::POST,
        "/Users",
        &writer,
        Some(user(&format!("s-{tag}"), &password).to_string()),
    )
    .send()
    .await
    .unwrap();
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(created.get("password").is_none());
    for (what, m, path, body) in [
        (
            "put",
            Method::PUT,
            format!("/Users/{id}"),
            user(&format!("s-{tag}"), &password2),
        ),
        (
            "patch",
            Method::PATCH,
            format!("/Users/{id}"),
            json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "password", "value": password}]}),
        ),
        (
            "bulk",
            Method::POST,
            "/Bulk".into(),
            json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": user(&format!("b-{tag}"), &password)},
                {"method": "POST", "path": "/Users", "bulkId": "b", "data": user(&format!("s-{tag}"), &password)},
                {"method": "PATCH", "path": "/Users/nope", "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "password", "value": password}]}}
            ]}),
        ),
        // failing requests that carry the password
        (
            "duplicate",
            Method::POST,
            "/Users".into(),
            user(&format!("S-{tag}"), &password),
        ),
        (
            "wrong type",
            Method::POST,
            "/Users".into(),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "t", "password": [password]}),
        ),
        (
            "bad attribute",
            Method::POST,
            "/Users".into(),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": 5, "password": password}),
        ),
        (
            "unknown id",
            Method::PUT,
            "/Users/nope".into(),
            user("x", &password),
        ),
        (
            "bad patch",
            Method::PATCH,
            format!("/Users/{id}"),
            json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "frobnicate", "path": "password", "value": password}]}),
        ),
        (
            "patch password wrong type",
            Method::PATCH,
            format!("/Users/{id}"),
            json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "password", "value": {"v": password}}]}),
        ),
    ] {
        let res = scim(m, &path, &writer, Some(body.to_string()))
            .send()
            .await
            .unwrap();
        record(&mut seen, what, res).await;
    }
    // malformed JSON around a password, a read-only token, a forged token
    let truncated = format!("{{\"userName\": \"t2\", \"password\": \"{password}\"");
    let res = scim(Method::POST, "/Users", &writer, Some(truncated))
        .send()
        .await
        .unwrap();
    record(&mut seen, "truncated json", res).await;
    let res = scim(
        Method::POST,
        "/Users",
        &reader,
        Some(user("r", &password).to_string()),
    )
    .send()
    .await
    .unwrap();
    record(&mut seen, "403", res).await;
    let res = scim(Method::GET, "/Users", &forged, None)
        .send()
        .await
        .unwrap();
    record(&mut seen, "forged token", res).await;
    let res = scim(
        Method::POST,
        "/Users",
        &forged,
        Some(user("f", &password).to_string()),
    )
    .send()
    .await
    .unwrap();
    record(&mut seen, "forged token write", res).await;
    // the password in a filter (RFC 7644 §7.2 says never to put one in a URL; clients do)
    let f = format!("password eq \"{password}\"");
    let res = app
        .get(&format!("/Users?filter={}", enc(&f)), &reader)
        .await;
    record(&mut seen, "filter on password", res).await;
    let res = scim(Method::POST, "/Users/.search", &reader, Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": f}).to_string())).send().await.unwrap();
    record(&mut seen, "search on password", res).await;
    // ... with a token that is refused, so that the request logs (the URL is in its span)
    let res = app
        .get(&format!("/Users?filter={}", enc(&f)), &forged)
        .await;
    record(&mut seen, "filter on password, forged token", res).await;
    // reads everywhere a resource appears
    for path in [
        format!("/scim/v2/Users/{id}"),
        "/scim/v2/Users".into(),
        "/scim/v2/Users?attributes=password".into(),
    ] {
        let res = app.req(Method::GET, &path, &reader).send().await.unwrap();
        record(&mut seen, &path, res).await;
    }
    for path in [
        "/audit/v1/events?limit=1000".to_string(),
        format!("/audit/v1/Users/{id}/versions"),
        format!("/audit/v1/Users/{id}"),
    ] {
        let res = app.req(Method::GET, &path, &auditor).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        record(&mut seen, &path, res).await;
    }
    let res = app
        .req(Method::GET, "/audit/v1/events?limit=1000", &auditor)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    record(&mut seen, "csv export", res).await;

    // the workload did run and was logged
    let log = logs.text();
    assert!(log.contains(&id), "the capture holds this test's log lines");
    assert!(seen.iter().any(|s| s.status == 401) && seen.iter().any(|s| s.status == 403));
    assert!(seen.iter().filter(|s| s.status >= 400).count() >= 8);

    let secrets = [
        ("password", password.as_str()),
        ("second password", password2.as_str()),
        ("write token", writer.as_str()),
        ("read token", reader.as_str()),
        ("audit token", auditor.as_str()),
        ("forged token", forged.as_str()),
        ("signing key", signing_key.as_str()),
    ];
    // a token's signature is the part only its holder has; its payload is public
    let signatures: Vec<(&str, &str)> = secrets
        .iter()
        .filter(|(w, _)| w.ends_with("token"))
        .map(|(w, t)| (*w, t.rsplit('.').next().unwrap()))
        .collect();
    for (what, secret) in secrets.iter().chain(signatures.iter()) {
        for line in log.lines() {
            assert!(!line.contains(secret), "{what} in a log line: {line}");
        }
        for s in &seen {
            assert!(
                !s.text.contains(secret),
                "{what} in the response to {}: {}",
                s.what,
                s.text
            );
        }
    }
    // error bodies: no SQL, no file paths, no backtraces
    for s in seen.iter().filter(|s| s.status >= 400) {
        let lower = s.text.to_lowercase();
        for needle in [
            "select ",
            "insert ",
            "update ",
            " from ",
            "sqlite",
            "postgres",
            "diesel",
            ".rs:",
            "/src/",
            "/work/",
            "panicked",
            "backtrace",
            "stack",
        ] {
            assert!(
                !lower.contains(needle),
                "'{needle}' in the {} response to {}: {}",
                s.status,
                s.what,
                s.text
            );
        }
    }
}

backend_tests!(planted_secrets_never_leave);
