//! Prometheus metrics at `GET /metrics` (token scope `metrics.read`).
//!
//! Counters and histograms are kept in this process (HTTP requests by route and status, calls
//! to push targets); push target gauges (lag, items per status, paused, quarantined) are read
//! from the database at each scrape, so every replica reports the same, current values.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::Value;

use crate::auth::{Auth, MetricsRead};
use crate::error::ApiError;
use crate::state::AppState;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once) and returns its handle.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            PrometheusBuilder::new()
                .set_buckets(&buckets)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .as_ref()
}

/// Middleware: counts every request by method, route pattern and status, and times it.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let res = next.call(req).await?;
    let found = res
        .request()
        .extensions()
        .get::<crate::telemetry::RoutePattern>()
        .map(|r| r.0.clone());
    let route = found
        .unwrap_or_else(|| res.request().match_pattern())
        .unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16().to_string();
    metrics::counter!("roster_http_requests_total",
        "method" => method.clone(), "route" => route.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("roster_http_request_duration_seconds",
        "method" => method, "route" => route)
    .record(start.elapsed().as_secs_f64());
    Ok(res)
}

/// `GET /metrics`: the Prometheus text format.
pub async fn scrape(
    _auth: Auth<MetricsRead>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let statuses: Vec<Value> = actix_web::rt::task::spawn_blocking(move || {
        push::admin::list(&store, None).and_then(|targets| {
            targets
                .iter()
                .filter_map(|t| t["id"].as_str())
                .map(|id| push::admin::status(&store, id))
                .collect::<push::Result<Vec<Value>>>()
        })
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("blocking task failed: {e}")))??;
    for s in &statuses {
        let name = s["name"].as_str().unwrap_or_default().to_string();
        let num = |k: &str| s[k].as_f64().unwrap_or(0.0);
        metrics::gauge!("roster_push_lag_events", "target" => name.clone()).set(num("lagEvents"));
        metrics::gauge!("roster_push_lag_seconds", "target" => name.clone()).set(num("lagSeconds"));
        for status in ["synced", "retrying", "failed", "disabled", "deleted"] {
            metrics::gauge!("roster_push_items", "target" => name.clone(), "status" => status)
                .set(num(status));
        }
        let flag = |k: &str| if s[k] == Value::Bool(true) { 1.0 } else { 0.0 };
        metrics::gauge!("roster_push_paused", "target" => name.clone()).set(flag("paused"));
        metrics::gauge!("roster_push_quarantined", "target" => name).set(flag("quarantined"));
    }
    let body = handle().map(|h| h.render()).unwrap_or_default();
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}
