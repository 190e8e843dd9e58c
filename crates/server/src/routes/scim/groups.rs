//! `/Groups` handlers. Members are rows; they are loaded only when the response returns them
//! (`excludedAttributes=members` skips them, as Entra ID and Okta ask).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use scim::projection::{project, AttrSelection};
use scim::schema::{Registry, ResourceKind};
use serde_json::Value;
use store::members::Member;
use tracing_actix_web::RequestId;

use super::render;
use super::request::{self, GetQuery, ListQuery, ListRequest};
use crate::auth::{Auth, ScimRead, ScimWrite};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

const KIND: ResourceKind = ResourceKind::Group;

fn load(
    c: &mut store::DbConn,
    id: &str,
    with_members: bool,
) -> store::Result<(store::StoredResource, Option<Vec<Member>>)> {
    let group = store::groups::get(c, id)?;
    let members = if with_members {
        Some(store::members::of_group(c, &group.id)?)
    } else {
        None
    };
    Ok((group, members))
}

fn body(
    group: &store::StoredResource,
    members: Option<&[Member]>,
    base: &str,
    sel: &AttrSelection,
) -> Value {
    project(
        &render::group(group, members, base),
        sel,
        KIND,
        Registry::global(),
    )
}

/// `GET /Groups/{id}`
pub async fn get(
    _auth: Auth<ScimRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<GetQuery>,
) -> Result<HttpResponse, ApiError> {
    let sel = q.selection(KIND)?;
    let with_members = sel.wants("members");
    let id = id.into_inner();
    let (group, members) = db::run(&state.store, move |s| {
        s.read(|c| load(c, &id, with_members))
    })
    .await?;
    if request::not_modified(&req, group.version) {
        return Ok(render::not_modified(group.version));
    }
    let base = request::base_url(&req, &state);
    let out = body(&group, members.as_deref(), &base, &sel);
    Ok(render::resource(StatusCode::OK, &out, group.version))
}

/// Runs a list or search request over Groups; returns the ListResponse body.
pub async fn run_list(state: &AppState, base: &str, lr: ListRequest) -> Result<Value, ApiError> {
    let with_members = lr.selection.wants("members");
    let (lr, total, page, cursors, members) = db::run(&state.store, move |s| {
        s.read(|c| {
            let (total, page, cursors) = match lr.cursor.as_deref() {
                Some(cursor) => {
                    let p = store::listing::cursor_page(c, KIND, &lr.spec(), cursor)?;
                    (p.total, p.page, Some((p.next, p.previous)))
                }
                None => {
                    let (total, page) = store::groups::list(c, &lr.spec())?;
                    (total, page, None)
                }
            };
            let mut members: HashMap<String, Vec<Member>> = HashMap::new();
            if with_members {
                for g in &page {
                    members.insert(g.id.clone(), store::members::of_group(c, &g.id)?);
                }
            }
            Ok((lr, total, page, cursors, members))
        })
    })
    .await?;
    let resources = page
        .iter()
        .map(|g| {
            let m = with_members.then(|| members.get(&g.id).map(Vec::as_slice).unwrap_or(&[]));
            body(g, m, base, &lr.selection)
        })
        .collect();
    let total = u64::try_from(total).unwrap_or_default();
    Ok(match cursors {
        Some((next, previous)) => request::cursor_list_response(total, resources, next, previous),
        None => scim::messages::list_response(total, lr.start, resources),
    })
}

/// `GET /Groups?filter=…`
pub async fn list(
    _auth: Auth<ScimRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let lr = ListRequest::from_query(&q, KIND)?;
    let base = request::base_url(&req, &state);
    Ok(render::ok(&run_list(&state, &base, lr).await?))
}

/// `POST /Groups/.search` (RFC 7644 §3.4.3)
pub async fn search(
    _auth: Auth<ScimRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = request::json_body(&req, &state, payload).await?;
    let lr = ListRequest::from_search(body, KIND)?;
    let base = request::base_url(&req, &state);
    Ok(render::ok(&run_list(&state, &base, lr).await?))
}

/// `POST /Groups`
pub async fn create(
    auth: Auth<ScimWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    request_id: RequestId,
    q: web::Query<GetQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let sel = q.selection(KIND)?;
    let doc = request::json_body(&req, &state, payload).await?;
    let doc = scim::resource::validate(KIND, doc, Registry::global())?;
    let ctx = auth.principal.write_ctx(&request_id.to_string());
    let (group, members) = db::run(&state.store, move |s| {
        s.write(&ctx, |tx| store::groups::create(tx, doc))
    })
    .await?;
    tracing::info!(group_id = %group.id, members = members.len(), "group created");
    let base = request::base_url(&req, &state);
    let out = body(&group, Some(&members), &base, &sel);
    Ok(render::resource(StatusCode::CREATED, &out, group.version))
}

/// `PUT /Groups/{id}`: replaces attributes and the member list.
pub async fn replace(
    auth: Auth<ScimWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    request_id: RequestId,
    id: web::Path<String>,
    q: web::Query<GetQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let sel = q.selection(KIND)?;
    let if_match = request::if_match(&req)?;
    let doc = request::json_body(&req, &state, payload).await?;
    let doc = scim::resource::validate(KIND, doc, Registry::global())?;
    let ctx = auth.principal.write_ctx(&request_id.to_string());
    let id = id.into_inner();
    let (group, members) = db::run(&state.store, move |s| {
        s.write(&ctx, |tx| store::groups::replace(tx, &id, doc, if_match))
    })
    .await?;
    tracing::info!(group_id = %group.id, version = group.version, "group replaced");
    let base = request::base_url(&req, &state);
    let out = body(&group, Some(&members), &base, &sel);
    Ok(render::resource(StatusCode::OK, &out, group.version))
}

/// `PATCH /Groups/{id}` (RFC 7644 §3.5.2): 200 with the group; members are returned only
/// when asked for (`attributes=members`), so adding one member to a large group stays cheap.
pub async fn patch(
    auth: Auth<ScimWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    request_id: RequestId,
    id: web::Path<String>,
    q: web::Query<GetQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let sel = q.selection(KIND)?;
    let if_match = request::if_match(&req)?;
    let body_json = request::json_body(&req, &state, payload).await?;
    let ops = scim::patch::parse_request(body_json)?;
    let ctx = auth.principal.write_ctx(&request_id.to_string());
    let id = id.into_inner();
    let with_members = sel.wants("members");
    let (group, members) = db::run(&state.store, move |s| {
        let group = s.write(&ctx, |tx| store::groups::patch(tx, &id, &ops, if_match))?;
        s.read(|c| load(c, &group.id, with_members))
    })
    .await?;
    tracing::info!(group_id = %group.id, version = group.version, "group patched");
    let base = request::base_url(&req, &state);
    let out = body(&group, members.as_deref(), &base, &sel);
    Ok(render::resource(StatusCode::OK, &out, group.version))
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
