//! `POST /Bulk` (RFC 7644 §3.7): many operations in one request, each atomic on its own.
//!
//! Operations run in request order, except that one referring to `bulkId:x` runs after the
//! operation that creates `x` (forward references are allowed; circular ones are refused with
//! `409`). Each operation is its own write transaction with its own events; `failOnErrors`
//! stops processing after that many failures. Responses come back in request order; an
//! operation that did not run is left out.

use std::collections::{HashMap, HashSet};

use actix_web::{web, HttpRequest, HttpResponse};
use scim::messages::bulk::{self, BulkMethod, BulkOperation, BulkRequest};
use scim::schema::{Registry, ResourceKind};
use serde_json::{json, Value};
use tracing_actix_web::RequestId;

use super::{render, request};
use crate::auth::{Auth, ScimWrite};
use crate::error::ApiError;
use crate::state::AppState;

/// Outcome of one operation.
struct Done {
    status: u16,
    id: Option<String>,
    version: Option<i64>,
    location: Option<String>,
    error: Option<scim::Error>,
}

impl Done {
    fn failed(e: scim::Error) -> Done {
        Done {
            status: e.status,
            id: None,
            version: None,
            location: None,
            error: Some(e),
        }
    }
}

/// `POST /Bulk`
pub async fn bulk(
    auth: Auth<ScimWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    request_id: RequestId,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let limits = state.bulk;
    let body = request::resource_body(&req, &state, payload, limits.max_payload_bytes).await?;
    let request = BulkRequest::parse(body)?;
    if request.operations.len() > limits.max_operations {
        return Err(scim::Error::payload_too_large(format!(
            "{} operations exceed maxOperations ({})",
            request.operations.len(),
            limits.max_operations
        ))
        .into());
    }
    let order = bulk::resolve_references(&request.operations)?;
    let ctx = auth.principal.write_ctx(&request_id.to_string());
    let base = request::base_url(&req, &state);
    let n = request.operations.len();
    let BulkRequest {
        fail_on_errors,
        operations,
    } = request;
    let ops = operations.clone();
    let protocol = state.limits;
    let results = crate::db::run(&state.store, move |s| {
        let mut results: Vec<Option<Done>> = (0..n).map(|_| None).collect();
        let mut created: HashMap<String, String> = HashMap::new();
        let mut failed: HashSet<String> = HashSet::new();
        let mut errors = 0u64;
        for i in order {
            if fail_on_errors.is_some_and(|max| errors >= max) {
                break;
            }
            let Some(op) = ops.get(i) else { continue };
            let done = match bulk::references(op).into_iter().find(|r| failed.contains(r)) {
                Some(r) => Done::failed(scim::Error::conflict(format!(
                    "bulkId:{r} refers to an operation that failed"
                ))),
                None => run_one(s, &ctx, op, &created, &base, &protocol),
            };
            if let Some(e) = &done.error {
                errors += 1;
                if let Some(b) = &op.bulk_id {
                    failed.insert(b.clone());
                }
                tracing::info!(operation = i, status = e.status, detail = %e.detail, "bulk operation failed");
            } else if let (Some(b), Some(id)) = (&op.bulk_id, &done.id) {
                created.insert(b.clone(), id.clone());
            }
            results[i] = Some(done);
        }
        Ok(results)
    })
    .await?;
    let body: Vec<Value> = operations
        .iter()
        .zip(results)
        .filter_map(|(op, done)| done.map(|d| op_response(op, d)))
        .collect();
    Ok(render::ok(&bulk::bulk_response(body)))
}

fn op_response(op: &BulkOperation, d: Done) -> Value {
    let mut out = json!({"method": op.method.as_str(), "status": d.status.to_string()});
    if let Some(b) = &op.bulk_id {
        out["bulkId"] = json!(b);
    }
    if let Some(l) = d.location {
        out["location"] = json!(l);
    }
    if let Some(v) = d.version {
        out["version"] = json!(scim::meta::etag(v));
    }
    if let Some(e) = d.error {
        out["response"] = e.to_json();
    }
    out
}

