//! Reconciliation: list the remote, compare with the desired state, fix drift, report.
//!
//! - missing: a user Roster pushed whose remote object is gone is created again;
//! - changed: a remote object that no longer carries the desired values is overwritten (PUT);
//! - extra: a remote account Roster manages that should be disabled or deleted, and is not, is
//!   deprovisioned;
//! - unmatched remote accounts that Roster never managed are reported and left alone (they may
//!   belong to people outside HR's scope; adopting or removing them is an admin decision).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use store::push::state::{self, StateRow};

use crate::converge::Outcome;
use crate::desired::{self, Desired, Step, USER};
use crate::error::{Error, Result};
use crate::run::{self, blocking, Ctx};
use crate::spec::PushGroups;
use crate::target::Target;

/// At most this many remote accounts are read (a bound, not a design limit).
const MAX_REMOTE: usize = 2_000_000;
/// Ids listed per category in the report.
const SAMPLE: usize = 100;

/// What a reconciliation found and did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    /// Remote users listed.
    pub remote_users: usize,
    /// Roster users compared.
    pub compared: usize,
    /// Roster ids whose remote object was missing (re-created).
    pub missing: Vec<String>,
    /// Roster ids whose remote object had drifted (overwritten).
    pub changed: Vec<String>,
    /// Roster ids whose remote account should have been deprovisioned (now done).
    pub extra: Vec<String>,
    /// Roster ids matched to an existing remote account by userName (adopted).
    pub adopted: Vec<String>,
    /// Remote ids of accounts Roster does not manage (left alone; first 100).
    pub unmanaged: Vec<String>,
    /// How many unmanaged accounts there are.
    pub unmanaged_count: usize,
    /// Groups pushed again.
    pub groups: usize,
    /// Fixes that succeeded.
    pub fixed: usize,
    /// Fixes that failed (see the target's log and status).
    pub failed: usize,
    /// The deletion threshold stopped the run (the target is paused).
    pub threshold_hit: bool,
}

fn member<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    let o = v.as_object()?;
    o.get(name).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Whether `remote` carries every value of `desired` (extra remote attributes are fine).
pub fn covers(remote: &Value, desired: &Value) -> bool {
    match desired {
        Value::Object(d) => d.iter().all(|(k, v)| {
            k == "schemas" || v.is_null() || member(remote, k).is_some_and(|r| covers(r, v))
        }),
        Value::Array(d) => match remote.as_array() {
            Some(r) => d.iter().all(|dv| r.iter().any(|rv| covers(rv, dv))),
            None => false,
        },
        other => remote == other,
    }
}

async fn list_remote(target: &Target) -> Result<HashMap<String, Value>> {
    let mut out = HashMap::new();
    let mut start = 1usize;
    loop {
        let c = target
            .client
            .send("GET", &format!("/Users?startIndex={start}&count=100"), None)
            .await;
        if !c.ok() {
            return Err(Error::Remote(format!(
                "listing the remote users failed: {}",
                c.describe()
            )));
        }
        let body = c.body.unwrap_or(Value::Null);
        let page = member(&body, "Resources")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let total = member(&body, "totalResults")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        let n = page.len();
        for r in page {
            if let Some(id) = member(&r, "id").and_then(Value::as_str) {
                out.insert(id.to_string(), r.clone());
            }
        }
        start += n;
        if n == 0 || start > total || out.len() >= MAX_REMOTE {
            break;
        }
    }
    Ok(out)
}

