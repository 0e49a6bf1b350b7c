//! Test-invoke: the callback (or a draft) runs on sample events in the real sandbox (bubblewrap,
//! as in tests/sandbox.rs), and every way user code can go wrong comes back as an answer while
//! belt-api stays healthy.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    a_good_callback_answers_its_updates_within_two_seconds,
    with_the_source_header_on_updates_name_the_belt_version_and_the_sample,
    a_draft_replaces_the_stored_callback_for_one_call,
    a_syntax_error_is_an_import_failure_with_its_line,
    an_exception_on_one_event_leaves_the_others_their_updates,
    an_endless_loop_times_out_and_the_api_keeps_answering,
    a_memory_bomb_is_reported_and_the_api_stays_healthy,
    the_callback_sees_neither_the_data_dir_nor_the_api_environment,
    bad_bodies_roles_and_unknown_belts_are_refused,
    a_full_set_of_slots_answers_429_with_retry_after,
    without_the_sandbox_invocations_still_run,
    an_id_without_a_sandbox_uid_is_refused_by_name,
);

const STORED: &str = r#"
def execute(headers, event):
    print("handling", event["id"])
    return {"keys": [event["id"]], "type": "stored", "values": [{"value": event.get("v")}]}
"#;

async fn app_with(backend: Backend, args: &[(&str, &str)]) -> TestApp {
    TestApp::spawn_dev_with_args(backend, args).await
}

async fn belt(app: &TestApp) -> String {
    let mut body = minimal_belt(&format!("invoke-{}", unique_suffix()));
    body["extractorFn"] = json!(STORED);
    let created = app.create_belt("global", &body).await;
    created["id"].as_str().unwrap().to_string()
}

async fn invoke(app: &TestApp, id: &str, body: &Value) -> (StatusCode, Value) {
    let path = format!("/projects/global/belts/{id}/invoke");
    json_of(app.post(&path, &app.editor(), body).await).await
}

/// An answered invocation: 200, with one result per event.
async fn invoked(app: &TestApp, id: &str, body: &Value) -> Value {
    let (status, answer) = invoke(app, id, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let events = body["events"].as_array().unwrap().len();
    assert_eq!(
        answer["results"].as_array().unwrap().len(),
        events,
        "{answer}"
    );
    answer
}

fn event(id: i64) -> Value {
    json!({"headers": {"grnry-correlation-id": format!("c-{id}")}, "event": {"id": id, "v": id * 10}})
}

async fn a_good_callback_answers_its_updates_within_two_seconds(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let id = belt(&app).await;
    let started = Instant::now();
    let answer = invoked(&app, &id, &json!({"events": [event(1), event(2)]})).await;
    let took = started.elapsed();
    // The run itself, as belt-api measured it, within the 2 s the feature promises; the whole
    // HTTP round trip more generously, as the suite shares two cores with other builds.
    let run = answer["durationMs"].as_u64().unwrap();
    assert!(run < 2000, "the run took {run} ms: {answer}");
    assert!(took < Duration::from_secs(4), "took {took:?}: {answer}");
    assert_eq!(answer["outcome"], "completed", "{answer}");
    assert_eq!(answer["requirements"]["virtualenv"], "none", "{answer}");
    for (i, result) in answer["results"].as_array().unwrap().iter().enumerate() {
        let n = i as i64 + 1;
        let update = &result["updates"][0];
        assert_eq!(
            update["headers"]["grnry-correlation-id"],
            format!("c-{n}"),
            "{answer}"
        );
        // As a replica's updates: no provenance unless the platform asks for it.
        assert!(update["headers"].get("grnry-source").is_none(), "{answer}");
        assert_eq!(update["key"], n.to_string(), "{answer}");
        assert_eq!(update["value"]["values"][0]["value"], n * 10, "{answer}");
        assert_eq!(
            update["value"]["correlationId"],
            format!("c-{n}"),
            "{answer}"
        );
        assert!(
            update["topic"].as_str().is_some_and(|t| !t.is_empty()),
            "{answer}"
        );
        assert_eq!(result["stdout"], format!("handling {n}\n"), "{answer}");
        assert!(result.get("error").is_none(), "{answer}");
    }
}

async fn with_the_source_header_on_updates_name_the_belt_version_and_the_sample(backend: Backend) {
    let app = app_with(backend, &[("--record-source-header", "true")]).await;
    let id = belt(&app).await;
    let answer = invoked(&app, &id, &json!({"events": [event(1), event(2)]})).await;
    for (i, result) in answer["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            result["updates"][0]["headers"]["grnry-source"],
            format!("{id}/1/invoke/{i}"),
            "{answer}"
        );
    }
}

