//! A target's worker: takes and renews the lease, honours pause, quarantine and `Retry-After`,
//! runs push runs until caught up, then waits for a wake-up, a command or the poll interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use serde_json::json;
use tokio::sync::mpsc;

use store::push::{lease, targets};

use crate::converge::backoff_from;
use crate::engine::{Command, Shared};
use crate::error::{Error, Result};
use crate::run::{self, blocking, Ctx};
use crate::target::Target;

struct Held {
    token: String,
    renew_at: Instant,
}

struct Worker {
    shared: Arc<Shared>,
    ctx: Ctx,
    target_id: String,
    target: Option<Arc<Target>>,
    held: Option<Held>,
    not_before: Option<Instant>,
    /// When pre-hires entering their provisioning window were last looked for.
    pre_hires_checked: Option<Instant>,
}

/// Runs the worker of `target_id` until the engine stops or the target is deleted.
pub async fn run(shared: Arc<Shared>, target_id: String, mut commands: mpsc::Receiver<Command>) {
    let mut stop = shared.stop.subscribe();
    let mut wake = shared.wake.subscribe();
    let ctx = shared.ctx();
    let mut w = Worker {
        shared,
        ctx,
        target_id,
        target: None,
        held: None,
        not_before: None,
        pre_hires_checked: None,
    };
    loop {
        if *stop.borrow() {
            break;
        }
        let idle = match w.step(&mut commands).await {
            Ok(Some(busy)) => !busy,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(target_id = %w.target_id, error = %e, "push worker");
                if matches!(e, Error::Store(store::Error::LeaseLost)) {
                    w.held = None;
                }
                true
            }
        };
        if idle {
            let mut wait = w.shared.opts.poll;
            if let Some(nb) = w.not_before {
                wait = wait.min(
                    nb.saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(50)),
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wake.changed() => {}
                _ = stop.changed() => {}
                cmd = commands.recv() => match cmd {
                    Some(c) => w.handle(c).await,
                    None => break,
                },
            }
        }
    }
    w.release().await;
}

impl Worker {
    async fn release(&mut self) {
        if let Some(h) = self.held.take() {
            let tid = self.target_id.clone();
            let _ = blocking(&self.shared.store, move |s| {
                s.admin(|c| lease::release(c, &tid, &h.token))
            })
            .await;
        }
    }

    /// Holds the lease (taking or renewing it); `false` if another process has it.
    async fn ensure_lease(&mut self) -> Result<bool> {
        let lease_len = self.ctx.lease;
        let now = store::write::now();
        let until = now + lease_len;
        let tid = self.target_id.clone();
        match &self.held {
            Some(h) if Instant::now() < h.renew_at => Ok(true),
            Some(h) => {
                let token = h.token.clone();
                let r = blocking(&self.shared.store, move |s| {
                    s.admin(|c| lease::renew(c, &tid, &token, until, now))
                })
                .await;
                match r {
                    Ok(()) => {
                        if let Some(h) = &mut self.held {
                            h.renew_at = Instant::now() + self.shared.opts.lease / 3;
                        }
                        Ok(true)
                    }
                    Err(Error::Store(store::Error::LeaseLost)) => {
                        self.held = None;
                        Ok(false)
                    }
                    Err(e) => Err(e),
                }
            }
            None => {
                let token = uuid::Uuid::new_v4().to_string();
                let owner = self.shared.owner.clone();
                let t2 = token.clone();
                let got = blocking(&self.shared.store, move |s| {
                    s.admin(|c| lease::acquire(c, &tid, &owner, &t2, until, now))
                })
                .await?;
                if got {
                    tracing::info!(target_id = %self.target_id, owner = %self.shared.owner, "push lease taken");
                    self.held = Some(Held {
                        token,
                        renew_at: Instant::now() + self.shared.opts.lease / 3,
                    });
                }
                Ok(got)
            }
        }
    }

    fn load(&self, row: targets::TargetRow) -> Result<Target> {
        Target::load(
            row,
            &self.shared.key,
            self.shared.http.clone(),
            self.shared.opts.retry_base,
        )
    }

