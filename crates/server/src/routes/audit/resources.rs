//! A resource as it was at an instant, and every version of it with who made it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::TimeDelta;
use serde::Deserialize;
use serde_json::{json, Value};
use store::audit::AtLookup;
use store::members::Member;
use store::resource::ResourceType;
use store::StoredResource;

use super::export::{self, Listing, Page};
use super::{check_not_pruned, instant, limit, never_existed_since, not_at, ts};
use crate::auth::{AuditRead, Auth};
use crate::db;
use crate::error::ApiError;
use crate::routes::scim::render::{self, GroupRef};
use crate::routes::scim::request;
use crate::state::AppState;

/// Query parameters of `GET /Users/{id}` and `GET /Groups/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtParams {
    /// The instant (default: now).
    at: Option<String>,
}

/// Query parameters of `…/versions`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    cursor: Option<String>,
    limit: Option<String>,
    /// Only versions still valid at or after this instant.
    since: Option<String>,
    /// Only versions that began before this instant.
    until: Option<String>,
}

fn at_or_now(q: &AtParams) -> Result<chrono::NaiveDateTime, ApiError> {
    Ok(instant("at", q.at.as_deref())?.unwrap_or_else(store::write::now))
}

/// Reads resource `id` of `rtype` as it was at `at`, plus what `related` loads for it then,
/// in one read: refuses instants before a prune cut and answers why nothing was found.
async fn resource_at<T: Send + 'static>(
    state: &AppState,
    rtype: ResourceType,
    id: String,
    at: chrono::NaiveDateTime,
    related: fn(&mut store::DbConn, &str, chrono::NaiveDateTime) -> store::Result<Vec<T>>,
) -> Result<(StoredResource, Vec<T>), ApiError> {
    let lookup_id = id.clone();
    let (anchor, found, items) = db::run(&state.store, move |s| {
        s.read(|c| {
            let anchor = store::events::anchor(c)?;
            if anchor.pruned_before.is_some_and(|cut| at < cut) {
                return Ok((anchor, AtLookup::NeverExisted, Vec::new()));
            }
            let found = store::audit::resource_at(c, rtype, &lookup_id, at)?;
            if !matches!(found, AtLookup::Found(_)) {
                return Ok((anchor, found, Vec::new()));
            }
            let items = related(c, &lookup_id, at)?;
            Ok((anchor, found, items))
        })
    })
    .await?;
    check_not_pruned("at", Some(at), &anchor)?;
    match found {
        AtLookup::Found(r) => Ok((r, items)),
        other => Err(not_at(rtype.as_str(), &id, at, &other, &anchor)),
    }
}

/// Direct and (through nested groups) indirect memberships of a user at `at`, like the live
/// view, with the group names of that instant.
fn groups_at(
    c: &mut store::DbConn,
    id: &str,
    at: chrono::NaiveDateTime,
) -> store::Result<Vec<GroupRef>> {
    let paths = store::audit::groups_of_member(c, id, Some(at), at + TimeDelta::microseconds(1))?;
    let by_group = store::audit::by_group(paths);
    let ids: Vec<String> = by_group.keys().cloned().collect();
    let names = store::audit::names_at(c, &ids, at)?;
    Ok(by_group
        .into_iter()
        .map(|(id, paths)| GroupRef {
            display: names.get(&id).cloned().unwrap_or_default(),
            direct: paths.iter().any(|p| p.depth == 0),
            id,
        })
        .collect())
}

/// Every member of a group at `at`, read page by page.
fn members_at(
    c: &mut store::DbConn,
    id: &str,
    at: chrono::NaiveDateTime,
) -> store::Result<Vec<Member>> {
    let mut members = Vec::new();
    let mut after = String::new();
    loop {
        let page = store::audit::members_at(c, id, at, &after, 1000)?;
        let Some(last) = page.last() else { break };
        after = last.member_id.clone();
        members.extend(page.into_iter().map(|p| Member {
            id: p.member_id,
            member_type: p.member_type,
        }));
    }
    Ok(members)
}

/// `GET /audit/v1/Users/{id}?at=T`: the User exactly as it was at `T`, with the groups it
/// belonged to then (directly, or indirectly through nested groups).
pub async fn user_at(
    _auth: Auth<AuditRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<AtParams>,
) -> Result<HttpResponse, ApiError> {
    let at = at_or_now(&q)?;
    let (user, groups) =
        resource_at(&state, ResourceType::User, id.into_inner(), at, groups_at).await?;
    let base = request::base_url(&req, &state);
    let body = render::user(&user, Some(&groups), &base);
    Ok(render::resource(StatusCode::OK, &body, user.version))
}

