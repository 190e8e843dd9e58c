//! Writes a synthetic HRMS export for `roster import` (benchmarks and demos): one row per
//! employee with the default mapping's headers, managers referenced by employee number.
//!
//! `cargo run --release -p scim-tests --bin hr-csv -- --rows 100000 --out users.csv`
//! With `--moved P`, P percent of rows get another department and title (a second export for
//! the same people).

use std::io::Write;

use clap::Parser;

const DEPARTMENTS: [&str; 8] = [
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Support",
    "Legal",
    "People",
    "Operations",
];
const TITLES: [&str; 5] = [
    "Associate",
    "Engineer",
    "Senior Engineer",
    "Manager",
    "Director",
];

#[derive(Debug, Parser)]
struct Args {
    /// Employees to write.
    #[arg(long, default_value_t = 1000)]
    rows: u64,
    /// Output file.
    #[arg(long)]
    out: std::path::PathBuf,
    /// Percent of rows whose department and title differ from the base export.
    #[arg(long, default_value_t = 0)]
    moved: u64,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args.out)?);
    writeln!(
        out,
        "Employee ID,First Name,Last Name,Work Email,Department,Job Title,Manager Employee ID,Cost Center,Hire Date,Termination Date"
    )?;
    for i in 0..args.rows {
        let moved = args.moved > 0 && (i * 7919) % 100 < args.moved;
        let shift = usize::from(moved);
        let dept = DEPARTMENTS[(i as usize + shift) % DEPARTMENTS.len()];
        let title = TITLES[(i as usize / 7 + shift) % TITLES.len()];
        // a tree: employee i reports to i / 10 (the first one to nobody)
        let manager = if i == 0 {
            String::new()
        } else {
            format!("E{:07}", i / 10)
        };
        writeln!(
            out,
            "E{i:07},Given{i},Family{i},user{i}@example.com,{dept},{title},{manager},CC{},2020-01-{:02},",
            i % 97,
            1 + i % 28
        )?;
    }
    out.flush()
}
