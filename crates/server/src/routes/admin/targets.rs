//! `/admin/v1/targets`: push targets (see docs/PUSH.md). Credentials go in, never come out.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{blocking, json_body, request_id};
use crate::auth::{Admin, Auth};
use crate::error::ApiError;
use crate::state::AppState;

fn ok(v: Value) -> HttpResponse {
    HttpResponse::Ok().json(v)
}

fn wake(state: &AppState) {
    if let Some(e) = &state.push {
        e.targets_changed();
    }
}

/// `POST /admin/v1/targets`
pub async fn create(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&body)?;
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let (store, key) = (state.store.clone(), state.secret_key.clone());
    let v = blocking(move || push::admin::create(&store, &key, &ctx, &body)).await?;
    wake(&state);
    let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/admin/v1/targets/{id}")))
        .json(v))
}

/// `GET /admin/v1/targets`
pub async fn list(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (store, key) = (state.store.clone(), state.secret_key.clone());
    let items = blocking(move || push::admin::list(&store, Some(&key))).await?;
    Ok(ok(json!({"totalResults": items.len(), "items": items})))
}

/// `GET /admin/v1/targets/{id}`
pub async fn get(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (store, key, id) = (
        state.store.clone(),
        state.secret_key.clone(),
        path.into_inner(),
    );
    Ok(ok(blocking(move || {
        push::admin::get(&store, Some(&key), &id)
    })
    .await?))
}

/// `PUT /admin/v1/targets/{id}`: the same body as create, credentials included.
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
    let v = blocking(move || push::admin::replace(&store, &key, &ctx, &id, &body)).await?;
    wake(&state);
    Ok(ok(v))
}

/// `DELETE /admin/v1/targets/{id}`
pub async fn delete(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let (store, id) = (state.store.clone(), path.into_inner());
    blocking(move || push::admin::delete(&store, &ctx, &id)).await?;
    wake(&state);
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /admin/v1/targets/{id}/status`
pub async fn status(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (store, id) = (state.store.clone(), path.into_inner());
    Ok(ok(blocking(move || push::admin::status(&store, &id)).await?))
}

/// Query of `GET …/log`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    cursor: Option<String>,
    count: Option<i64>,
}

/// `GET /admin/v1/targets/{id}/log?cursor=&count=`
pub async fn log(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<LogQuery>,
) -> Result<HttpResponse, ApiError> {
    let (store, id) = (state.store.clone(), path.into_inner());
    let q = q.into_inner();
    Ok(ok(blocking(move || {
        push::admin::log_page(&store, &id, q.cursor.as_deref(), q.count.unwrap_or(100))
    })
    .await?))
}

/// `GET /admin/v1/targets/{id}/failed`: items parked as failed, with the remote's error.
pub async fn failed(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (store, id) = (state.store.clone(), path.into_inner());
    let items = blocking(move || push::admin::failed_items(&store, &id, 1000)).await?;
    Ok(ok(json!({"items": items})))
}

/// `POST /admin/v1/targets/{id}/pause` with an optional `{"reason": "…"}`.
pub async fn pause(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let reason = if body.is_empty() {
        None
    } else {
        json_body(&body)?
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let reason = reason.unwrap_or_else(|| format!("paused by {}", auth.principal.name));
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let (store, id) = (state.store.clone(), path.into_inner());
    let v = blocking(move || push::admin::set_paused(&store, &ctx, &id, Some(&reason))).await?;
    Ok(ok(v))
}

/// `POST /admin/v1/targets/{id}/resume` (also lifts a quarantine).
pub async fn resume(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let (store, id) = (state.store.clone(), path.into_inner());
    let v = blocking(move || push::admin::set_paused(&store, &ctx, &id, None)).await?;
    wake(&state);
    Ok(ok(v))
}

/// `POST /admin/v1/targets/{id}/retry`: failed items are tried again now.
pub async fn retry(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let (store, id) = (state.store.clone(), path.into_inner());
    let n = blocking(move || push::admin::retry(&store, &ctx, &id)).await?;
    wake(&state);
    Ok(ok(json!({"requeued": n})))
}

async fn target_id(state: &AppState, id: String) -> Result<String, ApiError> {
    let store = state.store.clone();
    Ok(blocking(move || push::admin::row(&store, &id)).await?.id)
}

/// `POST /admin/v1/targets/{id}/reconcile`: runs now when this process pushes the target
/// (200 with the report); otherwise asks the replica that does (202).
pub async fn reconcile(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = target_id(&state, path.into_inner()).await?;
    let local = match &state.push {
        Some(engine) => match engine.reconcile(&id).await {
            Ok(report) => return Ok(ok(json!(report))),
            Err(push::Error::Busy(_)) | Err(push::Error::NotFound(_)) => false,
            Err(e) => return Err(e.into()),
        },
        None => false,
    };
    let _ = local;
    let store = state.store.clone();
    let tid = id.clone();
    blocking(move || push::admin::request_reconcile(&store, &tid)).await?;
    Ok(HttpResponse::Accepted().json(json!({
        "status": "requested",
        "detail": "the replica that pushes this target runs the reconciliation at its next turn; its report is in the audit log (action push.reconcile)",
    })))
}

/// `POST /admin/v1/targets/{id}/provision/Users/{userId}`: converges one user now and returns
/// every step with the remote's answers.
pub async fn provision(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, user) = path.into_inner();
    let id = target_id(&state, id).await?;
    let Some(engine) = &state.push else {
        return Err(ApiError::Scim(scim::Error::new(
            409,
            None,
            "the push engine is disabled in this process (ROSTER_PUSH_ENABLED=false)",
        )));
    };
    let report = engine.provision(&id, &user).await?;
    Ok(ok(json!(report)))
}
