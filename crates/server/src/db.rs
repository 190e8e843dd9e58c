//! Runs blocking store calls off the async workers, carrying the tracing span.

use crate::error::ApiError;

/// Runs `f` on the blocking thread pool with the current span; store errors become API errors.
pub async fn run<T, F>(store: &store::Store, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&store::Store) -> store::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let store = store.clone();
    let span = tracing::Span::current();
    let out = actix_web::rt::task::spawn_blocking(move || span.in_scope(|| f(&store)))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("blocking task failed: {e}")))?;
    Ok(out?)
}
