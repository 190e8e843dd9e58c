//! Response projection (RFC 7644 §3.4.2.5, §3.9; RFC 7643 §2.4 `returned`): which
//! attributes a response carries, given `attributes` / `excludedAttributes`.
//!
//! - `returned: always` (`id`, `schemas`) is always present; `never` (`password`) never;
//!   `request` only when named in `attributes`; `default` unless excluded, or unless
//!   `attributes` is given and does not name it.
//! - Names are paths (`name.givenName`, `urn:...:enterprise:2.0:User:department`), or an
//!   extension URN for the whole extension; they match case-insensitively.
//! - When both parameters are given, `attributes` wins and `excludedAttributes` is ignored
//!   (RFC 7644 §3.9 says they are alternatives and that `attributes` overrides the default
//!   set).
//! - An unknown name in `attributes` is `400 invalidValue` (a typo would otherwise silently
//!   return just `id` and `schemas`); unknown names in `excludedAttributes` are ignored.

use serde_json::{Map, Value};

use crate::error::Error;
use crate::path::AttrPath;
use crate::schema::{AttributeDef, Registry, ResourceKind, Returned};

/// One selected name, resolved and in canonical case.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sel {
    /// A whole extension object, by URN.
    Extension(String),
    /// An attribute (`schema` is the canonical URN of the defining schema; common and core
    /// attributes use the core schema), optionally one sub-attribute.
    Attr {
        schema: String,
        attr: String,
        sub: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// Neither parameter: the default set.
    Default,
    /// `attributes`
    Include(Vec<Sel>),
    /// `excludedAttributes`
    Exclude(Vec<Sel>),
}

/// A parsed `attributes` or `excludedAttributes` parameter (RFC 7644 §3.4.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrSelection {
    mode: Mode,
    core: &'static str,
    /// Top-level attributes returned `never` or `request`, as (schema URN, name).
    never: Vec<(String, String)>,
    request: Vec<(String, String)>,
}

impl AttrSelection {
    /// The default selection (no `attributes`, no `excludedAttributes`).
    pub fn all(kind: ResourceKind, registry: &Registry) -> AttrSelection {
        Self::with_mode(Mode::Default, kind, registry)
    }

    /// Parses the comma-separated parameters. Blank parameters count as absent; if both
    /// are given, `attributes` wins. An unknown name in `attributes` is `invalidValue`;
    /// unknown names in `excludedAttributes` are ignored.
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
        kind: ResourceKind,
        registry: &Registry,
    ) -> Result<AttrSelection, Error> {
        let blank = |s: &Option<&str>| s.is_none_or(|s| s.trim().is_empty());
        let mode = if !blank(&attributes) {
            let mut sels = Vec::new();
            for name in split(attributes.unwrap_or_default()) {
                match resolve(name, kind, registry) {
                    Some(s) => sels.push(s),
                    None => {
                        return Err(Error::invalid_value(format!(
                            "'attributes' names '{name}', which is not an attribute of {}",
                            kind.name()
                        )))
                    }
                }
            }
            Mode::Include(sels)
        } else if !blank(&excluded) {
            Mode::Exclude(
                split(excluded.unwrap_or_default())
                    .filter_map(|n| resolve(n, kind, registry))
                    .collect(),
            )
        } else {
            Mode::Default
        };
        Ok(Self::with_mode(mode, kind, registry))
    }

    fn with_mode(mode: Mode, kind: ResourceKind, registry: &Registry) -> AttrSelection {
        let mut never = Vec::new();
        let mut request = Vec::new();
        for urn in registry.schema_urns(kind) {
            let Some(schema) = registry.schema(urn) else {
                continue;
            };
            for def in &schema.attributes {
                match def.returned {
                    Returned::Never => never.push((schema.id.clone(), def.name.clone())),
                    Returned::Request => request.push((schema.id.clone(), def.name.clone())),
                    _ => {}
                }
            }
        }
        AttrSelection {
            mode,
            core: kind.core_schema(),
            never,
            request,
        }
    }

    /// Whether a response needs the top-level attribute `attr` (canonical name, e.g.
    /// `"members"` or `"groups"`; case-insensitive), so the server can skip loading it.
    /// An extension URN asks about the whole extension object.
    pub fn wants(&self, attr: &str) -> bool {
        let core = self.core;
        let listed = |list: &[(String, String)]| {
            list.iter()
                .any(|(s, n)| s == core && n.eq_ignore_ascii_case(attr))
        };
        if listed(&self.never) {
            return false;
        }
        let names = |s: &Sel| match s {
            Sel::Extension(urn) => urn.eq_ignore_ascii_case(attr),
            Sel::Attr {
                schema, attr: a, ..
            } => {
                (schema == core && a.eq_ignore_ascii_case(attr))
                    || schema.eq_ignore_ascii_case(attr)
            }
        };
        match &self.mode {
            Mode::Default => !listed(&self.request),
            Mode::Include(sels) => is_always(attr) || sels.iter().any(names),
            Mode::Exclude(sels) => {
                !listed(&self.request)
                    && !sels.iter().any(|s| match s {
                        Sel::Extension(urn) => urn.eq_ignore_ascii_case(attr),
                        Sel::Attr {
                            schema,
                            attr: a,
                            sub,
                        } => sub.is_none() && schema == core && a.eq_ignore_ascii_case(attr),
                    })
            }
        }
    }

    fn selected<'s>(
        &'s self,
        schema: &'s str,
        attr: &'s str,
    ) -> impl Iterator<Item = &'s Sel> + 's {
        let sels: &[Sel] = match &self.mode {
            Mode::Include(s) | Mode::Exclude(s) => s,
            Mode::Default => &[],
        };
        sels.iter().filter(move |s| match s {
            Sel::Attr {
                schema: s, attr: a, ..
            } => s.eq_ignore_ascii_case(schema) && a.eq_ignore_ascii_case(attr),
            Sel::Extension(urn) => urn.eq_ignore_ascii_case(schema),
        })
    }
}

