//! The alert watcher: reads the event log past its cursor and appends `alert` events (actor
//! [`ACTOR`]) for
//!
//! - **mass deprovisioning**: more than `mass_count` deactivations, deletions of active users
//!   and membership removals by one actor (a token, an import file, the scheduler) within
//!   `mass_window`; one alert per actor per window;
//! - **changes to sensitive groups**: any change to a protected group (`ROSTER_PROTECTED_GROUPS`,
//!   also through nesting), and a change to the approval settings of a group that requires
//!   approval (its members change only through reviewed approvals and admin grants);
//! - **a paused push target** (`target.pause`; the push engine writes its own alerts for
//!   quarantine and the deletion threshold);
//! - (an SoD violation attempt is written as an `alert` by the store itself, see `store::sod`);
//! - **a broken hash chain**, found by a periodic verification (`verify_every`).
//!
//! The alerts and the cursor move are committed in one transaction fenced by the `hooks`
//! lease, so a crash never loses or repeats an alert. Windows are kept in memory and rebuilt
//! from the log when the lease is taken.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeDelta};
use serde_json::{json, Value};

use store::events::{format_ts, Event, Verdict};
use store::{DbConn, ProtectedGroups, Store, WriteCtx};

use crate::error::Result;

/// The actor of alert events.
pub const ACTOR: &str = "system:alerts";
/// The `action` of alert events.
pub const ALERT: &str = "alert";
/// The name of the lease (and the alert cursor) in `worker_leases`.
pub const LEASE: &str = "hooks";
/// Most events read back when a replica takes the lease, to rebuild the windows.
pub const PRIME_LIMIT: usize = 20_000;
/// The Roster group extension that marks approval-required groups.
pub const GOVERNANCE_GROUP: &str = "urn:roster:params:scim:schemas:extension:governance:2.0:Group";

/// Alert settings.
#[derive(Debug, Clone)]
pub struct AlertOptions {
    /// Deprovisions by one actor within the window above which an alert is raised (0: off).
    pub mass_count: u64,
    /// The window.
    pub mass_window: Duration,
    /// How often the hash chain is verified (zero: never).
    pub verify_every: Duration,
    /// Protected groups.
    pub protected: Arc<ProtectedGroups>,
}

/// An alert about to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The resource type it is about.
    pub resource_type: String,
    /// The resource id.
    pub resource_id: String,
    /// The event body (`kind` and details).
    pub body: Value,
}

/// The watcher's state (held by the lease holder).
#[derive(Debug)]
pub struct Watcher {
    opts: AlertOptions,
    windows: HashMap<String, VecDeque<(NaiveDateTime, u64)>>,
    last_alert: HashMap<String, NaiveDateTime>,
    primed: bool,
    last_verify: Option<Instant>,
}

fn parse(text: &Option<String>) -> Option<Value> {
    text.as_deref().and_then(|t| serde_json::from_str(t).ok())
}

