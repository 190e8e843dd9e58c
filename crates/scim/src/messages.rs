//! Protocol messages: ListResponse (RFC 7644 §3.4.2) and list query parameters.

use serde_json::{json, Value};

use crate::schema::LIST_RESPONSE;

/// A ListResponse; `itemsPerPage` is the number of `resources` on this page.
pub fn list_response(total: u64, start_index: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Query parameters of a list or `.search` request (RFC 7644 §3.4.2), as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// `filter`
    pub filter: Option<String>,
    /// `startIndex`, 1-based (after [`normalize_paging`]).
    pub start_index: u64,
    /// `count`
    pub count: Option<u64>,
    /// `sortBy`
    pub sort_by: Option<String>,
    /// `sortOrder` (`ascending` / `descending`)
    pub sort_order: Option<String>,
    /// `attributes`, comma-separated.
    pub attributes: Option<String>,
    /// `excludedAttributes`, comma-separated.
    pub excluded_attributes: Option<String>,
}

/// Applies RFC 7644 §3.4.2.4: `startIndex` below 1 becomes 1; a negative `count` becomes 0;
/// a missing `count` is `default`; `count` is capped at `max`.
pub fn normalize_paging(
    start_index: Option<i64>,
    count: Option<i64>,
    max: u64,
    default: u64,
) -> (u64, u64) {
    let start = start_index.map_or(1, |s| u64::try_from(s).unwrap_or(0).max(1));
    let count = match count {
        None => default,
        Some(c) => u64::try_from(c).unwrap_or(0),
    };
    (start, count.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_response_shape() {
        let v = list_response(10, 3, vec![json!({"id": "a"}), json!({"id": "b"})]);
        assert_eq!(v["schemas"][0], LIST_RESPONSE);
        assert_eq!(
            (
                v["totalResults"].as_u64(),
                v["startIndex"].as_u64(),
                v["itemsPerPage"].as_u64()
            ),
            (Some(10), Some(3), Some(2))
        );
        assert_eq!(v["Resources"][1]["id"], "b");
        assert_eq!(list_response(0, 1, vec![])["Resources"], json!([]));
    }

    #[test]
    fn paging_per_rfc() {
        assert_eq!(normalize_paging(None, None, 200, 100), (1, 100));
        assert_eq!(normalize_paging(Some(0), Some(-5), 200, 100), (1, 0));
        assert_eq!(normalize_paging(Some(-3), Some(0), 200, 100), (1, 0));
        assert_eq!(normalize_paging(Some(7), Some(1000), 200, 100), (7, 200));
        assert_eq!(normalize_paging(None, None, 50, 100), (1, 50));
    }
}
