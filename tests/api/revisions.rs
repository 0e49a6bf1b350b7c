//! Revisions and rollback (docs/api.md#revisions-and-rollback): every create and replace keeps
//! the document of its version, with who and when; a rollback stores an old content as a new
//! version, as a PUT of it would.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use crate::running::{act, spawn_running_app, wait_for};

backend_tests!(
    each_version_is_kept_with_who_and_when_newest_first,
    revisions_page_like_the_listing,
    retention_prunes_the_oldest_revisions,
    deleting_a_belt_deletes_its_revisions,
    reading_needs_viewer_and_names_what_is_missing,
    rollback_stores_an_old_content_as_a_new_version,
    rollback_answers_304_412_and_dry_runs_as_a_put,
    a_running_belt_is_outdated_after_a_rollback,
);

/// A token for project `global` whose holder is called `name`.
fn token_of(app: &TestApp, name: &str, roles: &[&str]) -> String {
    let idp = app.idp.as_ref().unwrap();
    let mut claims = keycloak_claims(&idp.issuer(), "global", roles);
    claims["name"] = json!(name);
    claims["email"] = json!(format!("{}@example.com", name.to_lowercase()));
    sign_with("rsa-a", &claims)
}

fn belt_url(id: &str) -> String {
    format!("/projects/global/belts/{id}")
}

async fn put_description(app: &TestApp, id: &str, token: &str, text: &str) -> Value {
    let mut body = minimal_belt("kept");
    body["description"] = json!(text);
    let (status, doc) = json_of(app.put(&belt_url(id), token, &body).await).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc
}

