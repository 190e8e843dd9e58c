//! User passwords (RFC 7643 `password`, writeOnly): hashed with Argon2id before they reach the
//! store, never returned, never logged, never in the event log.

use argon2::password_hash::{rand_core::OsRng, SaltString};
use argon2::{Argon2, PasswordHasher};
use scim::patch::PatchOp;
use serde_json::Value;

/// Longest password accepted (bytes); longer input is refused rather than hashed.
pub const MAX_LEN: usize = 1024;

/// The Argon2id PHC string for `plain` (default parameters, random salt). Blocking: call
/// from a blocking thread.
pub fn hash(plain: &str) -> Result<String, scim::Error> {
    if plain.len() > MAX_LEN {
        return Err(scim::Error::invalid_value(format!(
            "password is longer than {MAX_LEN} bytes"
        )));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(plain.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| scim::Error::invalid_value("password could not be hashed"))
}

/// The password a PATCH request sets, if any: `{"path": "password", "value": "…"}` or a
/// no-path `add`/`replace` whose value map has a `password` key (any case).
pub fn in_patch(ops: &[PatchOp]) -> Option<String> {
    ops.iter().rev().find_map(|op| {
        let value = op.value.as_ref()?;
        match &op.path {
            Some(p) if p.to_string().eq_ignore_ascii_case("password") => {
                value.as_str().map(str::to_string)
            }
            Some(_) => None,
            None => value.as_object().and_then(|m| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("password"))
                    .and_then(|(_, v)| v.as_str().map(str::to_string))
            }),
        }
    })
}

/// Takes the password out of a validated User document and hashes it.
pub fn take_and_hash(doc: &mut Value) -> Result<Option<String>, scim::Error> {
    scim::resource::take_password(doc)
        .map(|p| hash(&p))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_phc_strings() {
        let a = hash("hunter2").unwrap();
        let b = hash("hunter2").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(hash(&"x".repeat(MAX_LEN + 1)).is_err());
    }

    #[test]
    fn finds_the_password_in_patch_ops() {
        let ops = scim::patch::parse_request(serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "replace", "path": "title", "value": "x"},
                {"op": "replace", "value": {"PASSWORD": "s3cret"}}
            ]
        }))
        .unwrap();
        assert_eq!(in_patch(&ops).as_deref(), Some("s3cret"));
    }
}
