//! The Kubernetes client, handing the current span's W3C trace context (`traceparent`) to the API
//! server with every call (docs/api.md#traces): a reconcile's calls then show in its trace, and
//! in the API server's own traces where it keeps them.

use kube::client::{Body, ClientBuilder};
use kube::{Client, Config};

/// As `Client::try_default()` (the in-cluster config or the kubeconfig), with one more layer.
pub(super) async fn connect() -> anyhow::Result<Client> {
    let config = Config::infer().await?;
    let layer = tower::util::MapRequestLayer::new(with_trace_context);
    Ok(ClientBuilder::try_from(config)?.with_layer(&layer).build())
}

fn with_trace_context(mut request: http::Request<Body>) -> http::Request<Body> {
    crate::trace_context::inject(request.headers_mut());
    request
}
