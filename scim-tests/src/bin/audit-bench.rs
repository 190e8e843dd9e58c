//! Audit query benchmark: seeds a realistic history (users, groups, a big group with churn, and
//! user replaces until the log holds `--events` events), starts Roster on it, and measures the
//! two point-in-time queries of issue 5 over HTTP, with the database part timed separately.
//!
//! ```sh
//! cargo build --release -p scim-tests --bin audit-bench
//! ./target/release/audit-bench sqlite
//! ROSTER_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   ./target/release/audit-bench postgres
//! ./target/release/audit-bench measure sqlite:///tmp/audit-bench-….db   # a kept data set
//! ```
//!
//! Options: `--users N` (100000), `--groups N` (1000), `--big N` (members of the big group,
//! 1000), `--events N` (1000000, total), `--samples N` (300 per run), `--runs N` (1),
//! `--seed bulk|store` (bulk), `--keep` (leave the database and print its URL, for `measure`
//! and `roster audit verify`). A new database is an SQLite file in the temp folder or a
//! PostgreSQL database `audit_bench_…`, dropped at the end unless `--keep`.
//!
//! How the data set is made (`--seed bulk`, see docs/BENCHMARKS.md):
//! 1. through the store's own write functions (`store::users::create`,
//!    `store::groups::create`), in transactions of 5,000 changes: the users, the big group and
//!    the other groups;
//! 2. user replaces cycling over all users, every tenth transaction also swapping 20 members of
//!    the big group (`store::groups::replace`). All but the last replace of each user are
//!    bulk-inserted: per transaction of 5,000 replaces, the bench writes exactly the rows
//!    `store::users::replace` would (one `replace` event per user with `before`/`after`, hashed
//!    with `store::events::compute_hash` onto the chain head; the previous version closed and
//!    the new one opened in `resource_versions`), as multi-row INSERTs, and moves the head;
//! 3. the users rows are brought to their last bulk version (and PostgreSQL vacuumed, as
//!    autovacuum would have been over such a history), then the last replace of every user goes
//!    through `store::users::replace` again, so the `users` table (projections, index copy) is
//!    what the write path makes and the write path is shown to continue the chain;
//! 4. the chain is verified (`store::events::verify`, what `roster audit verify` runs) and the
//!    users rows are checked against their open versions; PostgreSQL gets `VACUUM ANALYZE`.
//!
//! `--seed store` does everything through the store's write functions (the old way: about
//! 35 minutes for 1M events on PostgreSQL).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use rand::Rng;
use scim_tests::Backend;
use serde_json::{json, Value};
use server::config::ServeArgs;
use server::startup::Application;
use store::schema::{event_head, events, groups, resource_versions, users};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Seed {
    Bulk,
    Store,
}

#[derive(Clone)]
struct Opts {
    backend: Option<Backend>,
    existing: Option<String>,
    users: usize,
    groups: usize,
    big: usize,
    events: usize,
    samples: usize,
    runs: usize,
    seed: Seed,
    keep: bool,
}

const USAGE: &str = "usage: audit-bench sqlite|postgres [--users N] [--groups N] [--big N] \
[--events N] [--samples N] [--runs N] [--seed bulk|store] [--keep]\n       audit-bench measure \
DATABASE_URL [--samples N] [--runs N]";

