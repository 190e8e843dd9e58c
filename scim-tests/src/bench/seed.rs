//! Seeding: N users (through `/Bulk` when the server advertises it, else parallel POSTs),
//! G small groups and the big group. Only standard SCIM endpoints are used.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use hyper::body::Bytes;
use hyper::Method;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};

use super::body;
use super::http::{Client, Kind, Target};

#[derive(Clone, Debug)]
pub struct UserRef {
    pub id: String,
    pub user_name: String,
}

/// What the measured classes work on.
#[derive(Debug, Default)]
pub struct Seeded {
    pub run: String,
    pub users: Vec<UserRef>,
    /// Users outside the big group, added to and removed from it by `big_group_patch`.
    pub spare: Vec<UserRef>,
    pub groups: Vec<String>,
    pub big_group: Option<String>,
    pub big_members: usize,
    pub via_bulk: bool,
    pub bulk_size: usize,
    pub users_seconds: f64,
    pub groups_seconds: f64,
    /// Users asked for but not created (seed time cap or errors).
    pub users_missing: usize,
    pub notes: Vec<String>,
}

pub struct SeedOpts {
    pub users: usize,
    pub spare: usize,
    pub groups: usize,
    pub group_size: usize,
    pub big_group: usize,
    pub concurrency: usize,
    pub max_seconds: f64,
    pub allow_bulk: bool,
    pub bulk_size: Option<usize>,
}

/// `Bulk` support as advertised in ServiceProviderConfig.
struct BulkCaps {
    max_operations: usize,
    max_payload: usize,
}

async fn bulk_caps(client: &mut Client) -> Result<Option<BulkCaps>> {
    let r = client
        .send(Method::GET, "/ServiceProviderConfig", None)
        .await?;
    if !r.status.is_success() {
        bail!("GET /ServiceProviderConfig answered {}", r.status);
    }
    let v: Value = serde_json::from_slice(&r.body)?;
    let b = &v["bulk"];
    if b["supported"].as_bool() != Some(true) {
        return Ok(None);
    }
    let max_operations = b["maxOperations"].as_u64().unwrap_or(0) as usize;
    let max_payload = b["maxPayloadSize"].as_u64().unwrap_or(0) as usize;
    if max_operations == 0 || max_payload == 0 {
        return Ok(None);
    }
    Ok(Some(BulkCaps {
        max_operations,
        max_payload,
    }))
}

/// The id at the end of a `Location` (`…/Users/{id}`).
fn id_from_location(loc: &str) -> Option<String> {
    let id = loc.trim_end_matches('/').rsplit('/').next()?;
    (!id.is_empty()).then(|| id.to_string())
}

fn status_code(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        Value::Object(o) => o.get("code").and_then(status_code),
        _ => None,
    }
}

/// Creates users `idx` through one `/Bulk` request; returns the created ones.
async fn bulk_users(
    client: &mut Client,
    run: &str,
    idx: &[usize],
    managers: &[String],
) -> Result<Vec<(usize, UserRef)>> {
    let ops: Vec<Value> = idx
        .iter()
        .map(|&i| {
            let manager = (!managers.is_empty()).then(|| managers[i % managers.len()].as_str());
            let name = body::user_name(run, i as u64);
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                   "data": body::user(&name, i as u64, manager)})
        })
        .collect();
    let req = json!({"schemas": [body::BULK_REQUEST], "Operations": ops});
    let r = client
        .send(
            Method::POST,
            "/Bulk",
            Some(Bytes::from(serde_json::to_vec(&req)?)),
        )
        .await?;
    if !r.status.is_success() {
        bail!(
            "POST /Bulk answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
        );
    }
    let v: Value = serde_json::from_slice(&r.body)?;
    let mut out = Vec::with_capacity(idx.len());
    for op in v["Operations"].as_array().into_iter().flatten() {
        let ok = status_code(&op["status"]).is_some_and(|s| s == 201 || s == 200);
        let i = op["bulkId"]
            .as_str()
            .and_then(|b| b.strip_prefix('u'))
            .and_then(|n| n.parse::<usize>().ok());
        let id = op["location"].as_str().and_then(id_from_location);
        if let (true, Some(i), Some(id)) = (ok, i, id) {
            out.push((
                i,
                UserRef {
                    id,
                    user_name: body::user_name(run, i as u64),
                },
            ));
        }
    }
    Ok(out)
}

