//! W3C trace context (`traceparent`): taken from a request that sends it, handed to the servers
//! belt-api calls (the registry, the identity provider, the Kubernetes API) and to the reconcile a
//! request wakes, and written into log lines as `trace_id`. Without traces configured
//! (`telemetry/otlp.rs`) every function here does nothing: the global propagator is a no-op and
//! spans carry no OpenTelemetry context.

use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The name of the field, declared empty on every traced span, that log lines show the trace id
/// in.
pub const TRACE_ID: &str = "trace_id";

/// The context of the current span, when it has one: what a wake-up carries to the reconciler.
pub fn current() -> Option<Context> {
    let context = Span::current().context();
    context.span().span_context().is_valid().then_some(context)
}

/// Writes the current span's `traceparent` into `headers` of a call belt-api makes.
pub fn inject(headers: &mut http::HeaderMap) {
    let Some(context) = current() else {
        return;
    };
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers))
    });
}

/// The headers that carry the current span's context, for a reqwest call.
pub fn outgoing() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    inject(&mut headers);
    headers
}

/// Makes a request's `span` continue the trace its client sent, if any, and names its trace id.
pub fn continue_from(span: &Span, headers: &http::HeaderMap) {
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    });
    adopt(span, Some(parent));
}

/// Makes `span` a child of `parent` (when it is a span's context), and names its trace id.
/// Before the span is first entered: its parent cannot change after.
pub fn adopt(span: &Span, parent: Option<Context>) {
    if let Some(parent) = parent.filter(|parent| parent.span().span_context().is_valid()) {
        let _ = span.set_parent(parent);
    }
    let context = span.context();
    let own = context.span().span_context().clone();
    if own.is_valid() {
        span.record(TRACE_ID, own.trace_id().to_string());
    }
}
