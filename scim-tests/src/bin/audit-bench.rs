//! Audit query benchmark: seeds a realistic history through the store's own write functions
//! (so the hash chain and history tables are exactly what production writes), starts Roster on
//! it, and measures point-in-time queries over HTTP.
//!
//! ```sh
//! cargo run --release -p scim-tests --bin audit-bench -- sqlite
//! ROSTER_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release -p scim-tests --bin audit-bench -- postgres
//! ```
//!
//! Options (after the backend): `--users N` (100000), `--groups N` (1000), `--big N` (members
//! of the big group, 1000), `--events N` (1000000, total), `--samples N` (300). The database
//! is a fresh SQLite file or PostgreSQL database, removed at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use rand::Rng;
use scim_tests::{Backend, TestDb};
use serde_json::{json, Value};
use server::config::ServeArgs;
use server::startup::Application;

#[derive(Clone)]
struct Opts {
    backend: Backend,
    users: usize,
    groups: usize,
    big: usize,
    events: usize,
    samples: usize,
}

fn opts() -> Opts {
    let mut args = std::env::args().skip(1);
    let backend = match args.next().as_deref() {
        Some("sqlite") => Backend::Sqlite,
        Some("postgres") => Backend::Postgres,
        _ => {
            eprintln!("usage: audit-bench sqlite|postgres [--users N] [--groups N] [--big N] [--events N] [--samples N]");
            std::process::exit(2);
        }
    };
    let mut o = Opts {
        backend,
        users: 100_000,
        groups: 1_000,
        big: 1_000,
        events: 1_000_000,
        samples: 300,
    };
    while let (Some(k), Some(v)) = (args.next(), args.next()) {
        let v: usize = v.parse().expect("a number");
        match k.as_str() {
            "--users" => o.users = v,
            "--groups" => o.groups = v,
            "--big" => o.big = v,
            "--events" => o.events = v,
            "--samples" => o.samples = v,
            other => panic!("unknown option {other}"),
        }
    }
    assert!(o.big <= o.users, "--big must not exceed --users");
    o
}

fn user_doc(i: usize, rev: usize, active: bool) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": format!("user{i:06}@example.com"),
        "name": {"givenName": "Given", "familyName": format!("Family{i}")},
        "displayName": format!("User {i}"),
        "title": format!("Title rev {rev}"),
        "emails": [{"value": format!("user{i:06}@example.com"), "type": "work", "primary": true}],
        "active": active,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": format!("{i}"), "department": format!("Dept {}", i % 50)
        }
    })
}

fn group_doc(name: &str, members: &[String]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members})
}

const BATCH: usize = 5_000;

struct Seeded {
    users: Vec<String>,
    big_group: String,
    /// When the big group was created: member lookups are timed at instants after it (an
    /// earlier instant is a cheap 404, which would flatter the median).
    big_created: NaiveDateTime,
    start: NaiveDateTime,
    end: NaiveDateTime,
}

fn seed(store: &store::Store, o: &Opts) -> Seeded {
    let ctx = store::WriteCtx::system("bench-seed");
    let start = store::write::now();
    let t0 = Instant::now();
    let mut users = Vec::with_capacity(o.users);
    while users.len() < o.users {
        let from = users.len();
        let to = (from + BATCH).min(o.users);
        let ids = store
            .write(&ctx, |tx| {
                (from..to)
                    .map(|i| store::users::create(tx, user_doc(i, 0, true)).map(|r| r.id))
                    .collect::<store::Result<Vec<_>>>()
            })
            .unwrap();
        users.extend(ids);
    }
    eprintln!("{} users in {:?}", users.len(), t0.elapsed());
    let t0 = Instant::now();
    let mut rng = rand::thread_rng();
    let mut groups: Vec<String> = Vec::with_capacity(o.groups);
    let big_members: Vec<String> = users[..o.big].to_vec();
    let big_group = store
        .write(&ctx, |tx| {
            store::groups::create(tx, group_doc("big-group", &big_members)).map(|(g, _)| g.id)
        })
        .unwrap();
    let big_created = store::write::now();
    groups.push(big_group.clone());
    while groups.len() < o.groups {
        let n = (o.groups - groups.len()).min(200);
        let base = groups.len();
        let ids = store
            .write(&ctx, |tx| {
                let mut out = Vec::new();
                for k in 0..n {
                    let mut members: Vec<String> = (0..10)
                        .map(|_| users[rng.gen_range(0..users.len())].clone())
                        .collect();
                    members.sort();
                    members.dedup();
                    // every tenth group nests an earlier group
                    if (base + k) % 10 == 0 && base > 1 {
                        members.push(groups[rng.gen_range(1..base)].clone());
                    }
                    out.push(
                        store::groups::create(
                            tx,
                            group_doc(&format!("group-{}", base + k), &members),
                        )
                        .map(|(g, _)| g.id)?,
                    );
                }
                Ok(out)
            })
            .unwrap();
        groups.extend(ids);
    }
    eprintln!("{} groups in {:?}", groups.len(), t0.elapsed());
    // History: user replaces (title changes, some deactivations and re-activations) and, now
    // and then, churn in the big group, until the log holds `events` events.
    let t0 = Instant::now();
    let (mut count, _) = store.read(store::audit::sizes).unwrap();
    let mut rev = 1usize;
    let mut churn = 0usize;
    let mut big_now = big_members.clone();
    while (count as usize) < o.events {
        let n = (o.events - count as usize).min(BATCH);
        let churn_now = rev % 10 == 0;
        store
            .write(&ctx, |tx| {
                for k in 0..n {
                    let i = (rev * BATCH + k) % users.len();
                    let active = k % 97 != 0;
                    store::users::replace(tx, &users[i], user_doc(i, rev, active), None)?;
                }
                if churn_now {
                    // swap 20 members of the big group for others
                    for _ in 0..20 {
                        let out = rng.gen_range(0..big_now.len());
                        big_now[out] = users[rng.gen_range(0..users.len())].clone();
                    }
                    big_now.sort();
                    big_now.dedup();
                    store::groups::replace(tx, &big_group, group_doc("big-group", &big_now), None)?;
                    churn += 1;
                }
                Ok(())
            })
            .unwrap();
        rev += 1;
        count += (n + usize::from(churn_now)) as i64;
        if rev % 20 == 0 {
            eprintln!("  {count} events after {:?}", t0.elapsed());
        }
    }
    let (events, versions) = store.read(store::audit::sizes).unwrap();
    eprintln!(
        "history: {events} events, {versions} versions, {churn} big-group changes in {:?}",
        t0.elapsed()
    );
    // PostgreSQL: fresh statistics and visibility map (index-only scans) before measuring, as
    // autovacuum would give a production database after a while; SQLite is left as Roster
    // runs it (no sqlite_stat tables)
    if o.backend == Backend::Postgres {
        let t0 = Instant::now();
        store
            .read(|c| {
                use diesel::connection::SimpleConnection;
                c.batch_execute("VACUUM ANALYZE")?;
                Ok(())
            })
            .unwrap();
        eprintln!("VACUUM ANALYZE in {:?}", t0.elapsed());
    }
    Seeded {
        users,
        big_group,
        big_created,
        start,
        end: store::write::now(),
    }
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| ms(v[((v.len() as f64 - 1.0) * q).round() as usize]);
    (p(0.5), p(0.99), ms(v[v.len() - 1]))
}

