//! Running belts on the local runtime: every cell of CONTRACT §7's transition table, logs, and
//! what a replica receives. Replicas run a small shell script that behaves by the belt's
//! `parameter` field: `hang` never gets ready, `fail` crashes at start, anything else gets ready.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    start_stop_and_outdated_follow_the_transition_table,
    deploying_and_failed_cells,
    logs_are_keyed_by_replica_and_bounded,
    partition_offsets_reach_only_the_first_start,
    delete_stops_the_replicas_first,
    a_callback_raising_at_import_is_failed_with_the_exception_in_state,
);

const SCRIPT: &str = r#"#!/bin/sh
echo "starting belt $BELT_ID version $BELT_VERSION offsets=${PARTITION_OFFSETS:-none} topics=$KAFKA_INPUT_TOPICS"
case "$PARAMETER" in
  hang) exec sleep 100000 ;;
  fail) echo "boom: cannot start" >&2; exit 3 ;;
  *) echo "belt-host: ready"; while true; do echo "No new messages, waiting for: 1s"; sleep 1; done ;;
esac
"#;

pub async fn spawn_running_app(backend: Backend) -> TestApp {
    spawn_running_app_with(backend, Vec::new()).await
}

/// As [`spawn_running_app`], with more `--flag value` pairs.
pub async fn spawn_running_app_with(backend: Backend, more: Vec<(String, String)>) -> TestApp {
    let dir = tempfile::tempdir().unwrap().keep();
    let script = dir.join("replica.sh");
    std::fs::write(&script, SCRIPT).unwrap();
    TestApp::spawn_with(
        backend,
        Options {
            args: vec![
                (
                    "--local-command".into(),
                    format!("/bin/sh {}", script.display()),
                ),
                ("--reconcile-interval-ms".into(), "500".into()),
                ("--local-restart-backoff-ms".into(), "100".into()),
                ("--local-stop-grace-ms".into(), "2000".into()),
            ]
            .into_iter()
            .chain(more)
            .collect(),
            ..Default::default()
        },
    )
    .await
}

pub async fn act(app: &TestApp, id: &str, action: &str) -> (StatusCode, Value) {
    json_of(
        app.post(
            &format!("/projects/global/belts/{id}/state"),
            &app.editor(),
            &json!({"action": action}),
        )
        .await,
    )
    .await
}

