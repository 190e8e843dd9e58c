//! Logging: `tracing` with a request id on every line; JSON with `ROSTER_LOG_FORMAT=json`.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber. The filter comes from `ROSTER_LOG` (then `RUST_LOG`),
/// default `info`. Safe to call more than once (later calls do nothing).
pub fn init() {
    let filter = std::env::var("ROSTER_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("ROSTER_LOG_FORMAT")
        .map(|v| v.eq_ignore_ascii_case("json"))
        .unwrap_or(false);
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// The route pattern of a request (`/scim/v2/Users/{id}`), found once when its span opens and
/// kept in the request's extensions for the metrics (finding it walks the route table).
#[derive(Debug, Clone)]
pub struct RoutePattern(pub Option<String>);

/// The root span of every request, as `tracing-actix-web`'s default but with the path alone as
/// `http.target`: the query string can carry what must not be logged (a filter on `password`,
/// a token a client put in the URL), and every line logged during the request repeats the span.
pub struct RedactedRootSpan;

impl tracing_actix_web::RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        use actix_web::HttpMessage;
        let request_id = request
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let pattern = request.match_pattern();
        request
            .extensions_mut()
            .insert(RoutePattern(pattern.clone()));
        let route = pattern.unwrap_or_else(|| "default".into());
        let method = request.method().as_str().to_string();
        let client_ip = request
            .connection_info()
            .realip_remote_addr()
            .unwrap_or("")
            .to_string();
        tracing::info_span!(
            "HTTP request",
            http.method = %method,
            http.route = %route,
            http.target = %request.path(),
            http.client_ip = %client_ip,
            http.status_code = tracing::field::Empty,
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
