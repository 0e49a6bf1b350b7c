//! Many writers on one belt at once: a write without `If-Match` never fails for contention (the
//! last writer wins, each with its own version), and of writers naming one version exactly one
//! wins.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use crate::running::spawn_running_app;

backend_tests!(
    blind_concurrent_puts_all_succeed_with_distinct_versions,
    concurrent_puts_naming_one_version_have_exactly_one_winner,
    blind_concurrent_start_and_stop_never_answer_412,
);

const WRITERS: usize = 200;

/// Sends every request at once and returns (status, body) per request, in order.
async fn all_at_once<F>(count: usize, request: F) -> Vec<(StatusCode, Value)>
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(count));
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let request = request(i);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                json_of(request.send().await.unwrap()).await
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(count);
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// 200 writers queue on one row and 4 pooled connections: on a loaded 2-core CI machine the last
/// may wait longer than the suite's usual 2 s dependency timeout, which would answer 503. The
/// property under test is "never 412", not speed.
async fn patient_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            args: vec![("--dependency-timeout-ms".into(), "30000".into())],
            ..Options::default()
        },
    )
    .await
}

async fn blind_concurrent_puts_all_succeed_with_distinct_versions(backend: Backend) {
    let app = patient_app(backend).await;
    let created = app.create_belt("global", &minimal_belt("raced")).await;
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/projects/global/belts/{id}");
    let token = app.editor();
    let answers = all_at_once(WRITERS, |i| {
        app.request(reqwest::Method::PUT, &path, Some(&token))
            .json(&json!({"name": "raced", "eventTypes": ["test-a"], "description": format!("writer {i}")}))
    })
    .await;
    let mut versions = BTreeSet::new();
    for (i, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, StatusCode::OK, "writer {i}: {body}");
        assert_eq!(body["description"], format!("writer {i}"), "writer {i}");
        versions.insert(body["version"].as_str().unwrap().parse::<u64>().unwrap());
    }
    assert_eq!(versions.len(), WRITERS, "every writer got its own version");
    assert_eq!(
        versions,
        (2..=WRITERS as u64 + 1).collect::<BTreeSet<_>>(),
        "versions 2..=201, no gap"
    );
    let (_, last) = json_of(app.get(&path, &token).await).await;
    assert_eq!(
        last["version"],
        (WRITERS + 1).to_string(),
        "1 + effective changes"
    );
    let winner: usize = last["description"]
        .as_str()
        .unwrap()
        .trim_start_matches("writer ")
        .parse()
        .unwrap();
    let (_, winner_body) = &answers[winner];
    assert_eq!(
        winner_body["version"], last["version"],
        "the last writer won"
    );
}

async fn concurrent_puts_naming_one_version_have_exactly_one_winner(backend: Backend) {
    let app = patient_app(backend).await;
    let created = app.create_belt("global", &minimal_belt("guarded")).await;
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/projects/global/belts/{id}");
    let token = app.editor();
    for round in 1..=3u64 {
        let answers = all_at_once(50, |i| {
            app.request(reqwest::Method::PUT, &path, Some(&token))
                .header("If-Match", format!("\"{round}\""))
                .json(&json!({"name": "guarded", "eventTypes": ["test-a"], "description": format!("{round}/{i}")}))
        })
        .await;
        let winners: Vec<_> = answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        assert_eq!(winners[0].1["version"], (round + 1).to_string());
        for (status, body) in &answers {
            assert!(
                *status == StatusCode::OK
                    || (*status == StatusCode::PRECONDITION_FAILED
                        && body["type"] == "precondition_failed"),
                "round {round}: {status} {body}"
            );
        }
    }
    let (_, last) = json_of(app.get(&path, &token).await).await;
    assert_eq!(last["version"], "4");
}

async fn blind_concurrent_start_and_stop_never_answer_412(backend: Backend) {
    let app = spawn_running_app(backend).await;
    let created = app.create_belt("global", &minimal_belt("toggled")).await;
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/projects/global/belts/{id}/state");
    let token = app.editor();
    let answers = all_at_once(100, |i| {
        let action = if i % 2 == 0 { "START" } else { "STOP" };
        app.request(reqwest::Method::POST, &path, Some(&token))
            .json(&json!({"action": action}))
    })
    .await;
    let mut stored = 0;
    for (status, body) in &answers {
        match *status {
            StatusCode::OK => stored += 1,
            // The action does not apply to the status the previous writer left.
            StatusCode::BAD_REQUEST => {
                assert_eq!(body["type"], "bad_parameter_value", "{body}");
                assert!(
                    body["message"]
                        .as_str()
                        .unwrap()
                        .contains("while Belt status is"),
                    "{body}"
                );
            }
            other => panic!("a blind START/STOP answered {other}: {body}"),
        }
    }
    assert!(stored >= 1, "{answers:?}");
    // Leave nothing running.
    let _ = app.post(&path, &token, &json!({"action": "STOP"})).await;
}
