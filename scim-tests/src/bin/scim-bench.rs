//! `scim-bench`: a closed-loop load generator for any SCIM 2.0 server (issue 4).
//!
//! ```sh
//! cargo run --release -p scim-tests --bin scim-bench -- \
//!     --url http://127.0.0.1:8080/scim/v2 --token "$TOKEN" --users 10000 --json out.json
//! ```
//!
//! Seeds `--users` realistic enterprise users (~1 KB each; through `/Bulk` when the server
//! advertises it in ServiceProviderConfig, else parallel POSTs), `--groups` small groups and
//! one group of `--big-group` members, then runs each class in `--classes` with `--concurrency`
//! tasks, each on its own keep-alive HTTP/1.1 connection, until `--requests` requests or
//! `--seconds` seconds (whichever first). Every answer is validated; a wrong answer counts as an
//! error, never as a fast answer. Only standard SCIM endpoints are used. With `--server-pid`
//! the server's CPU seconds (`/proc/PID/stat` utime+stime) and peak RSS (`VmHWM`) are
//! sampled around each class. Prints a markdown table; `--json FILE` writes the same figures.

#[path = "../bench/mod.rs"]
mod bench;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};

use bench::http::{Client, Kind, Target};
use bench::seed::{SeedOpts, Seeded};
use bench::workload::{op, Class, TaskState, ALL};

#[derive(Parser, Debug)]
#[command(name = "scim-bench", about = "Closed-loop SCIM 2.0 load generator")]
struct Args {
    /// The SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2
    #[arg(long)]
    url: String,
    /// Bearer token (optional)
    #[arg(long, env = "SCIM_BENCH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Users to seed
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Small groups to seed (for patch_member)
    #[arg(long, default_value_t = 100)]
    groups: usize,
    /// Members of each small group at seeding
    #[arg(long, default_value_t = 10)]
    group_size: usize,
    /// Members of the big group (0: no big group)
    #[arg(long, default_value_t = 10_000)]
    big_group: usize,
    /// Comma-separated classes, in order
    #[arg(
        long,
        default_value = "mixed,get,filter,page,patch_user,patch_member,create,big_group_patch,big_group_get"
    )]
    classes: String,
    /// Concurrent closed-loop clients (one connection each)
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Most measured requests per class
    #[arg(long, default_value_t = 200_000)]
    requests: u64,
    /// Most measured seconds per class
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Unmeasured warm-up seconds before each class
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Cap on the seeding of users, seconds (the run goes on with the users created by then)
    #[arg(long, default_value_t = 900.0)]
    seed_seconds: f64,
    /// Concurrent seeding requests
    #[arg(long, default_value_t = 4)]
    seed_concurrency: usize,
    /// Operations per /Bulk request (default: what maxOperations and maxPayloadSize allow)
    #[arg(long)]
    bulk_size: Option<usize>,
    /// Seed with POSTs even if the server advertises /Bulk
    #[arg(long)]
    no_bulk: bool,
    /// Per-request timeout, seconds
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Write the results as JSON
    #[arg(long)]
    json: Option<PathBuf>,
    /// Sample this process's CPU seconds and peak RSS around each class
    #[arg(long)]
    server_pid: Option<u32>,
    /// Name of the target in the output
    #[arg(long, default_value = "server")]
    label: String,
    /// HTTP client: hyper (one http1 connection per task) or reqwest (one client per task)
    #[arg(long, default_value = "hyper")]
    client: String,
    /// Load-generator threads (1: a current-thread runtime, for a pinned single core)
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Shell command run before each class (after seeding, before its warm-up), with the class
    /// in $SCIM_BENCH_CLASS; e.g. `callgrind_control -z PID` to count one class's instructions
    #[arg(long)]
    before_class: Option<String>,
    /// Shell command run after each class, with the class in $SCIM_BENCH_CLASS; e.g.
    /// `callgrind_control -d $SCIM_BENCH_CLASS PID`
    #[arg(long)]
    after_class: Option<String>,
}

/// Runs a `--before-class`/`--after-class` hook; a failing hook stops the run.
fn hook(cmd: Option<&str>, class: Class) -> Result<()> {
    let Some(cmd) = cmd else { return Ok(()) };
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("SCIM_BENCH_CLASS", class.name())
        .status()
        .with_context(|| format!("run hook {cmd}"))?;
    if !status.success() {
        bail!("hook `{cmd}` failed: {status}");
    }
    Ok(())
}

/// The measured figures of one class.
struct ClassResult {
    class: Class,
    ok: u64,
    errors: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    cpu_s: Option<f64>,
    peak_rss_kib: Option<u64>,
    rss_kib: Option<u64>,
    client_cpu_s: f64,
    connects: u64,
    first_errors: Vec<String>,
}

