//! `/Groups` handlers. Members are rows; `excludedAttributes=members` skips loading them.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use scim::schema::{Registry, ResourceKind};
use store::members::Member;
use tracing_actix_web::RequestId;

use super::render;
use super::request::{self, GetQuery, ListQuery};
use crate::auth::{Auth, ScimRead, ScimWrite};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /Groups/{id}`
pub async fn get(
    _auth: Auth<ScimRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<GetQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let with_members = !q.excludes("members");
    let (group, members) = db::run(&state.store, move |s| {
        s.read(|c| {
            let group = store::groups::get(c, &id)?;
            let members = if with_members {
                Some(store::members::of_group(c, &group.id)?)
            } else {
                None
            };
            Ok((group, members))
        })
    })
    .await?;
    if request::not_modified(&req, group.version) {
        return Ok(render::not_modified(group.version));
    }
    let base = request::base_url(&req, &state);
    let body = render::group(&group, members.as_deref(), &base);
    Ok(render::resource(StatusCode::OK, &body, group.version))
}

/// `GET /Groups?filter=…`
pub async fn list(
    _auth: Auth<ScimRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = request::filter(&q)?;
    let (sort_by, descending) = request::sorting(&q)?;
    let (start, count) = request::paging(&q);
    let with_members = !q.excludes("members");
    let (total, page, members) = db::run(&state.store, move |s| {
        s.read(|c| {
            let spec = store::ListSpec {
                filter: filter.as_ref(),
                sort_by: sort_by.as_ref(),
                descending,
                start,
                count,
            };
            let (total, page) = store::groups::list(c, &spec)?;
            let mut members: HashMap<String, Vec<Member>> = HashMap::new();
            if with_members {
                for g in &page {
                    members.insert(g.id.clone(), store::members::of_group(c, &g.id)?);
                }
            }
            Ok((total, page, members))
        })
    })
    .await?;
    let base = request::base_url(&req, &state);
    let resources = page
        .iter()
        .map(|g| {
            let m = with_members.then(|| members.get(&g.id).map(Vec::as_slice).unwrap_or(&[]));
            render::group(g, m, &base)
        })
        .collect();
    let total = u64::try_from(total).unwrap_or_default();
    Ok(render::ok(&scim::messages::list_response(
        total, start, resources,
    )))
}

/// `POST /Groups`
pub async fn create(
    auth: Auth<ScimWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    request_id: RequestId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let doc = request::json_body(&req, &state, payload).await?;
    let doc = scim::resource::validate(ResourceKind::Group, doc, Registry::builtin())?;
    let ctx = auth.principal.write_ctx(&request_id.to_string());
    let (group, members) = db::run(&state.store, move |s| {
        s.write(&ctx, |tx| store::groups::create(tx, doc))
    })
    .await?;
    tracing::info!(group_id = %group.id, members = members.len(), "group created");
    let base = request::base_url(&req, &state);
    let body = render::group(&group, Some(&members), &base);
    Ok(render::resource(StatusCode::CREATED, &body, group.version))
}

/// `PUT /Groups/{id}`: replaces attributes and the member list.
pub async fn replace(
    auth: Auth<ScimWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    request_id: RequestId,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let if_match = request::if_match(&req)?;
    let doc = request::json_body(&req, &state, payload).await?;
    let doc = scim::resource::validate(ResourceKind::Group, doc, Registry::builtin())?;
    let ctx = auth.principal.write_ctx(&request_id.to_string());
    let id = id.into_inner();
    let (group, members) = db::run(&state.store, move |s| {
        s.write(&ctx, |tx| store::groups::replace(tx, &id, doc, if_match))
    })
    .await?;
    tracing::info!(group_id = %group.id, version = group.version, "group replaced");
    let base = request::base_url(&req, &state);
    let body = render::group(&group, Some(&members), &base);
    Ok(render::resource(StatusCode::OK, &body, group.version))
}

/// `DELETE /Groups/{id}`: 204.
pub async fn delete(
    auth: Auth<ScimWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    request_id: RequestId,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let if_match = request::if_match(&req)?;
    let ctx = auth.principal.write_ctx(&request_id.to_string());
    let id = id.into_inner();
    let log_id = id.clone();
    db::run(&state.store, move |s| {
        s.write(&ctx, |tx| store::groups::delete(tx, &id, if_match))
    })
    .await?;
    tracing::info!(group_id = %log_id, "group deleted");
    Ok(HttpResponse::NoContent().finish())
}
