//! `POST /.search` at the service root (RFC 7644 §3.4.3): one query across Users and Groups.
//!
//! Results are Users then Groups, each in its own sort order; `startIndex`/`count` page over
//! that concatenation and `totalResults` is the sum. A filter naming an attribute only one
//! resource type has (`userName`) selects nothing of the other type rather than failing.

use actix_web::{web, HttpRequest, HttpResponse};
use scim::schema::ResourceKind;
use serde_json::Value;

use super::request::{self, ListRequest};
use super::{groups, render, resources, users};
use crate::auth::{Auth, ScimRead};
use crate::error::ApiError;
use crate::state::AppState;

fn is_invalid_filter(e: &ApiError) -> bool {
    let t = match e {
        ApiError::Scim(e) => e.scim_type,
        ApiError::Store(store::Error::Scim(e)) => e.scim_type,
        _ => None,
    };
    t == Some(scim::ScimType::InvalidFilter)
}

/// Total and resources of one type for `lr`; `None` when the filter does not apply to it.
async fn part(
    state: &AppState,
    base: &str,
    kind: ResourceKind,
    lr: ListRequest,
) -> Result<Option<(u64, Vec<Value>)>, ApiError> {
    let out = match kind {
        ResourceKind::User => resources::run_list::<users::UsersEndpoint>(state, base, lr).await,
        ResourceKind::Group => resources::run_list::<groups::GroupsEndpoint>(state, base, lr).await,
    };
    match out {
        Ok(body) => {
            let total = body["totalResults"].as_u64().unwrap_or_default();
            let resources = match body.get("Resources") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            Ok(Some((total, resources)))
        }
        Err(e) if is_invalid_filter(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `POST /.search`
pub async fn root(
    _auth: Auth<ScimRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = request::json_body(&req, &state, payload).await?;
    let base = request::base_url(&req, &state);
    // first pass: totals only
    let count_only = |kind| -> Result<ListRequest, ApiError> {
        let mut lr = ListRequest::from_root_search(body.clone(), kind, &state.limits)?;
        lr.count = 0;
        Ok(lr)
    };
    let user_total = part(
        &state,
        &base,
        ResourceKind::User,
        count_only(ResourceKind::User)?,
    )
    .await?;
    let group_total = part(
        &state,
        &base,
        ResourceKind::Group,
        count_only(ResourceKind::Group)?,
    )
    .await?;
    if user_total.is_none() && group_total.is_none() {
        // neither type accepts the filter: report why, from the User side
        let lr = ListRequest::from_root_search(body.clone(), ResourceKind::User, &state.limits)?;
        resources::run_list::<users::UsersEndpoint>(&state, &base, lr).await?;
    }
    let users_n = user_total.map_or(0, |(t, _)| t);
    let groups_n = group_total.map_or(0, |(t, _)| t);
    let template = ListRequest::from_root_search(body.clone(), ResourceKind::User, &state.limits)?;
    let (start, count) = (template.start, template.count);
    let mut resources = Vec::new();
    let offset = start - 1;
    if count > 0 && offset < users_n {
        let mut lr =
            ListRequest::from_root_search(body.clone(), ResourceKind::User, &state.limits)?;
        lr.count = count.min(users_n - offset);
        if let Some((_, r)) = part(&state, &base, ResourceKind::User, lr).await? {
            resources.extend(r);
        }
    }
    let remaining = count.saturating_sub(resources.len() as u64);
    if remaining > 0 && groups_n > 0 {
        let mut lr = ListRequest::from_root_search(body, ResourceKind::Group, &state.limits)?;
        lr.start = offset.saturating_sub(users_n) + 1;
        lr.count = remaining;
        if let Some((_, r)) = part(&state, &base, ResourceKind::Group, lr).await? {
            resources.extend(r);
        }
    }
    Ok(render::ok(&scim::messages::list_response(
        users_n + groups_n,
        start,
        resources,
    )))
}