/// Reconciles the target's users (and its groups, if it pushes groups).
pub async fn reconcile(ctx: &Ctx, target: &Arc<Target>, token: &str) -> Result<ReconcileReport> {
    let mut report = ReconcileReport::default();
    let mut remote = list_remote(target).await?;
    report.remote_users = remote.len();
    // what Roster believes it pushed
    let tid = target.row.id.clone();
    let known: Vec<StateRow> = blocking(&ctx.store, move |s| {
        s.read(|c| {
            let mut all = Vec::new();
            let mut after = String::new();
            loop {
                let page = state::with_remote(c, &tid, USER, &after, 1000)?;
                let Some(last) = page.last() else { break };
                after = last.resource_id.clone();
                all.extend(page);
            }
            Ok(all)
        })
    })
    .await?;
    let mut remote_of: HashMap<String, String> = HashMap::new();
    let mut missing: HashSet<String> = HashSet::new();
    for row in &known {
        if let Some(rid) = &row.remote_id {
            if remote.contains_key(rid) {
                remote_of.insert(row.resource_id.clone(), rid.clone());
            } else if row.status != state::DELETED {
                missing.insert(row.resource_id.clone());
            }
        }
    }
    let claimed: HashSet<String> = remote_of.values().cloned().collect();
    // remote accounts Roster does not know: match them by userName
    let strangers: Vec<(String, String)> = remote
        .iter()
        .filter(|(rid, _)| !claimed.contains(*rid))
        .map(|(rid, r)| {
            (
                rid.clone(),
                member(r, "userName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let matched: Vec<(String, String)> = blocking(&ctx.store, move |s| {
        s.read(|c| {
            let mut out = Vec::new();
            for (rid, name) in &strangers {
                if let Some(id) = store::users::id_by_user_name(c, name)? {
                    out.push((rid.clone(), id));
                }
            }
            Ok(out)
        })
    })
    .await?;
    let mut adoptable: HashMap<String, String> = HashMap::new();
    for (rid, id) in matched {
        if !remote_of.contains_key(&id) && !missing.contains(&id) {
            adoptable.insert(id, rid);
        }
    }
    let mut ids: Vec<String> = remote_of.keys().cloned().collect();
    ids.extend(missing.iter().cloned());
    ids.extend(adoptable.keys().cloned());
    ids.sort();
    ids.dedup();
    let force: HashSet<String> = ids.iter().cloned().collect();
    let items = {
        let t = target.clone();
        let ids = ids.clone();
        blocking(&ctx.store, move |s| {
            s.read(|c| desired::plan_users(c, &t, &ids, &force, s.clock().now()))
        })
        .await?
    };
    report.compared = items.len();
    let mut todo = Vec::new();
    for mut item in items {
        if missing.contains(&item.id) {
            if let Some(s) = item.state.as_mut() {
                s.remote_id = None;
                s.pushed_doc = None;
            }
            item.step = match item.desired {
                Desired::Present { .. } => Step::Create,
                _ => Step::Noop,
            };
            if item.step != Step::Noop {
                report.missing.push(item.id.clone());
                todo.push(item);
            }
            continue;
        }
        if let Some(rid) = adoptable.get(&item.id) {
            if let Desired::Present { .. } = item.desired {
                let now = store::write::now();
                item.state = Some(StateRow {
                    target_id: target.row.id.clone(),
                    resource_type: USER.into(),
                    resource_id: item.id.clone(),
                    remote_id: Some(rid.clone()),
                    pushed_hash: None,
                    pushed_doc: None,
                    remote_key: item.remote_key(),
                    status: state::RETRYING.into(),
                    attempts: 0,
                    next_attempt_at: None,
                    last_error: None,
                    updated: now,
                });
                item.step = Step::Update;
                report.adopted.push(item.id.clone());
                todo.push(item);
            }
            // a matched account that is out of scope is not Roster's to remove
            continue;
        }
        let Some(rv) = remote_of.get(&item.id).and_then(|rid| remote.get(rid)) else {
            continue;
        };
        let remote_active = member(rv, "active") != Some(&Value::Bool(false));
        item.step = match &item.desired {
            Desired::Present { doc, .. } => {
                if covers(rv, doc) {
                    Step::Noop
                } else {
                    report.changed.push(item.id.clone());
                    Step::Update
                }
            }
            Desired::Disabled if remote_active => {
                report.extra.push(item.id.clone());
                Step::Disable
            }
            Desired::Absent => {
                report.extra.push(item.id.clone());
                Step::Delete
            }
            Desired::Disabled => Step::Noop,
        };
        if item.step != Step::Noop {
            todo.push(item);
        }
    }
    for rid in claimed.iter() {
        remote.remove(rid);
    }
    for rid in adoptable.values() {
        remote.remove(rid);
    }
    report.unmanaged_count = remote.len();
    let mut unmanaged: Vec<String> = remote.into_keys().collect();
    unmanaged.sort();
    unmanaged.truncate(SAMPLE);
    report.unmanaged = unmanaged;
    // the deletion threshold applies here too
    if let Some(threshold) = target.settings.deletion_threshold {
        let planned = todo
            .iter()
            .filter(|i| matches!(i.step, Step::Disable | Step::Delete))
            .count() as u64;
        let limit = threshold.limit(known.len() as u64);
        if planned > limit {
            run::alert(
                ctx,
                target,
                "deletionThreshold",
                json!({"planned": planned, "limit": limit, "during": "reconcile"}),
                Some(format!(
                    "deletion threshold: reconciliation would deprovision {planned} accounts (limit {limit}); review, then resume"
                )),
            )
            .await?;
            report.threshold_hit = true;
            return Ok(report);
        }
    }
    let mut outcomes: Vec<Outcome> = run::execute(target, todo).await;
    run::commit(ctx, target, token, &outcomes, None, None).await?;
    if target.settings.push_groups == PushGroups::Assigned {
        let groups: Vec<String> = target.assigned().into_iter().collect();
        let force: HashSet<String> = groups.iter().cloned().collect();
        let t = target.clone();
        let items = blocking(&ctx.store, move |s| {
            s.read(|c| desired::plan_groups(c, &t, &groups, &force))
        })
        .await?;
        report.groups = items.len();
        let g = run::execute(target, items).await;
        run::commit(ctx, target, token, &g, None, None).await?;
        outcomes.extend(g);
    }
    for o in &outcomes {
        match o.state.as_ref().map(|s| s.status.as_str()) {
            Some(state::RETRYING) | Some(state::FAILED) => report.failed += 1,
            _ => report.fixed += 1,
        }
    }
    let detail = serde_json::to_value(&report).unwrap_or(Value::Null);
    let mut summary = json!({
        "missing": report.missing.len(), "changed": report.changed.len(),
        "extra": report.extra.len(), "adopted": report.adopted.len(),
        "unmanaged": report.unmanaged_count, "fixed": report.fixed, "failed": report.failed,
        "remoteUsers": report.remote_users,
    });
    let _ = detail;
    if let Some(o) = summary.as_object_mut() {
        o.insert("kind".into(), Value::String("reconciled".into()));
    }
    record_reconcile(ctx, target, summary).await?;
    Ok(report)
}

async fn record_reconcile(ctx: &Ctx, target: &Target, summary: Value) -> Result<()> {
    let tid = target.row.id.clone();
    let actor = target.actor();
    blocking(&ctx.store, move |s| {
        s.write(&store::WriteCtx::system(&actor), |tx| {
            tx.append_event(
                "push.reconcile",
                run::TARGET_RESOURCE,
                &tid,
                0,
                None,
                Some(summary.to_string()),
            )?;
            Ok(())
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::covers;
    use serde_json::json;

    #[test]
    fn covers_ignores_extra_remote_attributes_but_not_changed_values() {
        let desired = json!({"schemas": ["x"], "userName": "a", "emails": [{"value": "a@x"}],
            "name": {"givenName": "A"}});
        let remote = json!({"id": "1", "userName": "a", "meta": {},
            "emails": [{"value": "a@x", "primary": false}], "name": {"givenName": "A", "formatted": "A"}});
        assert!(covers(&remote, &desired));
        let drifted =
            json!({"userName": "a", "emails": [{"value": "b@x"}], "name": {"givenName": "A"}});
        assert!(!covers(&drifted, &desired));
    }
}
