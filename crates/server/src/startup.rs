//! Builds the HTTP server: opens the store, loads keys, binds, and wires routes.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::KeepAlive;
use actix_web::{web, App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::auth::Keys;
use crate::config::ServeArgs;
use crate::routes;
use crate::state::AppState;

/// A bound, ready-to-run Roster server.
pub struct Application {
    port: u16,
    addr: std::net::SocketAddr,
    server: Server,
    state: AppState,
}

impl Application {
    /// Opens the database (migrating it), loads the signing key and binds the listener.
    pub fn build(args: &ServeArgs) -> anyhow::Result<Application> {
        if let Some(dir) = &args.schema_dir {
            let registry = crate::schemas::load(dir)?;
            if !scim::schema::Registry::install(registry.clone())
                && scim::schema::Registry::global() != &registry
            {
                anyhow::bail!("a different schema registry is already in force in this process");
            }
        }
        let store = store::Store::open(&args.db.database_url, &args.db.pool_options())?;
        store
            .clock()
            .set_offset(chrono::TimeDelta::seconds(args.lifecycle.clock_offset_secs));
        let scheduler = crate::scheduler::Scheduler::new(
            store.clone(),
            Duration::from_millis(args.lifecycle.scheduler_interval_ms),
        )
        .with_access_request_ttl(chrono::TimeDelta::days(i64::from(
            args.lifecycle.access_request_ttl_days,
        )));
        let keys = Keys::load(&store)?;
        crate::metrics::handle();
        let secret_key = args.db.secret_key()?;
        let push = if args.push.enabled {
            Some(push::Engine::new(
                store.clone(),
                secret_key.clone(),
                args.push.options(),
            )?)
        } else {
            None
        };
        let protected_groups =
            std::sync::Arc::new(store::ProtectedGroups::new(&args.protected_groups));
        let hooks = if args.hooks.webhook_enabled {
            Some(hooks::Engine::new(
                store.clone(),
                secret_key.clone(),
                args.hooks.options(protected_groups.clone()),
            )?)
        } else {
            None
        };
        let state = AppState {
            store,
            keys,
            public_url: args
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
            max_body_bytes: args.max_body_bytes,
            tokens: crate::auth::TokenCache::new(std::time::Duration::from_millis(
                args.token_recheck_ms,
            )),
            limits: args.limits.protocol(),
            body_timeout: Duration::from_millis(args.limits.body_timeout_ms),
            bulk: crate::state::BulkLimits {
                max_operations: args.bulk_max_operations.max(1),
                max_payload_bytes: args.bulk_max_payload_bytes,
            },
            secret_key,
            push,
            hooks,
            scheduler,
            rule_confirm_threshold: args.lifecycle.rule_confirm_threshold,
            protected_groups,
        };
        if !state.protected_groups.is_empty() {
            let entries: Vec<&str> = state.protected_groups.entries().collect();
            tracing::info!(
                groups = %entries.join(", "),
                "protected groups: membership changes need the admin scope"
            );
        }
        let listener = TcpListener::bind(args.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener.local_addr()?;
        let data = web::Data::new(state.clone());
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(crate::metrics::record))
                .wrap(TracingLogger::<crate::telemetry::RedactedRootSpan>::new())
                .app_data(data.clone())
                .app_data(web::QueryConfig::default().error_handler(routes::query_error))
                .configure(routes::configure)
        })
        .shutdown_timeout(30)
        .client_request_timeout(Duration::from_millis(args.limits.client_request_timeout_ms))
        .keep_alive(match args.limits.keep_alive_secs {
            0 => KeepAlive::Disabled,
            s => KeepAlive::Timeout(Duration::from_secs(s)),
        })
        .max_connections(usize::try_from(args.limits.max_connections).unwrap_or(usize::MAX));
        if let Some(w) = args.workers {
            server = server.workers(w.max(1));
        }
        let server = server.listen(listener)?.run();
        Ok(Application {
            port: addr.port(),
            addr,
            server,
            state,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The shared state (store and keys), e.g. to issue tokens in tests.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Runs until Ctrl-C / SIGTERM (in-flight requests finish) or until the handle stops it.
    /// The push engine runs alongside and stops after the server (releasing its leases).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let engine = self.state.push.clone();
        let supervisor = engine.as_ref().map(|e| e.start());
        let hooks = self.state.hooks.clone();
        let hooks_task = hooks.as_ref().map(|h| h.start());
        let scheduler = self.state.scheduler.clone();
        let ticking = scheduler.start();
        let result = self.server.await;
        scheduler.stop();
        if let Some(task) = ticking {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(20), task).await;
        }
        if let (Some(e), Some(task)) = (engine, supervisor) {
            e.stop();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(20), task).await;
        }
        if let (Some(h), Some(task)) = (hooks, hooks_task) {
            h.stop();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(20), task).await;
        }
        result
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}
