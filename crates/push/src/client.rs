//! The SCIM client for one target: auth (bearer, basic, OAuth 2.0 client credentials with
//! refresh, custom header), rate limit, timeouts. Every call returns a [`Call`] that the engine
//! logs; credentials never appear in it.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::spec::Auth;

/// The SCIM media type.
pub const SCIM_JSON: &str = "application/scim+json";

/// One HTTP exchange with a target.
#[derive(Debug, Clone)]
pub struct Call {
    /// HTTP method.
    pub method: &'static str,
    /// Path and query below the base URL.
    pub path: String,
    /// When it started.
    pub at: NaiveDateTime,
    /// The status, if a response arrived.
    pub status: Option<u16>,
    /// Milliseconds from send to the end of the body.
    pub latency_ms: i64,
    /// Transport error, or the remote's error detail for non-2xx answers.
    pub error: Option<String>,
    /// The JSON body of the answer, if any.
    pub body: Option<Value>,
    /// `Retry-After` of a 429/503, if given.
    pub retry_after: Option<Duration>,
}

impl Call {
    /// 2xx.
    pub fn ok(&self) -> bool {
        matches!(self.status, Some(s) if (200..300).contains(&s))
    }

    /// Worth retrying later: no answer, 5xx, 429, 408, or 401/403 (credentials can be fixed
    /// while the item waits).
    pub fn transient(&self) -> bool {
        match self.status {
            None => true,
            Some(s) => s >= 500 || matches!(s, 408 | 429 | 401 | 403),
        }
    }

    /// A short description of the failure for `last_error`.
    pub fn describe(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), Some(e)) => format!("{} {} -> {s}: {e}", self.method, self.path),
            (Some(s), None) => format!("{} {} -> {s}", self.method, self.path),
            (None, Some(e)) => format!("{} {}: {e}", self.method, self.path),
            (None, None) => format!("{} {}", self.method, self.path),
        }
    }
}

/// The SCIM client of one target.
pub struct Client {
    name: String,
    http: reqwest::Client,
    base: String,
    auth: Auth,
    oauth: Mutex<Option<(String, Instant)>>,
    limiter: Option<Mutex<(Instant, Duration)>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish()
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Turns a transport error into text without the URL's query (no secrets are in URLs anyway).
fn transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "bad response body"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    truncate(text, 300)
}

impl Client {
    /// A client for `base` (no trailing `/`) sharing the connection pool of `http`.
    pub fn new(
        name: &str,
        http: reqwest::Client,
        base: &str,
        auth: Auth,
        rate_limit: Option<f64>,
    ) -> Client {
        Client {
            name: name.to_string(),
            http,
            base: base.trim_end_matches('/').to_string(),
            auth,
            oauth: Mutex::new(None),
            limiter: rate_limit
                .filter(|r| *r > 0.0)
                .map(|r| Mutex::new((Instant::now(), Duration::from_secs_f64(1.0 / r)))),
        }
    }

    async fn pace(&self) {
        if let Some(l) = &self.limiter {
            let wait = {
                let mut g = l.lock().await;
                let now = Instant::now();
                let slot = g.0.max(now);
                g.0 = slot + g.1;
                slot - now
            };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    }

    async fn oauth_token(&self, refresh: bool) -> Result<String, String> {
        let Auth::Oauth2 {
            token_url,
            client_id,
            client_secret,
            scope,
        } = &self.auth
        else {
            return Err("not an OAuth 2.0 target".into());
        };
        let mut cached = self.oauth.lock().await;
        if !refresh {
            if let Some((tok, until)) = cached.as_ref() {
                if Instant::now() < *until {
                    return Ok(tok.clone());
                }
            }
        }
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s.as_str()));
        }
        let resp = self
            .http
            .post(token_url)
            .basic_auth(client_id, Some(client_secret))
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("token endpoint: {}", transport_error(&e)))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .map_err(|_| format!("token endpoint answered {status} without JSON"))?;
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("token endpoint answered {status} without access_token"))?
            .to_string();
        let ttl = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(3600)
            .saturating_sub(30)
            .max(1);
        *cached = Some((token.clone(), Instant::now() + Duration::from_secs(ttl)));
        Ok(token)
    }

    async fn authorise(
        &self,
        req: reqwest::RequestBuilder,
        refresh: bool,
    ) -> Result<reqwest::RequestBuilder, String> {
        Ok(match &self.auth {
            Auth::Bearer { token } => req.bearer_auth(token),
            Auth::Basic { username, password } => req.basic_auth(username, Some(password)),
            Auth::Header { name, value } => req.header(name.as_str(), value.as_str()),
            Auth::Oauth2 { .. } => req.bearer_auth(self.oauth_token(refresh).await?),
        })
    }

    /// Sends one request; `path` is relative to the base URL (starts with `/`).
    pub async fn send(&self, method: &'static str, path: &str, body: Option<&Value>) -> Call {
        let mut call = self.send_once(method, path, body, false).await;
        if call.status == Some(401) && matches!(self.auth, Auth::Oauth2 { .. }) {
            call = self.send_once(method, path, body, true).await;
        }
        let outcome = match call.status {
            Some(s) if s < 300 => "2xx",
            Some(s) if s < 400 => "3xx",
            Some(s) if s < 500 => "4xx",
            Some(_) => "5xx",
            None => "error",
        };
        metrics::counter!("roster_push_requests_total",
            "target" => self.name.clone(), "method" => method, "outcome" => outcome)
        .increment(1);
        metrics::histogram!("roster_push_request_duration_seconds", "target" => self.name.clone())
            .record(call.latency_ms as f64 / 1000.0);
        call
    }

    async fn send_once(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
        refresh: bool,
    ) -> Call {
        self.pace().await;
        let at = store::write::now();
        let started = Instant::now();
        let mut call = Call {
            method,
            path: path.to_string(),
            at,
            status: None,
            latency_ms: 0,
            error: None,
            body: None,
            retry_after: None,
        };
        let m = match reqwest::Method::from_bytes(method.as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                call.error = Some("bad method".into());
                return call;
            }
        };
        let mut req = self
            .http
            .request(m, format!("{}{}", self.base, path))
            .header(reqwest::header::ACCEPT, SCIM_JSON);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
                .body(b.to_string());
        }
        let req = match self.authorise(req, refresh).await {
            Ok(r) => r,
            Err(e) => {
                call.error = Some(e);
                call.latency_ms = started.elapsed().as_millis() as i64;
                return call;
            }
        };
        match req.send().await {
            Err(e) => call.error = Some(transport_error(&e)),
            Ok(resp) => {
                let status = resp.status().as_u16();
                call.status = Some(status);
                call.retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                match resp.bytes().await {
                    Err(e) => {
                        call.status = None;
                        call.error = Some(transport_error(&e));
                    }
                    Ok(bytes) => {
                        call.body = serde_json::from_slice(&bytes).ok();
                        if !(200..300).contains(&status) {
                            let detail = call
                                .body
                                .as_ref()
                                .and_then(|b| b.get("detail"))
                                .and_then(Value::as_str)
                                .map(str::to_string)
                                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
                            call.error = Some(truncate(detail, 500));
                        }
                    }
                }
            }
        }
        call.latency_ms = started.elapsed().as_millis() as i64;
        call
    }
}

/// Percent-encodes a value for a SCIM filter inside a query string.
pub fn filter_query(attr: &str, value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_string()).to_string();
    let filter = format!("{attr} eq {quoted}");
    let mut out = String::from("filter=");
    for b in filter.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a path segment (remote ids are opaque).
pub fn segment(id: &str) -> String {
    let mut out = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
