//! Creating belts: defaults, tolerant input, ids, uniqueness, the v2 examples.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    create_answers_the_document_with_defaults_location_and_etag,
    every_v2_example_body_is_accepted_as_is,
    tolerant_input_becomes_canonical_output,
    ids_come_from_the_body_the_path_or_the_store,
    id_and_name_are_unique,
    invalid_fields_are_named,
    legacy_paths_mean_project_global,
);

async fn create_answers_the_document_with_defaults_location_and_etag(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .post(
            "/projects/global/belts",
            &app.editor(),
            &minimal_belt("first"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = {
        let headers = response.headers();
        assert_eq!(headers["etag"], "\"1\"");
        headers["location"].to_str().unwrap().to_string()
    };
    let (_, belt) = json_of(response).await;
    assert!(id.ends_with(&format!(
        "/projects/global/belts/{}",
        belt["id"].as_str().unwrap()
    )));
    assert_eq!(belt["version"], "1");
    assert_eq!(belt["name"], "first");
    assert_eq!(belt["projectName"], "global");
    let numeric_id: i64 = belt["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(belt["kubernetesName"], format!("grnry-belt-{numeric_id}"));
    let group = belt["kafkaConsumerGroupName"].as_str().unwrap();
    assert!(
        group.starts_with(&format!("grnry-belt-{numeric_id}-")),
        "{group}"
    );
    assert_eq!(belt["replicas"], 1);
    assert_eq!(belt["millicpu"], 200);
    assert_eq!(belt["millicpuRequests"], 200);
    assert_eq!(belt["memory"], 512);
    assert_eq!(belt["memoryRequests"], 512);
    assert_eq!(belt["extractorVersion"], "latest");
    assert_eq!(belt["image"], "grnry-belt");
    assert_eq!(belt["imagePullSecret"], "grnry-pull-secret");
    assert_eq!(belt["kafkaDestinationTopic"], "profile-update");
    assert_eq!(belt["fetchProfile"], "FALSE");
    assert_eq!(belt["profileType"], "_d");
    assert_eq!(belt["debug"], false);
    assert_eq!(belt["status"], "STOPPED");
    assert_eq!(belt["volumes"], Value::Null);
    assert_eq!(
        belt["createdBy"],
        json!({"name": "Arthur Author", "email": "arthur@author.com"})
    );
    assert_eq!(belt["createdBy"], belt["modifiedBy"]);
    assert_eq!(belt["createdAt"], belt["modifiedAt"]);
    let created_at = belt["createdAt"].as_str().unwrap();
    assert_eq!(
        created_at.len(),
        "2021-09-24T08:38:50.848Z".len(),
        "{created_at}"
    );
    assert!(created_at.ends_with('Z'));
    // the consumer group carries the creation instant in epoch ms
    let ms: i64 = group.rsplit('-').next().unwrap().parse().unwrap();
    assert!((now() * 1000 - ms).abs() < 60_000);
    assert!(belt["extractorFn"]
        .as_str()
        .unwrap()
        .contains("def execute("));
    assert_eq!(
        belt["_links"]["self"]["href"],
        format!("{}/projects/global/belts/{numeric_id}", app.address)
    );
}

async fn every_v2_example_body_is_accepted_as_is(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (index, file) in [
        "v2/get-response-example.json",
        "v2/create-response-example.json",
        "v2/put-response-example.json",
    ]
    .iter()
    .enumerate()
    {
        let mut body: Value = serde_json::from_slice(&fixture(file)).unwrap();
        // The examples share one name and id; each gets its own so all three can live side by side.
        body["name"] = json!(format!("hello-belt-{index}"));
        body["id"] = json!(format!("{}", 161 + index));
        let belt = app.create_belt("global", &body).await;
        assert_eq!(belt["id"], format!("{}", 161 + index));
        for field in [
            "requirementsPy",
            "extractorFn",
            "eventTypes",
            "profileType",
            "description",
        ] {
            assert_eq!(belt[field], body[field], "{file}: {field}");
        }
        assert_eq!(belt["fetchProfile"], "FALSE");
        if body["volumes"].is_string() {
            let volumes: Value = serde_json::from_str(belt["volumes"].as_str().unwrap()).unwrap();
            assert_eq!(volumes["volumes"][0]["configMap"]["name"], "log-config");
            let env: Value = serde_json::from_str(belt["extraEnv"].as_str().unwrap()).unwrap();
            assert_eq!(env, json!({"extraEnv": [{"name": "FOO", "value": "bar"}]}));
        }
    }
}

async fn tolerant_input_becomes_canonical_output(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let belt = app
        .create_belt(
            "global",
            &json!({
                "name": "loose",
                "eventTypes": ["test-a"],
                "replicas": "3",
                "millicpu": "300",
                "memory": 1024,
                "debug": "true",
                "fetchProfile": "lazy",
                "secret": "s", "secretUsername": "u", "secretPassword": "p",
                "volumes": [{"name": "v", "emptyDir": {}}],
                "volumeMounts": {"volumeMounts": [{"name": "v", "mountPath": "/data"}]},
                "extraEnv": "",
                "extractorVersion": "",
                "author": "legacy", "reader": ["_auth"], "editor": ["belt_edit"], "viewer": ["x"],
                "created": 1561974412801_i64,
                "somethingNew": {"ignored": true},
            }),
        )
        .await;
    assert_eq!(belt["replicas"], 3);
    assert_eq!(belt["millicpu"], 300);
    assert_eq!(belt["millicpuRequests"], 200);
    assert_eq!(belt["memory"], 1024);
    assert_eq!(belt["debug"], true);
    assert_eq!(belt["fetchProfile"], "LAZY");
    assert_eq!(belt["extractorVersion"], "latest");
    assert_eq!(belt["extraEnv"], Value::Null);
    assert_eq!(
        belt["volumes"],
        json!("{\"volumes\":[{\"emptyDir\":{},\"name\":\"v\"}]}")
    );
    assert_eq!(
        belt["volumeMounts"],
        json!("{\"volumeMounts\":[{\"mountPath\":\"/data\",\"name\":\"v\"}]}")
    );
    assert!(belt.get("author").is_none() && belt.get("somethingNew").is_none());

    let belt = app
        .create_belt(
            "global",
            &json!({"name": "bool-fetch", "eventTypes": ["a"], "fetchProfile": false}),
        )
        .await;
    assert_eq!(belt["fetchProfile"], "FALSE");
}

async fn ids_come_from_the_body_the_path_or_the_store(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let mut body = minimal_belt("from-body");
    body["id"] = json!(7);
    assert_eq!(app.create_belt("global", &body).await["id"], "7");

    let (status, belt) = json_of(
        app.post(
            "/projects/global/belts/9",
            &token,
            &minimal_belt("from-path"),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(belt["id"], "9");

    // Automatic ids skip the ones explicit creates took.
    let mut auto_ids = Vec::new();
    for n in 0..10 {
        auto_ids.push(
            app.create_belt("global", &minimal_belt(&format!("auto-{n}")))
                .await["id"]
                .clone(),
        );
    }
    assert!(
        !auto_ids.contains(&json!("7")) && !auto_ids.contains(&json!("9")),
        "{auto_ids:?}"
    );

    // The largest id is accepted and does not exhaust automatic ids.
    let mut body = minimal_belt("largest");
    body["id"] = json!("9223372036854775807");
    assert_eq!(
        app.create_belt("global", &body).await["id"],
        "9223372036854775807"
    );
    app.create_belt("global", &minimal_belt("after-largest"))
        .await;

    let mut body = minimal_belt("mismatch");
    body["id"] = json!(11);
    let response = app.post("/projects/global/belts/12", &token, &body).await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.contains("'id'"), "{message}");

    let response = app
        .post("/projects/global/belts/0", &token, &minimal_belt("zero"))
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
}

async fn id_and_name_are_unique(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let first = app.create_belt("global", &minimal_belt("taken")).await;

    let response = app
        .post("/projects/global/belts", &token, &minimal_belt("taken"))
        .await;
    let message = assert_error(response, StatusCode::CONFLICT, "entity_already_exists").await;
    assert!(
        message.contains("'name'") && message.contains("taken"),
        "{message}"
    );

    let path = format!("/projects/global/belts/{}", first["id"].as_str().unwrap());
    let response = app.post(&path, &token, &minimal_belt("other-name")).await;
    let message = assert_error(response, StatusCode::CONFLICT, "entity_already_exists").await;
    assert!(message.contains(first["id"].as_str().unwrap()), "{message}");

    // The same name is free in another project.
    app.create_belt("team-b", &minimal_belt("taken")).await;

    // Concurrent creates of one name: exactly one wins.
    let race = minimal_belt("race");
    let attempts = (0..8).map(|_| app.post("/projects/global/belts", &token, &race));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT));
}

async fn invalid_fields_are_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let with = |field: &str, value: Value| {
        let mut body = minimal_belt("bad");
        body[field] = value;
        body
    };
    let cases = [
        (json!({"eventTypes": ["a"]}), "name"),
        (json!({"name": "x"}), "eventTypes"),
        (with("eventTypes", json!("test-a")), "eventTypes"),
        (with("replicas", json!(51)), "replicas"),
        (with("replicas", json!("many")), "replicas"),
        (with("millicpuRequests", json!(500)), "millicpuRequests"),
        (with("memoryRequests", json!(4096)), "memoryRequests"),
        (with("fetchProfile", json!("ALWAYS")), "fetchProfile"),
        (with("fetchProfile", json!("TRUE")), "secret"),
        (with("extractorVersion", json!("  ")), "extractorVersion"),
        (
            with("volumes", json!([{"hostPath": {"path": "/"}}])),
            "volumes",
        ),
        (with("volumeMounts", json!([{"name": "v"}])), "volumeMounts"),
        (
            with("extraEnv", json!("{\"extraEnv\": [{\"name\": 5}]}")),
            "extraEnv",
        ),
        (
            with("partitionOffsets", json!({"grnry_data_in_other": [0]})),
            "partitionOffsets",
        ),
        (
            with("outputTypes", json!([{"name": "o", "version": "1"}])).tap_topic(),
            "kafkaDestinationTopic",
        ),
        (
            with("extractorFn", json!("def execute(a, b):\n  return [\n")),
            "extractorFn",
        ),
        (
            with("extractorFn", json!("def run(a, b):\n  return []\n")),
            "extractorFn",
        ),
        (
            with("requirementsPy", json!("requests==2.0\nnot a requirement!")),
            "requirementsPy",
        ),
        (with("debug", json!("sometimes")), "debug"),
        (with("labels", json!([1, 2])), "labels"),
    ];
    for (body, field) in cases {
        let response = app.post("/projects/global/belts", &token, &body).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(message.contains(&format!("'{field}'")), "{body}: {message}");
    }
    // Nothing was stored by any of them.
    let (_, list) = json_of(app.get("/projects/global/belts", &token).await).await;
    assert_eq!(list["totalCount"], 0);

    // The v2 example error for extractorVersion.
    let response = app
        .post(
            "/projects/global/belts",
            &token,
            &with("extractorVersion", json!(" ")),
        )
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert_eq!(message, "Parameter 'extractorVersion' must not be empty.");
}

trait TapTopic {
    fn tap_topic(self) -> Value;
}

impl TapTopic for Value {
    fn tap_topic(mut self) -> Value {
        self["kafkaDestinationTopic"] = json!("somewhere-else");
        self
    }
}

async fn legacy_paths_mean_project_global(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let (status, belt) = json_of(app.post("/belts", &token, &minimal_belt("legacy")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(belt["projectName"], "global");
    let id = belt["id"].as_str().unwrap();
    let (status, via_v2) = json_of(
        app.get(&format!("/projects/global/belts/{id}"), &token)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(via_v2["name"], "legacy");
    let (status, via_v1) = json_of(app.get(&format!("/belts/{id}"), &token).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(via_v1["name"], "legacy");
    let (_, list) = json_of(app.get("/belts", &token).await).await;
    assert_eq!(list["totalCount"], 1);
    assert!(list["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .contains("/belts?"));
}
