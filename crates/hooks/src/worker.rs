//! The hooks worker: one task per process that, while it holds the `hooks` lease, runs the
//! alert watcher, enqueues webhook deliveries from the log, and sends them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use serde_json::{json, Value};
use tokio::sync::watch;

use store::webhooks::{self, DeliveryRow, WebhookRow, FAILED, PENDING};
use store::{Store, WriteCtx};

use crate::alerts::{AlertOptions, Watcher, ALERT, LEASE};
use crate::classify::{classify, Derived};
use crate::deliver::{self, Policy};
use crate::error::{blocking, Error, Result};

/// The actor of the alerts the webhook worker writes (a delivery given up).
pub const ACTOR: &str = "system:webhooks";

/// Worker settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Fallback poll interval (commits wake the worker at once).
    pub poll: Duration,
    /// Lease length.
    pub lease: Duration,
    /// Timeout of a delivery request.
    pub timeout: Duration,
    /// Events read per step.
    pub batch: i64,
    /// Retries and giving up.
    pub policy: Policy,
    /// Alert settings.
    pub alerts: AlertOptions,
}

struct Shared {
    store: Store,
    key: push::SecretKey,
    http: reqwest::Client,
    owner: String,
    opts: Options,
    wake: watch::Sender<u64>,
    stop: watch::Sender<bool>,
}

/// The webhook and alert worker of this process.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("hooks::Engine")
            .field("owner", &self.shared.owner)
            .finish()
    }
}

