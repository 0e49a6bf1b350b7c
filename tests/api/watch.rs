//! The project's watch (docs/api.md#watch): 1,000 status changes made while a client reads are
//! each seen once and in order, a reader that disconnects resumes from its last id without
//! loss, a pruned resume point is 410, and a reader that does not read gets `resync`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backend_tests;
use crate::helpers::*;
use crate::reconciler::fakes::FakeRuntime;

backend_tests!(
    a_reader_sees_1000_changes_once_in_order_and_resumes_after_a_disconnect,
    a_pruned_resume_point_is_gone,
    a_reader_that_does_not_read_gets_resync,
);

async fn fake_app(backend: Backend, args: &[(&str, &str)]) -> TestApp {
    let options = Options {
        runtime: Some(Arc::new(FakeRuntime::default())),
        args: args
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    TestApp::spawn_with(backend, options).await
}

async fn belts(app: &TestApp, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..count {
        let belt = app
            .create_belt("global", &minimal_belt(&format!("w{n}")))
            .await;
        ids.push(belt["id"].as_str().unwrap().to_string());
    }
    ids
}

/// START, STOP, START… `times` times on each belt, the belts in parallel: one event each.
async fn toggle(app: &TestApp, ids: &[String], times: usize) {
    let runs = ids.iter().map(|id| async move {
        for n in 0..times {
            let action = if n % 2 == 0 { "START" } else { "STOP" };
            let path = format!("/projects/global/belts/{id}/state");
            let response = app
                .post(&path, &app.editor(), &json!({"action": action}))
                .await;
            assert_eq!(response.status(), StatusCode::OK, "{action} {id}");
        }
    });
    futures::future::join_all(runs).await;
}

async fn open(app: &TestApp, query: &str, last_event_id: Option<i64>) -> Response {
    let mut request = app.request(
        Method::GET,
        &format!("/projects/global/watch{query}"),
        Some(&app.viewer()),
    );
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    response
}

/// Reads lines until `enough` says stop; answers them parsed.
struct Lines {
    response: Response,
    pending: Vec<u8>,
}

impl Lines {
    async fn next(&mut self) -> Value {
        loop {
            if let Some(at) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=at).collect();
                return serde_json::from_slice(&line).unwrap();
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.response.chunk())
                .await
                .expect("a line within 30 s")
                .unwrap()
                .expect("the stream goes on");
            self.pending.extend_from_slice(&chunk);
        }
    }
}