/// Runs one operation in its own write transaction.
fn run_one(
    s: &store::Store,
    ctx: &store::WriteCtx,
    op: &BulkOperation,
    created: &HashMap<String, String>,
    base: &str,
    limits: &scim::limits::Limits,
) -> Done {
    match try_one(s, ctx, op, created, base, limits) {
        Ok(d) => d,
        Err(e) => Done::failed(ApiError::from(e).to_scim()),
    }
}

fn try_one(
    s: &store::Store,
    ctx: &store::WriteCtx,
    op: &BulkOperation,
    created: &HashMap<String, String>,
    base: &str,
    limits: &scim::limits::Limits,
) -> store::Result<Done> {
    let path = bulk::substitute_path(&op.path, created);
    let mut data = op.data.clone().unwrap_or(Value::Null);
    bulk::substitute(&mut data, created);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (kind, id) = match segments.as_slice() {
        ["Users"] => (ResourceKind::User, None),
        ["Groups"] => (ResourceKind::Group, None),
        ["Users", id] => (ResourceKind::User, Some(*id)),
        ["Groups", id] => (ResourceKind::Group, Some(*id)),
        _ => {
            return Err(scim::Error::invalid_path(format!(
                "bulk path '{}' must be /Users, /Groups, /Users/{{id}} or /Groups/{{id}}",
                op.path
            ))
            .into())
        }
    };
    if let Some(id) = id.filter(|i| i.starts_with("bulkId:")) {
        return Err(
            scim::Error::invalid_value(format!("{id} was not created in this request")).into(),
        );
    }
    let if_match = match &op.version {
        Some(v) => Some(scim::meta::parse_etag(v).ok_or_else(|| {
            scim::Error::precondition_failed(format!("version '{v}' matches no version"))
        })?),
        None => None,
    };
    let reg = Registry::global();
    let stored = match (op.method, kind, id) {
        (BulkMethod::Post, _, None) => {
            let mut doc = scim::resource::validate(kind, data, reg)?;
            match kind {
                ResourceKind::User => {
                    let hash = crate::password::take_and_hash(&mut doc)?;
                    s.write(ctx, |tx| {
                        let u = store::users::create(tx, doc)?;
                        if let Some(h) = &hash {
                            store::users::set_password(tx, &u.id, h)?;
                        }
                        Ok(u)
                    })?
                }
                ResourceKind::Group => s.write(ctx, |tx| store::groups::create(tx, doc))?.0,
            }
        }
        (BulkMethod::Put, _, Some(id)) => {
            let doc = scim::resource::validate(kind, data, reg)?;
            match kind {
                ResourceKind::User => {
                    s.write(ctx, |tx| store::users::replace(tx, id, doc, if_match))?
                }
                ResourceKind::Group => {
                    s.write(ctx, |tx| store::groups::replace(tx, id, doc, if_match))?
                        .0
                }
            }
        }
        (BulkMethod::Patch, _, Some(id)) => {
            let ops = scim::patch::parse_request(data)?;
            limits.check_patch(&ops)?;
            match kind {
                ResourceKind::User => {
                    let hash = crate::password::in_patch(&ops)
                        .map(|p| crate::password::hash(&p))
                        .transpose()?;
                    s.write(ctx, |tx| {
                        store::users::patch(tx, id, &ops, if_match, hash.as_deref())
                    })?
                }
                ResourceKind::Group => {
                    s.write(ctx, |tx| store::groups::patch(tx, id, &ops, if_match))?
                }
            }
        }
        (BulkMethod::Delete, _, Some(id)) => {
            match kind {
                ResourceKind::User => s.write(ctx, |tx| store::users::delete(tx, id, if_match))?,
                ResourceKind::Group => {
                    s.write(ctx, |tx| store::groups::delete(tx, id, if_match))?
                }
            }
            return Ok(Done {
                status: 204,
                id: Some(id.to_string()),
                version: None,
                location: Some(format!("{base}{}/{id}", kind.endpoint())),
                error: None,
            });
        }
        (m, _, _) => {
            return Err(scim::Error::invalid_path(format!(
                "{} is not allowed on bulk path '{}'",
                m.as_str(),
                op.path
            ))
            .into())
        }
    };
    Ok(Done {
        status: if op.method == BulkMethod::Post {
            201
        } else {
            200
        },
        location: Some(format!("{base}{}/{}", kind.endpoint(), stored.id)),
        version: Some(stored.version),
        id: Some(stored.id),
        error: None,
    })
}
