//! Attribute paths (RFC 7644 §3.10 `attrPath`): `userName`, `name.familyName`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.

use std::fmt;

use crate::error::Error;

/// An attribute path: optional schema URN, attribute name, optional sub-attribute name.
/// Names keep the case they were written in; resolve them with
/// [`Registry::find_attr`](crate::schema::Registry::find_attr).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix, without the trailing `:`.
    pub uri: Option<String>,
    /// The attribute name.
    pub attr: String,
    /// The sub-attribute name.
    pub sub: Option<String>,
}

impl AttrPath {
    /// A path to a top-level attribute without URN or sub-attribute.
    pub fn simple(attr: impl Into<String>) -> Self {
        Self {
            uri: None,
            attr: attr.into(),
            sub: None,
        }
    }

    /// Parses an attribute path. The URN is everything up to the last `:`; the rest is
    /// `ATTRNAME ["." subAttr]`, where `ATTRNAME = ALPHA *("-" / "_" / DIGIT / ALPHA)`
    /// (a leading `$` is also accepted, for `$ref`). Errors are `invalidPath`.
    pub fn parse(s: &str) -> Result<AttrPath, Error> {
        let invalid =
            |why: &str| Error::invalid_path(format!("invalid attribute path '{s}': {why}"));
        let (uri, rest) = match s.rfind(':') {
            Some(i) => (Some(&s[..i]), &s[i + 1..]),
            None => (None, s),
        };
        if let Some(u) = uri {
            if u.is_empty() || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(invalid("malformed schema URN"));
            }
        }
        let mut parts = rest.split('.');
        let attr = parts.next().unwrap_or_default();
        let sub = parts.next();
        if parts.next().is_some() {
            return Err(invalid("at most one sub-attribute is allowed ('attr.sub')"));
        }
        if !is_attr_name(attr) {
            return Err(invalid(
                "attribute names start with a letter and contain only letters, digits, '-' and '_'",
            ));
        }
        if let Some(sub) = sub {
            if !is_attr_name(sub) {
                return Err(invalid("sub-attribute names start with a letter and contain only letters, digits, '-' and '_'"));
            }
        }
        Ok(AttrPath {
            uri: uri.map(str::to_owned),
            attr: attr.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }
}

/// `ATTRNAME = ALPHA *(nameChar)`, plus an optional leading `$` (`$ref`).
pub(crate) fn is_attr_name(s: &str) -> bool {
    let s = s.strip_prefix('$').unwrap_or(s);
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(uri) = &self.uri {
            write!(f, "{uri}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for AttrPath {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttrPath::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;

    #[test]
    fn parses_all_forms() {
        assert_eq!(
            AttrPath::parse("userName").unwrap(),
            AttrPath::simple("userName")
        );
        let p = AttrPath::parse("name.familyName").unwrap();
        assert_eq!(
            (p.attr.as_str(), p.sub.as_deref()),
            ("name", Some("familyName"))
        );
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        )
        .unwrap();
        assert_eq!(
            p.uri.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.attr, "employeeNumber");
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(
            (p.attr.as_str(), p.sub.as_deref()),
            ("manager", Some("value"))
        );
        assert_eq!(
            AttrPath::parse("members.$ref").unwrap().sub.as_deref(),
            Some("$ref")
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "userName",
            "name.familyName",
            "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
            "x-y_1",
        ] {
            assert_eq!(AttrPath::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_paths() {
        for s in [
            "",
            "1abc",
            "a.b.c",
            "a b",
            ":userName",
            "urn:x:",
            "na me",
            "name.",
            ".x",
            "a[b]",
            "é",
        ] {
            let e = AttrPath::parse(s).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{s}");
        }
    }
}
