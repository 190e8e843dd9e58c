//! `/Users` handlers.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use scim::schema::{Registry, ResourceKind};
use tracing_actix_web::RequestId;

use super::render;
use super::request::{self, GetQuery, ListQuery};
use crate::auth::{Auth, ScimRead, ScimWrite};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

type Groups = Vec<(String, String)>;

/// Direct group memberships (`(group id, displayName)`) of each user id.
fn groups_of(c: &mut store::DbConn, ids: &[String]) -> store::Result<HashMap<String, Groups>> {
    let pairs = store::members::groups_of(c, ids)?;
    let mut group_ids: Vec<String> = pairs.iter().map(|(_, g)| g.clone()).collect();
    group_ids.sort();
    group_ids.dedup();
    let names: HashMap<String, String> = store::groups::display_names(c, &group_ids)?
        .into_iter()
        .collect();
    let mut out: HashMap<String, Groups> = HashMap::new();
    for (user, group) in pairs {
        let name = names.get(&group).cloned().unwrap_or_default();
        out.entry(user).or_default().push((group, name));
    }
    Ok(out)
}

/// `GET /Users/{id}`
pub async fn get(
    _auth: Auth<ScimRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<GetQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let with_groups = !q.excludes("groups");
    let (user, groups) = db::run(&state.store, move |s| {
        s.read(|c| {
            let user = store::users::get(c, &id)?;
            let groups = if with_groups {
                groups_of(c, std::slice::from_ref(&user.id))?.remove(&user.id)
            } else {
                None
            };
            Ok((user, groups))
        })
    })
    .await?;
    if request::not_modified(&req, user.version) {
        return Ok(render::not_modified(user.version));
    }
    let base = request::base_url(&req, &state);
    let body = render::user(&user, groups.as_deref(), &base);
    Ok(render::resource(StatusCode::OK, &body, user.version))
}

/// `GET /Users?filter=…&startIndex=…&count=…`
pub async fn list(
    _auth: Auth<ScimRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = request::filter(&q)?;
    let (sort_by, descending) = request::sorting(&q)?;
    let (start, count) = request::paging(&q);
    let with_groups = !q.excludes("groups");
    let (total, page, groups) = db::run(&state.store, move |s| {
        s.read(|c| {
            let spec = store::ListSpec {
                filter: filter.as_ref(),
                sort_by: sort_by.as_ref(),
                descending,
                start,
                count,
            };
            let (total, page) = store::users::list(c, &spec)?;
            let groups = if with_groups {
                let ids: Vec<String> = page.iter().map(|u| u.id.clone()).collect();
                groups_of(c, &ids)?
            } else {
                HashMap::new()
            };
            Ok((total, page, groups))
        })
    })
    .await?;
    let base = request::base_url(&req, &state);
    let resources = page
        .iter()
        .map(|u| render::user(u, groups.get(&u.id).map(Vec::as_slice), &base))
        .collect();
    let total = u64::try_from(total).unwrap_or_default();
    Ok(render::ok(&scim::messages::list_response(
        total, start, resources,
    )))
}

/// `POST /Users`
pub async fn create(
    auth: Auth<ScimWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    request_id: RequestId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let doc = request::json_body(&req, &state, payload).await?;
    let doc = scim::resource::validate(ResourceKind::User, doc, Registry::builtin())?;
    let ctx = auth.principal.write_ctx(&request_id.to_string());
    let user = db::run(&state.store, move |s| {
        s.write(&ctx, |tx| store::users::create(tx, doc))
    })
    .await?;
    tracing::info!(user_id = %user.id, "user created");
    let base = request::base_url(&req, &state);
    let body = render::user(&user, None, &base);
    Ok(render::resource(StatusCode::CREATED, &body, user.version))
}

/// `PUT /Users/{id}`
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
    let doc = scim::resource::validate(ResourceKind::User, doc, Registry::builtin())?;
    let ctx = auth.principal.write_ctx(&request_id.to_string());
    let id = id.into_inner();
    let (user, groups) = db::run(&state.store, move |s| {
        let user = s.write(&ctx, |tx| store::users::replace(tx, &id, doc, if_match))?;
        let groups = s.read(|c| groups_of(c, std::slice::from_ref(&user.id)))?;
        Ok((user, groups))
    })
    .await?;
    tracing::info!(user_id = %user.id, version = user.version, "user replaced");
    let base = request::base_url(&req, &state);
    let body = render::user(&user, groups.get(&user.id).map(Vec::as_slice), &base);
    Ok(render::resource(StatusCode::OK, &body, user.version))
}

/// `DELETE /Users/{id}`: 204; the user's memberships end.
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
        s.write(&ctx, |tx| store::users::delete(tx, &id, if_match))
    })
    .await?;
    tracing::info!(user_id = %log_id, "user deleted");
    Ok(HttpResponse::NoContent().finish())
}
