//! Reading belts: get, export, state, project isolation.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    get_returns_what_create_returned,
    export_holds_only_non_default_fields_and_recreates_the_belt,
    a_belt_of_one_project_is_invisible_through_another,
    state_of_a_never_started_belt_is_stopped,
    viewers_read_but_do_not_write,
);

async fn get_returns_what_create_returned(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create_belt("global", &v2_example_body()).await;
    let path = format!("/projects/global/belts/{}", created["id"].as_str().unwrap());
    let response = app.get(&path, &app.viewer()).await;
    assert_eq!(response.headers()["etag"], "\"1\"");
    let (status, fetched) = json_of(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);
    // v2 field order, as the documents show it
    let keys: Vec<&str> = fetched
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        &keys[..4],
        &["version", "name", "projectName", "kubernetesName"]
    );
    assert_eq!(&keys[keys.len() - 2..], &["id", "_links"]);
}

async fn export_holds_only_non_default_fields_and_recreates_the_belt(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let created = app
        .create_belt(
            "global",
            &json!({
                "name": "exported",
                "eventTypes": ["test-a", "test-b"],
                "replicas": 2,
                "description": "d",
                "partitionOffsets": {"grnry_data_in_test-a": [0, 5]},
                "extraEnv": [{"name": "FOO", "value": "bar"}],
            }),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let (status, exported) = json_of(
        app.get(&format!("/projects/global/belts/{id}?export=TRUE"), &token)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut keys: Vec<&str> = exported
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "description",
            "eventTypes",
            "extraEnv",
            "id",
            "name",
            "partitionOffsets",
            "replicas"
        ]
    );
    // Delete and recreate from the export: the same belt comes back.
    let deleted = app
        .delete(&format!("/projects/global/belts/{id}"), &token)
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let recreated = app.create_belt("global", &exported).await;
    let strip = |mut v: Value| {
        for key in ["createdAt", "modifiedAt", "kafkaConsumerGroupName"] {
            v.as_object_mut().unwrap().remove(key);
        }
        v
    };
    assert_eq!(strip(recreated), strip(created));
}

async fn a_belt_of_one_project_is_invisible_through_another(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let belt = app
        .create_belt("team-a", &minimal_belt("secret-belt"))
        .await;
    let id = belt["id"].as_str().unwrap();
    // A user with every role in both projects still cannot reach team-a's belt through team-b.
    let token = sign_with(
        "rsa-a",
        &json!({
            "iss": app.idp.as_ref().unwrap().issuer(),
            "exp": now() + 600,
            "resource_access": {
                "team-a": {"roles": ["editor", "viewer"]},
                "team-b": {"roles": ["editor", "viewer"]},
                "global": {"roles": ["editor", "viewer"]},
            },
        }),
    );
    for path in [
        format!("/projects/team-b/belts/{id}"),
        format!("/projects/team-b/belts/{id}/state"),
        format!("/belts/{id}"),
    ] {
        let message = assert_error(
            app.get(&path, &token).await,
            StatusCode::NOT_FOUND,
            "entity_not_found",
        )
        .await;
        assert_eq!(message, format!("Belt with ID '{id}' not found."));
    }
    let put = app
        .put(
            &format!("/projects/team-b/belts/{id}"),
            &token,
            &minimal_belt("hijack"),
        )
        .await;
    assert_error(put, StatusCode::NOT_FOUND, "entity_not_found").await;
    let delete = app
        .delete(&format!("/projects/team-b/belts/{id}"), &token)
        .await;
    assert_error(delete, StatusCode::NOT_FOUND, "entity_not_found").await;
    let (_, list) = json_of(app.get("/projects/team-b/belts", &token).await).await;
    assert_eq!(list["totalCount"], 0);
    // Still there, unchanged, in its own project.
    let (status, same) = json_of(
        app.get(&format!("/projects/team-a/belts/{id}"), &token)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["name"], "secret-belt");
    assert_eq!(same["version"], "1");
    // Roles in team-a do not open team-b's list.
    let team_a_only = app.token("team-a", &["editor"]);
    let response = app.get("/projects/team-b/belts", &team_a_only).await;
    assert_error(response, StatusCode::FORBIDDEN, "entity_not_accessible").await;
}

async fn state_of_a_never_started_belt_is_stopped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let belt = app.create_belt("global", &minimal_belt("idle")).await;
    let id = belt["id"].as_str().unwrap();
    let (status, state) = json_of(
        app.get(&format!("/projects/global/belts/{id}/state"), &app.viewer())
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state, json!({"status": "STOPPED"}));
    assert_eq!(state["status"], belt["status"]);
    let response = app
        .get("/projects/global/belts/999/state", &app.viewer())
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "entity_not_found").await;
}

async fn viewers_read_but_do_not_write(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let belt = app.create_belt("global", &minimal_belt("read-only")).await;
    let path = format!("/projects/global/belts/{}", belt["id"].as_str().unwrap());
    let viewer = app.viewer();
    assert_eq!(app.get(&path, &viewer).await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/projects/global/belts", &viewer).await.status(),
        StatusCode::OK
    );
    for response in [
        app.post("/projects/global/belts", &viewer, &minimal_belt("nope"))
            .await,
        app.put(&path, &viewer, &minimal_belt("nope")).await,
        app.delete(&path, &viewer).await,
    ] {
        let message = assert_error(response, StatusCode::FORBIDDEN, "entity_not_accessible").await;
        assert_eq!(message, "Access forbidden due to missing roles.");
    }
    // data_owner alone reads nothing.
    let owner = app.token("global", &["data_owner"]);
    assert_error(
        app.get(&path, &owner).await,
        StatusCode::FORBIDDEN,
        "entity_not_accessible",
    )
    .await;
}
