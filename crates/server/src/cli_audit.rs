//! `roster audit …`: checks on the tamper-evident event log, and retention (`prune`), run
//! against the database directly.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use clap::Subcommand;
use store::events::{format_ts, ExpectedHead, Verdict};
use store::history::PruneOutcome;

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
    /// Delete the history before a date (events, and versions and membership periods that
    /// ended before it), the only way history is ever dropped. Verifies the chain first,
    /// refuses a date in the future, keeps everything still valid, and appends a `prune` event
    /// recording what was removed and the hash at the cut, so the chain stays verifiable.
    Prune {
        /// The cut: RFC 3339 (`2026-01-01T00:00:00Z`) or a date (`2026-01-01`, midnight UTC).
        #[arg(long, value_name = "DATE", value_parser = parse_cut)]
        before: NaiveDateTime,
        /// Database settings.
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// `--before`: RFC 3339 with any offset, or a date (its midnight UTC); microsecond precision.
fn parse_cut(raw: &str) -> Result<NaiveDateTime, String> {
    let raw = raw.trim();
    let t = DateTime::parse_from_rfc3339(raw)
        .map(|t| t.naive_utc())
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| {
            format!("'{raw}' is not an RFC 3339 date-time (2026-01-01T00:00:00Z) or a date (2026-01-01)")
        })?;
    let micros = chrono::TimeDelta::microseconds(1);
    Ok(chrono::DurationRound::duration_trunc(t, micros).unwrap_or(t))
}

/// Runs an audit subcommand.
pub fn run(cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify { expect_head, db } => verify(&db, expect_head.as_ref()),
        AuditCommand::Prune { before, db } => prune(&db, before),
    }
}

fn prune(db: &DatabaseArgs, before: NaiveDateTime) -> anyhow::Result<()> {
    let store = store::Store::open(&db.database_url, &db.pool_options())?;
    let ctx = store::WriteCtx::system("cli");
    let outcome = store.write(&ctx, |tx| store::history::prune(tx, before))?;
    let r = match outcome {
        PruneOutcome::Refused(why) => anyhow::bail!("prune refused: {why}"),
        PruneOutcome::Nothing => {
            println!(
                "nothing to prune before {}: no event or closed history is older",
                format_ts(before)
            );
            return Ok(());
        }
        PruneOutcome::Pruned(r) => r,
    };
    println!(
        "pruned the history before {} (chain verified first: {} events ok)",
        format_ts(r.before),
        r.verified
    );
    match (r.seqs, r.times) {
        (Some((from, to)), Some((t0, t1))) => println!(
            "  events:                    {} (seq {from}..{to}, {} .. {})",
            r.events,
            format_ts(t0),
            format_ts(t1)
        ),
        _ => println!("  events:                    0"),
    }
    println!("  closed resource versions:  {}", r.versions);
    println!("  closed membership periods: {}", r.periods);
    println!(
        "  hash at the cut:           {}:{}",
        r.anchor.seq - 1,
        r.anchor.prev_hash
    );
    let (head_seq, head_hash) = store.read(store::events::head)?;
    println!(
        "recorded as prune event {}; the chain now starts at seq {}",
        r.prune_seq, r.anchor.seq
    );
    println!(
        "heads recorded before seq {} can no longer be checked; record the new head: {head_seq}:{head_hash}",
        r.anchor.seq
    );
    Ok(())
}

fn verify(db: &DatabaseArgs, expected: Option<&ExpectedHead>) -> anyhow::Result<()> {
    let url = store::DbUrl::parse(&db.database_url)?;
    let mut conn = store::audit::connect(&db.database_url)?;
    let verdict = store::events::verify_against(&mut conn, expected)?;
    match verdict {
        Verdict::Ok { checked } => {
            let (seq, hash) = store::events::head(&mut conn)?;
            println!("checked {checked} events: ok (head {seq}:{hash})");
            let anchor = store::events::anchor(&mut conn)?;
            if let (Some(p), Some(cut)) = (anchor.prune_seq, anchor.pruned_before) {
                println!(
                    "the chain starts at seq {} (prev_hash {}): history before {} was pruned by \
                     prune event {p}, which the chain verifies",
                    anchor.seq,
                    anchor.prev_hash,
                    format_ts(cut)
                );
            }
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
