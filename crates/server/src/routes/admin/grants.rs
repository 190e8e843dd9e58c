//! `/admin/v1/groups/{id}/members`: an admin grants a membership, with an end if wanted, or
//! takes one away (docs/governance.md). No approval is needed: the admin decides.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use scim::resource::{MemberKind, MemberRef};
use serde_json::{json, Value};
use store::events::format_ts;
use store::members::Membership;

use super::access::{object, reason, until};
use super::{json_body, request_id};
use crate::auth::{Admin, Auth};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

fn view(m: &Membership) -> Value {
    json!({
        "groupId": m.group_id,
        "memberId": m.member_id,
        "memberType": m.member_type,
        "source": m.source,
        "added": format_ts(m.added),
        "expiresAt": m.expires_at.map(format_ts),
    })
}

fn invalid(detail: String) -> ApiError {
    ApiError::Scim(scim::Error::invalid_value(detail))
}

fn group_not_found(id: &str) -> impl FnOnce(ApiError) -> ApiError + '_ {
    move |e| match e {
        ApiError::Store(store::Error::NotFound) => {
            ApiError::Scim(scim::Error::not_found(format!("group {id} not found")))
        }
        other => other,
    }
}

/// `POST /admin/v1/groups/{id}/members` with `{"value", "type"?, "expiresAt"?, "durationDays"?,
/// "reason"?}`: `201` with the new membership, or `200` when an existing membership got the
/// end given (none: no end, unless the group's `maxDurationDays` sets one).
pub async fn grant(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&body)?;
    let obj = object(
        &body,
        &["value", "type", "expiresAt", "durationDays", "reason"],
    )?;
    let value = match obj.get("value") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(invalid("value: required, the id of a User or Group".into())),
    };
    let kind = match obj.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("User") => Some(MemberKind::User),
        Some(Value::String(t)) if t.eq_ignore_ascii_case("Group") => Some(MemberKind::Group),
        Some(_) => return Err(invalid("type: must be \"User\" or \"Group\"".into())),
    };
    let until = until(obj)?;
    let reason = reason(obj)?;
    let member = MemberRef { value, kind };
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let group_id = path.into_inner();
    let gid = group_id.clone();
    let granted = db::run(&state.store, move |s| {
        s.write(&ctx, |tx| {
            store::governance::grant(tx, &gid, &member, until, reason.as_deref())
        })
    })
    .await
    .map_err(group_not_found(&group_id))?;
    let m = &granted.membership;
    tracing::info!(group_id = %m.group_id, member = %m.member_id, created = granted.created, "membership granted by an admin");
    let mut res = if granted.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(res
        .insert_header((
            header::LOCATION,
            format!("/admin/v1/groups/{}/members/{}", m.group_id, m.member_id),
        ))
        .json(view(m)))
}

/// `DELETE /admin/v1/groups/{id}/members/{memberId}`: `204`; `404` if it is not a member,
/// `409` if a rule grants the membership (change the rule instead).
pub async fn revoke(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (group_id, member_id) = path.into_inner();
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let (gid, mid) = (group_id.clone(), member_id.clone());
    db::run(&state.store, move |s| {
        s.write(&ctx, |tx| store::governance::revoke(tx, &gid, &mid))
    })
    .await
    .map_err(|e| match e {
        ApiError::Store(store::Error::NotFound) => ApiError::Scim(scim::Error::not_found(format!(
            "{member_id} is not a member of group {group_id}"
        ))),
        other => other,
    })?;
    tracing::info!(group_id = %group_id, member = %member_id, "membership revoked by an admin");
    Ok(HttpResponse::NoContent().finish())
}