/// Creates user `i` with a POST.
async fn post_user(
    client: &mut Client,
    run: &str,
    i: usize,
    managers: &[String],
) -> Result<UserRef> {
    let manager = (!managers.is_empty()).then(|| managers[i % managers.len()].as_str());
    let name = body::user_name(run, i as u64);
    let doc = body::user(&name, i as u64, manager);
    let r = client
        .send(
            Method::POST,
            "/Users",
            Some(Bytes::from(serde_json::to_vec(&doc)?)),
        )
        .await?;
    if r.status.as_u16() != 201 {
        bail!(
            "POST /Users answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
        );
    }
    let v: Value = serde_json::from_slice(&r.body)?;
    let id = v["id"]
        .as_str()
        .ok_or_else(|| anyhow!("POST /Users: no id in the answer"))?;
    Ok(UserRef {
        id: id.to_string(),
        user_name: name,
    })
}

async fn post_group(client: &mut Client, name: &str, members: &[String]) -> Result<String> {
    let doc = body::group(name, members);
    let r = client
        .send(
            Method::POST,
            "/Groups?excludedAttributes=members",
            Some(Bytes::from(serde_json::to_vec(&doc)?)),
        )
        .await?;
    if r.status.as_u16() != 201 {
        bail!(
            "POST /Groups answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
        );
    }
    let v: Value = serde_json::from_slice(&r.body)?;
    Ok(v["id"]
        .as_str()
        .ok_or_else(|| anyhow!("POST /Groups: no id in the answer"))?
        .to_string())
}

