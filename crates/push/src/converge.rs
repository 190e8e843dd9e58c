//! Converging one resource on a target over HTTP: find (by remote id, else adopt by
//! `externalId`/`userName`/`displayName`), then POST, PATCH, PUT or DELETE. Never creates
//! without first looking for an existing object, so a replay after a crash adopts what an
//! earlier attempt created instead of duplicating it.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use rand::Rng;
use serde_json::{json, Map, Value};

use store::push::state::{self, StateRow};

use crate::client::{filter_query, segment, Call};
use crate::desired::{Desired, Item, Step, USER};
use crate::target::Target;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// What converging one item did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The item's type.
    pub rtype: &'static str,
    /// The item's Roster id.
    pub id: String,
    /// The item's version.
    pub version: i64,
    /// The new state row (`None`: nothing to record).
    pub state: Option<StateRow>,
    /// Every HTTP call made.
    pub calls: Vec<Call>,
    /// The audit action (`push.create`, …) and detail, for an outcome worth recording.
    pub event: Option<(&'static str, Value)>,
    /// The failure was transient (will be retried).
    pub transient: bool,
    /// A `Retry-After` the remote asked for.
    pub retry_after: Option<Duration>,
    /// The remote id is new in this run (groups holding this user need an update).
    pub new_remote: bool,
}

/// Backoff for the `attempts`-th failure: 2 s doubling up to 15 min, ±50 % jitter.
pub fn backoff(attempts: i64) -> Duration {
    backoff_from(Duration::from_secs(2), attempts)
}

/// Backoff for the `attempts`-th failure: `first` doubling up to 15 min, ±50 % jitter.
pub fn backoff_from(first: Duration, attempts: i64) -> Duration {
    let base = first.as_secs_f64() * 2f64.powi(attempts.clamp(0, 12) as i32 - 1);
    let capped = base.min(900.0);
    let jitter = rand::thread_rng().gen_range(0.5..1.5);
    Duration::from_secs_f64((capped * jitter).max(0.01))
}

fn endpoint(rtype: &str) -> &'static str {
    if rtype == USER {
        "/Users"
    } else {
        "/Groups"
    }
}

/// Case-insensitive object member.
fn member<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    let o = v.as_object()?;
    o.get(name).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// PATCH operations turning `old` into `new` (top-level attributes; extension attributes one
/// by one; group members added and removed by value).
pub fn diff_ops(old: &Value, new: &Value) -> Vec<Value> {
    let mut ops = Vec::new();
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return ops;
    };
    for (k, v) in n {
        if k == "schemas" || k == "id" {
            continue;
        }
        let before = o.get(k);
        if before == Some(v) {
            continue;
        }
        if k == "members" {
            let ids = |x: Option<&Value>| -> Vec<String> {
                x.and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.get("value").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            };
            let (was, now) = (ids(before), ids(Some(v)));
            let added: Vec<Value> = now
                .iter()
                .filter(|m| !was.contains(m))
                .map(|m| json!({"value": m}))
                .collect();
            if !added.is_empty() {
                ops.push(json!({"op": "add", "path": "members", "value": added}));
            }
            for m in was.iter().filter(|m| !now.contains(m)) {
                ops.push(json!({"op": "remove", "path": format!("members[value eq {}]", Value::String(m.clone()))}));
            }
            continue;
        }
        if k.contains(':') {
            if let (Some(vo), bo) = (v.as_object(), before.and_then(Value::as_object)) {
                for (sk, sv) in vo {
                    if bo.and_then(|b| b.get(sk)) != Some(sv) {
                        ops.push(
                            json!({"op": "replace", "path": format!("{k}:{sk}"), "value": sv}),
                        );
                    }
                }
                for sk in bo.into_iter().flat_map(|b| b.keys()) {
                    if !vo.contains_key(sk) {
                        ops.push(json!({"op": "remove", "path": format!("{k}:{sk}")}));
                    }
                }
                continue;
            }
        }
        ops.push(json!({"op": "replace", "path": k, "value": v}));
    }
    for k in o.keys() {
        if k != "schemas" && k != "id" && !n.contains_key(k) {
            if k == "members" {
                ops.push(json!({"op": "replace", "path": "members", "value": []}));
            } else {
                ops.push(json!({"op": "remove", "path": k}));
            }
        }
    }
    ops
}

