//! `roster import users.csv`: the HR feed from a file (see [`crate::import`]), with a progress
//! bar and a summary of joiners, movers, leavers, unchanged and rejected rows.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::DatabaseArgs;
use crate::import::{self, Options, Summary};

/// Rejected rows and warnings printed in full; the rest are counted.
const SHOW: usize = 50;

/// `roster import FILE …`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file; its first line names the columns.
    pub file: PathBuf,
    /// TOML file mapping column headers to fields (default: common HRMS headers).
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Report what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Deactivate HR-managed users (with an externalId or employee number) missing from the file.
    #[arg(long)]
    pub deactivate_missing: bool,
    /// With --deactivate-missing: more deactivations than this are refused (nothing is
    /// written) unless --confirm is given.
    #[arg(
        long,
        env = "ROSTER_IMPORT_DEACTIVATE_THRESHOLD",
        default_value_t = 100
    )]
    pub threshold: u64,
    /// Accept more deactivations than --threshold.
    #[arg(long)]
    pub confirm: bool,
    /// Rows written per transaction.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch: u64,
    /// Database settings.
    #[command(flatten)]
    pub db: DatabaseArgs,
}

fn print_summary(file: &str, s: &Summary) {
    println!(
        "{}import of {file}: {} rows",
        if s.dry_run { "dry run: " } else { "" },
        s.rows
    );
    for (label, n) in [
        ("joiners", s.joiners),
        ("rehired", s.rehired),
        ("movers", s.movers),
        ("leavers", s.leavers),
        ("unchanged", s.unchanged),
        ("rejected", s.rejected.len() as u64),
        ("deactivated (missing from file)", s.deactivated_missing),
    ] {
        println!("  {label:<32} {n:>8}");
    }
    for w in s.warnings.iter().take(SHOW) {
        eprintln!("warning: {w}");
    }
    if s.warnings.len() > SHOW {
        eprintln!("warning: … and {} more", s.warnings.len() - SHOW);
    }
    for r in s.rejected.iter().take(SHOW) {
        let key = if r.key.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.key)
        };
        eprintln!("rejected: line {}{key}: {}", r.line, r.reason);
    }
    if s.rejected.len() > SHOW {
        eprintln!("rejected: … and {} more", s.rejected.len() - SHOW);
    }
    if s.dry_run {
        println!("dry run: nothing was changed");
    }
}

/// Runs the import; exit status 0 when every row was imported, 2 when some were rejected.
pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let store = store::Store::open(&args.db.database_url, &args.db.pool_options())?;
    let opts = Options {
        path: args.file.clone(),
        mapping: args.mapping,
        dry_run: args.dry_run,
        deactivate_missing: args.deactivate_missing,
        threshold: args.threshold,
        confirm: args.confirm,
        batch: args.batch as usize,
    };
    // hidden when stderr is not a terminal (cron, CI)
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let lines = count_lines(&args.file);
    bar.set_length(lines);
    let summary = import::run(&store, &opts, &|n| bar.inc(n))?;
    bar.finish_and_clear();
    print_summary(&args.file.display().to_string(), &summary);
    Ok(if summary.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Data lines in the file (for the progress bar's length; 0 if it cannot be read).
fn count_lines(path: &std::path::Path) -> u64 {
    std::fs::read(path)
        .map(|b| (bytecount(&b) as u64).saturating_sub(1))
        .unwrap_or(0)
}

fn bytecount(b: &[u8]) -> usize {
    let n = b.iter().filter(|&&c| c == b'\n').count();
    if b.last().is_some_and(|&c| c != b'\n') {
        n + 1
    } else {
        n
    }
}
