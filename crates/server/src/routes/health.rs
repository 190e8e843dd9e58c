//! Liveness and readiness probes (no token needed).

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{endpoint, Access, Endpoint};
use crate::state::AppState;

/// The probes' routes.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(Method::GET, "/healthz", Access::Public, |r| r.to(healthz)),
        endpoint(Method::GET, "/readyz", Access::Public, |r| r.to(readyz)),
        endpoint(
            Method::GET,
            "/metrics",
            Access::Scope(crate::auth::METRICS_READ),
            |r| r.to(crate::metrics::scrape),
        ),
    ]
}

/// Any other method on a probe.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", "GET"))
        .content_type("application/json")
        .body(format!(
            r#"{{"status":"{} is not allowed; use GET"}}"#,
            req.method()
        ))
}

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// `GET /readyz`: the database answers (503 otherwise).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match crate::db::run(&state.store, |s| s.ping()).await {
        Ok(()) => HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ready","database":"ok"}"#),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .content_type("application/json")
                .body(r#"{"status":"unavailable","database":"unreachable"}"#)
        }
    }
}
