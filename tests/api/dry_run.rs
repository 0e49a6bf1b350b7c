//! `?dryRun=true` on every write endpoint (docs/api.md#dry-run): the same status, headers and body
//! as the real call, and nothing changed. Each case sends the dry run first, checks that nothing
//! moved, then sends the real call and compares the two answers.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use crate::running::{spawn_running_app, wait_for};

backend_tests!(
    create_dry_run_answers_as_create_and_stores_nothing,
    create_dry_run_without_an_id_stores_nothing,
    create_dry_run_refuses_as_create_does,
    replace_dry_run_answers_as_replace_and_changes_nothing,
    state_dry_run_follows_the_transition_table_and_starts_nothing,
    delete_dry_run_checks_and_deletes_nothing,
    a_dry_run_that_is_neither_true_nor_false_is_refused,
);

/// What a client sees of an answer, with only what the clock decides blanked: error timestamps,
/// `createdAt`/`modifiedAt`, and the creation time in the consumer group's name.
#[derive(Debug, PartialEq)]
struct Answer {
    status: StatusCode,
    etag: Option<String>,
    location: Option<String>,
    body: Value,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Answer {
        let header =
            |name: &str| (response.headers().get(name)).map(|v| v.to_str().unwrap().to_string());
        let (etag, location) = (header("etag"), header("location"));
        let (status, mut body) = json_of(response).await;
        if let Some(object) = body.as_object_mut() {
            object.remove("timestamp");
            for clock in ["createdAt", "modifiedAt"] {
                if object.contains_key(clock) {
                    object.insert(clock.into(), json!("<clock>"));
                }
            }
            if let Some(Value::String(group)) = object.get_mut("kafkaConsumerGroupName") {
                let id_part = group.rsplit_once('-').map(|(head, _)| head.to_string());
                *group = format!("{}-<clock>", id_part.unwrap());
            }
        }
        Answer {
            status,
            etag,
            location,
            body,
        }
    }
}

/// One write, sent as a dry run or for real.
struct Call {
    method: Method,
    path: String,
    token: String,
    body: Option<Value>,
    if_match: Option<&'static str>,
}

impl Call {
    fn new(method: Method, path: impl Into<String>, token: String) -> Call {
        Call {
            method,
            path: path.into(),
            token,
            body: None,
            if_match: None,
        }
    }

    fn body(mut self, body: Value) -> Call {
        self.body = Some(body);
        self
    }

    fn if_match(mut self, etag: &'static str) -> Call {
        self.if_match = Some(etag);
        self
    }

    /// `dry_run`: the value of `dryRun`, or `None` for the real call.
    async fn send(&self, app: &TestApp, dry_run: Option<&str>) -> Answer {
        let path = match dry_run {
            Some(value) => format!("{}?dryRun={value}", self.path),
            None => self.path.clone(),
        };
        let mut request = app.request(self.method.clone(), &path, Some(&self.token));
        if let Some(body) = &self.body {
            request = request.json(body);
        }
        if let Some(etag) = self.if_match {
            request = request.header("If-Match", etag);
        }
        Answer::of(request.send().await.unwrap()).await
    }

    async fn dry(&self, app: &TestApp) -> Answer {
        self.send(app, Some("true")).await
    }

    async fn real(&self, app: &TestApp) -> Answer {
        self.send(app, None).await
    }

    /// A refused call: the dry run and the real call answer alike, and it is `status`.
    async fn refused_alike(&self, app: &TestApp, status: StatusCode) -> Answer {
        let dry = self.dry(app).await;
        assert_eq!(dry.status, status, "{dry:?}");
        assert_eq!(dry, self.real(app).await, "{} {}", self.method, self.path);
        dry
    }
}

/// Every belt of project `global`, as the list answers it.
async fn roster(app: &TestApp) -> Value {
    let (status, list) = json_of(app.get("/projects/global/belts", &app.viewer()).await).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"].clone()
}

