//! Typed configuration: command-line flags and `ROSTER_*` environment variables.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Default database: an SQLite file in `./roster-data`, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://roster-data/roster.db";
/// Default listen address (loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Database settings shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: sqlite://PATH (embedded default) or postgres://USER@HOST/DB.
    #[arg(long, env = "ROSTER_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,

    /// Size of the database connection pool.
    #[arg(long, env = "ROSTER_DB_POOL_SIZE", default_value_t = 8)]
    pub db_pool_size: u32,

    /// SQLite durability: `full` (fsync every commit) or `normal` (faster; may lose the last
    /// commits on power loss, never on a process crash).
    #[arg(long, env = "ROSTER_SQLITE_SYNCHRONOUS", value_enum, default_value_t = SqliteSyncArg::Full)]
    pub sqlite_synchronous: SqliteSyncArg,
}

/// `PRAGMA synchronous` choices.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SqliteSyncArg {
    /// fsync every commit.
    Full,
    /// fsync at checkpoints.
    Normal,
}

impl DatabaseArgs {
    /// Pool options for the store.
    pub fn pool_options(&self) -> store::PoolOptions {
        store::PoolOptions {
            max_size: self.db_pool_size.max(1),
            connect_timeout: Duration::from_secs(5),
            sqlite_sync: match self.sqlite_synchronous {
                SqliteSyncArg::Full => store::SqliteSync::Full,
                SqliteSyncArg::Normal => store::SqliteSync::Normal,
            },
        }
    }
}

/// Settings of `roster serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ROSTER_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "ROSTER_WORKERS")]
    pub workers: Option<usize>,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "ROSTER_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// How long a verified token's registration is trusted before it is read again, in
    /// milliseconds: a revocation takes effect within this time (0: read on every request).
    #[arg(long, env = "ROSTER_TOKEN_RECHECK_MS", default_value_t = 1000)]
    pub token_recheck_ms: u64,

    /// Most operations accepted in one `/Bulk` request.
    #[arg(long, env = "ROSTER_BULK_MAX_OPERATIONS", default_value_t = 1000)]
    pub bulk_max_operations: usize,

    /// Largest `/Bulk` request body, in bytes.
    #[arg(long, env = "ROSTER_BULK_MAX_PAYLOAD_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub bulk_max_payload_bytes: usize,

    /// Folder of custom schema extensions: `User/*.json`, `Group/*.json` (RFC 7643 §7).
    #[arg(long, env = "ROSTER_SCHEMA_DIR")]
    pub schema_dir: Option<std::path::PathBuf>,

    /// Public base URL used in `meta.location` (default: taken from the request's Host).
    #[arg(long, env = "ROSTER_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Database settings.
    #[command(flatten)]
    pub db: DatabaseArgs,
}

impl ServeArgs {
    /// Settings for tests and embedding: the given database, an ephemeral loopback port.
    pub fn for_database(database_url: &str) -> ServeArgs {
        ServeArgs {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: Some(2),
            max_body_bytes: 1024 * 1024,
            bulk_max_operations: 1000,
            schema_dir: None,
            token_recheck_ms: 0,
            bulk_max_payload_bytes: 4 * 1024 * 1024,
            public_url: None,
            db: DatabaseArgs {
                database_url: database_url.to_string(),
                db_pool_size: 4,
                sqlite_synchronous: SqliteSyncArg::Normal,
            },
        }
    }
}
