//! Request limits (issue 7): advertised where RFC 7643 has a field, enforced with the RFC
//! status, never a 500, a panic, a stack overflow or a hang.

use std::time::{Duration, Instant};

use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, enc, group_body, user_body, TestApp};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn search(filter: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": filter
    })
}

/// Same limits by GET query and by POST /.search body.
async fn assert_filter_refused(app: &TestApp, t: &str, filter: &str, needle: &str) {
    let res = app
        .send(Method::POST, "/Users/.search", t, &search(filter))
        .await;
    let body = assert_scim_error(res, 400, Some("invalidFilter")).await;
    assert!(
        body["detail"].as_str().unwrap().contains(needle),
        "{needle}: {body}"
    );
}

async fn filter_length_depth_and_nodes_are_400(app: TestApp) {
    let t = app.rw_token();
    app.create_user(&t, "u0").await;
    // length: 16 KiB is fine, one byte more is refused (GET and POST)
    let pad = |n: usize| format!("userName eq \"{}\"", "x".repeat(n - 14));
    let at_limit = pad(16 * 1024);
    assert_eq!(at_limit.len(), 16 * 1024);
    let res = app
        .get(&format!("/Users?filter={}", enc(&at_limit)), &t)
        .await;
    assert_eq!(res.status(), 200);
    let over = pad(16 * 1024 + 1);
    let res = app.get(&format!("/Users?filter={}", enc(&over)), &t).await;
    assert_scim_error(res, 400, Some("invalidFilter")).await;
    assert_filter_refused(&app, &t, &over, "longer than the maximum of 16384 bytes").await;
    // depth: 32 levels answer, 33 do not
    let nest = |n: usize| format!("{}userName pr{}", "(".repeat(n), ")".repeat(n));
    let res = app
        .send(Method::POST, "/Users/.search", &t, &search(&nest(32)))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["totalResults"], 1);
    assert_filter_refused(&app, &t, &nest(33), "nested deeper than the maximum of 32").await;
    let nots = format!("{}userName pr{}", "not (".repeat(33), ")".repeat(33));
    assert_filter_refused(&app, &t, &nots, "nested deeper").await;
    // nodes: 1000 expressions are compiled and run on the database; 1001 are refused
    let terms = |n: usize| {
        (0..n)
            .map(|i| format!("userName eq \"u{i}\""))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let res = app
        .send(Method::POST, "/Users/.search", &t, &search(&terms(500)))
        .await;
    assert_eq!(res.status(), 200, "999 expressions");
    assert_eq!(res.json::<Value>().await.unwrap()["totalResults"], 1);
    let and_chain = (0..500)
        .map(|_| "userName pr")
        .collect::<Vec<_>>()
        .join(" and ");
    let res = app
        .send(Method::POST, "/Users/.search", &t, &search(&and_chain))
        .await;
    assert_eq!(res.status(), 200, "999 expressions (and)");
    assert_filter_refused(&app, &t, &terms(501), "more than 1000 expressions").await;
}

