//! A fault-injecting HTTP proxy for push tests: sits between Roster and a downstream SCIM
//! server, forwards requests, counts them by method and path, and on schedule answers 500,
//! 429 with `Retry-After`, hangs past the client's timeout, or drops the connection.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What the proxy does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Forward it.
    Pass,
    /// Answer this status with a SCIM error body.
    Status(u16),
    /// Answer 429 with `Retry-After: secs`.
    TooMany(u64),
    /// Wait this long, then forward (to exceed the client's timeout).
    Hang(Duration),
    /// Close the connection without an answer.
    Drop,
}

#[derive(Default)]
struct Inner {
    /// Faults applied to the next requests, in order (then `Pass`).
    schedule: VecDeque<Fault>,
    /// Applied to every request while set (after the schedule is used up).
    always: Option<Fault>,
    /// `(method, first path segment after the base)` -> forwarded count.
    counts: HashMap<(String, String), usize>,
    /// Every forwarded request: method, path and the upstream's status.
    seen: Vec<(String, String, u16)>,
    /// When set, requests must carry this credential; it is swapped for the upstream's.
    gate: Option<Gate>,
    /// Access tokens handed out by the OAuth token endpoint, and how many were issued.
    oauth_issued: usize,
    /// Requests refused by the gate.
    refused: usize,
    /// Called after every forwarded request: method, path, request body, upstream status.
    observer: Option<Observer>,
}

/// A callback seeing every forwarded request (method, path, request body, upstream status).
pub type Observer = Arc<dyn Fn(&str, &str, &[u8], u16) + Send + Sync>;

/// An authentication gate in front of the downstream.
#[derive(Debug, Clone)]
pub enum Gate {
    /// Require `Authorization: Basic base64(user:password)`.
    Basic(String, String),
    /// Require this header with this value.
    Header(String, String),
    /// Require a bearer token from `POST /oauth/token` (client credentials with these id and
    /// secret); tokens issued before the latest are refused (as if expired).
    OAuth2(String, String),
}