    /// Loads the target row; rebuilds the client when the settings changed. `None`: deleted.
    async fn refresh(&mut self) -> Result<Option<Arc<Target>>> {
        let tid = self.target_id.clone();
        let row = match blocking(&self.shared.store, move |s| {
            s.read(|c| targets::get(c, &tid))
        })
        .await
        {
            Ok(r) => r,
            Err(Error::Store(store::Error::NotFound)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let rebuild = match &self.target {
            Some(t) => t.row.modified != row.modified || t.row.name != row.name,
            None => true,
        };
        let t = if rebuild {
            self.load(row)?
        } else {
            let old = self.target.take();
            match old.and_then(|a| Arc::try_unwrap(a).ok()) {
                Some(mut t) => {
                    t.row = row;
                    t
                }
                None => self.load(row)?,
            }
        };
        let t = Arc::new(t);
        self.target = Some(t.clone());
        Ok(Some(t))
    }

    /// One turn: `Some(busy)`, or `None` when the target is gone.
    async fn step(&mut self, commands: &mut mpsc::Receiver<Command>) -> Result<Option<bool>> {
        let Some(target) = self.refresh().await? else {
            return Ok(None);
        };
        if !self.ensure_lease().await? {
            // another replica pushes this target; answer commands accordingly
            while let Ok(c) = commands.try_recv() {
                self.handle(c).await;
            }
            return Ok(Some(false));
        }
        while let Ok(c) = commands.try_recv() {
            self.handle(c).await;
        }
        if target.row.paused {
            return Ok(Some(false));
        }
        let now = store::write::now();
        if target.row.quarantined_until.is_some_and(|q| q > now) {
            return Ok(Some(false));
        }
        if self.not_before.is_some_and(|nb| Instant::now() < nb) {
            return Ok(Some(false));
        }
        let token = self.token();
        if target.row.reconcile_requested {
            let r = self
                .renewing(crate::reconcile::reconcile(&self.ctx, &target, &token))
                .await?;
            let tid = self.target_id.clone();
            blocking(&self.shared.store, move |s| {
                s.admin(|c| targets::set_reconcile_requested(c, &tid, false))
            })
            .await?;
            r?;
            return Ok(Some(true));
        }
        let extra = if self
            .pre_hires_checked
            .is_none_or(|t| t.elapsed() >= self.shared.opts.pre_hire_check)
        {
            self.pre_hires_checked = Some(Instant::now());
            run::pre_hires_due(&self.ctx, &target).await?
        } else {
            Vec::new()
        };
        let report = self
            .renewing(run::run_once(&self.ctx, &target, &token, extra))
            .await??;
        if let Some(h) = &mut self.held {
            h.renew_at = Instant::now() + self.shared.opts.lease / 3;
        }
        self.health(&target, &report.outcomes).await?;
        Ok(Some(report.busy() && !report.threshold_hit))
    }

    /// Runs `work` while renewing the lease every third of its length; if the lease is lost,
    /// the work is dropped at its next await point (no further requests are sent) and the
    /// result is [`store::Error::LeaseLost`].
    async fn renewing<T>(&self, work: impl std::future::Future<Output = T>) -> Result<T> {
        let store = self.shared.store.clone();
        let tid = self.target_id.clone();
        let token = self.token();
        let lease = self.shared.opts.lease;
        let renew = async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                let now = store::write::now();
                let until = now + TimeDelta::from_std(lease).unwrap_or(TimeDelta::seconds(60));
                let (tid, token) = (tid.clone(), token.clone());
                let r = blocking(&store, move |s| {
                    s.admin(|c| lease::renew(c, &tid, &token, until, now))
                })
                .await;
                if let Err(e) = r {
                    return e;
                }
            }
        };
        tokio::select! {
            out = work => Ok(out),
            e = renew => Err(e),
        }
    }

    fn token(&self) -> String {
        self.held
            .as_ref()
            .map(|h| h.token.clone())
            .unwrap_or_default()
    }

    /// Updates the target's health from a run's calls; quarantines after repeated failures.
    async fn health(
        &mut self,
        target: &Arc<Target>,
        outcomes: &[crate::converge::Outcome],
    ) -> Result<()> {
        let calls = outcomes.iter().flat_map(|o| o.calls.iter());
        let (mut ok, mut failed) = (0usize, 0usize);
        let mut retry_after: Option<Duration> = None;
        for c in calls {
            if c.ok() {
                ok += 1;
            } else if c.transient() {
                failed += 1;
            }
            if let Some(ra) = c.retry_after {
                retry_after = Some(retry_after.map_or(ra, |r| r.max(ra)));
            }
        }
        if let Some(ra) = retry_after {
            self.not_before = Some(Instant::now() + ra.min(Duration::from_secs(3600)));
        }
        if ok == 0 && failed == 0 {
            return Ok(());
        }
        let now = store::write::now();
        let tid = self.target_id.clone();
        if ok > 0 {
            if target.row.failures != 0
                || target
                    .row
                    .last_success
                    .is_none_or(|l| now - l > TimeDelta::seconds(1))
            {
                blocking(&self.shared.store, move |s| {
                    s.admin(|c| targets::record_health(c, &tid, Some(now), 0, None))
                })
                .await?;
            }
            return Ok(());
        }
        let failures = target.row.failures + 1;
        let limit = self.shared.opts.quarantine_after;
        let quarantine = (failures >= limit).then(|| {
            now + TimeDelta::from_std(backoff_from(
                self.shared.opts.retry_base,
                failures - limit + 1,
            ))
            .unwrap_or(TimeDelta::seconds(60))
        });
        blocking(&self.shared.store, move |s| {
            s.admin(|c| targets::record_health(c, &tid, None, failures, quarantine))
        })
        .await?;
        if failures == limit {
            metrics::counter!("roster_push_quarantines_total", "target" => target.row.name.clone())
                .increment(1);
            run::alert(
                &self.ctx,
                target,
                "quarantined",
                json!({"failures": failures, "until": quarantine.map(store::events::format_ts)}),
                None,
            )
            .await?;
        }
        Ok(())
    }

    async fn handle(&mut self, cmd: Command) {
        let holder = self.held.is_some();
        let target = self.target.clone();
        match cmd {
            Command::Reconcile(reply) => {
                let r = match (holder, target) {
                    (true, Some(t)) => {
                        crate::reconcile::reconcile(&self.ctx, &t, &self.token()).await
                    }
                    _ => self.elsewhere().await,
                };
                let _ = reply.send(r);
            }
            Command::Provision(user, reply) => {
                let r = match (holder, target) {
                    (true, Some(t)) => {
                        crate::ondemand::provision(&self.ctx, &t, &self.token(), &user).await
                    }
                    _ => self.elsewhere().await,
                };
                let _ = reply.send(r);
            }
        }
    }

    async fn elsewhere<T>(&self) -> Result<T> {
        let tid = self.target_id.clone();
        let owner = blocking(&self.shared.store, move |s| s.read(|c| lease::get(c, &tid)))
            .await
            .ok()
            .and_then(|c| c.lease_owner)
            .unwrap_or_else(|| "another replica".into());
        Err(Error::Busy(format!(
            "this target is pushed by {owner} right now; the request was not run here (retry, or use reconcile, which any replica can request)"
        )))
    }
}
