//! One push run of a target: read what changed past the cursor (plus due retries and a page of
//! the full sync), plan, check the deletion threshold, record intents, converge over HTTP, then
//! commit state, log, audit events and the cursor in one fenced transaction.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::TimeDelta;
use futures_util::StreamExt;
use serde_json::json;

use store::push::{lease, log, state, targets};
use store::{Store, WriteCtx};

use crate::converge::{converge, Outcome};
use crate::desired::{self, Item, Step, GROUP, USER};
use crate::error::Result;
use crate::spec::PushGroups;
use crate::target::Target;

/// The `action` of alert events.
pub const ALERT: &str = "alert";
/// The `resource_type` of events about a target.
pub const TARGET_RESOURCE: &str = "PushTarget";

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct RunReport {
    /// Events consumed.
    pub events: usize,
    /// Resources looked at.
    pub planned: usize,
    /// Outcomes (resources that needed a change).
    pub outcomes: Vec<Outcome>,
    /// The run stopped at the deletion threshold (target paused).
    pub threshold_hit: bool,
}

impl RunReport {
    /// Whether anything happened (the worker loops again at once if so).
    pub fn busy(&self) -> bool {
        self.events > 0 || self.planned > 0
    }
}

/// Shared context of the runs of one worker.
#[derive(Clone)]
pub struct Ctx {
    /// The store.
    pub store: Store,
    /// This process's owner id.
    pub owner: String,
    /// Events (and retries) per run.
    pub batch: i64,
    /// The lease length (intents are due again after it).
    pub lease: TimeDelta,
}

/// Runs a blocking database closure off the async threads.
pub async fn blocking<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Store) -> store::Result<T> + Send + 'static,
) -> Result<T> {
    let s = store.clone();
    Ok(tokio::task::spawn_blocking(move || f(&s)).await??)
}

/// Converges the items concurrently (at most `concurrency` requests in flight).
pub async fn execute(target: &Arc<Target>, items: Vec<Item>) -> Vec<Outcome> {
    let now = store::write::now();
    let limit = target.settings.concurrency.max(1) as usize;
    // a queued retry that needs nothing any more leaves the queue
    let mut settled: Vec<Outcome> = items
        .iter()
        .filter(|i| i.step == Step::Noop)
        .filter_map(|i| {
            let s = i.state.as_ref()?;
            if s.status != state::RETRYING {
                return None;
            }
            let mut row = s.clone();
            row.status = if row.remote_id.is_some() && row.pushed_hash.is_some() {
                state::SYNCED.into()
            } else {
                state::DELETED.into()
            };
            row.next_attempt_at = None;
            row.attempts = 0;
            row.updated = now;
            Some(Outcome {
                rtype: i.rtype,
                id: i.id.clone(),
                version: i.version,
                state: Some(row),
                calls: Vec::new(),
                event: None,
                transient: false,
                retry_after: None,
                new_remote: false,
            })
        })
        .collect();
    let done: Vec<Outcome> =
        futures_util::stream::iter(items.into_iter().filter(|i| i.step != Step::Noop))
            .map(|item| {
                let t = target.clone();
                async move { converge(&t, &item, now).await }
            })
            .buffer_unordered(limit)
            .collect()
            .await;
    settled.extend(done);
    settled
}

