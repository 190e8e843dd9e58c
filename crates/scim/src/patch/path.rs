//! PATCH paths (RFC 7644 §3.5.2, the `PATH` ABNF of Figure 1):
//! `attrPath`, `attrPath "[" valFilter "]"` and `attrPath "[" valFilter "]" "." subAttr`,
//! each optionally URN-qualified.

use std::fmt;

use crate::error::Error;
use crate::filter::{self, Filter};
use crate::path::{is_attr_name, AttrPath};

/// A parsed PATCH `path`: `emails[type eq "work"].value`, `members[value eq "2819c223"]`,
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`, `name.familyName`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute; `attr.sub` is set only when there is no value filter (`name.familyName`).
    pub attr: AttrPath,
    /// The value filter, its paths relative to the multi-valued attribute.
    pub filter: Option<Filter>,
    /// The sub-attribute after the `]` (`.value` in `emails[type eq "work"].value`).
    pub sub: Option<String>,
}

impl PatchPath {
    /// Parses a PATCH path. Errors are `invalidPath` and say what was expected.
    pub fn parse(s: &str) -> Result<PatchPath, Error> {
        let invalid = |why: String| Error::invalid_path(format!("invalid PATCH path '{s}': {why}"));
        let s_trim = s.trim();
        if s_trim.is_empty() {
            return Err(Error::invalid_path(
                "PATCH 'path' is empty: name an attribute such as \"displayName\" or omit 'path'",
            ));
        }
        let Some(open) = s_trim.find('[') else {
            if s_trim.contains(']') {
                return Err(invalid("']' without a matching '['".into()));
            }
            let attr = AttrPath::parse(s_trim).map_err(|e| invalid(e.detail.into_owned()))?;
            return Ok(PatchPath {
                attr,
                filter: None,
                sub: None,
            });
        };
        let close = matching_bracket(s_trim, open).ok_or_else(|| {
            invalid("the value filter is not closed: expected ']' after the filter".into())
        })?;
        let rest = &s_trim[close + 1..];
        let sub = if rest.is_empty() {
            None
        } else {
            let Some(name) = rest.strip_prefix('.') else {
                return Err(invalid(format!(
                    "expected '.subAttribute' or the end of the path after ']', found '{rest}'"
                )));
            };
            if !is_attr_name(name) {
                return Err(invalid(format!(
                    "'{name}' is not a valid sub-attribute name (letters, digits, '-' and '_')"
                )));
            }
            Some(name.to_owned())
        };
        let value_path = &s_trim[..=close];
        match filter::parse_detailed(value_path) {
            Ok(Filter::ValuePath { path, filter }) => Ok(PatchPath {
                attr: path,
                filter: Some(*filter),
                sub,
            }),
            Ok(_) => Err(invalid(
                "expected 'attribute[filter]' such as 'emails[type eq \"work\"]'".into(),
            )),
            Err(e) => Err(invalid(format!(
                "{} (at byte {} of the path)",
                e.message, e.offset
            ))),
        }
    }

    /// Whether the path has a value filter.
    pub fn has_filter(&self) -> bool {
        self.filter.is_some()
    }
}

/// The index of the `]` matching the `[` at `open`, skipping JSON strings in the filter.
fn matching_bracket(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip_while(|(i, _)| *i < open) {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '[' => depth += 1,
            ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for PatchPath {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PatchPath::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;

    #[test]
    fn parses_rfc_forms() {
        let p = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr, AttrPath::simple("emails"));
        assert!(p.filter.is_some());
        assert_eq!(p.sub.as_deref(), Some("value"));
        let p = PatchPath::parse(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#)
            .unwrap();
        assert_eq!(p.sub, None);
        let p = PatchPath::parse("name.familyName").unwrap();
        assert_eq!(p.attr.sub.as_deref(), Some("familyName"));
        assert!(p.filter.is_none());
        let p = PatchPath::parse(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[value ew "]example.com"]"#,
        )
        .unwrap();
        assert_eq!(
            p.attr.uri.as_deref(),
            Some("urn:ietf:params:scim:schemas:core:2.0:User")
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            r#"emails[type eq "work"].value"#,
            r#"addresses[type eq "work" and primary eq true].streetAddress"#,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "name.familyName",
            r#"members[value eq "a]b"]"#,
        ] {
            let p = PatchPath::parse(s).unwrap();
            assert_eq!(p.to_string(), s);
            assert_eq!(PatchPath::parse(&p.to_string()).unwrap(), p);
        }
    }

    #[test]
    fn errors_are_invalid_path() {
        for s in [
            "",
            "  ",
            "emails[type eq \"work\"",
            "emails]",
            "emails[type eq \"work\"]value",
            "emails[type eq \"work\"].1x",
            "emails[type eq]",
            "name.givenName[value pr]",
            "emails[type[x pr]]",
            "a.b.c",
        ] {
            let e = PatchPath::parse(s).unwrap_err();
            assert_eq!(
                e.scim_type,
                Some(ScimType::InvalidPath),
                "{s}: {}",
                e.detail
            );
        }
    }
}
