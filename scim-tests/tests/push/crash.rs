//! Crash safety and replicas, with the real `roster` binary: `kill -9` in the middle of pushing
//! 5,000 users, then converge with exactly one account per user and not one duplicate POST
//! (counted at a proxy). On SQLite the same process restarts; on PostgreSQL two replicas share
//! the database, the one holding the lease is killed, and the other takes over when the lease
//! expires.

use std::time::Duration;

use diesel::prelude::*;
use reqwest::Method;
use scim_tests::process::RosterProcess;
use scim_tests::proxy::FaultProxy;
use scim_tests::push::{target_body, wait_for, Downstream};
use scim_tests::{roster_bin, Backend, TestDb};
use serde_json::{json, Value};

const USERS: usize = 5_000;

async fn start(url: &str) -> RosterProcess {
    let env = [
        // long enough that a renewal (every third of it) is not missed when the suite's other
        // processes starve this one of CPU: a missed renewal is a legitimate extra hand-over
        // (fenced, no duplicate), but it would defeat the "one hand-over" check below
        ("ROSTER_PUSH_LEASE_SECS", "6"),
        ("ROSTER_PUSH_TIMEOUT_MS", "1000"),
        ("ROSTER_PUSH_POLL_MS", "100"),
        ("ROSTER_PUSH_BATCH", "200"),
        ("ROSTER_SQLITE_SYNCHRONOUS", "normal"),
        ("RUST_LOG", "warn"),
    ];
    RosterProcess::start(&roster_bin(), url, &env, None).await
}

fn employee(i: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": format!("emp{i:05}"),
        "externalId": format!("hr-{i}"),
        "name": {"givenName": "Emp", "familyName": format!("N{i}")},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": format!("D{}", i % 7)},
        "active": true
    })
}

async fn seed(client: &reqwest::Client, addr: &str, token: &str) {
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(500) {
        let ops: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": employee(*i)}))
            .collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
        let res = client
            .post(format!("{addr}/scim/v2/Bulk"))
            .bearer_auth(token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}

async fn status(client: &reqwest::Client, addr: &str, admin: &str, id: &str) -> Option<Value> {
    let r = client
        .get(format!("{addr}/admin/v1/targets/{id}/status"))
        .bearer_auth(admin)
        .send()
        .await
        .ok()?;
    r.json().await.ok()
}

fn token(url: &str, scopes: &[&str]) -> String {
    scim_tests::process::issue_token(url, scopes)
}

async fn kill_mid_push_then_converge(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        eprintln!(
            "skipped: set {} to run PostgreSQL cases",
            scim_tests::POSTGRES_ENV
        );
        return;
    };
    let url = db.url();
    let down = Downstream::start().await;
    let proxy = FaultProxy::start(&down.app.addr).await;
    let client = reqwest::Client::new();
    let mut procs = vec![start(&url).await];
    if backend == Backend::Postgres {
        procs.push(start(&url).await); // a second replica on the same database
    }
    let admin = token(&url, &["admin", "scim.read", "scim.write"]);
    seed(&client, &procs[0].addr, &admin).await;
    let body = target_body("crm", &format!("{}/scim/v2", proxy.addr), &down.token);
    let res = client
        .request(Method::POST, format!("{}/admin/v1/targets", procs[0].addr))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // mid-push: kill -9 the process that holds the lease
    wait_for(
        Duration::from_secs(120),
        "1,000 accounts pushed",
        || async { (proxy.count_status("POST", "/scim/v2/Users", 201) >= 1000).then_some(()) },
    )
    .await;
    let s = status(&client, &procs[0].addr, &admin, &id).await.unwrap();
    let owner = s["lease"]["owner"].as_str().unwrap_or_default().to_string();
    let victim = procs
        .iter()
        .position(|p| owner.starts_with(&format!("{}-", p.child.id())))
        .unwrap_or(0);
    let mut dead = procs.remove(victim);
    dead.child.kill().unwrap(); // SIGKILL
    dead.child.wait().unwrap();
    let pushed_before = proxy.count_status("POST", "/scim/v2/Users", 201);
    assert!(
        pushed_before < USERS,
        "killed in the middle ({pushed_before})"
    );
    if procs.is_empty() {
        procs.push(start(&url).await); // SQLite: the same server restarts
    }
    let live = procs[0].addr.clone();
    wait_for(
        Duration::from_secs(240),
        "convergence after the crash",
        || async {
            let s = status(&client, &live, &admin, &id).await?;
            (s["fullSync"].is_null()
                && s["lagEvents"] == 0
                && s["retrying"] == 0
                && down_count(&down).await == USERS as u64)
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        down.count().await,
        USERS as u64,
        "exactly one account per user"
    );
    assert_eq!(
        proxy.count_status("POST", "/scim/v2/Users", 201),
        USERS,
        "not one duplicate create"
    );
    assert_eq!(proxy.count_status("POST", "/scim/v2/Users", 409), 0);
    for i in [0, 1234, 2500, 4999] {
        let u = down.user(&format!("emp{i:05}")).await.unwrap();
        assert_eq!(u["externalId"], format!("hr-{i}"));
        assert_eq!(
            u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            format!("D{}", i % 7)
        );
    }
    // the call log never interleaves two owners: one hands over to the next, once
    use store::schema::push_log::dsl as pl;
    let mut raw = db.raw();
    let owners: Vec<String> = pl::push_log
        .order(pl::id.asc())
        .select(pl::owner)
        .load(&mut raw)
        .unwrap();
    let switches = owners.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches <= 1, "owners interleave: {switches} switches");
    drop(procs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_9_mid_push_then_restart_converges() {
    kill_mid_push_then_converge(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_replicas_one_killed_mid_push_the_other_converges() {
    kill_mid_push_then_converge(Backend::Postgres).await;
}

async fn down_count(down: &Downstream) -> u64 {
    down.count().await
}
