//! OpenTelemetry traces of the real binary (docs/api.md#traces), sent to a collector stub that
//! this test runs: a START makes one trace holding the request's span and, as its child, the
//! reconcile of that belt; a `traceparent` a client sends is continued; log lines name the trace
//! id; a call to the event-type registry carries the request's trace context; and without an
//! OTLP endpoint configured nothing is sent.

use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::binary::{serve_with, token, Server};
use crate::helpers::*;

backend_tests!(
    a_start_is_one_trace_from_the_request_to_the_reconcile_of_its_belt,
    the_registry_is_called_with_the_requests_trace_context,
);

const REPLICA: &str = "echo 'belt-host: ready'\nwhile true; do sleep 1; done\n";

/// Every body posted to the stub, as JSON.
type Posted = Arc<Mutex<Vec<Value>>>;

/// A collector stub: answers 200 to `POST /v1/traces`, keeps the bodies.
async fn collector(bind: &str) -> std::io::Result<(String, Posted)> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let address = listener.local_addr()?;
    let posted = Posted::default();
    let keep = |State(posted): State<Posted>, body: Bytes| async move {
        let body = serde_json::from_slice(&body).unwrap_or(json!({"unreadable": true}));
        posted.lock().unwrap().push(body);
        StatusCode::OK
    };
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(keep))
        .with_state(posted.clone());
    tokio::spawn(axum::serve(listener, app).into_future());
    Ok((format!("http://{address}"), posted))
}

