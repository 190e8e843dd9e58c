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

    /// Protected groups, comma-separated group ids or displayNames: changing their members
    /// (or those of groups nested in them) needs the `admin` scope as well as `scim.write`.
    #[arg(long, env = "ROSTER_PROTECTED_GROUPS", value_delimiter = ',')]
    pub protected_groups: Vec<String>,

    /// Push engine settings.
    #[command(flatten)]
    pub push: PushArgs,

    /// Lifecycle settings: scheduler, rule confirmation threshold, clock offset.
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,

    /// Webhook and alert settings.
    #[command(flatten)]
    pub hooks: HookArgs,

    /// Database settings.
    #[command(flatten)]
    pub db: DatabaseArgs,

    /// Request limits and client timeouts.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Request limits and client timeouts of `roster serve` (`docs/SECURITY.md` explains each).
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Longest filter, in bytes (longer: 400 invalidFilter).
    #[arg(long, env = "ROSTER_FILTER_MAX_LENGTH", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub filter_max_length: u32,

    /// Deepest nesting of parentheses, `not` and value filters in a filter.
    #[arg(long, env = "ROSTER_FILTER_MAX_DEPTH", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=scim::filter::Limits::MAX_DEPTH_CEILING as i64))]
    pub filter_max_depth: u32,

    /// Most expressions in a filter.
    #[arg(long, env = "ROSTER_FILTER_MAX_NODES", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=scim::filter::Limits::MAX_NODES_CEILING as i64))]
    pub filter_max_nodes: u32,

    /// Deepest nesting of arrays and objects in a JSON body (deeper: 400 invalidSyntax).
    #[arg(long, env = "ROSTER_JSON_MAX_DEPTH", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=scim::limits::JSON_DEPTH_CEILING as i64))]
    pub json_max_depth: u32,

    /// Longest string value in a resource, PATCH or Bulk body, in bytes (400 invalidValue).
    #[arg(long, env = "ROSTER_MAX_VALUE_BYTES", default_value_t = 2048,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_value_bytes: u32,

    /// Most operations in one PATCH request (400 invalidValue).
    #[arg(long, env = "ROSTER_PATCH_MAX_OPERATIONS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub patch_max_operations: u32,

    /// Most values (e.g. members) in one PATCH operation (400 invalidValue).
    #[arg(long, env = "ROSTER_PATCH_MAX_VALUES", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub patch_max_values: u32,

    /// Largest page; a larger `count` is lowered to it (advertised as maxResults).
    #[arg(long, env = "ROSTER_MAX_PAGE_SIZE", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_page_size: u32,

    /// Time a client has to send the request line and headers, in milliseconds (then 408).
    #[arg(long, env = "ROSTER_CLIENT_REQUEST_TIMEOUT_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub client_request_timeout_ms: u64,

    /// Time a client has to send the whole request body, in milliseconds (then 408).
    #[arg(long, env = "ROSTER_BODY_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: u64,

    /// How long an idle keep-alive connection stays open, in seconds (0: no keep-alive).
    #[arg(long, env = "ROSTER_KEEP_ALIVE_SECS", default_value_t = 5)]
    pub keep_alive_secs: u64,

    /// Most open connections per worker; further connections wait in the listen backlog.
    #[arg(long, env = "ROSTER_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

impl Default for LimitArgs {
    fn default() -> Self {
        let l = scim::limits::Limits::default();
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        LimitArgs {
            filter_max_length: n(l.filter.max_len),
            filter_max_depth: n(l.filter.max_depth),
            filter_max_nodes: n(l.filter.max_nodes),
            json_max_depth: n(l.json_depth),
            max_value_bytes: n(l.max_value_bytes),
            patch_max_operations: n(l.patch_max_operations),
            patch_max_values: n(l.patch_max_values),
            max_page_size: u32::try_from(l.max_page_size).unwrap_or(u32::MAX),
            client_request_timeout_ms: 5000,
            body_timeout_ms: 30_000,
            keep_alive_secs: 5,
            max_connections: 10_000,
        }
    }
}

impl LimitArgs {
    /// The protocol limits these settings give.
    pub fn protocol(&self) -> scim::limits::Limits {
        let n = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
        scim::limits::Limits {
            filter: scim::filter::Limits {
                max_len: n(self.filter_max_length),
                max_depth: n(self.filter_max_depth),
                max_nodes: n(self.filter_max_nodes),
            },
            json_depth: n(self.json_max_depth),
            max_value_bytes: n(self.max_value_bytes),
            patch_max_operations: n(self.patch_max_operations),
            patch_max_values: n(self.patch_max_values),
            max_page_size: u64::from(self.max_page_size),
        }
        .clamped()
    }
}

