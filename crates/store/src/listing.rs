//! What a list request asks for: filter, sort and page (RFC 7644 §3.4.2).

use diesel::sql_types::Bool;
use scim::filter::Filter;
use scim::path::AttrPath;

use crate::fragment::Fragment;

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

/// `key IS NULL`, to put resources without the sort attribute last (ascending) or first
/// (descending), the same on both backends.
pub(crate) fn is_null<T>(key: &Fragment<T>) -> Fragment<Bool>
where
    Fragment<T>: Clone,
{
    Fragment::new().append(key.clone()).sql(" IS NULL")
}
