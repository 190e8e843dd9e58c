//! Administration under `/admin/v1` (token scope `admin`): push targets.

pub mod targets;

use actix_web::{web, HttpRequest};

use crate::error::ApiError;

/// Registers the admin routes (inside the `/admin/v1` scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/targets")
            .route(web::get().to(targets::list))
            .route(web::post().to(targets::create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/targets/{id}")
            .route(web::get().to(targets::get))
            .route(web::put().to(targets::replace))
            .route(web::delete().to(targets::delete))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/targets/{id}/status")
            .route(web::get().to(targets::status))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/targets/{id}/log")
            .route(web::get().to(targets::log))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/targets/{id}/failed")
            .route(web::get().to(targets::failed))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/targets/{id}/pause")
            .route(web::post().to(targets::pause))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/targets/{id}/resume")
            .route(web::post().to(targets::resume))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/targets/{id}/retry")
            .route(web::post().to(targets::retry))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/targets/{id}/reconcile")
            .route(web::post().to(targets::reconcile))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/targets/{id}/provision/Users/{user_id}")
            .route(web::post().to(targets::provision))
            .default_service(web::to(method_not_allowed)),
    )
    .default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> Result<web::Json<()>, ApiError> {
    Err(scim::Error::not_found(format!("no admin endpoint at {}", req.path())).into())
}

async fn method_not_allowed(req: HttpRequest) -> Result<web::Json<()>, ApiError> {
    Err(scim::Error::new(
        405,
        None,
        format!("{} is not allowed on {}", req.method(), req.path()),
    )
    .into())
}