async fn a_draft_replaces_the_stored_callback_for_one_call(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let id = belt(&app).await;
    let draft = "def execute(headers, event):\n    return [{\"keys\": [\"draft\"]}, {\"keys\": [\"two\"]}]\n";
    let answer = invoked(
        &app,
        &id,
        &json!({"events": [event(1)], "extractorFn": draft}),
    )
    .await;
    let updates = answer["results"][0]["updates"].as_array().unwrap();
    assert_eq!(updates.len(), 2, "{answer}");
    assert_eq!(updates[0]["key"], "draft", "{answer}");
    // The draft was not stored: the next call runs the stored callback.
    let answer = invoked(&app, &id, &json!({"events": [event(1)]})).await;
    assert_eq!(
        answer["results"][0]["updates"][0]["value"]["type"],
        "stored"
    );
    let stored = app
        .get(&format!("/projects/global/belts/{id}"), &app.viewer())
        .await;
    let (_, document) = json_of(stored).await;
    assert_eq!(document["extractorFn"], STORED);
}

async fn a_syntax_error_is_an_import_failure_with_its_line(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let id = belt(&app).await;
    let draft = "import json\n\ndef execute(headers, event):\n    return {\"keys\": [1]\n";
    let answer = invoked(
        &app,
        &id,
        &json!({"events": [event(1)], "extractorFn": draft}),
    )
    .await;
    assert_eq!(answer["outcome"], "importFailed", "{answer}");
    let error = &answer["importError"];
    assert_eq!(error["type"], "SyntaxError", "{answer}");
    assert!(matches!(error["line"].as_u64(), Some(4 | 5)), "{answer}");
    assert!(
        error["traceback"].as_str().unwrap().contains("callback.py"),
        "{answer}"
    );
    assert_eq!(answer["results"][0]["error"]["type"], "NotRun", "{answer}");
}

async fn an_exception_on_one_event_leaves_the_others_their_updates(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let id = belt(&app).await;
    let draft = "def execute(headers, event):\n    if event['id'] == 2:\n        return event['id'] / 0\n    return {'keys': [event['id']]}\n";
    let events = json!([event(1), event(2), event(3)]);
    let answer = invoked(&app, &id, &json!({"events": events, "extractorFn": draft})).await;
    assert_eq!(answer["outcome"], "completed", "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[0]["updates"][0]["key"], "1", "{answer}");
    assert_eq!(results[2]["updates"][0]["key"], "3", "{answer}");
    let error = &results[1]["error"];
    assert_eq!(error["type"], "ZeroDivisionError", "{answer}");
    assert_eq!(error["line"], 3, "{answer}");
    let traceback = error["traceback"].as_str().unwrap();
    assert!(traceback.contains("callback.py\", line 3"), "{traceback}");
    assert!(
        !traceback.contains("belt_invoke.py"),
        "only the user's frames: {traceback}"
    );
}

async fn an_endless_loop_times_out_and_the_api_keeps_answering(backend: Backend) {
    let app = app_with(backend, &[("--invoke-timeout-ms", "1500")]).await;
    let id = belt(&app).await;
    let draft = "def execute(headers, event):\n    while event['id'] == 2:\n        pass\n    return {'keys': [1]}\n";
    let body = json!({"events": [event(1), event(2), event(3)], "extractorFn": draft});
    let started = Instant::now();
    let call = invoke(&app, &id, &body);
    let probe = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let asked = Instant::now();
        let ready = app
            .request(reqwest::Method::GET, "/ready", None)
            .send()
            .await
            .unwrap();
        (ready.status(), asked.elapsed())
    };
    let ((status, answer), (ready, ready_took)) = tokio::join!(call, probe);
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(ready, StatusCode::OK);
    assert!(
        ready_took < Duration::from_millis(500),
        "/ready took {ready_took:?}"
    );
    assert!(took >= Duration::from_millis(1500), "took {took:?}");
    assert!(took < Duration::from_millis(1500 + 3000), "took {took:?}");
    assert_eq!(answer["outcome"], "timedOut", "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(
        results[0]["updates"][0]["key"], "1",
        "finished before the loop: {answer}"
    );
    assert_eq!(results[1]["error"]["type"], "TimedOut", "{answer}");
    assert_eq!(results[2]["error"]["type"], "NotRun", "{answer}");
    let health = app
        .request(reqwest::Method::GET, "/health", None)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    // The work dir is gone once the call answers.
    let runs = app.data_dir.path().join("invoke/runs");
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 0);
}