fn opts() -> Opts {
    let mut args = std::env::args().skip(1);
    let mut o = Opts {
        backend: None,
        existing: None,
        users: 100_000,
        groups: 1_000,
        big: 1_000,
        events: 1_000_000,
        samples: 300,
        runs: 1,
        seed: Seed::Bulk,
        keep: false,
    };
    match args.next().as_deref() {
        Some("sqlite") => o.backend = Some(Backend::Sqlite),
        Some("postgres") => o.backend = Some(Backend::Postgres),
        Some("measure") => o.existing = Some(args.next().expect(USAGE)),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
    while let Some(k) = args.next() {
        if k == "--keep" {
            o.keep = true;
            continue;
        }
        let v = args
            .next()
            .unwrap_or_else(|| panic!("{k} needs a value\n{USAGE}"));
        if k == "--seed" {
            o.seed = match v.as_str() {
                "bulk" => Seed::Bulk,
                "store" => Seed::Store,
                other => panic!("--seed bulk|store, not {other}"),
            };
            continue;
        }
        let v: usize = v.parse().expect("a number");
        match k.as_str() {
            "--users" => o.users = v,
            "--groups" => o.groups = v,
            "--big" => o.big = v,
            "--events" => o.events = v,
            "--samples" => o.samples = v,
            "--runs" => o.runs = v.max(1),
            other => panic!("unknown option {other}\n{USAGE}"),
        }
    }
    assert!(o.big <= o.users, "--big must not exceed --users");
    o
}

/// A database made for the benchmark, removed on drop unless kept.
struct BenchDb {
    url: String,
    sqlite: Option<PathBuf>,
    postgres: Option<(String, String)>,
    keep: bool,
}

impl BenchDb {
    fn create(backend: Backend, keep: bool) -> BenchDb {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("audit-bench-{id}.db"));
                BenchDb {
                    url: format!("sqlite://{}", path.display()),
                    sqlite: Some(path),
                    postgres: None,
                    keep,
                }
            }
            Backend::Postgres => {
                let admin = std::env::var(scim_tests::POSTGRES_ENV).unwrap_or_else(|_| {
                    eprintln!("set {} to benchmark PostgreSQL", scim_tests::POSTGRES_ENV);
                    std::process::exit(2);
                });
                let name = format!("audit_bench_{id}");
                let mut c = PgConnection::establish(&admin).expect("PostgreSQL reachable");
                c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
                let (prefix, _) = admin.rsplit_once('/').unwrap();
                BenchDb {
                    url: format!("{prefix}/{name}"),
                    sqlite: None,
                    postgres: Some((admin.clone(), name)),
                    keep,
                }
            }
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept the database: {}", self.url);
            return;
        }
        if let Some(p) = &self.sqlite {
            store::remove_sqlite_files(p);
        }
        if let Some((admin, name)) = &self.postgres {
            if let Ok(mut c) = PgConnection::establish(admin) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
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

/// Changes per write transaction.
const BATCH: usize = 5_000;
/// Rows per multi-row INSERT (SQLite allows 32,766 bound values; events have 13 columns).
const INSERT_ROWS: usize = 2_000;

/// What the measurement needs to know about the data set.
struct Seeded {
    users: Vec<String>,
    big_group: String,
    /// When the big group was created: member lookups are timed at instants after it (an
    /// earlier instant is a cheap 404, which would flatter the median).
    big_created: NaiveDateTime,
    start: NaiveDateTime,
    end: NaiveDateTime,
}

/// An `events` row (`store::events::Event`; `None` is NULL, as binary COPY needs).
#[derive(Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
struct EventRow {
    seq: i64,
    at: NaiveDateTime,
    actor: String,
    actor_id: Option<String>,
    request_id: Option<String>,
    action: String,
    resource_type: String,
    resource_id: String,
    version: i64,
    before: Option<String>,
    after: Option<String>,
    prev_hash: String,
    hash: String,
}

impl From<store::events::Event> for EventRow {
    fn from(e: store::events::Event) -> EventRow {
        EventRow {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            actor_id: e.actor_id,
            request_id: e.request_id,
            action: e.action,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            version: e.version,
            before: e.before,
            after: e.after,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// A `resource_versions` row, as `store::history::open_version` writes it.
#[derive(Insertable)]
#[diesel(table_name = resource_versions, treat_none_as_default_value = false)]
struct NewVersion {
    resource_type: String,
    resource_id: String,
    version: i64,
    doc: String,
    valid_from: NaiveDateTime,
    valid_to: Option<NaiveDateTime>,
    event_seq: i64,
    name: String,
}

/// The current version of every user, as the bench wrote it.
struct UserState {
    version: Vec<i64>,
    text: Vec<String>,
    modified: Vec<NaiveDateTime>,
}

/// Inserts `rows` into `table`: multi-row INSERTs on SQLite (in-process, so statements are
/// cheap), binary `COPY … FROM STDIN` on PostgreSQL (one round trip for the lot). diesel's
/// `MultiConnection` has no batch insert, hence the match on the backend.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            store::DbConn::Sqlite(c) => {
                for chunk in $rows.chunks(INSERT_ROWS) {
                    diesel::insert_into($table).values(chunk).execute(c)?;
                }
            }
            store::DbConn::Postgres(c) => {
                diesel::copy_from($table)
                    .from_insertable($rows)
                    .execute(c)?;
            }
        }
    };
}

