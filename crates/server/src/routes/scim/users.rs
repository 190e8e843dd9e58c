//! `/Users` handlers.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use scim::projection::AttrSelection;
use scim::schema::{Registry, ResourceKind};
use serde_json::Value;
use tracing_actix_web::RequestId;

use super::render::{self, GroupRef};
use super::request::{self, GetQuery};
use super::resources::{self, Endpoint};
use crate::auth::{Auth, ScimWrite};
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

/// `/Users`: the relation is `groups` (direct and indirect).
pub struct UsersEndpoint;

impl Endpoint for UsersEndpoint {
    const KIND: ResourceKind = ResourceKind::User;
    const RELATION: &'static str = "groups";
    type Item = GroupRef;

    fn get(c: &mut store::DbConn, id: &str) -> store::Result<store::StoredResource> {
        store::users::get(c, id)
    }

    fn list(
        c: &mut store::DbConn,
        spec: &store::ListSpec<'_>,
    ) -> store::Result<(i64, Vec<store::StoredResource>)> {
        store::users::list(c, spec)
    }

    fn related(
        c: &mut store::DbConn,
        ids: &[String],
    ) -> store::Result<HashMap<String, Vec<GroupRef>>> {
        groups_of(c, ids)
    }

    fn delete(tx: &mut store::Tx<'_>, id: &str, if_match: Option<i64>) -> store::Result<()> {
        store::users::delete(tx, id, if_match)
    }

    fn render(r: &store::StoredResource, related: Option<&[GroupRef]>, base: &str) -> Value {
        render::user(r, related, base)
    }
}

fn body(
    user: &store::StoredResource,
    groups: Option<&[GroupRef]>,
    base: &str,
    sel: &AttrSelection,
) -> Value {
    resources::body::<UsersEndpoint>(user, groups, base, sel)
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
    let doc = request::resource_body(&req, &state, payload, state.max_body_bytes).await?;
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
    let doc = request::resource_body(&req, &state, payload, state.max_body_bytes).await?;
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
        s.read(|c| resources::with_related_of::<UsersEndpoint>(c, user, with_groups))
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
    let body_json = request::resource_body(&req, &state, payload, state.max_body_bytes).await?;
    let ops = scim::patch::parse_request(body_json)?;
    state.limits.check_patch(&ops)?;
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
        s.read(|c| resources::with_related_of::<UsersEndpoint>(c, user, with_groups))
    })
    .await?;
    tracing::info!(user_id = %user.id, version = user.version, "user patched");
    let base = request::base_url(&req, &state);
    let out = body(&user, groups.as_deref(), &base, &sel);
    Ok(render::resource(StatusCode::OK, &out, user.version))
}
