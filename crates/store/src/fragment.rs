//! A dynamic SQL fragment with bound values, usable as a diesel expression.
//!
//! The SQL text comes only from string constants in this crate; every value (including JSON
//! paths) is a bind parameter, written by the backend's own placeholder style.

use std::marker::PhantomData;

use chrono::NaiveDateTime;
use diesel::expression::{
    is_aggregate, AppearsOnTable, Expression, SelectableExpression, ValidGrouping,
};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{self, Bool, SingleValue};
use diesel::QueryResult;

use crate::conn::MultiBackend;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Sql(&'static str),
    Text(String),
    Double(f64),
    Bool(bool),
    Timestamp(NaiveDateTime),
}

/// SQL text plus binds, typed as `ST` (boolean conditions by default).
#[derive(Debug, Clone, PartialEq)]
pub struct Fragment<ST = Bool> {
    parts: Vec<Part>,
    _st: PhantomData<ST>,
}

impl<ST> Default for Fragment<ST> {
    fn default() -> Self {
        Fragment {
            parts: Vec::new(),
            _st: PhantomData,
        }
    }
}

impl<ST> Fragment<ST> {
    /// An empty fragment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends SQL text (constants only).
    pub fn sql(mut self, s: &'static str) -> Self {
        self.parts.push(Part::Sql(s));
        self
    }

    /// Appends a text bind.
    pub fn text(mut self, v: impl Into<String>) -> Self {
        self.parts.push(Part::Text(v.into()));
        self
    }

    /// Appends a double bind.
    pub fn double(mut self, v: f64) -> Self {
        self.parts.push(Part::Double(v));
        self
    }

    /// Appends a boolean bind.
    pub fn boolean(mut self, v: bool) -> Self {
        self.parts.push(Part::Bool(v));
        self
    }

    /// Appends a timestamp bind.
    pub fn timestamp(mut self, v: NaiveDateTime) -> Self {
        self.parts.push(Part::Timestamp(v));
        self
    }

    /// Appends another fragment (any SQL type).
    pub fn append<T>(mut self, other: Fragment<T>) -> Self {
        self.parts.extend(other.parts);
        self
    }

    /// The same SQL and binds with another SQL type.
    pub fn retype<T>(self) -> Fragment<T> {
        Fragment {
            parts: self.parts,
            _st: PhantomData,
        }
    }
}

impl<ST: SingleValue> Expression for Fragment<ST> {
    type SqlType = ST;
}

impl<ST> QueryId for Fragment<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST: SingleValue, QS> SelectableExpression<QS> for Fragment<ST> {}
impl<ST: SingleValue, QS> AppearsOnTable<QS> for Fragment<ST> {}

impl<ST> ValidGrouping<()> for Fragment<ST> {
    type IsAggregate = is_aggregate::Never;
}

impl<ST> QueryFragment<MultiBackend> for Fragment<ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        for p in &self.parts {
            match p {
                Part::Sql(s) => out.push_sql(s),
                Part::Text(v) => out.push_bind_param::<sql_types::Text, _>(v)?,
                Part::Double(v) => out.push_bind_param::<sql_types::Double, _>(v)?,
                Part::Bool(v) => out.push_bind_param::<sql_types::Bool, _>(v)?,
                Part::Timestamp(v) => out.push_bind_param::<sql_types::Timestamp, _>(v)?,
            }
        }
        Ok(())
    }
}