/// Closes the open version `(id, version)` of each user at `now`, as
/// `store::history::close_version` does (one row per user, by primary key). PostgreSQL gets one
/// statement for the lot (`UPDATE … FROM unnest(…)`), SQLite one cheap in-process statement per
/// row. (Closing by `valid_to IS NULL` through the point-in-time index, as the write path does,
/// also visits every dead index entry of the user's earlier versions until a vacuum; per row that
/// is nothing, for 5,000 rows per transaction it was most of the seeding time on PostgreSQL.)
fn close_versions(
    conn: &mut store::DbConn,
    now: NaiveDateTime,
    open: &[(String, i64)],
) -> store::Result<()> {
    match conn {
        store::DbConn::Sqlite(c) => {
            for (id, version) in open {
                diesel::update(resource_versions::table.find(("User", id, version)))
                    .set(resource_versions::valid_to.eq(now))
                    .execute(c)?;
            }
        }
        store::DbConn::Postgres(c) => {
            use diesel::sql_types::{Array, BigInt, Text, Timestamp};
            let (ids, versions): (Vec<&str>, Vec<i64>) =
                open.iter().map(|(id, v)| (id.as_str(), *v)).unzip();
            diesel::sql_query(
                "UPDATE resource_versions v SET valid_to = $1 \
                   FROM unnest($2::text[], $3::bigint[]) AS o(id, version) \
                  WHERE v.resource_type = 'User' AND v.resource_id = o.id \
                    AND v.version = o.version",
            )
            .bind::<Timestamp, _>(now)
            .bind::<Array<Text>, _>(ids)
            .bind::<Array<BigInt>, _>(versions)
            .execute(c)?;
        }
    }
    Ok(())
}

