//! The reconciler as a controller (docs/architecture.md#the-reconciler): a hanging belt holds no
//! other back, a failing belt is retried with growing delays shown in /metrics, a resync of many
//! unchanged belts reads no documents and calls no runtime, and a DELETE survives `kill -9`
//! between its wish and the teardown.

mod data_plane;
pub mod fakes;
mod kill;
mod lagged;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use belt_api::domain::BeltId;
use belt_api::metrics::Metrics;
use belt_api::reconcile::{Reconciler, Report};
use belt_api::store::StoreOptions;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use fakes::{CountingStore, FakeRuntime};

backend_tests!(
    one_hanging_belt_does_not_keep_99_others_from_running_within_one_period,
    a_failing_belt_is_retried_with_growing_delays_visible_in_metrics,
    by_default_metrics_name_no_belt_and_no_project,
    a_step_over_10000_unchanged_running_belts_reads_no_documents_and_calls_no_runtime,
    a_belt_being_deleted_is_gone_but_keeps_its_name_until_the_runtime_confirms,
    a_panic_in_the_reconciler_stops_the_service,
);

async fn app_on(fake: &Arc<FakeRuntime>, backend: Backend, args: &[(&str, &str)]) -> TestApp {
    let options = Options {
        runtime: Some(fake.clone()),
        args: args
            .iter()
            .map(|(flag, value)| (flag.to_string(), value.to_string()))
            .collect(),
        ..Default::default()
    };
    TestApp::spawn_with(backend, options).await
}

fn id_of(belt: &Value) -> BeltId {
    BeltId::new(belt["id"].as_str().unwrap().parse().unwrap()).unwrap()
}

