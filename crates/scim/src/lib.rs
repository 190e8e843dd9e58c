//! The SCIM 2.0 protocol for Roster: pure data and functions, no I/O.
//!
//! | module | RFC | what |
//! | --- | --- | --- |
//! | [`error`] | RFC 7644 §3.12 | [`Error`] (status, `scimType`, detail) and its JSON body |
//! | [`schema`] | RFC 7643 §2, §6–8 | attribute definitions, the built-in User/Group/EnterpriseUser schemas, [`schema::Registry`], `/Schemas` and `/ResourceTypes` JSON |
//! | [`path`] | RFC 7644 §3.10 | [`path::AttrPath`] (`urn:...:User:name.familyName`) |
//! | [`filter`] | RFC 7644 §3.4.2.2 | filter parser, canonical `Display`, in-memory evaluator |
//! | [`governance`] | — | Roster's Group governance extension (approval, approvers, maximum duration) |
//! | [`limits`] | RFC 7644 §3.4.2.4, §3.12 | configurable request limits and their checks |
//! | [`resource`] | RFC 7643 §2–4 | validation of create/replace bodies; projections for the store |
//! | [`meta`] | RFC 7644 §3.14 | weak ETags over versions; timestamps |
//! | [`messages`] | RFC 7644 §3.4.2–3, §3.7 | ListResponse; paging parameters; SearchRequest; BulkRequest/Response |
//! | [`patch`] | RFC 7644 §3.5.2 | PatchOp requests, PATCH paths, atomic application to a document |
//! | [`projection`] | RFC 7644 §3.4.2.5, §3.9 | `attributes` / `excludedAttributes` and `returned` |
//! | [`fuzz`] | — | fuzzing entry points (arbitrary bytes in, panic on a violated property) |
//!
//! Everything here is deterministic and side-effect free, so the store, the server and the
//! push engine share one definition of the protocol, and tests run in milliseconds.

pub mod error;
pub mod filter;
pub mod fuzz;
pub mod governance;
pub mod lifecycle;
pub mod limits;
pub mod messages;
pub mod meta;
pub mod patch;
pub mod path;
pub mod projection;
pub mod resource;
pub mod schema;

pub use error::{Error, Result, ScimType};
pub use filter::Filter;
pub use path::AttrPath;
pub use schema::{Registry, ResourceKind};