async fn a_reader_sees_1000_changes_once_in_order_and_resumes_after_a_disconnect(backend: Backend) {
    let app = fake_app(backend, &[]).await;
    let ids = belts(&app, 4).await;
    let mut lines = Lines {
        response: open(&app, "", None).await,
        pending: Vec::new(),
    };
    let bookmark = lines.next().await;
    assert_eq!(bookmark["type"], "bookmark", "{bookmark}");
    let mut last = bookmark["id"].as_i64().unwrap();

    let producing = toggle(&app, &ids, 250);
    let reading = async {
        let mut seen = Vec::new();
        // 400 events, then the client leaves and comes back with the last id it saw.
        for _ in 0..400 {
            seen.push(lines.next().await);
        }
        last = seen.last().unwrap()["id"].as_i64().unwrap();
        drop(lines);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut again = Lines {
            response: open(&app, "", Some(last)).await,
            pending: Vec::new(),
        };
        while seen.len() < 1000 {
            seen.push(again.next().await);
        }
        seen
    };
    let ((), seen) = tokio::join!(producing, reading);

    let event_ids: Vec<i64> = seen.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(
        event_ids.windows(2).all(|w| w[0] < w[1]),
        "in order, each once"
    );
    for event in &seen {
        assert_eq!(event["type"], "event", "{event}");
        assert!(ids.contains(&event["beltId"].as_str().unwrap().to_string()));
    }
    // Exactly the changes the belts' histories hold, each belt's in its own order.
    let mut stored = BTreeSet::new();
    for id in &ids {
        let path = format!("/projects/global/belts/{id}/history?pagesize=250");
        let (_, history) = json_of(app.get(&path, &app.viewer()).await).await;
        let actions: Vec<&str> = history["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions.len(), 250);
        assert!(
            actions.iter().rev().step_by(2).all(|a| *a == "started"),
            "{actions:?}"
        );
        stored.extend(
            history["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        let watched: Vec<&str> = seen
            .iter()
            .filter(|e| e["beltId"] == id.as_str())
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(watched, actions.into_iter().rev().collect::<Vec<_>>());
    }
    assert_eq!(stored, event_ids.into_iter().collect::<BTreeSet<_>>());
}

async fn a_pruned_resume_point_is_gone(backend: Backend) {
    let app = fake_app(
        backend,
        &[
            ("--event-retention-per-project", "5"),
            ("--event-floor-per-belt", "0"),
            ("--event-prune-interval-ms", "100"),
        ],
    )
    .await;
    let ids = belts(&app, 1).await;
    toggle(&app, &ids, 20).await;
    let path = format!("/projects/global/belts/{}/history", ids[0]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, history) = json_of(app.get(&path, &app.viewer()).await).await;
        if history["totalCount"] == 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never pruned: {history}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    loop {
        let response = app
            .request(
                Method::GET,
                "/projects/global/watch?after=1",
                Some(&app.viewer()),
            )
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::GONE {
            let message = assert_error(response, StatusCode::GONE, "resync_required").await;
            assert!(message.contains("after 1"), "{message}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never pruned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The newest retained events still resume; a bad id names its parameter.
    let (_, history) = json_of(app.get(&path, &app.viewer()).await).await;
    assert_eq!(history["totalCount"], 5, "{history}");
    let oldest = history["items"][4]["id"].as_i64().unwrap();
    let mut lines = Lines {
        response: open(&app, &format!("?after={}", oldest - 1), None).await,
        pending: Vec::new(),
    };
    assert_eq!(lines.next().await["id"], oldest);
    let bad = app
        .request(
            Method::GET,
            "/projects/global/watch?after=x",
            Some(&app.viewer()),
        )
        .send()
        .await
        .unwrap();
    let message = assert_error(bad, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.contains("'after'"), "{message}");
    let denied = app
        .request(
            Method::GET,
            "/projects/global/watch",
            Some(&app.token("other", &["viewer"])),
        )
        .send()
        .await
        .unwrap();
    assert_error(denied, StatusCode::FORBIDDEN, "entity_not_accessible").await;
}

async fn a_reader_that_does_not_read_gets_resync(backend: Backend) {
    let app = fake_app(
        backend,
        &[("--watch-buffer", "4"), ("--watch-stall-ms", "300")],
    )
    .await;
    let ids = belts(&app, 1).await;
    // A raw connection with a small receive buffer that the test then does not read.
    let address = app.address.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    let request = format!(
        "GET /projects/global/watch?after=0 HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        app.viewer()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // The kernel's socket buffers take megabytes before the server sees a reader that does not
    // read; so many changes through the API would take minutes. A burst of 20,000 stored
    // events (12 MB of lines) behind the app's back, announced by one START, fills them at once.
    let reason = "x".repeat(500);
    app.execute_sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
         INSERT INTO belt_events (project, belt_id, at_ms, actor, action, version, from_status, \
         to_status, reason) SELECT 'global', {}, 0, 'belt-api', 'statusChanged', 1, 'RUNNING', \
         'FAILED', '{reason}' FROM n",
        ids[0]
    ))
    .await;
    toggle(&app, &ids, 1).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the stream ends")
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    let lines: Vec<Value> = text
        .split("\r\n")
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line.trim_end()).unwrap())
        .collect();
    let (resync, events) = lines.split_last().expect("lines");
    assert_eq!(resync["type"], "resync", "the last line: {resync}");
    assert!(
        events.len() < 20_000,
        "the reader fell behind before the end"
    );
    let event_ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(event_ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(resync["id"], *event_ids.last().unwrap(), "the last id sent");
}
