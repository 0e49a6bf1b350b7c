//! START and STOP by selector (docs/api.md#bulk-start-and-stop): each selected belt goes through
//! the single START/STOP, and the answer says per belt what happened, refusals in the single
//! endpoint's words.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use crate::running::{act, spawn_running_app, wait_for};

backend_tests!(
    bulk_start_of_failed_and_stopped_belts_answers_per_belt,
    bulk_needs_an_editor_and_a_selector,
    bulk_acts_on_at_most_1000_belts,
);

async fn bulk(app: &TestApp, query: &str, action: &str) -> reqwest::Response {
    let url = format!("/projects/global/belts/state{query}");
    app.post(&url, &app.editor(), &json!({"action": action}))
        .await
}

async fn bulk_ok(app: &TestApp, query: &str, action: &str) -> Value {
    let (status, body) = json_of(bulk(app, query, action).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["totalCount"],
        body["results"].as_array().unwrap().len(),
        "{body}"
    );
    body
}

async fn create(app: &TestApp, name: &str, parameter: Option<&str>) -> String {
    let mut body = minimal_belt(name);
    if let Some(parameter) = parameter {
        body["parameter"] = json!(parameter);
    }
    app.create_belt("global", &body).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn bulk_start_of_failed_and_stopped_belts_answers_per_belt(backend: Backend) {
    let app = spawn_running_app(backend).await;
    let broken = create(&app, "bulk-broken", Some("fail")).await;
    let idle = create(&app, "bulk-ok-idle", None).await;
    let busy = create(&app, "bulk-ok-busy", None).await;
    act(&app, &broken, "START").await;
    act(&app, &busy, "START").await;
    wait_for(&app, &broken, "FAILED").await;
    wait_for(&app, &busy, "RUNNING").await;

    // The running belt is not selected; the others restart, in id order.
    let answer = bulk_ok(&app, "?status=FAILED,STOPPED", "START").await;
    assert_eq!(
        answer,
        json!({"totalCount": 2, "results": [
            {"id": broken, "outcome": "changed", "status": "DEPLOYING"},
            {"id": idle, "outcome": "changed", "status": "DEPLOYING"},
        ]})
    );
    wait_for(&app, &idle, "RUNNING").await;

    // A START of running belts is refused per belt, as the single START refuses it.
    let answer = bulk_ok(&app, "?search=OK-", "start").await;
    let results = answer["results"].as_array().unwrap();
    assert_eq!(answer["totalCount"], 2, "{answer}");
    for (result, id) in results.iter().zip([&idle, &busy]) {
        assert_eq!(
            (result["id"].as_str(), result["outcome"].as_str()),
            (Some(id.as_str()), Some("refused"))
        );
        assert_eq!(result["status"], "RUNNING");
        let error = &result["error"];
        assert_eq!(error["type"], "bad_parameter_value", "{error}");
        assert_eq!(
            error["message"],
            "Parameter 'state' cannot be 'START' while Belt status is 'RUNNING'."
        );
        assert_eq!(
            error["details"],
            format!("uri=/projects/global/belts/{id}/state")
        );
        assert!(error["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
    }

    // Both filters together: running belts whose name matches.
    let answer = bulk_ok(&app, "?status=RUNNING&search=ok-", "STOP").await;
    let stopped: Vec<(&str, &str)> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stopped,
        vec![("changed", "STOPPED"), ("changed", "STOPPED")]
    );
    wait_for(&app, &busy, "STOPPED").await;
    let answer = bulk_ok(&app, "?status=RUNNING&search=ok-", "STOP").await;
    assert_eq!(answer, json!({"totalCount": 0, "results": []}));
    bulk_ok(&app, "?search=bulk-broken", "STOP").await;
}

async fn bulk_needs_an_editor_and_a_selector(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create(&app, "one", None).await;
    let url = "/projects/global/belts/state?status=STOPPED";
    let viewer = app
        .post(url, &app.viewer(), &json!({"action": "STOP"}))
        .await;
    assert_error(viewer, StatusCode::FORBIDDEN, "entity_not_accessible").await;

    let message = assert_error(
        bulk(&app, "", "STOP").await,
        StatusCode::BAD_REQUEST,
        "bad_parameter_value",
    )
    .await;
    assert!(
        message.contains("'status' or 'search' is required"),
        "{message}"
    );
    let message = assert_error(
        bulk(&app, "?status=ASLEEP", "STOP").await,
        StatusCode::BAD_REQUEST,
        "bad_parameter_value",
    )
    .await;
    assert!(
        message.starts_with("Parameter 'status'") && message.contains("ASLEEP"),
        "{message}"
    );
    // The search is bounded as the listing's, with the listing's words.
    let long = format!("?search={}", "x".repeat(1025));
    let message = assert_error(
        bulk(&app, &long, "STOP").await,
        StatusCode::BAD_REQUEST,
        "bad_parameter_value",
    )
    .await;
    let listed = app
        .get(&format!("/projects/global/belts{long}"), &app.viewer())
        .await;
    let listed = assert_error(listed, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.starts_with("Parameter 'search'"), "{message}");
    assert_eq!(message, listed);
    let message = assert_error(
        bulk(&app, "?search=one", "NAP").await,
        StatusCode::BAD_REQUEST,
        "bad_parameter_value",
    )
    .await;
    let single = assert_error(
        app.post(
            "/projects/global/belts/1/state",
            &app.editor(),
            &json!({"action": "NAP"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_parameter_value",
    )
    .await;
    assert_eq!(
        message, single,
        "a bad action is refused in the single endpoint's words"
    );

    // An empty search is a selector: every belt of the project.
    let answer = bulk_ok(&app, "?search=", "STOP").await;
    assert_eq!(answer["results"][0]["outcome"], "refused");
    assert_eq!(
        answer["results"][0]["error"]["message"],
        "Parameter 'state' cannot be 'STOP' while Belt status is 'STOPPED'."
    );
}

async fn bulk_acts_on_at_most_1000_belts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let template = create(&app, "template", None).await;
    // 1,001 more stopped belts, written behind the app's back to keep the test quick.
    app.execute_sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1001) \
         INSERT INTO belts (id, project, name, name_folded, version, spec, created_by_name, \
         created_by_email, created_at_ms, modified_by_name, modified_by_email, modified_at_ms) \
         SELECT 100000 + i, 'global', 'many-' || i, 'many-' || i, 1, b.spec, \
         b.created_by_name, b.created_by_email, b.created_at_ms, b.modified_by_name, \
         b.modified_by_email, b.modified_at_ms FROM n, belts b WHERE b.id = {template}"
    ))
    .await;
    let message = assert_error(
        bulk(&app, "?status=STOPPED", "STOP").await,
        StatusCode::BAD_REQUEST,
        "bad_parameter_value",
    )
    .await;
    assert!(
        message.starts_with("Parameter 'status' selects more than 1000 belts"),
        "{message}"
    );
    let message = assert_error(
        bulk(&app, "?search=many", "STOP").await,
        StatusCode::BAD_REQUEST,
        "bad_parameter_value",
    )
    .await;
    assert!(
        message.starts_with("Parameter 'search' selects more than 1000 belts"),
        "{message}"
    );
    // Narrowed: many-1000 and many-1001.
    let answer = bulk_ok(&app, "?status=STOPPED&search=many-100", "STOP").await;
    let ids: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["100100", "101000", "101001"]);
}
