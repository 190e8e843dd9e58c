//! What a list request asks for: filter, sort and page (RFC 7644 §3.4.2), and cursor paging
//! (RFC 9865) as keyset paging in SQL.
//!
//! One [`Order`] describes the sort of a listing; the index-paged `list` functions and
//! [`cursor_page`] both use it, so a cursor walk returns rows in exactly the order of
//! `startIndex` paging. A cursor names the boundary row of the page it came from (its sort key
//! and id) and the next (or previous) page is the rows strictly after (or before) that row: no
//! OFFSET, so rows inserted or deleted elsewhere in the listing never shift a page, and no
//! state is kept on the server (cursors do not expire).
//!
//! Cursors are opaque to clients: hex of a small JSON document followed by a check value,
//! SHA-256 over the document and the query it belongs to (resource type, filter, `sortBy`,
//! `sortOrder`). A cursor used with another query, cut short or edited is refused with 400;
//! it is not a secret and not signed (it only positions a walk through rows the caller may
//! read anyway).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Double, Nullable, Text, Timestamp};
use scim::filter::Filter;
use scim::path::AttrPath;
use scim::schema::ResourceKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::conn::{Backend, DbConn};
use crate::error::Result;
use crate::filter_sql::{self, Condition, SortKeyType};
use crate::fragment::Fragment;
use crate::resource::{ResourceRow, StoredResource};
use crate::schema::{groups, users};

/// A list request, already parsed.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListSpec<'a> {
    /// Only resources matching this filter.
    pub filter: Option<&'a Filter>,
    /// Sort by this attribute (default: userName for Users, displayName for Groups).
    pub sort_by: Option<&'a AttrPath>,
    /// Descending order.
    pub descending: bool,
    /// 1-based index of the first result.
    pub start: u64,
    /// Page size (0: count only).
    pub count: u64,
}

impl ListSpec<'_> {
    /// OFFSET for the page.
    pub(crate) fn offset(&self) -> i64 {
        i64::try_from(self.start.saturating_sub(1)).unwrap_or(i64::MAX)
    }

    /// LIMIT for the page.
    pub(crate) fn limit(&self) -> i64 {
        i64::try_from(self.count).unwrap_or(i64::MAX)
    }
}

/// `totalResults` when the page itself tells it: a page shorter than asked for that is not past
/// the end (it has rows, or it starts at the first one) ends the result set, so the total is the
/// offset plus its rows. `None`: a `count(*)` is needed. A filter matching one user (the most
/// common SCIM list request) thus costs one query, not two.
pub(crate) fn total_from_page(spec: &ListSpec<'_>, rows: usize) -> Option<i64> {
    let rows = i64::try_from(rows).ok()?;
    let offset = spec.offset();
    (rows < spec.limit() && (rows > 0 || offset == 0)).then(|| offset.saturating_add(rows))
}

/// The sort order of a listing: `key` (NULLs last ascending, first descending, when it can
/// be NULL), then `id` ascending as a tiebreak when `key` is not unique.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    key: Fragment<()>,
    ty: SortKeyType,
    nullable: bool,
    descending: bool,
    id: &'static str,
    tiebreak: bool,
}

impl Order {
    /// The order `spec` asks for over `kind`: `sortBy`, or `userName` (unique) for Users and
    /// `(displayName, id)` for Groups.
    pub(crate) fn new(kind: ResourceKind, spec: &ListSpec<'_>, backend: Backend) -> Result<Order> {
        let id = match kind {
            ResourceKind::User => "users.id",
            ResourceKind::Group => "groups.id",
        };
        Ok(match (spec.sort_by, kind) {
            (Some(path), _) => Order {
                key: filter_sql::sort_key(kind, path, backend)?.retype(),
                ty: filter_sql::sort_key_type(kind, path, backend),
                nullable: true,
                descending: spec.descending,
                id,
                tiebreak: true,
            },
            (None, ResourceKind::User) => Order {
                key: Fragment::new().sql("users.user_name_norm"),
                ty: SortKeyType::Text,
                nullable: false,
                descending: spec.descending,
                id,
                tiebreak: false,
            },
            (None, ResourceKind::Group) => Order {
                key: Fragment::new().sql("groups.display_name_norm"),
                ty: SortKeyType::Text,
                nullable: false,
                descending: spec.descending,
                id,
                tiebreak: true,
            },
        })
    }

