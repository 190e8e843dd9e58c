//! SCIM 2.0 endpoints under `/scim/v2` (RFC 7644).

pub mod bulk;
pub mod discovery;
pub mod groups;
pub mod render;
pub mod request;
pub mod resources;
pub mod search;
pub mod users;

use actix_web::{web, HttpRequest};

use crate::error::ApiError;

/// Registers the SCIM routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/Users")
            .route(web::get().to(resources::list::<users::UsersEndpoint>))
            .route(web::post().to(users::create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Users/.search")
            .route(web::post().to(resources::search::<users::UsersEndpoint>))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Users/{id}")
            .route(web::get().to(resources::get::<users::UsersEndpoint>))
            .route(web::put().to(users::replace))
            .route(web::patch().to(users::patch))
            .route(web::delete().to(resources::delete::<users::UsersEndpoint>))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Groups")
            .route(web::get().to(resources::list::<groups::GroupsEndpoint>))
            .route(web::post().to(groups::create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Groups/.search")
            .route(web::post().to(resources::search::<groups::GroupsEndpoint>))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Groups/{id}")
            .route(web::get().to(resources::get::<groups::GroupsEndpoint>))
            .route(web::put().to(groups::replace))
            .route(web::patch().to(groups::patch))
            .route(web::delete().to(resources::delete::<groups::GroupsEndpoint>))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/.search")
            .route(web::post().to(search::root))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Bulk")
            .route(web::post().to(bulk::bulk))
            .default_service(web::to(method_not_allowed)),
    )
    .service(web::resource("/Me").default_service(web::to(me)))
    .service(web::resource("/Me/{tail:.*}").default_service(web::to(me)))
    .service(
        web::resource("/ServiceProviderConfig")
            .route(web::get().to(discovery::service_provider_config))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Schemas")
            .route(web::get().to(discovery::schemas))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/Schemas/{id}")
            .route(web::get().to(discovery::schema))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ResourceTypes")
            .route(web::get().to(discovery::resource_types))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/ResourceTypes/{id}")
            .route(web::get().to(discovery::resource_type))
            .default_service(web::to(method_not_allowed)),
    )
    .default_service(web::to(not_found));
}

/// `/Me` (RFC 7644 §3.11): Roster's tokens belong to clients, not to users, so there is no
/// authenticated subject to map.
async fn me() -> Result<web::Json<()>, ApiError> {
    Err(scim::Error::not_implemented(
        "/Me is not supported: Roster bearer tokens identify API clients, not SCIM users",
    )
    .into())
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
