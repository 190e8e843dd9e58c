//! SCIM filters (RFC 7644 §3.4.2.2): a hand-written lexer and recursive-descent parser
//! producing a [`Filter`] AST, its canonical [`Display`](std::fmt::Display), and an
//! in-memory evaluator ([`eval`]).
//!
//! Grammar (keywords and operators are case-insensitive; `compValue` is a JSON literal):
//! ```text
//! FILTER    = attrExp / logExp / valuePath / "not" "(" FILTER ")" / "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"      ; valFilter: a FILTER without valuePath
//! attrExp   = attrPath "pr" / attrPath compareOp compValue
//! logExp    = FILTER ("and" / "or") FILTER    ; or < and < not
//! ```
//! Limits ([`Limits`], defaults [`MAX_LEN`], [`MAX_DEPTH`], [`MAX_NODES`]): bytes of input,
//! levels of nesting (checked while descending, so deep input never overflows the stack) and
//! expressions. The node limit also bounds every recursive walk of a parsed filter (`Display`,
//! evaluation, SQL compilation, `Drop`): an `and`/`or` chain is at most `max_nodes` deep, and
//! [`Limits::MAX_NODES_CEILING`] keeps that within any thread's stack.

mod ast;
mod eval;
mod lexer;
mod parser;

use std::fmt;

pub use ast::{CompValue, CompareOp, Filter};
pub use eval::eval;

use crate::error::Error;

/// Maximum filter length in bytes.
pub const MAX_LEN: usize = 16 * 1024;
/// Maximum nesting of parentheses, `not` and value filters.
pub const MAX_DEPTH: usize = 32;
/// Maximum number of expressions (comparisons, `pr`, `and`, `or`, `not`, value filters).
pub const MAX_NODES: usize = 1000;

/// Configurable parser limits (`ROSTER_FILTER_MAX_*`). Exceeding one is `400 invalidFilter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of filter text.
    pub max_len: usize,
    /// Most levels of parentheses, `not` and value filters.
    pub max_depth: usize,
    /// Most expressions (comparisons, `pr`, `and`, `or`, `not`, value filters).
    pub max_nodes: usize,
}

impl Limits {
    /// Highest accepted `max_depth`: the parser recurses once per level.
    pub const MAX_DEPTH_CEILING: usize = 256;
    /// Highest accepted `max_nodes` (also the default): a chain of `and`s is as deep as it is
    /// long, walks of the tree recurse along it, and SQLite refuses expressions nested deeper
    /// than 1000. At 2000 a 1000-term chain is refused by SQLite; at 10,000 it overflows a
    /// 2 MiB stack in a debug build.
    pub const MAX_NODES_CEILING: usize = MAX_NODES;

    /// These limits with each value brought within its ceiling (and at least 1).
    pub fn clamped(self) -> Limits {
        Limits {
            max_len: self.max_len.max(1),
            max_depth: self.max_depth.clamp(1, Self::MAX_DEPTH_CEILING),
            max_nodes: self.max_nodes.clamp(1, Self::MAX_NODES_CEILING),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_len: MAX_LEN,
            max_depth: MAX_DEPTH,
            max_nodes: MAX_NODES,
        }
    }
}

/// A parse error with the 0-based byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// 0-based byte offset into the filter text.
    pub offset: usize,
    /// What went wrong, e.g. `expected a comparison operator (...), found 'foo'`.
    pub message: String,
}

impl FilterError {
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            message: message.into(),
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid filter at position {} (0-based byte offset): {}",
            self.offset, self.message
        )
    }
}

impl std::error::Error for FilterError {}

impl From<FilterError> for Error {
    fn from(e: FilterError) -> Self {
        Error::invalid_filter(e.to_string())
    }
}

/// Parses a filter. Errors are `400 invalidFilter` naming the byte offset.
pub fn parse(input: &str) -> Result<Filter, Error> {
    parse_limited(input, Limits::default())
}

/// [`parse`] under configured limits (clamped to their ceilings).
pub fn parse_limited(input: &str, limits: Limits) -> Result<Filter, Error> {
    parser::parse(input, limits.clamped()).map_err(Error::from)
}

/// Parses a filter, keeping the structured error (offset and message).
pub fn parse_detailed(input: &str) -> Result<Filter, FilterError> {
    parser::parse(input, Limits::default())
}

impl std::str::FromStr for Filter {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::path::AttrPath;

    fn cmp(path: &str, op: CompareOp, v: &str) -> Filter {
        Filter::Compare {
            path: AttrPath::parse(path).unwrap(),
            op,
            value: CompValue::Str(v.into()),
        }
    }

    fn pr(path: &str) -> Filter {
        Filter::Present(AttrPath::parse(path).unwrap())
    }

