//! The Kubernetes API is called with the trace context of the request that caused the call
//! (docs/api.md#traces): a START sent with a `traceparent` makes a reconcile in that trace, and
//! the reconcile's apply of the belt's Deployment carries the same trace id to the API server.

use std::time::{Duration, Instant};

use crate::calls::Api;
use crate::replicas::{set_up, token, Replica};
use crate::Election;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_api_is_called_within_the_trace_of_the_start_that_caused_it() {
    // Nothing listens there: the spans are lost, the context they carry is not.
    let otlp = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9".into())];
    let (kube, _dir, setup) = set_up(Election::Lock, otlp).await;
    let replica = Replica::start("a", &setup).await;
    let api = Api {
        http: reqwest::Client::new(),
        token: token(&setup.data_dir),
    };
    let id = api.create(&replica, "traced").await;
    let started = api
        .http
        .post(format!("{}/projects/global/belts/{id}/state", replica.base))
        .bearer_auth(&api.token)
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .json(&serde_json::json!({"action": "START"}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), reqwest::StatusCode::OK);

    let deployment = format!("/deployments/grnry-belt-{id}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let applied = loop {
        let applied: Vec<String> = kube
            .recorder()
            .traceparents()
            .into_iter()
            .filter(|(call, _)| call.starts_with("PATCH ") && call.ends_with(&deployment))
            .map(|(_, traceparent)| traceparent)
            .collect();
        if !applied.is_empty() || Instant::now() > deadline {
            break applied;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        !applied.is_empty(),
        "no apply of {deployment} carried a traceparent: {:?}",
        kube.recorder().traceparents()
    );
    // The one apply is the START's (a resync that comes before the watch brought the Deployment
    // back does not apply it again: `src/reconcile/expectations.rs`).
    assert_eq!(applied.len(), 1, "applies of {deployment}: {applied:?}");
    let traceparent = &applied[0];
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1], TRACE_ID, "the START's trace: {traceparent}");
    assert_ne!(
        parts[2], "00f067aa0ba902b7",
        "a span of belt-api's own: {traceparent}"
    );
}
