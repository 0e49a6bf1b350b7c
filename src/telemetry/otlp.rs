//! Spans to an OTLP/HTTP collector (docs/api.md#traces), as JSON, posted by the reqwest client
//! belt-api already has: no gRPC stack and no second HTTP client in the build.

use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

use crate::config::TracesConfig;

/// How long one export may take: a collector that does not answer costs spans, never requests.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The tracer provider, batching spans to the configured collector; `None`: traces are off.
pub(super) fn provider(config: &TracesConfig) -> anyhow::Result<Option<SdkTracerProvider>> {
    let Some(url) = config.traces_url() else {
        return Ok(None);
    };
    let client = reqwest::Client::builder().timeout(EXPORT_TIMEOUT).build()?;
    let poster = Poster {
        client,
        runtime: tokio::runtime::Handle::current(),
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(poster)
        .build()?;
    let resource = Resource::builder()
        .with_service_name(config.otel_service_name.clone())
        .build();
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    ))
}

/// Posts an export with reqwest. The SDK's batch processor exports from a thread of its own,
/// outside the tokio runtime that reqwest needs, so each post runs as a task on that runtime and
/// is awaited from the exporting thread.
#[derive(Debug)]
struct Poster {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for Poster {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request.map(reqwest::Body::from))?;
        let client = self.client.clone();
        let (status, body) = self
            .runtime
            .spawn(async move {
                let response = client.execute(request).await?;
                let status = response.status();
                Ok::<_, reqwest::Error>((status, response.bytes().await?))
            })
            .await??;
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        Ok(response)
    }
}