/// Settings of rules, lifecycle dates and the scheduler (docs/lifecycle.md).
#[derive(Debug, Clone, Args)]
pub struct LifecycleArgs {
    /// How often this replica looks for due lifecycle work (start and end dates, grace
    /// expiries, rule re-evaluations), in milliseconds (0: never; another replica does it).
    #[arg(
        long = "scheduler-interval-ms",
        env = "ROSTER_SCHEDULER_INTERVAL_MS",
        default_value_t = 10_000
    )]
    pub scheduler_interval_ms: u64,

    /// A rule change (PUT or DELETE) that would remove more memberships than this needs
    /// `?confirm=true` (409 otherwise).
    #[arg(
        long = "rule-confirm-threshold",
        env = "ROSTER_RULE_CONFIRM_THRESHOLD",
        default_value_t = 100
    )]
    pub rule_confirm_threshold: u64,

    /// Days an access request may wait for a decision before the scheduler expires it
    /// (docs/governance.md).
    #[arg(
        long = "access-request-ttl-days",
        env = "ROSTER_ACCESS_REQUEST_TTL_DAYS",
        default_value_t = 14,
        value_parser = clap::value_parser!(u32).range(1..=3650)
    )]
    pub access_request_ttl_days: u32,

    /// Seconds added to the system clock for Roster's own time (write timestamps, lifecycle
    /// dates, grace periods). For rehearsals and tests only; leave 0 in production.
    #[arg(
        long = "clock-offset-secs",
        env = "ROSTER_CLOCK_OFFSET_SECS",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub clock_offset_secs: i64,
}

impl Default for LifecycleArgs {
    fn default() -> Self {
        LifecycleArgs {
            scheduler_interval_ms: 10_000,
            rule_confirm_threshold: 100,
            access_request_ttl_days: 14,
            clock_offset_secs: 0,
        }
    }
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

    /// How often each target looks for pre-hires whose provisioning window opened, in seconds
    /// (one filtered query over the users).
    #[arg(
        long = "push-prehire-check-secs",
        env = "ROSTER_PUSH_PREHIRE_CHECK_SECS",
        default_value_t = 300
    )]
    pub prehire_check_secs: u64,
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
            prehire_check_secs: 300,
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
            pre_hire_check: Duration::from_secs(self.prehire_check_secs),
        }
    }
}

/// Settings of webhooks and alerts (docs/governance.md).
#[derive(Debug, Clone, Args)]
pub struct HookArgs {
    /// Run the webhook and alert worker in this process (one replica works at a time, by lease).
    #[arg(long = "webhook-enabled", env = "ROSTER_WEBHOOK_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhook_enabled: bool,

    /// Fallback poll interval of the worker, in milliseconds (writes wake it at once).
    #[arg(
        long = "webhook-poll-ms",
        env = "ROSTER_WEBHOOK_POLL_MS",
        default_value_t = 1000
    )]
    pub webhook_poll_ms: u64,

    /// Timeout of one delivery, in milliseconds.
    #[arg(
        long = "webhook-timeout-ms",
        env = "ROSTER_WEBHOOK_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub webhook_timeout_ms: u64,

    /// First retry delay of a failed delivery, in milliseconds (doubles per attempt, up to
    /// 15 min, ±50 % jitter).
    #[arg(
        long = "webhook-retry-base-ms",
        env = "ROSTER_WEBHOOK_RETRY_BASE_MS",
        default_value_t = 2000
    )]
    pub webhook_retry_base_ms: u64,

    /// Attempts after which a delivery is given up (`failed`, with a `webhookFailed` alert).
    #[arg(long = "webhook-max-attempts", env = "ROSTER_WEBHOOK_MAX_ATTEMPTS", default_value_t = 50,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub webhook_max_attempts: i64,

    /// Age after which a failing delivery is given up, in hours.
    #[arg(
        long = "webhook-max-age-hours",
        env = "ROSTER_WEBHOOK_MAX_AGE_HOURS",
        default_value_t = 72
    )]
    pub webhook_max_age_hours: u64,

    /// Length of the worker's lease, in seconds (well above the timeout).
    #[arg(
        long = "webhook-lease-secs",
        env = "ROSTER_WEBHOOK_LEASE_SECS",
        default_value_t = 60
    )]
    pub webhook_lease_secs: u64,

    /// Mass-deprovision alert: more than this many deactivations or membership removals by
    /// one actor within the window raise an alert (0: off).
    #[arg(
        long = "alert-mass-deprovision-count",
        env = "ROSTER_ALERT_MASS_DEPROVISION_COUNT",
        default_value_t = 50
    )]
    pub mass_deprovision_count: u64,

    /// The mass-deprovision window, in minutes.
    #[arg(long = "alert-mass-deprovision-minutes", env = "ROSTER_ALERT_MASS_DEPROVISION_MINUTES", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub mass_deprovision_minutes: u64,

    /// How often the hash chain is verified in the background, in seconds; a break raises an
    /// alert (0: never).
    #[arg(
        long = "alert-verify-interval-secs",
        env = "ROSTER_ALERT_VERIFY_INTERVAL_SECS",
        default_value_t = 86_400
    )]
    pub verify_interval_secs: u64,
}