struct Run<'a> {
    target: &'a Target,
    item: &'a Item,
    calls: Vec<Call>,
}

enum Found {
    Yes(String),
    No,
    Failed(Call),
}

impl Run<'_> {
    async fn call(&mut self, method: &'static str, path: String, body: Option<&Value>) -> Call {
        let c = self.target.client.send(method, &path, body).await;
        self.calls.push(c.clone());
        c
    }

    /// Looks the remote object up by its key: `externalId`, then `userName` (users), or
    /// `displayName` (groups).
    async fn find(&mut self) -> Found {
        let Some(key) = self
            .item
            .remote_key()
            .and_then(|k| serde_json::from_str::<Value>(&k).ok())
        else {
            return Found::No;
        };
        let adopt = &self.target.settings.adopt_by;
        let attrs: Vec<&str> = if self.item.rtype == USER {
            ["externalId", "userName"]
                .into_iter()
                .filter(|a| adopt.iter().any(|x| x == a))
                .collect()
        } else if adopt.iter().any(|x| x == "displayName") {
            vec!["displayName"]
        } else {
            Vec::new()
        };
        for attr in &attrs {
            let Some(value) = key.get(*attr).and_then(Value::as_str) else {
                continue;
            };
            let path = format!(
                "{}?{}",
                endpoint(self.item.rtype),
                filter_query(attr, value)
            );
            let c = self.call("GET", path, None).await;
            if !c.ok() {
                return Found::Failed(c);
            }
            let hit = c
                .body
                .as_ref()
                .and_then(|b| member(b, "Resources"))
                .and_then(Value::as_array)
                .and_then(|rs| {
                    rs.iter().find(|r| {
                        member(r, attr)
                            .and_then(Value::as_str)
                            // externalId is case-exact (RFC 7643 §3.1); names are not
                            .is_some_and(|v| {
                                if *attr == "externalId" {
                                    v == value
                                } else {
                                    v.eq_ignore_ascii_case(value)
                                }
                            })
                    })
                })
                .and_then(|r| member(r, "id"))
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(id) = hit {
                return Found::Yes(id);
            }
        }
        Found::No
    }
}

fn with_id(doc: &Value, id: &str) -> Value {
    let mut d = doc.clone();
    if let Some(o) = d.as_object_mut() {
        let mut m = Map::new();
        m.insert("schemas".into(), o.remove("schemas").unwrap_or(Value::Null));
        m.insert("id".into(), Value::String(id.to_string()));
        m.extend(std::mem::take(o));
        return Value::Object(m);
    }
    d
}

