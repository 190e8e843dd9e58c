//! `roster audit …`: checks on the tamper-evident event log, run against the database directly.

use clap::Subcommand;
use store::events::{ExpectedHead, Verdict};

use crate::config::DatabaseArgs;

/// `roster audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the whole hash chain; print the number of events checked and `ok`, or the first
    /// broken seq and what is wrong (exit status 1). Reads only: never migrates or writes.
    Verify {
        /// A head recorded earlier (`GET /audit/v1/head`, field `expectHead`): the chain must
        /// still contain that event with that hash.
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<ExpectedHead>,
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// Runs an audit subcommand.
pub fn run(cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify { expect_head, db } => verify(&db, expect_head.as_ref()),
    }
}

fn verify(db: &DatabaseArgs, expected: Option<&ExpectedHead>) -> anyhow::Result<()> {
    let url = store::DbUrl::parse(&db.database_url)?;
    let mut conn = store::audit::connect(&db.database_url)?;
    let verdict = store::events::verify_against(&mut conn, expected)?;
    match verdict {
        Verdict::Ok { checked } => {
            let (seq, hash) = store::events::head(&mut conn)?;
            println!("checked {checked} events: ok (head {seq}:{hash})");
            if let Some(x) = expected {
                println!(
                    "the chain passes through the expected head {}:{}",
                    x.seq, x.hash
                );
            }
            Ok(())
        }
        Verdict::Broken {
            checked,
            seq,
            reason,
        } => {
            println!("checked {checked} events: BROKEN at seq {seq}: {reason}");
            anyhow::bail!("the event log of {} fails verification", url.redacted())
        }
    }
}
