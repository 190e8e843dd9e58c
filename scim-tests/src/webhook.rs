//! A real webhook receiver on loopback for tests: records every request, answers 200 or a
//! chosen failure status, and checks signatures with its own HMAC-SHA256 (not Roster's code).

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `Roster-Webhook-Id`.
    pub id: String,
    /// `Roster-Webhook-Event`.
    pub event: String,
    /// `Roster-Signature`.
    pub signature: String,
    /// The raw body.
    pub body: String,
    /// The body parsed.
    pub json: Value,
    /// What the receiver answered.
    pub answered: u16,
}

#[derive(Default)]
struct Inner {
    got: Mutex<Vec<Received>>,
    fail: AtomicU16,
}

/// A running receiver.
pub struct Receiver {
    /// Where to POST (`http://127.0.0.1:PORT/hook`).
    pub url: String,
    inner: Arc<Inner>,
    handle: actix_web::dev::ServerHandle,
}

async fn hook(req: HttpRequest, body: web::Bytes, inner: web::Data<Arc<Inner>>) -> HttpResponse {
    let h = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let fail = inner.fail.load(Ordering::SeqCst);
    let answered = if fail == 0 { 200 } else { fail };
    inner.got.lock().unwrap().push(Received {
        id: h("Roster-Webhook-Id"),
        event: h("Roster-Webhook-Event"),
        signature: h("Roster-Signature"),
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        body: text,
        answered,
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(answered).unwrap())
        .body("receiver says so")
}

impl Receiver {
    /// Starts a receiver answering 200.
    pub async fn start() -> Receiver {
        let inner = Arc::new(Inner::default());
        let data = web::Data::new(inner.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/hook", web::post().to(hook))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            inner,
            handle,
        }
    }

    /// From now on answer `status` (e.g. 503) to every request; `0`: answer 200 again.
    pub fn fail_with(&self, status: u16) {
        self.inner.fail.store(status, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Received> {
        self.inner.got.lock().unwrap().clone()
    }

    /// The requests answered 2xx, in arrival order.
    pub fn delivered(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| r.answered < 300)
            .collect()
    }

    /// Stops the receiver.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}

/// Checks a `Roster-Signature` header (`t=<secs>,v1=<hex>`) over `body` with `secret`, by the
/// documented recipe: HMAC-SHA256 of `"<t>.<body>"`, and `t` within five minutes of now.
pub fn signature_valid(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        if let Some(x) = part.strip_prefix("t=") {
            t = x.parse::<i64>().ok();
        }
        if let Some(x) = part.strip_prefix("v1=") {
            v1 = Some(x.to_string());
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes()) == v1
}
