//! Applying PATCH operations to a stored document (RFC 7644 §3.5.2.1–3).

use serde_json::{json, Map, Value};

use super::{at_operation, compat, MemberOp, OpKind, PatchOp, PatchOutcome, PatchPath};
use crate::error::Error;
use crate::filter::{self, CompValue, CompareOp, Filter};
use crate::path::AttrPath;
use crate::resource::{group_members, validate};
use crate::schema::{AttributeDef, Mutability, Registry, ResourceKind, SchemaDef};

/// Applies `ops` to `doc` atomically: all of them or none (the input is never modified).
///
/// `doc` is the stored document (no `id`, `meta`, `groups` or `members`). The result is
/// run through [`validate`], so it obeys every rule a POST body does. For Groups every
/// operation on `members` becomes a [`MemberOp`] instead of a document change:
/// `add` → `Add`, `replace` → `ReplaceAll`, `remove` → `RemoveAll`, `remove` with a
/// `value` array or `members[value eq "id"]` → `Remove` (any other member filter is
/// `invalidFilter`).
pub fn apply(
    kind: ResourceKind,
    doc: &Value,
    ops: &[PatchOp],
    registry: &Registry,
) -> Result<PatchOutcome, Error> {
    let Value::Object(map) = doc else {
        return Err(Error::new(
            500,
            None,
            "stored document is not a JSON object",
        ));
    };
    let mut applier = Applier {
        ctx: Ctx { kind, registry },
        doc: map.clone(),
        members: Vec::new(),
    };
    for (i, op) in ops.iter().enumerate() {
        applier.op(op).map_err(|e| at_operation(e, i))?;
    }
    let new_doc = validate(kind, Value::Object(applier.doc), registry)?;
    check_immutable(kind, registry, doc, &new_doc)?;
    let changed = new_doc != *doc || !applier.members.is_empty();
    Ok(PatchOutcome {
        doc: new_doc,
        members: applier.members,
        changed,
    })
}

#[derive(Clone, Copy)]
struct Ctx<'r> {
    kind: ResourceKind,
    registry: &'r Registry,
}

struct Applier<'r> {
    ctx: Ctx<'r>,
    doc: Map<String, Value>,
    members: Vec<MemberOp>,
}

/// What a path points at.
enum Target<'a> {
    /// A whole extension object, by its URN.
    Extension(&'a SchemaDef),
    Attr(Resolved<'a>),
}

/// A path resolved against the registry.
struct Resolved<'a> {
    /// Canonical URN of the defining schema.
    schema: &'a str,
    /// Whether the attribute lives in an extension object.
    ext: bool,
    attr: &'a AttributeDef,
    /// `name.familyName` (no filter) or the sub-attribute after `]`.
    sub: Option<&'a AttributeDef>,
    filter: Option<&'a Filter>,
    /// The path as written, for messages.
    text: String,
}

impl Resolved<'_> {
    fn leaf(&self) -> &AttributeDef {
        self.sub.unwrap_or(self.attr)
    }

    fn is_members(&self, kind: ResourceKind) -> bool {
        kind == ResourceKind::Group && !self.ext && self.attr.name == "members"
    }

    fn read_only(&self) -> bool {
        self.attr.mutability == Mutability::ReadOnly
            || self
                .sub
                .is_some_and(|s| s.mutability == Mutability::ReadOnly)
    }
}

/// Where an operation comes from: a `path`, or a key of a no-path value map.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Path,
    Map,
}

