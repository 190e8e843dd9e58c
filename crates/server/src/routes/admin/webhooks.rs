//! `/admin/v1/webhooks`: webhook subscriptions and their deliveries (see docs/governance.md).
//! The signing secret goes in, never comes out.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{blocking, json_body, request_id};
use crate::auth::{Admin, Auth};
use crate::error::ApiError;
use crate::state::AppState;

fn wake(state: &AppState) {
    if let Some(h) = &state.hooks {
        h.wake();
    }
}

/// `POST /admin/v1/webhooks`
pub async fn create(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&body)?;
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let (store, key) = (state.store.clone(), state.secret_key.clone());
    let v = blocking(move || hooks::admin::create(&store, &key, &ctx, &body)).await?;
    wake(&state);
    let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/admin/v1/webhooks/{id}")))
        .json(v))
}

/// `GET /admin/v1/webhooks`
pub async fn list(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let items = blocking(move || hooks::admin::list(&store)).await?;
    Ok(HttpResponse::Ok().json(json!({"totalResults": items.len(), "items": items})))
}

/// `GET /admin/v1/webhooks/{id}`
pub async fn get(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(HttpResponse::Ok().json(blocking(move || hooks::admin::get(&store, &id)).await?))
}

/// `PUT /admin/v1/webhooks/{id}`: the same body as create; without `secret` the stored one
/// stays.
pub async fn replace(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&body)?;
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let (store, key, id) = (
        state.store.clone(),
        state.secret_key.clone(),
        path.into_inner(),
    );
    let v = blocking(move || hooks::admin::replace(&store, &key, &ctx, &id, &body)).await?;
    wake(&state);
    Ok(HttpResponse::Ok().json(v))
}

/// `DELETE /admin/v1/webhooks/{id}`: the webhook and its deliveries.
pub async fn delete(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let (store, id) = (state.store.clone(), path.into_inner());
    blocking(move || hooks::admin::delete(&store, &ctx, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Query of `GET …/deliveries`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    status: Option<String>,
    before: Option<i64>,
    count: Option<i64>,
}

/// `GET /admin/v1/webhooks/{id}/deliveries?status=&before=&count=`: newest first.
pub async fn deliveries(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let (store, id, q) = (state.store.clone(), path.into_inner(), q.into_inner());
    let v = blocking(move || {
        hooks::admin::deliveries(
            &store,
            &id,
            q.status.as_deref(),
            q.before,
            q.count.unwrap_or(100),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(v))
}

/// `POST /admin/v1/webhooks/{id}/deliveries/{delivery_id}/retry`: pending again, due now.
pub async fn retry(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let (id, did) = path.into_inner();
    let store = state.store.clone();
    let v = blocking(move || hooks::admin::retry(&store, &ctx, &id, &did)).await?;
    wake(&state);
    Ok(HttpResponse::Ok().json(v))
}