/// Converges one item (its `step` is not `Noop`). `now` stamps the state row.
pub async fn converge(target: &Target, item: &Item, now: NaiveDateTime) -> Outcome {
    let mut run = Run {
        target,
        item,
        calls: Vec::new(),
    };
    let prev = item.state.clone();
    let base = StateRow {
        target_id: target.row.id.clone(),
        resource_type: item.rtype.to_string(),
        resource_id: item.id.clone(),
        remote_id: prev.as_ref().and_then(|s| s.remote_id.clone()),
        pushed_hash: prev.as_ref().and_then(|s| s.pushed_hash.clone()),
        pushed_doc: prev.as_ref().and_then(|s| s.pushed_doc.clone()),
        remote_key: item.remote_key(),
        status: state::SYNCED.into(),
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
        updated: now,
    };
    let result = match (&item.desired, item.step) {
        (Desired::Present { doc, hash }, Step::Create | Step::Update) => {
            present(&mut run, &base, doc, hash).await
        }
        (_, Step::Disable) => disable(&mut run, &base).await,
        (_, Step::Delete) => delete(&mut run, &base).await,
        _ => Ok((base.clone(), None)),
    };
    let calls = std::mem::take(&mut run.calls);
    let new_remote = |row: &StateRow| {
        row.remote_id.is_some() && row.remote_id != prev.as_ref().and_then(|s| s.remote_id.clone())
    };
    let detail = |row: &StateRow, status: Option<u16>| {
        json!({
            "target": target.row.id,
            "targetName": target.row.name,
            "remoteId": row.remote_id,
            "httpStatus": status,
        })
    };
    match result {
        Ok((row, action)) => Outcome {
            rtype: item.rtype,
            id: item.id.clone(),
            version: item.version,
            new_remote: new_remote(&row),
            event: action.map(|a| (a, detail(&row, calls.last().and_then(|c| c.status)))),
            state: Some(row),
            calls,
            transient: false,
            retry_after: None,
        },
        Err(failed) => {
            let transient = failed.transient();
            let attempts = prev.as_ref().map_or(0, |s| s.attempts) + 1;
            let mut row = base;
            row.last_error = Some(failed.describe());
            if transient {
                let wait = backoff_from(target.retry_base, attempts)
                    .max(failed.retry_after.unwrap_or_default());
                row.status = state::RETRYING.into();
                row.attempts = attempts;
                row.next_attempt_at =
                    Some(now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::seconds(900)));
            } else {
                row.status = state::FAILED.into();
                row.attempts = attempts;
            }
            // what was pushed before stays: only a success changes it
            let mut d = detail(&row, failed.status);
            if let Some(o) = d.as_object_mut() {
                o.insert("error".into(), Value::String(failed.describe()));
            }
            Outcome {
                rtype: item.rtype,
                id: item.id.clone(),
                version: item.version,
                new_remote: false,
                event: (!transient).then_some(("push.failed", d)),
                state: Some(row),
                calls,
                transient,
                retry_after: failed.retry_after,
            }
        }
    }
}

