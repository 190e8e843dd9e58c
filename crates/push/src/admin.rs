//! Target administration shared by the admin API and the CLI: create, read, replace, delete,
//! pause, resume, retry, reconcile requests, status and the call log. Blocking (database only);
//! every change is an audit event by the calling actor.

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use store::push::{lease, log, state, targets};
use store::{Store, WriteCtx};

use crate::crypto::SecretKey;
use crate::error::{Error, Result};
use crate::run::TARGET_RESOURCE;
use crate::spec::{Auth, TargetInput};
use crate::target::settings_of;

fn ts(t: NaiveDateTime) -> String {
    store::events::format_ts(t)
}

fn not_found(e: store::Error, id: &str) -> Error {
    match e {
        store::Error::NotFound => Error::NotFound(format!("target {id} not found")),
        store::Error::Conflict { .. } => {
            Error::Invalid("name: another target already has this name".into())
        }
        other => Error::Store(other),
    }
}

/// The API view of a target: settings and state, credentials reduced to their type and
/// non-secret fields.
pub fn view(row: &targets::TargetRow, key: Option<&SecretKey>) -> Result<Value> {
    let s = settings_of(row)?;
    let auth = key
        .and_then(|k| k.open(&row.secret).ok())
        .and_then(|t| serde_json::from_str::<Auth>(&t).ok())
        .map(|a| a.redacted())
        .unwrap_or_else(|| json!({"type": s.auth_type}));
    let mut v = json!({
        "id": row.id,
        "name": row.name,
        "baseUrl": s.base_url,
        "auth": auth,
        "scope": s.scope,
        "pushGroups": s.push_groups,
        "deprovision": s.deprovision,
        "concurrency": s.concurrency,
        "provisionBeforeStartDays": s.provision_before_start_days,
        "adoptBy": s.adopt_by,
        "paused": row.paused,
        "pausedReason": row.paused_reason,
        "created": ts(row.created),
        "modified": ts(row.modified),
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(m) = &s.mapping {
            o.insert(
                "mapping".into(),
                serde_json::to_value(m).unwrap_or(Value::Null),
            );
        }
        if let Some(r) = s.rate_limit {
            o.insert("rateLimit".into(), json!(r));
        }
        if let Some(t) = s.deletion_threshold {
            o.insert(
                "deletionThreshold".into(),
                serde_json::to_value(t).unwrap_or(Value::Null),
            );
        }
    }
    Ok(v)
}

fn sealed(key: &SecretKey, input: TargetInput) -> Result<(String, String, String)> {
    let (name, settings, auth) = input.split();
    let config =
        serde_json::to_string(&settings).map_err(|e| Error::Invalid(format!("settings: {e}")))?;
    let plain = serde_json::to_string(&auth).map_err(|e| Error::Invalid(format!("auth: {e}")))?;
    Ok((name, config, key.seal(&plain)?))
}

/// Creates a target from its JSON body; it starts with a full sync of existing users.
pub fn create(store: &Store, key: &SecretKey, ctx: &WriteCtx, body: &Value) -> Result<Value> {
    let input = TargetInput::from_json(body)?;
    let (name, config, secret) = sealed(key, input)?;
    let id = uuid::Uuid::new_v4().to_string();
    let row = store
        .write(ctx, |tx| {
            let now = tx.now();
            let (head, _) = store::events::head(tx.conn)?;
            let row = targets::TargetRow {
                id: id.clone(),
                name,
                config,
                secret,
                paused: false,
                paused_reason: None,
                quarantined_until: None,
                failures: 0,
                last_success: None,
                reconcile_requested: false,
                created: now,
                modified: now,
            };
            targets::insert(tx.conn, &row, head)?;
            let v = view(&row, Some(key)).map_err(|e| store::Error::Corrupt(e.to_string()))?;
            tx.append_event(
                "target.create",
                TARGET_RESOURCE,
                &id,
                1,
                None,
                Some(v.to_string()),
            )?;
            Ok(row)
        })
        .map_err(|e| not_found(e, &id))?;
    view(&row, Some(key))
}

/// Every target.
pub fn list(store: &Store, key: Option<&SecretKey>) -> Result<Vec<Value>> {
    store
        .read(targets::list)?
        .iter()
        .map(|r| view(r, key))
        .collect()
}

/// One target, by id or name.
pub fn get(store: &Store, key: Option<&SecretKey>, id: &str) -> Result<Value> {
    let row = store
        .read(|c| targets::find(c, id))
        .map_err(|e| not_found(e, id))?;
    view(&row, key)
}

/// The row of a target named by id or name.
pub fn row(store: &Store, id: &str) -> Result<targets::TargetRow> {
    store
        .read(|c| targets::find(c, id))
        .map_err(|e| not_found(e, id))
}

/// Replaces a target's settings (the body is the same as for create, credentials included).
pub fn replace(
    store: &Store,
    key: &SecretKey,
    ctx: &WriteCtx,
    id: &str,
    body: &Value,
) -> Result<Value> {
    let input = TargetInput::from_json(body)?;
    let (name, config, secret) = sealed(key, input)?;
    let current = row(store, id)?;
    let tid = current.id.clone();
    store
        .write(ctx, |tx| {
            let now = tx.now();
            let before =
                view(&current, Some(key)).map_err(|e| store::Error::Corrupt(e.to_string()))?;
            targets::update_settings(tx.conn, &tid, &name, &config, &secret, now)?;
            let after = targets::get(tx.conn, &tid)?;
            let v = view(&after, Some(key)).map_err(|e| store::Error::Corrupt(e.to_string()))?;
            tx.append_event(
                "target.replace",
                TARGET_RESOURCE,
                &tid,
                0,
                Some(before.to_string()),
                Some(v.to_string()),
            )?;
            Ok(())
        })
        .map_err(|e| not_found(e, id))?;
    get(store, Some(key), &tid)
}

/// Deletes a target with its push state and log (remote accounts are left as they are).
pub fn delete(store: &Store, ctx: &WriteCtx, id: &str) -> Result<()> {
    let current = row(store, id)?;
    store
        .write(ctx, |tx| {
            targets::delete(tx.conn, &current.id)?;
            tx.append_event(
                "target.delete",
                TARGET_RESOURCE,
                &current.id,
                0,
                Some(json!({"name": current.name}).to_string()),
                None,
            )?;
            Ok(())
        })
        .map_err(|e| not_found(e, id))
}

/// Pauses (`Some(reason)`) or resumes (`None`) a target; resuming lifts a quarantine too.
pub fn set_paused(store: &Store, ctx: &WriteCtx, id: &str, pause: Option<&str>) -> Result<Value> {
    let current = row(store, id)?;
    store
        .write(ctx, |tx| {
            targets::set_paused(tx.conn, &current.id, pause.is_some(), pause)?;
            let action = if pause.is_some() {
                "target.pause"
            } else {
                "target.resume"
            };
            tx.append_event(
                action,
                TARGET_RESOURCE,
                &current.id,
                0,
                None,
                Some(json!({"name": current.name, "reason": pause}).to_string()),
            )?;
            Ok(())
        })
        .map_err(|e| not_found(e, id))?;
    status(store, &current.id)
}

/// Queues every failed item for a new attempt now; returns how many.
pub fn retry(store: &Store, ctx: &WriteCtx, id: &str) -> Result<usize> {
    let current = row(store, id)?;
    store
        .write(ctx, |tx| {
            // due now in real time, the time retries are scheduled in
            let n = state::retry_failed(tx.conn, &current.id, store::write::now())?;
            tx.append_event(
                "target.retry",
                TARGET_RESOURCE,
                &current.id,
                0,
                None,
                Some(json!({"name": current.name, "requeued": n}).to_string()),
            )?;
            Ok(n)
        })
        .map_err(|e| not_found(e, id))
}

/// Asks whichever replica pushes the target to reconcile it at its next turn.
pub fn request_reconcile(store: &Store, id: &str) -> Result<()> {
    let current = row(store, id)?;
    store
        .admin(|c| targets::set_reconcile_requested(c, &current.id, true))
        .map_err(|e| not_found(e, id))
}

/// The target's health: state, cursor lag, item counts, lease.
pub fn status(store: &Store, id: &str) -> Result<Value> {
    let current = row(store, id)?;
    let tid = current.id.clone();
    let (cursor, head, first_pending, counts) = store.read(|c| {
        let cursor = lease::get(c, &tid)?;
        let (head, _) = store::events::head(c)?;
        let first = store::events::after(c, cursor.seq, 1)?.into_iter().next();
        let counts = state::counts(c, &tid)?;
        Ok((cursor, head, first, counts))
    })?;
    let now = store::write::now();
    let count = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    let quarantined = current.quarantined_until.is_some_and(|q| q > now);
    let state_name = if current.paused {
        "paused"
    } else if quarantined {
        "quarantined"
    } else if cursor.full_sync.is_some() {
        "syncing"
    } else {
        "active"
    };
    let lag_seconds = first_pending
        .map(|e| (now - e.at).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    let lease_live = cursor.lease_until.is_some_and(|u| u > now);
    Ok(json!({
        "id": current.id,
        "name": current.name,
        "state": state_name,
        "paused": current.paused,
        "pausedReason": current.paused_reason,
        "quarantined": quarantined,
        "quarantinedUntil": current.quarantined_until.filter(|_| quarantined).map(ts),
        "consecutiveFailures": current.failures,
        "lastSuccess": current.last_success.map(ts),
        "cursor": cursor.seq,
        "head": head,
        "lagEvents": (head - cursor.seq).max(0),
        "lagSeconds": lag_seconds,
        "fullSync": cursor.full_sync,
        "pending": count(state::RETRYING),
        "retrying": count(state::RETRYING),
        "failed": count(state::FAILED),
        "synced": count(state::SYNCED),
        "disabled": count(state::DISABLED),
        "deleted": count(state::DELETED),
        "reconcileRequested": current.reconcile_requested,
        "lease": if lease_live {
            json!({"owner": cursor.lease_owner, "until": cursor.lease_until.map(ts)})
        } else {
            Value::Null
        },
    }))
}

/// A page of the call log, newest first; `cursor` is the `nextCursor` of the previous page.
pub fn log_page(store: &Store, id: &str, cursor: Option<&str>, count: i64) -> Result<Value> {
    let current = row(store, id)?;
    let before = match cursor {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            Error::Invalid("cursor: use the nextCursor of the previous page".into())
        })?),
    };
    let count = count.clamp(1, 1000);
    let rows = store.read(|c| log::page(c, &current.id, before, count))?;
    let next = if rows.len() as i64 == count {
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "time": ts(r.at), "owner": r.owner,
                "resourceType": r.resource_type, "resourceId": r.resource_id,
                "method": r.method, "path": r.path, "status": r.status,
                "latencyMs": r.latency_ms, "error": r.error,
            })
        })
        .collect();
    Ok(json!({"items": items, "nextCursor": next}))
}

/// Failed items with their errors (first `count`).
pub fn failed_items(store: &Store, id: &str, count: i64) -> Result<Vec<Value>> {
    let current = row(store, id)?;
    let rows = store.read(|c| state::with_status(c, &current.id, state::FAILED, count))?;
    Ok(rows
        .iter()
        .map(|r| {
            json!({"resourceType": r.resource_type, "resourceId": r.resource_id,
                "remoteId": r.remote_id, "attempts": r.attempts, "error": r.last_error,
                "updated": ts(r.updated)})
        })
        .collect())
}