async fn deep_filters_never_overflow_even_with_a_raised_length_limit(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let app = TestApp::spawn_with(backend, |a| {
        a.limits.filter_max_length = 1024 * 1024;
        a.max_body_bytes = 2 * 1024 * 1024;
    })
    .await
    .unwrap();
    let t = app.rw_token();
    for open in ["(", "not (", "emails[", "emails[type eq \"a\" and ("] {
        let f = format!("{}userName pr", open.repeat(100_000 / open.len()));
        assert_filter_refused(&app, &t, &f, "nested").await;
    }
    // a balanced 100k-deep filter is refused the same way
    let f = format!("{}a pr{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_filter_refused(&app, &t, &f, "nested deeper").await;
    // the server is still up
    assert_eq!(app.get("/Users", &t).await.status(), 200);
}

async fn configured_filter_limits_apply(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let app = TestApp::spawn_with(backend, |a| {
        a.limits.filter_max_length = 100;
        a.limits.filter_max_depth = 2;
        a.limits.filter_max_nodes = 3;
    })
    .await
    .unwrap();
    let t = app.rw_token();
    assert_filter_refused(&app, &t, &"a pr or ".repeat(20), "maximum of 100 bytes").await;
    assert_filter_refused(&app, &t, "(((a pr)))", "maximum of 2 levels").await;
    assert_filter_refused(&app, &t, "a pr or b pr or c pr", "more than 3").await;
    let res = app
        .send(
            Method::POST,
            "/Users/.search",
            &t,
            &search("((userName pr) or title pr)"),
        )
        .await;
    assert_eq!(res.status(), 200);
}

/// A JSON text nested `depth` deep: `{"a":{"a":...}}` around a valid user.
fn nested_json(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

async fn json_nesting_is_400_on_every_body(app: TestApp) {
    let t = app.rw_token();
    let u = app.create_user(&t, "deep").await;
    let id = u["id"].as_str().unwrap();
    let mut ok = user_body("deep2");
    // 32 levels (the default maximum) in an attribute value: parsed, then refused by the schema
    let mut v = json!("x");
    for _ in 0..31 {
        v = json!([v]);
    }
    ok["nickName"] = v;
    let res = app.send(Method::POST, "/Users", &t, &ok).await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    for (method, path) in [
        (Method::POST, "/Users".to_string()),
        (Method::PUT, format!("/Users/{id}")),
        (Method::PATCH, format!("/Users/{id}")),
        (Method::POST, "/Groups".to_string()),
        (Method::POST, "/Users/.search".to_string()),
        (Method::POST, "/.search".to_string()),
        (Method::POST, "/Bulk".to_string()),
    ] {
        for depth in [33, 100_000] {
            let body = format!("{{\"a\":{}}}", nested_json(depth - 1));
            let res = app
                .req(method.clone(), &format!("/scim/v2{path}"), &t)
                .header("Content-Type", "application/scim+json")
                .body(body)
                .send()
                .await
                .unwrap();
            let e = assert_scim_error(res, 400, Some("invalidSyntax")).await;
            assert!(
                e["detail"].as_str().unwrap().contains("nested deeper"),
                "{method} {path} {depth}: {e}"
            );
        }
    }
    // unbalanced: a megabyte of '[' is refused without parsing it
    let res = app
        .req(Method::POST, "/scim/v2/Users", &t)
        .header("Content-Type", "application/scim+json")
        .body("[".repeat(1024 * 1024 - 1))
        .send()
        .await
        .unwrap();
    assert_scim_error(res, 400, Some("invalidSyntax")).await;
    assert_eq!(app.get("/Users", &t).await.status(), 200);
}

async fn value_length_is_400_invalid_value(app: TestApp) {
    let t = app.rw_token();
    // 2048 bytes is the default maximum and is stored on both backends (indexed columns)
    let long = "é".repeat(1024);
    assert_eq!(long.len(), 2048);
    let named = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
    let res = app.send(Method::POST, "/Users", &t, &named(&long)).await;
    assert_eq!(res.status(), 201);
    let u: Value = res.json().await.unwrap();
    let id = u["id"].as_str().unwrap();
    let res = app
        .get(
            &format!("/Users?filter={}", enc(&format!("userName eq \"{long}\""))),
            &t,
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["totalResults"], 1);
    let over = format!("{long}x");
    let before = app.event_count();
    let res = app.send(Method::POST, "/Users", &t, &named(&over)).await;
    let e = assert_scim_error(res, 400, Some("invalidValue")).await;
    assert!(e["detail"].as_str().unwrap().contains("2049 bytes"), "{e}");
    let mut b = user_body("other");
    b["name"]["familyName"] = json!(over);
    let res = app.send(Method::PUT, &format!("/Users/{id}"), &t, &b).await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": over}]
    });
    let res = app
        .send(Method::PATCH, &format!("/Users/{id}"), &t, &patch)
        .await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    let res = app
        .send(Method::POST, "/Groups", &t, &group_body(&over, &[]))
        .await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "POST", "path": "/Users", "bulkId": "a", "data": named(&over)}]
    });
    let res = app.send(Method::POST, "/Bulk", &t, &bulk).await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    assert_eq!(app.event_count(), before, "nothing was written");
}

