//! The `roster` command line: `serve`, `token issue|list|revoke`, `migrate`, `audit verify|prune`,
//! `target add|list|show|pause|resume|reconcile|retry`, `rule add|list|show|remove`,
//! `import FILE`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::auth::{self, Keys};
use crate::config::{DatabaseArgs, ServeArgs, DEFAULT_DATABASE_URL};
use crate::startup::Application;

/// Roster: SCIM 2.0 identity provisioning.
#[derive(Debug, Parser)]
#[command(name = "roster", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
// parsed once at start-up: the size of the `serve` settings does not matter
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the SCIM server (migrates the database first).
    Serve(ServeArgs),
    /// Issue, list and revoke bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Check the tamper-evident event log (`roster audit verify`), prune old history.
    #[command(subcommand)]
    Audit(crate::cli_audit::AuditCommand),
    /// Manage downstream push targets (outbound provisioning).
    #[command(subcommand)]
    Target(crate::cli_target::TargetCommand),
    /// Manage birthright access rules (a filter over users and the groups it grants).
    #[command(subcommand)]
    Rule(crate::cli_rule::RuleCommand),
    /// Import users from an HR export (CSV): joiners, movers, leavers, rehires.
    Import(crate::cli_import::ImportArgs),
}

/// `roster token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token; the token is printed as the last line of stdout.
    Issue {
        /// Name of the token (who uses it; shown as the actor in the audit log).
        #[arg(long)]
        name: String,
        /// Scope to grant (repeat for several): scim.read, scim.write, audit.read, admin, approve, metrics.read.
        #[arg(long = "scope", required = true, value_parser = clap::builder::PossibleValuesParser::new(auth::SCOPES))]
        scopes: Vec<String>,
        /// Days until the token expires.
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_in: u32,
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List issued tokens (never the tokens themselves).
    List {
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Revoke a token by its id (jti); it stops working at once.
    Revoke {
        /// The token id, as shown by `roster token list`.
        jti: String,
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn open(db: &DatabaseArgs) -> anyhow::Result<store::Store> {
    Ok(store::Store::open(&db.database_url, &db.pool_options())?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let done = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Migrate(db) => {
            let s = open(&db)?;
            println!("database {} is up to date", s.redacted_url());
            Ok(())
        }
        Command::Token(cmd) => token(cmd),
        Command::Audit(cmd) => crate::cli_audit::run(cmd),
        Command::Target(cmd) => crate::cli_target::run(cmd),
        Command::Rule(cmd) => crate::cli_rule::run(cmd),
        Command::Import(args) => return crate::cli_import::run(args),
    };
    done.map(|()| ExitCode::SUCCESS)
}

fn token(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Issue {
            name,
            scopes,
            expires_in,
            db,
        } => {
            let store = open(&db)?;
            let keys = Keys::load(&store)?;
            let issued = auth::issue(&store, &keys, &name, &scopes, expires_in)?;
            let r = &issued.record;
            println!(
                "issued token '{}' (jti {}) with scopes [{}], expires {}",
                r.name,
                r.jti,
                r.scopes,
                r.expires
                    .map(|e| e.and_utc().to_rfc3339())
                    .unwrap_or_else(|| "never".into())
            );
            println!("{}", issued.token);
            Ok(())
        }
        TokenCommand::List { db } => {
            let store = open(&db)?;
            let tokens = store.read(store::tokens::list)?;
            println!(
                "{:<36}  {:<20}  {:<30}  {:<20}  {:<20}  STATUS",
                "JTI", "NAME", "SCOPES", "CREATED", "EXPIRES"
            );
            let now = store::write::now();
            for t in tokens {
                let status = if t.revoked.is_some() {
                    "revoked"
                } else if t.expires.is_some_and(|e| e <= now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<36}  {:<20}  {:<30}  {:<20}  {:<20}  {status}",
                    t.jti,
                    t.name,
                    t.scopes,
                    t.created.format("%Y-%m-%d %H:%M:%S"),
                    t.expires
                        .map(|e| e.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_else(|| "never".into()),
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { jti, db } => {
            let store = open(&db)?;
            let ctx = store::WriteCtx::system("cli");
            match store.write(&ctx, |tx| store::tokens::revoke(tx, jti.trim())) {
                Ok(t) => {
                    println!("revoked token '{}' (jti {})", t.name, t.jti);
                    Ok(())
                }
                Err(store::Error::NotFound) => {
                    anyhow::bail!("no token with jti '{jti}' (see 'roster token list')")
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(&args)?;
        let store = app.state().store.clone();
        let addr = app.addr();
        tracing::info!(
            database = %store.redacted_url(),
            "Roster listening: SCIM base URL http://{addr}/scim/v2 (health: http://{addr}/healthz)"
        );
        let active = store
            .read(store::tokens::list)
            .map(|t| t.iter().filter(|t| t.revoked.is_none()).count())
            .unwrap_or(0);
        if active == 0 {
            let exe = std::env::args().next().unwrap_or_else(|| "roster".into());
            let db = if args.db.database_url == DEFAULT_DATABASE_URL {
                String::new()
            } else {
                " --database-url <same URL as serve>".into()
            };
            tracing::info!(
                "no tokens yet; create one in another terminal: {exe} token issue --name admin --scope scim.read --scope scim.write{db}"
            );
        }
        app.run_until_stopped().await?;
        tracing::info!("Roster stopped");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_tree_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
