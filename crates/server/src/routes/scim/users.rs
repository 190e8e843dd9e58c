//! `/Users` handlers.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use scim::projection::{project, AttrSelection};
use scim::schema::{Registry, ResourceKind};
use serde_json::Value;
use tracing_actix_web::RequestId;

use super::render::{self, GroupRef};
use super::request::{self, GetQuery, ListQuery, ListRequest};
use crate::auth::{Auth, ScimRead, ScimWrite};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

const KIND: ResourceKind = ResourceKind::User;

/// Group memberships (direct and through nested groups) of each user id.
fn groups_of(
    c: &mut store::DbConn,
    ids: &[String],
) -> store::Result<HashMap<String, Vec<GroupRef>>> {
    let rows = store::members::groups_of_transitive(c, ids)?;
    let mut group_ids: Vec<String> = rows.iter().map(|(_, g, _)| g.clone()).collect();
    group_ids.sort();
    group_ids.dedup();
    let names: HashMap<String, String> = store::groups::display_names(c, &group_ids)?
        .into_iter()
        .collect();
    let mut out: HashMap<String, Vec<GroupRef>> = HashMap::new();
    for (user, group, direct) in rows {
        let display = names.get(&group).cloned().unwrap_or_default();
        out.entry(user).or_default().push(GroupRef {
            id: group,
            display,
            direct,
        });
    }
    Ok(out)
}

/// Loads one user with its groups if the selection returns them.
fn load(
    c: &mut store::DbConn,
    id: &str,
    with_groups: bool,
) -> store::Result<(store::StoredResource, Option<Vec<GroupRef>>)> {
    let user = store::users::get(c, id)?;
    let groups = if with_groups {
        Some(
            groups_of(c, std::slice::from_ref(&user.id))?
                .remove(&user.id)
                .unwrap_or_default(),
        )
    } else {
        None
    };
    Ok((user, groups))
}

fn body(
    user: &store::StoredResource,
    groups: Option<&[GroupRef]>,
    base: &str,
    sel: &AttrSelection,
) -> Value {
    project(
        &render::user(user, groups, base),
        sel,
        KIND,
        Registry::global(),
    )
}

/// `GET /Users/{id}`
pub async fn get(
    _auth: Auth<ScimRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<GetQuery>,
) -> Result<HttpResponse, ApiError> {
    let sel = q.selection(KIND)?;
    let with_groups = sel.wants("groups");
    let id = id.into_inner();
    let (user, groups) =
        db::run(&state.store, move |s| s.read(|c| load(c, &id, with_groups))).await?;
    if request::not_modified(&req, user.version) {
        return Ok(render::not_modified(user.version));
    }
    let base = request::base_url(&req, &state);
    let out = body(&user, groups.as_deref(), &base, &sel);
    Ok(render::resource(StatusCode::OK, &out, user.version))
}

/// Runs a list or search request over Users; returns the ListResponse body.
pub async fn run_list(state: &AppState, base: &str, lr: ListRequest) -> Result<Value, ApiError> {
    let with_groups = lr.selection.wants("groups");
    let (lr, total, page, cursors, groups) = db::run(&state.store, move |s| {
        s.read(|c| {
            let (total, page, cursors) = match lr.cursor.as_deref() {
                Some(cursor) => {
                    let p = store::listing::cursor_page(c, KIND, &lr.spec(), cursor)?;
                    (p.total, p.page, Some((p.next, p.previous)))
                }
                None => {
                    let (total, page) = store::users::list(c, &lr.spec())?;
                    (total, page, None)
                }
            };
            let groups = if with_groups {
                let ids: Vec<String> = page.iter().map(|u| u.id.clone()).collect();
                groups_of(c, &ids)?
            } else {
                HashMap::new()
            };
            Ok((lr, total, page, cursors, groups))
        })
    })
    .await?;
    let resources = page
        .iter()
        .map(|u| {
            let g = with_groups.then(|| groups.get(&u.id).map(Vec::as_slice).unwrap_or(&[]));
            body(u, g, base, &lr.selection)
        })
        .collect();
    let total = u64::try_from(total).unwrap_or_default();
    Ok(match cursors {
        Some((next, previous)) => request::cursor_list_response(total, resources, next, previous),
        None => scim::messages::list_response(total, lr.start, resources),
    })
}

/// `GET /Users?filter=…&startIndex=…&count=…&sortBy=…`
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

/// `POST /Users/.search` (RFC 7644 §3.4.3)
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

/// `POST /Users`
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
    let mut doc = scim::resource::validate(KIND, doc, Registry::global())?;
    let ctx = auth.principal.write_ctx(&request_id.to_string());
    let user = db::run(&state.store, move |s| {
        let hash = crate::password::take_and_hash(&mut doc)?;
        s.write(&ctx, |tx| {
            let user = store::users::create(tx, doc)?;
            if let Some(h) = &hash {
                store::users::set_password(tx, &user.id, h)?;
            }
            Ok(user)
        })
    })
    .await?;
    tracing::info!(user_id = %user.id, "user created");
    let base = request::base_url(&req, &state);
    let groups = sel.wants("groups").then_some(&[][..]);
    let out = body(&user, groups, &base, &sel);
    Ok(render::resource(StatusCode::CREATED, &out, user.version))
}

/// `PUT /Users/{id}`
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
    let mut doc = scim::resource::validate(KIND, doc, Registry::global())?;
    let ctx = auth.principal.write_ctx(&request_id.to_string());
    let id = id.into_inner();
    let with_groups = sel.wants("groups");
    let (user, groups) = db::run(&state.store, move |s| {
        let hash = crate::password::take_and_hash(&mut doc)?;
        let user = s.write(&ctx, |tx| {
            let user = store::users::replace(tx, &id, doc, if_match)?;
            if let Some(h) = &hash {
                store::users::set_password(tx, &user.id, h)?;
            }
            Ok(user)
        })?;
        s.read(|c| load(c, &user.id, with_groups))
    })
    .await?;
    tracing::info!(user_id = %user.id, version = user.version, "user replaced");
    let base = request::base_url(&req, &state);
    let out = body(&user, groups.as_deref(), &base, &sel);
    Ok(render::resource(StatusCode::OK, &out, user.version))
}

/// `PATCH /Users/{id}` (RFC 7644 §3.5.2): 200 with the resource.
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
    let with_groups = sel.wants("groups");
    let (user, groups) = db::run(&state.store, move |s| {
        let hash = crate::password::in_patch(&ops)
            .map(|p| crate::password::hash(&p))
            .transpose()?;
        let user = s.write(&ctx, |tx| {
            store::users::patch(tx, &id, &ops, if_match, hash.as_deref())
        })?;
        s.read(|c| load(c, &user.id, with_groups))
    })
    .await?;
    tracing::info!(user_id = %user.id, version = user.version, "user patched");
    let base = request::base_url(&req, &state);
    let out = body(&user, groups.as_deref(), &base, &sel);
    Ok(render::resource(StatusCode::OK, &out, user.version))
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
