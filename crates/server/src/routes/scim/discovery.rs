//! Discovery endpoints (RFC 7644 §4): what Roster supports today, truthfully.

use actix_web::{web, HttpRequest, HttpResponse};
use scim::schema::{Registry, ResourceKind};
use serde_json::{json, Value};

use super::render;
use super::request;
use crate::auth::{AnyScope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /ServiceProviderConfig`
pub async fn service_provider_config(
    _auth: Auth<AnyScope>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> HttpResponse {
    let base = request::base_url(&req, &state);
    let max_page = state.limits.max_page_size;
    render::ok(&json!({
        "schemas": [scim::schema::SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": "https://github.com/roster-scim/roster/blob/main/docs/API.md",
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": state.bulk.max_operations,
            "maxPayloadSize": state.bulk.max_payload_bytes
        },
        "filter": {"supported": true, "maxResults": max_page},
        "changePassword": {"supported": true},
        "sort": {"supported": true},
        // RFC 9865 §4; no cursorTimeout: keyset cursors keep no server state and never expire
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": request::default_page(&state.limits),
            "maxPageSize": max_page
        },
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "JWT bearer token issued by 'roster token issue' (Authorization: Bearer <token>)",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig")
        }
    }))
}

fn list(resources: Vec<Value>) -> Value {
    let n = resources.len() as u64;
    scim::messages::list_response(n, 1, resources)
}

/// `GET /Schemas`
pub async fn schemas(
    _auth: Auth<AnyScope>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> HttpResponse {
    let base = request::base_url(&req, &state);
    let reg = Registry::global();
    render::ok(&list(
        reg.schemas()
            .iter()
            .map(|s| reg.schema_json(s, &base))
            .collect(),
    ))
}

/// `GET /Schemas/{id}`
pub async fn schema(
    _auth: Auth<AnyScope>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let base = request::base_url(&req, &state);
    let reg = Registry::global();
    let s = reg
        .schema(&id)
        .ok_or_else(|| scim::Error::not_found(format!("no schema '{id}'")))?;
    Ok(render::ok(&reg.schema_json(s, &base)))
}

const KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

/// `GET /ResourceTypes`
pub async fn resource_types(
    _auth: Auth<AnyScope>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> HttpResponse {
    let base = request::base_url(&req, &state);
    render::ok(&list(
        KINDS
            .iter()
            .map(|k| scim::schema::resource_type_json(*k, &base))
            .collect(),
    ))
}

/// `GET /ResourceTypes/{id}`
pub async fn resource_type(
    _auth: Auth<AnyScope>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let base = request::base_url(&req, &state);
    let kind = KINDS
        .iter()
        .find(|k| k.name().eq_ignore_ascii_case(&id))
        .ok_or_else(|| scim::Error::not_found(format!("no resource type '{id}'")))?;
    Ok(render::ok(&scim::schema::resource_type_json(*kind, &base)))
}