async fn start(app: &TestApp, id: BeltId) {
    let path = format!("/projects/global/belts/{id}/state");
    let response = app
        .post(&path, &app.editor(), &json!({"action": "START"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn status(app: &TestApp, id: BeltId) -> String {
    let path = format!("/projects/global/belts/{id}/state");
    let (_, state) = json_of(app.get(&path, &app.editor()).await).await;
    state["status"].as_str().unwrap_or_default().to_string()
}

async fn one_hanging_belt_does_not_keep_99_others_from_running_within_one_period(backend: Backend) {
    let fake = Arc::new(FakeRuntime::default());
    let app = app_on(&fake, backend, &[("--reconcile-interval-ms", "1000")]).await;
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(id_of(
            &app.create_belt("global", &minimal_belt(&format!("b{i}")))
                .await,
        ));
    }
    // The first id: a serial pass in id order would wait on it before every other.
    fake.hanging.lock().unwrap().insert(ids[0]);
    for id in &ids {
        start(&app, *id).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut not_running = Vec::new();
    for id in &ids[1..] {
        let status = status(&app, *id).await;
        if status != "RUNNING" {
            not_running.push((*id, status));
        }
    }
    assert!(not_running.is_empty(), "after one period: {not_running:?}");
    assert_eq!(status(&app, ids[0]).await, "DEPLOYING");
}

/// `name{labels} value` of one series in the Prometheus text.
fn series(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
}

async fn metrics_text(app: &TestApp) -> String {
    let response = app.request(Method::GET, "/metrics", None).send().await;
    response.unwrap().text().await.unwrap()
}

/// `/metrics` answers anyone: without `--metrics-per-belt` a failing belt is counted, not named,
/// and no series carries a project or a belt id.
async fn by_default_metrics_name_no_belt_and_no_project(backend: Backend) {
    let fake = Arc::new(FakeRuntime::default());
    let args = [
        ("--reconcile-interval-ms", "100"),
        ("--reconcile-backoff-ms", "100"),
    ];
    let app = app_on(&fake, backend, &args).await;
    let id = id_of(&app.create_belt("global", &minimal_belt("failing")).await);
    fake.failing.lock().unwrap().insert(id);
    start(&app, id).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let metrics = metrics_text(&app).await;
        if series(&metrics, "belt_api_reconcile_failing_belts") == Some(1.0) {
            break metrics;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never counted: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for label in ["belt=", "project="] {
        assert!(!metrics.contains(label), "{label} in {metrics}");
    }
    assert!(
        !metrics.contains("belt_api_belt_reconcile_retries"),
        "{metrics}"
    );
    assert!(metrics.contains("belt_api_consumer_lag 0"), "{metrics}");

    fake.failing.lock().unwrap().clear();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while series(
        &metrics_text(&app).await,
        "belt_api_reconcile_failing_belts",
    ) != Some(0.0)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "still counted as failing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_failing_belt_is_retried_with_growing_delays_visible_in_metrics(backend: Backend) {
    let fake = Arc::new(FakeRuntime::default());
    // Resyncs every 100 ms: the backoff, not the resync, decides when a failed belt is retried.
    let args = [
        ("--reconcile-interval-ms", "100"),
        ("--reconcile-backoff-ms", "100"),
        ("--reconcile-backoff-max-ms", "60000"),
        ("--metrics-per-belt", "true"),
    ];
    let app = app_on(&fake, backend, &args).await;
    let id = id_of(&app.create_belt("global", &minimal_belt("failing")).await);
    fake.failing.lock().unwrap().insert(id);
    start(&app, id).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let times = fake.apply_times(id);
    assert!((4..=7).contains(&times.len()), "{} attempts", times.len());
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // At least the policy's delay, which doubles: a retry per resync (100 ms) cannot pass.
    for (n, gap) in gaps.iter().enumerate() {
        let least = Duration::from_millis(100 << n);
        assert!(
            *gap >= least,
            "retry {n} after {gap:?}, before {least:?}: {gaps:?}"
        );
    }
    let metrics = metrics_text(&app).await;
    let retries = format!("belt_api_belt_reconcile_retries_total{{belt=\"{id}\"}}");
    let backoff = format!("belt_api_belt_reconcile_backoff_seconds{{belt=\"{id}\"}}");
    let attempts = fake.apply_times(id).len() as f64;
    let counted = series(&metrics, &retries).unwrap_or_else(|| panic!("{retries} in {metrics}"));
    assert!(
        counted >= attempts - 1.0 && counted <= attempts,
        "{counted} of {attempts}"
    );
    assert!(series(&metrics, &backoff).unwrap() >= 0.8, "{metrics}");
    assert!(series(&metrics, "belt_api_reconcile_queue_depth").unwrap() >= 1.0);

    // Once the runtime takes it, the belt runs and its retry series end.
    fake.failing.lock().unwrap().clear();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while status(&app, id).await != "RUNNING" {
        assert!(std::time::Instant::now() < deadline, "never retried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(series(&metrics_text(&app).await, &retries).is_none());
}

/// 10,000 RUNNING belts, each already running what it wishes: the seed belt and its copies,
/// written behind the API's back so that seeding takes seconds.
async fn seed_running_belts(app: &TestApp, count: i64) -> Vec<BeltId> {
    let seed = id_of(&app.create_belt("global", &minimal_belt("seed")).await).get();
    let last = seed + count - 1;
    app.execute_sql(&format!(
        "WITH RECURSIVE n(g) AS (SELECT {first} UNION ALL SELECT g + 1 FROM n WHERE g < {last}) \
         INSERT INTO belts (id, project, name, name_folded, version, spec, created_by_name, \
         created_by_email, created_at_ms, modified_by_name, modified_by_email, modified_at_ms) \
         SELECT n.g, b.project, 'bulk-' || n.g, 'bulk-' || n.g, 1, b.spec, b.created_by_name, \
         b.created_by_email, b.created_at_ms, b.modified_by_name, b.modified_by_email, \
         b.modified_at_ms FROM n, belts b WHERE b.id = {seed}",
        first = seed + 1,
    ))
    .await;
    app.execute_sql(
        "UPDATE belts SET desired_state = 'RUNNING', deployed_version = 1, \
         deployed_spec = spec, generation = 1",
    )
    .await;
    (seed..=last).map(|id| BeltId::new(id).unwrap()).collect()
}

async fn a_step_over_10000_unchanged_running_belts_reads_no_documents_and_calls_no_runtime(
    backend: Backend,
) {
    // The app only creates the schema and the seed; its own reconciler sleeps for an hour.
    let idle = Arc::new(FakeRuntime::default());
    let app = app_on(&idle, backend, &[("--reconcile-interval-ms", "3600000")]).await;
    let ids = seed_running_belts(&app, 10_000).await;
    assert_eq!(ids.len(), 10_000);
    let options = StoreOptions {
        max_connections: 2,
        timeout: Duration::from_secs(10),
        revision_retention: 50,
    };
    let store = CountingStore::new(
        belt_api::store::connect(&app.database_url, options)
            .await
            .unwrap(),
    );
    let runtime = FakeRuntime::running(ids.iter().copied());
    let metrics = Arc::new(Metrics::default());
    let reconciler = Arc::new(Reconciler::new(store.clone(), runtime.clone(), metrics));

    let report = reconciler.reconcile_once().await.unwrap();
    assert_eq!(report, Report::default());
    assert_eq!(runtime.calls(), 0, "runtime calls");
    assert_eq!(store.documents.load(Ordering::SeqCst), 0, "document reads");
    assert_eq!(store.summaries.load(Ordering::SeqCst), 1);

    // The counters see work when there is some: one belt no longer runs.
    runtime.running.lock().unwrap().remove(&ids[4]);
    let report = reconciler.reconcile_once().await.unwrap();
    assert_eq!(report.applied, vec![ids[4]]);
    assert_eq!(runtime.calls(), 1);
    assert_eq!(store.documents.load(Ordering::SeqCst), 1);
}

async fn listed_names(app: &TestApp) -> Vec<String> {
    let (_, list) = json_of(app.get("/projects/global/belts", &app.editor()).await).await;
    let items = list["items"].as_array().unwrap();
    items
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

async fn a_belt_being_deleted_is_gone_but_keeps_its_name_until_the_runtime_confirms(
    backend: Backend,
) {
    let fake = Arc::new(FakeRuntime::default());
    let args = [
        ("--reconcile-call-timeout-ms", "1000"),
        ("--reconcile-backoff-ms", "200"),
    ];
    let app = app_on(&fake, backend, &args).await;
    let token = app.editor();
    let id = id_of(&app.create_belt("global", &minimal_belt("leaving")).await);
    let path = format!("/projects/global/belts/{id}");
    assert_eq!(listed_names(&app).await, ["leaving"], "the list is cached");
    fake.hanging.lock().unwrap().insert(id);

    let message = assert_error(
        app.delete(&path, &token).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    assert!(message.contains("the deletion continues"), "{message}");
    assert_eq!(app.get(&path, &token).await.status(), StatusCode::NOT_FOUND);
    assert!(listed_names(&app).await.is_empty());
    let put = app.put(&path, &token, &minimal_belt("leaving")).await;
    assert_eq!(put.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&path, &token).await.status(),
        StatusCode::NOT_FOUND
    );
    let body = minimal_belt("leaving");
    let again = app.post("/projects/global/belts", &token, &body).await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "the name is taken");

    // Once the runtime answers, the retry removes the document and frees the name.
    fake.hanging.lock().unwrap().clear();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let created = app.post("/projects/global/belts", &token, &body).await;
        if created.status() == StatusCode::OK {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fail-closed: a service whose reconciler died would accept wishes that nothing carries out.
async fn a_panic_in_the_reconciler_stops_the_service(backend: Backend) {
    let fake = Arc::new(FakeRuntime::default());
    let app = app_on(&fake, backend, &[]).await;
    let id = id_of(&app.create_belt("global", &minimal_belt("bomb")).await);
    fake.panicking.lock().unwrap().insert(id);
    start(&app, id).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app
        .request(Method::GET, "/health", None)
        .send()
        .await
        .is_ok()
    {
        assert!(std::time::Instant::now() < deadline, "still serving");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
