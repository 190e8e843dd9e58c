//! `GET /audit/v1/reports/orphans`: accounts still active although they should not be.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use store::audit::{Orphan, OrphanReason};

use super::export::{self, cell, Listing, Page};
use super::{limit, ts};
use crate::auth::{AuditRead, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// Query parameters of the orphans report.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrphanParams {
    cursor: Option<String>,
    limit: Option<String>,
}

const COLUMNS: &[&str] = &[
    "id",
    "userName",
    "reason",
    "endDate",
    "reactivatedAt",
    "reactivatedBy",
    "actorId",
    "requestId",
    "eventSeq",
    "deactivatedAt",
    "deactivatedBy",
];

/// Active users whose lifecycle `endDate` has passed, or that were re-activated after a
/// deactivation (with who did it, when, in which request).
pub async fn orphans(
    _auth: Auth<AuditRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<OrphanParams>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let limit = limit(q.limit.as_deref())?;
    // Roster's clock (the one the scheduler deactivates leavers by)
    let now = state.store.clock().now();
    let listing = Listing::new(
        move |c, cursor, limit| {
            let (found, next) = store::audit::orphans(c, now, cursor.unwrap_or_default(), limit)?;
            Ok(Page {
                items: found.iter().map(orphan_json).collect(),
                next,
            })
        },
        COLUMNS,
        rows,
    );
    export::respond(&req, &state.store, listing, q.cursor, limit).await
}

fn orphan_json(o: &Orphan) -> Value {
    let reasons: Vec<Value> = o
        .reasons
        .iter()
        .map(|r| match r {
            OrphanReason::EndDatePassed { end_date } => {
                json!({"reason": "endDatePassed", "endDate": end_date})
            }
            OrphanReason::Reactivated {
                version,
                reactivated_at,
                event_seq,
                event,
                deactivated_at,
                deactivated_by,
            } => json!({
                "reason": "reactivated",
                "version": version,
                "reactivatedAt": ts(*reactivated_at),
                // null when the event was pruned (`roster audit prune`)
                "reactivatedBy": event.as_ref().map(|e| &e.actor),
                "actorId": event.as_ref().and_then(|e| e.actor_id.as_ref()),
                "requestId": event.as_ref().and_then(|e| e.request_id.as_ref()),
                "eventSeq": event_seq,
                "deactivatedAt": ts(*deactivated_at),
                "deactivatedBy": deactivated_by,
            }),
        })
        .collect();
    json!({
        "id": o.user_id,
        "userName": o.user_name,
        "version": o.version,
        "reasons": reasons,
    })
}

fn rows(item: &Value) -> Vec<Vec<String>> {
    item["reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut row = vec![cell(item.get("id")), cell(item.get("userName"))];
            row.extend(COLUMNS[2..].iter().map(|c| cell(r.get(*c))));
            row
        })
        .collect()
}
