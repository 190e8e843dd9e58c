//! The store's error type: what went wrong in persistence, classified for the HTTP edge.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Persistence errors. The server maps them once: 404, 409 `uniqueness`, 412, 503, 500.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The resource does not exist (or no longer exists).
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint rejected the write; `field` names the attribute when known.
    #[error("conflict on {field}")]
    Conflict {
        /// The SCIM attribute (or column) that must be unique.
        field: String,
    },
    /// `If-Match` named a version that is no longer current.
    #[error("version mismatch")]
    VersionMismatch,
    /// Input that the protocol layer rejected while being stored (bad member reference, …).
    #[error(transparent)]
    Scim(#[from] scim::Error),
    /// The database cannot be reached (pool timeout, closed connection).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database URL or configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// Anything else from the database.
    #[error("database error: {0}")]
    Backend(#[source] DieselError),
    /// Stored data that cannot be decoded (corrupt JSON document, …).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A push worker's lease was taken over: it must stop and write nothing.
    #[error("push lease lost")]
    LeaseLost,
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<DieselError> for Error {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => Error::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, ref info) => {
                Error::Conflict {
                    field: conflict_field(info.constraint_name(), info.message()),
                }
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => Error::Unavailable("connection closed".into()),
            DieselError::DatabaseError(_, ref info) if is_connection_lost(info.message()) => {
                Error::Unavailable("connection lost".into())
            }
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, ref info)
                if is_busy(info.message()) =>
            {
                Error::Unavailable("database is busy".into())
            }
            DieselError::DatabaseError(_, ref info) if is_too_complex(info.message()) => {
                Error::Scim(scim::Error::invalid_filter(
                    "the filter is too complex for the database; use fewer expressions",
                ))
            }
            other => Error::Backend(other),
        }
    }
}

impl From<diesel::r2d2::PoolError> for Error {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Error::Unavailable(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Corrupt(e.to_string())
    }
}

/// SQLite's expression depth limit and PostgreSQL's stack limit: a query too deep to plan is
/// the client's filter, not a server failure (the parser's node limit keeps it from happening).
fn is_too_complex(message: &str) -> bool {
    message.contains("Expression tree is too large") || message.contains("stack depth limit")
}

/// libpq's words for a connection that went away mid-request (the next request gets a fresh
/// connection from the pool, or waits for one and gets 503).
fn is_connection_lost(message: &str) -> bool {
    message.contains("no connection to the server")
        || message.contains("server closed the connection")
        || message.contains("terminating connection")
        || message.contains("connection to server")
}

fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database is busy")
}

/// Maps a unique-constraint failure to the SCIM attribute it protects.
///
/// PostgreSQL names the constraint (`users_user_name_norm_key`); SQLite only says
/// `UNIQUE constraint failed: users.user_name_norm`, so both are matched on the column name.
fn conflict_field(constraint: Option<&str>, message: &str) -> String {
    let text = constraint.unwrap_or(message);
    if text.contains("user_name_norm") {
        "userName".into()
    } else if text.contains("rules_name_key") || text.contains("rules.name") {
        "name".into()
    } else if text.contains("jti") || text.contains("tokens") {
        "jti".into()
    } else if text.contains("pkey") || text.contains(".id") {
        "id".into()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::conflict_field;

    #[test]
    fn maps_both_backends_messages_to_user_name() {
        assert_eq!(
            conflict_field(None, "UNIQUE constraint failed: users.user_name_norm"),
            "userName"
        );
        assert_eq!(
            conflict_field(Some("users_user_name_norm_key"), "duplicate key"),
            "userName"
        );
    }
}
