//! Roster persistence: one diesel code base over SQLite and PostgreSQL.
//!
//! [`Store`] owns the pools. Every change goes through [`Store::write`], which runs the one
//! write transaction: it locks `event_head`, changes resource and membership rows, appends the
//! hash-chained event and maintains the history tables, all or nothing.

pub mod access_requests;
pub mod audit;
pub mod clock;
pub mod conn;
pub mod error;
pub mod events;
pub mod filter_sql;
pub mod fragment;
pub mod governance;
pub mod groups;
pub mod history;
pub mod jobs;
pub mod leases;
pub mod lifecycle;
pub mod listing;
pub mod members;
pub mod migrations;
pub mod protected;
pub mod push;
pub mod resource;
pub mod rules;
pub mod schema;
pub mod settings;
pub mod sod;
pub mod tokens;
pub mod users;
pub mod webhooks;
pub mod write;

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::r2d2::PooledConnection;
use diesel::Connection;

pub use clock::Clock;
pub use conn::{Backend, DbConn, DbUrl, PoolOptions, SqliteSync};
pub use error::{Error, Result};
pub use listing::ListSpec;
pub use protected::ProtectedGroups;
pub use resource::StoredResource;
pub use write::{Tx, WriteCtx};

/// A pooled connection.
pub type PooledConn = PooledConnection<conn::Manager>;

/// Handle to the database: a read pool and, on SQLite, a single-connection writer pool.
#[derive(Clone)]
pub struct Store {
    url: DbUrl,
    readers: conn::DbPool,
    writer: conn::DbPool,
    on_commit: std::sync::Arc<std::sync::RwLock<Vec<CommitHook>>>,
    clock: Clock,
    /// Until when pooled connections are tested before use: set when a connection was lost (a
    /// database outage leaves dead connections idle in the pool, and any of them may be drawn
    /// next). Outside that window connections are used untested (no extra round trip).
    suspect_until: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

/// How long after a lost connection checked-out connections are tested first.
const SUSPECT_FOR: std::time::Duration = std::time::Duration::from_secs(120);

/// Called after every write transaction that appended events (wakes the push and webhook
/// workers).
pub type CommitHook = Box<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.url.redacted())
            .finish()
    }
}

impl Store {
    /// Opens the database named by `url` (creating an SQLite file and its folder if needed)
    /// and applies pending migrations.
    pub fn open(url: &str, opts: &PoolOptions) -> Result<Store> {
        let url = DbUrl::parse(url)?;
        if let Some(path) = url.sqlite_path() {
            create_private_file(&path)?;
        }
        let (readers, writer) = match url.backend() {
            Backend::Sqlite => (
                conn::build_pool(&url, opts.max_size.max(1), opts)?,
                conn::build_pool(&url, 1, opts)?,
            ),
            Backend::Postgres => {
                let pool = conn::build_pool(&url, opts.max_size.max(2), opts)?;
                (pool.clone(), pool)
            }
        };
        let store = Store {
            url,
            readers,
            writer,
            on_commit: Default::default(),
            clock: Clock::system(),
            suspect_until: Default::default(),
        };
        let mut conn = store.writer_conn()?;
        let applied = migrations::run_pending(&mut conn)?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
        let filled = users::backfill_index(&mut conn)? + groups::backfill_index(&mut conn)?;
        if filled > 0 {
            tracing::info!(filled, "filter index documents back-filled");
        }
        drop(conn);
        Ok(store)
    }

    /// The clock of write transactions, lifecycle dates and the scheduler (shared by clones).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    /// The database URL with any password hidden.
    pub fn redacted_url(&self) -> String {
        self.url.redacted()
    }

