//! Every write the app's own OpenAPI document names (POST, PUT, PATCH, DELETE, on the v2 and the
//! legacy paths), sent with `dryRun=true` against belts in known states — one RUNNING on the
//! local runtime, one STOPPED with two versions: each either answers 400 naming `dryRun` or
//! changes nothing (documents, versions, status, replicas, revisions, history). A write the
//! walk does not know fails it, so a new route cannot ignore the parameter unseen. Where the
//! embedded broker's program is given (`BELT_KAFKA_BROKER_COMMAND`), belt-api runs it and each
//! belt's offsets are part of what must not change.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use crate::running::{act, spawn_running_app_with, wait_for};

backend_tests!(every_write_in_the_openapi_document_dry_runs_or_refuses_dry_run);

/// What a write does with `dryRun=true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Tried for real: the answer of the call, nothing written.
    Tries,
    /// 400 naming `dryRun`, nothing done.
    Refuses,
}

/// The belts the walk acts on.
pub(crate) struct Belts {
    pub running: String,
    pub stopped: String,
}

/// One request of the walk: method, path (v2 form, `{id}` filled), body, and what to expect.
pub(crate) struct Call {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
    pub expect: Expect,
}

/// The callback of the draft the walk test-invokes (docs/api.md#test-invoke-of-a-draft).
const DRAFT: &str = "def execute(headers, event):\n    return []\n";

/// The sample the walk's stopped belt keeps (docs/api.md#saved-samples).
pub(crate) const KEPT_SAMPLE: &str = "kept";

/// Every write operation of the v2 API, as (method, path template), with the requests that
/// exercise it. The legacy twin of each (without `/projects/{project}`) is sent the same.
pub(crate) fn calls_for(method: &str, template: &str, belts: &Belts) -> Option<Vec<Call>> {
    let (running, stopped) = (&belts.running, &belts.stopped);
    let at = |id: &str, rest: &str| format!("/projects/global/belts/{id}{rest}");
    let call = |method: Method, path: String, body: Option<Value>, expect| Call {
        method,
        path,
        body,
        expect,
    };
    use Expect::*;
    let calls = match (method, template) {
        ("post", "/projects/{project}/belts") => vec![call(
            Method::POST,
            "/projects/global/belts".into(),
            Some(minimal_belt("walked-new")),
            Tries,
        )],
        ("post", "/projects/{project}/belts/{id}") => vec![call(
            Method::POST,
            at("4242", ""),
            Some(minimal_belt("walked-with-id")),
            Tries,
        )],
        ("put", "/projects/{project}/belts/{id}") => vec![
            call(
                Method::PUT,
                at(running, ""),
                Some(minimal_belt("renamed-running")),
                Tries,
            ),
            call(
                Method::PUT,
                at(stopped, ""),
                Some(minimal_belt("renamed-stopped")),
                Tries,
            ),
        ],
        ("delete", "/projects/{project}/belts/{id}") => vec![
            call(Method::DELETE, at(running, ""), None, Tries),
            call(Method::DELETE, at(stopped, ""), None, Tries),
        ],
        ("post", "/projects/{project}/belts/{id}/state") => vec![
            call(
                Method::POST,
                at(running, "/state"),
                Some(json!({"action": "STOP"})),
                Tries,
            ),
            call(
                Method::POST,
                at(stopped, "/state"),
                Some(json!({"action": "START"})),
                Tries,
            ),
        ],
        ("post", "/projects/{project}/belts/state") => vec![
            call(
                Method::POST,
                "/projects/global/belts/state?status=STOPPED".into(),
                Some(json!({"action": "START"})),
                Tries,
            ),
            call(
                Method::POST,
                "/projects/global/belts/state?status=RUNNING".into(),
                Some(json!({"action": "STOP"})),
                Tries,
            ),
        ],
        ("post", "/projects/{project}/belts/{id}/rollback") => vec![call(
            Method::POST,
            at(stopped, "/rollback"),
            Some(json!({"version": 1})),
            Tries,
        )],
        ("post", "/projects/{project}/belts/{id}/logs") => {
            vec![call(Method::POST, at(running, "/logs"), None, Refuses)]
        }
        ("post", "/projects/{project}/belts/{id}/invoke") => vec![call(
            Method::POST,
            at(stopped, "/invoke"),
            Some(json!({"events": [{"headers": {}, "event": {"id": 1}}]})),
            Refuses,
        )],
        ("post", "/projects/{project}/belts/invoke") => vec![call(
            Method::POST,
            "/projects/global/belts/invoke".into(),
            Some(json!({"events": [{"event": {"id": 1}}], "extractorFn": DRAFT})),
            Refuses,
        )],
        ("put", "/projects/{project}/belts/{id}/samples/{name}") => vec![
            call(
                Method::PUT,
                at(stopped, "/samples/walked-new"),
                Some(json!({"events": [{"event": {"id": 1}}]})),
                Tries,
            ),
            call(
                Method::PUT,
                at(stopped, &format!("/samples/{KEPT_SAMPLE}")),
                Some(json!({"events": [{"event": {"id": 2}}]})),
                Tries,
            ),
        ],
        ("delete", "/projects/{project}/belts/{id}/samples/{name}") => vec![call(
            Method::DELETE,
            at(stopped, &format!("/samples/{KEPT_SAMPLE}")),
            None,
            Tries,
        )],
        ("put", "/projects/{project}/belts/{id}/offsets") => vec![call(
            Method::PUT,
            at(stopped, "/offsets"),
            Some(json!({"reset": "earliest"})),
            Refuses,
        )],
        ("delete", "/projects/{project}/belts/{id}/offsets") => {
            vec![call(Method::DELETE, at(stopped, "/offsets"), None, Refuses)]
        }
        _ => return None,
    };
    Some(calls)
}