    /// The `ORDER BY` list, reversed for a backward (previous page) query.
    pub(crate) fn order_by(&self, reverse: bool) -> Fragment<Text> {
        let desc = self.descending != reverse;
        let dir = if desc { " DESC" } else { " ASC" };
        let mut f = Fragment::new();
        if self.nullable {
            f = f
                .sql("(")
                .append(self.key.clone())
                .sql(" IS NULL)")
                .sql(dir);
            f = f.sql(", ");
        }
        f = f.append(self.key.clone()).sql(dir);
        if self.tiebreak {
            f = f
                .sql(", ")
                .sql(self.id)
                .sql(if reverse { " DESC" } else { " ASC" });
        }
        f
    }

    /// Rows strictly after `anchor` in this order (`forward`), or strictly before it. The
    /// row-value comparison `(key, id) > (k, i)` is expanded as `key > k OR (key = k AND
    /// id > i)`, with the NULL group handled explicitly.
    fn beyond(&self, anchor: &Anchor, forward: bool) -> Condition {
        let key_gt = forward != self.descending;
        let key_op = if key_gt { " > " } else { " < " };
        let id_op = if forward { " > " } else { " < " };
        let key = || self.key.clone().retype::<Bool>();
        let id_cmp = |f: Condition| f.sql(self.id).sql(id_op).text(anchor.id.clone());
        let mut parts: Vec<Condition> = Vec::with_capacity(3);
        match &anchor.key {
            KeyValue::Null => {
                // anchor among the rows without a key; nullable orders only
                if !key_gt {
                    parts.push(key().sql(" IS NOT NULL"));
                }
                parts.push(id_cmp(key().sql(" IS NULL AND ")));
            }
            v => {
                if self.nullable && key_gt {
                    parts.push(key().sql(" IS NULL"));
                }
                parts.push(bind(key().sql(key_op), v));
                if self.tiebreak {
                    parts.push(id_cmp(bind(key().sql(" = "), v).sql(" AND ")));
                }
            }
        }
        let mut f = Fragment::new().sql("(");
        for (i, p) in parts.into_iter().enumerate() {
            if i > 0 {
                f = f.sql(" OR ");
            }
            f = f.sql("(").append(p).sql(")");
        }
        f.sql(")")
    }

    /// The key selected as one of three typed columns (the others NULL), to read it back.
    fn key_columns(&self) -> KeyColumns {
        let null_text = || Fragment::new().sql("CAST(NULL AS TEXT)");
        let null_num = || Fragment::new().sql("CAST(NULL AS DOUBLE PRECISION)");
        let null_time = || Fragment::new().sql("CAST(NULL AS TIMESTAMP)");
        match self.ty {
            SortKeyType::Text => (self.key.clone().retype(), null_num(), null_time()),
            SortKeyType::Number => (
                null_text(),
                Fragment::new()
                    .sql("CAST(")
                    .append(self.key.clone())
                    .sql(" AS DOUBLE PRECISION)"),
                null_time(),
            ),
            SortKeyType::Timestamp => (null_text(), null_num(), self.key.clone().retype()),
        }
    }

    /// What identifies the query a cursor belongs to.
    fn fingerprint(kind: ResourceKind, spec: &ListSpec<'_>) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            kind.name(),
            spec.filter.map(|f| f.to_string()).unwrap_or_default(),
            spec.sort_by
                .map(|p| p.to_string().to_lowercase())
                .unwrap_or_default(),
            spec.descending
        )
    }
}

/// Appends `v` as a bind of its type.
fn bind(f: Condition, v: &KeyValue) -> Condition {
    match v {
        KeyValue::Null => f.sql("NULL"),
        KeyValue::Text(s) => f.text(s.clone()),
        KeyValue::Number(n) => f.double(*n),
        KeyValue::Timestamp(t) => f.timestamp(*t),
    }
}

type KeyColumns = (
    Fragment<Nullable<Text>>,
    Fragment<Nullable<Double>>,
    Fragment<Nullable<Timestamp>>,
);

type KeyedRow = (
    ResourceRow,
    Option<String>,
    Option<f64>,
    Option<NaiveDateTime>,
);