/// Writes, in the open write transaction `tx`, the rows `store::users::replace` would write for
/// each `(user index, new document)` except the `users` row: a `replace` event chained onto
/// the head, the open version closed and the new one opened. Moves the head.
fn bulk_replaces(
    tx: &mut store::Tx<'_>,
    ids: &[String],
    state: &mut UserState,
    batch: Vec<(usize, Value)>,
) -> store::Result<()> {
    let now = tx.now();
    let ctx = tx.ctx().clone();
    let (mut seq, mut hash): (i64, String) = event_head::table
        .find(1)
        .select((event_head::seq, event_head::hash))
        .first(tx.conn)?;
    let mut evs = Vec::with_capacity(batch.len());
    let mut vers = Vec::with_capacity(batch.len());
    let mut touched = Vec::with_capacity(batch.len());
    for (i, doc) in batch {
        let text = doc.to_string();
        let version = state.version[i] + 1;
        seq += 1;
        let mut e = store::events::Event {
            seq,
            at: now,
            actor: ctx.actor.clone(),
            actor_id: ctx.actor_id.clone(),
            request_id: ctx.request_id.clone(),
            action: "replace".into(),
            resource_type: "User".into(),
            resource_id: ids[i].clone(),
            version,
            before: Some(std::mem::take(&mut state.text[i])),
            after: Some(text.clone()),
            prev_hash: hash,
            hash: String::new(),
        };
        e.hash = store::events::compute_hash(&e);
        hash = e.hash.clone();
        vers.push(NewVersion {
            resource_type: "User".into(),
            resource_id: ids[i].clone(),
            version,
            doc: text.clone(),
            valid_from: now,
            valid_to: None,
            event_seq: seq,
            name: store::resource::ResourceType::User.name_of(&doc),
        });
        evs.push(EventRow::from(e));
        touched.push((ids[i].clone(), version - 1));
        state.version[i] = version;
        state.text[i] = text;
        state.modified[i] = now;
    }
    close_versions(tx.conn, now, &touched)?;
    insert_rows!(tx.conn, events::table, evs);
    insert_rows!(tx.conn, resource_versions::table, vers);
    diesel::update(event_head::table.find(1))
        .set((event_head::seq.eq(seq), event_head::hash.eq(&hash)))
        .execute(tx.conn)?;
    Ok(())
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
    eprintln!("{} users in {:.1?} (store)", users.len(), t0.elapsed());
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
    eprintln!("{} groups in {:.1?} (store)", groups.len(), t0.elapsed());

    // History: user replaces (title changes, about 1% deactivations undone by the next change)
    // cycling over all users and, every tenth transaction, 20 members of the big group swapped,
    // until the log holds `events` events. With --seed bulk all but the last replace of each
    // user are bulk-inserted; the last cycle (one replace per user) goes through the store.
    let t0 = Instant::now();
    let (mut count, _) = store.read(store::audit::sizes).unwrap();
    let created_events = count;
    let mut state = UserState {
        version: vec![1; users.len()],
        text: (0..users.len())
            .map(|i| user_doc(i, 0, true).to_string())
            .collect(),
        modified: vec![start; users.len()],
    };
    let batch_size = BATCH.min(users.len());
    let mut pos = 0usize; // the next user (mod users.len())
    let mut rev = 1usize; // transaction number, also the documents' revision
    let mut churn = 0usize;
    let mut big_now = big_members.clone();
    let mut bulk_events = 0usize;
    let mut tail: Option<usize> = None; // replaces still to make through the store
    let mut synced = o.seed == Seed::Store;
    loop {
        let remaining = o.events.saturating_sub(count as usize);
        let bulk = o.seed == Seed::Bulk && tail.is_none() && remaining > users.len();
        let n = match (bulk, tail) {
            (true, _) => (remaining - users.len()).min(batch_size),
            (false, Some(left)) => left.min(batch_size),
            (false, None) if o.seed == Seed::Bulk => {
                // start the last cycle: every user once, through the store
                tail = Some(users.len());
                continue;
            }
            (false, None) => remaining.min(batch_size),
        };
        if n == 0 {
            break;
        }
        if !bulk && !synced {
            sync_users(store, &users, &state);
            vacuum(store, "VACUUM ANALYZE");
            synced = true;
        }
        let batch: Vec<(usize, Value)> = (0..n)
            .map(|k| {
                let i = (pos + k) % users.len();
                (i, user_doc(i, rev, k % 97 != 0))
            })
            .collect();
        pos += n;
        if bulk {
            store
                .write(&ctx, |tx| bulk_replaces(tx, &users, &mut state, batch))
                .unwrap();
            bulk_events += n;
        } else {
            store
                .write(&ctx, |tx| {
                    for (i, doc) in batch {
                        let r = store::users::replace(tx, &users[i], doc, None)?;
                        state.version[i] = r.version;
                    }
                    Ok(())
                })
                .unwrap();
            if let Some(left) = tail.as_mut() {
                *left -= n;
            }
        }
        count += n as i64;
        if rev % 10 == 0 {
            // swap 20 members of the big group for others, through the store
            for _ in 0..20 {
                let out = rng.gen_range(0..big_now.len());
                big_now[out] = users[rng.gen_range(0..users.len())].clone();
            }
            big_now.sort();
            big_now.dedup();
            store
                .write(&ctx, |tx| {
                    store::groups::replace(tx, &big_group, group_doc("big-group", &big_now), None)
                        .map(|_| ())
                })
                .unwrap();
            churn += 1;
            count += 1;
        }
        rev += 1;
        if rev % 20 == 0 {
            eprintln!("  {count} events after {:.1?}", t0.elapsed());
        }
        if tail == Some(0) {
            break;
        }
    }
    let (events, versions) = store.read(store::audit::sizes).unwrap();
    eprintln!(
        "history: {} replaces ({bulk_events} bulk-inserted, {} through the store), {churn} \
         big-group changes in {:.1?}; {events} events, {versions} versions",
        events - created_events - churn as i64,
        events as usize - created_events as usize - churn - bulk_events,
        t0.elapsed()
    );
    check(store);
    // PostgreSQL: fresh statistics and visibility map (index-only scans) before measuring, as
    // autovacuum would give a production database after a while; SQLite is left as Roster
    // runs it (no sqlite_stat tables)
    vacuum(store, "VACUUM ANALYZE");
    Seeded {
        users,
        big_group,
        big_created,
        start,
        end: store::write::now(),
    }
}

