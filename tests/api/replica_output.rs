//! Replica output is an editor's (docs/api.md#who-sees-replica-output): a belt whose replica
//! prints and crashes shows what it printed to an editor, in `state`, history and the watch, and
//! to a viewer in no answer at all: not there, nor in the belt, the listing or the legacy paths.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use crate::running::{act, spawn_running_app, wait_for};

backend_tests!(
    a_viewer_finds_no_replica_output_in_any_answer_an_editor_does,
    events_recorded_before_the_rule_keep_their_output_from_viewers_too,
);

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

async fn run_sql(backend: Backend, url: &str, statements: &[String]) {
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            for statement in statements {
                sqlx::query(statement).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            for statement in statements {
                sqlx::query(statement).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
    }
}

/// Reasons stored before the output had its own column quoted it after `exited N: `: migration
/// 0008 moves it there, so a viewer does not read it in old events either.
async fn events_recorded_before_the_rule_keep_their_output_from_viewers_too(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}/belts.db", dir.path().display()),
        Backend::Postgres => fresh_postgres_database().await,
    };
    let options = || Options {
        database_url: Some(url.clone()),
        ..Options::default()
    };
    let app = TestApp::spawn_with(backend, options()).await;
    let belt = app.create_belt("global", &minimal_belt("old")).await;
    let id = belt["id"].as_str().unwrap().to_string();
    drop(app);
    let legacy = |at: i64, to: &str, reason: &str| {
        format!(
            "INSERT INTO belt_events (project, belt_id, at_ms, actor, action, version, \
             from_status, to_status, reason) VALUES ('global', {id}, {at}, 'belt-api', \
             'statusChanged', 1, 'DEPLOYING', '{to}', '{reason}')"
        )
    };
    // The database as it was before migration 0008, with two events it recorded.
    run_sql(
        backend,
        &url,
        &[
            legacy(
                1,
                "FAILED",
                "replica grnry-belt-1-1-0 exited 1: ImportError: secret line",
            ),
            legacy(
                2,
                "DEPLOYING",
                "replica p waiting (CrashLoopBackOff): back-off 10s",
            ),
            "ALTER TABLE belt_events DROP COLUMN output".into(),
            "DELETE FROM _sqlx_migrations WHERE version = 8".into(),
        ],
    )
    .await;

    let app = TestApp::spawn_with(backend, options()).await;
    let reasons = |token: String| {
        let app = &app;
        let id = &id;
        async move {
            let path = format!("/projects/global/belts/{id}/history");
            let (_, body) = json_of(app.get(&path, &token).await).await;
            let items = body["items"].as_array().unwrap().clone();
            items
                .iter()
                .filter(|e| e["action"] == "statusChanged")
                .map(|e| e["reason"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        reasons(app.viewer()).await,
        [
            "replica p waiting (CrashLoopBackOff): back-off 10s",
            "replica grnry-belt-1-1-0 exited 1",
        ]
    );
    assert_eq!(
        reasons(app.editor()).await,
        [
            "replica p waiting (CrashLoopBackOff): back-off 10s",
            "replica grnry-belt-1-1-0 exited 1: ImportError: secret line",
        ]
    );
}