/// A row's sort key value.
#[derive(Debug, Clone, PartialEq)]
enum KeyValue {
    Null,
    Text(String),
    Number(f64),
    Timestamp(NaiveDateTime),
}

/// The boundary row a cursor names.
#[derive(Debug, Clone, PartialEq)]
struct Anchor {
    key: KeyValue,
    id: String,
}

impl Anchor {
    fn of(row: &KeyedRow) -> Anchor {
        let key = match (&row.1, row.2, row.3) {
            (Some(s), _, _) => KeyValue::Text(s.clone()),
            (None, Some(n), _) => KeyValue::Number(n),
            (None, None, Some(t)) => KeyValue::Timestamp(t),
            (None, None, None) => KeyValue::Null,
        };
        Anchor {
            key,
            id: row.0 .0.clone(),
        }
    }
}

/// The JSON inside a cursor.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    /// `true`: the rows before the anchor (a `previousCursor`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    b: bool,
    /// Text key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
    /// Number key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<f64>,
    /// Timestamp key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<NaiveDateTime>,
    /// Id of the anchor row.
    i: String,
}

const CURSOR_DOMAIN: &[u8] = b"roster-scim-cursor-v1\n";
const CHECK_BYTES: usize = 12;
/// Longest cursor accepted (a text sort key can be long, but not this long).
const MAX_CURSOR_CHARS: usize = 16 * 1024;

fn check_value(fingerprint: &str, json: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(CURSOR_DOMAIN);
    h.update(fingerprint.as_bytes());
    h.update(b"\n");
    h.update(json);
    h.finalize()[..CHECK_BYTES].to_vec()
}

/// A cursor the client sent: the first page (empty cursor), or the rows after / before an
/// anchor.
#[derive(Debug, Clone, PartialEq)]
enum Position {
    First,
    After(Anchor),
    Before(Anchor),
}

/// The RFC 9865 error for a cursor that cannot be used: `400 invalidCursor`.
fn invalid_cursor() -> crate::Error {
    scim::Error::invalid_cursor(
        "cursor is not one this server issued for this query; send an empty cursor to start, \
         then the nextCursor or previousCursor of the previous response, with the same filter, \
         sortBy and sortOrder",
    )
    .into()
}

fn encode(fingerprint: &str, anchor: &Anchor, backward: bool) -> Result<String> {
    let mut p = Payload {
        b: backward,
        s: None,
        n: None,
        t: None,
        i: anchor.id.clone(),
    };
    match &anchor.key {
        KeyValue::Null => {}
        KeyValue::Text(s) => p.s = Some(s.clone()),
        KeyValue::Number(n) => p.n = Some(*n),
        KeyValue::Timestamp(t) => p.t = Some(*t),
    }
    let json = serde_json::to_vec(&p)?;
    let check = check_value(fingerprint, &json);
    Ok(format!("{}{}", hex::encode(check), hex::encode(json)))
}

fn decode(fingerprint: &str, order: &Order, raw: &str) -> Result<Position> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Position::First);
    }
    if raw.len() > MAX_CURSOR_CHARS {
        return Err(invalid_cursor());
    }
    let bytes = hex::decode(raw).map_err(|_| invalid_cursor())?;
    if bytes.len() <= CHECK_BYTES {
        return Err(invalid_cursor());
    }
    let (check, json) = bytes.split_at(CHECK_BYTES);
    // not a secret, so a plain comparison is fine
    if check != check_value(fingerprint, json).as_slice() {
        return Err(invalid_cursor());
    }
    let p: Payload = serde_json::from_slice(json).map_err(|_| invalid_cursor())?;
    let key = match (p.s, p.n, p.t, order.ty) {
        (None, None, None, _) if order.nullable => KeyValue::Null,
        (Some(s), None, None, SortKeyType::Text) => KeyValue::Text(s),
        (None, Some(n), None, SortKeyType::Number) if n.is_finite() => KeyValue::Number(n),
        (None, None, Some(t), SortKeyType::Timestamp) => KeyValue::Timestamp(t),
        _ => return Err(invalid_cursor()),
    };
    let anchor = Anchor { key, id: p.i };
    Ok(if p.b {
        Position::Before(anchor)
    } else {
        Position::After(anchor)
    })
}