fn ids(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| {
                    m.as_str()
                        .or_else(|| m.get("value").and_then(Value::as_str))
                })
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// How many deprovisions an event makes: a user deactivated or an active user deleted counts
/// one, a group change counts the members it removed.
pub fn deprovisions(e: &Event) -> u64 {
    // nothing is removed without a before (a create, a bulk load): skip parsing documents
    let may_remove = e.before.is_some()
        || (e.resource_type == "Group" && e.action == "members")
        || (e.resource_type == "Group" && e.action == "patch");
    if !may_remove {
        return 0;
    }
    // a user whose new document cannot be inactive (no `"active":false`, no inactive or pre-hire
    // phase in its compact JSON) was not deprovisioned: skip parsing both documents, which
    // would otherwise cost more than the rest of the watcher for every user write
    if e.resource_type == "User" {
        if let Some(after) = &e.after {
            let may_be_inactive = after.contains("\"active\":false")
                || after.contains("\"phase\":\"inactive\"")
                || after.contains("\"phase\":\"preHire\"");
            if !may_be_inactive {
                return 0;
            }
        }
    }
    // likewise a group event that names no removed member (the common add)
    if e.resource_type == "Group" {
        let key = match e.action.as_str() {
            "members" => Some("\"removed\""),
            "patch" => Some("\"membersRemoved\""),
            _ => None,
        };
        if let Some(key) = key {
            if !e.after.as_deref().is_some_and(|a| a.contains(key)) {
                return 0;
            }
        }
    }
    let before = parse(&e.before);
    let after = parse(&e.after);
    match e.resource_type.as_str() {
        "User" => {
            let was = before.as_ref().is_some_and(crate::classify::is_active);
            let is = after.as_ref().is_some_and(crate::classify::is_active);
            u64::from(was && !is)
        }
        "Group" => {
            let removed = match e.action.as_str() {
                "members" => ids(after.as_ref().and_then(|a| a.get("removed"))).len(),
                "patch" => ids(after.as_ref().and_then(|a| a.get("membersRemoved"))).len(),
                "replace" => {
                    let now = ids(after.as_ref().and_then(|a| a.get("members")));
                    ids(before.as_ref().and_then(|b| b.get("members")))
                        .iter()
                        .filter(|m| !now.contains(m))
                        .count()
                }
                "delete" => ids(before.as_ref().and_then(|b| b.get("members"))).len(),
                _ => 0,
            };
            removed as u64
        }
        _ => 0,
    }
}

impl Watcher {
    /// A watcher with empty windows (primed from the log at its first step).
    pub fn new(opts: AlertOptions) -> Watcher {
        Watcher {
            opts,
            windows: HashMap::new(),
            last_alert: HashMap::new(),
            primed: false,
            last_verify: None,
        }
    }

    /// Forgets the windows (after the lease was lost: the next holder rebuilds them).
    pub fn reset(&mut self) {
        self.windows.clear();
        self.last_alert.clear();
        self.primed = false;
    }

    fn window(&self) -> TimeDelta {
        TimeDelta::from_std(self.opts.mass_window).unwrap_or(TimeDelta::minutes(10))
    }

    /// Counts `e` in its actor's window; returns the alert if the threshold is crossed.
    fn count(&mut self, e: &Event) -> Option<Alert> {
        if self.opts.mass_count == 0 || e.actor == ACTOR {
            return None;
        }
        let n = deprovisions(e);
        if n == 0 {
            return None;
        }
        let window = self.window();
        let q = self.windows.entry(e.actor.clone()).or_default();
        q.push_back((e.at, n));
        while q.front().is_some_and(|(t, _)| *t < e.at - window) {
            q.pop_front();
        }
        let total: u64 = q.iter().map(|(_, n)| n).sum();
        if total <= self.opts.mass_count {
            return None;
        }
        if self
            .last_alert
            .get(&e.actor)
            .is_some_and(|t| e.at - *t < window)
        {
            return None;
        }
        self.last_alert.insert(e.actor.clone(), e.at);
        let from = q.front().map(|(t, _)| *t).unwrap_or(e.at);
        Some(Alert {
            resource_type: "Actor".into(),
            resource_id: e.actor.clone(),
            body: json!({
                "kind": "massDeprovision",
                "actor": e.actor,
                "actorId": e.actor_id,
                "count": total,
                "threshold": self.opts.mass_count,
                "windowMinutes": self.opts.mass_window.as_secs() / 60,
                "from": format_ts(from),
                "to": format_ts(e.at),
                "seq": e.seq,
            }),
        })
    }

