//! Every field an editor can set, checked for what it could do to another project
//! (docs/api.md#reserved-names): `extraEnv` may not set a variable the platform owns,
//! `kafkaDestinationTopic` must be allowed by the operator and is never a dead-letter or input
//! topic, and `outputTypes` need the registry's editor (or producer) role. Each hostile document
//! is refused with a 400 naming the field at create, replace and rollback, on both path forms and
//! in a dry run, and nothing is stored: the document, its revisions and its history stay as they
//! were.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    hostile_documents_are_refused_at_create_and_nothing_is_stored,
    hostile_documents_are_refused_at_replace_and_nothing_changes,
    a_rollback_to_content_no_longer_allowed_is_refused_and_nothing_changes,
    output_types_need_the_registry_s_editor_or_producer_role,
    registry_answers_about_output_types_that_are_not_understood_are_503,
    configured_destinations_are_allowed_and_nothing_else,
    a_belt_stored_before_the_rules_never_deploys_into_another_belt_s_topics,
);

/// The registry of project `global`: `test-a` open to all; `own-out` produced by holders of
/// `out_editor`; `theirs-out` by holders of `theirs_editor` or `theirs_producer` (another
/// project's members); `open-out` by anyone; answers it does not understand for `odd-*`; 404
/// for anything else.
async fn registry() -> MockServer {
    let server = MockServer::start().await;
    let records = [
        json!({"name": "test-a", "consumer": null, "editor": null}),
        json!({"name": "own-out", "consumer": null, "editor": "out_editor"}),
        json!({"name": "theirs-out", "consumer": "theirs_consumer", "editor": "theirs_editor",
               "producer": "theirs_producer"}),
        json!({"name": "open-out", "consumer": "someone", "editor": null, "producer": null}),
        // Not understood: no `editor`; a producer that is no role; another name.
        json!({"name": "odd-no-editor", "consumer": null}),
        json!({"name": "odd-producer", "consumer": null, "editor": null, "producer": 5}),
        json!({"name": "someone-else", "consumer": null, "editor": null}),
    ];
    for record in records {
        let name = match record["name"].as_str().unwrap() {
            "someone-else" => "odd-name",
            name => name,
        }
        .to_string();
        Mock::given(method("GET"))
            .and(path(format!("/projects/global/event-types/{name}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(record))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/projects/global/event-types/odd-redirect"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("location", "http://127.0.0.1:9/open-out"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/projects/global/event-types/odd-text"))
        .respond_with(ResponseTemplate::new(200).set_body_string("yes, fine"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    server
}

async fn app_with_registry(backend: Backend) -> (TestApp, MockServer) {
    let server = registry().await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            harvester_url: Some(server.uri()),
            ..Default::default()
        },
    )
    .await;
    (app, server)
}

fn with(field: &str, value: Value) -> Value {
    let mut body = minimal_belt("hostile");
    body[field] = value;
    body
}

/// (field the 400 must name, what it tries, the body): every way a document alone reaches
/// another project.
fn hostile_bodies() -> Vec<(&'static str, &'static str, Value)> {
    let env = |vars: Value| with("extraEnv", vars);
    let var = |name: &str, value: &str| json!({"name": name, "value": value});
    vec![
        (
            "extraEnv[0].name",
            "another project's input topic",
            env(json!([var("KAFKA_INPUT_TOPICS", "grnry_data_in_theirs")])),
        ),
        (
            "extraEnv[2].name",
            "another belt's consumer group, after two harmless entries",
            env(json!([
                var("FOO", "bar"),
                var("MODE", "fast"),
                var("KAFKA_CONSUMER_GROUP", "grnry-belt-2-1")
            ])),
        ),
        (
            "extraEnv[1].name",
            "another broker, in the JSON-encoded form",
            env(json!(format!(
                "{{\"extraEnv\": [{}, {}]}}",
                var("FOO", "bar"),
                var("KAFKA_BOOTSTRAP_SERVERS", "evil:9092")
            ))),
        ),
        (
            "extraEnv[0].name",
            "a lower-case twin",
            env(json!([var("kafka_input_topics", "grnry_data_in_theirs")])),
        ),
        (
            "extraEnv[0].name",
            "the SASL family another engineer adds",
            env(json!([var("KAFKA_SASL_USERNAME", "belt-2")])),
        ),
        (
            "extraEnv[0].name",
            "a name that sets another through '='",
            env(json!([var("PROJECT_NAME=theirs", "x")])),
        ),
        (
            "extraEnv[0].name",
            "another project's name",
            env(json!([var("PROJECT_NAME", "theirs")])),
        ),
        (
            "extraEnv[0].name",
            "another belt's id",
            env(json!([var("BELT_ID", "2")])),
        ),
        (
            "extraEnv[0].name",
            "another dead-letter topic",
            env(json!([var("KAFKA_ERROR_TOPIC", "grnry_belt_dlq_2")])),
        ),
        (
            "extraEnv[0].name",
            "output types of the user's choosing",
            env(json!([var(
                "OUTPUT_TYPES",
                "[{\"name\": \"theirs\", \"version\": \"1\"}]"
            )])),
        ),
        (
            "extraEnv[0].name",
            "profile-store credentials from a Secret",
            env(
                json!([{"name": "KEYCLOAK_PASS", "valueFrom": {"secretKeyRef": {"name": "store", "key": "p"}}}]),
            ),
        ),
        (
            "extraEnv[0].name",
            "a profile store of the user's choosing",
            env(json!([var("PROFILE_STORE_URL", "http://evil")])),
        ),
        (
            "extraEnv[0].name",
            "code loaded into the host process",
            env(json!([var("PYTHONPATH", "/belt/evil")])),
        ),
        (
            "extraEnv[0].name",
            "a preloaded library",
            env(json!([var("LD_PRELOAD", "/belt/evil.so")])),
        ),
        (
            "kafkaDestinationTopic",
            "another belt's dead-letter topic",
            with("kafkaDestinationTopic", json!("grnry_belt_dlq_2")),
        ),
        (
            "kafkaDestinationTopic",
            "another event type's input topic",
            with("kafkaDestinationTopic", json!("grnry_data_in_theirs")),
        ),
        (
            "kafkaDestinationTopic",
            "its own input topic",
            with("kafkaDestinationTopic", json!("grnry_data_in_test-a")),
        ),
        (
            "kafkaDestinationTopic",
            "a topic the operator does not allow",
            with("kafkaDestinationTopic", json!("theirs-updates")),
        ),
        (
            "outputTypes",
            "an event type whose editor and producer roles only another project holds",
            with(
                "outputTypes",
                json!([{"name": "theirs-out", "version": "1"}]),
            ),
        ),
        (
            "outputTypes",
            "an allowed output type and then a foreign one",
            with(
                "outputTypes",
                json!([{"name": "open-out", "version": "1"}, {"name": "theirs-out", "version": "1"}]),
            ),
        ),
        (
            "outputTypes",
            "an output type the registry does not know",
            with(
                "outputTypes",
                json!([{"name": "nobody-knows", "version": "1"}]),
            ),
        ),
        (
            "outputTypes",
            "a name that walks the registry's path",
            with("outputTypes", json!([{"name": "..", "version": "1"}])),
        ),
    ]
}

fn assert_names(message: &str, field: &str, what: &str) {
    assert!(
        message.starts_with(&format!("Parameter '{field}' ")),
        "{what}: {message}"
    );
}

async fn hostile_documents_are_refused_at_create_and_nothing_is_stored(backend: Backend) {
    let (app, _registry) = app_with_registry(backend).await;
    let token = app.editor();
    let bodies = hostile_bodies();
    for (field, what, body) in &bodies {
        for path in [
            "/projects/global/belts",
            "/projects/global/belts/77",
            "/belts",
            "/projects/global/belts?dryRun=true",
            "/belts/77?dryRun=true",
        ] {
            let response = app.post(path, &token, body).await;
            let message =
                assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
            assert_names(&message, field, &format!("{what} at {path}"));
        }
    }
    let (_, list) = json_of(app.get("/projects/global/belts", &token).await).await;
    assert_eq!(list["totalCount"], 0, "{} hostile bodies", bodies.len());
    // The same documents without the hostile part are fine.
    let response = app
        .post("/projects/global/belts", &token, &minimal_belt("harmless"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// The document, its revisions and its history, as a client sees them.
async fn everything_about(app: &TestApp, id: &str) -> (Value, Value, Value) {
    let token = app.viewer();
    let base = format!("/projects/global/belts/{id}");
    let (_, document) = json_of(app.get(&base, &token).await).await;
    let (_, revisions) = json_of(app.get(&format!("{base}/revisions"), &token).await).await;
    let (_, history) = json_of(app.get(&format!("{base}/history"), &token).await).await;
    (document, revisions, history)
}

async fn hostile_documents_are_refused_at_replace_and_nothing_changes(backend: Backend) {
    let (app, _registry) = app_with_registry(backend).await;
    let token = app.editor();
    let mut first = minimal_belt("hostile");
    first["extraEnv"] = json!([{"name": "FOO", "value": "bar"}]);
    let response = app.post("/projects/global/belts/5", &token, &first).await;
    assert_eq!(response.status(), StatusCode::OK);
    let before = everything_about(&app, "5").await;
    assert_eq!(before.1["totalCount"], 1, "{}", before.1);
    for (field, what, body) in hostile_bodies() {
        for path in [
            "/projects/global/belts/5",
            "/belts/5",
            "/projects/global/belts/5?dryRun=true",
        ] {
            let response = app.put(path, &token, &body).await;
            let message =
                assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
            assert_names(&message, field, &format!("{what} at {path}"));
        }
    }
    assert_eq!(everything_about(&app, "5").await, before);
}

/// Stores `spec` as version 1's content behind the API's back, as a revision kept from before
/// the rules (or from a more permissive configuration) would hold it.
async fn plant_revision(app: &TestApp, id: &str, version: i64, spec: &Value) {
    let text = spec.to_string().replace('\'', "''");
    app.execute_sql(&format!(
        "UPDATE belt_revisions SET spec = '{text}' WHERE belt_id = {id} AND version = {version}"
    ))
    .await;
}

async fn a_rollback_to_content_no_longer_allowed_is_refused_and_nothing_changes(backend: Backend) {
    let (app, _registry) = app_with_registry(backend).await;
    let token = app.editor();
    let response = app
        .post("/projects/global/belts/9", &token, &minimal_belt("rolled"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut second = minimal_belt("rolled");
    second["description"] = json!("version 2");
    assert_eq!(
        app.put("/projects/global/belts/9", &token, &second)
            .await
            .status(),
        StatusCode::OK
    );
    // Version 1 as stored: the spec in its stored form.
    let stored: Value = {
        let (_, doc) = json_of(
            app.get("/projects/global/belts/9/revisions/1", &app.viewer())
                .await,
        )
        .await;
        doc
    };
    for (field, what, hostile) in hostile_bodies() {
        let mut spec = stored.clone();
        for key in ["extraEnv", "kafkaDestinationTopic", "outputTypes"] {
            if let Some(value) = hostile.get(key) {
                spec[key] = value.clone();
            }
        }
        if hostile.get("outputTypes").is_some() {
            spec["kafkaDestinationTopic"] = Value::Null;
        }
        if let Some(Value::Array(_)) = spec.get("extraEnv") {
            spec["extraEnv"] = json!(json!({"extraEnv": spec["extraEnv"]}).to_string());
        }
        plant_revision(&app, "9", 1, &spec).await;
        let before = everything_about(&app, "9").await;
        for (path, body) in [
            ("/projects/global/belts/9/rollback", json!({"version": 1})),
            ("/projects/global/belts/9/rollback?dryRun=true", json!({})),
        ] {
            let response = app.post(path, &token, &body).await;
            let message =
                assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
            assert_names(&message, field, &format!("rollback to {what} at {path}"));
        }
        assert_eq!(everything_about(&app, "9").await, before, "{what}");
        assert_eq!(before.0["version"], "2");
    }
    // The check is the rollback's, not a broken revision's: harmless content still rolls back.
    plant_revision(&app, "9", 1, &stored).await;
    let response = app
        .post(
            "/projects/global/belts/9/rollback",
            &token,
            &json!({"version": 1}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn output_types_need_the_registry_s_editor_or_producer_role(backend: Backend) {
    let (app, _registry) = app_with_registry(backend).await;
    let issuer = app.idp.as_ref().unwrap().issuer();
    let holding = |realm_roles: &[&str]| {
        let mut claims = keycloak_claims(&issuer, "global", &["editor"]);
        claims["realm_access"] = json!({ "roles": realm_roles });
        sign_with("rsa-a", &claims)
    };
    let producing = |name: &str, output: &str| {
        let mut body = minimal_belt(name);
        body["outputTypes"] = json!([{"name": output, "version": "1"}]);
        body
    };
    // Without the editor role of `own-out`: refused, naming the role.
    let response = app
        .post(
            "/projects/global/belts",
            &app.editor(),
            &producing("a", "own-out"),
        )
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(
        message.starts_with("Parameter 'outputTypes' holds 'own-out'")
            && message.contains("'out_editor'"),
        "{message}"
    );
    // A consumer role is not enough to write.
    let response = app
        .post(
            "/projects/global/belts",
            &holding(&["theirs_consumer"]),
            &producing("b", "theirs-out"),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    // The editor role, or the producer role the record names, is.
    for (name, roles, output) in [
        ("c", &["out_editor"][..], "own-out"),
        ("d", &["theirs_editor"][..], "theirs-out"),
        ("e", &["theirs_producer"][..], "theirs-out"),
    ] {
        let (status, answer) = json_of(
            app.post(
                "/projects/global/belts",
                &holding(roles),
                &producing(name, output),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}: {answer}");
        assert_eq!(answer["outputTypes"][0]["name"], output);
    }
    // An event type the record leaves open is anyone's.
    let response = app
        .post(
            "/projects/global/belts",
            &app.editor(),
            &producing("f", "open-out"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, list) = json_of(app.get("/projects/global/belts", &app.editor()).await).await;
    assert_eq!(list["totalCount"], 4);
}

async fn registry_answers_about_output_types_that_are_not_understood_are_503(backend: Backend) {
    let (app, _registry) = app_with_registry(backend).await;
    let token = app.editor();
    let response = app
        .post("/projects/global/belts/3", &token, &minimal_belt("kept"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let before = everything_about(&app, "3").await;
    for output in [
        "odd-no-editor",
        "odd-producer",
        "odd-name",
        "odd-redirect",
        "odd-text",
    ] {
        let mut body = minimal_belt("kept");
        body["outputTypes"] = json!([{"name": output, "version": "1"}]);
        for (method, path) in [
            (reqwest::Method::POST, "/projects/global/belts"),
            (reqwest::Method::PUT, "/projects/global/belts/3"),
            (reqwest::Method::PUT, "/belts/3?dryRun=true"),
        ] {
            let response = app
                .request(method.clone(), path, Some(&token))
                .json(&body)
                .send()
                .await
                .unwrap();
            let message = assert_error(
                response,
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
            )
            .await;
            assert!(
                message.contains(&format!("'{output}'")) && message.contains("'outputTypes'"),
                "{output} {method} {path}: {message}"
            );
        }
    }
    assert_eq!(everything_about(&app, "3").await, before);
    let (_, list) = json_of(app.get("/projects/global/belts", &token).await).await;
    assert_eq!(list["totalCount"], 1);
}

async fn configured_destinations_are_allowed_and_nothing_else(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            args: vec![(
                "--kafka-destination-topics".into(),
                "profile-update,team-a.updates,team-a-*".into(),
            )],
            ..Default::default()
        },
    )
    .await;
    let token = app.editor();
    for (name, topic) in [
        ("exact", "team-a.updates"),
        ("prefixed", "team-a-scores"),
        ("default", "profile-update"),
    ] {
        let (status, answer) = json_of(
            app.post(
                "/projects/global/belts",
                &token,
                &with("kafkaDestinationTopic", json!(topic)).tap_name(name),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{topic}: {answer}");
        assert_eq!(answer["kafkaDestinationTopic"], topic);
    }
    for topic in ["team-b.updates", "grnry_belt_dlq_1", "grnry_data_in_test-a"] {
        let response = app
            .post(
                "/projects/global/belts",
                &token,
                &with("kafkaDestinationTopic", json!(topic)),
            )
            .await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert_names(&message, "kafkaDestinationTopic", topic);
    }
    // Without a registry (the dev default), output types stay open, as event types do.
    let response = app
        .post(
            "/projects/global/belts",
            &token,
            &with("outputTypes", json!([{"name": "anything", "version": "1"}])).tap_name("open"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

trait TapName {
    fn tap_name(self, name: &str) -> Value;
}

impl TapName for Value {
    fn tap_name(mut self, name: &str) -> Value {
        self["name"] = json!(name);
        self
    }
}

/// A document the API would refuse today, stored before the rules: its replicas get the
/// platform's variables whatever its `extraEnv` says (`src/domain/reserved/tests.rs`), and a
/// destination that is another belt's dead-letter or input topic is never deployed.
async fn a_belt_stored_before_the_rules_never_deploys_into_another_belt_s_topics(backend: Backend) {
    let fake = Arc::new(crate::reconciler::fakes::FakeRuntime::default());
    let app = TestApp::spawn_with(
        backend,
        Options {
            runtime: Some(fake.clone()),
            args: vec![("--reconcile-interval-ms".into(), "200".into())],
            ..Default::default()
        },
    )
    .await;
    let token = app.editor();
    let victim = app.create_belt("global", &minimal_belt("victim")).await;
    let victim_id = victim["id"].as_str().unwrap().to_string();
    for (name, destination) in [
        ("dlq", format!("grnry_belt_dlq_{victim_id}")),
        ("input", "grnry_data_in_test-a".to_string()),
    ] {
        let belt = app.create_belt("global", &minimal_belt(name)).await;
        let id = belt["id"].as_str().unwrap();
        let mut spec = belt.clone();
        spec["kafkaDestinationTopic"] = json!(destination);
        let text = spec.to_string().replace('\'', "''");
        app.execute_sql(&format!("UPDATE belts SET spec = '{text}' WHERE id = {id}"))
            .await;
        let state = format!("/projects/global/belts/{id}/state");
        let response = app.post(&state, &token, &json!({"action": "START"})).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // The victim runs, so the reconciler is at work; the two others never reach the runtime.
    let state = format!("/projects/global/belts/{victim_id}/state");
    let response = app.post(&state, &token, &json!({"action": "START"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !fake
        .specs
        .lock()
        .unwrap()
        .iter()
        .any(|spec| spec.belt_id.to_string() == victim_id)
    {
        assert!(std::time::Instant::now() < deadline, "the victim never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let applied: Vec<String> = fake
        .specs
        .lock()
        .unwrap()
        .iter()
        .map(|spec| spec.belt_id.to_string())
        .collect();
    assert!(
        applied.iter().all(|id| *id == victim_id),
        "applied {applied:?}"
    );
    assert!(
        captured_logs().contains("is a belt's dead-letter topic, which no belt may write"),
        "the refusal is not logged"
    );
}
