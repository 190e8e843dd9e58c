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

/// Normalisation of case-insensitive strings (`userName`, `displayName`, emails, …): two
/// strings that differ only by case or by Unicode compatibility form get the same key, so the
/// store's unique `user_name_norm` refuses `Ｂｊｅｎｓｅｎ` (full-width) and `BJENSEN` when
/// `bjensen` exists. The key is NFKC, then lower case, then the case foldings that lower case
/// leaves out (`ß`/`ẞ` → `ss`, final `ς` → `σ`), then NFKC again (lower-casing can denormalise,
/// e.g. `İ` → `i̇`). The `*_norm` columns, the filter-index documents, filter values and the
/// in-memory evaluator all use this one function.
pub fn normalize_case(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let lower = s.nfkc().collect::<String>().to_lowercase();
    let mut folded = String::with_capacity(lower.len());
    for c in lower.chars() {
        match c {
            'ß' | 'ẞ' => folded.push_str("ss"),
            'ς' => folded.push('σ'),
            c => folded.push(c),
        }
    }
    folded.nfkc().collect()
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

    #[test]
    fn normalize_case_folds_compatibility_forms_and_special_cases() {
        let n = super::normalize_case;
        // NFC and NFD spellings of é, full-width letters, ligatures, ß, final sigma
        assert_eq!(n("Ame\u{0301}lie"), n("AMÉLIE"));
        assert_eq!(n("ＢＪｅｎｓｅｎ"), "bjensen");
        assert_eq!(n("ﬁnn"), "finn");
        assert_eq!(n("STRASSE"), n("straße"));
        assert_eq!(n("ΣΑΣ"), n("σασ"));
        assert_eq!(n("Kelvin"), n("\u{212A}elvin"));
        // idempotent: a key normalises to itself
        for s in ["İstanbul", "ǅemal", "Ω", "ﬃ", "ᾼ", "x\u{0307}"] {
            assert_eq!(n(&n(s)), n(s), "{s}");
        }
        assert_ne!(n("bjensen"), n("bjensen2"));
    }
}
