//! Test-invoke over HTTP on Kubernetes: the real app (port 0, dev tokens, `TestApp` of
//! tests/api/helpers.rs) on the Kubernetes runtime and its pod invoker, both on the fake API
//! server of harness.rs, which plays the kubelet too (the pod's status and its log). What a user
//! sees: the report of the pod's run, a 503 when the pod's answer is not understood, a 403 for a
//! viewer; and the pod and its Secret created in the belts' namespace and deleted before the answer.

use std::sync::Arc;
use std::time::Duration;

use belt_api::runtime::kubernetes::KafkaIdentities;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::harness::*;
use super::invoke::{completed_log, settings, terminated, Sent};
use crate::backend_tests;
use crate::helpers::{assert_error, json_of, minimal_belt, Backend, Options, TestApp};

backend_tests!(
    an_editors_invocation_runs_in_a_pod_and_answers_its_report,
    a_garbled_pod_log_answers_503_and_the_pod_is_still_deleted,
    a_viewer_is_refused_and_no_pod_is_created,
    a_draft_runs_in_a_pod_of_its_own_through_the_api,
);

/// The app on the Kubernetes runtime, test-invoke in pods; the runtime's reflectors have listed
/// (nothing) and hold their watches, so every call that comes next is the test's.
async fn app_on_the_fake_cluster(backend: Backend) -> (TestApp, FakeApi) {
    let lists = [(DEPLOYMENTS, Vec::new()), (PODS, Vec::new())];
    let (runtime, fake) = recovered(KafkaIdentities::None, &lists).await;
    let invoker = runtime
        .pod_invoker(settings(2, 1))
        .with_poll(Duration::from_millis(10));
    let options = Options {
        dev_mode: true,
        runtime: Some(Arc::new(runtime)),
        invoker: Some(Arc::new(invoker)),
        ..Default::default()
    };
    let app = TestApp::spawn_with(backend, options).await;
    (app, fake)
}

/// A belt of project `global`; its id.
async fn belt(app: &TestApp) -> String {
    let created = app.create_belt("global", &minimal_belt("invoked")).await;
    created["id"].as_str().unwrap().to_string()
}

/// Invokes belt `id` on one event `{"id": 7}` with `token`.
async fn invoke(app: &TestApp, id: &str, token: &str) -> reqwest::Response {
    let path = format!("/projects/global/belts/{id}/invoke");
    let body = json!({"events": [{"event": {"id": 7}}]});
    app.post(&path, token, &body).await
}

/// Test-invokes a belt not saved yet in `global` on one event `{"id": 7}`.
async fn invoke_draft(app: &TestApp, token: &str) -> reqwest::Response {
    let callback = "def execute(headers, event):\n    return {\"keys\": [event[\"id\"]]}\n";
    let body = json!({"events": [{"event": {"id": 7}}], "extractorFn": callback});
    app.post("/projects/global/belts/invoke", token, &body)
        .await
}

/// The pod runs (Pending, then ended with `status`), its log is `log`, and both it and its Secret
/// are deleted; nothing else reaches the API server. The first run sweeps (finding nothing)
/// before it creates its pod; the next ones within the minute do not.
async fn serve_one_run(fake: &mut FakeApi, first: bool, status: Value, log: &str) -> Sent {
    if first {
        fake.serve_sweep(&[], &[]).await;
    }
    let sent = fake.serve_creation().await;
    fake.serve_status(&sent.pod, json!({"phase": "Pending"}))
        .await;
    fake.serve_status(&sent.pod, status).await;
    fake.serve_log(&sent.pod, log).await;
    fake.expect_cleanup(&sent).await;
    sent
}

