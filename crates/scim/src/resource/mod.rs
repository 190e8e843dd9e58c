//! Resources: validation of client input for create/replace ([`validate`]) and the
//! projections the store keeps in indexed columns ([`user_projection`], [`group_projection`],
//! [`group_members`]).

mod index;
mod projection;
mod validate;

pub use index::{canonical_datetime, index_doc};
pub use projection::{
    group_members, group_projection, user_projection, GroupProjection, MemberKind, MemberRef,
    UserProjection,
};
pub use validate::validate;

/// Removes the writeOnly `password` from a validated User document and returns it, so that
/// only a hash is ever stored.
pub fn take_password(doc: &mut serde_json::Value) -> Option<String> {
    let obj = doc.as_object_mut()?;
    let key = obj
        .keys()
        .find(|k| k.eq_ignore_ascii_case("password"))?
        .clone();
    match obj.remove(&key)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    }
}

/// Case normalisation for case-insensitive uniqueness (`userName`, group `displayName`):
/// Unicode lower case. The store compares `*_norm` columns built with this function.
pub fn normalize_case(s: &str) -> String {
    s.to_lowercase()
}

/// Case-insensitive object member lookup (exact match first).
pub(crate) fn get_ci<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn normalize_case_is_unicode_lowercase() {
        assert_eq!(
            super::normalize_case("BJensen@Example.COM"),
            "bjensen@example.com"
        );
        assert_eq!(super::normalize_case("ÉMILE"), "émile");
    }
}
