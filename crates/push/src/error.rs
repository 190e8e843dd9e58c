//! The push crate's error type.

/// What can go wrong managing targets or pushing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target settings are invalid; the message says which field and why.
    #[error("{0}")]
    Invalid(String),
    /// No such target (or user).
    #[error("{0}")]
    NotFound(String),
    /// The secret key cannot be loaded or a stored secret cannot be decrypted.
    #[error("secret key: {0}")]
    Key(String),
    /// Persistence failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Another replica holds the target's lease; the request was not run here.
    #[error("{0}")]
    Busy(String),
    /// The remote answered a request the operation cannot do without.
    #[error("remote: {0}")]
    Remote(String),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Task(e.to_string())
    }
}
