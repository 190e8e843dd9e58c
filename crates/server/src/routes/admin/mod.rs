//! Administration under `/admin/v1` (token scope `admin`): push targets, access rules,
//! access requests (read with `admin` or `approve`, decided with `approve`), admin grants of
//! memberships, separation-of-duties policies and webhooks.

pub mod access;
pub mod grants;
pub mod rules;
pub mod sod;
pub mod targets;
pub mod webhooks;

use actix_web::http::Method;
use actix_web::{web, HttpMessage, HttpRequest};
use serde_json::Value;

use super::{endpoint, Access, Endpoint};
use crate::auth;
use crate::error::ApiError;

/// The admin routes (under `/admin/v1`): `admin`, except access requests.
pub fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    let admin = Access::Scope(auth::ADMIN);
    let approve = Access::Scope(auth::APPROVE);
    let read_requests = Access::AnyOf(auth::ADMIN_OR_APPROVE);
    vec![
        endpoint(M::GET, "/targets", admin, |r| r.to(targets::list)),
        endpoint(M::POST, "/targets", admin, |r| r.to(targets::create)),
        endpoint(M::GET, "/targets/{id}", admin, |r| r.to(targets::get)),
        endpoint(M::PUT, "/targets/{id}", admin, |r| r.to(targets::replace)),
        endpoint(M::DELETE, "/targets/{id}", admin, |r| r.to(targets::delete)),
        endpoint(M::GET, "/targets/{id}/status", admin, |r| {
            r.to(targets::status)
        }),
        endpoint(M::GET, "/targets/{id}/log", admin, |r| r.to(targets::log)),
        endpoint(M::GET, "/targets/{id}/failed", admin, |r| {
            r.to(targets::failed)
        }),
        endpoint(M::POST, "/targets/{id}/pause", admin, |r| {
            r.to(targets::pause)
        }),
        endpoint(M::POST, "/targets/{id}/resume", admin, |r| {
            r.to(targets::resume)
        }),
        endpoint(M::POST, "/targets/{id}/retry", admin, |r| {
            r.to(targets::retry)
        }),
        endpoint(M::POST, "/targets/{id}/reconcile", admin, |r| {
            r.to(targets::reconcile)
        }),
        endpoint(
            M::POST,
            "/targets/{id}/provision/Users/{user_id}",
            admin,
            |r| r.to(targets::provision),
        ),
        endpoint(M::GET, "/rules", admin, |r| r.to(rules::list)),
        endpoint(M::POST, "/rules", admin, |r| r.to(rules::create)),
        endpoint(M::POST, "/rules/preview", admin, |r| r.to(rules::preview)),
        endpoint(M::GET, "/rules/{id}", admin, |r| r.to(rules::get)),
        endpoint(M::PUT, "/rules/{id}", admin, |r| r.to(rules::replace)),
        endpoint(M::DELETE, "/rules/{id}", admin, |r| r.to(rules::delete)),
        endpoint(M::GET, "/access-requests", read_requests, |r| {
            r.to(access::list)
        }),
        endpoint(M::POST, "/access-requests", admin, |r| r.to(access::open)),
        endpoint(M::GET, "/access-requests/{id}", read_requests, |r| {
            r.to(access::get)
        }),
        endpoint(M::POST, "/access-requests/{id}/approve", approve, |r| {
            r.to(access::approve)
        }),
        endpoint(M::POST, "/access-requests/{id}/deny", approve, |r| {
            r.to(access::deny)
        }),
        endpoint(M::GET, "/sod-policies", admin, |r| r.to(sod::list)),
        endpoint(M::POST, "/sod-policies", admin, |r| r.to(sod::create)),
        endpoint(M::GET, "/sod-policies/{id}", admin, |r| r.to(sod::get)),
        endpoint(M::PUT, "/sod-policies/{id}", admin, |r| r.to(sod::replace)),
        endpoint(M::DELETE, "/sod-policies/{id}", admin, |r| {
            r.to(sod::delete)
        }),
        endpoint(M::GET, "/sod-violations", admin, |r| r.to(sod::violations)),
        endpoint(M::POST, "/groups/{id}/members", admin, |r| {
            r.to(grants::grant)
        }),
        endpoint(M::DELETE, "/groups/{id}/members/{member_id}", admin, |r| {
            r.to(grants::revoke)
        }),
        endpoint(M::GET, "/webhooks", admin, |r| r.to(webhooks::list)),
        endpoint(M::POST, "/webhooks", admin, |r| r.to(webhooks::create)),
        endpoint(M::GET, "/webhooks/{id}", admin, |r| r.to(webhooks::get)),
        endpoint(M::PUT, "/webhooks/{id}", admin, |r| r.to(webhooks::replace)),
        endpoint(M::DELETE, "/webhooks/{id}", admin, |r| {
            r.to(webhooks::delete)
        }),
        endpoint(M::GET, "/webhooks/{id}/deliveries", admin, |r| {
            r.to(webhooks::deliveries)
        }),
        endpoint(
            M::POST,
            "/webhooks/{id}/deliveries/{delivery_id}/retry",
            admin,
            |r| r.to(webhooks::retry),
        ),
    ]
}

/// The request id `tracing-actix-web` gave this request (recorded in events).
pub(crate) fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|r| r.to_string())
        .unwrap_or_default()
}

/// Runs blocking engine work (push targets, webhooks) off the async workers, in the request's
/// span.
pub(crate) async fn blocking<T: Send + 'static, E: Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    ApiError: From<E>,
{
    let span = tracing::Span::current();
    actix_web::rt::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("blocking task failed: {e}")))?
        .map_err(ApiError::from)
}

/// A JSON request body; malformed JSON is `400 invalidSyntax`.
pub(crate) fn json_body(body: &web::Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::Scim(scim::Error::invalid_syntax(format!(
            "the body is not valid JSON: {e}"
        )))
    })
}

/// Unknown paths under `/admin/v1`.
pub async fn not_found(req: HttpRequest) -> Result<web::Json<()>, ApiError> {
    Err(scim::Error::not_found(format!("no admin endpoint at {}", req.path())).into())
}

/// Methods an admin path does not have.
pub async fn method_not_allowed(req: HttpRequest) -> Result<web::Json<()>, ApiError> {
    Err(scim::Error::new(
        405,
        None,
        format!("{} is not allowed on {}", req.method(), req.path()),
    )
    .into())
}
