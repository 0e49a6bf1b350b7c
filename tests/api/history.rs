//! A belt's history (docs/api.md#history): each write with its actor and the status it moved
//! from and to, the runtime's status changes with their reason, paging and roles.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use crate::running::{act, spawn_running_app, wait_for};

backend_tests!(
    history_lists_each_write_with_its_actor_and_statuses_newest_first,
    a_replica_that_exits_records_a_status_change_with_its_exit,
    history_pages_like_the_listing_and_needs_a_role,
    belts_from_before_the_event_log_get_their_creation_as_history,
);

pub async fn history(app: &TestApp, id: &str, query: &str) -> Value {
    let path = format!("/projects/global/belts/{id}/history{query}");
    let (status, body) = json_of(app.get(&path, &app.viewer()).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Polls the history until an event satisfies `wanted`.
async fn wait_for_event(app: &TestApp, id: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let body = history(app, id, "?pagesize=250").await;
        if let Some(event) = body["items"].as_array().unwrap().iter().find(|e| wanted(e)) {
            return event.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no such event: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (action, actor, version, fromStatus, toStatus) of each item.
fn steps(body: &Value) -> Vec<(String, String, Value, Value, Value)> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["actor"].as_str().unwrap().to_string(),
                e["version"].clone(),
                e["fromStatus"].clone(),
                e["toStatus"].clone(),
            )
        })
        .collect()
}

fn step(
    action: &str,
    actor: &str,
    version: i64,
    from: Value,
    to: Value,
) -> (String, String, Value, Value, Value) {
    (action.into(), actor.into(), json!(version), from, to)
}

async fn history_lists_each_write_with_its_actor_and_statuses_newest_first(backend: Backend) {
    let app = spawn_running_app(backend).await;
    let mut body = minimal_belt("audited");
    let belt = app.create_belt("global", &body).await;
    let id = belt["id"].as_str().unwrap().to_string();
    let author = belt["createdBy"]["name"].as_str().unwrap().to_string();
    let path = format!("/projects/global/belts/{id}");
    body["description"] = json!("second");
    assert_eq!(
        app.put(&path, &app.editor(), &body).await.status(),
        StatusCode::OK
    );
    act(&app, &id, "START").await;
    wait_for(&app, &id, "RUNNING").await;
    wait_for_event(&app, &id, |e| e["action"] == "statusChanged").await;
    body["description"] = json!("third");
    assert_eq!(
        app.put(&path, &app.editor(), &body).await.status(),
        StatusCode::OK
    );
    act(&app, &id, "STOP").await;
    wait_for(&app, &id, "STOPPED").await;
    assert!(app.delete(&path, &app.editor()).await.status().is_success());

    let body = history(&app, &id, "").await;
    let s = |text: &str| json!(text);
    assert_eq!(
        steps(&body),
        vec![
            step("deleted", "belt-api", 3, Value::Null, Value::Null),
            step("deleteRequested", &author, 3, s("STOPPED"), Value::Null),
            step(
                "stopped",
                &author,
                3,
                s("RUNNING_BUT_OUTDATED"),
                s("STOPPED")
            ),
            step(
                "replaced",
                &author,
                3,
                s("RUNNING"),
                s("RUNNING_BUT_OUTDATED")
            ),
            step("statusChanged", "belt-api", 2, s("DEPLOYING"), s("RUNNING")),
            step("started", &author, 2, s("STOPPED"), s("DEPLOYING")),
            step("replaced", &author, 2, s("STOPPED"), s("STOPPED")),
            step("created", &author, 1, Value::Null, s("STOPPED")),
        ],
        "{body}"
    );
    assert_eq!(body["totalCount"], 8);
    let ids: Vec<i64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    for item in body["items"].as_array().unwrap() {
        let time = item["time"].as_str().unwrap();
        assert!(
            time.ends_with('Z') && time.len() == 24,
            "RFC 3339 UTC: {time}"
        );
    }
}