#[tokio::main]
async fn main() {
    let o = opts();
    let db = TestDb::create(o.backend).unwrap_or_else(|| {
        eprintln!("set {} to benchmark PostgreSQL", scim_tests::POSTGRES_ENV);
        std::process::exit(2);
    });
    let args = ServeArgs::for_database(&db.url());
    let store = store::Store::open(&db.url(), &args.db.pool_options()).unwrap();
    let t0 = Instant::now();
    let s = tokio::task::spawn_blocking({
        let store = store.clone();
        let o = o.clone();
        move || seed(&store, &o)
    })
    .await
    .unwrap();
    let seed_time = t0.elapsed();
    drop(store);

    let app = Application::build(&args).unwrap();
    let addr = format!("http://{}", app.addr());
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    let token = server::auth::issue(
        &state.store,
        &state.keys,
        "bench",
        &["audit.read".to_string()],
        1,
    )
    .unwrap()
    .token;
    let client = reqwest::Client::new();
    let span = (s.end - s.start).num_microseconds().unwrap().max(1);
    let mut rng = rand::thread_rng();
    let mut at = || {
        let t = s.start + chrono::TimeDelta::microseconds(rng.gen_range(0..span));
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    };
    let big_span = (s.end - s.big_created).num_microseconds().unwrap().max(1);
    let mut rng3 = rand::thread_rng();
    let mut at_big = || {
        let t = s.big_created + chrono::TimeDelta::microseconds(rng3.gen_range(0..big_span));
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    };
    let mut rng2 = rand::thread_rng();
    let mut user_times = Vec::new();
    let mut member_times = Vec::new();
    let mut member_counts = Vec::new();
    // warm-up
    for _ in 0..20 {
        let u = &s.users[rng2.gen_range(0..s.users.len())];
        let _ = client
            .get(format!(
                "{addr}/audit/v1/Users/{u}?at={}",
                s.end.format("%Y-%m-%dT%H:%M:%S%.6fZ")
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await;
    }
    for _ in 0..o.samples {
        let u = &s.users[rng2.gen_range(0..s.users.len())];
        // users exist from early in the window; pick T after creation half of the time
        let t = at();
        let started = Instant::now();
        let res = client
            .get(format!("{addr}/audit/v1/Users/{u}?at={t}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let _ = res.bytes().await.unwrap();
        user_times.push(started.elapsed());
        assert!(status == 200 || status == 404, "status {status}");

        let t = at_big();
        let started = Instant::now();
        let res = client
            .get(format!(
                "{addr}/audit/v1/Groups/{}/members?at={t}&limit=1000",
                s.big_group
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        member_times.push(started.elapsed());
        assert_eq!(status, 200, "members at {t}: {body}");
        member_counts.push(body["items"].as_array().map(Vec::len).unwrap_or(0));
    }
    let (u50, u99, umax) = stats(user_times);
    let (m50, m99, mmax) = stats(member_times);
    let avg_members =
        member_counts.iter().sum::<usize>() as f64 / member_counts.len().max(1) as f64;
    let (events, versions) = state.store.read(store::audit::sizes).unwrap();
    println!(
        "backend {:?}: {} users, {} groups, {events} events, {versions} versions (seeded in {:.0?})",
        o.backend, o.users, o.groups, seed_time
    );
    println!("| query | samples | median ms | p99 ms | max ms |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| `Users/{{id}}?at=T` | {} | {u50:.2} | {u99:.2} | {umax:.2} |",
        o.samples
    );
    println!(
        "| `Groups/{{id}}/members?at=T&limit=1000` (avg {avg_members:.0} members) | {} | {m50:.2} | {m99:.2} | {mmax:.2} |",
        o.samples
    );
    drop(state);
    drop(db);
}
