//! The route table: every endpoint with the access it needs, in one list ([`mounts`]).
//!
//! Routes are registered only from this table, so an endpoint cannot exist without an
//! [`Access`] policy; `scim-tests/tests/compliance/authz.rs` calls every entry with every
//! combination of scopes and checks the answer against the policy, and checks that the table
//! in `docs/SECURITY.md` lists the same policy. The handler's extractor (`Auth<ScimRead>` …)
//! enforces it; the test proves the two agree. Adding an endpoint is one line in its module's
//! list (`endpoint(Method::GET, "/targets", Access::Scope(auth::ADMIN), |r| r.to(list))`).

pub mod admin;
pub mod audit;
pub mod health;
pub mod scim;

use actix_web::error::QueryPayloadError;
use actix_web::http::Method;
use actix_web::{web, HttpRequest};

use crate::error::scim_error;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (probes, `/Me`'s "not implemented").
    Public,
    /// Any valid token, whatever its scopes (discovery).
    AnyToken,
    /// A valid token carrying this scope (scopes are independent: `admin` does not imply
    /// `scim.read`).
    Scope(&'static str),
    /// A valid token carrying any one of these scopes.
    AnyOf(&'static [&'static str]),
}

impl Access {
    /// The policy as written in `docs/SECURITY.md`: `public`, `any token`, the scope, or the
    /// scopes joined with `or`.
    pub fn describe(&self) -> String {
        match self {
            Access::Public => "public".into(),
            Access::AnyToken => "any token".into(),
            Access::Scope(s) => (*s).into(),
            Access::AnyOf(scopes) => scopes.join(" or "),
        }
    }
}

/// One method on one path, with its policy and handler.
pub struct Endpoint {
    /// HTTP method.
    pub method: Method,
    /// Path relative to the mount, actix syntax (`/Users/{id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    route: fn(actix_web::Route) -> actix_web::Route,
}

/// An entry of the route table: `endpoint(Method::GET, "/Users", Access::Scope(..), |r| r.to(h))`.
pub fn endpoint(
    method: Method,
    path: &'static str,
    access: Access,
    route: fn(actix_web::Route) -> actix_web::Route,
) -> Endpoint {
    Endpoint {
        method,
        path,
        access,
        route,
    }
}

/// A group of endpoints under one path prefix, with its answers for unknown paths (404) and
/// methods (405).
pub struct Mount {
    /// Path prefix (`""` for the root).
    pub prefix: &'static str,
    /// The endpoints.
    pub endpoints: Vec<Endpoint>,
    not_found: Option<fn() -> actix_web::Route>,
    method_not_allowed: fn() -> actix_web::Route,
}

/// The whole route table.
pub fn mounts() -> Vec<Mount> {
    vec![
        Mount {
            prefix: "",
            endpoints: health::endpoints(),
            not_found: None,
            method_not_allowed: || web::to(health::method_not_allowed),
        },
        Mount {
            prefix: "/scim/v2",
            endpoints: scim::endpoints(),
            not_found: Some(|| web::to(scim::not_found)),
            method_not_allowed: || web::to(scim::method_not_allowed),
        },
        Mount {
            prefix: "/audit/v1",
            endpoints: audit::endpoints(),
            not_found: Some(|| web::to(audit::not_found)),
            method_not_allowed: || web::to(audit::method_not_allowed),
        },
        Mount {
            prefix: "/admin/v1",
            endpoints: admin::endpoints(),
            not_found: Some(|| web::to(admin::not_found)),
            method_not_allowed: || web::to(admin::method_not_allowed),
        },
    ]
}

/// Registers every route of the table.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for mount in mounts() {
        if mount.prefix.is_empty() {
            register(cfg, &mount);
        } else {
            let mut scope = web::scope(mount.prefix).configure(|c| register(c, &mount));
            if let Some(not_found) = mount.not_found {
                scope = scope.default_service(not_found());
            }
            cfg.service(scope);
        }
    }
}

/// One `web::resource` per path (in table order) with its methods and a 405 for the rest.
fn register(cfg: &mut web::ServiceConfig, mount: &Mount) {
    let mut paths: Vec<&'static str> = Vec::new();
    for e in &mount.endpoints {
        if !paths.contains(&e.path) {
            paths.push(e.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path);
        for e in mount.endpoints.iter().filter(|e| e.path == path) {
            resource = resource.route((e.route)(web::method(e.method.clone())));
        }
        cfg.service(resource.default_service((mount.method_not_allowed)()));
    }
}

/// Malformed query parameters become SCIM errors.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    scim_error(::scim::Error::invalid_value(format!(
        "invalid query parameter: {err}"
    )))
}