/// PostgreSQL only: what autovacuum would have done over the months such a history takes
/// (dead row versions of the closed spans removed, statistics, the visibility map for
/// index-only scans); the seeding compresses that history into minutes. SQLite needs none.
fn vacuum(store: &store::Store, sql: &str) {
    if store.backend() != store::Backend::Postgres {
        return;
    }
    let t0 = Instant::now();
    store
        .read(|c| {
            c.batch_execute(sql)?;
            Ok(())
        })
        .unwrap();
    eprintln!("  {sql} in {:.1?}", t0.elapsed());
}

/// Brings every user row the bulk phase moved on to its last version (document, version,
/// modified), so that the next `store::users::replace` reads it as its current version; the
/// projections are rewritten by that replace.
fn sync_users(store: &store::Store, ids: &[String], state: &UserState) {
    let t0 = Instant::now();
    let todo: Vec<usize> = (0..ids.len()).filter(|&i| state.version[i] > 1).collect();
    for chunk in todo.chunks(BATCH) {
        store
            .admin(|c| {
                for &i in chunk {
                    diesel::update(users::table.find(&ids[i]))
                        .set((
                            users::version.eq(state.version[i]),
                            users::doc.eq(&state.text[i]),
                            users::modified.eq(state.modified[i]),
                        ))
                        .execute(c)?;
                }
                Ok(())
            })
            .unwrap();
    }
    eprintln!(
        "  {} users rows moved to their last bulk version in {:.1?}",
        todo.len(),
        t0.elapsed()
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The chain verifies (what `roster audit verify` runs) and every user row is its open version.
fn check(store: &store::Store) {
    let t0 = Instant::now();
    let verdict = store.read(store::events::verify).unwrap();
    let head = store.read(store::events::head).unwrap();
    match verdict {
        store::events::Verdict::Ok { checked } => eprintln!(
            "verify: checked {checked} events: ok (head {}:{}) in {:.1?}",
            head.0,
            head.1,
            t0.elapsed()
        ),
        broken => panic!("the seeded chain does not verify: {broken:?}"),
    }
    let bad: Count = store
        .read(|c| {
            Ok(diesel::sql_query(
                "SELECT COUNT(*) AS n FROM users u LEFT JOIN resource_versions v \
                   ON v.resource_type = 'User' AND v.resource_id = u.id AND v.valid_to IS NULL \
                 WHERE v.version IS NULL OR v.version <> u.version OR v.doc <> u.doc \
                    OR v.valid_from <> u.modified",
            )
            .get_result(c)?)
        })
        .unwrap();
    assert_eq!(bad.n, 0, "users rows that are not their open version");
    let open: Count = store
        .read(|c| {
            Ok(diesel::sql_query(
                "SELECT COUNT(*) AS n FROM resource_versions WHERE valid_to IS NULL",
            )
            .get_result(c)?)
        })
        .unwrap();
    let resources: i64 = store
        .read(|c| {
            let u: i64 = users::table.count().get_result(c)?;
            let g: i64 = groups::table.count().get_result(c)?;
            Ok(u + g)
        })
        .unwrap();
    assert_eq!(open.n, resources, "one open version per user and group");
    eprintln!(
        "consistency: every users row is its open version, one open version per resource ({} open versions)",
        open.n
    );
}

/// The data set of an existing database made by this tool (`--keep`).
fn describe(store: &store::Store) -> Seeded {
    store
        .read(|c| {
            let users: Vec<String> = users::table.select(users::id).load(c)?;
            let (big_group, big_created): (String, NaiveDateTime) = groups::table
                .filter(groups::display_name_norm.eq("big-group"))
                .select((groups::id, groups::created))
                .first(c)?;
            let start: Option<NaiveDateTime> = events::table
                .select(diesel::dsl::min(events::at))
                .first(c)?;
            let end: Option<NaiveDateTime> = events::table
                .select(diesel::dsl::max(events::at))
                .first(c)?;
            Ok(Seeded {
                users,
                big_group,
                big_created,
                start: start.unwrap_or(big_created),
                end: end.unwrap_or(big_created),
            })
        })
        .unwrap()
}

/// Median, p90, p99 and maximum in milliseconds.
fn stats(v: &[Duration]) -> [f64; 4] {
    let mut v = v.to_vec();
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| ms(v[((v.len() as f64 - 1.0) * q).round() as usize]);
    [p(0.5), p(0.9), p(0.99), ms(v[v.len() - 1])]
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn fmt_ts(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// One query's samples over all runs.
#[derive(Default)]
struct Series {
    http: Vec<Duration>,
    db: Vec<Duration>,
    run_medians: Vec<f64>,
    db_run_medians: Vec<f64>,
    bytes: usize,
    items: usize,
}

impl Series {
    fn row(&self, name: &str, samples: usize) -> String {
        let [m, p90, p99, max] = stats(&self.http);
        let [dm, ..] = stats(&self.db);
        let runs: Vec<String> = self.run_medians.iter().map(|m| format!("{m:.2}")).collect();
        format!(
            "| {name} | {} × {samples} | **{:.2}** ({}) | {m:.2} | {p90:.2} | {p99:.2} | {max:.2} | {:.2} ({dm:.2}) | {} |",
            self.run_medians.len(),
            median(&self.run_medians),
            runs.join(", "),
            median(&self.db_run_medians),
            self.bytes / self.http.len().max(1),
        )
    }
}

#[tokio::main]
async fn main() {
    let o = opts();
    let db = o.backend.map(|b| BenchDb::create(b, o.keep));
    let url = match (&db, &o.existing) {
        (Some(db), _) => db.url.clone(),
        (None, Some(url)) => url.clone(),
        (None, None) => unreachable!(),
    };
    let args = ServeArgs::for_database(&url);
    let t0 = Instant::now();
    let s = if o.existing.is_some() {
        None
    } else {
        let store = store::Store::open(&url, &args.db.pool_options()).unwrap();
        let s = tokio::task::spawn_blocking({
            let o = o.clone();
            move || seed(&store, &o)
        })
        .await
        .unwrap();
        Some(s)
    };
    let seed_time = t0.elapsed();

    let t0 = Instant::now();
    let app = Application::build(&args).unwrap();
    eprintln!("server ready (migrations included) in {:.1?}", t0.elapsed());
    let addr = format!("http://{}", app.addr());
    let state = app.state().clone();
    let s = match s {
        Some(s) => s,
        None => {
            let store = state.store.clone();
            tokio::task::spawn_blocking(move || describe(&store))
                .await
                .unwrap()
        }
    };
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
    let mut rng = rand::thread_rng();
    let span = (s.end - s.start).num_microseconds().unwrap().max(1);
    let big_span = (s.end - s.big_created).num_microseconds().unwrap().max(1);
    // warm-up: both queries
    for _ in 0..20 {
        let u = &s.users[rng.gen_range(0..s.users.len())];
        for url in [
            format!("{addr}/audit/v1/Users/{u}?at={}", fmt_ts(s.end)),
            format!(
                "{addr}/audit/v1/Groups/{}/members?at={}&limit=1000",
                s.big_group,
                fmt_ts(s.end)
            ),
        ] {
            let _ = client
                .get(url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .bytes()
                .await;
        }
    }
    let mut user_series = Series::default();
    let mut member_series = Series::default();
    let mut user_found = 0usize;
    for run in 0..o.runs {
        let (mut uh, mut ud, mut mh, mut md) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..o.samples {
            // a user at a random instant of the seeded history (before its creation: a 404)
            let u = s.users[rng.gen_range(0..s.users.len())].clone();
            let at = s.start + chrono::TimeDelta::microseconds(rng.gen_range(0..span));
            let started = Instant::now();
            let res = client
                .get(format!("{addr}/audit/v1/Users/{u}?at={}", fmt_ts(at)))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body = res.bytes().await.unwrap();
            uh.push(started.elapsed());
            assert!(status == 200 || status == 404, "status {status}");
            user_found += usize::from(status == 200);
            user_series.bytes += body.len();
            // the database part of that request: the store calls the handler makes
            let store = state.store.clone();
            ud.push(
                tokio::task::spawn_blocking(move || {
                    let started = Instant::now();
                    store
                        .read(|c| {
                            store::events::anchor(c)?;
                            let found = store::audit::resource_at(
                                c,
                                store::resource::ResourceType::User,
                                &u,
                                at,
                            )?;
                            if matches!(found, store::audit::AtLookup::Found(_)) {
                                let paths = store::audit::groups_of_member(
                                    c,
                                    &u,
                                    Some(at),
                                    at + chrono::TimeDelta::microseconds(1),
                                )?;
                                let ids: Vec<String> =
                                    store::audit::by_group(paths).into_keys().collect();
                                store::audit::names_at(c, &ids, at)?;
                            }
                            Ok(())
                        })
                        .unwrap();
                    started.elapsed()
                })
                .await
                .unwrap(),
            );

            // all members of the big group at a random instant after its creation
            let at = s.big_created + chrono::TimeDelta::microseconds(rng.gen_range(0..big_span));
            let started = Instant::now();
            let res = client
                .get(format!(
                    "{addr}/audit/v1/Groups/{}/members?at={}&limit=1000",
                    s.big_group,
                    fmt_ts(at)
                ))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body = res.bytes().await.unwrap();
            mh.push(started.elapsed());
            let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!(status, 200, "members at {}: {parsed}", fmt_ts(at));
            let items = parsed["items"].as_array().map(Vec::len).unwrap_or(0);
            assert!(
                items > 0 && parsed["items"][0]["display"].is_string(),
                "{parsed}"
            );
            member_series.items += items;
            member_series.bytes += body.len();
            let store = state.store.clone();
            let big = s.big_group.clone();
            md.push(
                tokio::task::spawn_blocking(move || {
                    let started = Instant::now();
                    store
                        .read(|c| {
                            store::events::anchor(c)?;
                            store::audit::resource_at(
                                c,
                                store::resource::ResourceType::Group,
                                &big,
                                at,
                            )?;
                            store::audit::members_at_named(c, &big, at, "", 1000)?;
                            Ok(())
                        })
                        .unwrap();
                    started.elapsed()
                })
                .await
                .unwrap(),
            );
        }
        let [um, ..] = stats(&uh);
        let [mm, ..] = stats(&mh);
        let [udm, ..] = stats(&ud);
        let [mdm, ..] = stats(&md);
        eprintln!(
            "run {}: Users/{{id}}?at=T median {um:.2} ms (database {udm:.2}); members?at=T \
             median {mm:.2} ms (database {mdm:.2})",
            run + 1
        );
        user_series.run_medians.push(um);
        user_series.db_run_medians.push(udm);
        member_series.run_medians.push(mm);
        member_series.db_run_medians.push(mdm);
        user_series.http.extend(uh);
        user_series.db.extend(ud);
        member_series.http.extend(mh);
        member_series.db.extend(md);
    }
    let (events, versions) = state.store.read(store::audit::sizes).unwrap();
    let backend = state.store.backend();
    println!(
        "backend {backend}: {} users, {} groups, {events} events, {versions} versions{}",
        s.users.len(),
        state
            .store
            .read(|c| Ok(groups::table.count().get_result::<i64>(c)?))
            .unwrap(),
        if o.existing.is_some() {
            " (existing database)".to_string()
        } else {
            format!(" (seeded with --seed {:?} in {seed_time:.0?})", o.seed).to_lowercase()
        }
    );
    println!(
        "| query | runs × samples | median ms (per run) | all: median | p90 | p99 | max | database median ms (all) | bytes |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "{}",
        user_series.row(
            &format!(
                "`Users/{{id}}?at=T` ({:.0}% found)",
                100.0 * user_found as f64 / user_series.http.len() as f64
            ),
            o.samples
        )
    );
    println!(
        "{}",
        member_series.row(
            &format!(
                "`Groups/{{id}}/members?at=T&limit=1000` (avg {:.0} members)",
                member_series.items as f64 / member_series.http.len() as f64
            ),
            o.samples
        )
    );
    drop(state);
    drop(db);
}
