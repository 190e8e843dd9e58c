//! SCIM 2.0 endpoints under `/scim/v2` (RFC 7644).

pub mod discovery;
pub mod groups;
pub mod render;
pub mod request;
pub mod users;

use actix_web::{web, HttpRequest};

use crate::error::ApiError;

/// Registers the SCIM routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/Users")
            .route(web::get().to(users::list))
            .route(web::post().to(users::create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Users/{id}")
            .route(web::get().to(users::get))
            .route(web::put().to(users::replace))
            .route(web::delete().to(users::delete))
            .route(web::patch().to(patch_not_supported))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Groups")
            .route(web::get().to(groups::list))
            .route(web::post().to(groups::create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Groups/{id}")
            .route(web::get().to(groups::get))
            .route(web::put().to(groups::replace))
            .route(web::delete().to(groups::delete))
            .route(web::patch().to(patch_not_supported))
            .default_service(web::to(method_not_allowed)),
    )
    .route(
        "/ServiceProviderConfig",
        web::get().to(discovery::service_provider_config),
    )
    .route("/Schemas", web::get().to(discovery::schemas))
    .route("/Schemas/{id}", web::get().to(discovery::schema))
    .route("/ResourceTypes", web::get().to(discovery::resource_types))
    .route(
        "/ResourceTypes/{id}",
        web::get().to(discovery::resource_type),
    )
    .default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> Result<web::Json<()>, ApiError> {
    Err(scim::Error::not_found(format!("no SCIM endpoint at {}", req.path())).into())
}

async fn method_not_allowed(req: HttpRequest) -> Result<web::Json<()>, ApiError> {
    Err(scim::Error::new(
        405,
        None,
        format!("{} is not allowed on {}", req.method(), req.path()),
    )
    .into())
}

async fn patch_not_supported() -> Result<web::Json<()>, ApiError> {
    Err(scim::Error::not_implemented(
        "PATCH is not supported yet (see ServiceProviderConfig); use PUT",
    )
    .into())
}
