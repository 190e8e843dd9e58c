//! PATCH (RFC 7644 §3.5.2): the PatchOp request ([`parse_request`]), PATCH paths
//! ([`PatchPath`]) and the atomic application of operations to a stored document
//! ([`apply`]).
//!
//! Choices where the RFC leaves room (each tested in `tests/patch_*.rs`):
//! - `replace` of a complex single-valued attribute merges sub-attributes (§3.5.2.3:
//!   "sub-attributes that are not specified in the value parameter are left unchanged").
//! - `replace` with `"value": null` removes the attribute; `""` is stored as given.
//! - In a no-path `add`/`replace` map, readOnly attributes (`id`, `meta`, `groups`) are
//!   ignored, as for PUT (§3.5.1) — Okta sends `id` there; `schemas` is ignored too. A
//!   readOnly attribute named by `path` is `mutability`.
//! - `remove` of a required attribute (`userName`, `displayName`) is `mutability`, as
//!   §3.5.2.2 says; making it empty some other way fails validation (`invalidValue`).
//! - `replace`/`remove` with a value filter matching nothing is `noTarget`; `add` with
//!   such a filter creates the value the filter describes ([`compat`]).
//! - For Groups, `members` is never applied to the document: it becomes [`MemberOp`]s.

mod apply;

pub use apply::check_immutable;
mod compat;
mod path;

use std::fmt;

use serde_json::Value;

pub use apply::apply;
pub use path::PatchPath;

use crate::error::Error;
use crate::resource::MemberRef;
use crate::schema::PATCH_OP;

/// A PATCH operation type (RFC 7644 §3.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `add`
    Add,
    /// `remove`
    Remove,
    /// `replace`
    Replace,
}

impl OpKind {
    /// The lower-case wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            OpKind::Add => "add",
            OpKind::Remove => "remove",
            OpKind::Replace => "replace",
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One operation of a PatchOp request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    /// `op`
    pub op: OpKind,
    /// `path`, absent for a no-path `add`/`replace` (whose value is a map of attributes).
    pub path: Option<PatchPath>,
    /// `value`; `None` when absent (`Some(Value::Null)` when given as `null`).
    pub value: Option<Value>,
}

/// A change of Group membership, returned by [`apply`] instead of being applied to the
/// document (members are rows in the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberOp {
    /// Add these members (already present ones are a no-op for the store).
    Add(Vec<MemberRef>),
    /// Remove the members with these ids (absent ones are a no-op).
    Remove(Vec<String>),
    /// Remove every member.
    RemoveAll,
    /// Replace the membership with exactly these members.
    ReplaceAll(Vec<MemberRef>),
}

/// The result of [`apply`].
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    /// The new document, already run through [`resource::validate`](crate::resource::validate).
    pub doc: Value,
    /// Group membership changes, in request order.
    pub members: Vec<MemberOp>,
    /// Whether anything may have changed: the document differs, or there are member
    /// operations (whether those change any row only the store can tell).
    pub changed: bool,
}

fn get_ci<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Parses a PatchOp request body (RFC 7644 §3.5.2).
///
/// `schemas` must contain `urn:ietf:params:scim:api:messages:2.0:PatchOp` and `Operations`
/// (any key case) must be a non-empty array, else `invalidSyntax`. `op` is
/// case-insensitive; `add`/`replace` need a `value` (`invalidSyntax`); `path` is parsed
/// with [`PatchPath::parse`] (`invalidPath`).
pub fn parse_request(body: Value) -> Result<Vec<PatchOp>, Error> {
    let Value::Object(body) = body else {
        return Err(Error::invalid_syntax(
            "PATCH body must be a JSON object with \"schemas\" and \"Operations\"",
        ));
    };
    let has_schema = match get_ci(&body, "schemas") {
        Some(Value::Array(items)) => items
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP))),
        _ => false,
    };
    if !has_schema {
        return Err(Error::invalid_syntax(format!(
            "PATCH body must have \"schemas\": [\"{PATCH_OP}\"]"
        )));
    }
    let ops = match get_ci(&body, "Operations") {
        Some(Value::Array(ops)) if !ops.is_empty() => ops,
        Some(Value::Array(_)) => {
            return Err(Error::invalid_syntax(
                "\"Operations\" must contain at least one operation",
            ))
        }
        Some(_) => {
            return Err(Error::invalid_syntax(
                "\"Operations\" must be an array of operations",
            ))
        }
        None => {
            return Err(Error::invalid_syntax(
                "PATCH body must have an \"Operations\" array",
            ))
        }
    };
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_op(op).map_err(|e| at_operation(e, i)))
        .collect()
}

fn parse_op(op: &Value) -> Result<PatchOp, Error> {
    let Value::Object(op) = op else {
        return Err(Error::invalid_syntax(
            "each operation must be an object with \"op\", and \"path\" and/or \"value\"",
        ));
    };
    let kind = match get_ci(op, "op") {
        Some(Value::String(name)) => compat::op_kind(name).ok_or_else(|| {
            Error::invalid_syntax(format!(
                "\"op\" must be \"add\", \"remove\" or \"replace\", got \"{name}\""
            ))
        })?,
        Some(_) | None => {
            return Err(Error::invalid_syntax(
                "\"op\" is required and must be \"add\", \"remove\" or \"replace\"",
            ))
        }
    };
    let path = match get_ci(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(PatchPath::parse(p)?),
        Some(_) => return Err(Error::invalid_path("\"path\" must be a string")),
    };
    let value = get_ci(op, "value").cloned();
    if kind != OpKind::Remove {
        match &value {
            None => {
                return Err(Error::invalid_syntax(format!(
                    "\"{kind}\" needs a \"value\""
                )))
            }
            Some(Value::Null) if kind == OpKind::Add => {
                return Err(Error::invalid_syntax("\"add\" needs a non-null \"value\""))
            }
            Some(Value::Null) if path.is_none() => {
                return Err(Error::invalid_syntax(
                    "\"replace\" without \"path\" needs an object of attributes as \"value\"",
                ))
            }
            _ => {}
        }
    }
    Ok(PatchOp {
        op: kind,
        path,
        value,
    })
}

/// Prefixes an error's detail with the (0-based) operation index it came from.
pub(crate) fn at_operation(e: Error, index: usize) -> Error {
    Error::new(
        e.status,
        e.scim_type,
        format!("Operations[{index}]: {}", e.detail),
    )
}
