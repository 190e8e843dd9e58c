//! `/admin/v1/rules`: birthright access rules (docs/lifecycle.md).
//!
//! A change is committed with the rule in status `evaluating`, then existing users are
//! re-evaluated in batches by the rule's scheduler job; the handler runs that job for up to
//! [`INLINE_BUDGET`] before answering, so small directories answer `ready` and large ones show
//! progress (`evaluatedUsers`) on `GET` while the scheduler finishes.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use store::rules::{self, Compiled, RuleInput};

use super::{json_body, request_id};
use crate::auth::{Admin, Auth};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a rule change waits for its re-evaluation before answering.
pub const INLINE_BUDGET: Duration = Duration::from_secs(10);

fn not_found(id: &str) -> impl FnOnce(ApiError) -> ApiError + '_ {
    move |e| match e {
        ApiError::Store(store::Error::NotFound) => {
            ApiError::Scim(scim::Error::not_found(format!("rule {id} not found")))
        }
        other => other,
    }
}

/// `?confirm=true`
#[derive(Debug, Deserialize)]
pub struct ConfirmQuery {
    /// Confirms a change that removes more memberships than the threshold.
    #[serde(default)]
    pub confirm: bool,
}

/// Runs the rule's re-evaluation job for up to [`INLINE_BUDGET`]; the scheduler finishes it
/// otherwise.
async fn evaluate(state: &AppState, rule_id: &str) {
    let scheduler = state.scheduler.clone();
    let job = store::jobs::rule_job(rule_id);
    let span = tracing::Span::current();
    let task =
        actix_web::rt::task::spawn_blocking(move || span.in_scope(|| scheduler.run_job(&job)));
    match tokio::time::timeout(INLINE_BUDGET, task).await {
        Ok(Ok(Ok(_))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "rule re-evaluation failed; will retry"),
        Ok(Err(e)) => tracing::warn!(error = %e, "rule re-evaluation task failed"),
        Err(_) => tracing::info!("rule re-evaluation continues in the background"),
    }
    state.scheduler.wake();
}

async fn view_of(state: &AppState, id: String) -> Result<Value, ApiError> {
    let missing = id.clone();
    db::run(&state.store, move |s| {
        s.read(|c| rules::get(c, &id).and_then(|r| rules::view(&r)))
    })
    .await
    .map_err(not_found(&missing))
}

/// Refuses (409) a change that would remove more memberships than the threshold, unless
/// confirmed.
async fn check_threshold(
    state: &AppState,
    id: &str,
    proposed: Option<Compiled>,
    confirm: bool,
) -> Result<(), ApiError> {
    let rid = id.to_string();
    let preview = db::run(&state.store, move |s| {
        s.read(|c| {
            rules::get(c, &rid)?;
            rules::preview(c, Some(&rid), proposed.as_ref())
        })
    })
    .await
    .map_err(not_found(id))?;
    let lost = preview.lost() as u64;
    if lost > state.rule_confirm_threshold && !confirm {
        return Err(scim::Error::new(
            409,
            None,
            format!(
                "this change would remove {lost} memberships from {} users (threshold {}); \
                 check POST /admin/v1/rules/preview and repeat with ?confirm=true",
                preview.lose.len(),
                state.rule_confirm_threshold
            ),
        )
        .into());
    }
    Ok(())
}

/// `GET /admin/v1/rules`
pub async fn list(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let items = db::run(&state.store, |s| {
        s.read(|c| {
            rules::list(c)?
                .iter()
                .map(rules::view)
                .collect::<store::Result<Vec<_>>>()
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({"totalResults": items.len(), "items": items})))
}

/// `POST /admin/v1/rules`: 201 with the rule (status `ready` once existing users are
/// evaluated).
pub async fn create(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input = RuleInput::from_json(&json_body(&body)?)?;
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let row = db::run(&state.store, move |s| {
        s.write(&ctx, |tx| rules::create(tx, &input))
    })
    .await
    .map_err(|e| match e {
        ApiError::Store(store::Error::Conflict { .. }) => ApiError::Scim(scim::Error::uniqueness(
            "name: another rule already has this name",
        )),
        other => other,
    })?;
    tracing::info!(rule_id = %row.id, "rule created");
    evaluate(&state, &row.id).await;
    let v = view_of(&state, row.id.clone()).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/admin/v1/rules/{}", row.id)))
        .json(v))
}

/// `GET /admin/v1/rules/{id}`
pub async fn get(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(view_of(&state, path.into_inner()).await?))
}