fn is_always(attr: &str) -> bool {
    attr.eq_ignore_ascii_case("id") || attr.eq_ignore_ascii_case("schemas")
}

fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|n| !n.is_empty())
}

/// Resolves one name: an extension URN, or an attribute path.
fn resolve(name: &str, kind: ResourceKind, registry: &Registry) -> Option<Sel> {
    if let Some(ext) = registry.extension(kind, name) {
        return Some(Sel::Extension(ext.id.clone()));
    }
    let path = AttrPath::parse(name).ok()?;
    let r = registry.find_attr(kind, &path)?;
    Some(Sel::Attr {
        schema: r.schema.to_owned(),
        attr: r.attr.name.clone(),
        sub: r.sub.map(|s| s.name.clone()),
    })
}

/// Projects a full resource representation (`schemas`, `id`, `meta`, attributes,
/// extension objects, `groups`/`members`) according to `sel` and the `returned`
/// characteristic of each attribute and sub-attribute.
pub fn project(
    resource: &Value,
    sel: &AttrSelection,
    kind: ResourceKind,
    registry: &Registry,
) -> Value {
    let Value::Object(obj) = resource else {
        return resource.clone();
    };
    let core = kind.core_schema();
    let mut out = Map::new();
    for (key, value) in obj {
        if let Some(ext) = registry.extension(kind, key) {
            let Value::Object(ext_obj) = value else {
                continue;
            };
            let whole = |list: &[Sel]| {
                list.iter()
                    .any(|s| matches!(s, Sel::Extension(u) if u.eq_ignore_ascii_case(&ext.id)))
            };
            if let Mode::Exclude(list) = &sel.mode {
                if whole(list) {
                    continue;
                }
            }
            let include_whole = matches!(&sel.mode, Mode::Include(list) if whole(list));
            let mut projected = Map::new();
            for (name, v) in ext_obj {
                let Some(def) = ext.attr(name) else {
                    continue;
                };
                if let Some(v) = project_attr(sel, &ext.id, def, v, include_whole) {
                    projected.insert(name.clone(), v);
                }
            }
            if !projected.is_empty() {
                out.insert(key.clone(), Value::Object(projected));
            }
            continue;
        }
        let def = registry
            .find_attr(kind, &AttrPath::simple(key.as_str()))
            .filter(|r| !r.is_extension());
        match def {
            Some(r) => {
                if let Some(v) = project_attr(sel, core, r.attr, value, false) {
                    out.insert(key.clone(), v);
                }
            }
            // Not in the schema: `schemas` is common; anything else is kept by default.
            None if is_always(key) || matches!(sel.mode, Mode::Default | Mode::Exclude(_)) => {
                out.insert(key.clone(), value.clone());
            }
            None => {}
        }
    }
    Value::Object(out)
}

