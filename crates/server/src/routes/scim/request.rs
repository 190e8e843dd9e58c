//! Request parsing shared by the SCIM handlers: bodies, preconditions, paging, base URL.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use scim::limits::Limits;
use scim::projection::AttrSelection;
use scim::schema::{Registry, ResourceKind};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// Page size when the client gives no `count`.
pub const DEFAULT_PAGE: u64 = 100;

/// Query parameters of list requests (RFC 7644 §3.4.2).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// SCIM filter expression.
    pub filter: Option<String>,
    /// 1-based index of the first result.
    pub start_index: Option<i64>,
    /// Page size.
    pub count: Option<i64>,
    /// Attribute to sort by.
    pub sort_by: Option<String>,
    /// `ascending` (default) or `descending`.
    pub sort_order: Option<String>,
    /// Attributes to return.
    pub attributes: Option<String>,
    /// Attributes to leave out.
    pub excluded_attributes: Option<String>,
    /// RFC 9865 cursor: empty (`cursor` or `cursor=`) for the first page, then a
    /// `nextCursor` or `previousCursor`.
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The `attributes`/`excludedAttributes` selection for `kind`.
    pub fn selection(&self, kind: ResourceKind) -> Result<AttrSelection, ApiError> {
        selection(
            self.attributes.as_deref(),
            self.excluded_attributes.as_deref(),
            kind,
        )
    }
}

/// Query parameters of single-resource requests (reads and the responses of writes).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetQuery {
    /// Attributes to return.
    pub attributes: Option<String>,
    /// Attributes to leave out.
    pub excluded_attributes: Option<String>,
}

impl GetQuery {
    /// The `attributes`/`excludedAttributes` selection for `kind`.
    pub fn selection(&self, kind: ResourceKind) -> Result<AttrSelection, ApiError> {
        selection(
            self.attributes.as_deref(),
            self.excluded_attributes.as_deref(),
            kind,
        )
    }
}

/// Parses `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5).
pub fn selection(
    attributes: Option<&str>,
    excluded: Option<&str>,
    kind: ResourceKind,
) -> Result<AttrSelection, ApiError> {
    Ok(AttrSelection::parse(
        attributes,
        excluded,
        kind,
        Registry::global(),
    )?)
}

/// Reads the whole request body, refusing more than `limit` bytes with `413` and a body that
/// takes longer than `timeout` to arrive with `408` (a stalled client holds no worker).
pub async fn read_body(
    payload: web::Payload,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<web::BytesMut, ApiError> {
    tokio::time::timeout(timeout, read_all(payload, limit))
        .await
        .map_err(|_| {
            scim::Error::new(
                408,
                None,
                format!(
                    "the request body did not arrive within {} ms",
                    timeout.as_millis()
                ),
            )
        })?
}

async fn read_all(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            scim::Error::invalid_syntax(format!("cannot read the request body: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(scim::Error::payload_too_large(format!(
                "request body exceeds {limit} bytes"
            ))
            .into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads and parses a SCIM JSON body after checking its media type, size and nesting depth.
pub async fn json_body(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
) -> Result<Value, ApiError> {
    json_body_limited(req, state, payload, state.max_body_bytes).await
}

/// [`json_body`] for bodies that carry resource data (POST, PUT, PATCH, `/Bulk`): every string
/// must also be within `max_value_bytes` (`400 invalidValue`).
pub async fn resource_body(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    limit: usize,
) -> Result<Value, ApiError> {
    let body = json_body_limited(req, state, payload, limit).await?;
    state.limits.check_value_lengths(&body)?;
    Ok(body)
}

/// [`json_body`] with an explicit size limit (`/Bulk` has its own).
pub async fn json_body_limited(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    limit: usize,
) -> Result<Value, ApiError> {
    check_content_type(req)?;
    let body = read_body(payload, limit, state.body_timeout).await?;
    state.limits.check_json_depth(&body)?;
    parse_json(&body)
}

fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/scim+json")
            && !essence.eq_ignore_ascii_case("application/json")
        {
            return Err(scim::Error::invalid_syntax(format!(
                "Content-Type must be application/scim+json or application/json, not '{essence}'"
            ))
            .into());
        }
    }
    Ok(())
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(
            scim::Error::invalid_syntax("the request body is empty; send a JSON object").into(),
        );
    }
    serde_json::from_slice(body).map_err(|e| {
        scim::Error::invalid_syntax(format!(
            "malformed JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
        .into()
    })
}

/// The version named by `If-Match` (`None` if absent or `*`). A malformed tag is a 412: it
/// cannot match any version.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    match req.headers().get(header::IF_MATCH) {
        None => Ok(None),
        Some(v) => {
            let v = v.to_str().unwrap_or_default().trim();
            if v == "*" {
                return Ok(None);
            }
            scim::meta::parse_etag(v).map(Some).ok_or_else(|| {
                scim::Error::precondition_failed(format!(
                    "If-Match '{v}' matches no version; send the ETag from the last read"
                ))
                .into()
            })
        }
    }
}