async fn create_dry_run_answers_as_create_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = v2_example_body();
    let create = Call::new(Method::POST, "/projects/global/belts", app.editor()).body(body.clone());
    let dry = create.dry(&app).await;
    assert_eq!(dry.status, StatusCode::OK, "{dry:?}");
    assert_eq!(dry.body["id"], "161");
    assert_eq!(dry.body["version"], "1");
    assert_eq!(dry.body["status"], "STOPPED");
    assert_eq!(dry.etag.as_deref(), Some("\"1\""));
    assert!(dry
        .location
        .as_deref()
        .unwrap()
        .ends_with("/projects/global/belts/161"));
    // The other create paths answer the same dry run, `dryRun` in any case.
    for (path, value) in [
        ("/projects/global/belts/161", "true"),
        ("/belts", "TRUE"),
        ("/belts/161", "True"),
    ] {
        let call = Call::new(Method::POST, path, app.editor()).body(body.clone());
        assert_eq!(call.send(&app, Some(value)).await, dry, "{path}");
    }
    assert_eq!(roster(&app).await, json!([]));
    let response = app.get("/projects/global/belts/161", &app.editor()).await;
    assert_error(response, StatusCode::NOT_FOUND, "entity_not_found").await;

    assert_eq!(create.real(&app).await, dry);
    assert_eq!(roster(&app).await.as_array().unwrap().len(), 1);
    // `dryRun=false` is the real call.
    let other = Call::new(Method::POST, "/projects/global/belts", app.editor())
        .body(minimal_belt("for real"));
    assert_eq!(other.send(&app, Some("false")).await.status, StatusCode::OK);
    assert_eq!(roster(&app).await.as_array().unwrap().len(), 2);
}

async fn create_dry_run_without_an_id_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let create =
        Call::new(Method::POST, "/projects/global/belts", app.editor()).body(minimal_belt("auto"));
    let dry = create.dry(&app).await;
    assert_eq!(dry.status, StatusCode::OK, "{dry:?}");
    assert_eq!(roster(&app).await, json!([]));
    // As the console's editor does at every pause in typing: no id is used up, on either
    // database (PostgreSQL's sequence is read, not taken from).
    for _ in 0..5 {
        assert_eq!(create.dry(&app).await, dry);
    }
    let real = create.real(&app).await;
    assert_eq!(real, dry);
    assert_eq!(real.body["id"], "1");
    assert_eq!(roster(&app).await.as_array().unwrap().len(), 1);
    // Past an id an explicit create took ahead of the sequence: the dry run shows the one after,
    // and so does the real create.
    app.create_belt(
        "global",
        &json!({"id": "2", "name": "explicit", "eventTypes": ["a"]}),
    )
    .await;
    let next =
        Call::new(Method::POST, "/projects/global/belts", app.editor()).body(minimal_belt("after"));
    let dry = next.dry(&app).await;
    assert_eq!(dry.body["id"], "3", "{dry:?}");
    assert_eq!(next.real(&app).await, dry);
}

async fn create_dry_run_refuses_as_create_does(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_belt(
        "global",
        &json!({"id": "5", "name": "taken", "eventTypes": ["a"]}),
    )
    .await;
    let before = roster(&app).await;
    let create = |token: String, body: Value| {
        Call::new(Method::POST, "/projects/global/belts", token).body(body)
    };
    let invalid = json!({"name": "x", "eventTypes": ["a"], "replicas": 99});
    let answer = create(app.editor(), invalid)
        .refused_alike(&app, StatusCode::BAD_REQUEST)
        .await;
    assert!(answer.body["message"]
        .as_str()
        .unwrap()
        .contains("replicas"));
    let not_python = json!({"name": "x", "eventTypes": ["a"], "extractorFn": "def execute(:"});
    create(app.editor(), not_python)
        .refused_alike(&app, StatusCode::BAD_REQUEST)
        .await;
    create(app.viewer(), minimal_belt("x"))
        .refused_alike(&app, StatusCode::FORBIDDEN)
        .await;
    create(app.editor(), minimal_belt("taken"))
        .refused_alike(&app, StatusCode::CONFLICT)
        .await;
    create(
        app.editor(),
        json!({"id": "5", "name": "other", "eventTypes": ["a"]}),
    )
    .refused_alike(&app, StatusCode::CONFLICT)
    .await;
    let path_and_body_disagree = Call::new(Method::POST, "/projects/global/belts/6", app.editor())
        .body(json!({"id": "7", "name": "y", "eventTypes": ["a"]}));
    path_and_body_disagree
        .refused_alike(&app, StatusCode::BAD_REQUEST)
        .await;
    assert_eq!(roster(&app).await, before);
}