impl<'r> Ctx<'r> {
    fn resolve<'a>(&self, p: &'a PatchPath) -> Result<Target<'a>, Error>
    where
        'r: 'a,
    {
        if let (Some(uri), None, None, None) = (&p.attr.uri, &p.attr.sub, &p.filter, &p.sub) {
            if let Some(ext) = self
                .registry
                .extension(self.kind, &format!("{uri}:{}", p.attr.attr))
            {
                return Ok(Target::Extension(ext));
            }
        }
        let text = p.to_string();
        let r = self.registry.find_attr(self.kind, &p.attr).ok_or_else(|| {
            Error::invalid_path(format!(
                "'{}' is not an attribute of {}",
                p.attr,
                self.kind.name()
            ))
        })?;
        let mut sub = r.sub;
        if p.filter.is_some() {
            if !r.attr.multi_valued {
                return Err(Error::invalid_path(format!(
                    "'{text}': a value filter ('[...]') needs a multi-valued attribute, and '{}' is single-valued",
                    r.attr.name
                )));
            }
            if let Some(name) = &p.sub {
                sub = Some(r.attr.sub_attr(name).ok_or_else(|| {
                    Error::invalid_path(format!(
                        "'{text}': '{name}' is not a sub-attribute of '{}'",
                        r.attr.name
                    ))
                })?);
            }
        }
        Ok(Target::Attr(Resolved {
            schema: r.schema,
            ext: r.is_extension(),
            attr: r.attr,
            sub,
            filter: p.filter.as_ref(),
            text,
        }))
    }

    /// Indices of the values of `items` that match the value filter of `t`.
    fn matching(&self, t: &Resolved<'_>, filter: &Filter, items: &[Value]) -> Vec<usize> {
        let vp = Filter::ValuePath {
            path: AttrPath {
                uri: Some(t.schema.to_owned()),
                attr: t.attr.name.clone(),
                sub: None,
            },
            filter: Box::new(filter.clone()),
        };
        items
            .iter()
            .enumerate()
            .filter(|(_, el)| {
                let mut inner = Map::new();
                inner.insert(t.attr.name.clone(), Value::Array(vec![(*el).clone()]));
                let resource = if t.ext {
                    json!({ t.schema: inner })
                } else {
                    Value::Object(inner)
                };
                filter::eval(&vp, &resource, self.kind, self.registry)
            })
            .map(|(i, _)| i)
            .collect()
    }
}