impl ClassResult {
    fn ops_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ok as f64 / self.seconds
        } else {
            0.0
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    rt.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let kind = match args.client.as_str() {
        "hyper" => Kind::Hyper,
        "reqwest" => Kind::Reqwest,
        c => bail!("--client {c}: hyper or reqwest"),
    };
    let classes: Vec<Class> = args
        .classes
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| Class::parse(c).ok_or_else(|| anyhow!("unknown class {c} (one of {ALL:?})")))
        .collect::<Result<_>>()?;
    let concurrency = args.concurrency.max(1);
    let target = Target::parse(
        &args.url,
        args.token.as_deref(),
        Duration::from_secs_f64(args.timeout),
    )?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let wants_big = classes
        .iter()
        .any(|c| matches!(c, Class::BigGroupPatch | Class::BigGroupGet));
    let big = if wants_big { args.big_group } else { 0 };
    let spare = if big > 0 { 2 * concurrency } else { 0 };

    eprintln!(
        "scim-bench {}: seeding {} users (+{spare} spare), {} groups, big group {big} (run {run_id})",
        args.label, args.users, args.groups
    );
    let seeded = bench::seed::seed(
        &target,
        kind,
        &run_id,
        &SeedOpts {
            users: args.users,
            spare,
            groups: args.groups,
            group_size: args.group_size,
            big_group: big,
            concurrency: args.seed_concurrency.max(1),
            max_seconds: args.seed_seconds,
            allow_bulk: !args.no_bulk,
            bulk_size: args.bulk_size,
        },
    )
    .await
    .context("seeding")?;
    eprintln!(
        "seeded {} users in {:.1} s ({}, {:.0} users/s), {} groups + big group of {} in {:.1} s{}",
        seeded.users.len() + seeded.spare.len(),
        seeded.users_seconds,
        if seeded.via_bulk {
            format!("/Bulk x{}", seeded.bulk_size)
        } else {
            "POST".to_string()
        },
        (seeded.users.len() + seeded.spare.len()) as f64 / seeded.users_seconds.max(1e-9),
        seeded.groups.len(),
        seeded.big_members,
        seeded.groups_seconds,
        if seeded.notes.is_empty() {
            String::new()
        } else {
            format!(" [{}]", seeded.notes.join("; "))
        }
    );
    let seeded = Arc::new(seeded);

    let mut results = Vec::new();
    for &class in &classes {
        hook(args.before_class.as_deref(), class)?;
        let r = run_class(class, &args, &target, kind, concurrency, &seeded).await?;
        hook(args.after_class.as_deref(), class)?;
        eprintln!(
            "{:<16} {:>9.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}  server CPU {}  client CPU {:.2} s{}",
            class.name(),
            r.ops_per_s(),
            r.p50_ms,
            r.p99_ms,
            r.errors,
            r.cpu_s.map_or("-".into(), |c| format!("{c:.2} s")),
            r.client_cpu_s,
            r.first_errors
                .first()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        results.push(r);
    }

    let score = geomean(results.iter().map(ClassResult::ops_per_s));
    print_table(&args.label, &seeded, &results, score);
    if let Some(path) = &args.json {
        let doc = to_json(&args, &seeded, &results, score, concurrency, kind);
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

async fn run_class(
    class: Class,
    args: &Args,
    target: &Target,
    kind: Kind,
    concurrency: usize,
    seeded: &Arc<Seeded>,
) -> Result<ClassResult> {
    let issued = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let created = Arc::new(AtomicU64::new(0));
    let warm_end = Instant::now() + Duration::from_secs_f64(args.warmup);
    let mut tasks = Vec::with_capacity(concurrency);
    for t in 0..concurrency {
        let (target, seeded, issued, measuring, created) = (
            target.clone(),
            seeded.clone(),
            issued.clone(),
            measuring.clone(),
            created.clone(),
        );
        let limit = args.requests;
        let seconds = args.seconds;
        tasks.push(tokio::spawn(async move {
            let mut client = Client::new(&target, kind)?;
            let mut rng = StdRng::seed_from_u64(0x5c1b_0000 + t as u64);
            let mut st = TaskState {
                task: t,
                tasks: concurrency,
                counter: 0,
                pending_member: None,
                pending_big: None,
                created,
            };
            // Warm-up: connections, caches, JIT-free but page-cache-warm; not measured.
            while Instant::now() < warm_end {
                let _ = op(class, &mut client, &seeded, &mut st, &mut rng).await;
            }
            // All tasks start measuring together.
            measuring.store(true, Ordering::Relaxed);
            let start = Instant::now();
            let deadline = start + Duration::from_secs_f64(seconds);
            let mut lat_us: Vec<u32> = Vec::with_capacity(4096);
            let (mut ok, mut errors) = (0u64, 0u64);
            let mut first_errors = Vec::new();
            let connects_before = client.connects;
            loop {
                let now = Instant::now();
                if now >= deadline || issued.fetch_add(1, Ordering::Relaxed) >= limit {
                    break;
                }
                let res = op(class, &mut client, &seeded, &mut st, &mut rng).await;
                lat_us.push(now.elapsed().as_micros().min(u32::MAX as u128) as u32);
                match res {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        errors += 1;
                        if first_errors.len() < 3 {
                            first_errors.push(e);
                        }
                    }
                }
            }
            Ok::<_, anyhow::Error>((
                start,
                Instant::now(),
                ok,
                errors,
                lat_us,
                first_errors,
                client.connects - connects_before,
            ))
        }));
    }
    // The window starts when the warm-up ends.
    let wait = warm_end.saturating_duration_since(Instant::now());
    tokio::time::sleep(wait).await;
    let me = std::process::id();
    let client_before = bench::proc::sample(me)?;
    let before = match args.server_pid {
        Some(pid) => Some(bench::proc::sample(pid)?),
        None => None,
    };
    let mut lat: Vec<u32> = Vec::new();
    let (mut ok, mut errors, mut connects) = (0, 0, 0);
    let mut first_errors = Vec::new();
    let mut t0: Option<Instant> = None;
    let mut t1: Option<Instant> = None;
    for t in tasks {
        let (s, e, o, er, l, fe, cn) = t.await??;
        t0 = Some(t0.map_or(s, |x| x.min(s)));
        t1 = Some(t1.map_or(e, |x| x.max(e)));
        ok += o;
        errors += er;
        connects += cn;
        lat.extend(l);
        for f in fe {
            if first_errors.len() < 5 && !first_errors.contains(&f) {
                first_errors.push(f);
            }
        }
    }
    let client_after = bench::proc::sample(me)?;
    let after = match args.server_pid {
        Some(pid) => Some(bench::proc::sample(pid)?),
        None => None,
    };
    let seconds = match (t0, t1) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        f64::from(lat[i]) / 1000.0
    };
    Ok(ClassResult {
        class,
        ok,
        errors,
        seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        cpu_s: match (before, after) {
            (Some(b), Some(a)) => Some(a.cpu_s - b.cpu_s),
            _ => None,
        },
        peak_rss_kib: after.map(|a| a.hwm_kib),
        rss_kib: after.map(|a| a.rss_kib),
        client_cpu_s: client_after.cpu_s - client_before.cpu_s,
        connects,
        first_errors,
    })
}