pub async fn state(app: &TestApp, id: &str) -> Value {
    let (status, body) = json_of(
        app.get(&format!("/projects/global/belts/{id}/state"), &app.viewer())
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub async fn wait_for(app: &TestApp, id: &str, wanted: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let body = state(app, id).await;
        if body["status"] == wanted {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "belt {id} never became {wanted}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn refused(app: &TestApp, id: &str, action: &str, status: &str) {
    let response = app
        .post(
            &format!("/projects/global/belts/{id}/state"),
            &app.editor(),
            &json!({"action": action}),
        )
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert_eq!(
        message,
        format!("Parameter 'state' cannot be '{action}' while Belt status is '{status}'.")
    );
}

async fn start_stop_and_outdated_follow_the_transition_table(backend: Backend) {
    let app = spawn_running_app(backend).await;
    let belt = app.create_belt("global", &minimal_belt("runner")).await;
    let id = belt["id"].as_str().unwrap();

    // STOPPED: STOP refused, START → DEPLOYING
    refused(&app, id, "STOP", "STOPPED").await;
    assert_eq!(
        act(&app, id, "start").await,
        (StatusCode::OK, json!({"status": "DEPLOYING"}))
    );
    // RUNNING: START refused; the document and the list say the same as /state
    let running = wait_for(&app, id, "RUNNING").await;
    assert_eq!(running["deploymentReplicas"], "1");
    assert!(
        running["podStatus"]
            .as_array()
            .is_some_and(|pods| pods.len() == 1),
        "{running}"
    );
    refused(&app, id, "START", "RUNNING").await;
    let (_, doc) = json_of(
        app.get(&format!("/projects/global/belts/{id}"), &app.viewer())
            .await,
    )
    .await;
    assert_eq!(doc["status"], "RUNNING");
    let (_, list) = json_of(
        app.get("/projects/global/belts?expand=RUNNING", &app.viewer())
            .await,
    )
    .await;
    assert_eq!(list["items"][0]["id"], id);

    // PUT while running does not redeploy: RUNNING_BUT_OUTDATED
    let mut edited = minimal_belt("runner");
    edited["description"] = json!("v2");
    assert_eq!(
        app.put(
            &format!("/projects/global/belts/{id}"),
            &app.editor(),
            &edited
        )
        .await
        .status(),
        StatusCode::OK
    );
    wait_for(&app, id, "RUNNING_BUT_OUTDATED").await;
    let (_, list) = json_of(
        app.get(
            "/projects/global/belts?expand=RUNNING_BUT_OUTDATED",
            &app.viewer(),
        )
        .await,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // RUNNING_BUT_OUTDATED: START redeploys the current version → DEPLOYING → RUNNING
    assert_eq!(
        act(&app, id, "START").await,
        (StatusCode::OK, json!({"status": "DEPLOYING"}))
    );
    wait_for(&app, id, "RUNNING").await;
    let logs = app
        .get(&format!("/projects/global/belts/{id}/logs"), &app.editor())
        .await;
    let (_, logs) = json_of(logs).await;
    let all = logs["logs"].to_string();
    assert!(all.contains("version 2"), "the new version runs: {all}");

    // Outdated again, then STOP from RUNNING_BUT_OUTDATED → STOPPED
    edited["description"] = json!("v3");
    app.put(
        &format!("/projects/global/belts/{id}"),
        &app.editor(),
        &edited,
    )
    .await;
    wait_for(&app, id, "RUNNING_BUT_OUTDATED").await;
    assert_eq!(
        act(&app, id, "STOP").await,
        (StatusCode::OK, json!({"status": "STOPPED"}))
    );
    assert_eq!(state(&app, id).await["status"], "STOPPED");

    // RUNNING → STOP → STOPPED
    act(&app, id, "START").await;
    wait_for(&app, id, "RUNNING").await;
    assert_eq!(
        act(&app, id, "STOP").await,
        (StatusCode::OK, json!({"status": "STOPPED"}))
    );
    let stopped_logs = json_of(
        app.get(&format!("/projects/global/belts/{id}/logs"), &app.editor())
            .await,
    )
    .await;
    assert_eq!(
        stopped_logs,
        (StatusCode::OK, json!({"totalCount": 0, "logs": {}}))
    );

    // If-Match guards state changes; the action is validated.
    let response = app
        .request(
            Method::POST,
            &format!("/projects/global/belts/{id}/state"),
            Some(&app.editor()),
        )
        .header("If-Match", "\"1\"")
        .json(&json!({"action": "START"}))
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await;
    let response = app
        .post(
            &format!("/projects/global/belts/{id}/state"),
            &app.editor(),
            &json!({"action": "RESTART"}),
        )
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.contains("'action'"), "{message}");
    // Viewers may look but not act.
    let response = app
        .post(
            &format!("/projects/global/belts/{id}/state"),
            &app.viewer(),
            &json!({"action": "START"}),
        )
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "entity_not_accessible").await;
}

async fn deploying_and_failed_cells(backend: Backend) {
    let app = spawn_running_app(backend).await;
    let mut body = minimal_belt("slow");
    body["parameter"] = json!("hang");
    let slow = app.create_belt("global", &body).await;
    let slow = slow["id"].as_str().unwrap();
    act(&app, slow, "START").await;
    // DEPLOYING: START refused, STOP → STOPPED
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(state(&app, slow).await["status"], "DEPLOYING");
    refused(&app, slow, "START", "DEPLOYING").await;
    assert_eq!(
        act(&app, slow, "STOP").await,
        (StatusCode::OK, json!({"status": "STOPPED"}))
    );

    let mut body = minimal_belt("broken");
    body["parameter"] = json!("fail");
    let broken = app.create_belt("global", &body).await;
    let broken = broken["id"].as_str().unwrap();
    act(&app, broken, "START").await;
    wait_for(&app, broken, "FAILED").await;
    let path = format!("/projects/global/belts/{broken}/state");
    let (_, failed) = json_of(app.get(&path, &app.editor()).await).await;
    let details = failed["podStatus"].to_string();
    assert!(
        details.contains("boom: cannot start"),
        "the last output is visible: {details}"
    );
    assert!(details.contains('3'), "the exit code is visible: {details}");
    // FAILED: START redeploys (→ DEPLOYING), STOP → STOPPED
    assert_eq!(
        act(&app, broken, "START").await,
        (StatusCode::OK, json!({"status": "DEPLOYING"}))
    );
    wait_for(&app, broken, "FAILED").await;
    assert_eq!(
        act(&app, broken, "STOP").await,
        (StatusCode::OK, json!({"status": "STOPPED"}))
    );
}

async fn logs_are_keyed_by_replica_and_bounded(backend: Backend) {
    let app = spawn_running_app(backend).await;
    let mut body = minimal_belt("chatty");
    body["replicas"] = json!(2);
    let belt = app.create_belt("global", &body).await;
    let id = belt["id"].as_str().unwrap();
    act(&app, id, "START").await;
    wait_for(&app, id, "RUNNING").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, logs) = json_of(
        app.get(
            &format!("/projects/global/belts/{id}/logs?lines=2"),
            &app.editor(),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(logs["totalCount"], 2);
    let per_pod = logs["logs"].as_object().unwrap();
    assert_eq!(per_pod.len(), 2);
    for (pod, lines) in per_pod {
        assert!(pod.starts_with(&format!("grnry-belt-{id}-")), "{pod}");
        let lines = lines.as_array().unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        for line in lines {
            let line = line.as_str().unwrap();
            let stamp = line.split(' ').next().unwrap();
            assert!(
                stamp.ends_with('Z') && stamp.contains('T'),
                "timestamp-prefixed: {line}"
            );
        }
    }
    assert!(logs["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/belts/{id}/logs?lines=2")));
    // POST answers the same; lines is bounded; viewers may not read logs.
    let response = app
        .request(
            Method::POST,
            &format!("/projects/global/belts/{id}/logs?lines=1"),
            Some(&app.editor()),
        )
        .send()
        .await
        .unwrap();
    let (_, posted) = json_of(response).await;
    assert_eq!(posted["totalCount"], 2);
    let response = app
        .get(
            &format!("/projects/global/belts/{id}/logs?lines=750"),
            &app.editor(),
        )
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert_eq!(
        message,
        "Parameter 'lines' must be in between 1 and 500 but is '750'."
    );
    let response = app
        .get(&format!("/projects/global/belts/{id}/logs"), &app.viewer())
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "entity_not_accessible").await;
    act(&app, id, "STOP").await;
}

async fn partition_offsets_reach_only_the_first_start(backend: Backend) {
    let app = spawn_running_app(backend).await;
    let mut body = minimal_belt("offsets");
    body["partitionOffsets"] = json!({"grnry_data_in_test-a": [3, 7]});
    let belt = app.create_belt("global", &body).await;
    let id = belt["id"].as_str().unwrap();
    let first_line = |logs: &Value| -> String {
        let pods = logs["logs"].as_object().unwrap();
        let lines = pods.values().next().unwrap().as_array().unwrap();
        lines
            .iter()
            .map(|l| l.as_str().unwrap())
            .find(|l| l.contains("starting belt"))
            .unwrap_or_default()
            .to_string()
    };
    // Each START runs a fresh generation; its replica logs the offsets it was handed first.
    let start_and_read_first_line = || async {
        act(&app, id, "START").await;
        wait_for(&app, id, "RUNNING").await;
        let path = format!("/projects/global/belts/{id}/logs");
        let (_, logs) = json_of(app.get(&path, &app.editor()).await).await;
        first_line(&logs)
    };
    let line = start_and_read_first_line().await;
    assert!(
        line.contains(r#"offsets={"grnry_data_in_test-a":[3,7]}"#),
        "{line}"
    );
    assert!(line.contains("topics=grnry_data_in_test-a"), "{line}");
    act(&app, id, "STOP").await;
    let line = start_and_read_first_line().await;
    assert!(
        line.contains("offsets=none"),
        "a later start continues from committed offsets: {line}"
    );
    act(&app, id, "STOP").await;
}

async fn delete_stops_the_replicas_first(backend: Backend) {
    let app = spawn_running_app(backend).await;
    let belt = app
        .create_belt("global", &minimal_belt("doomed-runner"))
        .await;
    let id = belt["id"].as_str().unwrap();
    act(&app, id, "START").await;
    wait_for(&app, id, "RUNNING").await;
    let work = app.data_dir.path().join("belts").join(id);
    assert!(work.exists(), "replica work dir exists while running");
    let (status, body) = json_of(
        app.delete(&format!("/projects/global/belts/{id}"), &app.editor())
            .await,
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"content": true})));
    assert!(!work.exists(), "replicas and their work dirs are gone");
    let response = app
        .get(&format!("/projects/global/belts/{id}/state"), &app.viewer())
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "entity_not_found").await;
}

async fn a_callback_raising_at_import_is_failed_with_the_exception_in_state(backend: Backend) {
    // The bundled Python belt host, as on the embedded default.
    let app = TestApp::spawn_with(
        backend,
        Options {
            args: vec![
                ("--reconcile-interval-ms".into(), "500".into()),
                ("--local-restart-backoff-ms".into(), "100".into()),
            ],
            ..Default::default()
        },
    )
    .await;
    let mut body = minimal_belt("raises");
    body["extractorFn"] = json!(
        "import os\nraise RuntimeError('profile store unreachable: ' + os.environ['BELT_ID'])\n\ndef execute(headers, event):\n    return []\n"
    );
    let belt = app.create_belt("global", &body).await;
    let id = belt["id"].as_str().unwrap();
    act(&app, id, "START").await;
    wait_for(&app, id, "FAILED").await;
    // What the replica printed is an editor's (replica_output.rs).
    let path = format!("/projects/global/belts/{id}/state");
    let (_, failed) = json_of(app.get(&path, &app.editor()).await).await;
    let details = failed["podStatus"].to_string();
    assert!(
        details.contains(&format!("RuntimeError: profile store unreachable: {id}")),
        "the exception is visible: {details}"
    );
    act(&app, id, "STOP").await;
}