impl Applier<'_> {
    fn op(&mut self, op: &PatchOp) -> Result<(), Error> {
        let Some(path) = &op.path else {
            return match op.op {
                OpKind::Remove => Err(Error::no_target(
                    "\"remove\" needs a \"path\" naming the attribute or values to remove",
                )),
                OpKind::Add | OpKind::Replace => {
                    let value = op.value.clone().unwrap_or(Value::Null);
                    self.value_map(op.op, value)
                }
            };
        };
        match self.ctx.resolve(path)? {
            Target::Extension(ext) => self.extension(op.op, ext, op.value.clone()),
            Target::Attr(t) => self.attr(op.op, &t, op.value.clone(), Origin::Path),
        }
    }

    /// A no-path `add`/`replace`: `value` is a map of attributes, whose keys may be
    /// extension URNs, or dotted or URN-qualified paths (Entra ID sends
    /// `"name.givenName"` and `"urn:...:enterprise:2.0:User:department"` keys; Microsoft's
    /// SCIM "known issues" page).
    fn value_map(&mut self, op: OpKind, value: Value) -> Result<(), Error> {
        let Value::Object(map) = value else {
            return Err(Error::invalid_value(format!(
                "\"{op}\" without \"path\" needs an object of attributes as \"value\""
            )));
        };
        let ctx = self.ctx;
        for (key, v) in map {
            if key.eq_ignore_ascii_case("schemas") {
                continue;
            }
            if let Some(ext) = ctx.registry.extension(ctx.kind, &key) {
                self.extension(op, ext, Some(v))?;
                continue;
            }
            let unknown = || {
                Error::invalid_syntax(format!(
                    "unknown attribute '{key}' for {} in the \"value\" of \"{op}\"",
                    ctx.kind.name()
                ))
            };
            let path = PatchPath {
                attr: AttrPath::parse(&key).map_err(|_| unknown())?,
                filter: None,
                sub: None,
            };
            match ctx.resolve(&path).map_err(|_| unknown())? {
                Target::Extension(ext) => self.extension(op, ext, Some(v))?,
                Target::Attr(t) => self.attr(op, &t, Some(v), Origin::Map)?,
            }
        }
        Ok(())
    }

    /// An operation on a whole extension object (`path` is the extension URN, or a URN key
    /// of a no-path map).
    fn extension(
        &mut self,
        op: OpKind,
        ext: &SchemaDef,
        value: Option<Value>,
    ) -> Result<(), Error> {
        match (op, value) {
            (OpKind::Remove, _) | (OpKind::Replace, Some(Value::Null)) => {
                remove_ci(&mut self.doc, &ext.id);
                Ok(())
            }
            (_, None | Some(Value::Null)) => Ok(()),
            (_, Some(Value::Object(obj))) => {
                for (name, v) in obj {
                    // `schemas` repeated inside an extension value (scim2-tester does this)
                    // is not an attribute of the extension: ignore it, as validate does
                    if name.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    let path = PatchPath {
                        attr: AttrPath {
                            uri: Some(ext.id.clone()),
                            attr: name.clone(),
                            sub: None,
                        },
                        filter: None,
                        sub: None,
                    };
                    let Ok(Target::Attr(t)) = self.ctx.resolve(&path) else {
                        return Err(Error::invalid_syntax(format!(
                            "unknown attribute '{}:{name}' for {}",
                            ext.id,
                            self.ctx.kind.name()
                        )));
                    };
                    self.attr(op, &t, Some(v), Origin::Map)?;
                }
                Ok(())
            }
            (_, Some(_)) => Err(Error::invalid_value(format!(
                "the value of '{}' must be an object of its attributes",
                ext.id
            ))),
        }
    }

    fn attr(
        &mut self,
        op: OpKind,
        t: &Resolved<'_>,
        value: Option<Value>,
        origin: Origin,
    ) -> Result<(), Error> {
        let ctx = self.ctx;
        if t.is_members(ctx.kind) {
            if let Some(m) = member_op(op, t, value)? {
                self.members.push(m);
            }
            return Ok(());
        }
        if t.read_only() {
            return match origin {
                // RFC 7644 §3.5.1 (PUT): readOnly values "SHALL be ignored"; Okta sends
                // `{"op":"replace","value":{"id":"…","active":false}}`.
                Origin::Map => Ok(()),
                Origin::Path => Err(Error::mutability(format!(
                    "attribute '{}' is readOnly",
                    t.text
                ))),
            };
        }
        let value = match (origin, t.filter, value) {
            (Origin::Path, None, Some(v)) => Some(compat::wrap_complex_value(
                t.leaf(),
                compat::unwrap_single_value(t.leaf(), v),
            )),
            (Origin::Map, None, Some(v)) => Some(compat::wrap_complex_value(t.leaf(), v)),
            (_, _, v) => v,
        };
        if op == OpKind::Remove && t.attr.required && t.sub.is_none() && t.filter.is_none() {
            return Err(Error::mutability(format!(
                "attribute '{}' is required and cannot be removed; replace it instead",
                t.attr.name
            )));
        }

        let mut container = if t.ext {
            match remove_ci(&mut self.doc, t.schema) {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            }
        } else {
            std::mem::take(&mut self.doc)
        };
        let current = remove_ci(&mut container, &t.attr.name);
        let new = match op {
            OpKind::Add => add(ctx, t, current, value.unwrap_or(Value::Null))?,
            OpKind::Replace => replace(ctx, t, current, value.unwrap_or(Value::Null))?,
            OpKind::Remove => remove(ctx, t, current, value)?,
        };
        if let Some(v) = new.filter(|v| !is_unassigned(v)) {
            container.insert(t.attr.name.clone(), v);
        }
        if t.ext {
            if !container.is_empty() {
                self.doc
                    .insert(t.schema.to_owned(), Value::Object(container));
            }
        } else {
            self.doc = container;
        }
        Ok(())
    }
}

/// `null`, `[]` and `{}` are unassigned (RFC 7643 §2.5).
fn is_unassigned(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Removes a member case-insensitively (exact match first).
fn remove_ci(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    if let Some(v) = map.remove(key) {
        return Some(v);
    }
    let found = map.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()?;
    map.remove(&found)
}

/// Renames object keys to their canonical names and converts boolean strings, so that
/// comparisons and filters see the shape [`validate`] will produce. Unknown names are
/// kept, for `validate` to report.
fn canon(def: &AttributeDef, v: Value) -> Value {
    match v {
        Value::Array(items) if def.multi_valued => {
            Value::Array(items.into_iter().map(|i| canon_single(def, i)).collect())
        }
        v => canon_single(def, v),
    }
}

fn canon_single(def: &AttributeDef, v: Value) -> Value {
    match v {
        Value::Object(obj) if def.is_complex() => Value::Object(
            obj.into_iter()
                .map(|(k, v)| match def.sub_attr(&k) {
                    Some(sub) => (sub.name.clone(), canon(sub, v)),
                    None => (k, v),
                })
                .collect(),
        ),
        Value::String(s) if def.ty == crate::schema::AttrType::Boolean => compat::bool_string(s),
        v => v,
    }
}

/// The values of a multi-valued attribute: an array's items, or a single value as one.
fn items_of(v: Option<Value>) -> Vec<Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(v) => vec![v],
    }
}