    /// Rebuilds the windows from the events of the last window up to `cursor` (at most
    /// [`PRIME_LIMIT`] events back; only what counts is kept in memory).
    fn prime(&mut self, conn: &mut DbConn, cursor: i64) -> Result<()> {
        self.reset();
        let window = self.window();
        // newest first: (actor, at, deprovisions) and the actors of earlier alerts
        let mut counted: Vec<(String, NaiveDateTime, u64)> = Vec::new();
        let mut alerted: Vec<(String, NaiveDateTime)> = Vec::new();
        let mut upto = cursor;
        let mut cutoff: Option<NaiveDateTime> = None;
        let mut read = 0usize;
        'pages: while read < PRIME_LIMIT {
            let page = store::events::up_to(conn, upto, 500)?;
            if page.is_empty() {
                break;
            }
            for e in page {
                let c = *cutoff.get_or_insert(e.at - window);
                if e.at < c {
                    break 'pages;
                }
                upto = e.seq - 1;
                read += 1;
                if e.actor == ACTOR && e.action == ALERT {
                    let b = parse(&e.after).unwrap_or(Value::Null);
                    if b.get("kind").and_then(Value::as_str) == Some("massDeprovision") {
                        if let Some(a) = b.get("actor").and_then(Value::as_str) {
                            alerted.push((a.to_string(), e.at));
                        }
                    }
                } else if self.opts.mass_count > 0 && e.actor != ACTOR {
                    let n = deprovisions(&e);
                    if n > 0 {
                        counted.push((e.actor.clone(), e.at, n));
                    }
                }
            }
        }
        for (actor, at) in alerted.into_iter().rev() {
            self.last_alert.insert(actor, at);
        }
        for (actor, at, n) in counted.into_iter().rev() {
            self.windows.entry(actor).or_default().push_back((at, n));
        }
        self.primed = true;
        Ok(())
    }

    /// The alerts one event raises.
    pub fn examine(&mut self, conn: &mut DbConn, e: &Event) -> Result<Vec<Alert>> {
        let mut out = Vec::new();
        if e.actor == ACTOR {
            return Ok(out);
        }
        if let Some(a) = self.count(e) {
            out.push(a);
        }
        if e.resource_type == "Group" {
            if let Some(a) = self.sensitive_group(conn, e)? {
                out.push(a);
            }
        }
        if e.action == "target.pause" {
            out.push(Alert {
                resource_type: e.resource_type.clone(),
                resource_id: e.resource_id.clone(),
                body: json!({"kind": "targetPaused", "target": e.resource_id, "actor": e.actor,
                             "detail": parse(&e.after), "seq": e.seq}),
            });
        }
        // separation-of-duties attempts need nothing here: the store writes them as `alert`
        // events itself (kind `sod.violation_attempt`), in a transaction of their own
        Ok(out)
    }

    /// A change to a protected or approval-required group.
    fn sensitive_group(&self, conn: &mut DbConn, e: &Event) -> Result<Option<Alert>> {
        let before = parse(&e.before);
        let after = parse(&e.after);
        let doc = after.as_ref().or(before.as_ref());
        let name = doc
            .and_then(|d| d.get("displayName"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut reasons = Vec::new();
        let p = &self.opts.protected;
        if !p.is_empty() {
            let listed = p.entries().any(|x| x == e.resource_id)
                || name.as_deref().is_some_and(|n| p.names(n));
            let by = if listed {
                Some(e.resource_id.clone())
            } else {
                p.protecting(conn, &e.resource_id)?
            };
            if let Some(by) = by {
                reasons.push(json!({"reason": "protected", "protectedBy": by}));
            }
        }
        // approval-required groups: their members change only through approvals and admin
        // grants (reviewed, and audited as such); what is alerted is a change to the approval
        // settings themselves, e.g. `requiresApproval` switched off
        let settings = |d: Option<&Value>| d.and_then(|d| d.get(GOVERNANCE_GROUP)).cloned();
        let (was, now) = (settings(before.as_ref()), settings(after.as_ref()));
        let required = |g: &Option<Value>| {
            g.as_ref().and_then(|g| g.get("requiresApproval")) == Some(&Value::Bool(true))
        };
        if required(&was) && e.action != "delete" && was != now {
            reasons.push(json!({"reason": "approvalSettingsChanged", "from": was, "to": now}));
        }
        if reasons.is_empty() {
            return Ok(None);
        }
        let (added, removed) = match e.action.as_str() {
            "members" => (
                ids(after.as_ref().and_then(|a| a.get("added"))),
                ids(after.as_ref().and_then(|a| a.get("removed"))),
            ),
            _ => (
                ids(after.as_ref().and_then(|a| a.get("membersAdded"))),
                ids(after.as_ref().and_then(|a| a.get("membersRemoved"))),
            ),
        };
        Ok(Some(Alert {
            resource_type: "Group".into(),
            resource_id: e.resource_id.clone(),
            body: json!({
                "kind": "sensitiveGroupChange",
                "group": e.resource_id,
                "groupName": name,
                "because": reasons,
                "action": e.action,
                "actor": e.actor,
                "actorId": e.actor_id,
                "membersAdded": added,
                "membersRemoved": removed,
                "seq": e.seq,
            }),
        }))
    }

    /// One step: examines up to `batch` events past the cursor and commits the alerts with
    /// the cursor move (fenced by `token`); verifies the chain when due. Returns the number of
    /// events examined.
    pub fn step(&mut self, store: &Store, token: &str, batch: i64) -> Result<usize> {
        // through `Store::read`, so that a connection lost in a database outage is replaced
        let (events, alerts) = store.read(|conn| {
            let cursor = store::leases::seq(conn, LEASE)?;
            if !self.primed {
                self.prime(conn, cursor).map_err(to_store)?;
            }
            let events = store::events::after(conn, cursor, batch)?;
            let mut alerts = Vec::new();
            for e in &events {
                alerts.extend(self.examine(conn, e).map_err(to_store)?);
            }
            if let Some(a) = self.verify_due(conn).map_err(to_store)? {
                alerts.push(a);
            }
            Ok((events, alerts))
        })?;
        let last = events.last().map(|e| e.seq);
        if alerts.is_empty() {
            if let Some(last) = last {
                store.admin(|c| {
                    store::leases::fence(c, LEASE, token, store::write::now())?;
                    store::leases::set_seq(c, LEASE, last)
                })?;
            }
            return Ok(events.len());
        }
        for a in &alerts {
            let kind = a.body.get("kind").and_then(Value::as_str).unwrap_or("?");
            tracing::warn!(alert = %kind, resource = %a.resource_id, "alert raised");
            metrics::counter!("roster_alerts_total", "kind" => kind.to_string()).increment(1);
        }
        store.write(&WriteCtx::system(ACTOR), |tx| {
            store::leases::fence(tx.conn, LEASE, token, store::write::now())?;
            for a in &alerts {
                tx.append_event(
                    ALERT,
                    &a.resource_type,
                    &a.resource_id,
                    0,
                    None,
                    Some(a.body.to_string()),
                )?;
            }
            if let Some(last) = last {
                store::leases::set_seq(tx.conn, LEASE, last)?;
            }
            Ok(())
        })?;
        Ok(events.len())
    }

    /// Verifies the hash chain if due; an alert if it is broken (once per distinct break).
    fn verify_due(&mut self, conn: &mut DbConn) -> Result<Option<Alert>> {
        if self.opts.verify_every.is_zero()
            || self
                .last_verify
                .is_some_and(|t| t.elapsed() < self.opts.verify_every)
        {
            return Ok(None);
        }
        // the walk is not one snapshot: a write committed meanwhile can look like a head that
        // does not match the last event. Trust only a walk during which the head did not move
        // (otherwise try again at the next step).
        let (head_before, _) = store::events::head(conn)?;
        let verdict = store::events::verify(conn)?;
        let (head_after, _) = store::events::head(conn)?;
        if head_before != head_after {
            return Ok(None);
        }
        self.last_verify = Some(Instant::now());
        match verdict {
            Verdict::Ok { .. } => Ok(None),
            Verdict::Broken {
                checked,
                seq,
                reason,
            } => Ok(chain_alert(conn, checked, seq, &reason)?),
        }
    }
}

fn to_store(e: crate::Error) -> store::Error {
    match e {
        crate::Error::Store(s) => s,
        other => store::Error::Corrupt(other.to_string()),
    }
}

/// The alert for a broken chain, unless the latest chain alert already reported this break.
pub fn chain_alert(
    conn: &mut DbConn,
    checked: u64,
    seq: i64,
    reason: &str,
) -> Result<Option<Alert>> {
    let (rt, rid) = (store::events::AUDIT_RESOURCE, store::events::CHAIN_ID);
    if let Some(prev) = store::events::latest(conn, ALERT, rt, rid)? {
        let b = parse(&prev.after).unwrap_or(Value::Null);
        if b.get("brokenSeq") == Some(&json!(seq)) && b.get("reason") == Some(&json!(reason)) {
            return Ok(None);
        }
    }
    tracing::error!(seq, %reason, "the audit hash chain is broken");
    Ok(Some(Alert {
        resource_type: rt.into(),
        resource_id: rid.into(),
        body: json!({"kind": "chainBroken", "brokenSeq": seq, "reason": reason, "checked": checked}),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_event(before: &str, after: Option<&str>, action: &str) -> Event {
        Event {
            seq: 1,
            at: chrono::NaiveDateTime::default(),
            actor: "hr".into(),
            actor_id: None,
            request_id: None,
            action: action.into(),
            resource_type: "User".into(),
            resource_id: "u".into(),
            version: 2,
            before: Some(before.into()),
            after: after.map(str::to_string),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn deprovisions_count_deactivations_and_deletes_and_nothing_else() {
        let active = r#"{"userName":"a","active":true}"#;
        let lifecycle = "urn:roster:params:scim:schemas:extension:lifecycle:2.0:User";
        let cases = [
            (r#"{"userName":"a","active":false}"#.to_string(), 1),
            (
                r#"{"userName":"a","active":true,"title":"CTO"}"#.to_string(),
                0,
            ),
            (r#"{"userName":"a"}"#.to_string(), 0),
            (
                format!(r#"{{"userName":"a","{lifecycle}":{{"phase":"inactive"}}}}"#),
                1,
            ),
            (
                format!(r#"{{"userName":"a","{lifecycle}":{{"phase":"active"}}}}"#),
                0,
            ),
            // a string that merely mentions it is parsed, and counts nothing
            (
                r#"{"userName":"a","nickName":"\"active\":false"}"#.to_string(),
                0,
            ),
        ];
        for (after, n) in cases {
            assert_eq!(
                deprovisions(&user_event(active, Some(&after), "patch")),
                n,
                "{after}"
            );
        }
        assert_eq!(deprovisions(&user_event(active, None, "delete")), 1);
        let inactive = r#"{"userName":"a","active":false}"#;
        assert_eq!(
            deprovisions(&user_event(inactive, Some(inactive), "patch")),
            0
        );
        let group = |action: &str, after: &str| {
            let mut e = user_event(r#"{"displayName":"g"}"#, Some(after), action);
            e.resource_type = "Group".into();
            deprovisions(&e)
        };
        assert_eq!(
            group("patch", r#"{"displayName":"g","membersAdded":["u1"]}"#),
            0
        );
        assert_eq!(
            group(
                "patch",
                r#"{"displayName":"g","membersRemoved":["u1","u2"]}"#
            ),
            2
        );
        assert_eq!(group("members", r#"{"added":[{"value":"u1"}]}"#), 0);
        assert_eq!(group("members", r#"{"removed":[{"value":"u1"}]}"#), 1);
    }
}
