//! `GET /audit/v1/events` (the hash-chained log, filtered) and `GET /audit/v1/head`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use store::events::Event;

use super::export::{self, Format, Listing, Page};
use super::{instant, limit, ts};
use crate::auth::{AuditRead, Auth};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// Query parameters of `GET /events`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventParams {
    resource_type: Option<String>,
    resource_id: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
    /// `diff`: replace `before`/`after` by the top-level attributes that changed.
    view: Option<String>,
}

const COLUMNS: &[&str] = &[
    "seq",
    "time",
    "actor",
    "actorId",
    "requestId",
    "action",
    "resourceType",
    "resourceId",
    "version",
    "before",
    "after",
    "diff",
    "prevHash",
    "hash",
];

/// `GET /audit/v1/events?resourceType=&resourceId=&actor=&action=&since=&until=&cursor=&limit=`
pub async fn list(
    _auth: Auth<AuditRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<EventParams>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let diff = match q.view.as_deref() {
        None | Some("full") => false,
        Some("diff") => true,
        Some(other) => {
            return Err(scim::Error::invalid_value(format!(
                "view must be 'full' or 'diff', not '{other}'"
            ))
            .into())
        }
    };
    let mut query = store::audit::EventQuery {
        resource_type: q.resource_type,
        resource_id: q.resource_id,
        actor: q.actor,
        action: q.action,
        since: instant("since", q.since.as_deref())?,
        until: instant("until", q.until.as_deref())?,
        max_seq: None,
    };
    let cursor = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(parse_seq(c)?.to_string()),
    };
    let limit = limit(q.limit.as_deref())?;
    if Format::negotiate(&req) != Format::Json {
        // An export is a snapshot: it ends at the head as it was when it started.
        let (seq, _) = db::run(&state.store, |s| s.read(store::events::head)).await?;
        query.max_seq = Some(seq);
    }
    let listing = Listing::new(
        move |c, cursor, limit| {
            let after = cursor.and_then(|s| s.parse().ok()).unwrap_or(0);
            let rows = store::audit::events(c, &query, after, limit)?;
            let next = (rows.len() as i64 == limit)
                .then(|| rows.last().map(|e| e.seq.to_string()))
                .flatten();
            Ok(Page {
                items: rows.iter().map(|e| event_json(e, diff)).collect(),
                next,
            })
        },
        COLUMNS,
        |item| vec![export::flat(item, COLUMNS)],
    );
    export::respond(&req, &state.store, listing, cursor, limit).await
}

fn parse_seq(raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            scim::Error::invalid_value(format!(
                "cursor '{raw}' is not valid here; pass the nextCursor of the previous page"
            ))
            .into()
        })
}

/// A stored JSON document, parsed (kept as a string if it is not JSON).
fn doc(text: Option<&str>) -> Value {
    match text {
        None => Value::Null,
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string())),
    }
}

/// One event as the audit API shows it.
pub fn event_json(e: &Event, diff: bool) -> Value {
    let mut out = json!({
        "seq": e.seq,
        "time": ts(e.at),
        "actor": e.actor,
        "actorId": e.actor_id,
        "requestId": e.request_id,
        "action": e.action,
        "resourceType": e.resource_type,
        "resourceId": e.resource_id,
        "version": e.version,
    });
    let (before, after) = (doc(e.before.as_deref()), doc(e.after.as_deref()));
    if let Some(obj) = out.as_object_mut() {
        if diff {
            obj.insert("diff".into(), changes(&before, &after));
        } else {
            obj.insert("before".into(), before);
            obj.insert("after".into(), after);
        }
        obj.insert("prevHash".into(), Value::String(e.prev_hash.clone()));
        obj.insert("hash".into(), Value::String(e.hash.clone()));
    }
    out
}

/// Top-level attributes that differ between two documents, as `{attr: {before, after}}`.
fn changes(before: &Value, after: &Value) -> Value {
    let empty = Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut out = Map::new();
    for key in b.keys().chain(a.keys().filter(|k| !b.contains_key(*k))) {
        let (x, y) = (b.get(key), a.get(key));
        if x != y {
            out.insert(
                key.clone(),
                json!({"before": x.cloned().unwrap_or(Value::Null), "after": y.cloned().unwrap_or(Value::Null)}),
            );
        }
    }
    Value::Object(out)
}

/// `GET /audit/v1/head`: the last seq and hash, to record outside Roster and check later with
/// `roster audit verify --expect-head SEQ:HASH`.
pub async fn head(
    _auth: Auth<AuditRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (seq, hash, at) = db::run(&state.store, |s| {
        s.read(|c| {
            let (seq, hash) = store::events::head(c)?;
            let at = store::audit::event_time(c, seq)?;
            Ok((seq, hash, at))
        })
    })
    .await?;
    let body = json!({
        "seq": seq,
        "hash": hash,
        "time": at.map(ts),
        "expectHead": format!("{seq}:{hash}"),
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body.to_string()))
}