/// True if `If-None-Match` lists the current version (answer 304).
pub fn not_modified(req: &HttpRequest, version: i64) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || scim::meta::parse_etag(t.trim()) == Some(version))
        })
}

/// The SCIM base URL (`…/scim/v2`) for `meta.location` and `$ref`.
pub fn base_url(req: &HttpRequest, state: &AppState) -> String {
    match &state.public_url {
        Some(u) => format!("{u}/scim/v2"),
        None => {
            let info = req.connection_info();
            format!("{}://{}/scim/v2", info.scheme(), info.host())
        }
    }
}

/// A list or search request, parsed and validated (query string or SearchRequest body).
pub struct ListRequest {
    /// Filter.
    pub filter: Option<scim::filter::Filter>,
    /// Sort attribute.
    pub sort_by: Option<scim::path::AttrPath>,
    /// Descending order.
    pub descending: bool,
    /// 1-based start.
    pub start: u64,
    /// Page size.
    pub count: u64,
    /// Attributes to return.
    pub selection: AttrSelection,
    /// RFC 9865 cursor paging: `Some("")` for the first page, else a cursor from a previous
    /// page; `None` for index paging (`startIndex`).
    pub cursor: Option<String>,
}

impl ListRequest {
    /// From query parameters (`GET /Users?…`).
    pub fn from_query(
        q: &ListQuery,
        kind: ResourceKind,
        limits: &Limits,
    ) -> Result<ListRequest, ApiError> {
        let (sort_by, descending) = sorting(q.sort_by.as_deref(), q.sort_order.as_deref())?;
        let cursor = pagination(q.start_index, q.cursor.as_deref())?;
        let (start, count) = scim::messages::normalize_paging(
            q.start_index,
            q.count,
            limits.max_page_size,
            default_page(limits),
        );
        Ok(ListRequest {
            filter: parse_filter(q.filter.as_deref(), limits)?,
            sort_by,
            descending,
            start,
            count,
            selection: q.selection(kind)?,
            cursor,
        })
    }

    /// From a SearchRequest body (`POST …/.search`, RFC 7644 §3.4.3).
    pub fn from_search(
        body: Value,
        kind: ResourceKind,
        limits: &Limits,
    ) -> Result<ListRequest, ApiError> {
        let s = scim::messages::SearchRequest::parse(body)?;
        Self::from_search_request(s, kind, limits)
    }

    /// From a SearchRequest at the service root: attribute names that `kind` does not have
    /// are dropped instead of refused (they belong to the other resource type).
    pub fn from_root_search(
        body: Value,
        kind: ResourceKind,
        limits: &Limits,
    ) -> Result<ListRequest, ApiError> {
        let mut s = scim::messages::SearchRequest::parse(body)?;
        let reg = Registry::global();
        let known = |name: &String| {
            reg.extension(kind, name).is_some()
                || scim::path::AttrPath::parse(name)
                    .ok()
                    .is_some_and(|p| reg.find_attr(kind, &p).is_some())
        };
        let had_attributes = !s.attributes.is_empty();
        s.attributes.retain(known);
        if had_attributes && s.attributes.is_empty() {
            s.attributes.push("id".into());
        }
        s.excluded_attributes.retain(known);
        if s.cursor.is_some() {
            return Err(scim::Error::invalid_value(
                "cursor paging is not available for POST /.search at the service root (it \
                 merges Users and Groups); use startIndex here, or cursor with \
                 POST /Users/.search or /Groups/.search",
            )
            .into());
        }
        Self::from_search_request(s, kind, limits)
    }