fn obj_of(v: Option<Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Sets (or with `null`, removes) `sub` in a complex value.
fn set_sub(obj: &mut Map<String, Value>, sub: &AttributeDef, v: Value) {
    remove_ci(obj, &sub.name);
    let v = canon(sub, v);
    if !is_unassigned(&v) {
        obj.insert(sub.name.clone(), v);
    }
}

/// Merges the sub-attributes of `v` into `obj` (add/replace of a complex attribute).
/// A non-object `v` is returned as is, for `validate` to report.
fn merge(def: &AttributeDef, obj: Map<String, Value>, v: Value) -> Value {
    let Value::Object(new) = canon(def, v) else {
        return Value::Null;
    };
    let mut obj = obj;
    for (k, v) in new {
        remove_ci(&mut obj, &k);
        if !v.is_null() {
            obj.insert(k, v);
        }
    }
    Value::Object(obj)
}

fn is_primary(v: &Value) -> bool {
    v.get("primary").and_then(Value::as_bool) == Some(true)
}

/// RFC 7643 §2.4: `primary: true` appears at most once; a value just written with it
/// takes it from the others.
fn single_primary(items: &mut [Value], written: &[usize]) {
    if !written
        .iter()
        .any(|&i| items.get(i).is_some_and(is_primary))
    {
        return;
    }
    for (i, item) in items.iter_mut().enumerate() {
        if !written.contains(&i) && is_primary(item) {
            if let Some(obj) = item.as_object_mut() {
                obj.remove("primary");
            }
        }
    }
}

fn needs_filter(t: &Resolved<'_>) -> Error {
    Error::invalid_path(format!(
        "'{}': '{}' is multi-valued; select the values with a filter, e.g. '{}[type eq \"work\"].{}'",
        t.text,
        t.attr.name,
        t.attr.name,
        t.sub.map(|s| s.name.as_str()).unwrap_or("value")
    ))
}

fn no_match(t: &Resolved<'_>) -> Error {
    Error::no_target(format!(
        "no value of '{}' matches '{}'",
        t.attr.name, t.text
    ))
}

/// §3.5.2.1 `add`.
fn add(
    ctx: Ctx<'_>,
    t: &Resolved<'_>,
    cur: Option<Value>,
    v: Value,
) -> Result<Option<Value>, Error> {
    let attr = t.attr;
    if let Some(filter) = t.filter {
        let mut items = items_of(cur);
        let mut hits = ctx.matching(t, filter, &items);
        if hits.is_empty() {
            // compat: Entra ID adds `emails[type eq "work"].value` for a new work email.
            let Some(mut el) = compat::element_from_filter(filter, attr) else {
                return Err(no_match(t));
            };
            if t.sub.is_none() && !v.is_object() {
                return Err(Error::invalid_value(format!(
                    "'{}': the value added to a filtered multi-valued attribute must be an object",
                    t.text
                )));
            }
            el = obj_of(Some(merge_into_element(t, el, v)));
            items.push(Value::Object(el));
            hits = vec![items.len() - 1];
        } else {
            for &i in &hits {
                let el = obj_of(items.get(i).cloned());
                if let Some(slot) = items.get_mut(i) {
                    *slot = merge_into_element(t, el, v.clone());
                }
            }
        }
        single_primary(&mut items, &hits);
        return Ok(Some(Value::Array(items)));
    }
    if let Some(sub) = t.sub {
        if attr.multi_valued {
            return Err(needs_filter(t));
        }
        let mut obj = obj_of(cur);
        set_sub(&mut obj, sub, v);
        return Ok(Some(Value::Object(obj)));
    }
    if attr.multi_valued {
        let mut items = items_of(cur);
        let mut written = Vec::new();
        for new in items_of(Some(canon(attr, v))) {
            match items.iter().position(|e| *e == new) {
                Some(i) => written.push(i),
                None => {
                    items.push(new);
                    written.push(items.len() - 1);
                }
            }
        }
        single_primary(&mut items, &written);
        return Ok(Some(Value::Array(items)));
    }
    if attr.is_complex() && v.is_object() {
        return Ok(Some(merge(attr, obj_of(cur), v)));
    }
    // A single-valued attribute: add replaces the existing value (§3.5.2.1).
    Ok(Some(canon(attr, v)))
}

/// The matched element after add/replace: its sub-attribute set, or `v` merged in.
fn merge_into_element(t: &Resolved<'_>, mut el: Map<String, Value>, v: Value) -> Value {
    match t.sub {
        Some(sub) => {
            set_sub(&mut el, sub, v);
            Value::Object(el)
        }
        None if v.is_object() => merge(t.attr, el, v),
        None => canon(t.attr, v),
    }
}

/// §3.5.2.3 `replace`.
fn replace(
    ctx: Ctx<'_>,
    t: &Resolved<'_>,
    cur: Option<Value>,
    v: Value,
) -> Result<Option<Value>, Error> {
    let attr = t.attr;
    if let Some(filter) = t.filter {
        let mut items = items_of(cur);
        let hits = ctx.matching(t, filter, &items);
        if hits.is_empty() {
            return Err(no_match(t));
        }
        for &i in &hits {
            let Some(slot) = items.get_mut(i) else {
                continue;
            };
            *slot = match t.sub {
                Some(sub) => {
                    let mut el = obj_of(Some(slot.take()));
                    set_sub(&mut el, sub, v.clone());
                    Value::Object(el)
                }
                None => canon(attr, v.clone()),
            };
        }
        items.retain(|i| !is_unassigned(i));
        single_primary(&mut items, &hits);
        return Ok(Some(Value::Array(items)));
    }
    if let Some(sub) = t.sub {
        if attr.multi_valued {
            return Err(needs_filter(t));
        }
        let mut obj = obj_of(cur);
        set_sub(&mut obj, sub, v);
        return Ok(Some(Value::Object(obj)));
    }
    if v.is_null() {
        // `replace` with `null` unassigns the attribute.
        return Ok(None);
    }
    if attr.is_complex() && !attr.multi_valued && v.is_object() {
        // §3.5.2.3: sub-attributes not given are left unchanged.
        return Ok(Some(merge(attr, obj_of(cur), v)));
    }
    if attr.multi_valued {
        return Ok(Some(Value::Array(items_of(Some(canon(attr, v))))));
    }
    Ok(Some(canon(attr, v)))
}

/// §3.5.2.2 `remove`.
fn remove(
    ctx: Ctx<'_>,
    t: &Resolved<'_>,
    cur: Option<Value>,
    value: Option<Value>,
) -> Result<Option<Value>, Error> {
    let attr = t.attr;
    if let Some(filter) = t.filter {
        let mut items = items_of(cur);
        let hits = ctx.matching(t, filter, &items);
        if hits.is_empty() {
            return Err(no_match(t));
        }
        match t.sub {
            Some(sub) => {
                for &i in &hits {
                    if let Some(Value::Object(el)) = items.get_mut(i) {
                        remove_ci(el, &sub.name);
                    }
                }
            }
            None => {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !hits.contains(&i);
                    i += 1;
                    keep
                });
            }
        }
        items.retain(|i| !is_unassigned(i));
        return Ok(Some(Value::Array(items)));
    }
    if let Some(sub) = t.sub {
        return Ok(match cur {
            Some(Value::Object(mut obj)) => {
                remove_ci(&mut obj, &sub.name);
                Some(Value::Object(obj))
            }
            Some(Value::Array(mut items)) if attr.multi_valued => {
                // `emails.display`: the sub-attribute of every value.
                for el in items.iter_mut().filter_map(Value::as_object_mut) {
                    remove_ci(el, &sub.name);
                }
                items.retain(|i| !is_unassigned(i));
                Some(Value::Array(items))
            }
            other => other,
        });
    }
    match value {
        Some(v) if attr.multi_valued && !v.is_null() => {
            // compat: `remove` with a value removes just the listed values.
            let listed = items_of(Some(canon(attr, v)));
            let mut items = items_of(cur);
            items.retain(|e| !compat::matches_listed(attr, &listed, e));
            Ok(Some(Value::Array(items)))
        }
        _ => Ok(None),
    }
}

