//! SCIM filter AST -> SQL condition with every value bound as a parameter.
//!
//! Hot attributes compare their projected, indexed columns. Every other attribute is read from
//! the filter-index document `doc_norm` (case-insensitive strings folded and dateTimes made
//! canonical in Rust, see `scim::resource::index_doc`) through the backend's JSON functions;
//! multi-valued attributes and value paths become `EXISTS` over the JSON array. The semantics
//! are those of `scim::filter::eval` (absent attributes never equal anything, `ne` is `not eq`,
//! multi-valued attributes match when any value matches), checked by property tests.
//!
//! SQL text comes only from constants here; identifiers from `match` arms; values, including
//! JSON paths, are always binds.

use scim::filter::{CompValue, CompareOp, Filter};
use scim::path::AttrPath;
use scim::schema::{AttrType, AttributeDef, Registry, ResourceKind};

use crate::conn::Backend;
use crate::error::Result;
use crate::fragment::Fragment;

/// A compiled condition.
pub type Condition = Fragment;

/// Compiles a filter over Users (table `users`).
pub fn users(f: &Filter, backend: Backend) -> Result<Condition> {
    Compiler::new(ResourceKind::User, backend).filter(f)
}

/// Compiles a filter over Groups (table `groups`).
pub fn groups(f: &Filter, backend: Backend) -> Result<Condition> {
    Compiler::new(ResourceKind::Group, backend).filter(f)
}