/// One page of a cursor-paged listing (RFC 9865).
#[derive(Debug, Clone, PartialEq)]
pub struct CursorPage {
    /// Number of resources matching the filter (all pages).
    pub total: i64,
    /// This page, in order.
    pub page: Vec<StoredResource>,
    /// Cursor for the next page; `None` on the last page.
    pub next: Option<String>,
    /// Cursor for the previous page; `None` on the first page.
    pub previous: Option<String>,
}

fn compile(kind: ResourceKind, f: &Filter, backend: Backend) -> Result<Condition> {
    match kind {
        ResourceKind::User => filter_sql::users(f, backend),
        ResourceKind::Group => filter_sql::groups(f, backend),
    }
}

fn count(conn: &mut DbConn, kind: ResourceKind, cond: Option<Condition>) -> Result<i64> {
    Ok(match kind {
        ResourceKind::User => {
            let mut q = users::table.select(diesel::dsl::count_star()).into_boxed();
            if let Some(c) = cond {
                q = q.filter(c);
            }
            q.get_result(conn)?
        }
        ResourceKind::Group => {
            let mut q = groups::table.select(diesel::dsl::count_star()).into_boxed();
            if let Some(c) = cond {
                q = q.filter(c);
            }
            q.get_result(conn)?
        }
    })
}

/// Rows matching every condition, in `order` (reversed when `reverse`), at most `limit`,
/// with their sort keys.
fn load(
    conn: &mut DbConn,
    kind: ResourceKind,
    conds: Vec<Condition>,
    order: &Order,
    reverse: bool,
    limit: i64,
) -> Result<Vec<KeyedRow>> {
    let (kt, kn, ktime) = order.key_columns();
    let order_by = order.order_by(reverse);
    Ok(match kind {
        ResourceKind::User => {
            let cols = (
                users::id,
                users::version,
                users::created,
                users::modified,
                users::doc,
            );
            let mut q = users::table.select((cols, kt, kn, ktime)).into_boxed();
            for c in conds {
                q = q.filter(c);
            }
            q.order(order_by).limit(limit).load(conn)?
        }
        ResourceKind::Group => {
            let cols = (
                groups::id,
                groups::version,
                groups::created,
                groups::modified,
                groups::doc,
            );
            let mut q = groups::table.select((cols, kt, kn, ktime)).into_boxed();
            for c in conds {
                q = q.filter(c);
            }
            q.order(order_by).limit(limit).load(conn)?
        }
    })
}

/// Whether any row matching `cond` lies beyond `anchor` (after it when `forward`).
fn any_beyond(
    conn: &mut DbConn,
    kind: ResourceKind,
    cond: Option<&Condition>,
    order: &Order,
    anchor: &Anchor,
    forward: bool,
) -> Result<bool> {
    let mut conds: Vec<Condition> = cond.into_iter().cloned().collect();
    conds.push(order.beyond(anchor, forward));
    Ok(!load(conn, kind, conds, order, !forward, 1)?.is_empty())
}

