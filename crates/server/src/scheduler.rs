//! The lifecycle scheduler: runs due jobs of `scheduled_jobs` (start and end dates, grace
//! expiries, rule re-evaluations, undecided access requests and time-bound memberships; see
//! `store::jobs`).
//!
//! Time is the store's [`store::Clock`], so tests move it instead of sleeping and call
//! [`Scheduler::run_due`] to run what is due at once. Due work lives in the database, so a
//! restarted replica finds it again. Several replicas may run schedulers: a job is claimed with a
//! conditional UPDATE, and its effect is committed together with deleting the job row as its
//! claimer, so it takes effect once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;

use store::{jobs, Store, WriteCtx};

/// How long a claim holds before another replica may take the job over.
const CLAIM: TimeDelta = TimeDelta::minutes(5);
/// Users re-evaluated per transaction after a rule change.
const RULE_BATCH: i64 = 200;
/// Jobs loaded per look.
const DUE_BATCH: i64 = 100;
/// Access requests and memberships expired per transaction.
const GOVERNANCE_BATCH: i64 = 200;
/// How long an access request waits for a decision unless configured.
pub const DEFAULT_ACCESS_REQUEST_TTL: TimeDelta = TimeDelta::days(14);

/// The actor of the scheduler's writes in the audit log.
pub const ACTOR: &str = "scheduler";

/// A replica's scheduler (cheap to clone).
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    owner: String,
    interval: Duration,
    access_request_ttl: TimeDelta,
    stop: AtomicBool,
    wake: tokio::sync::Notify,
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Jobs completed.
    pub done: usize,
    /// Jobs that failed (due again later).
    pub failed: usize,
}

impl Scheduler {
    /// A scheduler over `store` looking for due work every `interval` (zero: only when asked).
    pub fn new(store: Store, interval: Duration) -> Scheduler {
        Scheduler::build(store, interval, DEFAULT_ACCESS_REQUEST_TTL)
    }

    /// This scheduler, expiring access requests undecided for longer than `ttl`
    /// (`ROSTER_ACCESS_REQUEST_TTL_DAYS`).
    pub fn with_access_request_ttl(self, ttl: TimeDelta) -> Scheduler {
        Scheduler::build(self.inner.store.clone(), self.inner.interval, ttl)
    }

    fn build(store: Store, interval: Duration, access_request_ttl: TimeDelta) -> Scheduler {
        Scheduler {
            inner: Arc::new(Inner {
                store,
                owner: format!("scheduler-{}", uuid::Uuid::new_v4()),
                interval,
                access_request_ttl,
                stop: AtomicBool::new(false),
                wake: tokio::sync::Notify::new(),
            }),
        }
    }

    /// How long an access request waits for a decision before it expires.
    pub fn access_request_ttl(&self) -> TimeDelta {
        self.inner.access_request_ttl
    }

