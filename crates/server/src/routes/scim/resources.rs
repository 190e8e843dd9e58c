//! What `/Users` and `/Groups` share: reads, lists, searches and deletes are written once,
//! generic over [`Endpoint`]; the writes that differ (passwords, member rows) stay in
//! `users.rs` and `groups.rs`.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use scim::projection::{project_owned, AttrSelection};
use scim::schema::{Registry, ResourceKind};
use serde_json::Value;
use store::StoredResource;
use tracing_actix_web::RequestId;

use super::render;
use super::request::{self, GetQuery, ListQuery, ListRequest};
use crate::auth::{Auth, ScimRead, ScimWrite};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// One SCIM resource endpoint and the relation stored beside its rows (`User.groups`,
/// `Group.members`), loaded only when a response returns it.
pub trait Endpoint: 'static {
    /// The resource type.
    const KIND: ResourceKind;
    /// The attribute backed by membership rows (`groups` or `members`).
    const RELATION: &'static str;
    /// One entry of the relation (a group of a user, a member of a group).
    type Item: Send + 'static;

    /// Loads one resource.
    fn get(c: &mut store::DbConn, id: &str) -> store::Result<StoredResource>;
    /// One page by index.
    fn list(
        c: &mut store::DbConn,
        spec: &store::ListSpec<'_>,
    ) -> store::Result<(i64, Vec<StoredResource>)>;
    /// The relation of each resource of a page, by id (absent: none).
    fn related(
        c: &mut store::DbConn,
        ids: &[String],
    ) -> store::Result<HashMap<String, Vec<Self::Item>>>;
    /// Deletes one resource in the write transaction.
    fn delete(tx: &mut store::Tx<'_>, id: &str, if_match: Option<i64>) -> store::Result<()>;
    /// The full SCIM representation (before projection).
    fn render(r: &StoredResource, related: Option<&[Self::Item]>, base: &str) -> Value;
}

/// The projected representation.
pub fn body<E: Endpoint>(
    r: &StoredResource,
    related: Option<&[E::Item]>,
    base: &str,
    sel: &AttrSelection,
) -> Value {
    project_owned(
        E::render(r, related, base),
        sel,
        E::KIND,
        Registry::global(),
    )
}

/// Loads one resource with its relation when `with_related`.
pub fn load<E: Endpoint>(
    c: &mut store::DbConn,
    id: &str,
    with_related: bool,
) -> store::Result<(StoredResource, Option<Vec<E::Item>>)> {
    let r = E::get(c, id)?;
    with_related_of::<E>(c, r, with_related)
}

/// Adds the relation to a resource already in hand (e.g. the one a write returned).
pub fn with_related_of<E: Endpoint>(
    c: &mut store::DbConn,
    r: StoredResource,
    with_related: bool,
) -> store::Result<(StoredResource, Option<Vec<E::Item>>)> {
    let related = if with_related {
        Some(
            E::related(c, std::slice::from_ref(&r.id))?
                .remove(&r.id)
                .unwrap_or_default(),
        )
    } else {
        None
    };
    Ok((r, related))
}

/// `GET /{Users,Groups}/{id}`
pub async fn get<E: Endpoint>(
    _auth: Auth<ScimRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<GetQuery>,
) -> Result<HttpResponse, ApiError> {
    let sel = q.selection(E::KIND)?;
    let with_related = sel.wants(E::RELATION);
    let id = id.into_inner();
    let (r, related) = db::run(&state.store, move |s| {
        s.read(|c| load::<E>(c, &id, with_related))
    })
    .await?;
    if request::not_modified(&req, r.version) {
        return Ok(render::not_modified(r.version));
    }
    let base = request::base_url(&req, &state);
    let out = body::<E>(&r, related.as_deref(), &base, &sel);
    Ok(render::resource(StatusCode::OK, &out, r.version))
}

/// Runs a list or search request; returns the ListResponse body.
pub async fn run_list<E: Endpoint>(
    state: &AppState,
    base: &str,
    lr: ListRequest,
) -> Result<Value, ApiError> {
    let with_related = lr.selection.wants(E::RELATION);
    let (lr, total, page, cursors, related) = db::run(&state.store, move |s| {
        s.read(|c| {
            let (total, page, cursors) = match lr.cursor.as_deref() {
                Some(cursor) => {
                    let p = store::listing::cursor_page(c, E::KIND, &lr.spec(), cursor)?;
                    (p.total, p.page, Some((p.next, p.previous)))
                }
                None => {
                    let (total, page) = E::list(c, &lr.spec())?;
                    (total, page, None)
                }
            };
            let related = if with_related {
                let ids: Vec<String> = page.iter().map(|r| r.id.clone()).collect();
                E::related(c, &ids)?
            } else {
                HashMap::new()
            };
            Ok((lr, total, page, cursors, related))
        })
    })
    .await?;
    let resources = page
        .iter()
        .map(|r| {
            let rel = with_related.then(|| related.get(&r.id).map(Vec::as_slice).unwrap_or(&[]));
            body::<E>(r, rel, base, &lr.selection)
        })
        .collect();
    let total = u64::try_from(total).unwrap_or_default();
    Ok(match cursors {
        Some((next, previous)) => request::cursor_list_response(total, resources, next, previous),
        None => scim::messages::list_response(total, lr.start, resources),
    })
}

/// `GET /{Users,Groups}?filter=…&startIndex=…&count=…&sortBy=…&cursor=…`
pub async fn list<E: Endpoint>(
    _auth: Auth<ScimRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let lr = ListRequest::from_query(&q, E::KIND, &state.limits)?;
    let base = request::base_url(&req, &state);
    Ok(render::ok(&run_list::<E>(&state, &base, lr).await?))
}

/// `POST /{Users,Groups}/.search` (RFC 7644 §3.4.3)
pub async fn search<E: Endpoint>(
    _auth: Auth<ScimRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = request::json_body(&req, &state, payload).await?;
    let lr = ListRequest::from_search(body, E::KIND, &state.limits)?;
    let base = request::base_url(&req, &state);
    Ok(render::ok(&run_list::<E>(&state, &base, lr).await?))
}

/// `DELETE /{Users,Groups}/{id}`: 204; memberships of and in the resource end.
pub async fn delete<E: Endpoint>(
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
        s.write(&ctx, |tx| E::delete(tx, &id, if_match))
    })
    .await?;
    tracing::info!(resource_type = E::KIND.name(), id = %log_id, "resource deleted");
    Ok(HttpResponse::NoContent().finish())
}