async fn revisions(app: &TestApp, id: &str, query: &str) -> Value {
    let url = format!("{}/revisions{query}", belt_url(id));
    let (status, body) = json_of(app.get(&url, &app.viewer()).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn versions(list: &Value) -> Vec<i64> {
    let items = list["items"].as_array().unwrap();
    items
        .iter()
        .map(|i| i["version"].as_i64().unwrap())
        .collect()
}

/// The document minus what only the current belt has.
fn without_status(mut doc: Value) -> Value {
    let map = doc.as_object_mut().unwrap();
    map.remove("status");
    map.remove("_links");
    doc
}

async fn each_version_is_kept_with_who_and_when_newest_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let arthur = token_of(&app, "Arthur", &["editor"]);
    let bea = token_of(&app, "Bea", &["editor"]);
    let (_, v1) = json_of(
        app.post("/projects/global/belts", &arthur, &minimal_belt("kept"))
            .await,
    )
    .await;
    let id = v1["id"].as_str().unwrap().to_string();
    let v2 = put_description(&app, &id, &bea, "second").await;
    // Neither an unchanged PUT (304) nor a dry run keeps a revision.
    let mut same = minimal_belt("kept");
    same["description"] = json!("second");
    let unchanged = app.put(&belt_url(&id), &bea, &same).await;
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    same["description"] = json!("tried");
    let url = format!("{}?dryRun=true", belt_url(&id));
    assert_eq!(app.put(&url, &bea, &same).await.status(), StatusCode::OK);
    let v3 = put_description(&app, &id, &arthur, "third").await;

    let list = revisions(&app, &id, "").await;
    assert_eq!(list["totalCount"], 3, "{list}");
    assert_eq!(versions(&list), vec![3, 2, 1]);
    for (item, doc) in list["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&v3, &v2, &v1])
    {
        assert_eq!(item["modifiedBy"], doc["modifiedBy"], "{item}");
        assert_eq!(item["modifiedAt"], doc["modifiedAt"], "{item}");
        assert_eq!(item["rollbackOf"], Value::Null, "{item}");
        let href = item["_links"]["self"]["href"].as_str().unwrap();
        let version = item["version"].as_i64().unwrap();
        assert!(
            href.ends_with(&format!("{}/revisions/{version}", belt_url(&id))),
            "{href}"
        );
    }
    assert_eq!(list["items"][1]["modifiedBy"]["name"], "Bea");
    assert_eq!(list["items"][2]["modifiedBy"]["name"], "Arthur");

    // Each revision is the document as it was at that version, with its ETag.
    for (version, doc) in [(1, &v1), (2, &v2), (3, &v3)] {
        let url = format!("{}/revisions/{version}", belt_url(&id));
        let response = app.get(&url, &app.viewer()).await;
        assert_eq!(response.headers()["etag"], format!("\"{version}\""));
        let (status, kept) = json_of(response).await;
        assert_eq!(status, StatusCode::OK, "{kept}");
        assert!(
            kept.get("status").is_none(),
            "a revision has no status: {kept}"
        );
        assert_eq!(without_status(kept), without_status(doc.clone()));
    }
}

async fn revisions_page_like_the_listing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_belt("global", &minimal_belt("kept")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for n in 2..=5 {
        put_description(&app, &id, &app.editor(), &format!("v{n}")).await;
    }
    let first = revisions(&app, &id, "?pagesize=2").await;
    assert_eq!(
        (first["totalCount"].as_i64(), versions(&first)),
        (Some(5), vec![5, 4])
    );
    assert!(first["_links"].get("prev").is_none(), "{first}");
    let next = first["_links"]["next"]["href"].as_str().unwrap();
    assert!(
        next.contains("offset=2") && next.contains("pagesize=2"),
        "{next}"
    );
    let last = revisions(&app, &id, "?pagesize=2&offset=4").await;
    assert_eq!(versions(&last), vec![1]);
    assert!(last["_links"].get("next").is_none(), "{last}");
    assert!(last["_links"]["prev"]["href"]
        .as_str()
        .unwrap()
        .contains("offset=2"));
    let beyond = revisions(&app, &id, "?offset=9").await;
    assert_eq!(
        (beyond["totalCount"].as_i64(), versions(&beyond)),
        (Some(5), vec![])
    );

    for (query, field) in [
        ("pagesize=0", "pagesize"),
        ("pagesize=251", "pagesize"),
        ("offset=-1", "offset"),
    ] {
        let url = format!("{}/revisions?{query}", belt_url(&id));
        let message = assert_error(
            app.get(&url, &app.viewer()).await,
            StatusCode::BAD_REQUEST,
            "bad_parameter_value",
        )
        .await;
        assert!(
            message.starts_with(&format!("Parameter '{field}' must be a natural number")),
            "{message}"
        );
    }
}

async fn retention_prunes_the_oldest_revisions(backend: Backend) {
    let options = Options {
        args: vec![("--revision-retention".into(), "3".into())],
        ..Default::default()
    };
    let app = TestApp::spawn_with(backend, options).await;
    let id = app.create_belt("global", &minimal_belt("kept")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(versions(&revisions(&app, &id, "").await), vec![1]);
    for n in 2..=6 {
        put_description(&app, &id, &app.editor(), &format!("v{n}")).await;
    }
    let list = revisions(&app, &id, "").await;
    assert_eq!(
        (list["totalCount"].as_i64(), versions(&list)),
        (Some(3), vec![6, 5, 4])
    );
    let pruned = format!("{}/revisions/3", belt_url(&id));
    let message = assert_error(
        app.get(&pruned, &app.viewer()).await,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await;
    assert!(
        message.contains("'3'") && message.contains(&id),
        "{message}"
    );
    let rollback = format!("{}/rollback", belt_url(&id));
    let response = app
        .post(&rollback, &app.editor(), &json!({"version": 2}))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "entity_not_found").await;
}

async fn deleting_a_belt_deletes_its_revisions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_belt("global", &minimal_belt("kept")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put_description(&app, &id, &app.editor(), "second").await;
    assert_eq!(
        app.delete(&belt_url(&id), &app.editor()).await.status(),
        StatusCode::OK
    );
    let url = format!("{}/revisions", belt_url(&id));
    assert_error(
        app.get(&url, &app.viewer()).await,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await;
    // A new belt under the same id starts a history of its own.
    let again = app
        .post(&belt_url(&id), &app.editor(), &minimal_belt("again"))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let list = revisions(&app, &id, "").await;
    assert_eq!(
        (list["totalCount"].as_i64(), versions(&list)),
        (Some(1), vec![1])
    );
    let kept = json_of(app.get(&format!("{url}/1"), &app.viewer()).await)
        .await
        .1;
    assert_eq!(kept["name"], "again");
}

async fn reading_needs_viewer_and_names_what_is_missing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_belt("global", &minimal_belt("kept")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let list = format!("{}/revisions", belt_url(&id));
    let one = format!("{list}/1");
    let rollback = format!("{}/rollback", belt_url(&id));
    assert_eq!(app.get(&list, &app.viewer()).await.status(), StatusCode::OK);
    assert_eq!(app.get(&one, &app.viewer()).await.status(), StatusCode::OK);
    let elsewhere = app.token("other", &["editor"]);
    for url in [&list, &one] {
        assert_error(
            app.get(url, &elsewhere).await,
            StatusCode::FORBIDDEN,
            "entity_not_accessible",
        )
        .await;
        let anonymous = app.request(Method::GET, url, None).send().await.unwrap();
        assert_error(anonymous, StatusCode::UNAUTHORIZED, "authentication_error").await;
    }
    let response = app.post(&rollback, &app.viewer(), &json!({})).await;
    assert_error(response, StatusCode::FORBIDDEN, "entity_not_accessible").await;

    let message = assert_error(
        app.get(&format!("{list}/99"), &app.viewer()).await,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await;
    assert!(message.contains("'99'"), "{message}");
    for bad in ["abc", "0", "-2"] {
        let response = app.get(&format!("{list}/{bad}"), &app.viewer()).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(message.starts_with("Parameter 'version'"), "{message}");
    }
    let missing = "/projects/global/belts/424242/revisions";
    assert_error(
        app.get(missing, &app.viewer()).await,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await;
    // Only one version: nothing older to roll back to.
    let response = app.post(&rollback, &app.editor(), &json!({})).await;
    let message = assert_error(response, StatusCode::NOT_FOUND, "entity_not_found").await;
    assert!(message.contains("older"), "{message}");
    let response = app
        .post(&rollback, &app.editor(), &json!({"version": "x"}))
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.starts_with("Parameter 'version'"), "{message}");
    // The v2 API only: the legacy root has no revisions.
    let legacy = format!("/belts/{id}/revisions");
    assert_eq!(
        app.get(&legacy, &app.viewer()).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn rollback(app: &TestApp, id: &str, token: &str, body: Option<Value>) -> reqwest::Response {
    let url = format!("{}/rollback", belt_url(id));
    let request = app.request(Method::POST, &url, Some(token));
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

async fn rollback_stores_an_old_content_as_a_new_version(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut body = minimal_belt("kept");
    body["description"] = json!("first");
    let v1 = app.create_belt("global", &body).await;
    let id = v1["id"].as_str().unwrap().to_string();
    put_description(&app, &id, &app.editor(), "second").await;

    // Without a body: the newest kept version older than the current one.
    let bea = token_of(&app, "Bea", &["editor"]);
    let response = rollback(&app, &id, &bea, None).await;
    assert_eq!(response.headers()["etag"], "\"3\"");
    let (status, v3) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{v3}");
    assert_eq!(
        (v3["version"].as_str(), v3["description"].as_str()),
        (Some("3"), Some("first"))
    );
    assert_eq!(v3["modifiedBy"]["name"], "Bea");
    assert_eq!(v3["createdBy"], v1["createdBy"]);
    let current = json_of(app.get(&belt_url(&id), &app.viewer()).await)
        .await
        .1;
    assert_eq!(without_status(current), without_status(v3.clone()));

    // A named version, given as the document writes versions.
    let (status, v4) =
        json_of(rollback(&app, &id, &app.editor(), Some(json!({"version": "2"}))).await).await;
    assert_eq!(status, StatusCode::OK, "{v4}");
    assert_eq!(
        (v4["version"].as_str(), v4["description"].as_str()),
        (Some("4"), Some("second"))
    );

    let list = revisions(&app, &id, "").await;
    assert_eq!(versions(&list), vec![4, 3, 2, 1]);
    let restored: Vec<Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["rollbackOf"].clone())
        .collect();
    assert_eq!(restored, vec![json!(2), json!(1), Value::Null, Value::Null]);

    // The history tells a rollback from a plain replace, and who did it.
    let history_url = format!("{}/history", belt_url(&id));
    let history = json_of(app.get(&history_url, &app.viewer()).await).await.1;
    let newest: Vec<(Value, Value, Value)> = history["items"].as_array().unwrap()[..3]
        .iter()
        .map(|e| {
            (
                e["action"].clone(),
                e["reason"].clone(),
                e["version"].clone(),
            )
        })
        .collect();
    assert_eq!(
        newest,
        vec![
            (json!("replaced"), json!("rollback to version 2"), json!(4)),
            (json!("replaced"), json!("rollback to version 1"), json!(3)),
            (json!("replaced"), Value::Null, json!(2)),
        ],
        "{history}"
    );
    assert_eq!(history["items"][1]["actor"], "Bea", "{history}");

    let response = rollback(&app, &id, &app.editor(), Some(json!({"version": 99}))).await;
    let message = assert_error(response, StatusCode::NOT_FOUND, "entity_not_found").await;
    assert!(message.contains("'99'"), "{message}");
}

async fn rollback_answers_304_412_and_dry_runs_as_a_put(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_belt("global", &minimal_belt("kept")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put_description(&app, &id, &app.editor(), "second").await;
    // Version 2's content is the current content.
    let same = rollback(&app, &id, &app.editor(), Some(json!({"version": 2}))).await;
    assert_eq!(same.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(same.headers()["etag"], "\"2\"");

    let url = format!("{}/rollback", belt_url(&id));
    let stale = app
        .request(Method::POST, &url, Some(&app.editor()))
        .header("If-Match", "\"1\"")
        .send()
        .await
        .unwrap();
    let message = assert_error(
        stale,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await;
    assert!(message.contains("'2'"), "{message}");
    let fresh = app
        .request(
            Method::POST,
            &format!("{url}?dryRun=true"),
            Some(&app.editor()),
        )
        .header("If-Match", "\"2\"")
        .send()
        .await
        .unwrap();
    let (status, tried) = json_of(fresh).await;
    assert_eq!(status, StatusCode::OK, "{tried}");
    assert_eq!(tried["version"], "3");
    let current = json_of(app.get(&belt_url(&id), &app.viewer()).await)
        .await
        .1;
    assert_eq!(
        (current["version"].as_str(), current["description"].as_str()),
        (Some("2"), Some("second"))
    );
    assert_eq!(
        versions(&revisions(&app, &id, "").await),
        vec![2, 1],
        "a dry run keeps no revision"
    );
}

async fn a_running_belt_is_outdated_after_a_rollback(backend: Backend) {
    let app = spawn_running_app(backend).await;
    let id = app.create_belt("global", &minimal_belt("kept")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    put_description(&app, &id, &app.editor(), "second").await;
    act(&app, &id, "START").await;
    wait_for(&app, &id, "RUNNING").await;
    let (status, doc) = json_of(rollback(&app, &id, &app.editor(), None).await).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert_eq!(
        (doc["version"].as_str(), doc["status"].as_str()),
        (Some("3"), Some("RUNNING_BUT_OUTDATED"))
    );
    wait_for(&app, &id, "RUNNING_BUT_OUTDATED").await;
    act(&app, &id, "STOP").await;
}