async fn a_memory_bomb_is_reported_and_the_api_stays_healthy(backend: Backend) {
    let app = app_with(backend, &[("--invoke-memory-mb", "256")]).await;
    let id = belt(&app).await;
    let draft = "def execute(headers, event):\n    hog = []\n    while True:\n        hog.append(bytearray(16 * 1024 * 1024))\n";
    let answer = invoked(
        &app,
        &id,
        &json!({"events": [event(1)], "extractorFn": draft}),
    )
    .await;
    assert_eq!(answer["outcome"], "memoryExceeded", "{answer}");
    let error = &answer["results"][0]["error"];
    assert!(
        error["type"] == "MemoryError" || error["type"] == "MemoryExceeded",
        "{answer}"
    );
    let health = app
        .request(reqwest::Method::GET, "/health", None)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let again = invoked(&app, &id, &json!({"events": [event(1)]})).await;
    assert_eq!(again["outcome"], "completed", "{again}");
}

async fn the_callback_sees_neither_the_data_dir_nor_the_api_environment(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let id = belt(&app).await;
    let data_dir = std::fs::canonicalize(app.data_dir.path()).unwrap();
    let key = data_dir.join("dev-signing-key.pk8");
    assert!(key.is_file(), "dev mode writes its key");
    let mut paths = vec![key.display().to_string(), "/proc/1/environ".to_string()];
    if backend == Backend::Sqlite {
        paths.push(data_dir.join("belts.db").display().to_string());
    }
    let draft = "import os\ndef execute(headers, event):\n    seen = {}\n    for path in event['paths']:\n        try:\n            open(path, 'rb').read()\n            seen[path] = 'read'\n        except Exception as error:\n            seen[path] = type(error).__name__\n    return {'keys': ['k'], 'seen': seen, 'env': dict(os.environ)}\n";
    let body = json!({"events": [{"event": {"paths": paths}}], "extractorFn": draft});
    let answer = invoked(&app, &id, &body).await;
    let value = &answer["results"][0]["updates"][0]["value"];
    for path in &paths {
        assert_ne!(value["seen"][path], "read", "{path} was readable: {answer}");
        assert!(value["seen"][path].is_string(), "{answer}");
    }
    let env = value["env"].as_object().unwrap();
    assert_eq!(
        env["BELT_ID"],
        id.as_str(),
        "the replica's environment: {answer}"
    );
    for (name, own) in std::env::vars() {
        if ["PATH", "LANG", "HOME"].contains(&name.as_str()) || own.len() < 4 {
            continue;
        }
        assert_ne!(
            env.get(&name).and_then(Value::as_str),
            Some(own.as_str()),
            "{name} leaked"
        );
    }
}

async fn bad_bodies_roles_and_unknown_belts_are_refused(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let id = belt(&app).await;
    let path = format!("/projects/global/belts/{id}/invoke");
    let many: Vec<Value> = (0..101).map(event).collect();
    let message = assert_error(
        app.post(&path, &app.editor(), &json!({"events": many}))
            .await,
        StatusCode::BAD_REQUEST,
        "bad_parameter_value",
    )
    .await;
    assert!(message.contains("'events'"), "{message}");
    for (body, field) in [
        (json!({}), "'events'"),
        (json!({"events": [{"headers": {}}]}), "events[0].event"),
        (
            json!({"events": [{"event": 1, "headers": {"a": 1}}]}),
            "events[0].headers",
        ),
        (
            json!({"events": [{"event": 1, "headers": ["a"]}]}),
            "events[0].headers",
        ),
        (
            json!({"events": [event(1)], "extractorFn": 7}),
            "extractorFn",
        ),
        (
            json!({"events": [event(1)], "requirementsPy": "not a requirement !!"}),
            "requirementsPy",
        ),
    ] {
        let response = app.post(&path, &app.editor(), &body).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(message.contains(field), "{body}: {message}");
    }
    let body = json!({"events": [event(1)]});
    let viewer = app.post(&path, &app.viewer(), &body).await;
    assert_error(viewer, StatusCode::FORBIDDEN, "entity_not_accessible").await;
    let unknown = app
        .post("/projects/global/belts/999999/invoke", &app.editor(), &body)
        .await;
    assert_error(unknown, StatusCode::NOT_FOUND, "entity_not_found").await;
    let legacy = app
        .post(&format!("/belts/{id}/invoke"), &app.editor(), &body)
        .await;
    assert_eq!(legacy.status(), StatusCode::OK);
}

