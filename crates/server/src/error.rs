//! `ApiError`: every failure becomes a SCIM error response (RFC 7644 §3.12).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

/// The media type of every SCIM response.
pub const SCIM_JSON: &str = "application/scim+json";

/// Errors answered by the HTTP API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A protocol error with its status and `scimType`.
    #[error("{0}")]
    Scim(#[from] scim::Error),
    /// A persistence error (mapped to 404/409/412/503/500).
    #[error("{0}")]
    Store(#[from] store::Error),
    /// Missing, malformed, expired or revoked bearer token. `detail` is safe to show.
    #[error("unauthorized: {detail}")]
    Unauthorized {
        /// Why the token was refused.
        detail: &'static str,
        /// Whether a token was presented at all (RFC 6750 §3.1: no error code otherwise).
        presented: bool,
    },
    /// The token lacks the scope the route needs (any one of these).
    #[error("forbidden: needs scope {}", .0.join(" or "))]
    Forbidden(&'static [&'static str]),
    /// A bug or unexpected failure; the cause is logged, never returned.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl ApiError {
    /// The SCIM error this failure is answered with.
    pub fn to_scim(&self) -> scim::Error {
        match self {
            ApiError::Scim(e) => e.clone(),
            ApiError::Store(e) => match e {
                store::Error::NotFound => scim::Error::not_found("resource not found"),
                store::Error::Conflict { field } => {
                    scim::Error::uniqueness(format!("{field} is already taken by another resource"))
                }
                store::Error::VersionMismatch => scim::Error::precondition_failed(
                    "the resource changed since the version given in If-Match; read it again",
                ),
                store::Error::Scim(e) => e.clone(),
                store::Error::Unavailable(_) => {
                    scim::Error::new(503, None, "the database is unavailable; retry shortly")
                }
                store::Error::Config(_)
                | store::Error::Backend(_)
                | store::Error::Corrupt(_)
                | store::Error::LeaseLost => {
                    scim::Error::new(500, None, "internal error; see the server log")
                }
            },
            ApiError::Unauthorized { detail, .. } => scim::Error::new(401, None, *detail),
            ApiError::Forbidden(scopes) => scim::Error::new(
                403,
                None,
                format!(
                    "this token lacks the scope '{}' that this request needs",
                    scopes.join("' or '")
                ),
            ),
            ApiError::Internal(_) => {
                scim::Error::new(500, None, "internal error; see the server log")
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.to_scim().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let e = self.to_scim();
        if e.status >= 500 {
            tracing::error!(error = %self, "request failed");
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, SCIM_JSON));
        match self {
            ApiError::Unauthorized { presented, .. } => {
                let value = if *presented {
                    r#"Bearer realm="roster", error="invalid_token""#
                } else {
                    r#"Bearer realm="roster""#
                };
                res.insert_header((header::WWW_AUTHENTICATE, value));
            }
            ApiError::Store(store::Error::Unavailable(_)) => {
                res.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        res.body(e.to_json().to_string())
    }
}

impl From<push::Error> for ApiError {
    fn from(e: push::Error) -> Self {
        match e {
            push::Error::Invalid(m) => ApiError::Scim(scim::Error::invalid_value(m)),
            push::Error::NotFound(m) => ApiError::Scim(scim::Error::not_found(m)),
            push::Error::Busy(m) => ApiError::Scim(scim::Error::new(409, None, m)),
            push::Error::Remote(m) => ApiError::Scim(scim::Error::new(502, None, m)),
            push::Error::Store(s) => ApiError::Store(s),
            other => ApiError::Internal(anyhow::anyhow!(other)),
        }
    }
}

impl From<hooks::Error> for ApiError {
    fn from(e: hooks::Error) -> Self {
        match e {
            hooks::Error::Invalid(m) => ApiError::Scim(scim::Error::invalid_value(m)),
            hooks::Error::NotFound(m) => ApiError::Scim(scim::Error::not_found(m)),
            hooks::Error::Store(s) => ApiError::Store(s),
            other => ApiError::Internal(anyhow::anyhow!(other)),
        }
    }
}

/// Turns any SCIM error into a response (used by extractor error handlers).
pub fn scim_error(e: scim::Error) -> actix_web::Error {
    ApiError::Scim(e).into()
}