/// Everything a write could change, as a client reads it.
async fn snapshot(app: &TestApp) -> Value {
    let token = app.viewer();
    let read = |path: String| {
        let token = token.clone();
        async move {
            let response = app.get(&path, &token).await;
            let etag = response.headers().get("etag").cloned();
            let (status, body) = json_of(response).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            json!({"etag": etag.map(|e| e.to_str().unwrap().to_string()), "body": body})
        }
    };
    let list = read("/projects/global/belts?pagesize=100".into()).await;
    let mut belts = serde_json::Map::new();
    for item in list["body"]["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        let base = format!("/projects/global/belts/{id}");
        let state = read(format!("{base}/state")).await["body"].clone();
        let pods: Vec<Value> = (state["podStatus"].as_array().cloned().unwrap_or_default())
            .iter()
            .map(|pod| pod["name"].clone())
            .collect();
        let offsets = app.get(&format!("{base}/offsets"), &token).await;
        let offsets = match offsets.status() {
            StatusCode::OK => json_of(offsets).await.1,
            status => json!(status.as_u16()),
        };
        let belt = json!({
            "offsets": offsets,
            "document": read(base.clone()).await,
            "status": state["status"],
            "replicas": state["deploymentReplicas"],
            "pods": pods,
            "revisions": read(format!("{base}/revisions?pagesize=100")).await,
            "history": read(format!("{base}/history?pagesize=100")).await,
            "samples": read(format!("{base}/samples")).await,
        });
        belts.insert(id.to_string(), belt);
    }
    json!({"list": list, "belts": belts})
}

/// One operation of the app's own OpenAPI document.
pub(crate) struct Operation {
    /// Lower case, as the document keys it (`get`, `post`).
    pub method: String,
    /// The path as the document names it, v2 or legacy.
    pub path: String,
    /// The operation object: its `parameters`, responses.
    pub doc: Value,
}

/// Every operation of the document the running app serves (`GET /openapi.json`).
pub(crate) async fn operations_in_the_document(app: &TestApp) -> Vec<Operation> {
    let response = app.request(Method::GET, "/openapi.json", None).send().await;
    let (status, doc) = json_of(response.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if let Some(operation) = item.get(method) {
                operations.push(Operation {
                    method: method.to_string(),
                    path: path.clone(),
                    doc: operation.clone(),
                });
            }
        }
    }
    operations
}

/// The write operations of the document, as (method, path).
async fn writes_in_the_document(app: &TestApp) -> BTreeSet<(String, String)> {
    (operations_in_the_document(app).await.into_iter())
        .filter(|operation| operation.method != "get")
        .map(|operation| (operation.method, operation.path))
        .collect()
}

