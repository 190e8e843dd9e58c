//! Bearer-token authentication (JWT, HS256) and scope checks as extractors.
//!
//! Roster issues its own tokens (`roster token issue`): HS256 with a random 256-bit secret made
//! on first start and kept in the database (`server_settings`). A token is accepted only if its
//! signature, algorithm, issuer, audience and expiry are right AND its `jti` is registered and
//! not revoked. Handlers ask for a scope in their signature: `Auth<ScimWrite>`.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::{TimeDelta, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

/// Token issuer and audience.
pub const ISSUER: &str = "roster";

const SECRET_SETTING: &str = "jwt_hs256_secret";

/// Read Users, Groups and searches.
pub const SCIM_READ: &str = "scim.read";
/// Create, replace, patch and delete Users and Groups; `/Bulk`.
pub const SCIM_WRITE: &str = "scim.write";
/// Read the compliance history under `/audit/v1`.
pub const AUDIT_READ: &str = "audit.read";
/// Administration: push targets, rules, governance settings of groups, membership changes of
/// protected groups.
pub const ADMIN: &str = "admin";
/// Deciding access requests (approve or deny).
pub const APPROVE: &str = "approve";
/// Either of `admin` and `approve` (reading access requests).
pub const ADMIN_OR_APPROVE: &[&str] = &[ADMIN, APPROVE];

/// Scrape Prometheus metrics at `/metrics`.
pub const METRICS_READ: &str = "metrics.read";

/// The scopes a token can carry.
pub const SCOPES: [&str; 6] = [
    SCIM_READ,
    SCIM_WRITE,
    AUDIT_READ,
    ADMIN,
    APPROVE,
    METRICS_READ,
];

/// Signing and verification keys.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Keys {
    /// Loads the signing secret from the database, creating it on first use.
    pub fn load(store: &store::Store) -> store::Result<Keys> {
        let hex_secret = store.admin(|c| {
            store::settings::get_or_create(c, SECRET_SETTING, || {
                hex::encode(rand::random::<[u8; 32]>())
            })
        })?;
        Ok(Keys::from_secret(hex_secret.as_bytes()))
    }

    fn from_secret(secret: &[u8]) -> Keys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        validation.validate_nbf = true;
        Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }
}

/// The JWT claims Roster issues.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Token name (the actor in the audit log).
    pub sub: String,
    /// Unique token id (registered; revocable).
    pub jti: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Issuer (`roster`).
    pub iss: String,
    /// Audience (`roster`).
    pub aud: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
}

/// A freshly issued token: the JWT to hand out and its registry record.
pub struct Issued {
    /// The bearer token (show once; never stored).
    pub token: String,
    /// What was registered.
    pub record: store::tokens::TokenRecord,
}

/// Issues and registers a token. `expires_in_days` must be at least 1.
pub fn issue(
    store: &store::Store,
    keys: &Keys,
    name: &str,
    scopes: &[String],
    expires_in_days: u32,
) -> anyhow::Result<Issued> {
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "--name must not be empty");
    anyhow::ensure!(
        !scopes.is_empty(),
        "give at least one --scope ({})",
        SCOPES.join(", ")
    );
    for s in scopes {
        anyhow::ensure!(
            SCOPES.contains(&s.as_str()),
            "unknown scope '{s}'; scopes are: {}",
            SCOPES.join(", ")
        );
    }
    anyhow::ensure!(expires_in_days >= 1, "--expires-in must be at least 1 day");
    let now = store::write::now();
    let exp = now + TimeDelta::days(i64::from(expires_in_days));
    let jti = uuid::Uuid::new_v4().to_string();
    let scope = scopes.join(" ");
    let claims = Claims {
        sub: name.to_string(),
        jti: jti.clone(),
        scope: scope.clone(),
        iss: ISSUER.into(),
        aud: ISSUER.into(),
        iat: now.and_utc().timestamp(),
        nbf: now.and_utc().timestamp(),
        exp: exp.and_utc().timestamp(),
    };
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)?;
    let record = store::tokens::TokenRecord {
        jti,
        name: name.to_string(),
        scopes: scope,
        created: now,
        expires: Some(exp),
        revoked: None,
    };
    store.write(&store::WriteCtx::system("cli"), |tx| {
        store::tokens::insert(tx, &record)
    })?;
    Ok(Issued { token, record })
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Token name.
    pub name: String,
    /// Token id.
    pub jti: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Protected groups this caller may not change the membership of (`None` with `admin`, or
    /// when none are configured).
    pub protected_groups: Option<std::sync::Arc<store::ProtectedGroups>>,
}

impl Principal {
    /// Whether the token carries `scope`.
    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The audit context for writes made by this caller in request `request_id`.
    pub fn write_ctx(&self, request_id: &str) -> store::WriteCtx {
        store::WriteCtx {
            actor: self.name.clone(),
            actor_id: Some(self.jti.clone()),
            request_id: Some(request_id.to_string()),
            protected_groups: self.protected_groups.clone(),
            may_govern: self.has(ADMIN),
        }
    }
}

/// Marker types naming the scopes a route accepts.
pub trait Scope {
    /// The scopes that admit a caller (any one of them); empty for "any valid token".
    const ANY_OF: &'static [&'static str];
}

