//! Shared application state handed to every handler.

use crate::auth::Keys;

/// What handlers need: the store, the token keys, and fixed settings.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: store::Store,
    /// JWT signing and verification keys.
    pub keys: Keys,
    /// Public base URL override (`ROSTER_PUBLIC_URL`), without trailing slash.
    pub public_url: Option<String>,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
}
