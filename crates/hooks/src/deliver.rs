//! One delivery attempt over HTTP, and what to do after it.

use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeDelta};
use store::webhooks::{DeliveryRow, DELIVERED, FAILED, PENDING};

use crate::sign;

/// The answer to one attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The HTTP status, if the receiver answered.
    pub status: Option<u16>,
    /// Why it failed (transport error, or the status and the start of the body).
    pub error: Option<String>,
    /// How long it took.
    pub latency: Duration,
}

impl Attempt {
    /// The receiver accepted the delivery (2xx).
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// POSTs the delivery's payload to `url`, signed with `secret`.
pub async fn send(http: &reqwest::Client, url: &str, secret: &str, row: &DeliveryRow) -> Attempt {
    let t = chrono::Utc::now().timestamp();
    let body = row.payload.as_bytes().to_vec();
    let signature = sign::header(secret, t, &body);
    let started = Instant::now();
    let r = http
        .post(url)
        .header("Content-Type", "application/json")
        .header(sign::ID_HEADER, &row.id)
        .header(sign::EVENT_HEADER, &row.event_type)
        .header(sign::SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    match r {
        Ok(res) => {
            let status = res.status().as_u16();
            let ok = res.status().is_success();
            let text = if ok {
                String::new()
            } else {
                res.text().await.unwrap_or_default()
            };
            Attempt {
                status: Some(status),
                error: (!ok).then(|| {
                    let mut short: String = text.chars().take(200).collect();
                    if short.is_empty() {
                        short = "no body".into();
                    }
                    format!("HTTP {status}: {short}")
                }),
                latency: started.elapsed(),
            }
        }
        Err(e) => Attempt {
            status: None,
            error: Some(transport_error(&e)),
            latency: started.elapsed(),
        },
    }
}

fn transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // the URL carries no credentials (refused on input); the error chain names the cause
    let mut msg = format!("{kind}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg.chars().take(300).collect()
}

/// Retry policy.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// First retry delay (doubles per attempt, up to 15 min, ±50 % jitter).
    pub retry_base: Duration,
    /// Attempts after which the delivery is `failed`.
    pub max_attempts: i64,
    /// Age after which a failing delivery is `failed`.
    pub max_age: Duration,
}

/// The row after `attempt`, made at `now`.
pub fn settle(
    row: &DeliveryRow,
    attempt: &Attempt,
    now: NaiveDateTime,
    policy: &Policy,
) -> DeliveryRow {
    let mut next = row.clone();
    next.attempts += 1;
    next.last_status = attempt.status.map(i64::from);
    next.last_error = attempt.error.clone();
    if attempt.ok() {
        next.status = DELIVERED.into();
        next.next_attempt_at = None;
        next.delivered_at = Some(now);
        return next;
    }
    let age = (now - row.created).to_std().unwrap_or_default();
    if next.attempts >= policy.max_attempts || age >= policy.max_age {
        next.status = FAILED.into();
        next.next_attempt_at = None;
        return next;
    }
    let wait = push::converge::backoff_from(policy.retry_base, next.attempts);
    next.status = PENDING.into();
    next.next_attempt_at = Some(now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::minutes(15)));
    next
}