    #[test]
    fn precedence_or_and_not() {
        let f = parse("a pr or b pr and c pr").unwrap();
        assert_eq!(f, Filter::or(pr("a"), Filter::and(pr("b"), pr("c"))));
        let f = parse("a pr and b pr or c pr").unwrap();
        assert_eq!(f, Filter::or(Filter::and(pr("a"), pr("b")), pr("c")));
        let f = parse("(a pr or b pr) and c pr").unwrap();
        assert_eq!(f, Filter::and(Filter::or(pr("a"), pr("b")), pr("c")));
        let f = parse("not (a pr) and b pr").unwrap();
        assert_eq!(f, Filter::and(Filter::not(pr("a")), pr("b")));
        let f = parse("a pr and b pr and c pr").unwrap();
        assert_eq!(f, Filter::and(Filter::and(pr("a"), pr("b")), pr("c")));
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let a = parse(r#"userName EQ "x" AND NOT (title PR) Or emails[TYPE Eq "work"]"#).unwrap();
        let b = parse(r#"userName eq "x" and not (title pr) or emails[TYPE eq "work"]"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            parse("active eq TRUE").unwrap(),
            parse("active eq true").unwrap()
        );
    }

    #[test]
    fn values_are_json_literals() {
        let f = parse(r#"x eq "a\"b\u00e9""#).unwrap();
        assert_eq!(f, cmp("x", CompareOp::Eq, "a\"bé"));
        assert!(
            matches!(parse("x gt 10").unwrap(), Filter::Compare { value: CompValue::Number(n), .. } if n.as_u64() == Some(10))
        );
        assert!(
            matches!(parse("x lt -1.5e2").unwrap(), Filter::Compare { value: CompValue::Number(n), .. } if n.as_f64() == Some(-150.0))
        );
        assert!(matches!(
            parse("x eq null").unwrap(),
            Filter::Compare {
                value: CompValue::Null,
                ..
            }
        ));
        assert!(matches!(
            parse("x ne false").unwrap(),
            Filter::Compare {
                value: CompValue::Bool(false),
                ..
            }
        ));
    }

    #[test]
    fn errors_name_the_byte_offset() {
        let e = parse_detailed(r#"userName foo "x""#).unwrap_err();
        assert_eq!(e.offset, 9);
        assert_eq!(
            e.to_string(),
            "invalid filter at position 9 (0-based byte offset): expected a comparison operator \
             (eq, ne, co, sw, ew, gt, ge, lt, le, pr), found 'foo'"
        );
        let e = parse(r#"userName eq "x""#.replace("eq \"x\"", "eq bjensen").as_str()).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert!(
            e.detail.contains("position 12") && e.detail.contains("found 'bjensen'"),
            "{}",
            e.detail
        );
        let cases = [
            ("", 0),
            ("userName", 8),
            ("userName eq", 11),
            ("(a pr", 5),
            ("a pr)", 4),
            ("a pr and", 8),
            ("not a pr", 4),
            ("a pr b pr", 5),
            ("emails[type eq \"w\"", 18),
            ("emails[a[b pr]]", 8),
            ("name.x[a pr]", 0),
            ("1bad pr", 0),
            ("a eq \"\\q\"", 5),
        ];
        for (input, offset) in cases {
            let e = parse_detailed(input).unwrap_err();
            assert_eq!(e.offset, offset, "{input}: {e}");
        }
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflow() {
        // 10k levels: within the length limit when unbalanced, rejected by depth.
        let deep = format!("{}a pr", "(".repeat(10_000));
        let e = parse_detailed(&deep).unwrap_err();
        assert!(e.message.contains("nested deeper"), "{e}");
        assert_eq!(e.offset, MAX_DEPTH);
        let balanced = format!("{}a pr{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_detailed(&balanced)
            .unwrap_err()
            .message
            .contains("longer than"));
        let brackets = format!("{}a pr", "emails[".repeat(2_000));
        assert!(parse(&brackets).is_err());
        let nots = "not (".repeat(3_000) + "a pr";
        assert!(parse_detailed(&nots)
            .unwrap_err()
            .message
            .contains("nested deeper"));
        let ok = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn size_limits() {
        let long = format!("a eq \"{}\"", "x".repeat(MAX_LEN));
        assert!(parse(&long).unwrap_err().detail.contains("longer than"));
        let many = vec!["a pr"; MAX_NODES / 2 + 1].join(" or ");
        assert!(parse(&many).unwrap_err().detail.contains("more than 1000"));
        let fine = vec!["a pr"; 400].join(" and ");
        assert_eq!(parse(&fine).unwrap().node_count(), 799);
    }

    #[test]
    fn display_is_canonical() {
        let f = parse(r#"A Eq "x" AND (b pr OR c pr) or not (d lt 5) and e[f eq true]"#).unwrap();
        assert_eq!(
            f.to_string(),
            r#"A eq "x" and (b pr or c pr) or not (d lt 5) and e[f eq true]"#
        );
        let f = parse("a pr and (b pr and c pr)").unwrap();
        assert_eq!(f.to_string(), "a pr and (b pr and c pr)");
        assert_eq!(parse(&f.to_string()).unwrap(), f);
    }
}