fn geomean(it: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0);
    for x in it {
        if x <= 0.0 {
            return 0.0;
        }
        sum += x.ln();
        n += 1;
    }
    if n == 0 {
        0.0
    } else {
        (sum / f64::from(n)).exp()
    }
}

fn print_table(label: &str, s: &Seeded, results: &[ClassResult], score: f64) {
    println!(
        "\n### {label}: N = {} users ({} groups, big group {} members)\n",
        s.users.len(),
        s.groups.len(),
        s.big_members
    );
    println!("| class | ops/s | p50 ms | p99 ms | errors | server CPU s | peak RSS MiB |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in results {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {} | {} | {} |",
            r.class.name(),
            r.ops_per_s(),
            r.p50_ms,
            r.p99_ms,
            r.errors,
            r.cpu_s.map_or("-".into(), |c| format!("{c:.2}")),
            r.peak_rss_kib
                .map_or("-".into(), |k| format!("{:.0}", k as f64 / 1024.0)),
        );
    }
    println!("\nscore (geometric mean of ops/s): {score:.1}");
}

fn to_json(
    args: &Args,
    s: &Seeded,
    results: &[ClassResult],
    score: f64,
    concurrency: usize,
    kind: Kind,
) -> Value {
    json!({
        "label": args.label,
        "url": args.url,
        "client": format!("{kind:?}").to_lowercase(),
        "concurrency": concurrency,
        "requests_per_class": args.requests,
        "seconds_per_class": args.seconds,
        "warmup_seconds": args.warmup,
        "seed": {
            "users_requested": args.users,
            "users": s.users.len(),
            "spare_users": s.spare.len(),
            "users_missing": s.users_missing,
            "via_bulk": s.via_bulk,
            "bulk_size": s.bulk_size,
            "users_seconds": s.users_seconds,
            "groups": s.groups.len(),
            "big_group_members": s.big_members,
            "groups_seconds": s.groups_seconds,
            "notes": s.notes,
        },
        "classes": results.iter().map(|r| json!({
            "class": r.class.name(),
            "ok": r.ok,
            "errors": r.errors,
            "seconds": r.seconds,
            "ops_per_s": r.ops_per_s(),
            "p50_ms": r.p50_ms,
            "p99_ms": r.p99_ms,
            "max_ms": r.max_ms,
            "server_cpu_s": r.cpu_s,
            "server_peak_rss_kib": r.peak_rss_kib,
            "server_rss_kib_after": r.rss_kib,
            "client_cpu_s": r.client_cpu_s,
            "connections_opened": r.connects,
            "first_errors": r.first_errors,
        })).collect::<Vec<_>>(),
        "score": score,
    })
}
