//! Protocol limits: how much one request may ask of the server. Each is configurable
//! (`ROSTER_*`, see `docs/CONFIGURATION.md`) and answered with the RFC 7644 status when
//! exceeded — `400 invalidFilter` for filters, `400 invalidSyntax` for nesting, `400
//! invalidValue` for value lengths and PATCH sizes — never by a panic or a stack overflow.
//!
//! The checks here run on bytes or on parsed values without recursion, so that hostile input
//! costs at most one pass over the body.

use serde_json::Value;

use crate::error::Error;
use crate::filter;
use crate::patch::PatchOp;

/// Default [`Limits::json_depth`].
pub const JSON_DEPTH: usize = 32;
/// Highest accepted [`Limits::json_depth`]: `serde_json` refuses deeper input on its own.
pub const JSON_DEPTH_CEILING: usize = 128;
/// Default [`Limits::max_value_bytes`]: below PostgreSQL's b-tree entry limit (2,704 bytes),
/// since string attributes are projected into indexed columns.
pub const MAX_VALUE_BYTES: usize = 2048;
/// Default [`Limits::patch_max_operations`].
pub const PATCH_MAX_OPERATIONS: usize = 1000;
/// Default [`Limits::patch_max_values`].
pub const PATCH_MAX_VALUES: usize = 1000;
/// Default [`Limits::max_page_size`] (advertised as `filter.maxResults` and
/// `pagination.maxPageSize`).
pub const MAX_PAGE_SIZE: u64 = 1000;

/// Every protocol limit, with [`Default`] giving the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Filter length, depth and expression count.
    pub filter: filter::Limits,
    /// Deepest nesting of arrays and objects in a JSON body.
    pub json_depth: usize,
    /// Longest string value (UTF-8 bytes) in a resource, PATCH or Bulk body.
    pub max_value_bytes: usize,
    /// Most operations in one PATCH request.
    pub patch_max_operations: usize,
    /// Most values in one PATCH operation (e.g. members added at once).
    pub patch_max_values: usize,
    /// Largest page: a larger `count` is lowered to it (RFC 7644 §3.4.2.4).
    pub max_page_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            filter: filter::Limits::default(),
            json_depth: JSON_DEPTH,
            max_value_bytes: MAX_VALUE_BYTES,
            patch_max_operations: PATCH_MAX_OPERATIONS,
            patch_max_values: PATCH_MAX_VALUES,
            max_page_size: MAX_PAGE_SIZE,
        }
    }
}

impl Limits {
    /// These limits with each value brought within its ceiling (and at least 1).
    pub fn clamped(self) -> Limits {
        Limits {
            filter: self.filter.clamped(),
            json_depth: self.json_depth.clamp(1, JSON_DEPTH_CEILING),
            max_value_bytes: self.max_value_bytes.max(1),
            patch_max_operations: self.patch_max_operations.max(1),
            patch_max_values: self.patch_max_values.max(1),
            max_page_size: self.max_page_size.max(1),
        }
    }

    /// Refuses a JSON text nested deeper than [`json_depth`](Limits::json_depth), before it is
    /// parsed (one pass over the bytes, no recursion). Malformed JSON passes: the parser
    /// reports it with a position.
    pub fn check_json_depth(&self, body: &[u8]) -> Result<(), Error> {
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        for (i, &b) in body.iter().enumerate() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > self.json_depth {
                        return Err(Error::invalid_syntax(format!(
                            "the JSON body is nested deeper than the maximum of {} levels \
                             (at byte {i})",
                            self.json_depth
                        )));
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }

    /// Refuses any string in `value` (object keys included) longer than
    /// [`max_value_bytes`](Limits::max_value_bytes). Iterative: no recursion.
    pub fn check_value_lengths(&self, value: &Value) -> Result<(), Error> {
        let max = self.max_value_bytes;
        let too_long = |what: &str, len: usize| {
            Error::invalid_value(format!(
                "{what} of {len} bytes exceeds the maximum of {max} bytes"
            ))
        };
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) if s.len() > max => return Err(too_long("a value", s.len())),
                Value::Array(items) => stack.extend(items.iter()),
                Value::Object(map) => {
                    for (k, v) in map {
                        if k.len() > max {
                            return Err(too_long("an attribute name", k.len()));
                        }
                        stack.push(v);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Refuses a PATCH request with more than
    /// [`patch_max_operations`](Limits::patch_max_operations) operations, or an operation
    /// carrying more than [`patch_max_values`](Limits::patch_max_values) values (an array
    /// value, or the longest array in a no-path map such as `{"members": [...]}`).
    pub fn check_patch(&self, ops: &[PatchOp]) -> Result<(), Error> {
        if ops.len() > self.patch_max_operations {
            return Err(Error::invalid_value(format!(
                "the PATCH request has {} operations; the maximum is {}",
                ops.len(),
                self.patch_max_operations
            )));
        }
        for (i, op) in ops.iter().enumerate() {
            let n = match &op.value {
                Some(Value::Array(items)) => items.len(),
                Some(Value::Object(map)) => map
                    .values()
                    .map(|v| v.as_array().map_or(1, Vec::len))
                    .max()
                    .unwrap_or(0),
                _ => 1,
            };
            if n > self.patch_max_values {
                return Err(Error::invalid_value(format!(
                    "operation {i} carries {n} values; the maximum in one operation is {} \
                     (split it into several operations or requests)",
                    self.patch_max_values
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;

    #[test]
    fn json_depth_counts_brackets_outside_strings() {
        let l = Limits {
            json_depth: 3,
            ..Limits::default()
        };
        assert!(l.check_json_depth(br#"{"a":[{"b":1}]}"#).is_ok());
        assert!(l.check_json_depth(br#"{"a":"[[[[[[\"[[["}"#).is_ok());
        let e = l.check_json_depth(br#"{"a":[{"b":[1]}]}"#).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        let deep = "[".repeat(1_000_000);
        assert!(Limits::default().check_json_depth(deep.as_bytes()).is_err());
    }

    #[test]
    fn value_lengths_include_keys_and_nested_values() {
        let l = Limits {
            max_value_bytes: 4,
            ..Limits::default()
        };
        assert!(l
            .check_value_lengths(&serde_json::json!({"ab": ["abcd", {"c": "x"}]}))
            .is_ok());
        for v in [
            serde_json::json!({"a": [{"b": "abcde"}]}),
            serde_json::json!({"abcde": 1}),
        ] {
            let e = l.check_value_lengths(&v).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{v}");
        }
    }

    #[test]
    fn patch_sizes() {
        let l = Limits {
            patch_max_operations: 2,
            patch_max_values: 3,
            ..Limits::default()
        };
        let op = |value: Value| PatchOp {
            op: crate::patch::OpKind::Add,
            path: None,
            value: Some(value),
        };
        let three = serde_json::json!([1, 2, 3]);
        assert!(l
            .check_patch(&[op(three.clone()), op(three.clone())])
            .is_ok());
        assert!(l.check_patch(&vec![op(three.clone()); 3]).is_err());
        assert!(l
            .check_patch(&[op(serde_json::json!([1, 2, 3, 4]))])
            .is_err());
        assert!(l
            .check_patch(&[op(serde_json::json!({"members": [1, 2, 3, 4]}))])
            .is_err());
    }
}
