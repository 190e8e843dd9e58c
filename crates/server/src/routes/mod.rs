//! The route table.

pub mod admin;
pub mod audit;
pub mod health;
pub mod scim;

use actix_web::error::QueryPayloadError;
use actix_web::{web, HttpRequest};

use crate::error::scim_error;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .service(web::scope("/scim/v2").configure(scim::configure))
        .service(web::scope("/audit/v1").configure(audit::configure))
        .service(web::scope("/admin/v1").configure(admin::configure));
}

/// Malformed query parameters become SCIM errors.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    scim_error(::scim::Error::invalid_value(format!(
        "invalid query parameter: {err}"
    )))
}