/// Adds members to a group with PATCH (chunks), answering without the member list.
pub async fn add_members(client: &mut Client, group: &str, members: &[String]) -> Result<()> {
    for chunk in members.chunks(1000) {
        let value: Vec<Value> = chunk.iter().map(|m| json!({"value": m})).collect();
        let patch = json!({"schemas": [body::PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": value}]});
        let r = client
            .send(
                Method::PATCH,
                &format!("/Groups/{group}?excludedAttributes=members"),
                Some(Bytes::from(serde_json::to_vec(&patch)?)),
            )
            .await?;
        if !matches!(r.status.as_u16(), 200 | 204) {
            bail!("PATCH /Groups/{group} (add members) answered {}", r.status);
        }
    }
    Ok(())
}

pub async fn seed(target: &Target, kind: Kind, run: &str, o: &SeedOpts) -> Result<Seeded> {
    let mut s = Seeded {
        run: run.to_string(),
        ..Seeded::default()
    };
    let mut client = Client::new(target, kind)?;
    let caps = if o.allow_bulk {
        bulk_caps(&mut client).await?
    } else {
        None
    };
    let total = o.users + o.spare;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(o.max_seconds);

    // Batch size: as many operations as maxOperations and 90% of maxPayloadSize allow.
    let batch = match &caps {
        Some(c) => {
            let sample = serde_json::to_vec(&json!({"method": "POST", "path": "/Users",
                "bulkId": "u1000000", "data": body::user(&body::user_name(run, 1_000_000), 1_000_000,
                Some("00000000-0000-0000-0000-000000000000"))}))?
            .len()
                + 1;
            let by_payload = (c.max_payload * 9 / 10) / sample;
            let n = c.max_operations.min(by_payload).max(1);
            o.bulk_size.map_or(n, |b| b.min(n))
        }
        None => 1,
    };
    s.via_bulk = caps.is_some();
    s.bulk_size = batch;

    // Wave 0: the first users (no manager), so later users can name one of them as manager.
    let first: Vec<usize> = (0..batch.clamp(16, 1000).min(total)).collect();
    let mut created: Vec<(usize, UserRef)> = Vec::with_capacity(total);
    if s.via_bulk {
        for chunk in first.chunks(batch) {
            created.extend(bulk_users(&mut client, run, chunk, &[]).await?);
        }
    } else {
        for &i in &first {
            created.push((i, post_user(&mut client, run, i, &[]).await?));
        }
    }
    if created.is_empty() {
        bail!("seeding: the first users could not be created");
    }
    let managers: Arc<Vec<String>> = Arc::new(created.iter().map(|(_, u)| u.id.clone()).collect());
    let results = Arc::new(Mutex::new(created));
    let next = Arc::new(AtomicUsize::new(first.len()));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency.max(1) {
        let (target, run, managers, results, next, errors) = (
            target.clone(),
            run.to_string(),
            managers.clone(),
            results.clone(),
            next.clone(),
            errors.clone(),
        );
        let via_bulk = s.via_bulk;
        tasks.push(tokio::spawn(async move {
            let mut client = match Client::new(&target, kind) {
                Ok(c) => c,
                Err(e) => {
                    lock(&errors).push(e.to_string());
                    return;
                }
            };
            let mut failures = 0;
            while Instant::now() < deadline && failures < 10 {
                let start = next.fetch_add(batch, Ordering::Relaxed);
                if start >= total {
                    break;
                }
                let idx: Vec<usize> = (start..(start + batch).min(total)).collect();
                let got = if via_bulk {
                    bulk_users(&mut client, &run, &idx, &managers).await
                } else {
                    post_user(&mut client, &run, start, &managers)
                        .await
                        .map(|u| vec![(start, u)])
                };
                match got {
                    Ok(v) => lock(&results).extend(v),
                    Err(e) => {
                        failures += 1;
                        lock(&errors).push(e.to_string());
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let mut created = std::mem::take(&mut *lock(&results));
    created.sort_by_key(|(i, _)| *i);
    s.users_seconds = started.elapsed().as_secs_f64();
    s.users_missing = total.saturating_sub(created.len());
    if Instant::now() >= deadline && created.len() < total {
        s.notes.push(format!(
            "seeding stopped at the {:.0} s cap with {} of {} users",
            o.max_seconds,
            created.len(),
            total
        ));
    }
    let errs = std::mem::take(&mut *lock(&errors));
    if let Some(first) = errs.first() {
        s.notes.push(format!(
            "{} seeding request(s) failed; first: {first}",
            errs.len()
        ));
    }
    let mut users: Vec<UserRef> = created.into_iter().map(|(_, u)| u).collect();
    if users.len() < o.spare + 100 {
        bail!(
            "seeding created only {} users; {}",
            users.len(),
            s.notes.join("; ")
        );
    }
    s.spare = users.split_off(users.len() - o.spare);
    s.users = users;

    // Groups: G small ones with random members, then the big one.
    let started = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut group_members = Vec::with_capacity(o.groups);
    for _ in 0..o.groups {
        let m: Vec<String> = s
            .users
            .choose_multiple(&mut rng, o.group_size.min(s.users.len()))
            .map(|u| u.id.clone())
            .collect();
        group_members.push(m);
    }
    let group_members = Arc::new(group_members);
    let next = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(Mutex::new(Vec::<(usize, String)>::new()));
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency.max(1) {
        let (target, run, group_members, next, ids) = (
            target.clone(),
            run.to_string(),
            group_members.clone(),
            next.clone(),
            ids.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut client = Client::new(&target, kind)?;
            loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j >= group_members.len() {
                    return Ok::<(), anyhow::Error>(());
                }
                let id =
                    post_group(&mut client, &format!("grp{j}.{run}"), &group_members[j]).await?;
                lock(&ids).push((j, id));
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let mut ids = std::mem::take(&mut *lock(&ids));
    ids.sort();
    s.groups = ids.into_iter().map(|(_, id)| id).collect();
    if o.big_group > 0 {
        let members: Vec<String> = s
            .users
            .iter()
            .take(o.big_group)
            .map(|u| u.id.clone())
            .collect();
        let first = members.len().min(1000);
        let id = post_group(&mut client, &format!("big.{run}"), &members[..first]).await?;
        add_members(&mut client, &id, &members[first..]).await?;
        s.big_members = members.len();
        s.big_group = Some(id);
    }
    s.groups_seconds = started.elapsed().as_secs_f64();
    Ok(s)
}

/// Locks a mutex, ignoring poisoning (a panicking task already fails the run).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
