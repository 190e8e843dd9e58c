//! Target settings as the admin API and the CLI give them (`POST /admin/v1/targets`), their
//! validation, and the stored split: settings as JSON, credentials encrypted apart.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// A target as submitted: everything, credentials included.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetInput {
    /// Unique human name.
    pub name: String,
    /// The remote SCIM base URL (`…/scim/v2`), without a trailing `/`.
    pub base_url: String,
    /// How to authenticate.
    pub auth: Auth,
    /// Which users are pushed.
    #[serde(default)]
    pub scope: Scope,
    /// Which groups are pushed.
    #[serde(default)]
    pub push_groups: PushGroups,
    /// Attribute mapping; `None`: core User and Enterprise attributes as they are.
    #[serde(default)]
    pub mapping: Option<Vec<Mapping>>,
    /// What leaving the scope does remotely.
    #[serde(default)]
    pub deprovision: Deprovision,
    /// Requests per second at most (`None`: unlimited).
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// A run that would deprovision more than this pauses the target.
    #[serde(default)]
    pub deletion_threshold: Option<Threshold>,
    /// Requests in flight at once (default 8).
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Pre-hires are created downstream (inactive) this many days before their `startDate`
    /// (default 3).
    #[serde(default)]
    pub provision_before_start_days: Option<u32>,
    /// Which attributes find an existing remote object to take over before creating one:
    /// any of `externalId`, `userName` (users) and `displayName` (groups). Default: all three.
    #[serde(default)]
    pub adopt_by: Option<Vec<String>>,
}

/// The stored settings: the input without credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// The remote SCIM base URL.
    pub base_url: String,
    /// The auth type only (`bearer`, …): the credentials are stored encrypted apart.
    pub auth_type: String,
    /// Which users are pushed.
    pub scope: Scope,
    /// Which groups are pushed.
    pub push_groups: PushGroups,
    /// Attribute mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<Vec<Mapping>>,
    /// Deprovision mode.
    pub deprovision: Deprovision,
    /// Requests per second at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<f64>,
    /// Accidental-deletion threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_threshold: Option<Threshold>,
    /// Requests in flight at once.
    pub concurrency: u32,
    /// Days before `startDate` that a pre-hire is created downstream, inactive.
    #[serde(default = "default_before_start")]
    pub provision_before_start_days: u32,
    /// Attributes that find an existing remote object to adopt.
    #[serde(default = "default_adopt_by")]
    pub adopt_by: Vec<String>,
}

fn default_adopt_by() -> Vec<String> {
    ADOPT_ATTRS.iter().map(|s| s.to_string()).collect()
}

/// The attributes adoption can match on.
pub const ADOPT_ATTRS: [&str; 3] = ["externalId", "userName", "displayName"];

fn default_before_start() -> u32 {
    3
}

/// Downstream credentials.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: String,
    },
    /// HTTP basic.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// OAuth 2.0 client credentials; the access token is fetched and refreshed as needed.
    #[serde(rename_all = "camelCase")]
    Oauth2 {
        /// The token endpoint.
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
        /// Requested scope, if any.
        #[serde(default)]
        scope: Option<String>,
    },
    /// A custom header (`X-API-Key: …`).
    Header {
        /// Header name.
        name: String,
        /// Header value.
        value: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Auth::{}(…)", self.kind())
    }
}

impl Auth {
    /// The type name (`bearer`, `basic`, `oauth2`, `header`).
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::Bearer { .. } => "bearer",
            Auth::Basic { .. } => "basic",
            Auth::Oauth2 { .. } => "oauth2",
            Auth::Header { .. } => "header",
        }
    }

    /// The secret values, so that logs and answers can be checked never to contain them.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Auth::Bearer { token } => vec![token],
            Auth::Basic { password, .. } => vec![password],
            Auth::Oauth2 { client_secret, .. } => vec![client_secret],
            Auth::Header { value, .. } => vec![value],
        }
    }

    /// What the API shows: the type and the non-secret fields.
    pub fn redacted(&self) -> Value {
        match self {
            Auth::Bearer { .. } => serde_json::json!({"type": "bearer"}),
            Auth::Basic { username, .. } => {
                serde_json::json!({"type": "basic", "username": username})
            }
            Auth::Oauth2 {
                token_url,
                client_id,
                scope,
                ..
            } => serde_json::json!({"type": "oauth2", "tokenUrl": token_url,
                "clientId": client_id, "scope": scope}),
            Auth::Header { name, .. } => serde_json::json!({"type": "header", "name": name}),
        }
    }
}

/// Which users a target receives.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Scope {
    /// Every user.
    #[default]
    All,
    /// Members (directly or through nested groups) of the assigned groups.
    Groups {
        /// Assigned group ids.
        groups: Vec<String>,
    },
    /// Users matching a SCIM filter.
    Filter {
        /// The filter.
        filter: String,
    },
}

/// Which groups a target receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushGroups {
    /// No groups.
    #[default]
    None,
    /// The assigned groups (scope `groups`), with their in-scope user members.
    Assigned,
}

/// What happens remotely when a user leaves the scope, is deactivated or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Deprovision {
    /// `PATCH active: false` (the account is kept).
    #[default]
    Disable,
    /// `DELETE` the account.
    Delete,
}

/// The accidental-deletion threshold: a count (`50`) or a percentage (`"10%"`) of the accounts
/// currently pushed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Threshold {
    /// At most this many deprovisions per run.
    Count(u64),
    /// At most this share of the pushed accounts, written `"10%"`.
    Percent(#[serde(with = "percent")] f64),
}