/// Every span posted so far.
fn spans(posted: &Posted) -> Vec<Value> {
    let bodies = posted.lock().unwrap().clone();
    let resources = bodies.iter().flat_map(|body| {
        body["resourceSpans"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    });
    let scopes = resources.flat_map(|resource| {
        resource["scopeSpans"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    });
    scopes
        .flat_map(|scope| scope["spans"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Waits (bounded) for a span that `wanted` picks.
async fn span_where(posted: &Posted, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(span) = spans(posted).into_iter().find(&wanted) {
            return span;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} span: {:#?}",
            spans(posted)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn serve(backend: Backend, dir: &std::path::Path, otel: &[(&'static str, String)]) -> Server {
    let replica = dir.join("replica.sh");
    std::fs::write(&replica, REPLICA).unwrap();
    let mut env = vec![
        (
            "BELT_LOCAL_COMMAND",
            format!("/bin/sh {}", replica.display()),
        ),
        ("BELT_LOCAL_SANDBOX", "none".into()),
        ("BELT_LOG_FORMAT", "json".into()),
        // Debug for tower-http: its lines of each request are written inside the request's span.
        ("BELT_LOG", "info,sqlx=warn,tower_http=debug".into()),
        // The batch processor's delay between exports: short, so that the test waits little.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
    ];
    env.extend(otel.iter().cloned());
    if backend == Backend::Postgres {
        env.push(("BELT_DATABASE_URL", fresh_postgres_database().await));
    }
    serve_with(dir, &env)
}

async fn start_belt(server: &Server, editor: &str, traceparent: Option<&str>) -> String {
    let client = reqwest::Client::new();
    let create = client.post(format!("{}/projects/global/belts", server.address));
    let body = minimal_belt(&format!("traced-{}", unique_suffix()));
    let created = create.bearer_auth(editor).json(&body).send().await;
    let (_, belt) = json_of(created.unwrap()).await;
    let id = belt["id"].as_str().unwrap().to_string();
    let url = format!("{}/projects/global/belts/{id}/state", server.address);
    let mut start = client
        .post(url)
        .bearer_auth(editor)
        .json(&json!({"action": "START"}));
    if let Some(traceparent) = traceparent {
        start = start.header("traceparent", traceparent);
    }
    assert_eq!(start.send().await.unwrap().status(), StatusCode::OK);
    id
}

const START: &str = "POST /projects/{project}/belts/{id}/state";

async fn a_start_is_one_trace_from_the_request_to_the_reconcile_of_its_belt(backend: Backend) {
    let (endpoint, posted) = collector("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_SERVICE_NAME", "belt-api-under-test".to_string()),
    ];
    let server = serve(backend, dir.path(), &otel).await;
    let editor = token(dir.path(), "editor");

    start_belt(&server, &editor, None).await;
    let request = span_where(&posted, "START request", |span| span["name"] == START).await;
    let trace = request["traceId"].as_str().unwrap().to_string();
    let reconcile = span_where(&posted, "reconcile", |span| {
        span["name"] == "reconcile belt" && span["traceId"] == trace.as_str()
    })
    .await;
    assert_eq!(
        reconcile["parentSpanId"], request["spanId"],
        "the reconcile is the request's child"
    );
    let service = posted.lock().unwrap()[0]["resourceSpans"][0]["resource"]["attributes"].clone();
    assert!(
        service.to_string().contains("belt-api-under-test"),
        "{service}"
    );

    // A trace the client began goes on: its trace id, the request's span its child.
    let theirs = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    start_belt(&server, &editor, Some(&format!("00-{theirs}-{parent}-01"))).await;
    let continued = span_where(&posted, "continued START", |span| {
        span["name"] == START && span["traceId"] == theirs
    })
    .await;
    assert_eq!(continued["parentSpanId"], parent);
    span_where(&posted, "reconcile in the client's trace", |span| {
        span["name"] == "reconcile belt" && span["traceId"] == theirs
    })
    .await;

    // A traceparent that is not understood is ignored: the request is answered in a trace of
    // its own, never in one the header half-named.
    for hostile in [
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4737-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473Z-00f067aa0ba902b7-01",
    ] {
        let id = start_belt(&server, &editor, Some(hostile)).await;
        let started = span_where(&posted, "START under a hostile traceparent", |span| {
            span["name"] == START
                && span["attributes"]
                    .to_string()
                    .contains(&format!("/belts/{id}/state"))
        })
        .await;
        let trace = started["traceId"].as_str().unwrap();
        assert!(!hostile.contains(trace), "{hostile} was adopted: {started}");
        assert_ne!(trace, "00000000000000000000000000000000");
    }

    let log = server.log();
    assert!(
        log.contains(&format!("\"trace_id\":\"{theirs}\"")),
        "log lines carry the trace id:\n{log}"
    );
}

/// Without `OTEL_EXPORTER_OTLP_ENDPOINT` nothing is sent, not even to OTLP's default port (where
/// the stub listens, when that port is free on this machine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_no_span_is_sent() {
    let Ok((_, posted)) = collector("127.0.0.1:4318").await else {
        eprintln!("port 4318 is taken here: the default endpoint cannot be watched");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = serve(Backend::Sqlite, dir.path(), &[]).await;
    let editor = token(dir.path(), "editor");
    let id = start_belt(&server, &editor, None).await;
    let state = format!("{}/projects/global/belts/{id}/state", server.address);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = json_of(
            client
                .get(&state)
                .bearer_auth(&editor)
                .send()
                .await
                .unwrap(),
        )
        .await;
        if body["status"] == "RUNNING" {
            break;
        }
        assert!(Instant::now() < deadline, "never RUNNING: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Longer than the batch processor's delay, had it been running.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let sent = posted.lock().unwrap().clone();
    assert!(sent.is_empty(), "spans were sent: {sent:?}");
    let log = server.log();
    assert!(
        !log.contains("\"trace_id\""),
        "no trace ids without traces:\n{log}"
    );
}

/// A create asks the event-type registry; that call carries the create's trace context.
async fn the_registry_is_called_with_the_requests_trace_context(backend: Backend) {
    use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};
    let registry = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&registry)
        .await;
    let (endpoint, posted) = collector("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("BELT_HARVESTER_URL", registry.uri()),
    ];
    let server = serve(backend, dir.path(), &otel).await;
    let editor = token(dir.path(), "editor");
    let create = reqwest::Client::new().post(format!("{}/projects/global/belts", server.address));
    let answer = create
        .bearer_auth(&editor)
        .json(&minimal_belt("asked"))
        .send()
        .await;
    let status = answer.unwrap().status();
    assert!(
        status.is_client_error(),
        "the registry knows no event type: {status}"
    );
    let request = span_where(&posted, "create", |span| {
        span["name"] == "POST /projects/{project}/belts"
    })
    .await;
    let asked = registry.received_requests().await.unwrap();
    let traceparent = asked[0].headers.get("traceparent").expect("a traceparent");
    let traceparent = traceparent.to_str().unwrap();
    let trace = request["traceId"].as_str().unwrap();
    assert!(
        traceparent.starts_with(&format!("00-{trace}-")),
        "{traceparent} is not in trace {trace}"
    );
}
