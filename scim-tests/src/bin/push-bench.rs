//! Push benchmark: how fast Roster pushes users to a downstream Roster, and how long a change
//! takes to become visible downstream under a steady HRMS write load.
//!
//! ```sh
//! cargo build --release -p roster-server -p scim-tests
//! ./target/release/push-bench sqlite            # upstream on SQLite
//! ROSTER_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres ./target/release/push-bench postgres
//! ```
//!
//! Options after the backend: `--users N` (10000), `--rate N` changes/s (50), `--seconds N`
//! (30). Both servers are the release `roster` binary (upstream pinned to CPU 0, downstream to
//! CPU 1 with `taskset` when it exists), default settings except a fast poll; a proxy in this
//! process sits in front of the downstream and timestamps every delivery.
//!
//! Phases: (A) full sync of N existing users to a new target; (B) N users created through
//! `/Bulk` while the target is live (event path); (C) `--rate` PATCHes per second for
//! `--seconds`, each timed from the upstream's 200 to the downstream's 2xx for that change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../bench/body.rs"]
mod body;
#[allow(dead_code)]
#[path = "../bench/proc.rs"]
mod proc;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scim_tests::process::RosterProcess;
use scim_tests::proxy::FaultProxy;
use scim_tests::{Backend, TestDb};
use serde_json::{json, Value};

async fn start(url: &str, cpu: &str, push: bool) -> RosterProcess {
    let roster = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .join("roster");
    assert!(
        roster.exists(),
        "build it first: cargo build --release -p roster-server"
    );
    let env = [
        ("ROSTER_PUSH_ENABLED", if push { "true" } else { "false" }),
        ("ROSTER_PUSH_POLL_MS", "200"),
        ("ROSTER_LOG", "warn"),
    ];
    RosterProcess::start(&roster, url, &env, Some(cpu)).await
}

fn token(url: &str, scopes: &[&str]) -> String {
    scim_tests::process::issue_token(url, scopes)
}

