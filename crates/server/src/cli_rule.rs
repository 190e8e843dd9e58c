//! `roster rule add|list|show|remove`: birthright access rules (the same store functions as
//! `/admin/v1/rules`) from the command line, straight on the database.

use clap::Subcommand;
use serde_json::{json, Value};
use store::rules::{self, Compiled, RuleInput};

use crate::config::DatabaseArgs;
use crate::scheduler::Scheduler;

/// Memberships `roster rule remove` may end without `--confirm`.
const CONFIRM_THRESHOLD: usize = 100;

/// `roster rule …`
#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Add a rule; existing users are evaluated at once. Its id is printed as the last line.
    Add {
        /// Unique name.
        #[arg(long)]
        name: String,
        /// SCIM filter over Users, e.g. 'title co "Manager"'.
        #[arg(long)]
        filter: String,
        /// Group id the rule grants (repeat for several).
        #[arg(long = "group", required = true)]
        groups: Vec<String>,
        /// Days a membership outlives the user's match (movers keep access meanwhile).
        #[arg(long, default_value_t = 0)]
        grace_days: i64,
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List rules with their status.
    List {
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Show a rule (by id or name) as JSON.
    Show {
        /// Rule id or name.
        rule: String,
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Remove a rule: its memberships end at once (manual memberships stay).
    Remove {
        /// Rule id or name.
        rule: String,
        /// Confirm a removal that ends more than 100 memberships.
        #[arg(long)]
        confirm: bool,
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

fn open(db: &DatabaseArgs) -> anyhow::Result<store::Store> {
    Ok(store::Store::open(&db.database_url, &db.pool_options())?)
}

fn message(e: store::Error) -> anyhow::Error {
    match e {
        store::Error::Scim(s) => anyhow::anyhow!("{}", s.detail),
        store::Error::NotFound => anyhow::anyhow!("no such rule (see 'roster rule list')"),
        store::Error::Conflict { .. } => anyhow::anyhow!("name: another rule has this name"),
        other => other.into(),
    }
}

fn evaluate(store: &store::Store, id: &str) -> anyhow::Result<()> {
    let scheduler = Scheduler::new(store.clone(), std::time::Duration::ZERO);
    scheduler.run_job(&store::jobs::rule_job(id))?;
    Ok(())
}

/// Runs a `roster rule` subcommand.
pub fn run(cmd: RuleCommand) -> anyhow::Result<()> {
    let ctx = store::WriteCtx::system("cli");
    match cmd {
        RuleCommand::Add {
            name,
            filter,
            groups,
            grace_days,
            db,
        } => {
            let store = open(&db)?;
            let body =
                json!({"name": name, "filter": filter, "groups": groups, "graceDays": grace_days});
            let input = RuleInput::from_json(&body).map_err(message)?;
            let row = store
                .write(&ctx, |tx| rules::create(tx, &input))
                .map_err(message)?;
            evaluate(&store, &row.id)?;
            let row = store.read(|c| rules::get(c, &row.id))?;
            println!(
                "added rule '{}' ({} users evaluated, status {})",
                row.name, row.evaluated, row.status
            );
            println!("{}", row.id);
            Ok(())
        }
        RuleCommand::List { db } => {
            let store = open(&db)?;
            let rows = store.read(rules::list)?;
            println!(
                "{:<36}  {:<24}  {:<5}  {:<10}  FILTER",
                "ID", "NAME", "GRACE", "STATUS"
            );
            for r in rows {
                println!(
                    "{:<36}  {:<24}  {:<5}  {:<10}  {}",
                    r.id, r.name, r.grace_days, r.status, r.filter
                );
            }
            Ok(())
        }
        RuleCommand::Show { rule, db } => {
            let store = open(&db)?;
            let row = store.read(|c| rules::find(c, &rule)).map_err(message)?;
            let v: Value = rules::view(&row)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(())
        }
        RuleCommand::Remove { rule, confirm, db } => {
            let store = open(&db)?;
            let row = store.read(|c| rules::find(c, &rule)).map_err(message)?;
            let preview = store.read(|c| rules::preview(c, Some(&row.id), None::<&Compiled>))?;
            if preview.lost() > CONFIRM_THRESHOLD && !confirm {
                anyhow::bail!(
                    "removing rule '{}' would end {} memberships of {} users; repeat with --confirm",
                    row.name,
                    preview.lost(),
                    preview.lose.len()
                );
            }
            store
                .write(&ctx, |tx| rules::delete(tx, &row.id))
                .map_err(message)?;
            evaluate(&store, &row.id)?;
            println!(
                "removed rule '{}' ({} memberships ended)",
                row.name,
                preview.lost()
            );
            Ok(())
        }
    }
}