/// A running proxy.
#[derive(Clone)]
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT` — use it in place of the downstream's address.
    pub addr: String,
    inner: Arc<Mutex<Inner>>,
    upstream_token: Arc<Mutex<String>>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let inner: Arc<Mutex<Inner>> = Default::default();
        let upstream_token: Arc<Mutex<String>> = Default::default();
        let tok = upstream_token.clone();
        let upstream = upstream.trim_end_matches('/').to_string();
        let client = reqwest::Client::new();
        let state = inner.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                let upstream = upstream.clone();
                let client = client.clone();
                let tok = tok.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let state = state.clone();
                        let upstream = upstream.clone();
                        let client = client.clone();
                        let tok = tok.clone();
                        async move { handle(state, tok, client, upstream, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FaultProxy {
            addr,
            inner,
            upstream_token,
        }
    }

    /// Applies these faults to the next requests, in order.
    pub fn schedule(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.lock().unwrap().schedule.extend(faults);
    }

    /// Applies `fault` to every request from now on (`None`: stop).
    pub fn always(&self, fault: Option<Fault>) {
        self.inner.lock().unwrap().always = fault;
    }

    /// Forwarded requests with this method whose path starts with `prefix`.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        let g = self.inner.lock().unwrap();
        g.seen
            .iter()
            .filter(|(m, p, _)| m == method && p.starts_with(prefix))
            .count()
    }

    /// Forwarded requests with this method, path prefix and upstream status.
    pub fn count_status(&self, method: &str, prefix: &str, status: u16) -> usize {
        let g = self.inner.lock().unwrap();
        g.seen
            .iter()
            .filter(|(m, p, s)| m == method && p.starts_with(prefix) && *s == status)
            .count()
    }

    /// Puts an authentication gate in front: requests must authenticate as `gate` says; the
    /// proxy then forwards them with `Authorization: Bearer upstream_token`.
    pub fn gate(&self, gate: Gate, upstream_token: &str) {
        let mut g = self.inner.lock().unwrap();
        g.gate = Some(gate);
        drop(g);
        *self.upstream_token.lock().unwrap() = upstream_token.to_string();
    }

    /// Calls `f` after every forwarded request (benchmarks time deliveries with it).
    pub fn observe(&self, f: Observer) {
        self.inner.lock().unwrap().observer = Some(f);
    }

    /// Makes every OAuth access token issued so far invalid (the next request gets 401).
    pub fn expire_oauth_tokens(&self) {
        self.inner.lock().unwrap().oauth_issued += 1000;
    }

    /// Access tokens issued by the OAuth endpoint.
    pub fn oauth_issued(&self) -> usize {
        self.inner.lock().unwrap().oauth_issued % 1000
    }

    /// Requests the gate refused.
    pub fn refused(&self) -> usize {
        self.inner.lock().unwrap().refused
    }

    /// Every forwarded request.
    pub fn seen(&self) -> Vec<(String, String, u16)> {
        self.inner.lock().unwrap().seen.clone()
    }
}

type Reply = Result<Response<Full<Bytes>>, std::io::Error>;

fn error(status: u16, retry_after: Option<u64>) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": status.to_string(),
        "detail": format!("injected fault {status}"),
    })
    .to_string();
    let mut r = Response::builder()
        .status(status)
        .header("content-type", "application/scim+json");
    if let Some(s) = retry_after {
        r = r.header("retry-after", s.to_string());
    }
    r.body(Full::new(Bytes::from(body))).unwrap()
}

fn basic(user: &str, password: &str) -> String {
    use std::fmt::Write;
    // minimal base64 (standard alphabet, padded) for the test gate
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let data = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    let mut s = String::new();
    let _ = write!(s, "Basic {out}");
    s
}

/// Checks the gate: `Some(gated)` lets the request through, `None` refuses it.
fn check_gate(state: &Arc<Mutex<Inner>>, req: &Request<Incoming>) -> Option<bool> {
    let mut g = state.lock().unwrap();
    let Some(gate) = g.gate.clone() else {
        return Some(false);
    };
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let ok = match &gate {
        Gate::Basic(u, p) => header("authorization") == basic(u, p),
        Gate::Header(n, v) => header(n) == *v,
        Gate::OAuth2(..) => header("authorization") == format!("Bearer at-{}", g.oauth_issued),
    };
    if ok {
        Some(true)
    } else {
        g.refused += 1;
        None
    }
}

async fn handle(
    state: Arc<Mutex<Inner>>,
    upstream_token: Arc<Mutex<String>>,
    client: reqwest::Client,
    upstream: String,
    req: Request<Incoming>,
) -> Reply {
    // the OAuth 2.0 token endpoint (client credentials, HTTP basic client authentication)
    if req.uri().path() == "/oauth/token" {
        let mut g = state.lock().unwrap();
        let Some(Gate::OAuth2(id, secret)) = g.gate.clone() else {
            return Ok(error(404, None));
        };
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if auth != basic(&id, &secret) {
            return Ok(error(401, None));
        }
        g.oauth_issued = g.oauth_issued % 1000 + 1;
        let body = serde_json::json!({"access_token": format!("at-{}", g.oauth_issued),
            "token_type": "Bearer", "expires_in": 3600})
        .to_string();
        return Ok(Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap());
    }
    let Some(gated) = check_gate(&state, &req) else {
        return Ok(error(401, None));
    };
    let fault = {
        let mut g = state.lock().unwrap();
        g.schedule
            .pop_front()
            .or_else(|| g.always.clone())
            .unwrap_or(Fault::Pass)
    };
    match fault {
        Fault::Status(s) => return Ok(error(s, None)),
        Fault::TooMany(secs) => return Ok(error(429, Some(secs))),
        // an error from the service makes hyper close the connection without a response
        Fault::Drop => return Err(std::io::Error::other("injected connection drop")),
        Fault::Hang(d) => tokio::time::sleep(d).await,
        Fault::Pass => {}
    }
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut out = client.request(method.clone(), format!("{upstream}{path}"));
    for (k, v) in headers.iter() {
        if k != "host"
            && k != "content-length"
            && k != "connection"
            && !(gated && k == "authorization")
        {
            out = out.header(k, v);
        }
    }
    if gated {
        let tok = upstream_token.lock().unwrap().clone();
        out = out.header("authorization", format!("Bearer {tok}"));
    }
    let observer = state.lock().unwrap().observer.clone();
    let sent = body.clone();
    // forward and record in a task of its own: if the client goes away (killed mid-request),
    // the request still completes and is counted, as it is at the downstream
    let forward = tokio::spawn(async move {
        let resp = match out.body(body).send().await {
            Ok(r) => r,
            Err(_) => return error(502, None),
        };
        let status = resp.status().as_u16();
        {
            let mut g = state.lock().unwrap();
            let seg = path.split('?').next().unwrap_or_default().to_string();
            *g.counts
                .entry((method.to_string(), seg.clone()))
                .or_default() += 1;
            g.seen.push((method.to_string(), seg, status));
        }
        if let Some(f) = observer {
            f(method.as_str(), &path, &sent, status);
        }
        let mut r = Response::builder().status(status);
        for (k, v) in resp.headers().iter() {
            if k != "content-length" && k != "transfer-encoding" && k != "connection" {
                r = r.header(k, v);
            }
        }
        let bytes = resp.bytes().await.unwrap_or_default();
        r.body(Full::new(bytes)).unwrap()
    });
    Ok(forward.await.unwrap_or_else(|_| error(502, None)))
}
