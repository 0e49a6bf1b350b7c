//! Logging and traces. Tokens, keys and database passwords never reach a log line or a span.

mod otlp;

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TracesConfig};

/// How long the last spans may take to reach the collector when the process stops.
const FLUSH_AT_MOST: Duration = Duration::from_secs(3);

/// What `init` set up and the process must close: the traces not yet sent.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

/// Logs to stderr (text or JSON; a span's `trace_id` field names its trace) and, when an OTLP
/// endpoint is configured, spans to it with W3C trace context propagated in and out.
pub fn init(format: LogFormat, traces: &TracesConfig) -> anyhow::Result<Telemetry> {
    let provider = otlp::provider(traces)?;
    let filter = EnvFilter::try_from_env("BELT_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let fmt = match format {
        LogFormat::Json => fmt.json().boxed(),
        LogFormat::Text => fmt.boxed(),
    };
    let spans = provider.as_ref().map(|provider| {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        tracing_opentelemetry::layer().with_tracer(provider.tracer("belt-api"))
    });
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(spans)
        .with(filter)
        .try_init();
    if let Some(url) = traces.traces_url().filter(|_| provider.is_some()) {
        tracing::info!(
            endpoint = %redact_url(&url),
            service = %traces.otel_service_name,
            "sending traces over OTLP/HTTP (JSON)"
        );
    }
    Ok(Telemetry { traces: provider })
}

impl Telemetry {
    /// Whether spans are sent anywhere.
    pub fn traces_on(&self) -> bool {
        self.traces.is_some()
    }

    /// Sends the spans not sent yet, waiting a few seconds at most.
    pub async fn close(self) {
        let Some(provider) = self.traces else {
            return;
        };
        // The provider's shutdown blocks until its exporting thread is done.
        let flushing = tokio::task::spawn_blocking(move || provider.shutdown());
        let _ = tokio::time::timeout(FLUSH_AT_MOST, flushing).await;
    }
}

/// A database URL fit for a log line: the password replaced.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://belt:s3cret@db:5432/belts"),
            "postgres://belt:***@db:5432/belts"
        );
        assert_eq!(super::redact_url("sqlite://./x.db"), "sqlite://./x.db");
    }
}