/// `GET /audit/v1/Groups/{id}?at=T`: the Group exactly as it was at `T`, with its members then.
pub async fn group_at(
    _auth: Auth<AuditRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<AtParams>,
) -> Result<HttpResponse, ApiError> {
    let at = at_or_now(&q)?;
    let (group, members) =
        resource_at(&state, ResourceType::Group, id.into_inner(), at, members_at).await?;
    let base = request::base_url(&req, &state);
    let body = render::group(&group, Some(&members), &base);
    Ok(render::resource(StatusCode::OK, &body, group.version))
}

/// `GET /audit/v1/Users/{id}/versions`
pub async fn user_versions(
    auth: Auth<AuditRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    versions(
        auth,
        state,
        req,
        id.into_inner(),
        q.into_inner(),
        ResourceType::User,
    )
    .await
}

/// `GET /audit/v1/Groups/{id}/versions`
pub async fn group_versions(
    auth: Auth<AuditRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    q: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    versions(
        auth,
        state,
        req,
        id.into_inner(),
        q.into_inner(),
        ResourceType::Group,
    )
    .await
}

const COLUMNS: &[&str] = &[
    "version",
    "validFrom",
    "validTo",
    "eventSeq",
    "action",
    "actor",
    "actorId",
    "requestId",
    "resource",
];

/// Every version of a resource with its span and the actor who made it (members of a group
/// are not repeated here: see `Groups/{id}/members?at=`); `since`/`until` keep the versions
/// valid at some moment of `[since, until)`.
async fn versions(
    _auth: Auth<AuditRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: String,
    q: PageParams,
    rtype: ResourceType,
) -> Result<HttpResponse, ApiError> {
    let limit = limit(q.limit.as_deref())?;
    let since = instant("since", q.since.as_deref())?;
    let until = instant("until", q.until.as_deref())?;
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err(scim::Error::invalid_value("since must be before until").into());
        }
    }
    let cursor = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            c.trim()
                .parse::<i64>()
                .map_err(|_| {
                    scim::Error::invalid_value(format!(
                        "cursor '{c}' is not valid here; pass the nextCursor of the previous page"
                    ))
                })?
                .to_string(),
        ),
    };
    let lookup_id = id.clone();
    let (anchor, created) = db::run(&state.store, move |s| {
        s.read(|c| {
            Ok((
                store::events::anchor(c)?,
                store::audit::created(c, rtype, &lookup_id)?,
            ))
        })
    })
    .await?;
    let Some(created) = created else {
        return Err(never_existed_since(rtype.as_str(), &id, &anchor));
    };
    let base = request::base_url(&req, &state);
    let listing = Listing::new(
        move |c, cursor, limit| {
            let after = cursor.and_then(|s| s.parse().ok()).unwrap_or(0);
            let rows = store::audit::versions(c, rtype, &id, (since, until), after, limit)?;
            let next = (rows.len() as i64 == limit)
                .then(|| rows.last().map(|v| v.version.to_string()))
                .flatten();
            let items = rows
                .into_iter()
                .map(|v| version_json(v, &id, created, rtype, &base))
                .collect::<store::Result<Vec<_>>>()?;
            Ok(Page { items, next })
        },
        COLUMNS,
        |item| vec![export::flat(item, COLUMNS)],
    );
    export::respond(&req, &state.store, listing, cursor, limit).await
}

fn version_json(
    v: store::audit::VersionRecord,
    id: &str,
    created: chrono::NaiveDateTime,
    rtype: ResourceType,
    base: &str,
) -> store::Result<Value> {
    let r = StoredResource {
        id: id.to_string(),
        version: v.version,
        created,
        modified: v.valid_from,
        doc: serde_json::from_str(&v.doc)?,
    };
    let resource = match rtype {
        ResourceType::User => render::user(&r, None, base),
        ResourceType::Group => render::group(&r, None, base),
    };
    Ok(json!({
        "version": v.version,
        "validFrom": ts(v.valid_from),
        "validTo": v.valid_to.map(ts),
        "eventSeq": v.event_seq,
        "action": v.action,
        "actor": v.actor,
        "actorId": v.actor_id,
        "requestId": v.request_id,
        "resource": resource,
    }))
}
