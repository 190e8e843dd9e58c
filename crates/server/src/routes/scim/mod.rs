//! SCIM 2.0 endpoints under `/scim/v2` (RFC 7644).

pub mod bulk;
pub mod discovery;
pub mod groups;
pub mod render;
pub mod request;
pub mod resources;
pub mod search;
pub mod users;

use actix_web::http::Method;
use actix_web::{web, HttpRequest};

use super::{endpoint, Access, Endpoint};
use crate::auth;
use crate::error::ApiError;

/// The SCIM routes (under `/scim/v2`).
pub fn endpoints() -> Vec<Endpoint> {
    use groups::GroupsEndpoint as G;
    use users::UsersEndpoint as U;
    use Method as M;
    let read = Access::Scope(auth::SCIM_READ);
    let write = Access::Scope(auth::SCIM_WRITE);
    let any = Access::AnyToken;
    let mut v = vec![
        endpoint(M::GET, "/Users", read, |r| r.to(resources::list::<U>)),
        endpoint(M::POST, "/Users", write, |r| r.to(users::create)),
        endpoint(M::POST, "/Users/.search", read, |r| {
            r.to(resources::search::<U>)
        }),
        endpoint(M::GET, "/Users/{id}", read, |r| r.to(resources::get::<U>)),
        endpoint(M::PUT, "/Users/{id}", write, |r| r.to(users::replace)),
        endpoint(M::PATCH, "/Users/{id}", write, |r| r.to(users::patch)),
        endpoint(M::DELETE, "/Users/{id}", write, |r| {
            r.to(resources::delete::<U>)
        }),
        endpoint(M::GET, "/Groups", read, |r| r.to(resources::list::<G>)),
        endpoint(M::POST, "/Groups", write, |r| r.to(groups::create)),
        endpoint(M::POST, "/Groups/.search", read, |r| {
            r.to(resources::search::<G>)
        }),
        endpoint(M::GET, "/Groups/{id}", read, |r| r.to(resources::get::<G>)),
        endpoint(M::PUT, "/Groups/{id}", write, |r| r.to(groups::replace)),
        endpoint(M::PATCH, "/Groups/{id}", write, |r| r.to(groups::patch)),
        endpoint(M::DELETE, "/Groups/{id}", write, |r| {
            r.to(resources::delete::<G>)
        }),
        endpoint(M::POST, "/.search", read, |r| r.to(search::root)),
        endpoint(M::POST, "/Bulk", write, |r| r.to(bulk::bulk)),
        endpoint(M::GET, "/ServiceProviderConfig", any, |r| {
            r.to(discovery::service_provider_config)
        }),
        endpoint(M::GET, "/Schemas", any, |r| r.to(discovery::schemas)),
        endpoint(M::GET, "/Schemas/{id}", any, |r| r.to(discovery::schema)),
        endpoint(M::GET, "/ResourceTypes", any, |r| {
            r.to(discovery::resource_types)
        }),
        endpoint(M::GET, "/ResourceTypes/{id}", any, |r| {
            r.to(discovery::resource_type)
        }),
    ];
    // `/Me` answers 501 to every SCIM method, without a token: there is nothing behind it
    for path in ["/Me", "/Me/{tail:.*}"] {
        for m in [M::GET, M::POST, M::PUT, M::PATCH, M::DELETE] {
            v.push(endpoint(m, path, Access::Public, |r| r.to(me)));
        }
    }
    v
}

/// `/Me` (RFC 7644 §3.11): Roster's tokens belong to clients, not to users, so there is no
/// authenticated subject to map.
async fn me() -> Result<web::Json<()>, ApiError> {
    Err(scim::Error::not_implemented(
        "/Me is not supported: Roster bearer tokens identify API clients, not SCIM users",
    )
    .into())
}

/// Unknown paths under `/scim/v2`.
pub async fn not_found(req: HttpRequest) -> Result<web::Json<()>, ApiError> {
    Err(scim::Error::not_found(format!("no SCIM endpoint at {}", req.path())).into())
}

/// Methods a SCIM path does not have.
pub async fn method_not_allowed(req: HttpRequest) -> Result<web::Json<()>, ApiError> {
    Err(scim::Error::new(
        405,
        None,
        format!("{} is not allowed on {}", req.method(), req.path()),
    )
    .into())
}
