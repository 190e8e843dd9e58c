//! The SCIM error type (RFC 7644 §3.12): an HTTP status, an optional `scimType` and a detail.

use std::borrow::Cow;
use std::fmt;

use serde_json::{json, Value};

use crate::schema::ERROR_SCHEMA;

/// The `scimType` values of RFC 7644 §3.12, Table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScimType {
    /// The filter syntax is invalid or the filter is unsupported.
    InvalidFilter,
    /// The filter yields more results than the server will process.
    TooMany,
    /// One or more unique attribute values are already in use.
    Uniqueness,
    /// The attempted modification is not compatible with an attribute's mutability.
    Mutability,
    /// The request body structure was invalid or did not conform to the schema.
    InvalidSyntax,
    /// The `path` attribute was invalid or malformed.
    InvalidPath,
    /// The `path` did not yield an attribute or value that could be operated on.
    NoTarget,
    /// A required value was missing, or a value was not compatible with the attribute type.
    InvalidValue,
    /// The specified SCIM protocol version is not supported.
    InvalidVers,
    /// The request cannot be completed because sensitive information was in the URI.
    Sensitive,
    /// RFC 9865: the cursor is invalid (not issued for this query, or malformed).
    InvalidCursor,
    /// RFC 9865: the cursor has expired.
    ExpiredCursor,
    /// RFC 9865: the `count` cannot be honoured.
    InvalidCount,
}

impl ScimType {
    /// The wire value, e.g. `"invalidFilter"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
            ScimType::InvalidCursor => "invalidCursor",
            ScimType::ExpiredCursor => "expiredCursor",
            ScimType::InvalidCount => "invalidCount",
        }
    }
}

impl fmt::Display for ScimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SCIM error response: rendered by [`Error::to_json`] as the body of an error response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status} {detail}")]
pub struct Error {
    /// HTTP status code.
    pub status: u16,
    /// The `scimType` detail code, for 400/403/409 errors that have one.
    pub scim_type: Option<ScimType>,
    /// A human-readable, actionable message. Never contains internals.
    pub detail: Cow<'static, str>,
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $status:expr, $ty:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(detail: impl Into<Cow<'static, str>>) -> Self {
                Self::new($status, $ty, detail)
            }
        )*
    };
}

impl Error {
    /// Builds an error from its parts.
    pub fn new(
        status: u16,
        scim_type: Option<ScimType>,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    constructors! {
        /// 400 `invalidFilter`.
        invalid_filter => 400, Some(ScimType::InvalidFilter);
        /// 400 `invalidSyntax`.
        invalid_syntax => 400, Some(ScimType::InvalidSyntax);
        /// 400 `invalidValue`.
        invalid_value => 400, Some(ScimType::InvalidValue);
        /// 400 `invalidPath`.
        invalid_path => 400, Some(ScimType::InvalidPath);
        /// 400 `noTarget`.
        no_target => 400, Some(ScimType::NoTarget);
        /// 400 `mutability`.
        mutability => 400, Some(ScimType::Mutability);
        /// 400 `tooMany`.
        too_many => 400, Some(ScimType::TooMany);
        /// 400 `invalidVers`.
        invalid_vers => 400, Some(ScimType::InvalidVers);
        /// 400 `invalidCursor` (RFC 9865).
        invalid_cursor => 400, Some(ScimType::InvalidCursor);
        /// 409 `uniqueness`.
        uniqueness => 409, Some(ScimType::Uniqueness);
        /// 403 `sensitive`.
        sensitive => 403, Some(ScimType::Sensitive);
        /// 400 without a `scimType`.
        bad_request => 400, None;
        /// 404.
        not_found => 404, None;
        /// 409 without a `scimType`.
        conflict => 409, None;
        /// 412 (`If-Match` did not match the current version).
        precondition_failed => 412, None;
        /// 413.
        payload_too_large => 413, None;
        /// 501.
        not_implemented => 501, None;
        /// 415.
        unsupported_media_type => 415, None;
        /// 406.
        not_acceptable => 406, None;
    }

    /// The RFC 7644 §3.12 JSON body. `status` is a string; `scimType` is omitted when absent.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
        });
        if let (Some(t), Some(obj)) = (self.scim_type, body.as_object_mut()) {
            obj.insert("scimType".into(), Value::from(t.as_str()));
        }
        if let Some(obj) = body.as_object_mut() {
            obj.insert("detail".into(), Value::from(self.detail.as_ref()));
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_body_has_string_status_and_scim_type() {
        let e = Error::uniqueness("userName 'bjensen' is already in use");
        assert_eq!(
            e.to_json(),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "409",
                "scimType": "uniqueness",
                "detail": "userName 'bjensen' is already in use"
            })
        );
        assert_eq!(e.to_string(), "409 userName 'bjensen' is already in use");
    }

    #[test]
    fn scim_type_omitted_when_none() {
        let v = Error::not_found("User 42 not found").to_json();
        assert!(v.get("scimType").is_none());
        assert_eq!(v["status"], "404");
    }

    #[test]
    fn constructors_set_status() {
        assert_eq!(Error::sensitive("x").status, 403);
        assert_eq!(
            Error::invalid_vers("x").scim_type,
            Some(ScimType::InvalidVers)
        );
        assert_eq!(Error::precondition_failed("x").status, 412);
        assert_eq!(Error::payload_too_large("x").status, 413);
        assert_eq!(Error::not_implemented("x").status, 501);
        assert_eq!(Error::unsupported_media_type("x").status, 415);
        assert_eq!(Error::not_acceptable("x").status, 406);
        assert_eq!(Error::conflict("x").scim_type, None);
        assert_eq!(ScimType::NoTarget.as_str(), "noTarget");
    }
}
