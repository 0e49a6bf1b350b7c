//! The span of one request (docs/api.md#traces): named by method and route template, never by a
//! concrete path; it continues a trace the client sent in `traceparent`, and its `trace_id` field
//! names the trace in every log line written while it is open.

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use tracing::Span;

use crate::trace_context;

pub fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let method = request.method();
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = route,
        url.path = request.uri().path(),
        http.response.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    trace_context::continue_from(&span, request.headers());
    span
}

pub fn record_status(response: &Response, _latency: std::time::Duration, span: &Span) {
    span.record("http.response.status_code", response.status().as_u16());
}
