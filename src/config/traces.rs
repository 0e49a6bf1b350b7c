//! Where traces go (docs/api.md#traces): OpenTelemetry's own variables, so that a Deployment
//! configures belt-api as it configures every other instrumented service. Off unless an endpoint
//! is given.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct TracesConfig {
    /// OTLP/HTTP collector base URL (`http://collector:4318`); traces go to `<it>/v1/traces`.
    /// Unset, together with `--otlp-traces-endpoint`: no traces are recorded or sent.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// OTLP/HTTP URL for traces, used as given; wins over `--otlp-endpoint`.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub otlp_traces_endpoint: Option<String>,

    /// `service.name` of every span.
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = "belt-api")]
    pub otel_service_name: String,
}

impl TracesConfig {
    /// The URL spans are posted to, as the OTLP specification resolves it; `None`: traces off.
    pub fn traces_url(&self) -> Option<String> {
        let given = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_string)
        };
        if let Some(url) = given(&self.otlp_traces_endpoint) {
            return Some(url);
        }
        given(&self.otlp_endpoint).map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base: Option<&str>, traces: Option<&str>) -> TracesConfig {
        TracesConfig {
            otlp_endpoint: base.map(str::to_string),
            otlp_traces_endpoint: traces.map(str::to_string),
            otel_service_name: "belt-api".into(),
        }
    }

    #[test]
    fn traces_are_off_unless_an_endpoint_is_given() {
        assert_eq!(config(None, None).traces_url(), None);
        assert_eq!(config(Some(" "), Some("")).traces_url(), None);
        assert_eq!(
            config(Some("http://c:4318/"), None).traces_url().as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(
            config(Some("http://c:4318"), Some("http://t:9/x"))
                .traces_url()
                .as_deref(),
            Some("http://t:9/x"),
            "the traces endpoint is used as given and wins"
        );
    }
}
