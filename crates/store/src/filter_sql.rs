//! SCIM filter AST -> SQL `WHERE` expression, with every value bound as a parameter.
//!
//! Column names come only from the `match` arms below (a closed set); values never reach the
//! SQL text. Attributes without a projected column are refused with `invalidFilter` for now
//! (JSON-path filtering arrives with the protocol issue).

use chrono::NaiveDateTime;
use diesel::dsl::{exists, not};
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use scim::filter::{CompValue, CompareOp, Filter};
use scim::path::AttrPath;
use scim::schema::{Registry, ResourceKind, ENTERPRISE_USER_SCHEMA};

use crate::conn::MultiBackend;
use crate::error::Result;
use crate::schema::{group_members, groups, users};

/// A compiled filter over `users`.
pub type UserExpr = Box<dyn BoxableExpression<users::table, MultiBackend, SqlType = Bool>>;
/// A compiled filter over `groups`.
pub type GroupExpr = Box<dyn BoxableExpression<groups::table, MultiBackend, SqlType = Bool>>;

fn unsupported(path: &AttrPath) -> scim::Error {
    scim::Error::invalid_filter(format!(
        "filtering on '{path}' is not supported yet; supported: id, userName, externalId, \
         displayName, active, name.givenName, name.familyName, meta.created, meta.lastModified, \
         enterprise employeeNumber, department, manager.value (Users); id, displayName, \
         externalId, members.value, meta.* (Groups)"
    ))
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    for ch in v.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn like_pattern(op: CompareOp, v: &str) -> Option<String> {
    let e = like_escape(v);
    match op {
        CompareOp::Co => Some(format!("%{e}%")),
        CompareOp::Sw => Some(format!("{e}%")),
        CompareOp::Ew => Some(format!("%{e}")),
        _ => None,
    }
}

fn string_value(path: &AttrPath, value: &CompValue) -> Result<String> {
    match value {
        CompValue::Str(s) => Ok(s.clone()),
        _ => Err(
            scim::Error::invalid_filter(format!("'{path}' must be compared with a string")).into(),
        ),
    }
}

fn time_value(path: &AttrPath, value: &CompValue) -> Result<NaiveDateTime> {
    match value {
        CompValue::Str(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.naive_utc())
            .map_err(|_| {
                scim::Error::invalid_filter(format!(
                    "'{path}' must be compared with an RFC 3339 dateTime, e.g. \"2024-01-31T12:00:00Z\""
                ))
                .into()
            }),
        _ => Err(scim::Error::invalid_filter(format!("'{path}' must be compared with a dateTime string")).into()),
    }
}

/// Comparison of a nullable text column. `$c` must have SQL type `Nullable<Text>`; the match
/// is two-valued (absent attributes never equal anything, so `ne` and `not` include them).
macro_rules! text_cmp {
    ($c:expr, $path:expr, $op:expr, $value:expr, $norm:expr) => {{
        if matches!($value, CompValue::Null) {
            return match $op {
                CompareOp::Eq => Ok(Box::new($c.is_null())),
                CompareOp::Ne => Ok(Box::new($c.is_not_null())),
                _ => Err(
                    scim::Error::invalid_filter("null can only be compared with eq or ne").into(),
                ),
            };
        }
        let raw = string_value($path, $value)?;
        let v = if $norm {
            scim::resource::normalize_case(&raw)
        } else {
            raw
        };
        let present = $c.is_not_null();
        let col = $c.assume_not_null();
        match $op {
            CompareOp::Eq => Ok(Box::new(present.and(col.eq(v)))),
            CompareOp::Ne => Ok(Box::new(not(present.and(col.eq(v))))),
            CompareOp::Gt => Ok(Box::new(present.and(col.gt(v)))),
            CompareOp::Ge => Ok(Box::new(present.and(col.ge(v)))),
            CompareOp::Lt => Ok(Box::new(present.and(col.lt(v)))),
            CompareOp::Le => Ok(Box::new(present.and(col.le(v)))),
            op => {
                let pattern = like_pattern(op, &v).unwrap_or_default();
                Ok(Box::new(present.and(col.like(pattern).escape('\\'))))
            }
        }
    }};
}

/// Comparison of a timestamp column.
macro_rules! time_cmp {
    ($c:expr, $path:expr, $op:expr, $value:expr) => {{
        let t = time_value($path, $value)?;
        match $op {
            CompareOp::Eq => Ok(Box::new($c.eq(t))),
            CompareOp::Ne => Ok(Box::new($c.ne(t))),
            CompareOp::Gt => Ok(Box::new($c.gt(t))),
            CompareOp::Ge => Ok(Box::new($c.ge(t))),
            CompareOp::Lt => Ok(Box::new($c.lt(t))),
            CompareOp::Le => Ok(Box::new($c.le(t))),
            _ => Err(scim::Error::invalid_filter(format!(
                "'{}' is a dateTime: use eq, ne, gt, ge, lt, le or pr",
                $path
            ))
            .into()),
        }
    }};
}

/// The canonical `(schema, attribute, sub-attribute)` names of a filter path.
fn canonical(kind: ResourceKind, path: &AttrPath) -> Result<(String, String, Option<String>)> {
    let reg = Registry::builtin();
    let r = reg.find_attr(kind, path).ok_or_else(|| {
        scim::Error::invalid_filter(format!("unknown attribute '{path}' for {}", kind.name()))
    })?;
    Ok((
        r.schema.to_string(),
        r.attr.name.clone(),
        r.sub.map(|s| s.name.clone()),
    ))
}

/// Compiles a filter over Users.
pub fn users(f: &Filter) -> Result<UserExpr> {
    match f {
        Filter::And(a, b) => Ok(Box::new(users(a)?.and(users(b)?))),
        Filter::Or(a, b) => Ok(Box::new(users(a)?.or(users(b)?))),
        Filter::Not(a) => Ok(Box::new(not(users(a)?))),
        Filter::Present(path) => user_compare(path, None),
        Filter::Compare { path, op, value } => user_compare(path, Some((*op, value))),
        Filter::ValuePath { path, .. } => Err(unsupported(path).into()),
    }
}

fn user_compare(path: &AttrPath, cmp: Option<(CompareOp, &CompValue)>) -> Result<UserExpr> {
    let (schema, attr, sub) = canonical(ResourceKind::User, path)?;
    let enterprise = schema.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA);
    macro_rules! text {
        ($c:expr, $norm:expr) => {
            match cmp {
                None => Ok(Box::new($c.is_not_null())),
                Some((op, value)) => text_cmp!($c, path, op, value, $norm),
            }
        };
    }
    match (enterprise, attr.as_str(), sub.as_deref()) {
        (false, "id", None) => text!(users::id.nullable(), false),
        (false, "userName", None) => text!(users::user_name_norm.nullable(), true),
        (false, "externalId", None) => text!(users::external_id, false),
        (false, "displayName", None) => text!(users::display_name_norm, true),
        (false, "name", Some("givenName")) => text!(users::given_name_norm, true),
        (false, "name", Some("familyName")) => text!(users::family_name_norm, true),
        (true, "employeeNumber", None) => text!(users::employee_number, false),
        (true, "department", None) => text!(users::department_norm, true),
        (true, "manager", Some("value")) => text!(users::manager_id, false),
        (false, "active", None) => match cmp {
            None => Ok(Box::new(users::active.eq(users::active))),
            Some((op, CompValue::Bool(b))) => match op {
                CompareOp::Eq => Ok(Box::new(users::active.eq(*b))),
                CompareOp::Ne => Ok(Box::new(users::active.ne(*b))),
                _ => Err(scim::Error::invalid_filter("'active' is a boolean: use eq or ne").into()),
            },
            Some(_) => Err(scim::Error::invalid_filter(
                "'active' must be compared with true or false",
            )
            .into()),
        },
        (false, "meta", Some("created")) => match cmp {
            None => Ok(Box::new(users::created.eq(users::created))),
            Some((op, value)) => time_cmp!(users::created, path, op, value),
        },
        (false, "meta", Some("lastModified")) => match cmp {
            None => Ok(Box::new(users::modified.eq(users::modified))),
            Some((op, value)) => time_cmp!(users::modified, path, op, value),
        },
        _ => Err(unsupported(path).into()),
    }
}