    /// The SQLite file, if any.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self.url.sqlite_path()
    }

    fn writer_conn(&self) -> Result<PooledConn> {
        Ok(self.writer.get()?)
    }

    /// A connection for reads (blocking; call from a blocking context).
    pub fn conn(&self) -> Result<PooledConn> {
        Ok(self.readers.get()?)
    }

    /// Runs `f` with a read connection.
    pub fn read<T>(&self, f: impl FnOnce(&mut DbConn) -> Result<T>) -> Result<T> {
        let mut c = self.conn()?;
        self.check_suspect(&mut c);
        let r = f(&mut c);
        self.heal(&mut c, r)
    }

    /// Runs `f` inside the one write transaction (see [`write::Tx`]): all or nothing.
    pub fn write<T>(&self, ctx: &WriteCtx, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let mut c = self.writer_conn()?;
        self.check_suspect(&mut c);
        let conn: &mut DbConn = &mut c;
        let clock = &self.clock;
        let deferred = std::cell::RefCell::new(Vec::new());
        let r = conn.transaction(|c| write::run(c, ctx, clock, &deferred, f));
        let mut r = self.heal(&mut c, r);
        let deferred = deferred.into_inner();
        if !deferred.is_empty() {
            let written = self.write_deferred(&mut c, ctx, deferred);
            if let Ok((_, appended)) = &mut r {
                *appended |= written;
            } else if written {
                self.committed();
            }
        }
        let (out, appended) = r?;
        drop(c);
        if appended {
            if let Ok(hooks) = self.on_commit.read() {
                for hook in hooks.iter() {
                    hook();
                }
            }
        }
        Ok(out)
    }

    /// Appends events queued by a write ([`write::Deferred`]: alerts about refused attempts) in
    /// a transaction of their own; true if they were written. A failure is logged: the write's
    /// own outcome stands.
    fn write_deferred(
        &self,
        c: &mut PooledConn,
        ctx: &WriteCtx,
        deferred: Vec<write::Deferred>,
    ) -> bool {
        let conn: &mut DbConn = c;
        let none = std::cell::RefCell::new(Vec::new());
        let r = conn.transaction(|c| {
            write::run(c, ctx, &self.clock, &none, |tx| {
                for d in &deferred {
                    tx.append_event(
                        d.action,
                        d.resource_type,
                        &d.resource_id,
                        0,
                        None,
                        Some(d.after.to_string()),
                    )?;
                }
                Ok(())
            })
        });
        match self.heal(c, r) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, events = deferred.len(), "could not record alert events");
                false
            }
        }
    }

    fn committed(&self) {
        if let Ok(hooks) = self.on_commit.read() {
            for hook in hooks.iter() {
                hook();
            }
        }
    }

    /// Adds a hook called after each write that appended events (the push engine and the
    /// webhook worker each install one; shared by clones of this store).
    pub fn add_commit_hook(&self, hook: CommitHook) {
        if let Ok(mut hooks) = self.on_commit.write() {
            hooks.push(hook);
        }
    }

    /// Runs `f` in a plain transaction that does not touch the event log (tokens, settings).
    pub fn admin<T>(&self, f: impl FnOnce(&mut DbConn) -> Result<T>) -> Result<T> {
        let mut c = self.writer_conn()?;
        self.check_suspect(&mut c);
        let conn: &mut DbConn = &mut c;
        let r = conn.transaction(f);
        self.heal(&mut c, r)
    }

    /// Checks that the database answers.
    pub fn ping(&self) -> Result<()> {
        let mut c = self.conn()?;
        let r = c.batch_execute("SELECT 1").map_err(Error::from);
        self.heal(&mut c, r)
    }

    /// After a PostgreSQL connection was lost (the server restarted, a network cut), replaces
    /// the pooled connection with a fresh one, so that the pool does not keep handing out dead
    /// connections once the database is back (the pool does not test connections on
    /// check-out: that would cost a round trip per request). If the database is still away the
    /// dead connection stays, and the next request that gets it tries again. The request that
    /// saw the loss is answered 503 with `Retry-After`.
    /// After a lost connection (see `suspect_until`), tests a checked-out PostgreSQL connection
    /// with `SELECT 1` and replaces it if it is dead, so that the first requests after an outage
    /// do not draw the connections the outage killed.
    fn check_suspect(&self, c: &mut PooledConn) {
        if self.backend() != Backend::Postgres {
            return;
        }
        let suspect = self
            .suspect_until
            .lock()
            .map(|u| u.is_some_and(|t| std::time::Instant::now() < t))
            .unwrap_or(false);
        if suspect {
            if let Err(e) = c.batch_execute("SELECT 1") {
                let _ = self.heal::<()>(c, Err(e.into()));
            }
        }
    }

    fn heal<T>(&self, c: &mut PooledConn, r: Result<T>) -> Result<T> {
        if matches!(r, Err(Error::Unavailable(_))) && self.backend() == Backend::Postgres {
            if let Ok(mut u) = self.suspect_until.lock() {
                *u = Some(std::time::Instant::now() + SUSPECT_FOR);
            }
            use diesel::r2d2::ManageConnection;
            let manager = conn::Manager::new(self.url.clone(), SqliteSync::Full);
            match manager.connect() {
                Ok(fresh) => {
                    **c = fresh;
                    tracing::info!("database connection lost; replaced it with a new one");
                }
                Err(e) => tracing::warn!(error = %e, "database connection lost; still unreachable"),
            }
        }
        r
    }
}

/// Creates the SQLite file (and its folder) readable by the owner only: it holds the token
/// signing key. Existing files keep their permissions.
fn create_private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let fail = |what: &str, e: std::io::Error| {
        Error::Config(format!("cannot create {what} {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| fail("data folder for", e))?;
        }
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail("database file", e)),
    }
    Ok(())
}

/// Removes an SQLite database file and its WAL side files (tests, tools).
pub fn remove_sqlite_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}