/// Any valid token.
pub struct AnyScope;
/// `scim.read`
pub struct ScimRead;
/// `scim.write`
pub struct ScimWrite;
/// `audit.read`: the read-only compliance history under `/audit/v1`.
pub struct AuditRead;
/// `admin`: target and server administration under `/admin/v1`.
pub struct Admin;
/// `approve`: deciding access requests.
pub struct Approve;
/// `admin` or `approve`: reading access requests (approvers need to see what they decide).
pub struct AdminOrApprove;
/// `metrics.read`: the Prometheus endpoint `/metrics`.
pub struct MetricsRead;

impl Scope for AnyScope {
    const ANY_OF: &'static [&'static str] = &[];
}
impl Scope for ScimRead {
    const ANY_OF: &'static [&'static str] = &[SCIM_READ];
}
impl Scope for ScimWrite {
    const ANY_OF: &'static [&'static str] = &[SCIM_WRITE];
}
impl Scope for AuditRead {
    const ANY_OF: &'static [&'static str] = &[AUDIT_READ];
}
impl Scope for Admin {
    const ANY_OF: &'static [&'static str] = &[ADMIN];
}
impl Scope for Approve {
    const ANY_OF: &'static [&'static str] = &[APPROVE];
}
impl Scope for AdminOrApprove {
    const ANY_OF: &'static [&'static str] = ADMIN_OR_APPROVE;
}
impl Scope for MetricsRead {
    const ANY_OF: &'static [&'static str] = &[METRICS_READ];
}

/// Extractor: an authenticated caller holding scope `S`.
pub struct Auth<S: Scope> {
    /// The caller.
    pub principal: Principal,
    _scope: PhantomData<S>,
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let missing = ApiError::Unauthorized {
        detail: "missing bearer token: send 'Authorization: Bearer <token>' (create one with 'roster token issue')",
        presented: false,
    };
    let value = req.headers().get(header::AUTHORIZATION).ok_or(missing)?;
    let invalid = ApiError::Unauthorized {
        detail: "the bearer token is invalid, expired or revoked",
        presented: true,
    };
    let value = value.to_str().map_err(|_| invalid)?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::Unauthorized {
            detail: "the Authorization header must be 'Bearer <token>'",
            presented: true,
        });
    }
    Ok(token.to_string())
}

/// Registry look-ups of verified tokens, kept for a short time so that a busy client does not
/// cost a database round trip per request. A revocation (or expiry) is seen at the latest
/// `recheck` after it happens (default 1 s, `ROSTER_TOKEN_RECHECK_MS`; 0 disables the cache).
#[derive(Clone)]
pub struct TokenCache {
    recheck: std::time::Duration,
    entries: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, CachedToken>>>,
}

#[derive(Clone)]
struct CachedToken {
    record: Option<store::tokens::TokenRecord>,
    checked: std::time::Instant,
}

/// Most cached registrations; beyond it the cache starts over (only signed tokens get in).
const TOKEN_CACHE_MAX: usize = 10_000;

impl TokenCache {
    /// A cache that re-reads a registration after `recheck`.
    pub fn new(recheck: std::time::Duration) -> Self {
        TokenCache {
            recheck,
            entries: Default::default(),
        }
    }

    fn get(&self, jti: &str) -> Option<Option<store::tokens::TokenRecord>> {
        if self.recheck.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        entries
            .get(jti)
            .filter(|e| e.checked.elapsed() < self.recheck)
            .map(|e| e.record.clone())
    }

    fn put(&self, jti: &str, record: Option<store::tokens::TokenRecord>) {
        if self.recheck.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= TOKEN_CACHE_MAX {
                entries.clear();
            }
            entries.insert(
                jti.to_string(),
                CachedToken {
                    record,
                    checked: std::time::Instant::now(),
                },
            );
        }
    }
}

/// Verifies a token completely (signature, claims, registry); returns the caller.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let invalid = || ApiError::Unauthorized {
        detail: "the bearer token is invalid, expired or revoked",
        presented: true,
    };
    let data = jsonwebtoken::decode::<Claims>(token, &state.keys.decoding, &state.keys.validation)
        .map_err(|e| {
            tracing::info!(reason = %e, "bearer token rejected");
            invalid()
        })?;
    let claims = data.claims;
    let record = match state.tokens.get(&claims.jti) {
        Some(record) => record,
        None => {
            let jti = claims.jti.clone();
            let record = crate::db::run(&state.store, move |s| {
                s.read(|c| store::tokens::find(c, &jti))
            })
            .await?;
            state.tokens.put(&claims.jti, record.clone());
            record
        }
    };
    let now = Utc::now().naive_utc();
    match record {
        Some(r) if r.revoked.is_none() && r.expires.is_none_or(|e| e > now) => {
            let scopes: Vec<String> = claims
                .scope
                .split_whitespace()
                .map(str::to_string)
                .collect();
            // without `admin`, writes may not change the membership of protected groups
            let protected_groups = (!scopes.iter().any(|s| s == ADMIN)
                && !state.protected_groups.is_empty())
            .then(|| state.protected_groups.clone());
            Ok(Principal {
                name: r.name,
                jti: r.jti,
                scopes,
                protected_groups,
            })
        }
        _ => {
            tracing::info!(jti = %claims.jti, "bearer token unknown or revoked");
            Err(invalid())
        }
    }
}

impl<S: Scope + 'static> FromRequest for Auth<S> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("app state missing")))?
                .clone();
            let token = bearer(&req)?;
            let principal = authenticate(&state, &token).await?;
            if !S::ANY_OF.is_empty() && !S::ANY_OF.iter().any(|s| principal.has(s)) {
                return Err(ApiError::Forbidden(S::ANY_OF).into());
            }
            Ok(Auth {
                principal,
                _scope: PhantomData,
            })
        })
    }
}