async fn an_editors_invocation_runs_in_a_pod_and_answers_its_report(backend: Backend) {
    let (app, mut fake) = app_on_the_fake_cluster(backend).await;
    let id = belt(&app).await;
    let (editor, log) = (app.editor(), completed_log());
    let (response, sent) = tokio::join!(
        invoke(&app, &id, &editor),
        serve_one_run(&mut fake, true, terminated("Completed", 0), &log),
    );
    let (status, report) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["outcome"], "completed", "{report}");
    let updates = &report["results"][0]["updates"];
    assert_eq!(updates[0]["value"], json!({"keys": [7]}), "{report}");
    assert_eq!(report["results"][0]["stdout"], "hi\n", "{report}");
    // The pod was of this belt and project, and carried the event the user sent.
    let labels = &sent.pod["metadata"]["labels"];
    assert_eq!(labels["belt.grnry.io/invoke-of"], id.as_str());
    assert_eq!(labels["belt.grnry.io/project"], "global");
    let request = sent.secret["stringData"]["invoke-request.json"]
        .as_str()
        .unwrap();
    let request: Value = serde_json::from_str(request).unwrap();
    assert_eq!(request["events"][0]["event"], json!({"id": 7}));
    fake.assert_no_call().await;
}

async fn a_garbled_pod_log_answers_503_and_the_pod_is_still_deleted(backend: Backend) {
    let (app, mut fake) = app_on_the_fake_cluster(backend).await;
    let id = belt(&app).await;
    let (editor, log) = (app.editor(), completed_log());
    let garbled = "Traceback (most recent call last):\n  MemoryError\n";
    let (response, _) = tokio::join!(
        invoke(&app, &id, &editor),
        serve_one_run(&mut fake, true, terminated("Completed", 0), garbled),
    );
    let message = assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    assert!(message.contains("without a report"), "{message}");
    fake.assert_no_call().await;
    // The app keeps answering: the next run is read as usual.
    let (response, _) = tokio::join!(
        invoke(&app, &id, &editor),
        serve_one_run(&mut fake, false, terminated("Completed", 0), &log),
    );
    assert_eq!(response.status(), StatusCode::OK);
}

async fn a_viewer_is_refused_and_no_pod_is_created(backend: Backend) {
    let (app, mut fake) = app_on_the_fake_cluster(backend).await;
    let id = belt(&app).await;
    let response = invoke(&app, &id, &app.viewer()).await;
    assert_error(response, StatusCode::FORBIDDEN, "entity_not_accessible").await;
    fake.assert_no_call().await;
}

/// A belt not saved yet, tested through the API on Kubernetes: a pod of its own named and
/// labelled `draft` in the project, its callback in the Secret, and no id anywhere: `BELT_ID`
/// empty, and the stand-in the use case renders its replica with never in the pod.
async fn a_draft_runs_in_a_pod_of_its_own_through_the_api(backend: Backend) {
    let (app, mut fake) = app_on_the_fake_cluster(backend).await;
    let (editor, log) = (app.editor(), completed_log());
    let (response, sent) = tokio::join!(
        invoke_draft(&app, &editor),
        serve_one_run(&mut fake, true, terminated("Completed", 0), &log),
    );
    let (status, report) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["outcome"], "completed", "{report}");
    let name = sent.pod["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("grnry-belt-invoke-draft-"), "{name}");
    let labels = &sent.pod["metadata"]["labels"];
    assert_eq!(labels["belt.grnry.io/invoke-of"], "draft");
    assert_eq!(labels["belt.grnry.io/project"], "global");
    let env = sent.pod["spec"]["containers"][0]["env"].as_array().unwrap();
    let belt_id = env.iter().find(|var| var["name"] == "BELT_ID").unwrap();
    assert_eq!(belt_id["value"], "");
    let callback = sent.secret["stringData"]["callback.py"].as_str().unwrap();
    assert!(callback.contains("event[\"id\"]"), "{callback}");
    let stand_in = i64::MAX.to_string();
    assert!(!sent.pod.to_string().contains(&stand_in), "{}", sent.pod);
    fake.assert_no_call().await;
}
