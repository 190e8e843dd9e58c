//! `roster target add|list|show|pause|resume|reconcile|retry`: the push-target admin functions
//! (the same as `/admin/v1/targets`) from the command line, straight on the database.

use clap::Subcommand;
use serde_json::{json, Value};

use crate::config::DatabaseArgs;

/// `roster target …`
#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// Add a downstream SCIM target; its id is printed as the last line.
    Add {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// The remote SCIM base URL (e.g. https://app.example/scim/v2).
        #[arg(long)]
        base_url: String,
        /// Bearer token for the remote (or set ROSTER_TARGET_BEARER_TOKEN, which keeps it out
        /// of the process list).
        #[arg(long, env = "ROSTER_TARGET_BEARER_TOKEN", hide_env_values = true)]
        bearer_token: String,
        /// `all`, `groups:ID,ID` or `filter:EXPR`.
        #[arg(long, default_value = "all")]
        scope: String,
        /// `disable` (PATCH active false) or `delete`.
        #[arg(long, default_value = "disable", value_parser = ["disable", "delete"])]
        deprovision: String,
        /// `none` or `assigned` (the scope's groups, with their members).
        #[arg(long, default_value = "none", value_parser = ["none", "assigned"])]
        push_groups: String,
        /// Most requests per second.
        #[arg(long)]
        rate_limit: Option<f64>,
        /// Accidental-deletion threshold: a count (`50`) or a percentage (`10%`).
        #[arg(long)]
        deletion_threshold: Option<String>,
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List targets with their state.
    List {
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Show a target (by id or name) and its status.
    Show {
        /// Target id or name.
        target: String,
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Pause a target.
    Pause {
        /// Target id or name.
        target: String,
        /// Why (shown in the status and the audit log).
        #[arg(long, default_value = "paused from the command line")]
        reason: String,
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Resume a paused or quarantined target.
    Resume {
        /// Target id or name.
        target: String,
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Ask the running server to reconcile the target (its report goes to the audit log).
    Reconcile {
        /// Target id or name.
        target: String,
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Try failed items again.
    Retry {
        /// Target id or name.
        target: String,
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

fn scope(spec: &str) -> anyhow::Result<Value> {
    if spec == "all" {
        return Ok(json!({"type": "all"}));
    }
    if let Some(ids) = spec.strip_prefix("groups:") {
        let groups: Vec<&str> = ids
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        return Ok(json!({"type": "groups", "groups": groups}));
    }
    if let Some(f) = spec.strip_prefix("filter:") {
        return Ok(json!({"type": "filter", "filter": f}));
    }
    anyhow::bail!("--scope: use all, groups:ID,ID or filter:EXPR")
}

fn threshold(t: &str) -> Value {
    match t.trim().parse::<u64>() {
        Ok(n) => json!(n),
        Err(_) => json!(t.trim()),
    }
}

fn open(db: &DatabaseArgs) -> anyhow::Result<store::Store> {
    Ok(store::Store::open(&db.database_url, &db.pool_options())?)
}

fn ctx() -> store::WriteCtx {
    store::WriteCtx::system("cli")
}

/// Runs a `roster target` subcommand.
pub fn run(cmd: TargetCommand) -> anyhow::Result<()> {
    match cmd {
        TargetCommand::Add {
            name,
            base_url,
            bearer_token,
            scope: sc,
            deprovision,
            push_groups,
            rate_limit,
            deletion_threshold,
            db,
        } => {
            let store = open(&db)?;
            let key = db.secret_key()?;
            let mut body = json!({
                "name": name, "baseUrl": base_url,
                "auth": {"type": "bearer", "token": bearer_token},
                "scope": scope(&sc)?, "deprovision": deprovision, "pushGroups": push_groups,
            });
            if let Some(o) = body.as_object_mut() {
                if let Some(r) = rate_limit {
                    o.insert("rateLimit".into(), json!(r));
                }
                if let Some(t) = &deletion_threshold {
                    o.insert("deletionThreshold".into(), threshold(t));
                }
            }
            let v = push::admin::create(&store, &key, &ctx(), &body)?;
            println!("added target '{}'", v["name"].as_str().unwrap_or_default());
            println!("{}", v["id"].as_str().unwrap_or_default());
            Ok(())
        }
        TargetCommand::List { db } => {
            let store = open(&db)?;
            println!(
                "{:<36}  {:<20}  {:<12}  {:>8}  {:>7}  BASE URL",
                "ID", "NAME", "STATE", "LAG", "FAILED"
            );
            for t in push::admin::list(&store, None)? {
                let id = t["id"].as_str().unwrap_or_default();
                let s = push::admin::status(&store, id)?;
                println!(
                    "{:<36}  {:<20}  {:<12}  {:>8}  {:>7}  {}",
                    id,
                    t["name"].as_str().unwrap_or_default(),
                    s["state"].as_str().unwrap_or_default(),
                    s["lagEvents"],
                    s["failed"],
                    t["baseUrl"].as_str().unwrap_or_default(),
                );
            }
            Ok(())
        }
        TargetCommand::Show { target, db } => {
            let store = open(&db)?;
            let key = db.secret_key().ok();
            let mut v = push::admin::get(&store, key.as_ref(), &target)?;
            let id = v["id"].as_str().unwrap_or_default().to_string();
            if let Some(o) = v.as_object_mut() {
                o.insert("status".into(), push::admin::status(&store, &id)?);
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(())
        }
        TargetCommand::Pause { target, reason, db } => {
            let store = open(&db)?;
            push::admin::set_paused(&store, &ctx(), &target, Some(&reason))?;
            println!("paused target '{target}'");
            Ok(())
        }
        TargetCommand::Resume { target, db } => {
            let store = open(&db)?;
            push::admin::set_paused(&store, &ctx(), &target, None)?;
            println!("resumed target '{target}'");
            Ok(())
        }
        TargetCommand::Reconcile { target, db } => {
            let store = open(&db)?;
            push::admin::request_reconcile(&store, &target)?;
            println!(
                "reconciliation of '{target}' requested: the server pushing it runs it at its next turn (report: audit events with action push.reconcile)"
            );
            Ok(())
        }
        TargetCommand::Retry { target, db } => {
            let store = open(&db)?;
            let n = push::admin::retry(&store, &ctx(), &target)?;
            println!("{n} failed items of '{target}' queued for a new attempt");
            Ok(())
        }
    }
}
