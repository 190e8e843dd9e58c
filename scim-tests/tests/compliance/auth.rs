//! Bearer-token authentication and scopes.

use reqwest::Method;
use scim_tests::{assert_scim_error, backend_tests, user_body, TestApp};

fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

async fn assert_401(app: &TestApp, auth: Option<&str>, invalid_token: bool) {
    let mut req = app.client.get(format!("{}/scim/v2/Users", app.addr));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let res = req.send().await.unwrap();
    let www = res
        .headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate on 401")
        .to_str()
        .unwrap()
        .to_string();
    assert!(www.starts_with("Bearer"), "{www}");
    assert_eq!(www.contains("invalid_token"), invalid_token, "{www}");
    assert_scim_error(res, 401, None).await;
}

async fn missing_and_malformed_tokens_are_401(app: TestApp) {
    assert_401(&app, None, false).await;
    assert_401(&app, Some("Bearer"), true).await;
    assert_401(&app, Some("Bearer    "), true).await;
    assert_401(&app, Some("Basic dXNlcjpwYXNz"), true).await;
    assert_401(&app, Some("Bearer not-a-jwt"), true).await;
}

async fn forged_tokens_are_401(app: TestApp) {
    let good = app.token(&["scim.read"]);
    let parts: Vec<&str> = good.split('.').collect();
    // alg: none with the same claims and no signature
    let none_header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    assert_401(
        &app,
        Some(&format!("Bearer {none_header}.{}.", parts[1])),
        true,
    )
    .await;
    // wrong signature
    let claims = serde_json::json!({
        "sub": "evil", "jti": uuid::Uuid::new_v4().to_string(), "scope": "scim.read scim.write admin",
        "iss": "roster", "aud": "roster", "iat": 0, "nbf": 0, "exp": 4_000_000_000i64
    });
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"not the server secret"),
    )
    .unwrap();
    assert_401(&app, Some(&format!("Bearer {forged}")), true).await;
    // tampered payload with the original signature
    let tampered_claims = b64url(
        serde_json::json!({"sub":"test","jti":"x","scope":"admin","iss":"roster","aud":"roster","iat":0,"nbf":0,"exp":4_000_000_000i64})
            .to_string()
            .as_bytes(),
    );
    assert_401(
        &app,
        Some(&format!(
            "Bearer {}.{tampered_claims}.{}",
            parts[0], parts[2]
        )),
        true,
    )
    .await;
    // the genuine token works
    let res = app.get("/Users", &good).await;
    assert_eq!(res.status(), 200);
}

async fn revoked_and_expired_tokens_are_401(app: TestApp) {
    let t = app.token(&["scim.read"]);
    assert_eq!(app.get("/Users", &t).await.status(), 200);
    let jti = app
        .state
        .store
        .read(store::tokens::list)
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
        .jti;
    app.state
        .store
        .write(&store::WriteCtx::system("test"), |tx| {
            store::tokens::revoke(tx, &jti)
        })
        .unwrap();
    assert_401(&app, Some(&format!("Bearer {t}")), true).await;

    // A token signed with the server key but expired (beyond leeway).
    let secret = app
        .state
        .store
        .read(|c| store::settings::get(c, "jwt_hs256_secret"))
        .unwrap()
        .unwrap();
    let claims = serde_json::json!({
        "sub": "old", "jti": "expired-jti", "scope": "scim.read",
        "iss": "roster", "aud": "roster", "iat": 1, "nbf": 1, "exp": 1000
    });
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    assert_401(&app, Some(&format!("Bearer {expired}")), true).await;
    // Signed correctly but never registered (unknown jti).
    let claims = serde_json::json!({
        "sub": "ghost", "jti": "never-issued", "scope": "scim.read",
        "iss": "roster", "aud": "roster", "iat": 1, "nbf": 1, "exp": 4_000_000_000i64
    });
    let ghost = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    assert_401(&app, Some(&format!("Bearer {ghost}")), true).await;
}

async fn scopes_are_enforced(app: TestApp) {
    let read = app.token(&["scim.read"]);
    let write = app.token(&["scim.write"]);
    let audit = app.token(&["audit.read"]);
    let before = app.event_count();
    let res = app
        .send(Method::POST, "/Users", &read, &user_body("alice"))
        .await;
    assert_scim_error(res, 403, None).await;
    assert_eq!(app.event_count(), before, "a refused write changes nothing");
    let res = app.get("/Users", &write).await;
    assert_scim_error(res, 403, None).await;
    let res = app.get("/Users", &audit).await;
    assert_scim_error(res, 403, None).await;
    let res = app
        .send(Method::POST, "/Users", &write, &user_body("alice"))
        .await;
    assert_eq!(res.status(), 201);
    // actor is recorded
    let events = app
        .state
        .store
        .read(|c| store::events::after(c, 0, 100))
        .unwrap();
    let create = events.iter().find(|e| e.resource_type == "User").unwrap();
    assert_eq!(create.actor, "test");
    assert!(create.actor_id.is_some());
    assert!(create.request_id.is_some());
}

async fn revocation_is_seen_within_the_recheck_interval(app: TestApp) {
    // this case needs its own server with the token cache on (the harness default is off)
    let backend = app.backend;
    drop(app);
    let app = TestApp::spawn_with(backend, |a| a.token_recheck_ms = 1500)
        .await
        .unwrap();
    let t = app.token(&["scim.read"]);
    assert_eq!(app.get("/Users", &t).await.status(), 200);
    let jti = app.state.store.read(store::tokens::list).unwrap()[0]
        .jti
        .clone();
    app.state
        .store
        .write(&store::WriteCtx::system("test"), |tx| {
            store::tokens::revoke(tx, &jti)
        })
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let status = app.get("/Users", &t).await.status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < std::time::Duration::from_millis(1500),
            "revocation not seen in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(started.elapsed() <= std::time::Duration::from_millis(1600));
}

backend_tests!(
    revocation_is_seen_within_the_recheck_interval,
    missing_and_malformed_tokens_are_401,
    forged_tokens_are_401,
    revoked_and_expired_tokens_are_401,
    scopes_are_enforced
);
