//! Logs that follow, since and previous on the local runtime, with real replica processes
//! (docs/api.md#logs). The replica script restarts itself: each run prints `run <n> ...` lines
//! and exits after a few, so the supervisor starts the next run.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use crate::running::{act, wait_for};

backend_tests!(
    follow_keeps_delivering_across_a_restart_and_ends_when_the_belt_stops,
    since_and_previous_select_lines_by_time_and_run,
);

/// Counts its runs in its work dir (its cwd).
const SCRIPT: &str = r#"#!/bin/sh
run=$(( $(cat runs 2>/dev/null || echo 0) + 1 ))
echo $run > runs
echo "run $run belt-host: ready"
for i in 1 2 3; do echo "run $run tick $i"; sleep 0.3; done
echo "run $run exiting"
exit 1
"#;

async fn spawn_restarting_app(backend: Backend) -> TestApp {
    let dir = tempfile::tempdir().unwrap().keep();
    let script = dir.join("replica.sh");
    std::fs::write(&script, SCRIPT).unwrap();
    let arg = |name: &str, value: String| (name.to_string(), value);
    TestApp::spawn_with(
        backend,
        Options {
            args: vec![
                arg("--local-command", format!("/bin/sh {}", script.display())),
                arg("--reconcile-interval-ms", "500".into()),
                arg("--local-restart-backoff-ms", "100".into()),
                arg("--local-stop-grace-ms", "2000".into()),
            ],
            ..Default::default()
        },
    )
    .await
}

async fn started_belt(app: &TestApp, name: &str) -> String {
    let belt = app.create_belt("global", &minimal_belt(name)).await;
    let id = belt["id"].as_str().unwrap().to_string();
    act(app, &id, "START").await;
    id
}

/// Reads one NDJSON stream a line at a time.
struct Lines {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Lines {
    /// The next line object; `None` when the stream ended.
    async fn next(&mut self, within: Duration) -> Option<Value> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Some(serde_json::from_slice(&line).expect("each line is JSON"));
            }
            let chunk = tokio::time::timeout(within, self.response.chunk())
                .await
                .expect("the stream stalled")
                .expect("the stream broke");
            match chunk {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => {
                    assert!(self.buffer.is_empty(), "a partial last line");
                    return None;
                }
            }
        }
    }
}