async fn bulk_users(c: &reqwest::Client, addr: &str, token: &str, from: usize, n: usize) {
    let mut i = from;
    while i < from + n {
        let end = (i + 1000).min(from + n);
        let ops: Vec<Value> = (i..end)
            .map(|k| {
                json!({"method": "POST", "path": "/Users", "bulkId": format!("b{k}"),
                "data": body::user(&format!("pb{k:07}@corp.example"), k as u64, None)})
            })
            .collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
        let r = c
            .post(format!("{addr}/scim/v2/Bulk"))
            .bearer_auth(token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        i = end;
    }
}

async fn count(c: &reqwest::Client, addr: &str, token: &str) -> u64 {
    let v: Value = c
        .get(format!("{addr}/scim/v2/Users?count=0"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["totalResults"].as_u64().unwrap_or(0)
}

fn cpu(s: &RosterProcess) -> f64 {
    proc::sample(s.child.id()).map(|x| x.cpu_s).unwrap_or(0.0)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let backend = match args.next().as_deref() {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let (mut users, mut rate, mut seconds) = (10_000usize, 50u64, 30u64);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--users" => users = v.parse().unwrap(),
            "--rate" => rate = v.parse().unwrap(),
            "--seconds" => seconds = v.parse().unwrap(),
            other => panic!("unknown option {other}"),
        }
    }
    let up_db = TestDb::create(backend).expect("backend configured (ROSTER_TEST_POSTGRES_URL)");
    let down_db = TestDb::create(Backend::Sqlite).unwrap();
    let (up_url, down_url) = (up_db.url(), down_db.url());
    let up_token = token(&up_url, &["admin", "scim.read", "scim.write"]);
    let down_token = token(&down_url, &["scim.read", "scim.write"]);
    let down = start(&down_url, "1", false).await;
    let up = start(&up_url, "0", true).await;
    let proxy = FaultProxy::start(&down.addr).await;
    let c = reqwest::Client::new();
    println!("push-bench: upstream {backend:?}, downstream Roster on SQLite, {users} users");

    // (A) full sync
    bulk_users(&c, &up.addr, &up_token, 0, users).await;
    let (cu0, cd0) = (cpu(&up), cpu(&down));
    let t0 = Instant::now();
    let body = json!({"name": "bench", "baseUrl": format!("{}/scim/v2", proxy.addr),
        "auth": {"type": "bearer", "token": down_token}, "scope": {"type": "all"}});
    let r = c
        .post(format!("{}/admin/v1/targets", up.addr))
        .bearer_auth(&up_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let tid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    while count(&c, &down.addr, &down_token).await < users as u64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "full sync too slow"
        );
    }
    let a = t0.elapsed().as_secs_f64();
    let (cu1, cd1) = (cpu(&up), cpu(&down));
    println!(
        "A full sync: {users} users in {a:.2} s = {:.0} users/s; CPU upstream {:.2} s, downstream {:.2} s",
        users as f64 / a,
        cu1 - cu0,
        cd1 - cd0
    );
    // wait for the cursor to settle
    loop {
        let s: Value = c
            .get(format!("{}/admin/v1/targets/{tid}/status", up.addr))
            .bearer_auth(&up_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if s["lagEvents"] == 0 && s["fullSync"].is_null() && s["retrying"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // (B) event path: users created while the target is live
    let t0 = Instant::now();
    bulk_users(&c, &up.addr, &up_token, users, users).await;
    let written = t0.elapsed().as_secs_f64();
    while count(&c, &down.addr, &down_token).await < 2 * users as u64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "event path too slow"
        );
    }
    let b = t0.elapsed().as_secs_f64();
    let (cu2, cd2) = (cpu(&up), cpu(&down));
    println!(
        "B event path: {users} users written in {written:.2} s, all visible downstream after {b:.2} s = {:.0} users/s end to end; CPU upstream {:.2} s, downstream {:.2} s",
        users as f64 / b,
        cu2 - cu1,
        cd2 - cd1
    );

    // (C) latency under steady writes
    let seen: Arc<Mutex<HashMap<u64, Instant>>> = Default::default();
    let s2 = seen.clone();
    proxy.observe(Arc::new(move |method, _path, body, status| {
        if (method == "PATCH" || method == "PUT") && (200..300).contains(&status) {
            let text = String::from_utf8_lossy(body);
            if let Some(i) = text.find("lat-") {
                let n: String = text[i + 4..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                if let Ok(k) = n.parse::<u64>() {
                    s2.lock().unwrap().entry(k).or_insert_with(Instant::now);
                }
            }
        }
    }));
    let ids: Vec<String> = {
        let v: Value = c
            .get(format!(
                "{}/scim/v2/Users?count=1000&attributes=id",
                up.addr
            ))
            .bearer_auth(&up_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let total = rate * seconds;
    let mut written: HashMap<u64, Instant> = HashMap::new();
    let start_c = Instant::now();
    let (cu3, cd3) = (cpu(&up), cpu(&down));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for k in 0..total {
        tick.tick().await;
        let id = &ids[(k as usize) % ids.len()];
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": format!("lat-{k}")}]});
        let r = c
            .patch(format!("{}/scim/v2/Users/{id}", up.addr))
            .bearer_auth(&up_token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        written.insert(k, Instant::now());
    }
    let drive = start_c.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(30);
    // a later change to the same user supersedes an earlier one (coalescing): wait for the
    // last change of each user
    let last_per_user: Vec<u64> = {
        let mut m: HashMap<usize, u64> = HashMap::new();
        for k in 0..total {
            m.insert((k as usize) % ids.len(), k);
        }
        m.into_values().collect()
    };
    while Instant::now() < deadline {
        let done = {
            let s = seen.lock().unwrap();
            last_per_user.iter().all(|k| s.contains_key(k))
        };
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (cu4, cd4) = (cpu(&up), cpu(&down));
    let s = seen.lock().unwrap();
    let mut lat: Vec<f64> = written
        .iter()
        .filter_map(|(k, w)| {
            s.get(k)
                .map(|v| v.saturating_duration_since(*w).as_secs_f64() * 1000.0)
        })
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let missing = last_per_user.iter().filter(|k| !s.contains_key(k)).count();
    println!(
        "C latency: {total} changes at {rate}/s over {drive:.1} s: delivered {} (coalesced {}), missing {missing}; write-to-visible p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; CPU upstream {:.2} s, downstream {:.2} s",
        lat.len(),
        total as usize - lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        cu4 - cu3,
        cd4 - cd3
    );
    drop(up);
    drop(down);
}