async fn a_replica_that_exits_records_a_status_change_with_its_exit(backend: Backend) {
    let app = spawn_running_app(backend).await;
    let mut body = minimal_belt("broken");
    body["parameter"] = json!("fail");
    let belt = app.create_belt("global", &body).await;
    let id = belt["id"].as_str().unwrap().to_string();
    act(&app, &id, "START").await;
    wait_for(&app, &id, "FAILED").await;
    let failed = wait_for_event(&app, &id, |e| e["toStatus"] == "FAILED").await;
    // The output after the exit is an editor's (replica_output.rs).
    let path = format!("/projects/global/belts/{id}/history");
    let (_, editors) = json_of(app.get(&path, &app.editor()).await).await;
    let failed = editors["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == failed["id"])
        .unwrap()
        .clone();
    assert_eq!(failed["action"], "statusChanged", "{failed}");
    assert_eq!(failed["actor"], "belt-api");
    assert_eq!(failed["fromStatus"], "DEPLOYING");
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(
        // The last line of output: stdout and stderr are read apart, so either may come last.
        reason.starts_with("replica ") && reason.contains(" exited 3: "),
        "the exit code and the last line of output: {failed}"
    );
    act(&app, &id, "STOP").await;
}

async fn history_pages_like_the_listing_and_needs_a_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut body = minimal_belt("paged");
    let belt = app.create_belt("global", &body).await;
    let id = belt["id"].as_str().unwrap().to_string();
    let path = format!("/projects/global/belts/{id}");
    for n in 0..4 {
        body["description"] = json!(format!("edit {n}"));
        assert_eq!(
            app.put(&path, &app.editor(), &body).await.status(),
            StatusCode::OK
        );
    }
    let page = history(&app, &id, "?pagesize=2&offset=2").await;
    assert_eq!(page["totalCount"], 5);
    let versions: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![3, 2]);
    let links = &page["_links"];
    assert!(
        links["next"]["href"].as_str().unwrap().ends_with(&format!(
            "/projects/global/belts/{id}/history?offset=4&pagesize=2"
        )),
        "{links}"
    );
    assert!(
        links["prev"]["href"].as_str().unwrap().contains("offset=0"),
        "{links}"
    );
    let last = history(&app, &id, "?pagesize=2&offset=4").await;
    assert!(last["_links"]["next"].is_null(), "{last}");

    let history_path = format!("{path}/history");
    let bad = app
        .get(&format!("{history_path}?pagesize=251"), &app.viewer())
        .await;
    let message = assert_error(bad, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.contains("pagesize"), "{message}");
    let elsewhere = app.token("other", &["editor"]);
    let denied = app.get(&history_path, &elsewhere).await;
    assert_error(denied, StatusCode::FORBIDDEN, "entity_not_accessible").await;
    let missing = app
        .get("/projects/global/belts/999999/history", &app.viewer())
        .await;
    assert_error(missing, StatusCode::NOT_FOUND, "entity_not_found").await;
    // The v2 API only.
    let legacy = app
        .get(&format!("/belts/{id}/history"), &app.viewer())
        .await;
    assert_eq!(legacy.status(), StatusCode::NOT_FOUND);
}

/// Makes the database look as if `belt`'s events had never been kept and the backfill had not run.
async fn forget_history(backend: Backend, url: &str, belt: &str) {
    let belt: i64 = belt.parse().unwrap();
    let statements = [
        format!("DELETE FROM belt_events WHERE belt_id = {belt}"),
        "DELETE FROM _sqlx_migrations WHERE version = 6".to_string(),
    ];
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            for statement in &statements {
                sqlx::query(statement).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            for statement in &statements {
                sqlx::query(statement).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
    }
}

async fn belts_from_before_the_event_log_get_their_creation_as_history(backend: Backend) {
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
    let older = app.create_belt("global", &minimal_belt("older")).await;
    let newer = app.create_belt("global", &minimal_belt("newer")).await;
    let (older_id, newer_id) = (older["id"].as_str().unwrap(), newer["id"].as_str().unwrap());
    let kept = history(&app, newer_id, "").await;
    drop(app);
    forget_history(backend, &url, older_id).await;

    // The next start runs the backfill again: only the belt without events gets one.
    let app = TestApp::spawn_with(backend, options()).await;
    let body = history(&app, older_id, "").await;
    assert_eq!(body["totalCount"], 1, "{body}");
    let event = &body["items"][0];
    assert_eq!(event["action"], "created", "{event}");
    assert_eq!(event["actor"], older["createdBy"]["name"], "{event}");
    assert_eq!(event["time"], older["createdAt"], "{event}");
    assert_eq!(
        (&event["fromStatus"], &event["toStatus"]),
        (&Value::Null, &json!("STOPPED"))
    );
    let reason = event["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("earlier changes were not recorded"),
        "{event}"
    );
    assert_eq!(history(&app, newer_id, "").await["items"], kept["items"]);
}