    /// This replica's claim name.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// Runs every job due now (blocking). A job that fails is released and due again after a
    /// back-off; it is not retried in this run.
    pub fn run_due(&self) -> store::Result<RunReport> {
        let mut report = RunReport::default();
        let mut tried = std::collections::HashSet::new();
        loop {
            let now = self.inner.store.clock().now();
            let due = self.inner.store.read(|c| jobs::due(c, now, DUE_BATCH))?;
            let fresh: Vec<jobs::Job> = due
                .into_iter()
                .filter(|j| tried.insert(j.id.clone()))
                .collect();
            if fresh.is_empty() {
                return Ok(report);
            }
            for job in fresh {
                match self.run_job(&job.id) {
                    Ok(true) => report.done += 1,
                    Ok(false) => {}
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(job = %job.id, error = %e, "scheduled job failed");
                    }
                }
            }
        }
    }

    /// Claims and runs one job if it is due and nobody holds it; false if it was not ours to
    /// run (not due, claimed elsewhere, or taken over while running).
    pub fn run_job(&self, id: &str) -> store::Result<bool> {
        let s = &self.inner.store;
        let owner = self.inner.owner.as_str();
        let now = s.clock().now();
        if !s.admin(|c| jobs::claim(c, id, owner, now, now + CLAIM))? {
            return Ok(false);
        }
        let ctx = WriteCtx::system(ACTOR);
        let result = if let Some(uid) = id.strip_prefix("user:") {
            s.write(&ctx, |tx| {
                if !jobs::finish(tx.conn, id, owner)? {
                    return Err(store::Error::LeaseLost);
                }
                store::lifecycle::settle_user(tx, uid)
            })
        } else if let Some(rid) = id.strip_prefix("rule:") {
            self.run_rule(&ctx, id, rid)
        } else if id == store::governance::JOB {
            self.run_governance(&ctx)
        } else {
            s.admin(|c| jobs::cancel(c, id))
        };
        match result {
            Ok(()) => Ok(true),
            Err(store::Error::LeaseLost) => Ok(false),
            Err(e) => {
                let attempts = s.read(|c| jobs::get(c, id))?.map_or(0, |j| j.attempts);
                let backoff = TimeDelta::seconds(30 * (1i64 << attempts.clamp(0, 8)));
                let retry_at = s.clock().now() + backoff;
                s.admin(|c| jobs::fail(c, id, owner, &e.to_string(), retry_at))?;
                Err(e)
            }
        }
    }

    /// Re-evaluates users for a rule in batches, one write transaction each; every batch first
    /// renews the claim (and stops if another replica took the job over).
    fn run_rule(&self, ctx: &WriteCtx, job: &str, rule_id: &str) -> store::Result<()> {
        let s = &self.inner.store;
        let owner = self.inner.owner.as_str();
        loop {
            let done = s.write(ctx, |tx| {
                let now = tx.now();
                if !jobs::claim_renew(tx.conn, job, owner, now + CLAIM)? {
                    return Err(store::Error::LeaseLost);
                }
                let done = store::rules::reevaluate_batch(tx, rule_id, RULE_BATCH)?;
                if done && !jobs::finish(tx.conn, job, owner)? {
                    return Err(store::Error::LeaseLost);
                }
                Ok(done)
            })?;
            if done {
                return Ok(());
            }
        }
    }

    /// Expires undecided access requests and memberships at their end in batches, one write
    /// transaction each (renewing the claim first); the last one reschedules the job at the next
    /// deadline.
    fn run_governance(&self, ctx: &WriteCtx) -> store::Result<()> {
        let s = &self.inner.store;
        let owner = self.inner.owner.as_str();
        let job = store::governance::JOB;
        let ttl = self.inner.access_request_ttl;
        loop {
            let done = s.write(ctx, |tx| {
                let now = tx.now();
                if !jobs::claim_renew(tx.conn, job, owner, now + CLAIM)? {
                    return Err(store::Error::LeaseLost);
                }
                let done = store::governance::expire_due(tx, ttl, GOVERNANCE_BATCH)?;
                if done {
                    if !jobs::finish(tx.conn, job, owner)? {
                        return Err(store::Error::LeaseLost);
                    }
                    store::governance::reschedule(tx, ttl)?;
                }
                Ok(done)
            })?;
            if done {
                return Ok(());
            }
        }
    }

    /// Starts the background loop (none if the interval is zero).
    pub fn start(&self) -> Option<tokio::task::JoinHandle<()>> {
        if self.inner.interval.is_zero() {
            return None;
        }
        let me = self.clone();
        Some(tokio::spawn(async move { me.tick_loop().await }))
    }

    async fn tick_loop(self) {
        while !self.inner.stop.load(Ordering::SeqCst) {
            let me = self.clone();
            let run = actix_web::rt::task::spawn_blocking(move || me.run_due()).await;
            match run {
                Ok(Ok(r)) if r.done + r.failed > 0 => {
                    tracing::info!(done = r.done, failed = r.failed, "scheduler ran due jobs")
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "scheduler could not look for due jobs"),
                _ => {}
            }
            let _ = tokio::time::timeout(self.inner.interval, self.inner.wake.notified()).await;
        }
    }

    /// Wakes the background loop now (e.g. after a rule change).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stops the background loop after its current run.
    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.wake.notify_one();
    }
}