    fn from_search_request(
        s: scim::messages::SearchRequest,
        kind: ResourceKind,
        limits: &Limits,
    ) -> Result<ListRequest, ApiError> {
        let order = s.sort_order.map(|o| o.as_str());
        let (sort_by, descending) = sorting(s.sort_by.as_deref(), order)?;
        let cursor = pagination(s.start_index, s.cursor.as_deref())?;
        let (start, count) = scim::messages::normalize_paging(
            s.start_index,
            s.count,
            limits.max_page_size,
            default_page(limits),
        );
        Ok(ListRequest {
            filter: parse_filter(s.filter.as_deref(), limits)?,
            sort_by,
            descending,
            start,
            count,
            selection: selection(
                s.attributes_param().as_deref(),
                s.excluded_attributes_param().as_deref(),
                kind,
            )?,
            cursor,
        })
    }

    /// The store's view of this request.
    pub fn spec(&self) -> store::ListSpec<'_> {
        store::ListSpec {
            filter: self.filter.as_ref(),
            sort_by: self.sort_by.as_ref(),
            descending: self.descending,
            start: self.start,
            count: self.count,
        }
    }
}

/// A ListResponse for a cursor page (RFC 9865 §2): no `startIndex`; `nextCursor` on every
/// page but the last; `previousCursor` on every page but the first.
pub fn cursor_list_response(
    total: u64,
    resources: Vec<Value>,
    next: Option<String>,
    previous: Option<String>,
) -> Value {
    let mut body = scim::messages::list_response(total, 1, resources);
    if let Some(obj) = body.as_object_mut() {
        obj.remove("startIndex");
        if let Some(n) = next {
            obj.insert("nextCursor".into(), Value::String(n));
        }
        if let Some(p) = previous {
            obj.insert("previousCursor".into(), Value::String(p));
        }
    }
    body
}

/// The pagination method (RFC 9865 §2.3): the cursor for cursor paging, `None` for index
/// paging. `startIndex` and `cursor` together are refused: they ask for both methods.
fn pagination(start_index: Option<i64>, cursor: Option<&str>) -> Result<Option<String>, ApiError> {
    match (start_index, cursor) {
        (Some(_), Some(_)) => Err(scim::Error::invalid_value(
            "startIndex and cursor cannot be used together: send startIndex for index paging, \
             or cursor (empty for the first page) for cursor paging",
        )
        .into()),
        (_, c) => Ok(c.map(|c| c.trim().to_string())),
    }
}

/// Parsed sorting: `(sortBy, descending)`.
fn sorting(
    sort_by: Option<&str>,
    sort_order: Option<&str>,
) -> Result<(Option<scim::path::AttrPath>, bool), ApiError> {
    let sort_by = match sort_by.map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(scim::path::AttrPath::parse(s).map_err(|_| {
            scim::Error::invalid_value(format!("sortBy '{s}' is not an attribute path"))
        })?),
    };
    let descending = match sort_order.map(str::trim) {
        None | Some("") => false,
        Some(o) if o.eq_ignore_ascii_case("ascending") => false,
        Some(o) if o.eq_ignore_ascii_case("descending") => true,
        Some(o) => {
            return Err(scim::Error::invalid_value(format!(
                "sortOrder must be 'ascending' or 'descending', not '{o}'"
            ))
            .into())
        }
    };
    Ok((sort_by, descending))
}

/// Parses a filter expression, if any, under the configured limits.
fn parse_filter(
    filter: Option<&str>,
    limits: &Limits,
) -> Result<Option<scim::filter::Filter>, ApiError> {
    match filter.map(str::trim) {
        None | Some("") => Ok(None),
        Some(f) => Ok(Some(scim::filter::parse_limited(f, limits.filter)?)),
    }
}

/// The page size when `count` is absent: [`DEFAULT_PAGE`], or the maximum if that is lower.
pub fn default_page(limits: &Limits) -> u64 {
    DEFAULT_PAGE.min(limits.max_page_size)
}
