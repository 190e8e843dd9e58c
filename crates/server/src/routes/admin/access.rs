//! `/admin/v1/access-requests`: requests to join groups that require approval
//! (docs/governance.md). Read with `admin` or `approve`; decided with `approve`.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{NaiveDateTime, SubsecRound};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use store::access_requests::{self, Request, Until};

use super::{json_body, request_id};
use crate::auth::{AdminOrApprove, Approve, Auth};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// Longest accepted `reason`, in characters.
const MAX_REASON: usize = 1000;
/// Largest page of a listing.
const MAX_COUNT: i64 = 1000;

/// The API view of a request: the stored view plus `decideBy`, when a pending request expires
/// (the configured time to live after it was made).
fn view(state: &AppState, r: &Request) -> Value {
    let mut v = access_requests::view(r);
    let by = (r.status == access_requests::PENDING)
        .then(|| store::events::format_ts(r.requested + state.scheduler.access_request_ttl()));
    if let Some(o) = v.as_object_mut() {
        o.insert("decideBy".into(), json!(by));
    }
    v
}

fn invalid(detail: impl Into<std::borrow::Cow<'static, str>>) -> ApiError {
    ApiError::Scim(scim::Error::invalid_value(detail))
}

/// `?status=&startIndex=&count=`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListQuery {
    status: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
}

/// `GET /admin/v1/access-requests?status=pending|approved|denied|expired|withdrawn&startIndex=&count=`:
/// newest first, `{"totalResults", "startIndex", "itemsPerPage", "items"}`.
pub async fn list(
    _auth: Auth<AdminOrApprove>,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    if let Some(s) = &q.status {
        if !access_requests::STATUSES.contains(&s.as_str()) {
            return Err(invalid(format!(
                "status: must be one of {}",
                access_requests::STATUSES.join(", ")
            )));
        }
    }
    let start = q.start_index.unwrap_or(1);
    if start < 1 {
        return Err(invalid("startIndex: must be 1 or more"));
    }
    let count = q.count.unwrap_or(100);
    if !(0..=MAX_COUNT).contains(&count) {
        return Err(invalid(format!("count: must be from 0 to {MAX_COUNT}")));
    }
    let status = q.status.clone();
    let (total, rows) = db::run(&state.store, move |s| {
        s.read(|c| access_requests::list(c, status.as_deref(), start - 1, count))
    })
    .await?;
    let items: Vec<Value> = rows.iter().map(|r| view(&state, r)).collect();
    Ok(HttpResponse::Ok().json(json!({
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": items.len(),
        "items": items,
    })))
}

/// `GET /admin/v1/access-requests/{id}`
pub async fn get(
    _auth: Auth<AdminOrApprove>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let r = db::run(&state.store, move |s| {
        s.read(|c| access_requests::get(c, &id))
    })
    .await?;
    Ok(HttpResponse::Ok().json(view(&state, &r)))
}

/// A decision body: `{"reason", "expiresAt"?, "durationDays"?}` (the end only when approving).
struct Decision {
    reason: String,
    until: Until,
}

/// Reads an RFC 3339 instant (`field` names it in errors) as UTC, to the microsecond.
pub(crate) fn instant(field: &str, v: &Value) -> Result<NaiveDateTime, ApiError> {
    v.as_str()
        .and_then(scim::meta::parse_datetime)
        .map(|t| t.naive_utc().trunc_subsecs(6))
        .ok_or_else(|| {
            invalid(format!(
                "{field}: must be an RFC 3339 dateTime such as \"2027-01-31T18:00:00Z\""
            ))
        })
}

/// Reads how long granted access lasts from `expiresAt` or `durationDays` (at most one).
pub(crate) fn until(body: &Map<String, Value>) -> Result<Until, ApiError> {
    match (body.get("expiresAt"), body.get("durationDays")) {
        (Some(_), Some(_)) => Err(invalid("give either expiresAt or durationDays, not both")),
        (Some(t), None) => Ok(Until::At(instant("expiresAt", t)?)),
        (None, Some(d)) => match d.as_i64() {
            Some(n) if (1..=scim::governance::MAX_DURATION_DAYS).contains(&n) => Ok(Until::Days(n)),
            _ => Err(invalid(format!(
                "durationDays: must be a whole number of days from 1 to {}",
                scim::governance::MAX_DURATION_DAYS
            ))),
        },
        (None, None) => Ok(Until::Open),
    }
}

/// The body as an object whose keys are all in `allowed`.
pub(crate) fn object<'a>(
    body: &'a Value,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("the body must be a JSON object"))?;
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(format!(
            "{k}: unknown field (expected {})",
            allowed.join(", ")
        )));
    }
    Ok(obj)
}

/// Reads an optional free-text `reason` (1 to 1000 characters).
pub(crate) fn reason(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.get("reason") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= MAX_REASON => {
            Ok(Some(s.trim().to_string()))
        }
        Some(_) => Err(invalid(format!(
            "reason: must be a string of 1 to {MAX_REASON} characters"
        ))),
    }
}

fn decision(body: &web::Bytes, approving: bool) -> Result<Decision, ApiError> {
    let body = json_body(body)?;
    let allowed: &[&str] = if approving {
        &["reason", "expiresAt", "durationDays"]
    } else {
        &["reason"]
    };
    let obj = object(&body, allowed)?;
    let reason = reason(obj)?.ok_or_else(|| invalid("reason: required"))?;
    Ok(Decision {
        reason,
        until: until(obj)?,
    })
}

/// `POST /admin/v1/access-requests/{id}/approve` with `{"reason", "expiresAt"?,
/// "durationDays"?}`: `200` with the request; the membership is granted.
pub async fn approve(
    auth: Auth<Approve>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let d = decision(&body, true)?;
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let id = path.into_inner();
    let r = db::run(&state.store, move |s| {
        s.write(&ctx, |tx| {
            access_requests::approve(tx, &id, &d.reason, d.until)
        })
    })
    .await?;
    tracing::info!(request = %r.id, group_id = %r.group_id, member = %r.member_id, "access request approved");
    Ok(HttpResponse::Ok().json(view(&state, &r)))
}

/// `POST /admin/v1/access-requests/{id}/deny` with `{"reason"}`: `200` with the request.
pub async fn deny(
    auth: Auth<Approve>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let d = decision(&body, false)?;
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let id = path.into_inner();
    let r = db::run(&state.store, move |s| {
        s.write(&ctx, |tx| access_requests::deny(tx, &id, &d.reason))
    })
    .await?;
    tracing::info!(request = %r.id, group_id = %r.group_id, member = %r.member_id, "access request denied");
    Ok(HttpResponse::Ok().json(view(&state, &r)))
}