async fn patch_size_limits(app: TestApp) {
    let t = app.rw_token();
    let g = app
        .send(Method::POST, "/Groups", &t, &group_body("big", &[]))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let gid = g["id"].as_str().unwrap();
    let u = app.create_user(&t, "m").await;
    let uid = u["id"].as_str().unwrap();
    let members = |n: usize| (0..n).map(|_| json!({"value": uid})).collect::<Vec<_>>();
    let patch = |ops: Vec<Value>| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let add = |n: usize| json!({"op": "add", "path": "members", "value": members(n)});
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            &t,
            &patch(vec![add(1000)]),
        )
        .await;
    assert_eq!(res.status(), 200, "1000 values are accepted");
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            &t,
            &patch(vec![add(1001)]),
        )
        .await;
    let e = assert_scim_error(res, 400, Some("invalidValue")).await;
    assert!(e["detail"].as_str().unwrap().contains("1001 values"), "{e}");
    let no_path = json!({"op": "add", "value": {"members": members(1001)}});
    let res = app
        .send(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            &t,
            &patch(vec![no_path]),
        )
        .await;
    assert_scim_error(res, 400, Some("invalidValue")).await;
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"op": "replace", "path": "displayName", "value": format!("g{i}")}))
        .collect();
    let res = app
        .send(Method::PATCH, &format!("/Groups/{gid}"), &t, &patch(many))
        .await;
    let e = assert_scim_error(res, 400, Some("invalidValue")).await;
    assert!(
        e["detail"].as_str().unwrap().contains("1001 operations"),
        "{e}"
    );
    // inside /Bulk too
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "PATCH", "path": format!("/Groups/{gid}"), "data": patch(vec![add(1001)])}]
    });
    let res = app.send(Method::POST, "/Bulk", &t, &bulk).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["Operations"][0]["status"], "400", "{body}");
    assert_eq!(
        body["Operations"][0]["response"]["scimType"],
        "invalidValue"
    );
}

async fn page_size_is_capped_and_advertised(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let app = TestApp::spawn_with(backend, |a| a.limits.max_page_size = 3)
        .await
        .unwrap();
    let t = app.rw_token();
    for i in 0..5 {
        app.create_user(&t, &format!("p{i}")).await;
    }
    let spc: Value = app
        .get("/ServiceProviderConfig", &t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(spc["filter"]["maxResults"], 3);
    assert_eq!(spc["pagination"]["maxPageSize"], 3);
    assert_eq!(spc["pagination"]["defaultPageSize"], 3);
    for q in ["?count=1000", "", "?count=3&startIndex=1"] {
        let body: Value = app
            .get(&format!("/Users{q}"), &t)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["totalResults"], 5, "{q}");
        assert_eq!(body["itemsPerPage"], 3, "{q}");
        assert_eq!(body["Resources"].as_array().unwrap().len(), 3, "{q}");
    }
    let body: Value = app
        .send(
            Method::POST,
            "/Users/.search",
            &t,
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 50}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["Resources"].as_array().unwrap().len(), 3);
}

/// Reads what the server sends until it closes the connection or `limit` passes.
async fn read_until_closed(s: &mut tokio::net::TcpStream, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

async fn stalled_clients_are_cut_off(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let app = TestApp::spawn_with(backend, |a| {
        a.limits.client_request_timeout_ms = 1000;
        a.limits.body_timeout_ms = 500;
        a.limits.keep_alive_secs = 1;
    })
    .await
    .unwrap();
    let t = app.rw_token();
    let host = app.addr.trim_start_matches("http://").to_string();
    // 1. a request head that never finishes: 408 and closed
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    s.write_all(b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(closed, "connection with a stalled head still open");
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // 2. a body that stops half-way: SCIM 408, closed
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: 1000\r\n\r\n{{\"userName\":"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (text, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("did not arrive within 500 ms"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // 3. an idle keep-alive connection is closed after keep_alive_secs
    let mut s = tokio::net::TcpStream::connect(&host).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed, "idle keep-alive connection not closed");
    assert!(started.elapsed() < Duration::from_secs(4));
    // the server still serves
    assert_eq!(app.get("/Users", &t).await.status(), 200);
}

/// At the expression ceiling (1000, also the default), every shape of `and`/`or` chain is
/// compiled and run by both databases (SQLite's expression depth limit is 1000) without
/// overflowing a stack.
async fn filters_at_the_node_ceiling_run_on_the_database(app: TestApp) {
    let t = app.rw_token();
    app.create_user(&t, "u").await;
    let nodes = scim::filter::Limits::MAX_NODES_CEILING;
    for op in [" or ", " and "] {
        for (term, per_term) in [
            ("userName eq \"u\"", 2),
            ("emails[value eq \"u@example.com\"]", 3),
            ("not (title pr)", 3),
            ("userName co \"u\"", 2),
        ] {
            let f = vec![term; nodes / per_term].join(op);
            let res = app
                .send(Method::POST, "/Users/.search", &t, &search(&f))
                .await;
            assert_eq!(res.status(), 200, "{op} {term}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["totalResults"], 1, "{op} {term}");
        }
    }
}

backend_tests!(
    filter_length_depth_and_nodes_are_400,
    deep_filters_never_overflow_even_with_a_raised_length_limit,
    configured_filter_limits_apply,
    json_nesting_is_400_on_every_body,
    value_length_is_400_invalid_value,
    patch_size_limits,
    page_size_is_capped_and_advertised,
    stalled_clients_are_cut_off,
    filters_at_the_node_ceiling_run_on_the_database
);