type Step2 = Result<(StateRow, Option<&'static str>), Call>;

async fn present(run: &mut Run<'_>, base: &StateRow, doc: &Value, hash: &str) -> Step2 {
    let ep = endpoint(run.item.rtype);
    let synced = |remote: &str| {
        let mut row = base.clone();
        row.remote_id = Some(remote.to_string());
        row.pushed_hash = Some(hash.to_string());
        row.pushed_doc = Some(doc.to_string());
        row
    };
    // 1. a known remote object: send the differences (or the whole document)
    if let Some(rid) = base.remote_id.clone() {
        let old = base
            .pushed_doc
            .as_deref()
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
            .filter(|_| !run.item.force);
        let path = format!("{ep}/{}", segment(&rid));
        let c = match old {
            Some(old) => {
                let ops = diff_ops(&old, doc);
                if ops.is_empty() {
                    return Ok((synced(&rid), None));
                }
                let body = json!({"schemas": [PATCH_OP], "Operations": ops});
                run.call("PATCH", path, Some(&body)).await
            }
            None => run.call("PUT", path, Some(&with_id(doc, &rid))).await,
        };
        if c.ok() {
            return Ok((synced(&rid), Some("push.update")));
        }
        if c.status != Some(404) {
            return Err(c);
        }
        // the remote object is gone: find or create it again
    }
    // 2. adopt an existing object, never duplicate
    match run.find().await {
        Found::Failed(c) => return Err(c),
        Found::Yes(rid) => {
            let c = run
                .call(
                    "PUT",
                    format!("{ep}/{}", segment(&rid)),
                    Some(&with_id(doc, &rid)),
                )
                .await;
            return if c.ok() {
                Ok((synced(&rid), Some("push.adopt")))
            } else {
                Err(c)
            };
        }
        Found::No => {}
    }
    // 3. create
    let c = run.call("POST", ep.to_string(), Some(doc)).await;
    if c.ok() {
        let rid = c
            .body
            .as_ref()
            .and_then(|b| member(b, "id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        return match rid {
            Some(rid) => Ok((synced(&rid), Some("push.create"))),
            None => {
                let mut bad = c;
                bad.status = Some(502);
                bad.error = Some("the remote created the object but returned no id".into());
                Err(bad)
            }
        };
    }
    if c.status == Some(409) {
        // created meanwhile (or a uniqueness clash): adopt it
        if let Found::Yes(rid) = run.find().await {
            let c2 = run
                .call(
                    "PUT",
                    format!("{ep}/{}", segment(&rid)),
                    Some(&with_id(doc, &rid)),
                )
                .await;
            return if c2.ok() {
                Ok((synced(&rid), Some("push.adopt")))
            } else {
                Err(c2)
            };
        }
    }
    Err(c)
}

async fn locate(run: &mut Run<'_>, base: &StateRow) -> Result<Option<String>, Call> {
    if let Some(r) = &base.remote_id {
        return Ok(Some(r.clone()));
    }
    match run.find().await {
        Found::Yes(r) => Ok(Some(r)),
        Found::No => Ok(None),
        Found::Failed(c) => Err(c),
    }
}

fn gone(base: &StateRow) -> StateRow {
    let mut row = base.clone();
    row.status = state::DELETED.into();
    row.remote_id = None;
    row.pushed_hash = None;
    row.pushed_doc = None;
    row
}

async fn disable(run: &mut Run<'_>, base: &StateRow) -> Step2 {
    let Some(rid) = locate(run, base).await? else {
        return Ok((gone(base), None));
    };
    let body = json!({"schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let c = run
        .call("PATCH", format!("/Users/{}", segment(&rid)), Some(&body))
        .await;
    if c.status == Some(404) {
        return Ok((gone(base), None));
    }
    if !c.ok() {
        return Err(c);
    }
    let mut row = base.clone();
    row.remote_id = Some(rid);
    row.status = state::DISABLED.into();
    row.pushed_hash = None;
    // remember the remote is inactive, so re-entering the scope sends `active: true`
    row.pushed_doc = base
        .pushed_doc
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .map(|mut d| {
            if let Some(o) = d.as_object_mut() {
                o.insert("active".into(), Value::Bool(false));
            }
            d.to_string()
        });
    Ok((row, Some("push.disable")))
}

async fn delete(run: &mut Run<'_>, base: &StateRow) -> Step2 {
    let Some(rid) = locate(run, base).await? else {
        return Ok((gone(base), None));
    };
    let ep = endpoint(run.item.rtype);
    let c = run
        .call("DELETE", format!("{ep}/{}", segment(&rid)), None)
        .await;
    if c.ok() || c.status == Some(404) {
        let mut row = gone(base);
        row.remote_key = base.remote_key.clone();
        return Ok((row, Some("push.delete")));
    }
    Err(c)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn diff_replaces_changed_removes_missing_and_diffs_members() {
        let old = json!({"schemas": [], "userName": "a", "title": "x", "active": true,
            "urn:e:User": {"department": "A", "costCenter": "1"},
            "members": [{"value": "1"}, {"value": "2"}]});
        let new = json!({"schemas": [], "userName": "a", "active": false,
            "urn:e:User": {"department": "B"},
            "members": [{"value": "2"}, {"value": "3"}]});
        let ops = diff_ops(&old, &new);
        assert!(ops.contains(&json!({"op": "replace", "path": "active", "value": false})));
        assert!(
            ops.contains(&json!({"op": "replace", "path": "urn:e:User:department", "value": "B"}))
        );
        assert!(ops.contains(&json!({"op": "remove", "path": "urn:e:User:costCenter"})));
        assert!(ops.contains(&json!({"op": "remove", "path": "title"})));
        assert!(ops.contains(&json!({"op": "add", "path": "members", "value": [{"value": "3"}]})));
        assert!(ops.contains(&json!({"op": "remove", "path": "members[value eq \"1\"]"})));
        assert_eq!(ops.len(), 6);
        assert!(diff_ops(&new, &new).is_empty());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) <= Duration::from_secs(3));
        assert!(backoff(30) <= Duration::from_secs(1350));
        assert!(backoff(30) >= Duration::from_secs(450));
    }
}
