//! The hooks crate's error type.

/// What can go wrong managing webhooks or delivering them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The webhook settings are invalid; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// No such webhook or delivery.
    #[error("{0}")]
    NotFound(String),
    /// The secret key cannot seal or open a stored secret.
    #[error("secret key: {0}")]
    Key(String),
    /// Persistence failed.
    #[error(transparent)]
    Store(#[from] store::Error),
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

impl From<push::Error> for Error {
    fn from(e: push::Error) -> Self {
        match e {
            push::Error::Store(s) => Error::Store(s),
            other => Error::Key(other.to_string()),
        }
    }
}

/// Runs a blocking database closure off the async threads.
pub async fn blocking<T: Send + 'static>(
    store: &store::Store,
    f: impl FnOnce(&store::Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    let s = store.clone();
    tokio::task::spawn_blocking(move || f(&s)).await?
}