/// Records intents before any request is sent: rows for items that have no remote id yet, due
/// again after the lease, with the key that finds the remote object. A crash after a POST then
/// leaves a row that a retry adopts from, never a stranger on the remote.
pub async fn record_intents(ctx: &Ctx, target: &Target, token: &str, items: &[Item]) -> Result<()> {
    let now = store::write::now();
    let rows: Vec<state::StateRow> = items
        .iter()
        .filter(|i| i.step == Step::Create)
        .filter(|i| {
            i.state
                .as_ref()
                .and_then(|s| s.remote_id.as_ref())
                .is_none()
        })
        .map(|i| {
            let mut row = i.state.clone().unwrap_or_else(|| state::StateRow {
                target_id: target.row.id.clone(),
                resource_type: i.rtype.to_string(),
                resource_id: i.id.clone(),
                remote_id: None,
                pushed_hash: None,
                pushed_doc: None,
                remote_key: None,
                status: state::RETRYING.into(),
                attempts: 0,
                next_attempt_at: None,
                last_error: None,
                updated: now,
            });
            row.remote_key = i.remote_key();
            row.status = state::RETRYING.into();
            row.next_attempt_at = Some(now + ctx.lease);
            row.updated = now;
            row
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let tid = target.row.id.clone();
    let token = token.to_string();
    blocking(&ctx.store, move |s| {
        s.admin(|c| {
            lease::fence(c, &tid, &token, now)?;
            state::upsert_many(c, &rows)
        })
    })
    .await
}

/// Commits outcomes: state rows, the call log, audit events; optionally the cursor and the
/// full-sync position. Fenced: nothing is written if the lease was lost.
pub async fn commit(
    ctx: &Ctx,
    target: &Target,
    token: &str,
    outcomes: &[Outcome],
    cursor: Option<i64>,
    full_sync: Option<Option<String>>,
) -> Result<()> {
    let tid = target.row.id.clone();
    let token = token.to_string();
    let owner = ctx.owner.clone();
    let actor = target.actor();
    let outcomes = outcomes.to_vec();
    blocking(&ctx.store, move |s| {
        let wctx = WriteCtx::system(&actor);
        s.write(&wctx, |tx| {
            // leases, retries and backoff run on real time (the store clock, which tests and
            // `ROSTER_CLOCK_OFFSET_SECS` move, is business time: dates, grace, events)
            lease::fence(tx.conn, &tid, &token, store::write::now())?;
            let rows: Vec<state::StateRow> =
                outcomes.iter().filter_map(|o| o.state.clone()).collect();
            state::upsert_many(tx.conn, &rows)?;
            let mut entries = Vec::new();
            for o in &outcomes {
                for c in &o.calls {
                    entries.push(log::NewLogEntry {
                        target_id: tid.clone(),
                        at: c.at,
                        owner: owner.clone(),
                        resource_type: Some(o.rtype.to_string()),
                        resource_id: Some(o.id.clone()),
                        method: c.method.to_string(),
                        path: c.path.clone(),
                        status: c.status.map(i64::from),
                        latency_ms: c.latency_ms,
                        error: c.error.clone(),
                    });
                }
            }
            log::insert(tx.conn, &entries)?;
            for o in &outcomes {
                if let Some((action, detail)) = &o.event {
                    tx.append_event(
                        action,
                        o.rtype,
                        &o.id,
                        o.version,
                        None,
                        Some(detail.to_string()),
                    )?;
                }
            }
            if let Some(seq) = cursor {
                lease::advance(tx.conn, &tid, seq)?;
            }
            if let Some(pos) = &full_sync {
                lease::set_full_sync(tx.conn, &tid, pos.as_deref())?;
            }
            Ok(())
        })
    })
    .await
}

/// Appends an alert event about a target (and pauses it if `pause` is given).
pub async fn alert(
    ctx: &Ctx,
    target: &Target,
    kind: &str,
    detail: serde_json::Value,
    pause: Option<String>,
) -> Result<()> {
    let tid = target.row.id.clone();
    let name = target.row.name.clone();
    let actor = target.actor();
    let kind = kind.to_string();
    tracing::warn!(target = %name, alert = %kind, %detail, "push alert");
    blocking(&ctx.store, move |s| {
        s.write(&WriteCtx::system(&actor), |tx| {
            if let Some(reason) = &pause {
                targets::set_paused(tx.conn, &tid, true, Some(reason))?;
            }
            let mut body = json!({"kind": kind, "target": tid, "targetName": name});
            if let (Some(o), Some(d)) = (body.as_object_mut(), detail.as_object()) {
                o.extend(d.clone());
            }
            tx.append_event(
                ALERT,
                TARGET_RESOURCE,
                &tid,
                0,
                None,
                Some(body.to_string()),
            )?;
            Ok(())
        })
    })
    .await
}

/// Pre-hires whose `startDate` is within the target's `provisionBeforeStartDays` and that have
/// no account on the target yet (they are created, inactive, when their window opens, an
/// instant no event marks). One SQL filter over the users; the worker calls it every few
/// minutes.
pub async fn pre_hires_due(ctx: &Ctx, target: &Target) -> Result<Vec<String>> {
    let days = i64::from(target.settings.provision_before_start_days);
    let tid = target.row.id.clone();
    blocking(&ctx.store, move |s| {
        let horizon = s.clock().now() + chrono::TimeDelta::days(days);
        let urn = scim::schema::LIFECYCLE_USER_SCHEMA;
        let text = format!(
            "{urn}:phase eq \"preHire\" and {urn}:startDate le \"{}\"",
            horizon
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        let filter = scim::filter::parse(&text)?;
        s.read(|c| {
            let mut due = Vec::new();
            let mut start = 1u64;
            loop {
                let spec = store::ListSpec {
                    filter: Some(&filter),
                    sort_by: None,
                    descending: false,
                    start,
                    count: 1000,
                };
                let (_, page) = store::users::list(c, &spec)?;
                let n = page.len();
                let ids: Vec<String> = page.into_iter().map(|u| u.id).collect();
                let known: HashSet<String> = state::get_many(c, &tid, USER, &ids)?
                    .into_iter()
                    .filter(|r| r.remote_id.is_some())
                    .map(|r| r.resource_id)
                    .collect();
                due.extend(ids.into_iter().filter(|id| !known.contains(id)));
                if n < 1000 {
                    return Ok(due);
                }
                start += 1000;
            }
        })
    })
    .await
}

/// One run. `token` is the lease token (every write is fenced with it); `extra_users` are
/// looked at too (pre-hires whose window opened).
pub async fn run_once(
    ctx: &Ctx,
    target: &Arc<Target>,
    token: &str,
    extra_users: Vec<String>,
) -> Result<RunReport> {
    let tid = target.row.id.clone();
    let batch = ctx.batch;
    let now = store::write::now();
    let (cursor, events, due) = {
        let tid = tid.clone();
        blocking(&ctx.store, move |s| {
            s.read(|c| {
                let cursor = lease::get(c, &tid)?;
                let events = store::events::after(c, cursor.seq, batch)?;
                let due = state::due(c, &tid, now, batch)?;
                Ok((cursor, events, due))
            })
        })
        .await?
    };
    let mut report = RunReport {
        events: events.len(),
        ..Default::default()
    };
    let last_seq = events.last().map(|e| e.seq);
    let (mut users, mut groups) = desired::touched(&events, target);
    if matches!(target.settings.scope, crate::spec::Scope::Groups { .. }) && !users.is_empty() {
        let ids = users.clone();
        users = blocking(&ctx.store, move |s| {
            s.read(|c| desired::expand_nested(c, &ids))
        })
        .await?;
    }
    for (rtype, id) in due {
        let list = if rtype == USER {
            &mut users
        } else {
            &mut groups
        };
        if !list.contains(&id) {
            list.push(id);
        }
    }
    for id in extra_users {
        if !users.contains(&id) {
            users.push(id);
        }
    }
    // a page of the full sync, when the log is caught up
    let mut next_full: Option<Option<String>> = None;
    if (events.len() as i64) < batch {
        if let Some(pos) = cursor.full_sync.clone() {
            if let Some(after) = pos.strip_prefix("User:") {
                let after = after.to_string();
                let ids = blocking(&ctx.store, move |s| {
                    s.read(|c| store::users::ids_after(c, &after, batch))
                })
                .await?;
                next_full = Some(Some(match ids.last() {
                    Some(last) if ids.len() as i64 == batch => format!("User:{last}"),
                    _ => "Group:".to_string(),
                }));
                for id in ids {
                    if !users.contains(&id) {
                        users.push(id);
                    }
                }
            } else {
                if target.settings.push_groups == PushGroups::Assigned {
                    for g in target.assigned() {
                        if !groups.contains(&g) {
                            groups.push(g);
                        }
                    }
                }
                next_full = Some(None);
            }
        }
    }
    if users.is_empty() && groups.is_empty() {
        if last_seq.is_some() || next_full.is_some() {
            commit(ctx, target, token, &[], last_seq, next_full).await?;
        }
        return Ok(report);
    }
    // users
    let user_items = {
        let t = target.clone();
        let ids = users.clone();
        blocking(&ctx.store, move |s| {
            s.read(|c| desired::plan_users(c, &t, &ids, &HashSet::new(), s.clock().now()))
        })
        .await?
    };
    report.planned += user_items.len();
    if let Some(threshold) = target.settings.deletion_threshold {
        let planned = user_items.iter().filter(|i| i.deprovisions()).count() as u64;
        let pushed = {
            let tid = tid.clone();
            blocking(&ctx.store, move |s| s.read(|c| state::counts(c, &tid))).await?
        }
        .into_iter()
        .filter(|(st, _)| st == state::SYNCED)
        .map(|(_, n)| n as u64)
        .sum::<u64>();
        let limit = threshold.limit(pushed);
        if planned > limit {
            let reason = format!(
                "deletion threshold: this run would deprovision {planned} accounts (limit {limit} of {pushed}); review, then resume"
            );
            alert(
                ctx,
                target,
                "deletionThreshold",
                json!({"planned": planned, "limit": limit, "pushed": pushed}),
                Some(reason),
            )
            .await?;
            metrics::counter!("roster_push_threshold_pauses_total",
                "target" => target.row.name.clone())
            .increment(1);
            report.threshold_hit = true;
            return Ok(report);
        }
    }
    record_intents(ctx, target, token, &user_items).await?;
    let user_outcomes = execute(target, user_items).await;
    // groups: touched, due, and those holding users that just got a remote id
    if target.settings.push_groups == PushGroups::Assigned {
        let fresh: Vec<String> = user_outcomes
            .iter()
            .filter(|o| o.new_remote)
            .map(|o| o.id.clone())
            .collect();
        if !fresh.is_empty() {
            let assigned = target.assigned();
            let holding = blocking(&ctx.store, move |s| {
                s.read(|c| store::members::groups_of(c, &fresh))
            })
            .await?;
            for (_, g) in holding {
                if assigned.contains(&g) && !groups.contains(&g) {
                    groups.push(g);
                }
            }
        }
    }
    commit(ctx, target, token, &user_outcomes, None, None).await?;
    report.outcomes.extend(user_outcomes);
    let group_items = if groups.is_empty() {
        Vec::new()
    } else {
        let t = target.clone();
        blocking(&ctx.store, move |s| {
            s.read(|c| desired::plan_groups(c, &t, &groups, &HashSet::new()))
        })
        .await?
    };
    report.planned += group_items.len();
    record_intents(ctx, target, token, &group_items).await?;
    let group_outcomes = execute(target, group_items).await;
    commit(ctx, target, token, &group_outcomes, last_seq, next_full).await?;
    report.outcomes.extend(group_outcomes);
    let _ = GROUP;
    Ok(report)
}