async fn replace_dry_run_answers_as_replace_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create_belt("global", &minimal_belt("before")).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/projects/global/belts/{id}");
    let mut changed = minimal_belt("after");
    changed["replicas"] = json!(3);
    let replace = Call::new(Method::PUT, &path, app.editor()).body(changed.clone());
    let dry = replace.dry(&app).await;
    assert_eq!(dry.status, StatusCode::OK, "{dry:?}");
    assert_eq!(dry.body["version"], "2");
    assert_eq!(dry.body["name"], "after");
    assert_eq!(dry.etag.as_deref(), Some("\"2\""));
    let legacy = Call::new(Method::PUT, format!("/belts/{id}"), app.editor()).body(changed.clone());
    assert_eq!(legacy.dry(&app).await, dry);
    let (_, stored) = json_of(app.get(&path, &app.editor()).await).await;
    assert_eq!(stored, created, "the dry runs changed nothing");

    // Refusals, while the belt is at version 1.
    let stale = Call::new(Method::PUT, &path, app.editor())
        .body(changed.clone())
        .if_match("\"7\"");
    stale
        .refused_alike(&app, StatusCode::PRECONDITION_FAILED)
        .await;
    let invalid = json!({"name": "", "eventTypes": ["a"]});
    (Call::new(Method::PUT, &path, app.editor()).body(invalid))
        .refused_alike(&app, StatusCode::BAD_REQUEST)
        .await;
    (Call::new(Method::PUT, &path, app.viewer()).body(changed.clone()))
        .refused_alike(&app, StatusCode::FORBIDDEN)
        .await;
    app.create_belt("global", &minimal_belt("taken")).await;
    (Call::new(Method::PUT, &path, app.editor()).body(minimal_belt("taken")))
        .refused_alike(&app, StatusCode::CONFLICT)
        .await;
    let missing = "/projects/global/belts/424242";
    (Call::new(Method::PUT, missing, app.editor()).body(changed.clone()))
        .refused_alike(&app, StatusCode::NOT_FOUND)
        .await;
    let (_, stored) = json_of(app.get(&path, &app.editor()).await).await;
    assert_eq!(stored, created);

    let guarded = Call::new(Method::PUT, &path, app.editor())
        .body(changed.clone())
        .if_match("\"1\"");
    assert_eq!(guarded.dry(&app).await, dry);
    assert_eq!(guarded.real(&app).await, dry);
    // Nothing left to change: 304 with the version, dry or not.
    let unchanged = replace.dry(&app).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.etag.as_deref(), Some("\"2\""));
    assert_eq!(replace.real(&app).await, unchanged);
}

async fn state_dry_run_follows_the_transition_table_and_starts_nothing(backend: Backend) {
    let app = spawn_running_app(backend).await;
    let created = app.create_belt("global", &minimal_belt("runner")).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/projects/global/belts/{id}/state");
    let action =
        |action: &str| Call::new(Method::POST, &path, app.editor()).body(json!({"action": action}));
    let start = action("START").dry(&app).await;
    assert_eq!(start.status, StatusCode::OK, "{start:?}");
    assert_eq!(start.body, json!({"status": "DEPLOYING"}));
    // Longer than a resync (500 ms here): had the wish been stored, a replica would be running.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, state) = json_of(app.get(&path, &app.viewer()).await).await;
    assert_eq!(state, json!({"status": "STOPPED"}));
    assert!(!app.data_dir.path().join("belts").join(id).exists());
    let (_, belt) = json_of(
        app.get(&format!("/projects/global/belts/{id}"), &app.viewer())
            .await,
    )
    .await;
    assert_eq!(belt, created);

    action("STOP")
        .refused_alike(&app, StatusCode::BAD_REQUEST)
        .await;
    (action("START").if_match("\"9\""))
        .refused_alike(&app, StatusCode::PRECONDITION_FAILED)
        .await;
    let viewer = Call::new(Method::POST, &path, app.viewer()).body(json!({"action": "START"}));
    viewer.refused_alike(&app, StatusCode::FORBIDDEN).await;
    action("PAUSE")
        .refused_alike(&app, StatusCode::BAD_REQUEST)
        .await;

    assert_eq!(action("START").real(&app).await, start);
    wait_for(&app, id, "RUNNING").await;
    let stop = action("STOP").dry(&app).await;
    assert_eq!(stop.body, json!({"status": "STOPPED"}));
    action("START")
        .refused_alike(&app, StatusCode::BAD_REQUEST)
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (_, state) = json_of(app.get(&path, &app.viewer()).await).await;
    assert_eq!(
        state["status"], "RUNNING",
        "the dry STOP stopped nothing: {state}"
    );
    assert_eq!(action("STOP").real(&app).await, stop);
    wait_for(&app, id, "STOPPED").await;
}