fn invalid(detail: impl Into<String>) -> crate::Error {
    scim::Error::invalid_filter(detail.into()).into()
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn like_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    for ch in v.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// A projected column and how its values are stored.
#[derive(Debug, Clone, Copy)]
enum Col {
    /// Text stored as given (caseExact).
    Exact(&'static str),
    /// Text stored lower-cased (case-insensitive attribute).
    Folded(&'static str),
    /// Timestamp (UTC).
    Time(&'static str),
}

/// Where a compared value lives.
#[derive(Debug, Clone)]
enum Target {
    /// A projected column of the resource row.
    Column(Col),
    /// A path of keys into the row's `doc_norm`.
    Doc(Vec<String>),
    /// Inside an `EXISTS` over elements `e`: the element itself, or one of its keys.
    Elem(Option<String>),
}

struct Compiler {
    kind: ResourceKind,
    backend: Backend,
    registry: &'static Registry,
}

fn sqlite_json_path(keys: &[String]) -> String {
    let mut p = String::from("$");
    for k in keys {
        if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) {
            p.push('[');
            p.push_str(k);
            p.push(']');
        } else {
            p.push_str(".\"");
            p.push_str(k);
            p.push('"');
        }
    }
    p
}

impl Compiler {
    fn new(kind: ResourceKind, backend: Backend) -> Self {
        Compiler {
            kind,
            backend,
            registry: Registry::global(),
        }
    }

    fn doc(&self) -> &'static str {
        match (self.kind, self.backend) {
            (ResourceKind::User, Backend::Sqlite) => "users.doc_norm",
            (ResourceKind::Group, Backend::Sqlite) => "groups.doc_norm",
            (ResourceKind::User, Backend::Postgres) => "users.doc_norm::jsonb",
            (ResourceKind::Group, Backend::Postgres) => "groups.doc_norm::jsonb",
        }
    }

    /// `key, key, …` binds after an opening `f(doc` on PostgreSQL.
    fn pg_keys<T>(f: Fragment<T>, keys: &[String]) -> Fragment<T> {
        keys.iter().fold(f, |f, k| f.sql(", ").text(k.clone()))
    }

    fn filter(&self, f: &Filter) -> Result<Condition> {
        match f {
            Filter::And(a, b) => Ok(Fragment::new()
                .sql("(")
                .append(self.filter(a)?)
                .sql(" AND ")
                .append(self.filter(b)?)
                .sql(")")),
            Filter::Or(a, b) => Ok(Fragment::new()
                .sql("(")
                .append(self.filter(a)?)
                .sql(" OR ")
                .append(self.filter(b)?)
                .sql(")")),
            Filter::Not(a) => Ok(not(self.filter(a)?)),
            Filter::Present(path) => self.leaf(path, None),
            Filter::Compare { path, op, value } => self.leaf(path, Some((*op, value))),
            Filter::ValuePath { path, filter } => self.value_path(path, filter),
        }
    }

    fn resolve(
        &self,
        path: &AttrPath,
    ) -> Result<(String, &'static AttributeDef, Option<&'static AttributeDef>)> {
        let r = self.registry.find_attr(self.kind, path).ok_or_else(|| {
            invalid(format!(
                "unknown attribute '{path}' for {}",
                self.kind.name()
            ))
        })?;
        Ok((r.schema.to_string(), r.attr, r.sub))
    }

    /// The projected column for an attribute, if there is one.
    fn column(
        &self,
        attr: &AttributeDef,
        sub: Option<&AttributeDef>,
        extension: bool,
    ) -> Option<Col> {
        if extension {
            return None;
        }
        let sub = sub.map(|s| s.name.as_str());
        match (self.kind, attr.name.as_str(), sub) {
            (ResourceKind::User, "id", None) => Some(Col::Exact("users.id")),
            (ResourceKind::User, "userName", None) => Some(Col::Folded("users.user_name_norm")),
            (ResourceKind::User, "externalId", None) => Some(Col::Exact("users.external_id")),
            (ResourceKind::User, "displayName", None) => {
                Some(Col::Folded("users.display_name_norm"))
            }
            (ResourceKind::User, "name", Some("givenName")) => {
                Some(Col::Folded("users.given_name_norm"))
            }
            (ResourceKind::User, "name", Some("familyName")) => {
                Some(Col::Folded("users.family_name_norm"))
            }
            (ResourceKind::User, "meta", Some("created")) => Some(Col::Time("users.created")),
            (ResourceKind::User, "meta", Some("lastModified")) => Some(Col::Time("users.modified")),
            (ResourceKind::Group, "id", None) => Some(Col::Exact("groups.id")),
            (ResourceKind::Group, "displayName", None) => {
                Some(Col::Folded("groups.display_name_norm"))
            }
            (ResourceKind::Group, "externalId", None) => Some(Col::Exact("groups.external_id")),
            (ResourceKind::Group, "meta", Some("created")) => Some(Col::Time("groups.created")),
            (ResourceKind::Group, "meta", Some("lastModified")) => {
                Some(Col::Time("groups.modified"))
            }
            _ => None,
        }
    }

    fn leaf(&self, path: &AttrPath, cmp: Option<(CompareOp, &CompValue)>) -> Result<Condition> {
        let (schema, attr, sub) = self.resolve(path)?;
        let extension = !schema.eq_ignore_ascii_case(self.kind.core_schema());
        if self.kind == ResourceKind::Group && attr.name == "members" {
            return self.relation_leaf(Rel::GroupMembers, path, sub, cmp);
        }
        if attr.name == "meta" && self.column(attr, sub, extension).is_none() {
            return match (sub, cmp) {
                (None, None) => Ok(Fragment::new().sql("1 = 1")),
                _ => Err(invalid(format!(
                    "filtering on '{path}' is not supported; use meta.created or meta.lastModified"
                ))),
            };
        }
        if self.kind == ResourceKind::User && attr.name == "groups" {
            return self.relation_leaf(Rel::UserGroups, path, sub, cmp);
        }
        if let Some(col) = self.column(attr, sub, extension) {
            let def = sub.unwrap_or(attr);
            return self.compare(&Target::Column(col), def, cmp, path);
        }
        let mut keys = Vec::with_capacity(3);
        if extension {
            keys.push(schema.clone());
        }
        keys.push(attr.name.clone());
        if attr.multi_valued {
            // any value matches; a complex attribute without sub-attribute means its `value`
            let elem_sub = match (sub, attr.ty) {
                (Some(s), _) => Some(s),
                (None, AttrType::Complex) if cmp.is_some() => attr.sub_attr("value"),
                (None, _) => None,
            };
            let leaf_def = elem_sub.unwrap_or(attr);
            if cmp.is_none() && elem_sub.is_none() {
                return Ok(self.present(&Target::Doc(keys)));
            }
            let target = Target::Elem(elem_sub.map(|s| s.name.clone()));
            return match cmp {
                Some((CompareOp::Ne, v)) if !matches!(v, CompValue::Null) => {
                    let eq = self.compare(&target, leaf_def, Some((CompareOp::Eq, v)), path)?;
                    Ok(not(self.exists(keys, true, eq)))
                }
                Some((CompareOp::Eq, CompValue::Null)) => {
                    Ok(not(self.exists(keys, true, self.present(&target))))
                }
                Some((CompareOp::Ne, CompValue::Null)) => {
                    Ok(self.exists(keys, true, self.present(&target)))
                }
                _ => {
                    let c = self.compare(&target, leaf_def, cmp, path)?;
                    Ok(self.exists(keys, true, c))
                }
            };
        }
        if let Some(s) = sub {
            keys.push(s.name.clone());
        }
        self.compare(&Target::Doc(keys), sub.unwrap_or(attr), cmp, path)
    }

    /// `attr[filter]`: some element of `attr` satisfies `filter`.
    fn value_path(&self, path: &AttrPath, inner: &Filter) -> Result<Condition> {
        let (schema, attr, sub) = self.resolve(path)?;
        if sub.is_some() || attr.ty != AttrType::Complex {
            return Err(invalid(format!("'{path}[…]' needs a complex attribute")));
        }
        if let Some(rel) = Rel::of(self.kind, &attr.name) {
            return self.relation_exists(rel, inner);
        }
        let extension = !schema.eq_ignore_ascii_case(self.kind.core_schema());
        let mut keys = Vec::with_capacity(2);
        if extension {
            keys.push(schema.clone());
        }
        keys.push(attr.name.clone());
        let cond = self.element_filter(attr, inner)?;
        Ok(self.exists(keys, attr.multi_valued, cond))
    }

    /// An inner value filter, with paths relative to one element of `parent`.
    fn element_filter(&self, parent: &AttributeDef, f: &Filter) -> Result<Condition> {
        let sub_of = |p: &AttrPath| -> Result<&AttributeDef> {
            if p.uri.is_some() || p.sub.is_some() {
                return Err(invalid(format!(
                    "'{p}' inside '{}[…]' must be a sub-attribute name",
                    parent.name
                )));
            }
            parent.sub_attr(&p.attr).ok_or_else(|| {
                invalid(format!(
                    "'{}' has no sub-attribute '{}'",
                    parent.name, p.attr
                ))
            })
        };
        match f {
            Filter::And(a, b) => Ok(Fragment::new()
                .sql("(")
                .append(self.element_filter(parent, a)?)
                .sql(" AND ")
                .append(self.element_filter(parent, b)?)
                .sql(")")),
            Filter::Or(a, b) => Ok(Fragment::new()
                .sql("(")
                .append(self.element_filter(parent, a)?)
                .sql(" OR ")
                .append(self.element_filter(parent, b)?)
                .sql(")")),
            Filter::Not(a) => Ok(not(self.element_filter(parent, a)?)),
            Filter::Present(p) => {
                let def = sub_of(p)?;
                self.compare(&Target::Elem(Some(def.name.clone())), def, None, p)
            }
            Filter::Compare { path: p, op, value } => {
                let def = sub_of(p)?;
                self.compare(
                    &Target::Elem(Some(def.name.clone())),
                    def,
                    Some((*op, value)),
                    p,
                )
            }
            Filter::ValuePath { path: p, .. } => {
                Err(invalid(format!("value filters cannot nest ('{p}[…]')")))
            }
        }
    }

    /// `EXISTS` over the elements of the JSON array (or the one object) at `keys`.
    fn exists(&self, keys: Vec<String>, multi: bool, cond: Condition) -> Condition {
        let f = match (self.backend, multi) {
            (Backend::Sqlite, true) => Fragment::new()
                .sql("EXISTS (SELECT 1 FROM json_each(")
                .sql(self.doc())
                .sql(", ")
                .text(sqlite_json_path(&keys))
                .sql(") e WHERE "),
            (Backend::Sqlite, false) => Fragment::new()
                .sql("EXISTS (SELECT 1 FROM (SELECT json_extract(")
                .sql(self.doc())
                .sql(", ")
                .text(sqlite_json_path(&keys))
                .sql(") AS value) e WHERE e.value IS NOT NULL AND "),
            (Backend::Postgres, true) => {
                let f = Fragment::new()
                    .sql("EXISTS (SELECT 1 FROM jsonb_array_elements(jsonb_extract_path(")
                    .sql(self.doc());
                Self::pg_keys(f, &keys).sql(")) e WHERE ")
            }
            (Backend::Postgres, false) => {
                let f = Fragment::new()
                    .sql("EXISTS (SELECT 1 FROM (SELECT jsonb_extract_path(")
                    .sql(self.doc());
                Self::pg_keys(f, &keys).sql(") AS value) e WHERE e.value IS NOT NULL AND ")
            }
        };
        f.append(cond).sql(")")
    }

    /// The value at `target` as SQL text (strings unquoted).
    fn text_expr(&self, target: &Target) -> Fragment<()> {
        match (target, self.backend) {
            (Target::Column(Col::Exact(c) | Col::Folded(c) | Col::Time(c)), _) => {
                Fragment::new().sql(c)
            }
            (Target::Doc(keys), Backend::Sqlite) => Fragment::new()
                .sql("json_extract(")
                .sql(self.doc())
                .sql(", ")
                .text(sqlite_json_path(keys))
                .sql(")"),
            (Target::Doc(keys), Backend::Postgres) => {
                let f = Fragment::new()
                    .sql("jsonb_extract_path_text(")
                    .sql(self.doc());
                Self::pg_keys(f, keys).sql(")")
            }
            (Target::Elem(None), Backend::Sqlite) => Fragment::new().sql("e.value"),
            (Target::Elem(None), Backend::Postgres) => Fragment::new().sql("(e.value #>> '{}')"),
            (Target::Elem(Some(k)), Backend::Sqlite) => Fragment::new()
                .sql("json_extract(e.value, ")
                .text(sqlite_json_path(std::slice::from_ref(k)))
                .sql(")"),
            (Target::Elem(Some(k)), Backend::Postgres) => Fragment::new()
                .sql("jsonb_extract_path_text(e.value, ")
                .text(k.clone())
                .sql(")"),
        }
    }

    /// The JSON type name at `target` (`'true'`/`'false'` for booleans) on SQLite; the text
    /// value on PostgreSQL (which is `true`/`false` for booleans).
    fn bool_expr(&self, target: &Target) -> Fragment<()> {
        match (target, self.backend) {
            (Target::Doc(keys), Backend::Sqlite) => Fragment::new()
                .sql("json_type(")
                .sql(self.doc())
                .sql(", ")
                .text(sqlite_json_path(keys))
                .sql(")"),
            (Target::Elem(None), Backend::Sqlite) => Fragment::new().sql("e.type"),
            (Target::Elem(Some(k)), Backend::Sqlite) => Fragment::new()
                .sql("json_type(e.value, ")
                .text(sqlite_json_path(std::slice::from_ref(k)))
                .sql(")"),
            _ => self.text_expr(target),
        }
    }

    fn present(&self, target: &Target) -> Condition {
        match (target, self.backend) {
            (Target::Column(Col::Time(c)), _) => Fragment::new().sql(c).sql(" IS NOT NULL"),
            // an empty string is not a value (RFC 7644 §3.4.2.2 `pr`: "a non-empty value");
            // validation drops them, this keeps rows written before that in agreement
            (Target::Column(Col::Exact(c) | Col::Folded(c)), _) => Fragment::new()
                .sql("(")
                .sql(c)
                .sql(" IS NOT NULL AND ")
                .sql(c)
                .sql(" <> '')"),
            (Target::Elem(None), _) => Fragment::new().sql("1 = 1"),
            (Target::Doc(_) | Target::Elem(Some(_)), Backend::Sqlite) => {
                self.bool_expr(target).retype().sql(" IS NOT NULL")
            }
            (Target::Doc(keys), Backend::Postgres) => {
                let f = Fragment::new().sql("jsonb_extract_path(").sql(self.doc());
                Self::pg_keys(f, keys).sql(") IS NOT NULL")
            }
            (Target::Elem(Some(k)), Backend::Postgres) => Fragment::new()
                .sql("jsonb_extract_path(e.value, ")
                .text(k.clone())
                .sql(") IS NOT NULL"),
        }
    }

    /// A comparison (or presence test when `cmp` is `None`) of the value at `target`.
    fn compare(
        &self,
        target: &Target,
        def: &AttributeDef,
        cmp: Option<(CompareOp, &CompValue)>,
        path: &AttrPath,
    ) -> Result<Condition> {
        let Some((op, value)) = cmp else {
            return Ok(self.present(target));
        };
        match (op, value) {
            (CompareOp::Eq, CompValue::Null) => return Ok(not(self.present(target))),
            (CompareOp::Ne, CompValue::Null) => return Ok(self.present(target)),
            (_, CompValue::Null) => return Err(invalid("null can only be compared with eq or ne")),
            (CompareOp::Ne, v) => {
                return Ok(not(self.compare(
                    target,
                    def,
                    Some((CompareOp::Eq, v)),
                    path,
                )?));
            }
            _ => {}
        }
        let sql_op = match op {
            CompareOp::Eq => " = ",
            CompareOp::Gt => " > ",
            CompareOp::Ge => " >= ",
            CompareOp::Lt => " < ",
            CompareOp::Le => " <= ",
            _ => " LIKE ",
        };
        let like = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
        let collate = if self.backend == Backend::Postgres && !matches!(target, Target::Column(_)) {
            " COLLATE \"C\""
        } else {
            ""
        };
        let cond: Condition = match (def.ty, value) {
            (AttrType::Boolean, CompValue::Bool(b)) => {
                if op != CompareOp::Eq {
                    return Err(invalid(format!("'{path}' is a boolean: use eq, ne or pr")));
                }
                self.bool_expr(target)
                    .retype()
                    .sql(" = ")
                    .text(if *b { "true" } else { "false" })
            }
            (AttrType::Boolean, _) => {
                return Err(invalid(format!(
                    "'{path}' must be compared with true or false"
                )))
            }
            (AttrType::Integer | AttrType::Decimal, CompValue::Number(n)) => {
                if like {
                    return Err(invalid(format!(
                        "'{path}' is a number: co, sw and ew do not apply"
                    )));
                }
                let n = n
                    .as_f64()
                    .ok_or_else(|| invalid(format!("'{path}': number out of range")))?;
                let expr = match self.backend {
                    Backend::Sqlite => self.text_expr(target),
                    Backend::Postgres => Fragment::new()
                        .sql("(")
                        .append(self.text_expr(target))
                        .sql(")::double precision"),
                };
                expr.retype().sql(sql_op).double(n)
            }
            (AttrType::Integer | AttrType::Decimal, _) => {
                return Err(invalid(format!("'{path}' must be compared with a number")))
            }
            (AttrType::DateTime, CompValue::Str(s)) => {
                if like {
                    return Err(invalid(format!(
                        "'{path}' is a dateTime: use eq, ne, gt, ge, lt, le or pr"
                    )));
                }
                match target {
                    Target::Column(_) => {
                        let t = scim::meta::parse_datetime(s)
                            .ok_or_else(|| invalid(bad_datetime(path)))?
                            .naive_utc();
                        self.text_expr(target).retype().sql(sql_op).timestamp(t)
                    }
                    _ => {
                        let canon = scim::resource::canonical_datetime(s)
                            .ok_or_else(|| invalid(bad_datetime(path)))?;
                        self.text_expr(target)
                            .retype()
                            .sql(collate)
                            .sql(sql_op)
                            .text(canon)
                    }
                }
            }
            (AttrType::DateTime, _) => return Err(invalid(bad_datetime(path))),
            (AttrType::String | AttrType::Reference | AttrType::Binary, CompValue::Str(s)) => {
                let folded = match target {
                    Target::Column(Col::Folded(_)) => true,
                    Target::Column(_) => false,
                    _ => !def.case_exact,
                };
                let v = if folded {
                    scim::resource::normalize_case(s)
                } else {
                    s.clone()
                };
                let bind = match op {
                    CompareOp::Co => format!("%{}%", like_escape(&v)),
                    CompareOp::Sw => format!("{}%", like_escape(&v)),
                    CompareOp::Ew => format!("%{}", like_escape(&v)),
                    _ => v,
                };
                let f = self
                    .text_expr(target)
                    .retype()
                    .sql(collate)
                    .sql(sql_op)
                    .text(bind);
                if like {
                    f.sql(" ESCAPE '\\'")
                } else {
                    f
                }
            }
            (AttrType::String | AttrType::Reference | AttrType::Binary, _) => {
                return Err(invalid(format!("'{path}' must be compared with a string")))
            }
            (AttrType::Complex, _) => {
                return Err(invalid(format!(
                    "'{path}' is complex: compare one of its sub-attributes, e.g. '{path}.value'"
                )))
            }
        };
        // A comparison with an absent value is NULL, which WHERE treats as false; `not` turns
        // NULL into false before negating (see `not`), so absent values are two-valued where it
        // matters while plain comparisons stay index-searchable (a COALESCE around them made
        // SQLite and PostgreSQL scan).
        Ok(cond)
    }

    /// `members…` on Groups and `groups…` on Users: conditions on membership rows.
    fn relation_leaf(
        &self,
        rel: Rel,
        path: &AttrPath,
        sub: Option<&AttributeDef>,
        cmp: Option<(CompareOp, &CompValue)>,
    ) -> Result<Condition> {
        let name =
            |s: Option<&AttributeDef>| AttrPath::simple(s.map_or("value", |d| d.name.as_str()));
        let inner = match cmp {
            None if sub.is_none() => {
                return self.relation_exists(rel, &Filter::Present(name(None)))
            }
            None => Filter::Present(name(sub)),
            Some((CompareOp::Ne, value)) => {
                let eq = Filter::Compare {
                    path: name(sub),
                    op: CompareOp::Eq,
                    value: value.clone(),
                };
                return Ok(not(self.relation_exists(rel, &eq)?));
            }
            Some((op, value)) => Filter::Compare {
                path: name(sub),
                op,
                value: value.clone(),
            },
        };
        let _ = path;
        self.relation_exists(rel, &inner)
    }

    fn relation_exists(&self, rel: Rel, inner: &Filter) -> Result<Condition> {
        let head = match rel {
            Rel::GroupMembers => {
                "EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = groups.id AND "
            }
            Rel::UserGroups => {
                "EXISTS (SELECT 1 FROM group_members m WHERE m.member_id = users.id AND "
            }
        };
        Ok(Fragment::new()
            .sql(head)
            .append(self.relation_condition(rel, inner)?)
            .sql(")"))
    }

    /// A condition on one membership row `m`: `value` is the member id (Group.members) or the
    /// group id (User.groups); `type` is User|Group (members) or `direct` (groups).
    fn relation_condition(&self, rel: Rel, f: &Filter) -> Result<Condition> {
        match f {
            Filter::And(a, b) => Ok(Fragment::new()
                .sql("(")
                .append(self.relation_condition(rel, a)?)
                .sql(" AND ")
                .append(self.relation_condition(rel, b)?)
                .sql(")")),
            Filter::Or(a, b) => Ok(Fragment::new()
                .sql("(")
                .append(self.relation_condition(rel, a)?)
                .sql(" OR ")
                .append(self.relation_condition(rel, b)?)
                .sql(")")),
            Filter::Not(a) => Ok(not(self.relation_condition(rel, a)?)),
            Filter::Present(p)
                if p.attr.eq_ignore_ascii_case("value") || p.attr.eq_ignore_ascii_case("type") =>
            {
                Ok(Fragment::new().sql("1 = 1"))
            }
            Filter::Compare {
                path: p,
                op,
                value: CompValue::Str(s),
            } => {
                let column = match (rel, p.attr.to_ascii_lowercase().as_str()) {
                    (Rel::GroupMembers, "value") => "m.member_id",
                    (Rel::GroupMembers, "type") => "m.member_type",
                    (Rel::UserGroups, "value") => "m.group_id",
                    (Rel::UserGroups, "type") => "'direct'",
                    _ => {
                        return Err(invalid(format!(
                            "'{}' can be filtered by value and type, not '{p}'",
                            rel.name()
                        )))
                    }
                };
                let v = if p.attr.eq_ignore_ascii_case("type") {
                    ["User", "Group", "direct"]
                        .into_iter()
                        .find(|t| t.eq_ignore_ascii_case(s))
                        .map_or_else(|| s.clone(), str::to_string)
                } else {
                    s.clone()
                };
                match op {
                    CompareOp::Eq => Ok(Fragment::new().sql(column).sql(" = ").text(v)),
                    CompareOp::Ne => Ok(Fragment::new().sql(column).sql(" <> ").text(v)),
                    _ => Err(invalid(format!(
                        "'{}.value' and '{}.type' support eq, ne and pr",
                        rel.name(),
                        rel.name()
                    ))),
                }
            }
            _ => Err(invalid(format!(
                "'{}' can be filtered by value and type with eq, ne and pr",
                rel.name()
            ))),
        }
    }
}

/// Multi-valued attributes backed by `group_members` rather than the document.
#[derive(Debug, Clone, Copy)]
enum Rel {
    GroupMembers,
    UserGroups,
}

impl Rel {
    fn of(kind: ResourceKind, attr: &str) -> Option<Rel> {
        match (kind, attr) {
            (ResourceKind::Group, "members") => Some(Rel::GroupMembers),
            (ResourceKind::User, "groups") => Some(Rel::UserGroups),
            _ => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Rel::GroupMembers => "members",
            Rel::UserGroups => "groups",
        }
    }
}

/// Negation with two-valued logic: a condition that is NULL (it compared an absent value)
/// counts as false, so its negation is true (`ne` and `not` include resources without the
/// attribute, as `scim::filter::eval` does). AND/OR keep SQL's three-valued logic below, which
/// agrees with "NULL is false" once the result is coalesced here or read by WHERE.
fn not(c: Condition) -> Condition {
    Fragment::new()
        .sql("NOT COALESCE((")
        .append(c)
        .sql("), FALSE)")
}

fn bad_datetime(path: &AttrPath) -> String {
    format!("'{path}' must be compared with an RFC 3339 dateTime, e.g. \"2024-01-31T12:00:00Z\"")
}

/// The key to sort `kind` by `path` (RFC 7644 §3.4.2.3): a projected column or a JSON value
/// of `doc_norm` (so case-insensitive attributes sort case-insensitively). A multi-valued
/// attribute sorts by its first value (`emails` by the primary email). Returns
/// `invalidValue` for attributes that cannot be sorted on.
pub fn sort_key(
    kind: ResourceKind,
    path: &AttrPath,
    backend: Backend,
) -> Result<Fragment<diesel::sql_types::Nullable<diesel::sql_types::Text>>> {
    let c = Compiler::new(kind, backend);
    let bad = |why: &str| -> crate::Error {
        scim::Error::invalid_value(format!("cannot sort by '{path}': {why}")).into()
    };
    let r = c
        .registry
        .find_attr(kind, path)
        .ok_or_else(|| bad("unknown attribute"))?;
    let (schema, attr, sub) = (r.schema.to_string(), r.attr, r.sub);
    let extension = !schema.eq_ignore_ascii_case(kind.core_schema());
    if Rel::of(kind, &attr.name).is_some() {
        return Err(bad("memberships are not sortable"));
    }
    if let Some(col) = c.column(attr, sub, extension) {
        return Ok(c.text_expr(&Target::Column(col)).retype());
    }
    if kind == ResourceKind::User
        && !extension
        && attr.name == "emails"
        && sub.is_none_or(|s| s.name == "value")
    {
        return Ok(Fragment::new().sql("users.email_norm"));
    }
    let mut keys = Vec::with_capacity(4);
    if extension {
        keys.push(schema);
    }
    keys.push(attr.name.clone());
    let leaf = if attr.multi_valued {
        keys.push("0".into());
        match (sub, attr.ty) {
            (Some(s), _) => {
                keys.push(s.name.clone());
                s
            }
            (None, AttrType::Complex) => {
                let v = attr
                    .sub_attr("value")
                    .ok_or_else(|| bad("it has no value sub-attribute"))?;
                keys.push(v.name.clone());
                v
            }
            (None, _) => attr,
        }
    } else {
        match (sub, attr.ty) {
            (Some(s), _) => {
                keys.push(s.name.clone());
                s
            }
            (None, AttrType::Complex) => return Err(bad("it is complex; sort by a sub-attribute")),
            (None, _) => attr,
        }
    };
    let target = Target::Doc(keys);
    let expr = match (backend, leaf.ty) {
        (Backend::Postgres, AttrType::Integer | AttrType::Decimal) => Fragment::new()
            .sql("(")
            .append(c.text_expr(&target))
            .sql(")::double precision"),
        (Backend::Postgres, _) => Fragment::new()
            .sql("(")
            .append(c.text_expr(&target))
            .sql(") COLLATE \"C\""),
        (Backend::Sqlite, _) => c.text_expr(&target),
    };
    Ok(expr.retype())
}

/// The SQL type of a [`sort_key`] expression, which keyset (cursor) paging needs to read the
/// key of a row back and to bind it again with the same type (RFC 9865 cursors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKeyType {
    /// Text (strings, references, dateTimes inside the document; booleans on PostgreSQL).
    Text,
    /// A number: integers and decimals (and booleans on SQLite, where JSON gives 0/1).
    Number,
    /// A timestamp column (`meta.created`, `meta.lastModified`).
    Timestamp,
}

/// The type of the expression [`sort_key`] returns for the same arguments. Call [`sort_key`]
/// first: this assumes the attribute is sortable.
pub fn sort_key_type(kind: ResourceKind, path: &AttrPath, backend: Backend) -> SortKeyType {
    let c = Compiler::new(kind, backend);
    let Some(r) = c.registry.find_attr(kind, path) else {
        return SortKeyType::Text;
    };
    let extension = !r.schema.eq_ignore_ascii_case(kind.core_schema());
    match c.column(r.attr, r.sub, extension) {
        Some(Col::Time(_)) => return SortKeyType::Timestamp,
        Some(_) => return SortKeyType::Text,
        None => {}
    }
    let leaf = match (r.sub, r.attr.multi_valued, r.attr.ty) {
        (Some(s), _, _) => s,
        (None, true, AttrType::Complex) => r.attr.sub_attr("value").unwrap_or(r.attr),
        (None, _, _) => r.attr,
    };
    match (leaf.ty, backend) {
        (AttrType::Integer | AttrType::Decimal, _) => SortKeyType::Number,
        (AttrType::Boolean, Backend::Sqlite) => SortKeyType::Number,
        _ => SortKeyType::Text,
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