impl Engine {
    /// Builds the worker and hooks it to the store's commits. Call [`Engine::start`] to run it.
    pub fn new(store: Store, key: push::SecretKey, opts: Options) -> Result<Engine> {
        let http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("roster-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Invalid(format!("HTTP client: {e}")))?;
        let (wake, _) = watch::channel(0u64);
        let (stop, _) = watch::channel(false);
        let hook = wake.clone();
        store.add_commit_hook(Box::new(move || {
            hook.send_modify(|n| *n = n.wrapping_add(1));
        }));
        let owner = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Ok(Engine {
            shared: Arc::new(Shared {
                store,
                key,
                http,
                owner,
                opts,
                wake,
                stop,
            }),
        })
    }

    /// Wakes the worker (after an admin change it should see at once).
    pub fn wake(&self) {
        self.shared.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Starts the worker task.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let shared = self.shared.clone();
        tokio::spawn(run(shared))
    }

    /// Stops the worker (it finishes its current step and releases the lease).
    pub fn stop(&self) {
        let _ = self.shared.stop.send(true);
    }
}

struct Held {
    token: String,
    renew_at: Instant,
}

async fn run(shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    let mut wake = shared.wake.subscribe();
    let watcher = Arc::new(Mutex::new(Watcher::new(shared.opts.alerts.clone())));
    let mut held: Option<Held> = None;
    // consecutive failed steps: the worker backs off (up to 5 s) while the database is away
    let mut errors: u32 = 0;
    let init = blocking(&shared.store, |s| {
        s.admin(|c| {
            let (head, _) = store::events::head(c)?;
            store::leases::ensure(c, LEASE, head)
        })?;
        Ok(())
    })
    .await;
    if let Err(e) = init {
        tracing::warn!(error = %e, "hooks: cannot prepare the worker row");
    }
    loop {
        if *stop.borrow() {
            break;
        }
        let busy = match step(&shared, &mut held, &watcher).await {
            Ok(b) => {
                errors = 0;
                b
            }
            Err(e) => {
                errors = errors.saturating_add(1);
                tracing::warn!(error = %e, "hooks worker");
                if matches!(e, Error::Store(store::Error::LeaseLost)) {
                    held = None;
                }
                if let Ok(mut w) = watcher.lock() {
                    w.reset();
                }
                false
            }
        };
        if errors > 0 {
            let pause =
                (shared.opts.poll * 2u32.saturating_pow(errors.min(6))).min(Duration::from_secs(5));
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        } else if !busy {
            tokio::select! {
                _ = tokio::time::sleep(shared.opts.poll) => {}
                _ = wake.changed() => {}
                _ = stop.changed() => {}
            }
        }
    }
    if let Some(h) = held.take() {
        let _ = blocking(&shared.store, move |s| {
            Ok(s.admin(|c| store::leases::release(c, LEASE, &h.token))?)
        })
        .await;
    }
}

/// Takes or renews the lease; `false` while another replica holds it.
async fn ensure_lease(shared: &Arc<Shared>, held: &mut Option<Held>) -> Result<bool> {
    let lease = shared.opts.lease;
    let now = store::write::now();
    let until = now + TimeDelta::from_std(lease).unwrap_or(TimeDelta::seconds(60));
    match held {
        Some(h) if Instant::now() < h.renew_at => Ok(true),
        Some(h) => {
            let token = h.token.clone();
            let r = blocking(&shared.store, move |s| {
                Ok(s.admin(|c| store::leases::renew(c, LEASE, &token, until, now))?)
            })
            .await;
            match r {
                Ok(()) => {
                    h.renew_at = Instant::now() + lease / 3;
                    Ok(true)
                }
                Err(Error::Store(store::Error::LeaseLost)) => {
                    *held = None;
                    Ok(false)
                }
                Err(e) => Err(e),
            }
        }
        None => {
            let token = uuid::Uuid::new_v4().to_string();
            let (owner, t2) = (shared.owner.clone(), token.clone());
            let got = blocking(&shared.store, move |s| {
                Ok(s.admin(|c| store::leases::acquire(c, LEASE, &owner, &t2, until, now))?)
            })
            .await?;
            if got {
                tracing::info!(owner = %shared.owner, "hooks lease taken (alerts and webhooks run here)");
                *held = Some(Held {
                    token,
                    renew_at: Instant::now() + lease / 3,
                });
            }
            Ok(got)
        }
    }
}

/// One turn: `true` if there may be more to do at once.
async fn step(
    shared: &Arc<Shared>,
    held: &mut Option<Held>,
    watcher: &Arc<Mutex<Watcher>>,
) -> Result<bool> {
    let was_held = held.is_some();
    if !ensure_lease(shared, held).await? {
        return Ok(false);
    }
    let token = held.as_ref().map(|h| h.token.clone()).unwrap_or_default();
    if !was_held {
        if let Ok(mut w) = watcher.lock() {
            w.reset();
        }
    }
    let (w, t, batch) = (watcher.clone(), token.clone(), shared.opts.batch);
    let examined = blocking(&shared.store, move |s| {
        let mut w = w
            .lock()
            .map_err(|_| Error::Task("alert watcher poisoned".into()))?;
        w.step(s, &t, batch)
    })
    .await?;
    let t = token.clone();
    let enqueued = blocking(&shared.store, move |s| enqueue(s, &t, batch)).await?;
    let sent = deliver_all(shared, &token).await?;
    Ok(examined > 0 || enqueued > 0 || sent > 0)
}

fn subscribed(row: &WebhookRow) -> Vec<String> {
    serde_json::from_str(&row.events).unwrap_or_default()
}

/// Reads up to `batch` events past the lowest webhook cursor, derives deliveries, and commits
/// them with the cursor moves in one fenced transaction. Returns the events consumed.
pub fn enqueue(store: &Store, token: &str, batch: i64) -> Result<usize> {
    // through `Store::read`, so that a connection lost in a database outage is replaced
    let Some((hooks, events, rows)) = store.read(|conn| {
        let hooks = webhooks::list(conn)?;
        let Some(from) = hooks.iter().map(|h| h.cursor).min() else {
            return Ok(None);
        };
        let events = store::events::after(conn, from, batch)?;
        if events.is_empty() {
            return Ok(None);
        }
        let rows = derive(conn, &hooks, &events).map_err(|e| match e {
            Error::Store(s) => s,
            other => store::Error::Corrupt(other.to_string()),
        })?;
        Ok(Some((hooks, events, rows)))
    })?
    else {
        return Ok(0);
    };
    let Some(last) = events.last().map(|e| e.seq) else {
        return Ok(0);
    };
    let now = store::write::now();
    let n = events.len();
    store.admin(|c| {
        store::leases::fence(c, LEASE, token, now)?;
        webhooks::enqueue(c, &rows)?;
        for h in &hooks {
            webhooks::advance(c, &h.id, last)?;
        }
        Ok(())
    })?;
    Ok(n)
}

/// The deliveries `events` give rise to for the webhooks whose cursor is before them.
fn derive(
    conn: &mut store::DbConn,
    hooks: &[WebhookRow],
    events: &[store::events::Event],
) -> Result<Vec<DeliveryRow>> {
    let now = store::write::now();
    let mut rows = Vec::new();
    for e in events {
        let wanted: Vec<&WebhookRow> = hooks.iter().filter(|h| h.cursor < e.seq).collect();
        if wanted.is_empty() {
            continue;
        }
        let derived: Vec<Derived> = classify(conn, e)?;
        for d in derived {
            for h in wanted
                .iter()
                .filter(|h| subscribed(h).contains(&d.event_type))
            {
                let id = uuid::Uuid::new_v4().to_string();
                let payload = json!({
                    "id": id,
                    "type": d.event_type,
                    "occurredAt": store::events::format_ts(e.at),
                    "seq": e.seq,
                    "actor": e.actor,
                    "action": e.action,
                    "resource": {"type": e.resource_type, "id": e.resource_id},
                    "data": d.data,
                });
                rows.push(DeliveryRow {
                    id,
                    webhook_id: h.id.clone(),
                    seq: e.seq,
                    event_type: d.event_type.clone(),
                    payload: payload.to_string(),
                    status: PENDING.into(),
                    attempts: 0,
                    next_attempt_at: None,
                    last_status: None,
                    last_error: None,
                    created: now,
                    delivered_at: None,
                });
            }
        }
    }
    Ok(rows)
}

/// Sends what is due, every webhook concurrently, each in event order. Returns the attempts
/// made.
async fn deliver_all(shared: &Arc<Shared>, token: &str) -> Result<usize> {
    let hooks = blocking(&shared.store, |s| Ok(s.read(webhooks::list)?)).await?;
    let runs = hooks.into_iter().map(|h| deliver_one(shared, token, h));
    let results = futures_util::future::join_all(runs).await;
    let mut sent = 0;
    for r in results {
        sent += r?;
    }
    Ok(sent)
}

/// Sends the due deliveries of one webhook in order, stopping at the first that is not due or
/// fails (so deliveries never overtake each other).
async fn deliver_one(shared: &Arc<Shared>, token: &str, hook: WebhookRow) -> Result<usize> {
    let hid = hook.id.clone();
    let pending = blocking(&shared.store, move |s| {
        Ok(s.read(|c| webhooks::next_pending(c, &hid, 20))?)
    })
    .await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let secret = match shared.key.open(&hook.secret) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(webhook = %hook.id, error = %e, "webhook secret cannot be opened; deliveries wait");
            return Ok(0);
        }
    };
    let mut sent = 0;
    for row in pending {
        let now = store::write::now();
        if row.next_attempt_at.is_some_and(|t| t > now) {
            break;
        }
        let attempt = deliver::send(&shared.http, &hook.url, &secret, &row).await;
        let next = deliver::settle(&row, &attempt, store::write::now(), &shared.opts.policy);
        let outcome = if attempt.ok() {
            "delivered"
        } else if next.status == FAILED {
            "failed"
        } else {
            "retry"
        };
        metrics::counter!("roster_webhook_deliveries_total", "outcome" => outcome).increment(1);
        metrics::histogram!("roster_webhook_delivery_duration_seconds")
            .record(attempt.latency.as_secs_f64());
        tracing::debug!(webhook = %hook.id, delivery = %row.id, seq = row.seq, event = %row.event_type,
            status = ?attempt.status, attempts = next.attempts, outcome, "webhook delivery");
        let give_up = (next.status == FAILED)
            .then(|| failure_alert(&hook, &next))
            .flatten();
        let (t, rec) = (token.to_string(), next.clone());
        blocking(&shared.store, move |s| {
            let fence = |c: &mut store::DbConn| {
                store::leases::fence(c, LEASE, &t, store::write::now())?;
                webhooks::record(c, &rec)
            };
            match give_up {
                Some(body) => s.write(&WriteCtx::system(ACTOR), |tx| {
                    fence(tx.conn)?;
                    tx.append_event(
                        ALERT,
                        store::webhooks::RESOURCE,
                        &rec.webhook_id,
                        0,
                        None,
                        Some(body.to_string()),
                    )?;
                    Ok(())
                })?,
                None => s.admin(fence)?,
            }
            Ok(())
        })
        .await?;
        sent += 1;
        if next.status == PENDING {
            break;
        }
    }
    Ok(sent)
}

/// The alert for a delivery given up, unless the delivery was itself such an alert (no loops).
fn failure_alert(hook: &WebhookRow, row: &DeliveryRow) -> Option<Value> {
    let payload: Value = serde_json::from_str(&row.payload).unwrap_or(Value::Null);
    if payload.pointer("/data/kind").and_then(Value::as_str) == Some("webhookFailed") {
        return None;
    }
    tracing::warn!(webhook = %hook.id, delivery = %row.id, attempts = row.attempts, "webhook delivery given up");
    Some(json!({
        "kind": "webhookFailed",
        "webhook": hook.id,
        "delivery": row.id,
        "type": row.event_type,
        "seq": row.seq,
        "attempts": row.attempts,
        "lastStatus": row.last_status,
        "lastError": row.last_error,
    }))
}

/// Counts of deliveries by status, for views.
pub fn counts(conn: &mut store::DbConn, id: &str) -> Result<HashMap<String, i64>> {
    Ok(webhooks::counts(conn, id)?.into_iter().collect())
}