mod percent {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{p}%"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let s = String::deserialize(d)?;
        s.trim()
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<f64>().ok())
            .filter(|p| p.is_finite() && *p >= 0.0)
            .ok_or_else(|| serde::de::Error::custom("a percentage is written like \"10%\""))
    }
}

impl Threshold {
    /// The largest number of deprovisions allowed when `pushed` accounts exist.
    pub fn limit(&self, pushed: u64) -> u64 {
        match self {
            Threshold::Count(n) => *n,
            Threshold::Percent(p) => ((pushed as f64) * p / 100.0).floor() as u64,
        }
    }
}

/// One mapped attribute: exactly one of `source`, `constant` or `template`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mapping {
    /// Where the value goes on the remote (`userName`, `name.givenName`,
    /// `urn:…:enterprise:2.0:User:department`).
    pub target: String,
    /// Where the value comes from in the Roster user (same path syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A fixed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<Value>,
    /// A template: `{name.givenName}.{name.familyName}@corp.example`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// `copy` (default), `lower` or `upper`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<Transform>,
}

/// A string transform applied after the value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// As is.
    Copy,
    /// Lower case.
    Lower,
    /// Upper case.
    Upper,
}

impl TargetInput {
    /// Parses and validates a JSON body; every error names the field.
    pub fn from_json(body: &Value) -> Result<TargetInput> {
        let input: TargetInput = serde_json::from_value(body.clone())
            .map_err(|e| Error::Invalid(format!("invalid target: {e}")))?;
        input.validate()?;
        Ok(input)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        let name = self.name.trim();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return bad("name: 1 to 64 characters among letters, digits, '-', '_' and '.'".into());
        }
        match reqwest::Url::parse(&self.base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                if !u.username().is_empty() || u.password().is_some() {
                    return bad("baseUrl: put credentials in `auth`, not in the URL".into());
                }
            }
            _ => {
                return bad(format!(
                    "baseUrl: '{}' is not an http(s) URL",
                    self.base_url
                ))
            }
        }
        match &self.auth {
            Auth::Bearer { token } if token.trim().is_empty() => {
                return bad("auth.token: must not be empty".into())
            }
            Auth::Header { name, value } => {
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return bad(format!("auth.name: '{name}' is not a valid header name"));
                }
                if reqwest::header::HeaderValue::from_str(value).is_err() {
                    return bad("auth.value: not a valid header value".into());
                }
            }
            Auth::Oauth2 { token_url, .. } if reqwest::Url::parse(token_url).is_err() => {
                return bad("auth.tokenUrl: not a URL".into())
            }
            _ => {}
        }
        match &self.scope {
            Scope::Groups { groups } if groups.is_empty() => {
                return bad("scope.groups: name at least one group id".into())
            }
            Scope::Filter { filter } => {
                if let Err(e) = scim::filter::parse(filter) {
                    return bad(format!("scope.filter: {}", e.detail));
                }
            }
            _ => {}
        }
        if self.push_groups == PushGroups::Assigned && !matches!(self.scope, Scope::Groups { .. }) {
            return bad("pushGroups: 'assigned' needs a scope of type 'groups'".into());
        }
        if let Some(r) = self.rate_limit {
            if !(r.is_finite() && r > 0.0) {
                return bad("rateLimit: a positive number of requests per second".into());
            }
        }
        if let Some(c) = self.concurrency {
            if !(1..=64).contains(&c) {
                return bad("concurrency: 1 to 64".into());
            }
        }
        if let Some(list) = &self.adopt_by {
            if let Some(bad_attr) = list.iter().find(|a| !ADOPT_ATTRS.contains(&a.as_str())) {
                return bad(format!(
                    "adoptBy: '{bad_attr}' is not one of externalId, userName, displayName"
                ));
            }
        }
        if self.provision_before_start_days.is_some_and(|d| d > 365) {
            return bad("provisionBeforeStartDays: 0 to 365".into());
        }
        if let Some(mapping) = &self.mapping {
            crate::mapping::validate(mapping).map_err(Error::Invalid)?;
        }
        Ok(())
    }

    /// Splits into stored settings and credentials.
    pub fn split(self) -> (String, Settings, Auth) {
        let settings = Settings {
            base_url: self.base_url.trim_end_matches('/').to_string(),
            auth_type: self.auth.kind().to_string(),
            scope: self.scope,
            push_groups: self.push_groups,
            mapping: self.mapping,
            deprovision: self.deprovision,
            rate_limit: self.rate_limit,
            deletion_threshold: self.deletion_threshold,
            concurrency: self.concurrency.unwrap_or(8),
            provision_before_start_days: self
                .provision_before_start_days
                .unwrap_or_else(default_before_start),
            adopt_by: self.adopt_by.unwrap_or_else(default_adopt_by),
        };
        (self.name.trim().to_string(), settings, self.auth)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thresholds_are_counts_or_percentages() {
        let c: Threshold = serde_json::from_value(json!(50)).unwrap();
        assert_eq!(c.limit(1000), 50);
        let p: Threshold = serde_json::from_value(json!("10%")).unwrap();
        assert_eq!(p.limit(1000), 100);
        assert_eq!(p.limit(5), 0);
        assert_eq!(serde_json::to_value(p).unwrap(), json!("10%"));
        assert!(serde_json::from_value::<Threshold>(json!("ten")).is_err());
        assert!(serde_json::from_value::<Threshold>(json!("-5%")).is_err());
    }

    #[test]
    fn credentials_never_show_in_debug_or_redacted_views() {
        let a = Auth::Basic {
            username: "svc".into(),
            password: "pw-secret".into(),
        };
        assert!(!format!("{a:?}").contains("pw-secret"));
        assert!(!a.redacted().to_string().contains("pw-secret"));
        assert_eq!(a.secrets(), vec!["pw-secret"]);
    }
}
