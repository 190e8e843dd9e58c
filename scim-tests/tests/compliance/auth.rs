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

/// The server's signing secret, read from the database as an attacker with a copy of a token
/// (but not the secret) could not: it lets each case below change exactly one thing.
fn server_secret(app: &TestApp) -> String {
    app.state
        .store
        .read(|c| store::settings::get(c, "jwt_hs256_secret"))
        .unwrap()
        .unwrap()
}

/// `header.claims.signature`, signed with HS256 under `key` whatever the header says.
fn signed(header: &serde_json::Value, claims: &serde_json::Value, key: &[u8]) -> String {
    let msg = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = jsonwebtoken::crypto::sign(
        msg.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(key),
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap();
    format!("{msg}.{sig}")
}

/// The registered claims of a genuine token (its payload, decoded).
fn genuine_claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    let mut bytes = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in payload.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            _ => 63,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((acc >> bits) as u8);
        }
    }
    serde_json::from_slice(&bytes).unwrap()
}

async fn jwt_attacks_are_401_invalid_token(app: TestApp) {
    let good = app.token(&["scim.read"]);
    let secret = server_secret(&app);
    let key = secret.as_bytes();
    let claims = genuine_claims(&good);
    let hs256 = serde_json::json!({"alg": "HS256", "typ": "JWT"});
    // control: re-signing the genuine claims with the genuine key is accepted, so every
    // refusal below is caused by the one thing changed
    let resigned = signed(&hs256, &claims, key);
    assert_eq!(app.get("/Users", &resigned).await.status(), 200);

    let now = chrono::Utc::now().timestamp();
    let with = |k: &str, v: serde_json::Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let mut cases: Vec<(&str, String)> = vec![
        (
            "expired",
            signed(&hs256, &with("exp", (now - 120).into()), key),
        ),
        (
            "not yet valid",
            signed(&hs256, &with("nbf", (now + 3600).into()), key),
        ),
        (
            "wrong issuer",
            signed(&hs256, &with("iss", "evil".into()), key),
        ),
        (
            "wrong audience",
            signed(&hs256, &with("aud", "other-service".into()), key),
        ),
        (
            "audience list without roster",
            signed(&hs256, &with("aud", serde_json::json!(["a", "b"])), key),
        ),
        ("no exp", signed(&hs256, &without("exp"), key)),
        ("no iss", signed(&hs256, &without("iss"), key)),
        ("no aud", signed(&hs256, &without("aud"), key)),
        (
            "unregistered jti",
            signed(&hs256, &with("jti", "not-registered".into()), key),
        ),
        ("no jti", signed(&hs256, &without("jti"), key)),
        (
            "exp as a string",
            signed(&hs256, &with("exp", "4000000000".into()), key),
        ),
    ];
    // algorithm confusion: the genuine HMAC signature under other algorithm names
    for alg in [
        "HS384", "HS512", "RS256", "ES256", "PS256", "EdDSA", "none", "None", "NONE", "hs256",
    ] {
        let h = serde_json::json!({"alg": alg, "typ": "JWT"});
        cases.push(("algorithm confusion", signed(&h, &claims, key)));
    }
    // alg none, unsigned, and with the signature left off entirely
    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(claims.to_string().as_bytes())
    );
    cases.push(("alg none", none.clone()));
    cases.push((
        "alg none, two parts",
        none.trim_end_matches('.').to_string(),
    ));
    // header injection: a key the attacker controls, named by jku / x5u / jwk / kid
    let jwks = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/jwks.json", jwks.local_addr().unwrap());
    let attacker = b"attacker-key";
    for h in [
        serde_json::json!({"alg": "HS256", "jku": jwks_url}),
        serde_json::json!({"alg": "HS256", "x5u": jwks_url}),
        serde_json::json!({"alg": "HS256", "jwk": {"kty": "oct", "k": b64url(attacker)}}),
        serde_json::json!({"alg": "HS256", "kid": "../../../../dev/null"}),
        serde_json::json!({"alg": "HS256", "kid": "x' UNION SELECT 'attacker-key"}),
    ] {
        cases.push(("header key injection", signed(&h, &claims, attacker)));
    }
    cases.push((
        "empty key (kid /dev/null)",
        signed(
            &serde_json::json!({"alg": "HS256", "kid": "/dev/null"}),
            &claims,
            b"",
        ),
    ));
    // escalation: the genuine signature over claims with more scopes
    let parts: Vec<&str> = good.split('.').collect();
    let escalated = b64url(
        with("scope", "scim.read scim.write admin".into())
            .to_string()
            .as_bytes(),
    );
    cases.push((
        "tampered scope",
        format!("{}.{escalated}.{}", parts[0], parts[2]),
    ));
    // garbage
    cases.push(("three dots", "a.b.c".into()));
    cases.push(("extra part", format!("{good}.x")));
    cases.push(("truncated signature", good[..good.len() - 3].to_string()));
    cases.push(("long", "A".repeat(8000)));
    cases.push(("json", claims.to_string().replace(' ', "")));
    cases.push(("two tokens", format!("{good} {good}")));

    for (what, token) in &cases {
        let res = app
            .client
            .get(format!("{}/scim/v2/Users", app.addr))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{what}: {token}");
        let www = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            www.starts_with("Bearer") && www.contains(r#"error="invalid_token""#),
            "{what}: {www}"
        );
        assert_scim_error(res, 401, None).await;
    }
    // nobody fetched the attacker's key set
    let fetched = tokio::time::timeout(std::time::Duration::from_millis(50), jwks.accept()).await;
    assert!(fetched.is_err(), "the server contacted the jku/x5u URL");
    // empty and whitespace bearers, other schemes, bytes that are not text
    for auth in [
        "Bearer",
        "Bearer ",
        "Bearer \t ",
        "Bearer\t",
        "bearer",
        "Basic Zm9vOmJhcg==",
        "Token abc",
        "Bearer \u{a0}",
    ] {
        assert_401(&app, Some(auth), true).await;
    }
    let res = app
        .client
        .get(format!("{}/scim/v2/Users", app.addr))
        .header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    // the scheme is case-insensitive (RFC 7235 §2.1) and the genuine token still works
    let res = app
        .client
        .get(format!("{}/scim/v2/Users", app.addr))
        .header("Authorization", format!("bEaReR {good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

backend_tests!(
    revocation_is_seen_within_the_recheck_interval,
    missing_and_malformed_tokens_are_401,
    forged_tokens_are_401,
    revoked_and_expired_tokens_are_401,
    scopes_are_enforced,
    jwt_attacks_are_401_invalid_token
);
