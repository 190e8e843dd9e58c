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
    /// `/Bulk` limits (advertised in ServiceProviderConfig).
    pub bulk: BulkLimits,
    /// Protocol limits (filters, JSON depth, value lengths, PATCH sizes, page size).
    pub limits: scim::limits::Limits,
    /// Time a client has to send a whole request body.
    pub body_timeout: std::time::Duration,
    /// Recently verified token registrations (see [`crate::auth::TokenCache`]).
    pub tokens: crate::auth::TokenCache,
    /// The key that encrypts downstream credentials.
    pub secret_key: push::SecretKey,
    /// The push engine (`None` when disabled in this process).
    pub push: Option<push::Engine>,
    /// The webhook and alert worker (`None` when disabled in this process).
    pub hooks: Option<hooks::Engine>,
    /// The lifecycle scheduler of this replica.
    pub scheduler: crate::scheduler::Scheduler,
    /// Memberships a rule change may remove without `?confirm=true`.
    pub rule_confirm_threshold: u64,
    /// Groups whose membership only tokens with `admin` may change (`ROSTER_PROTECTED_GROUPS`).
    pub protected_groups: std::sync::Arc<store::ProtectedGroups>,
}

/// Limits of `/Bulk` (RFC 7644 §3.7.4).
#[derive(Debug, Clone, Copy)]
pub struct BulkLimits {
    /// Most operations in one request.
    pub max_operations: usize,
    /// Largest request body in bytes.
    pub max_payload_bytes: usize,
}