/// One page of `kind` for `spec` (filter, sort, `count`; `start` is ignored) from `cursor`:
/// empty for the first page, else a `nextCursor` or `previousCursor` this server issued for
/// the same query. Keyset paging: the page is the `count` rows strictly after (or before)
/// the row the cursor names, in the listing's order. A cursor that is garbage, damaged or
/// from another query is `400`.
pub fn cursor_page(
    conn: &mut DbConn,
    kind: ResourceKind,
    spec: &ListSpec<'_>,
    cursor: &str,
) -> Result<CursorPage> {
    let backend = conn.backend();
    let order = Order::new(kind, spec, backend)?;
    let fingerprint = Order::fingerprint(kind, spec);
    let position = decode(&fingerprint, &order, cursor)?;
    let cond = spec.filter.map(|f| compile(kind, f, backend)).transpose()?;
    let total = count(conn, kind, cond.clone())?;
    if spec.count == 0 || total == 0 {
        return Ok(CursorPage {
            total,
            page: Vec::new(),
            next: None,
            previous: None,
        });
    }
    let limit = spec.limit().saturating_add(1);
    let mut conds: Vec<Condition> = cond.iter().cloned().collect();
    let backward = matches!(position, Position::Before(_));
    match &position {
        Position::First => {}
        Position::After(a) => conds.push(order.beyond(a, true)),
        Position::Before(a) => conds.push(order.beyond(a, false)),
    }
    let mut rows = load(conn, kind, conds, &order, backward, limit)?;
    let more = rows.len() as u64 > spec.count;
    rows.truncate(usize::try_from(spec.count).unwrap_or(usize::MAX));
    if backward {
        rows.reverse();
    }
    let (first, last) = match (rows.first(), rows.last()) {
        (Some(f), Some(l)) => (Anchor::of(f), Anchor::of(l)),
        _ => {
            return Ok(CursorPage {
                total,
                page: Vec::new(),
                next: None,
                previous: None,
            })
        }
    };
    // the side the walk came from was only known at the time; ask again
    let (has_next, has_previous) = match position {
        Position::First => (more, false),
        Position::After(_) => (
            more,
            any_beyond(conn, kind, cond.as_ref(), &order, &first, false)?,
        ),
        Position::Before(_) => (
            any_beyond(conn, kind, cond.as_ref(), &order, &last, true)?,
            more,
        ),
    };
    let next = has_next
        .then(|| encode(&fingerprint, &last, false))
        .transpose()?;
    let previous = has_previous
        .then(|| encode(&fingerprint, &first, true))
        .transpose()?;
    let page = rows
        .into_iter()
        .map(|r| StoredResource::try_from(r.0))
        .collect::<Result<Vec<_>>>()?;
    Ok(CursorPage {
        total,
        page,
        next,
        previous,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_page_tells_the_total_unless_it_is_past_the_end() {
        let spec = |start: u64, count: u64| ListSpec {
            filter: None,
            sort_by: None,
            descending: false,
            start,
            count,
        };
        assert_eq!(total_from_page(&spec(1, 100), 0), Some(0));
        assert_eq!(total_from_page(&spec(1, 100), 1), Some(1));
        assert_eq!(total_from_page(&spec(201, 100), 7), Some(207));
        // a full page, or an empty one past the first, says nothing about the total
        assert_eq!(total_from_page(&spec(1, 100), 100), None);
        assert_eq!(total_from_page(&spec(301, 100), 0), None);
    }

    fn order(ty: SortKeyType, nullable: bool) -> Order {
        Order {
            key: Fragment::new().sql("k"),
            ty,
            nullable,
            descending: false,
            id: "users.id",
            tiebreak: true,
        }
    }

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_query() {
        let o = order(SortKeyType::Text, true);
        for (key, back) in [
            (KeyValue::Text("bjensen".into()), false),
            (KeyValue::Null, true),
        ] {
            let a = Anchor {
                key,
                id: "u1".into(),
            };
            let c = encode("q1", &a, back).unwrap();
            assert!(c.bytes().all(|b| b.is_ascii_hexdigit()));
            let want = if back {
                Position::Before(a.clone())
            } else {
                Position::After(a.clone())
            };
            assert_eq!(decode("q1", &o, &c).unwrap(), want);
            assert!(decode("q2", &o, &c).is_err(), "foreign query");
            let mut edited = c.clone().into_bytes();
            let last = edited.len() - 1;
            edited[last] = if edited[last] == b'0' { b'1' } else { b'0' };
            let edited = String::from_utf8(edited).unwrap();
            assert!(decode("q1", &o, &edited).is_err(), "edited");
            assert!(decode("q1", &o, &c[..c.len() - 2]).is_err(), "cut short");
        }
        assert_eq!(decode("q1", &o, "").unwrap(), Position::First);
        for garbage in ["zz", "00", "abc", "not a cursor", "ÿ", &"0".repeat(40_000)] {
            assert!(decode("q1", &o, garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn a_cursor_key_must_have_the_order_type() {
        let a = Anchor {
            key: KeyValue::Number(1.5),
            id: "u1".into(),
        };
        let c = encode("q", &a, false).unwrap();
        assert!(decode("q", &order(SortKeyType::Text, true), &c).is_err());
        assert!(decode("q", &order(SortKeyType::Number, true), &c).is_ok());
        let null = Anchor {
            key: KeyValue::Null,
            id: "u1".into(),
        };
        let c = encode("q", &null, false).unwrap();
        assert!(decode("q", &order(SortKeyType::Text, false), &c).is_err());
    }
}