async fn a_full_set_of_slots_answers_429_with_retry_after(backend: Backend) {
    let app = app_with(
        backend,
        &[
            ("--invoke-concurrency", "1"),
            ("--invoke-timeout-ms", "5000"),
        ],
    )
    .await;
    let id = belt(&app).await;
    let slow = "import time\ndef execute(headers, event):\n    time.sleep(2)\n    return {'keys': ['slow']}\n";
    let body = json!({"events": [event(1)], "extractorFn": slow});
    let first = invoke(&app, &id, &body);
    let second = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let path = format!("/projects/global/belts/{id}/invoke");
        let response = app
            .post(&path, &app.editor(), &json!({"events": [event(2)]}))
            .await;
        let retry_after = response.headers().get("retry-after").cloned();
        let message =
            assert_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
        (retry_after, message)
    };
    let ((status, answer), (retry_after, message)) = tokio::join!(first, second);
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["outcome"], "completed", "{answer}");
    let retry_after: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=5).contains(&retry_after), "{retry_after}");
    assert!(message.contains("busy"), "{message}");
    // The slot is free again.
    let answer = invoked(&app, &id, &json!({"events": [event(3)]})).await;
    assert_eq!(answer["outcome"], "completed", "{answer}");
}

async fn without_the_sandbox_invocations_still_run(backend: Backend) {
    let app = app_with(backend, &[("--local-sandbox", "none")]).await;
    let id = belt(&app).await;
    let answer = invoked(&app, &id, &json!({"events": [event(1)]})).await;
    assert_eq!(answer["outcome"], "completed", "{answer}");
    assert_eq!(answer["results"][0]["updates"][0]["key"], "1", "{answer}");
}

/// Needs PyPI: the belt's requirements are built into a virtualenv once and reused after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requirements_are_built_once_and_reused() {
    let app = app_with(Backend::Sqlite, &[("--invoke-timeout-ms", "20000")]).await;
    let id = belt(&app).await;
    let draft = "import six\ndef execute(headers, event):\n    return {'keys': [six.__name__]}\n";
    let body = json!({"events": [event(1)], "extractorFn": draft, "requirementsPy": "six==1.16.0"});
    let answer = invoked(&app, &id, &body).await;
    assert_eq!(answer["requirements"]["virtualenv"], "built", "{answer}");
    assert_eq!(answer["outcome"], "completed", "{answer}");
    assert_eq!(answer["results"][0]["updates"][0]["key"], "six", "{answer}");
    let again = invoked(&app, &id, &body).await;
    assert_eq!(again["requirements"]["virtualenv"], "reused", "{again}");
    assert_eq!(again["results"][0]["updates"][0]["key"], "six", "{again}");
}

/// As root a run gets its belt's own uid (base + id); an id with no such uid is refused with the
/// id named, never run as another uid and never a 500 (the OpenAPI fuzzer found the 500).
async fn an_id_without_a_sandbox_uid_is_refused_by_name(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let mut body = minimal_belt(&format!("invoke-{}", unique_suffix()));
    body["extractorFn"] = json!(STORED);
    let id = "475257405417172608";
    let created = app
        .post(
            &format!("/belts/{id}"),
            &app.token("global", &["editor"]),
            &body,
        )
        .await;
    assert_eq!(created.status(), StatusCode::OK);
    let response = app
        .post(
            &format!("/belts/{id}/invoke"),
            &app.token("global", &["editor"]),
            &json!({"events": [{"event": {"id": "7"}}]}),
        )
        .await;
    // Root: what this test process creates is owned by uid 0 (belt-api runs as the same user).
    let probe = tempfile::tempfile().unwrap();
    let root = std::os::unix::fs::MetadataExt::uid(&probe.metadata().unwrap()) == 0;
    if root {
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(message.starts_with("Parameter 'beltId' "), "{message}");
    } else {
        assert_eq!(response.status(), StatusCode::OK);
    }
}