/// Compiles a filter over Groups.
pub fn groups(f: &Filter) -> Result<GroupExpr> {
    match f {
        Filter::And(a, b) => Ok(Box::new(groups(a)?.and(groups(b)?))),
        Filter::Or(a, b) => Ok(Box::new(groups(a)?.or(groups(b)?))),
        Filter::Not(a) => Ok(Box::new(not(groups(a)?))),
        Filter::Present(path) => group_compare(path, None),
        Filter::Compare { path, op, value } => group_compare(path, Some((*op, value))),
        Filter::ValuePath { path, filter } => {
            let (_, attr, _) = canonical(ResourceKind::Group, path)?;
            match (attr.as_str(), filter.as_ref()) {
                (
                    "members",
                    Filter::Compare {
                        path: inner,
                        op: CompareOp::Eq,
                        value,
                    },
                ) if inner.attr.eq_ignore_ascii_case("value") && inner.sub.is_none() => {
                    member_eq(&string_value(inner, value)?)
                }
                _ => Err(unsupported(path).into()),
            }
        }
    }
}

fn member_eq(id: &str) -> Result<GroupExpr> {
    Ok(Box::new(exists(
        group_members::table
            .filter(group_members::group_id.eq(groups::id))
            .filter(group_members::member_id.eq(id.to_string())),
    )))
}

fn group_compare(path: &AttrPath, cmp: Option<(CompareOp, &CompValue)>) -> Result<GroupExpr> {
    let (_, attr, sub) = canonical(ResourceKind::Group, path)?;
    macro_rules! text {
        ($c:expr, $norm:expr) => {
            match cmp {
                None => Ok(Box::new($c.is_not_null())),
                Some((op, value)) => text_cmp!($c, path, op, value, $norm),
            }
        };
    }
    match (attr.as_str(), sub.as_deref()) {
        ("id", None) => text!(groups::id.nullable(), false),
        ("displayName", None) => text!(groups::display_name_norm.nullable(), true),
        ("externalId", None) => text!(groups::external_id, false),
        ("members", Some("value")) => match cmp {
            Some((CompareOp::Eq, value)) => member_eq(&string_value(path, value)?),
            _ => Err(unsupported(path).into()),
        },
        ("members", None) if cmp.is_none() => Ok(Box::new(exists(
            group_members::table.filter(group_members::group_id.eq(groups::id)),
        ))),
        ("meta", Some("created")) => match cmp {
            None => Ok(Box::new(groups::created.eq(groups::created))),
            Some((op, value)) => time_cmp!(groups::created, path, op, value),
        },
        ("meta", Some("lastModified")) => match cmp {
            None => Ok(Box::new(groups::modified.eq(groups::modified))),
            Some((op, value)) => time_cmp!(groups::modified, path, op, value),
        },
        _ => Err(unsupported(path).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::like_escape;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }
}
