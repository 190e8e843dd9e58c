//! Connections and pools for both backends, chosen from the URL scheme only.

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ManageConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

use crate::error::{Error, Result};

/// One connection type for both backends; queries written once against it run on either.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// A PostgreSQL connection (production, several replicas).
    Postgres(PgConnection),
    /// An SQLite connection (embedded default).
    Sqlite(SqliteConnection),
}

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://PATH`
    Sqlite,
    /// `postgres://…` or `postgresql://…`
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// How durable an SQLite commit is (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// fsync on every commit: an acknowledged write survives power loss (default).
    #[default]
    Full,
    /// fsync at checkpoints: survives a process crash, may lose the last commits on power loss.
    Normal,
}

/// A parsed, validated database URL.
#[derive(Debug, Clone)]
pub struct DbUrl {
    backend: Backend,
    /// For SQLite the file path (scheme stripped), for PostgreSQL the whole URL.
    target: String,
}

impl DbUrl {
    /// Parses `sqlite://PATH` or `postgres://…`; anything else is refused.
    pub fn parse(url: &str) -> Result<DbUrl> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(Error::Config(
                    "sqlite URL needs a file path, e.g. sqlite://roster-data/roster.db".into(),
                ));
            }
            Ok(DbUrl {
                backend: Backend::Sqlite,
                target: path.to_string(),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DbUrl {
                backend: Backend::Postgres,
                target: url.to_string(),
            })
        } else {
            Err(Error::Config(
                "database URL must start with sqlite:// or postgres://".into(),
            ))
        }
    }

    /// The backend this URL selects.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQLite file path, if this is an SQLite URL.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        (self.backend == Backend::Sqlite).then(|| PathBuf::from(&self.target))
    }

    /// The URL with any password replaced, safe to log.
    pub fn redacted(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.target),
            Backend::Postgres => redact_password(&self.target),
        }
    }
}

fn redact_password(url: &str) -> String {
    // postgres://user:secret@host/db -> postgres://user:***@host/db
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// r2d2 manager that builds the variant named by the URL (never falls through to another).
#[derive(Debug, Clone)]
pub struct Manager {
    url: DbUrl,
    sync: SqliteSync,
}

impl Manager {
    /// A manager for `url`.
    pub fn new(url: DbUrl, sync: SqliteSync) -> Self {
        Manager { url, sync }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> std::result::Result<DbConn, Self::Error> {
        match self.url.backend {
            Backend::Postgres => PgConnection::establish(&self.url.target)
                .map(DbConn::Postgres)
                .map_err(diesel::r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut c = SqliteConnection::establish(&self.url.target)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                let sync = match self.sync {
                    SqliteSync::Full => "FULL",
                    SqliteSync::Normal => "NORMAL",
                };
                c.batch_execute(&format!(
                    "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
                     PRAGMA synchronous = {sync}; PRAGMA case_sensitive_like = ON;"
                ))
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> std::result::Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// Pool options.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Connections in the (read) pool.
    pub max_size: u32,
    /// How long to wait for a connection before answering 503.
    pub connect_timeout: Duration,
    /// SQLite durability.
    pub sqlite_sync: SqliteSync,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 8,
            connect_timeout: Duration::from_secs(5),
            sqlite_sync: SqliteSync::Full,
        }
    }
}

/// A pool of [`DbConn`].
pub type DbPool = Pool<Manager>;

pub(crate) fn build_pool(url: &DbUrl, size: u32, opts: &PoolOptions) -> Result<DbPool> {
    Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(opts.connect_timeout)
        .test_on_check_out(false)
        .build(Manager::new(url.clone(), opts.sqlite_sync))
        .map_err(|e| Error::Unavailable(e.to_string()))
}

impl DbConn {
    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Postgres(_) => Backend::Postgres,
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_selects_backend_and_rejects_others() {
        assert_eq!(
            DbUrl::parse("sqlite://a/b.db").unwrap().backend(),
            Backend::Sqlite
        );
        assert_eq!(
            DbUrl::parse("postgres://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert!(DbUrl::parse("mysql://x").is_err());
        assert!(DbUrl::parse("sqlite://").is_err());
        assert!(DbUrl::parse("roster.db").is_err());
    }

    #[test]
    fn redacts_passwords() {
        let u = DbUrl::parse("postgres://bob:hunter2@db:5432/roster").unwrap();
        assert_eq!(u.redacted(), "postgres://bob:***@db:5432/roster");
    }
}