/// The v2 template of a document path, and the prefix its requests are sent under.
pub(crate) fn v2_of(path: &str) -> (String, &'static str) {
    match path.strip_prefix("/projects/{project}") {
        Some(_) => (path.to_string(), "/projects/global"),
        None => (format!("/projects/{{project}}{path}"), ""),
    }
}

/// `call` under `prefix` (`/projects/global` or the legacy root), with `parameter` (`name=value`)
/// added to its query, by an editor.
pub(crate) async fn send(
    app: &TestApp,
    call: &Call,
    prefix: &str,
    parameter: &str,
) -> (StatusCode, Value) {
    let path = match call.path.strip_prefix("/projects/global") {
        Some(rest) => format!("{prefix}{rest}"),
        None => call.path.clone(),
    };
    let separator = if path.contains('?') { '&' } else { '?' };
    let url = format!("{path}{separator}{parameter}");
    let mut request = app.request(call.method.clone(), &url, Some(&app.editor()));
    if let Some(body) = &call.body {
        request = request.json(body);
    }
    json_of(request.send().await.unwrap()).await
}

/// The embedded broker on a free port, when its program is given; no data plane otherwise.
fn data_plane() -> Vec<(String, String)> {
    let Some(program) = std::env::var("BELT_KAFKA_BROKER_COMMAND").ok() else {
        return Vec::new();
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    [
        ("--kafka-broker", "embedded".to_string()),
        ("--kafka-broker-command", program),
        ("--kafka-listen", format!("127.0.0.1:{port}")),
    ]
    .map(|(flag, value)| (flag.to_string(), value))
    .to_vec()
}

async fn every_write_in_the_openapi_document_dry_runs_or_refuses_dry_run(backend: Backend) {
    let with_broker = !data_plane().is_empty();
    let app = spawn_running_app_with(backend, data_plane()).await;
    let running = app.create_belt("global", &minimal_belt("running")).await;
    let running = running["id"].as_str().unwrap().to_string();
    act(&app, &running, "START").await;
    wait_for(&app, &running, "RUNNING").await;
    let stopped = app.create_belt("global", &minimal_belt("stopped")).await;
    let stopped = stopped["id"].as_str().unwrap().to_string();
    let path = format!("/projects/global/belts/{stopped}");
    let replaced = app
        .put(&path, &app.editor(), &minimal_belt("stopped-2"))
        .await;
    assert_eq!(replaced.status(), StatusCode::OK);
    let sample = json!({"events": [{"event": {"id": 0}}]});
    let kept = format!("{path}/samples/{KEPT_SAMPLE}");
    let saved = app.put(&kept, &app.editor(), &sample).await;
    assert_eq!(saved.status(), StatusCode::CREATED);
    let belts = Belts { running, stopped };

    let before = snapshot(&app).await;
    let offsets = &before["belts"][&belts.stopped]["offsets"];
    if with_broker {
        assert!(offsets["offsets"].is_array(), "offsets read: {offsets}");
    } else {
        assert_eq!(offsets, &json!(404), "no data plane: {offsets}");
    }
    let writes = writes_in_the_document(&app).await;
    let mut unknown = Vec::new();
    let mut walked = 0;
    for (method, path) in &writes {
        let (template, prefix) = v2_of(path);
        let Some(calls) = calls_for(method, &template, &belts) else {
            unknown.push(format!("{} {path}", method.to_uppercase()));
            continue;
        };
        for call in calls {
            let (status, body) = send(&app, &call, prefix, "dryRun=true").await;
            let what = format!("{} {path} ({}): {status} {body}", call.method, call.path);
            match call.expect {
                Expect::Refuses => {
                    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
                    let message = body["message"].as_str().unwrap_or_default();
                    assert!(message.contains("'dryRun'"), "{what}");
                }
                Expect::Tries => assert!(status.is_success(), "{what}"),
            }
            assert_eq!(snapshot(&app).await, before, "{what} changed something");
            walked += 1;
        }
    }
    assert!(
        unknown.is_empty(),
        "writes the walk does not exercise: {unknown:?}"
    );
    // Both the v2 paths and their legacy twins were walked.
    assert!(walked >= 2 * 10, "only {walked} calls for {writes:?}");
    wait_for(&app, &belts.running, "RUNNING").await;
}