/// Turns an operation on a Group's `members` into a [`MemberOp`] (`None`: nothing to do).
fn member_op(
    op: OpKind,
    t: &Resolved<'_>,
    value: Option<Value>,
) -> Result<Option<MemberOp>, Error> {
    let whole = "patch 'members' as a whole, e.g. {\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"<id>\"}]}";
    if t.sub.is_some() {
        return Err(Error::invalid_path(format!(
            "'{}': member sub-attributes cannot be changed; {whole}",
            t.text
        )));
    }
    if let Some(filter) = t.filter {
        if op != OpKind::Remove {
            return Err(Error::invalid_path(format!(
                "'{}': a filter on 'members' is only supported with \"remove\"; {whole}",
                t.text
            )));
        }
        return match filter {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: CompValue::Str(id),
            } if path.uri.is_none()
                && path.sub.is_none()
                && path.attr.eq_ignore_ascii_case("value") =>
            {
                Ok(Some(MemberOp::Remove(vec![id.clone()])))
            }
            _ => Err(Error::invalid_filter(
                "only members[value eq \"…\"] is supported",
            )),
        };
    }
    let refs = |v: Value| {
        let list = match v {
            Value::Array(items) => items,
            other => vec![other],
        };
        group_members(&json!({ "members": list }))
    };
    Ok(match (op, value) {
        (OpKind::Add, None | Some(Value::Null)) => None,
        (OpKind::Add, Some(v)) => {
            let r = refs(v)?;
            (!r.is_empty()).then_some(MemberOp::Add(r))
        }
        (OpKind::Replace, None | Some(Value::Null)) => Some(MemberOp::ReplaceAll(Vec::new())),
        (OpKind::Replace, Some(v)) => Some(MemberOp::ReplaceAll(refs(v)?)),
        (OpKind::Remove, None | Some(Value::Null)) => Some(MemberOp::RemoveAll),
        (OpKind::Remove, Some(v)) => {
            // compat: Entra ID / Okta `{"op":"Remove","path":"members","value":[{"value":"id"}]}`.
            let ids: Vec<String> = refs(v)?.into_iter().map(|m| m.value).collect();
            (!ids.is_empty()).then_some(MemberOp::Remove(ids))
        }
    })
}

