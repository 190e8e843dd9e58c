//! `/admin/v1/sod-policies` and `/admin/v1/sod-violations`: separation-of-duties policies and
//! the report of users who hold groups of a policy together (docs/governance.md).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use store::sod::{self, PolicyInput};

use super::access::object;
use super::{json_body, request_id};
use crate::auth::{Admin, Auth};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

fn invalid(detail: &str) -> ApiError {
    ApiError::Scim(scim::Error::invalid_value(detail.to_string()))
}

/// Reads `{"name", "groups": [id, …], "description"?}`.
fn input(body: &web::Bytes) -> Result<PolicyInput, ApiError> {
    let body = json_body(body)?;
    let obj = object(&body, &["name", "groups", "description"])?;
    let name = match obj.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(invalid("name: required, a string")),
    };
    let groups = match obj.get("groups") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| invalid("groups: must be an array of group ids (strings)"))?,
        _ => return Err(invalid("groups: required, an array of group ids")),
    };
    let description = match obj.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("description: must be a string")),
    };
    Ok(PolicyInput {
        name,
        description,
        groups,
    })
}

/// A policy with the number of users who hold two or more of its groups now.
fn with_count(p: &sod::Policy, violations: usize) -> Value {
    let mut v = sod::view(p);
    if let Some(o) = v.as_object_mut() {
        o.insert("currentViolations".into(), json!(violations));
    }
    v
}

/// `GET /admin/v1/sod-policies`: `{"totalResults", "items"}`, by name.
pub async fn list(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let policies = db::run(&state.store, |s| s.read(sod::list)).await?;
    let items: Vec<Value> = policies.iter().map(sod::view).collect();
    Ok(HttpResponse::Ok().json(json!({"totalResults": items.len(), "items": items})))
}

/// `POST /admin/v1/sod-policies` with `{"name", "groups", "description"?}`: `201` with the
/// policy and `currentViolations` (a policy that current memberships violate is allowed: see
/// the violations report).
pub async fn create(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = input(&body)?;
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let (p, n) = db::run(&state.store, move |s| {
        s.write(&ctx, |tx| {
            let p = sod::create(tx, &input)?;
            let n = sod::violations(tx.conn, Some(&p.id))?.len();
            Ok((p, n))
        })
    })
    .await?;
    tracing::info!(policy = %p.id, name = %p.name, current_violations = n, "SoD policy created");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/admin/v1/sod-policies/{}", p.id)))
        .json(with_count(&p, n)))
}

/// `GET /admin/v1/sod-policies/{id}`: the policy with `currentViolations`.
pub async fn get(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let (p, n) = db::run(&state.store, move |s| {
        s.read(|c| {
            let p = sod::get(c, &id)?;
            let n = sod::violations(c, Some(&id))?.len();
            Ok((p, n))
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(with_count(&p, n)))
}

/// `PUT /admin/v1/sod-policies/{id}` with `{"name", "groups", "description"?}`: `200`.
pub async fn replace(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let input = input(&body)?;
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let (p, n) = db::run(&state.store, move |s| {
        s.write(&ctx, |tx| {
            let p = sod::replace(tx, &id, &input)?;
            let n = sod::violations(tx.conn, Some(&id))?.len();
            Ok((p, n))
        })
    })
    .await?;
    tracing::info!(policy = %p.id, "SoD policy replaced");
    Ok(HttpResponse::Ok().json(with_count(&p, n)))
}

/// `DELETE /admin/v1/sod-policies/{id}`: `204`.
pub async fn delete(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let ctx = auth.principal.write_ctx(&request_id(&req));
    db::run(&state.store, move |s| {
        s.write(&ctx, |tx| sod::delete(tx, &id))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /admin/v1/sod-violations`: every user who holds two or more groups of a policy
/// (directly or through nested groups), with whether an exception was accepted.
pub async fn violations(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let found = db::run(&state.store, |s| s.read(|c| sod::violations(c, None))).await?;
    let items: Vec<Value> = found.iter().map(sod::violation_view).collect();
    Ok(HttpResponse::Ok().json(json!({"totalResults": items.len(), "items": items})))
}
