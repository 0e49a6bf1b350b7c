//! Replacing and deleting: versions, 304, ETag/If-Match, races.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    put_replaces_the_document_and_counts_versions,
    put_without_changes_answers_304_and_keeps_the_version,
    if_match_guards_put_and_delete,
    a_weak_tag_of_the_current_version_answers_412,
    concurrent_puts_with_one_if_match_cannot_both_win,
    delete_answers_content_true_and_the_belt_is_gone,
);

async fn put_replaces_the_document_and_counts_versions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .create_belt(
            "global",
            &json!({"name": "v", "eventTypes": ["a"], "replicas": 3, "description": "first"}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/projects/global/belts/{id}");
    // Another user edits; omitted fields fall back to defaults (replicas → 1).
    let other = sign_with(
        "rsa-a",
        &json!({
            "iss": app.idp.as_ref().unwrap().issuer(), "exp": now() + 600,
            "preferred_username": "other", "email": "other@user.com",
            "resource_access": {"global": {"roles": ["editor"]}},
        }),
    );
    let response = app
        .put(
            &path,
            &other,
            &json!({"name": "v2", "eventTypes": ["a", "b"], "id": "999"}),
        )
        .await;
    assert_eq!(response.headers()["etag"], "\"2\"");
    let (status, updated) = json_of(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["version"], "2");
    assert_eq!(updated["name"], "v2");
    assert_eq!(updated["replicas"], 1);
    assert_eq!(updated["description"], "");
    assert_eq!(updated["eventTypes"], json!(["a", "b"]));
    assert_eq!(
        updated["modifiedBy"],
        json!({"name": "other", "email": "other@user.com"})
    );
    for unchanged in [
        "id",
        "createdBy",
        "createdAt",
        "kafkaConsumerGroupName",
        "kubernetesName",
    ] {
        assert_eq!(updated[unchanged], created[unchanged], "{unchanged}");
    }
    assert!(updated["modifiedAt"].as_str() >= created["modifiedAt"].as_str());
    // Legacy path, same belt.
    let (status, third) = json_of(
        app.put(&format!("/belts/{id}"), &app.editor(), &minimal_belt("v3"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(third["version"], "3");
    // Renaming onto a taken name is a conflict.
    app.create_belt("global", &minimal_belt("taken")).await;
    let response = app.put(&path, &app.editor(), &minimal_belt("taken")).await;
    assert_error(response, StatusCode::CONFLICT, "entity_already_exists").await;
    // Unknown belt.
    let response = app
        .put(
            "/projects/global/belts/424242",
            &app.editor(),
            &minimal_belt("x"),
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "entity_not_found").await;
}

async fn put_without_changes_answers_304_and_keeps_the_version(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create_belt("global", &v2_example_body()).await;
    let path = format!("/projects/global/belts/{}", created["id"].as_str().unwrap());
    // The document as GET returned it, sent back verbatim.
    let response = app.put(&path, &app.editor(), &created).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let (_, fetched) = json_of(app.get(&path, &app.editor()).await).await;
    assert_eq!(fetched["version"], "1");
    assert_eq!(fetched["modifiedAt"], created["modifiedAt"]);
}

async fn if_match_guards_put_and_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let created = app.create_belt("global", &minimal_belt("guarded")).await;
    let path = format!("/projects/global/belts/{}", created["id"].as_str().unwrap());
    let put = |etag: &'static str, name: &str| {
        app.request(Method::PUT, &path, Some(&token))
            .header("If-Match", etag)
            .json(&minimal_belt(name))
            .send()
    };
    let response = put("\"7\"", "n1").await.unwrap();
    let message = assert_error(
        response,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await;
    assert!(message.contains("version '1'"), "{message}");
    assert_eq!(put("\"1\"", "n1").await.unwrap().status(), StatusCode::OK);
    // A weak tag in a list with the strong one: the strong one matches.
    let mixed = put("W/\"2\", \"2\"", "n2").await.unwrap();
    assert_eq!(mixed.status(), StatusCode::OK);
    assert_eq!(put("*", "n3").await.unwrap().status(), StatusCode::OK);

    let delete = |etag: &'static str| {
        app.request(Method::DELETE, &path, Some(&token))
            .header("If-Match", etag)
            .send()
    };
    let response = delete("\"1\"").await.unwrap();
    assert_error(
        response,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await;
    assert_eq!(app.get(&path, &token).await.status(), StatusCode::OK);
    assert_eq!(delete("\"4\"").await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.get(&path, &token).await.status(), StatusCode::NOT_FOUND);
}

/// RFC 9110 §13.1.1: `If-Match` compares strongly, so `W/"<current>"` never matches; on each
/// write that honours it, nothing is written.
async fn a_weak_tag_of_the_current_version_answers_412(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let created = app.create_belt("global", &minimal_belt("weak")).await;
    let id = created["id"].as_str().unwrap();
    for prefix in ["/projects/global", ""] {
        let path = format!("{prefix}/belts/{id}");
        let writes = [
            (Method::PUT, path.clone(), Some(minimal_belt("weakened"))),
            (Method::DELETE, path.clone(), None),
            (
                Method::POST,
                format!("{path}/state"),
                Some(json!({"action": "START"})),
            ),
        ];
        for (method, at, body) in writes {
            let mut request = app
                .request(method.clone(), &at, Some(&token))
                .header("If-Match", "W/\"1\"");
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let message = assert_error(
                response,
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
            )
            .await;
            assert!(message.contains("version '1'"), "{method} {at}: {message}");
        }
    }
    let (_, belt) = json_of(
        app.get(&format!("/projects/global/belts/{id}"), &token)
            .await,
    )
    .await;
    assert_eq!(belt["version"], "1");
    assert_eq!(belt["name"], "weak");
    assert_eq!(belt["status"], "STOPPED");
}

async fn concurrent_puts_with_one_if_match_cannot_both_win(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    for round in 0..5 {
        let created = app
            .create_belt("global", &minimal_belt(&format!("race-{round}")))
            .await;
        let path = format!("/projects/global/belts/{}", created["id"].as_str().unwrap());
        let writers = (0..6).map(|writer| {
            let mut body = minimal_belt(&format!("race-{round}"));
            body["description"] = json!(format!("writer {writer}"));
            app.request(Method::PUT, &path, Some(&token))
                .header("If-Match", "\"1\"")
                .json(&body)
                .send()
        });
        let results = futures::future::join_all(writers).await;
        let statuses: Vec<StatusCode> = results.into_iter().map(|r| r.unwrap().status()).collect();
        let winners = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(winners, 1, "round {round}: {statuses:?}");
        assert!(statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::PRECONDITION_FAILED));
        let (_, belt) = json_of(app.get(&path, &token).await).await;
        assert_eq!(belt["version"], "2");
    }
    // Without If-Match, concurrent writers all land, one version each.
    let created = app.create_belt("global", &minimal_belt("serial")).await;
    let path = format!("/projects/global/belts/{}", created["id"].as_str().unwrap());
    let bodies: Vec<Value> = (0..6)
        .map(|writer| {
            let mut body = minimal_belt("serial");
            body["description"] = json!(format!("writer {writer}"));
            body
        })
        .collect();
    let writers = bodies.iter().map(|body| app.put(&path, &token, body));
    let statuses: Vec<StatusCode> = futures::future::join_all(writers)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let (_, belt) = json_of(app.get(&path, &token).await).await;
    assert_eq!(belt["version"], "7");
}

async fn delete_answers_content_true_and_the_belt_is_gone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let created = app.create_belt("global", &minimal_belt("doomed")).await;
    let id = created["id"].as_str().unwrap();
    let (status, body) = json_of(
        app.delete(&format!("/projects/global/belts/{id}"), &token)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"content": true}));
    let response = app
        .get(&format!("/projects/global/belts/{id}"), &token)
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "entity_not_found").await;
    let response = app.delete(&format!("/belts/{id}"), &token).await;
    let message = assert_error(response, StatusCode::NOT_FOUND, "entity_not_found").await;
    assert_eq!(message, format!("Belt with ID '{id}' not found."));
    // The name is free again.
    let again: Value = app.create_belt("global", &minimal_belt("doomed")).await;
    assert_ne!(again["id"], created["id"]);
}