/// RFC 7644 §3.5.1/§3.5.2: an immutable attribute may be added while unassigned, never
/// changed (PATCH and PUT alike): `mutability` otherwise.
pub fn check_immutable(
    kind: ResourceKind,
    registry: &Registry,
    old: &Value,
    new: &Value,
) -> Result<(), Error> {
    for urn in registry.schema_urns(kind) {
        let Some(schema) = registry.schema(urn) else {
            continue;
        };
        let holder = |doc: &Value| -> Option<Value> {
            if urn == kind.core_schema() {
                Some(doc.clone())
            } else {
                crate::resource::get_ci(doc, urn).cloned()
            }
        };
        let (old_h, new_h) = (holder(old), holder(new));
        for def in &schema.attributes {
            let o = old_h
                .as_ref()
                .and_then(|h| crate::resource::get_ci(h, &def.name));
            let n = new_h
                .as_ref()
                .and_then(|h| crate::resource::get_ci(h, &def.name));
            if def.mutability == Mutability::Immutable {
                if let Some(o) = o.filter(|o| !is_unassigned(o)) {
                    if Some(o) != n {
                        return Err(Error::mutability(format!(
                            "attribute '{}' is immutable: it cannot be changed once set",
                            def.name
                        )));
                    }
                }
            }
            if def.is_complex() && !def.multi_valued {
                for sub in def
                    .sub_attributes
                    .iter()
                    .filter(|s| s.mutability == Mutability::Immutable)
                {
                    let os = o.and_then(|o| crate::resource::get_ci(o, &sub.name));
                    let ns = n.and_then(|n| crate::resource::get_ci(n, &sub.name));
                    if let Some(os) = os.filter(|v| !is_unassigned(v)) {
                        if Some(os) != ns {
                            return Err(Error::mutability(format!(
                                "attribute '{}.{}' is immutable: it cannot be changed once set",
                                def.name, sub.name
                            )));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
