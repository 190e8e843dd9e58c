//! The load generator's HTTP/1.1 client: one keep-alive connection per task.
//!
//! `hyper` (the default) drives one `http1` connection per task directly: no pool lookup, no
//! URL parsing per request, so one client core sustains several times the request rate of the
//! servers under test. `reqwest` (one client per task, one idle connection each) is kept for
//! comparison (`--client reqwest`) and for `https://` targets.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub const SCIM_JSON: &str = "application/scim+json";

/// Which client implementation drives the requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Hyper,
    Reqwest,
}

/// Where and how to talk to the server under test.
#[derive(Clone, Debug)]
pub struct Target {
    /// `http://host:port` or `https://host:port` (no trailing slash).
    pub origin: String,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// `Host` header value.
    pub authority: HeaderValue,
    /// The SCIM base path, e.g. `/scim/v2` (no trailing slash; may be empty).
    pub base_path: String,
    pub auth: Option<HeaderValue>,
    pub timeout: Duration,
}

impl Target {
    pub fn parse(base_url: &str, token: Option<&str>, timeout: Duration) -> Result<Self> {
        let url = reqwest::Url::parse(base_url).with_context(|| format!("--url {base_url}"))?;
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            s => bail!("--url: unsupported scheme {s} (http or https)"),
        };
        let host = url
            .host_str()
            .ok_or_else(|| anyhow!("--url has no host"))?
            .to_string();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| anyhow!("--url has no port"))?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let origin = format!("{}://{authority}", url.scheme());
        let auth = match token {
            Some(t) => Some(HeaderValue::from_str(&format!("Bearer {t}"))?),
            None => None,
        };
        Ok(Target {
            origin,
            host,
            port,
            tls,
            authority: HeaderValue::from_str(&authority)?,
            base_path: url.path().trim_end_matches('/').to_string(),
            auth,
            timeout,
        })
    }
}

/// One task's connection to the server.
pub struct Client {
    target: Target,
    kind: Kind,
    hyper: Option<SendRequest<Full<Bytes>>>,
    reqwest: Option<reqwest::Client>,
    /// Connections opened (1 for a keep-alive server; one per request for HTTP/1.0 servers).
    pub connects: u64,
}

/// A response: status and the whole body.
pub struct Response {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Client {
    pub fn new(target: &Target, kind: Kind) -> Result<Self> {
        let kind = if target.tls { Kind::Reqwest } else { kind };
        let reqwest = if kind == Kind::Reqwest {
            Some(
                reqwest::Client::builder()
                    .http1_only()
                    .pool_max_idle_per_host(1)
                    .tcp_nodelay(true)
                    .no_proxy()
                    .timeout(target.timeout)
                    .build()?,
            )
        } else {
            None
        };
        Ok(Client {
            target: target.clone(),
            kind,
            hyper: None,
            reqwest,
            connects: 0,
        })
    }

    /// Sends `method` to `base_path + path` (path includes the query) and reads the body.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Response> {
        let timeout = self.target.timeout;
        match tokio::time::timeout(timeout, self.send_inner(method, path, body)).await {
            Ok(r) => r,
            Err(_) => {
                self.hyper = None;
                bail!("timed out after {timeout:?}")
            }
        }
    }

    async fn send_inner(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Response> {
        match self.kind {
            Kind::Hyper => self.send_hyper(method, path, body).await,
            Kind::Reqwest => self.send_reqwest(method, path, body).await,
        }
    }

    async fn connection(&mut self) -> Result<&mut SendRequest<Full<Bytes>>> {
        let reusable = match self.hyper.as_mut() {
            Some(s) if !s.is_closed() => s.ready().await.is_ok(),
            _ => false,
        };
        if !reusable {
            let stream = TcpStream::connect((self.target.host.as_str(), self.target.port))
                .await
                .with_context(|| format!("connect to {}", self.target.origin))?;
            stream.set_nodelay(true)?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .context("HTTP/1.1 handshake")?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.connects += 1;
            self.hyper = Some(sender);
        }
        self.hyper.as_mut().ok_or_else(|| anyhow!("no connection"))
    }

    async fn send_hyper(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Response> {
        let uri = format!("{}{}", self.target.base_path, path);
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(HOST, self.target.authority.clone())
            .header(ACCEPT, SCIM_JSON);
        if let Some(a) = &self.target.auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        if body.is_some() {
            req = req.header(CONTENT_TYPE, SCIM_JSON);
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        let sender = self.connection().await?;
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.hyper = None;
                return Err(e.into());
            }
        };
        let status = resp.status();
        let body = match resp.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.hyper = None;
                return Err(e.into());
            }
        };
        Ok(Response { status, body })
    }

    async fn send_reqwest(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Response> {
        let client = self
            .reqwest
            .as_ref()
            .ok_or_else(|| anyhow!("no reqwest client"))?;
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes())?;
        let url = format!("{}{}{}", self.target.origin, self.target.base_path, path);
        let mut req = client.request(method, url).header("accept", SCIM_JSON);
        if let Some(a) = &self.target.auth {
            req = req.header("authorization", a.as_bytes());
        }
        if let Some(b) = body {
            req = req.header("content-type", SCIM_JSON).body(b);
        }
        let resp = req.send().await?;
        let status = StatusCode::from_u16(resp.status().as_u16())?;
        let body = resp.bytes().await?;
        Ok(Response { status, body })
    }
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