fn run_of(line: &Value) -> u32 {
    let text = line["line"].as_str().unwrap();
    let number = text
        .strip_prefix("run ")
        .and_then(|rest| rest.split(' ').next());
    number
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

async fn follow_keeps_delivering_across_a_restart_and_ends_when_the_belt_stops(backend: Backend) {
    let app = spawn_restarting_app(backend).await;
    let id = started_belt(&app, "restarting").await;
    let path = format!("/projects/global/belts/{id}/logs?follow=true");
    let response = app.get(&path, &app.editor()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let mut lines = Lines {
        response,
        buffer: Vec::new(),
    };
    // Every line of two whole runs after the first one seen, in order.
    let mut seen: Vec<(u32, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let first_run = loop {
        assert!(Instant::now() < deadline, "no second run: {seen:?}");
        let line = lines
            .next(Duration::from_secs(10))
            .await
            .expect("still open");
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["pod", "time", "line"], "{line}");
        assert!(line["pod"]
            .as_str()
            .unwrap()
            .starts_with(&format!("grnry-belt-{id}-")));
        assert!(line["time"].as_str().unwrap().ends_with('Z'), "{line}");
        let text = line["line"].as_str().unwrap().to_string();
        seen.push((run_of(&line), text));
        let first = seen[0].0;
        if seen
            .iter()
            .any(|(run, text)| *run == first + 2 && text.ends_with("exiting"))
        {
            break first;
        }
    };
    for run in [first_run + 1, first_run + 2] {
        let texts: Vec<&str> = seen
            .iter()
            .filter(|(r, _)| *r == run)
            .map(|(_, text)| text.as_str())
            .collect();
        let expected: Vec<String> = ["belt-host: ready", "tick 1", "tick 2", "tick 3", "exiting"]
            .iter()
            .map(|text| format!("run {run} {text}"))
            .collect();
        assert_eq!(texts, expected, "run {run}, all seen: {seen:?}");
    }

    act(&app, &id, "STOP").await;
    let ends_by = Instant::now() + Duration::from_secs(15);
    while lines.next(Duration::from_secs(15)).await.is_some() {
        assert!(
            Instant::now() < ends_by,
            "the stream did not end after STOP"
        );
    }
    // A stopped belt's follow ends at once, with no line.
    let response = app.get(&path, &app.editor()).await;
    let mut lines = Lines {
        response,
        buffer: Vec::new(),
    };
    assert_eq!(lines.next(Duration::from_secs(5)).await, None);
}

async fn since_and_previous_select_lines_by_time_and_run(backend: Backend) {
    let app = spawn_restarting_app(backend).await;
    let id = started_belt(&app, "restarting").await;
    let logs = |query: String| {
        let app = &app;
        let id = &id;
        async move {
            let path = format!("/projects/global/belts/{id}/logs?{query}");
            let (status, body) = json_of(app.get(&path, &app.editor()).await).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let pods = body["logs"].as_object().unwrap().clone();
            assert_eq!(pods.len(), 1, "{body}");
            let lines = pods.values().next().unwrap().as_array().unwrap().clone();
            (
                body,
                lines
                    .into_iter()
                    .map(|l| l.as_str().unwrap().to_string())
                    .collect::<Vec<_>>(),
            )
        }
    };
    // Wait for the third run, then the previous run is one whole run. The START's deploy is the
    // reconciler's, so the first answers may have no replica yet.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let path = format!("/projects/global/belts/{id}/logs");
        let (status, body) = json_of(app.get(&path, &app.editor()).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["logs"].to_string().contains("run 3 ") {
            break;
        }
        assert!(Instant::now() < deadline, "no third run: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (body, previous) = logs("previous=true".into()).await;
    assert!(body["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .ends_with("logs?lines=500&previous=true"));
    let texts: Vec<&str> = previous
        .iter()
        .map(|l| l.split_once(' ').unwrap().1)
        .collect();
    let run: u32 = texts[0].split(' ').nth(1).unwrap().parse().unwrap();
    let expected: Vec<String> = ["belt-host: ready", "tick 1", "tick 2", "tick 3", "exiting"]
        .iter()
        .map(|text| format!("run {run} {text}"))
        .collect();
    assert_eq!(texts, expected, "the previous run, whole: {previous:?}");
    assert!(run >= 2, "{previous:?}");

    // since: at or after a line's own time keeps it and drops what came before.
    let (_, all) = logs(String::new()).await;
    let middle = &all[all.len() / 2];
    let stamp = middle.split(' ').next().unwrap();
    let (_, since) = logs(format!("since={}", stamp.replace(':', "%3A"))).await;
    assert_eq!(since.first(), Some(middle), "{since:?}");
    let (_, recent) = logs("since=1h&lines=3".into()).await;
    assert_eq!(recent.len(), 3);
    // A bad since names it; a viewer still gets 403 first.
    for bad in ["since=yesterday", "since=5d", "previous=yes", "follow=1"] {
        let path = format!("/projects/global/belts/{id}/logs?{bad}");
        let response = app.get(&path, &app.editor()).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        let name = bad.split('=').next().unwrap();
        assert!(message.contains(&format!("'{name}'")), "{bad}: {message}");
        let response = app.get(&path, &app.viewer()).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{bad}");
    }
    act(&app, &id, "STOP").await;
    wait_for(&app, &id, "STOPPED").await;
    let (status, body) = json_of(
        app.get(
            &format!("/projects/global/belts/{id}/logs?previous=true"),
            &app.editor(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"totalCount": 0, "logs": {}}))
    );
}
