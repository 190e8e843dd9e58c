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

    /// Key that encrypts downstream credentials at rest: 64 hex digits. Replicas must share it.
    /// Default: the key file (created on first use).
    #[arg(long, env = "ROSTER_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Key file used when `--secret-key` is not given (default: `secret.key` beside the SQLite
    /// database, or `roster-data/secret.key` with PostgreSQL).
    #[arg(long, env = "ROSTER_SECRET_KEY_FILE")]
    pub secret_key_file: Option<std::path::PathBuf>,
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
    /// Settings for the given database URL with every other value at its default.
    pub fn for_url(database_url: &str) -> DatabaseArgs {
        DatabaseArgs {
            database_url: database_url.to_string(),
            db_pool_size: 4,
            sqlite_synchronous: SqliteSyncArg::Normal,
            secret_key: None,
            secret_key_file: None,
        }
    }

    /// The key that encrypts downstream credentials (see `--secret-key`).
    pub fn secret_key(&self) -> anyhow::Result<push::SecretKey> {
        if let Some(hex) = &self.secret_key {
            return Ok(push::SecretKey::from_hex(hex)?);
        }
        let path = match &self.secret_key_file {
            Some(p) => p.clone(),
            None => store::DbUrl::parse(&self.database_url)
                .ok()
                .and_then(|u| u.sqlite_path())
                .and_then(|p| p.parent().map(|d| d.join("secret.key")))
                .unwrap_or_else(|| std::path::PathBuf::from("roster-data/secret.key")),
        };
        Ok(push::SecretKey::load_or_create(&path)?)
    }

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

    /// Push engine settings.
    #[command(flatten)]
    pub push: PushArgs,

    /// Database settings.
    #[command(flatten)]
    pub db: DatabaseArgs,
}

/// Settings of the push engine (outbound provisioning).
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// Run the push engine in this process (`false`: this replica serves requests only).
    #[arg(long = "push-enabled", env = "ROSTER_PUSH_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,

    /// Fallback poll interval of push workers, in milliseconds (writes wake them at once).
    #[arg(
        long = "push-poll-ms",
        env = "ROSTER_PUSH_POLL_MS",
        default_value_t = 1000
    )]
    pub poll_ms: u64,

    /// Timeout of every call to a downstream service, in milliseconds.
    #[arg(
        long = "push-timeout-ms",
        env = "ROSTER_PUSH_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub timeout_ms: u64,

    /// Length of a target's lease, in seconds (well above the timeout).
    #[arg(
        long = "push-lease-secs",
        env = "ROSTER_PUSH_LEASE_SECS",
        default_value_t = 60
    )]
    pub lease_secs: u64,

    /// Events (and retries) handled per push run.
    #[arg(long = "push-batch", env = "ROSTER_PUSH_BATCH", default_value_t = 500)]
    pub batch: i64,

    /// Consecutive failed runs before a target is quarantined.
    #[arg(
        long = "push-quarantine-after",
        env = "ROSTER_PUSH_QUARANTINE_AFTER",
        default_value_t = 5
    )]
    pub quarantine_after: i64,

    /// First retry delay of a failed item, in milliseconds (doubles per failure, up to 15 min).
    #[arg(
        long = "push-retry-base-ms",
        env = "ROSTER_PUSH_RETRY_BASE_MS",
        default_value_t = 2000
    )]
    pub retry_base_ms: u64,
}

impl Default for PushArgs {
    fn default() -> Self {
        PushArgs {
            enabled: true,
            poll_ms: 1000,
            timeout_ms: 10_000,
            lease_secs: 60,
            batch: 500,
            quarantine_after: 5,
            retry_base_ms: 2000,
        }
    }
}

impl PushArgs {
    /// Engine options.
    pub fn options(&self) -> push::EngineOptions {
        push::EngineOptions {
            poll: Duration::from_millis(self.poll_ms.max(10)),
            lease: Duration::from_secs(self.lease_secs.max(2)),
            timeout: Duration::from_millis(self.timeout_ms.max(100)),
            batch: self.batch.clamp(1, 10_000),
            quarantine_after: self.quarantine_after.max(1),
            retry_base: Duration::from_millis(self.retry_base_ms.max(10)),
        }
    }
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
            push: PushArgs {
                poll_ms: 100,
                ..PushArgs::default()
            },
            db: DatabaseArgs::for_url(database_url),
        }
    }
}