/// [`project`] on an owned resource. With the default selection (no `attributes` or
/// `excludedAttributes`, by far the most common request) the resource is changed in place:
/// attributes returned `never` or only on `request` (and unknown sub-attributes) are removed, and
/// nothing is copied. Other selections go through [`project`].
pub fn project_owned(
    resource: Value,
    sel: &AttrSelection,
    kind: ResourceKind,
    registry: &Registry,
) -> Value {
    if !matches!(sel.mode, Mode::Default) {
        return project(&resource, sel, kind, registry);
    }
    let Value::Object(mut obj) = resource else {
        return resource;
    };
    obj.retain(|key, value| {
        if let Some(ext) = registry.extension(kind, key) {
            let Value::Object(ext_obj) = value else {
                return false;
            };
            ext_obj.retain(|name, v| match ext.attr(name) {
                Some(def) => keep_default(def, v),
                None => false,
            });
            return !ext_obj.is_empty();
        }
        match registry
            .find_attr(kind, &AttrPath::simple(key.as_str()))
            .filter(|r| !r.is_extension())
        {
            Some(r) => keep_default(r.attr, value),
            None => true,
        }
    });
    Value::Object(obj)
}

/// The default selection for one attribute, in place: whether to keep it (after removing the
/// sub-attributes the default selection does not return).
fn keep_default(def: &AttributeDef, value: &mut Value) -> bool {
    let always = match def.returned {
        Returned::Never | Returned::Request => return false,
        Returned::Always => true,
        Returned::Default => false,
    };
    if !def.is_complex() {
        return true;
    }
    let strip = |v: &mut Value| {
        if let Value::Object(o) = v {
            o.retain(|k, _| match def.sub_attr(k) {
                Some(s) => match s.returned {
                    Returned::Never => false,
                    Returned::Request => always,
                    Returned::Always | Returned::Default => true,
                },
                None => false,
            });
        }
    };
    match value {
        Value::Array(items) => {
            items.iter_mut().for_each(strip);
            items.retain(|v| !is_empty(v));
        }
        v => strip(v),
    }
    true
}

/// Projects one top-level attribute value; `None` drops it.
fn project_attr(
    sel: &AttrSelection,
    schema: &str,
    def: &AttributeDef,
    value: &Value,
    include_whole: bool,
) -> Option<Value> {
    match def.returned {
        Returned::Always => return Some(strip_subs(def, value, &|_| true)),
        Returned::Never => return None,
        _ => {}
    }
    let named: Vec<&Sel> = sel.selected(schema, &def.name).collect();
    let whole = include_whole
        || named
            .iter()
            .any(|s| matches!(s, Sel::Attr { sub: None, .. }));
    let subs: Vec<&str> = named
        .iter()
        .filter_map(|s| match s {
            Sel::Attr { sub: Some(sub), .. } => Some(sub.as_str()),
            _ => None,
        })
        .collect();
    match &sel.mode {
        Mode::Default => (def.returned == Returned::Default)
            .then(|| strip_subs(def, value, &|s| s.returned != Returned::Request)),
        Mode::Exclude(_) => {
            if def.returned == Returned::Request || whole {
                return None;
            }
            let v = strip_subs(def, value, &|s| {
                s.returned != Returned::Request
                    && !subs.iter().any(|n| n.eq_ignore_ascii_case(&s.name))
            });
            (!is_empty(&v)).then_some(v)
        }
        Mode::Include(_) => {
            if whole {
                return Some(strip_subs(def, value, &|_| true));
            }
            if subs.is_empty() {
                return None;
            }
            let v = strip_subs(def, value, &|s| {
                s.returned == Returned::Always
                    || subs.iter().any(|n| n.eq_ignore_ascii_case(&s.name))
            });
            (!is_empty(&v)).then_some(v)
        }
    }
}

/// Keeps the sub-attributes of a complex value (or of each value) for which `keep` holds,
/// and never those returned `never`. Values of a simple attribute are returned as is.
fn strip_subs(def: &AttributeDef, value: &Value, keep: &dyn Fn(&AttributeDef) -> bool) -> Value {
    if !def.is_complex() {
        return value.clone();
    }
    let one = |v: &Value| match v {
        Value::Object(obj) => Value::Object(
            obj.iter()
                .filter(|(k, _)| match def.sub_attr(k) {
                    Some(s) => {
                        s.returned != Returned::Never && (s.returned == Returned::Always || keep(s))
                    }
                    None => false,
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    };
    match value {
        Value::Array(items) => {
            Value::Array(items.iter().map(one).filter(|v| !is_empty(v)).collect())
        }
        v => one(v),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}
