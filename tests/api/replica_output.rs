//! Replica output is an editor's (docs/api.md#who-sees-replica-output): a belt whose replica
//! prints and crashes shows what it printed to an editor, in `state`, history and the watch, and
//! to a viewer in no answer at all: not there, nor in the belt, the listing or the legacy paths.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use crate::running::{act, spawn_running_app, wait_for};

backend_tests!(a_viewer_finds_no_replica_output_in_any_answer_an_editor_does);

/// What the test replica prints before it exits 3 (`running.rs`): either may come last.
const PRINTED: [&str; 2] = ["boom: cannot start", "starting belt"];

fn quotes_output(text: &str) -> bool {
    PRINTED.iter().any(|line| text.contains(line))
}

/// Every answer a caller with `token` can read about belt `id`, as text.
async fn answers(app: &TestApp, id: &str, token: &str) -> Vec<(String, String)> {
    let paths = [
        format!("/projects/global/belts/{id}/state"),
        format!("/belts/{id}/state"),
        format!("/projects/global/belts/{id}/history?pagesize=250"),
        format!("/projects/global/belts/{id}"),
        format!("/belts/{id}"),
        "/projects/global/belts?expand=FAILED".to_string(),
        "/projects/global/belts".to_string(),
        format!("/projects/global/belts/{id}/revisions"),
    ];
    let mut found = Vec::new();
    for path in paths {
        let response = app.get(&path, token).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        found.push((path, response.text().await.unwrap()));
    }
    found.push(("watch".into(), watched_failure(app, id, token).await));
    found
}

/// The watch's lines from the start up to the belt's FAILED status change.
async fn watched_failure(app: &TestApp, id: &str, token: &str) -> String {
    let mut response = app
        .request(Method::GET, "/projects/global/watch?after=0", Some(token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut text = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk())
            .await
            .expect("the FAILED change within 30 s")
            .unwrap()
            .expect("the stream goes on");
        text.push_str(&String::from_utf8_lossy(&chunk));
        let failed = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .any(|line: Value| line["beltId"] == id && line["toStatus"] == "FAILED");
        if failed {
            return text;
        }
    }
}

/// The belt's statusChanged event to FAILED, as `token` reads it.
async fn failure_reason(app: &TestApp, id: &str, token: &str) -> String {
    let path = format!("/projects/global/belts/{id}/history?pagesize=250");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = json_of(app.get(&path, token).await).await;
        let items = body["items"].as_array().unwrap();
        if let Some(event) = items.iter().find(|e| e["toStatus"] == "FAILED") {
            return event["reason"].as_str().unwrap_or_default().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no FAILED event: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_viewer_finds_no_replica_output_in_any_answer_an_editor_does(backend: Backend) {
    let app = spawn_running_app(backend).await;
    let mut body = minimal_belt("prints-and-crashes");
    body["parameter"] = json!("fail");
    let belt = app.create_belt("global", &body).await;
    let id = belt["id"].as_str().unwrap().to_string();
    act(&app, &id, "START").await;
    wait_for(&app, &id, "FAILED").await;

    let editor = app.editor();
    let reason = failure_reason(&app, &id, &editor).await;
    assert!(
        reason.contains(" exited 3: ") && quotes_output(&reason),
        "an editor reads the last line: {reason}"
    );
    let editors: Vec<String> = answers(&app, &id, &editor)
        .await
        .into_iter()
        .filter(|(_, text)| quotes_output(text))
        .map(|(path, _)| path)
        .collect();
    for expected in ["/projects/global/belts/", "/belts/", "watch"] {
        assert!(
            editors.iter().any(|path| path.starts_with(expected)),
            "an editor sees the output under {expected}: {editors:?}"
        );
    }
    assert!(editors.iter().any(|p| p.ends_with("/state")), "{editors:?}");
    assert!(
        editors.iter().any(|p| p.contains("/history")),
        "{editors:?}"
    );

    let viewer = app.viewer();
    let reason = failure_reason(&app, &id, &viewer).await;
    assert!(
        reason.starts_with("replica ") && reason.ends_with(" exited 3"),
        "a viewer reads belt-api's words only: {reason}"
    );
    for (path, text) in answers(&app, &id, &viewer).await {
        assert!(
            !quotes_output(&text),
            "a viewer reads replica output in {path}: {text}"
        );
    }
    act(&app, &id, "STOP").await;
}
