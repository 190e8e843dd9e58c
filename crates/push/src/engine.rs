//! The push engine: one worker task per target, each holding the target's lease while it
//! pushes. Workers wake on every committed write (a commit hook on the store) and poll as a
//! fallback, so changes made through another replica are picked up too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use tokio::sync::{mpsc, oneshot, watch, Mutex};

use store::Store;

use crate::crypto::SecretKey;
use crate::error::{Error, Result};
use crate::ondemand::ProvisionReport;
use crate::reconcile::ReconcileReport;
use crate::run::{blocking, Ctx};
use crate::worker;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Fallback poll interval.
    pub poll: Duration,
    /// Lease length (well above the request timeout).
    pub lease: Duration,
    /// Timeout of every HTTP call.
    pub timeout: Duration,
    /// Events (and retries) per run.
    pub batch: i64,
    /// Consecutive failed runs before the target is quarantined.
    pub quarantine_after: i64,
    /// First retry delay of a failed item (doubles per failure, up to 15 min).
    pub retry_base: Duration,
    /// How often a worker looks for pre-hires whose provisioning window opened.
    pub pre_hire_check: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            batch: 500,
            quarantine_after: 5,
            retry_base: Duration::from_secs(2),
            pre_hire_check: Duration::from_secs(300),
        }
    }
}

/// A request to a target's worker.
pub enum Command {
    /// Run a reconciliation now.
    Reconcile(oneshot::Sender<Result<ReconcileReport>>),
    /// Provision one user now.
    Provision(String, oneshot::Sender<Result<ProvisionReport>>),
}

struct WorkerHandle {
    commands: mpsc::Sender<Command>,
    task: tokio::task::JoinHandle<()>,
}

/// Shared by the engine and its workers.
pub struct Shared {
    /// The store.
    pub store: Store,
    /// The credentials key.
    pub key: SecretKey,
    /// The HTTP client (one connection pool for all targets).
    pub http: reqwest::Client,
    /// This process's owner id in leases and logs.
    pub owner: String,
    /// Settings.
    pub opts: EngineOptions,
    /// Bumped after every commit that appended events.
    pub wake: watch::Sender<u64>,
    /// Set to stop.
    pub stop: watch::Sender<bool>,
    /// Notified when targets are added or removed.
    pub targets_changed: tokio::sync::Notify,
}

impl Shared {
    /// The run context.
    pub fn ctx(&self) -> Ctx {
        Ctx {
            store: self.store.clone(),
            owner: self.owner.clone(),
            batch: self.opts.batch,
            lease: TimeDelta::from_std(self.opts.lease).unwrap_or(TimeDelta::seconds(60)),
        }
    }
}

/// The push engine of this process.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    workers: Arc<Mutex<HashMap<String, WorkerHandle>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("owner", &self.shared.owner)
            .finish()
    }
}

impl Engine {
    /// Builds the engine and hooks it to the store's commits. Call [`Engine::start`] to run it.
    pub fn new(store: Store, key: SecretKey, opts: EngineOptions) -> Result<Engine> {
        let http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
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
                targets_changed: tokio::sync::Notify::new(),
            }),
            workers: Default::default(),
        })
    }

    /// This process's owner id (as written in leases and the call log).
    pub fn owner(&self) -> &str {
        &self.shared.owner
    }

    /// The shared parts (store, key, HTTP client).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Wakes every worker (after a change they should see at once).
    pub fn wake(&self) {
        self.shared.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Tells the supervisor that targets were added, changed or removed.
    pub fn targets_changed(&self) {
        self.shared.targets_changed.notify_one();
        self.wake();
    }

    /// Starts the supervisor: it starts a worker for every target and stops the workers of
    /// deleted targets.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move { engine.supervise().await })
    }

    async fn supervise(self) {
        let mut stop = self.shared.stop.subscribe();
        loop {
            if *stop.borrow() {
                break;
            }
            match blocking(&self.shared.store, |s| s.read(store::push::targets::list)).await {
                Ok(rows) => {
                    let mut workers = self.workers.lock().await;
                    workers.retain(|id, w| {
                        let keep = rows.iter().any(|r| &r.id == id) && !w.task.is_finished();
                        if !keep {
                            w.task.abort();
                        }
                        keep
                    });
                    for row in rows {
                        if let std::collections::hash_map::Entry::Vacant(slot) =
                            workers.entry(row.id.clone())
                        {
                            let (tx, rx) = mpsc::channel(8);
                            let task = tokio::spawn(worker::run(self.shared.clone(), row.id, rx));
                            slot.insert(WorkerHandle { commands: tx, task });
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "push: cannot list targets"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.shared.opts.poll) => {}
                _ = self.shared.targets_changed.notified() => {}
                _ = stop.changed() => {}
            }
        }
        let mut workers = self.workers.lock().await;
        for (_, w) in workers.drain() {
            let _ = tokio::time::timeout(Duration::from_secs(15), w.task).await;
        }
    }

    /// Stops every worker (each finishes its current request and releases its lease).
    pub fn stop(&self) {
        let _ = self.shared.stop.send(true);
    }

    async fn command(&self, target_id: &str, make: impl FnOnce() -> Command) -> Result<()> {
        let sender = {
            let workers = self.workers.lock().await;
            workers.get(target_id).map(|w| w.commands.clone())
        };
        let Some(sender) = sender else {
            return Err(Error::NotFound(format!(
                "target {target_id} has no worker in this process yet; retry in a second"
            )));
        };
        sender
            .send(make())
            .await
            .map_err(|_| Error::Task("the target's worker stopped".into()))
    }

    /// Runs a reconciliation of the target in its worker and returns the report.
    pub async fn reconcile(&self, target_id: &str) -> Result<ReconcileReport> {
        let (tx, rx) = oneshot::channel();
        self.command(target_id, || Command::Reconcile(tx)).await?;
        rx.await
            .map_err(|_| Error::Task("the target's worker stopped".into()))?
    }

    /// Provisions one user on the target now and returns every step taken.
    pub async fn provision(&self, target_id: &str, user_id: &str) -> Result<ProvisionReport> {
        let (tx, rx) = oneshot::channel();
        let uid = user_id.to_string();
        self.command(target_id, || Command::Provision(uid, tx))
            .await?;
        rx.await
            .map_err(|_| Error::Task("the target's worker stopped".into()))?
    }
}