async fn delete_dry_run_checks_and_deletes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create_belt("global", &minimal_belt("kept")).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/projects/global/belts/{id}");
    let delete = Call::new(Method::DELETE, &path, app.editor());
    let dry = delete.dry(&app).await;
    assert_eq!(dry.status, StatusCode::OK);
    assert_eq!(dry.body, json!({"content": true}));
    let legacy = Call::new(Method::DELETE, format!("/belts/{id}"), app.editor());
    assert_eq!(legacy.dry(&app).await, dry);
    let (status, stored) = json_of(app.get(&path, &app.editor()).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored, created);
    // Its name is still taken, so the belt is there for writers as well.
    let again =
        Call::new(Method::POST, "/projects/global/belts", app.editor()).body(minimal_belt("kept"));
    again.refused_alike(&app, StatusCode::CONFLICT).await;

    (Call::new(Method::DELETE, &path, app.editor()).if_match("\"2\""))
        .refused_alike(&app, StatusCode::PRECONDITION_FAILED)
        .await;
    (Call::new(Method::DELETE, &path, app.viewer()))
        .refused_alike(&app, StatusCode::FORBIDDEN)
        .await;
    (Call::new(
        Method::DELETE,
        "/projects/global/belts/424242",
        app.editor(),
    ))
    .refused_alike(&app, StatusCode::NOT_FOUND)
    .await;
    assert_eq!(roster(&app).await.as_array().unwrap().len(), 1);

    assert_eq!(delete.real(&app).await, dry);
    assert_eq!(roster(&app).await, json!([]));
}

async fn a_dry_run_that_is_neither_true_nor_false_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create_belt("global", &minimal_belt("steady")).await;
    let id = created["id"].as_str().unwrap();
    let belt = format!("/projects/global/belts/{id}");
    let calls = [
        Call::new(Method::POST, "/projects/global/belts", app.editor()).body(minimal_belt("n")),
        Call::new(Method::POST, "/projects/global/belts/99", app.editor()).body(minimal_belt("n")),
        Call::new(Method::PUT, &belt, app.editor()).body(minimal_belt("changed")),
        Call::new(Method::DELETE, &belt, app.editor()),
        Call::new(Method::POST, format!("{belt}/state"), app.editor())
            .body(json!({"action": "START"})),
        Call::new(Method::PUT, format!("/belts/{id}"), app.editor()).body(minimal_belt("c")),
    ];
    for call in &calls {
        let answer = call.send(&app, Some("maybe")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
        assert_eq!(answer.body["type"], "bad_parameter_value");
        assert_eq!(
            answer.body["message"],
            "Parameter 'dryRun' must be 'true' or 'false' but is 'maybe'."
        );
        assert_eq!(answer.body["details"], format!("uri={}", call.path));
        let twice = call.send(&app, Some("true&dryRun=false")).await;
        assert_eq!(twice.status, StatusCode::BAD_REQUEST, "{twice:?}");
        assert!(twice.body["message"].as_str().unwrap().contains("dryRun"));
    }
    // The role answers first, as for any other refused value.
    let viewer = Call::new(Method::PUT, &belt, app.viewer()).body(minimal_belt("changed"));
    assert_eq!(
        viewer.send(&app, Some("maybe")).await.status,
        StatusCode::FORBIDDEN
    );
    let (_, stored) = json_of(app.get(&belt, &app.editor()).await).await;
    assert_eq!(stored, created);
    assert_eq!(roster(&app).await.as_array().unwrap().len(), 1);
}
