//! Request parsing shared by the SCIM handlers: bodies, preconditions, paging, base URL.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// Largest page a client can ask for (advertised as `filter.maxResults`).
pub const MAX_PAGE: u64 = 1000;
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
    /// Attributes to return (accepted; projection arrives with the protocol issue).
    pub attributes: Option<String>,
    /// Attributes to leave out (`members` and `groups` are honoured).
    pub excluded_attributes: Option<String>,
}

impl ListQuery {
    /// Whether `name` is listed in `excludedAttributes` (case-insensitive, URN-qualified or not).
    pub fn excludes(&self, name: &str) -> bool {
        excluded(self.excluded_attributes.as_deref(), name)
    }
}

/// Query parameters of single-resource reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetQuery {
    /// Attributes to return (accepted; projection arrives with the protocol issue).
    pub attributes: Option<String>,
    /// Attributes to leave out (`members` and `groups` are honoured).
    pub excluded_attributes: Option<String>,
}

impl GetQuery {
    /// Whether `name` is listed in `excludedAttributes`.
    pub fn excludes(&self, name: &str) -> bool {
        excluded(self.excluded_attributes.as_deref(), name)
    }
}

fn excluded(list: Option<&str>, name: &str) -> bool {
    list.is_some_and(|l| {
        l.split(',').any(|a| {
            let a = a.trim();
            let short = a.rsplit(':').next().unwrap_or(a);
            short.eq_ignore_ascii_case(name)
        })
    })
}

/// Reads the whole request body, refusing more than `limit` bytes with `413`.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
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

/// Reads and parses a SCIM JSON body after checking its media type.
pub async fn json_body(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
) -> Result<Value, ApiError> {
    check_content_type(req)?;
    let body = read_body(payload, state.max_body_bytes).await?;
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

/// `(startIndex, count)` after RFC 7644 §3.4.2.4 normalisation.
pub fn paging(q: &ListQuery) -> (u64, u64) {
    scim::messages::normalize_paging(q.start_index, q.count, MAX_PAGE, DEFAULT_PAGE)
}

/// Parsed sorting: `(sortBy, descending)`.
pub fn sorting(q: &ListQuery) -> Result<(Option<scim::path::AttrPath>, bool), ApiError> {
    let sort_by = match q.sort_by.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(scim::path::AttrPath::parse(s).map_err(|_| {
            scim::Error::invalid_value(format!("sortBy '{s}' is not an attribute path"))
        })?),
    };
    let descending = match q.sort_order.as_deref().map(str::trim) {
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

/// Parses the `filter` parameter, if any.
pub fn filter(q: &ListQuery) -> Result<Option<scim::filter::Filter>, ApiError> {
    match q.filter.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(f) => Ok(Some(scim::filter::parse(f)?)),
    }
}
