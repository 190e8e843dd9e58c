//! `/Groups` handlers. Members are rows; they are loaded only when the response returns them
//! (`excludedAttributes=members` skips them, as Entra ID and Okta ask).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use scim::projection::AttrSelection;
use scim::schema::{Registry, ResourceKind};
use serde_json::Value;
use store::members::Member;
use tracing_actix_web::RequestId;

use super::render;
use super::request::{self, GetQuery};
use super::resources::{self, Endpoint};
use crate::auth::{Auth, ScimWrite};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

const KIND: ResourceKind = ResourceKind::Group;

/// `/Groups`: the relation is `members` (rows in `group_members`).
pub struct GroupsEndpoint;

impl Endpoint for GroupsEndpoint {
    const KIND: ResourceKind = ResourceKind::Group;
    const RELATION: &'static str = "members";
    type Item = Member;

    fn get(c: &mut store::DbConn, id: &str) -> store::Result<store::StoredResource> {
        store::groups::get(c, id)
    }

    fn list(
        c: &mut store::DbConn,
        spec: &store::ListSpec<'_>,
    ) -> store::Result<(i64, Vec<store::StoredResource>)> {
        store::groups::list(c, spec)
    }

    fn related(
        c: &mut store::DbConn,
        ids: &[String],
    ) -> store::Result<HashMap<String, Vec<Member>>> {
        match ids {
            // one group (GET /Groups/{id}): the single-id query stays cacheable
            [one] => Ok(HashMap::from([(
                one.clone(),
                store::members::of_group(c, one)?,
            )])),
            // a page of groups: one query for all their members, not one per group
            _ => store::members::of_groups(c, ids),
        }
    }

    fn delete(tx: &mut store::Tx<'_>, id: &str, if_match: Option<i64>) -> store::Result<()> {
        store::groups::delete(tx, id, if_match)
    }

    fn render(r: &store::StoredResource, related: Option<&[Member]>, base: &str) -> Value {
        render::group(r, related, base)
    }
}

fn body(
    group: &store::StoredResource,
    members: Option<&[Member]>,
    base: &str,
    sel: &AttrSelection,
) -> Value {
    resources::body::<GroupsEndpoint>(group, members, base, sel)
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
    let doc = request::resource_body(&req, &state, payload, state.max_body_bytes).await?;
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
    let doc = request::resource_body(&req, &state, payload, state.max_body_bytes).await?;
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
    let body_json = request::resource_body(&req, &state, payload, state.max_body_bytes).await?;
    let ops = scim::patch::parse_request(body_json)?;
    state.limits.check_patch(&ops)?;
    let ctx = auth.principal.write_ctx(&request_id.to_string());
    let id = id.into_inner();
    let with_members = sel.wants("members");
    let (group, members) = db::run(&state.store, move |s| {
        let group = s.write(&ctx, |tx| store::groups::patch(tx, &id, &ops, if_match))?;
        s.read(|c| resources::with_related_of::<GroupsEndpoint>(c, group, with_members))
    })
    .await?;
    tracing::info!(group_id = %group.id, version = group.version, "group patched");
    let base = request::base_url(&req, &state);
    let out = body(&group, members.as_deref(), &base, &sel);
    Ok(render::resource(StatusCode::OK, &out, group.version))
}