/// `PUT /admin/v1/rules/{id}[?confirm=true]`: the same body as create.
pub async fn replace(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<ConfirmQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let input = RuleInput::from_json(&json_body(&body)?)?;
    check_threshold(
        &state,
        &id,
        Some(Compiled::from_input(&id, &input)),
        q.confirm,
    )
    .await?;
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let rid = id.clone();
    db::run(&state.store, move |s| {
        s.write(&ctx, |tx| rules::replace(tx, &rid, &input))
    })
    .await
    .map_err(|e| match e {
        ApiError::Store(store::Error::Conflict { .. }) => ApiError::Scim(scim::Error::uniqueness(
            "name: another rule already has this name",
        )),
        other => not_found(&id)(other),
    })?;
    tracing::info!(rule_id = %id, "rule replaced");
    evaluate(&state, &id).await;
    Ok(HttpResponse::Ok().json(view_of(&state, id).await?))
}

/// `DELETE /admin/v1/rules/{id}[?confirm=true]`: 204; the rule's memberships end (without
/// grace) as its job withdraws them.
pub async fn delete(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<ConfirmQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    check_threshold(&state, &id, None, q.confirm).await?;
    let ctx = auth.principal.write_ctx(&request_id(&req));
    let rid = id.clone();
    db::run(&state.store, move |s| {
        s.write(&ctx, |tx| rules::delete(tx, &rid))
    })
    .await
    .map_err(not_found(&id))?;
    tracing::info!(rule_id = %id, "rule deleted");
    evaluate(&state, &id).await;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /admin/v1/rules/preview`: a rule body (with `"id"` to preview replacing that rule) →
/// the users that would gain and lose which groups. Changes nothing.
pub async fn preview(
    _auth: Auth<Admin>,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&body)?;
    let input = RuleInput::from_json(&body)?;
    let existing = match body.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(scim::Error::invalid_value("id: must be a rule id").into()),
    };
    let threshold = state.rule_confirm_threshold;
    let grace = input.grace_days;
    let missing = existing.clone().unwrap_or_default();
    let p = db::run(&state.store, move |s| {
        s.read(|c| {
            rules::check(c, &input)?;
            if let Some(id) = &existing {
                rules::get(c, id)?;
            }
            let id = existing.clone().unwrap_or_default();
            let p = rules::preview(
                c,
                existing.as_deref(),
                Some(&Compiled::from_input(&id, &input)),
            )?;
            let reached = targets_reached(c, &p)?;
            Ok((p, reached))
        })
    })
    .await
    .map_err(not_found(&missing))?;
    let (p, reached) = p;
    let mut out = p.to_json(grace);
    if let Some(o) = out.as_object_mut() {
        o.insert("targets".into(), Value::Array(reached));
        o.insert(
            "needsConfirm".into(),
            Value::Bool(p.lost() as u64 > threshold),
        );
        o.insert("confirmThreshold".into(), json!(threshold));
    }
    Ok(HttpResponse::Ok().json(out))
}

/// The push targets the previewed membership changes reach, each with the number of previewed
/// users whose gained or lost groups are in its scope.
fn targets_reached(c: &mut store::DbConn, p: &rules::Preview) -> store::Result<Vec<Value>> {
    let changes = || p.gain.values().chain(p.lose.values());
    let changed: std::collections::BTreeSet<String> =
        changes().flat_map(|(_, g)| g.iter().cloned()).collect();
    let reached = push::impact::targets_reached(c, &changed).map_err(|e| match e {
        push::Error::Store(e) => e,
        other => store::Error::Corrupt(other.to_string()),
    })?;
    Ok(reached
        .iter()
        .map(|t| {
            let users = changes()
                .filter(|(_, g)| g.iter().any(|g| t.groups.contains(g)))
                .count();
            t.to_json(users)
        })
        .collect())
}