impl Default for HookArgs {
    fn default() -> Self {
        HookArgs {
            webhook_enabled: true,
            webhook_poll_ms: 1000,
            webhook_timeout_ms: 10_000,
            webhook_retry_base_ms: 2000,
            webhook_max_attempts: 50,
            webhook_max_age_hours: 72,
            webhook_lease_secs: 60,
            mass_deprovision_count: 50,
            mass_deprovision_minutes: 10,
            verify_interval_secs: 86_400,
        }
    }
}

impl HookArgs {
    /// Worker options (`protected`: the protected groups, for alerts).
    pub fn options(&self, protected: std::sync::Arc<store::ProtectedGroups>) -> hooks::Options {
        hooks::Options {
            poll: Duration::from_millis(self.webhook_poll_ms.max(10)),
            lease: Duration::from_secs(self.webhook_lease_secs.max(2)),
            timeout: Duration::from_millis(self.webhook_timeout_ms.max(100)),
            batch: 500,
            policy: hooks::deliver::Policy {
                retry_base: Duration::from_millis(self.webhook_retry_base_ms.max(10)),
                max_attempts: self.webhook_max_attempts.max(1),
                max_age: Duration::from_secs(self.webhook_max_age_hours.saturating_mul(3600)),
            },
            alerts: hooks::alerts::AlertOptions {
                mass_count: self.mass_deprovision_count,
                mass_window: Duration::from_secs(self.mass_deprovision_minutes.max(1) * 60),
                verify_every: Duration::from_secs(self.verify_interval_secs),
                protected,
            },
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
            protected_groups: Vec::new(),
            push: PushArgs {
                poll_ms: 100,
                ..PushArgs::default()
            },
            hooks: HookArgs {
                webhook_poll_ms: 100,
                webhook_retry_base_ms: 200,
                ..HookArgs::default()
            },
            db: DatabaseArgs::for_url(database_url),
            limits: LimitArgs::default(),
            // tests run due work themselves (`Scheduler::run_due`) after moving the clock
            lifecycle: LifecycleArgs {
                scheduler_interval_ms: 0,
                ..LifecycleArgs::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use crate::cli::{Cli, Command};

    fn serve(args: &[&str]) -> Result<super::ServeArgs, clap::Error> {
        let argv = ["roster", "serve"].iter().chain(args).copied();
        match Cli::try_parse_from(argv)?.command {
            Command::Serve(s) => Ok(s),
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn limit_flags_are_parsed_and_bounded() {
        let s = serve(&["--filter-max-depth", "4", "--max-page-size", "10"]).unwrap();
        let l = s.limits.protocol();
        assert_eq!(l.filter.max_depth, 4);
        assert_eq!(l.max_page_size, 10);
        assert_eq!(
            serve(&[]).unwrap().limits.protocol(),
            scim::limits::Limits::default()
        );
        for bad in [
            ["--filter-max-nodes", "1001"],
            ["--filter-max-depth", "257"],
            ["--json-max-depth", "129"],
            ["--max-value-bytes", "0"],
            ["--max-page-size", "-1"],
        ] {
            assert!(serve(&bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn access_request_ttl_is_bounded() {
        assert_eq!(serve(&[]).unwrap().lifecycle.access_request_ttl_days, 14);
        let s = serve(&["--access-request-ttl-days", "3"]).unwrap();
        assert_eq!(s.lifecycle.access_request_ttl_days, 3);
        for bad in ["0", "3651", "-1"] {
            assert!(serve(&["--access-request-ttl-days", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn protected_groups_are_a_comma_separated_list() {
        assert!(serve(&[]).unwrap().protected_groups.is_empty());
        let s = serve(&["--protected-groups", "Admins, 1f0c,Domain Admins"]).unwrap();
        let p = store::ProtectedGroups::new(&s.protected_groups);
        assert_eq!(
            p.entries().collect::<Vec<_>>(),
            ["1f0c", "Admins", "Domain Admins"]
        );
    }

    #[test]
    fn every_serve_setting_is_documented() {
        let doc = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/CONFIGURATION.md"
        ));
        let cmd = Cli::command();
        let serve = cmd
            .get_subcommands()
            .find(|c| c.get_name() == "serve")
            .unwrap();
        for arg in serve.get_arguments() {
            let Some(env) = arg.get_env() else { continue };
            let env = env.to_string_lossy();
            assert!(
                doc.contains(&format!("`{env}`")),
                "{env} not in CONFIGURATION.md"
            );
            let flag = format!("`--{}", arg.get_long().unwrap());
            assert!(doc.contains(&flag), "{flag} not in CONFIGURATION.md");
        }
    }
}
