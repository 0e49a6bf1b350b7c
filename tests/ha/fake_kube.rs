//! A Kubernetes API server over HTTP, small but real enough for spawned `belt-api` processes: it
//! keeps objects per resource of one namespace, answers list (with a `resourceVersion`), get,
//! server-side apply, delete and streamed watches filtered by label selector, and counts what it
//! created. An applied Deployment rolls out at once (its status says every replica is ready), so
//! a belt reaches RUNNING through the runtime's own reflectors and phase logic.
//!
//! The other fakes of this repository (`tests/kubernetes_runtime.rs`, the `fake_kube` of the
//! test-support crate) are tower mocks inside the test process; replicas in other processes need
//! a URL, hence this one. The HA test uses only `FakeKube::start`, `kubeconfig`, `client`, `object`, `creates`,
//! `applies` and `names`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::broadcast;

pub struct FakeKube {
    pub url: String,
    state: Arc<Shared>,
    _server: tokio::task::JoinHandle<()>,
}

struct Shared {
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Change>,
}

#[derive(Default)]
struct Inner {
    version: u64,
    /// By (resource, name).
    objects: BTreeMap<(String, String), Value>,
    /// Every change, oldest first: what a watch from a resource version replays.
    log: Vec<Change>,
    /// Creations by (resource, name).
    creates: BTreeMap<(String, String), u32>,
    /// Applies (creations included) by (resource, name).
    applies: BTreeMap<(String, String), u32>,
    /// The `traceparent` of every request that carried one, with its method and path.
    traceparents: Vec<(String, String)>,
}

#[derive(Clone)]
struct Change {
    version: u64,
    resource: String,
    kind: &'static str,
    object: Value,
}

/// One request's target: `/api/v1/namespaces/NS/RESOURCE[/NAME]` or the same under
/// `/apis/GROUP/VERSION`.
struct Target {
    api_version: String,
    resource: String,
    name: Option<String>,
}

impl FakeKube {
    pub async fn start() -> FakeKube {
        let state = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            changes: broadcast::channel(4096).0,
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        FakeKube {
            url,
            state,
            _server: server,
        }
    }

    /// How often each object of `resource` was created, by name.
    pub fn creates(&self, resource: &str) -> BTreeMap<String, u32> {
        let inner = self.state.inner.lock().unwrap();
        counts(&inner.creates, resource)
    }

    /// How often each object of `resource` was applied (created or changed), by name.
    pub fn applies(&self, resource: &str) -> BTreeMap<String, u32> {
        let inner = self.state.inner.lock().unwrap();
        counts(&inner.applies, resource)
    }

    /// (`METHOD path`, `traceparent`) of every request that carried one, in order.
    pub fn traceparents(&self) -> Vec<(String, String)> {
        self.state.inner.lock().unwrap().traceparents.clone()
    }

    /// The names of the objects of `resource` that exist now.
    pub fn names(&self, resource: &str) -> Vec<String> {
        let inner = self.state.inner.lock().unwrap();
        (inner.objects.keys())
            .filter(|(of, _)| of == resource)
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// A client of this server, as the replicas' kubeconfig makes one.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url.parse().unwrap());
        kube::Client::try_from(config).unwrap()
    }

    /// The object `name` of `resource`, if it exists.
    pub fn object(&self, resource: &str, name: &str) -> Option<Value> {
        let inner = self.state.inner.lock().unwrap();
        inner
            .objects
            .get(&(resource.to_string(), name.to_string()))
            .cloned()
    }

    /// A kubeconfig that points at this server, namespace `namespace`.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  \
             cluster:\n    server: {}\nusers:\n- name: fake\n  user: {{}}\ncontexts:\n- name: \
             fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: {namespace}\n",
            self.url
        )
    }
}

fn counts(all: &BTreeMap<(String, String), u32>, resource: &str) -> BTreeMap<String, u32> {
    (all.iter())
        .filter(|((of, _), _)| of == resource)
        .map(|((_, name), count)| (name.clone(), *count))
        .collect()
}

async fn handle(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(traceparent) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
        let call = format!("{method} {}", uri.path());
        let mut inner = state.inner.lock().unwrap();
        inner.traceparents.push((call, traceparent.to_string()));
    }
    let Some(target) = target(uri.path()) else {
        return status(StatusCode::NOT_FOUND, "NotFound", uri.path());
    };
    let query: BTreeMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let selector = query.get("labelSelector").cloned().unwrap_or_default();
    match (method, &target.name) {
        (Method::GET, None)
            if matches!(query.get("watch").map(String::as_str), Some("true" | "1")) =>
        {
            watch(&state, &target, &selector, &query)
        }
        (Method::GET, None) => list(&state, &target, &selector),
        (Method::GET, Some(name)) => get(&state, &target.resource, name),
        (Method::PATCH, Some(name)) => apply(&state, &target, name, &body),
        (Method::POST, None) => create(&state, &target, &body),
        (Method::PUT, Some(name)) => replace(&state, &target, name, &body),
        (Method::DELETE, Some(name)) => delete(&state, &target.resource, name),
        (method, _) => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            method.as_str(),
        ),
    }
}

fn target(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (api_version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => (version.to_string(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return None,
    };
    match rest {
        ["namespaces", _, resource] => Some(Target {
            api_version,
            resource: resource.to_string(),
            name: None,
        }),
        ["namespaces", _, resource, name] => Some(Target {
            api_version,
            resource: resource.to_string(),
            name: Some(name.to_string()),
        }),
        _ => None,
    }
}

/// `a=b,c=d`, `a!=b` and `a` (exists): what the runtime's selectors use.
fn selected(object: &Value, selector: &str) -> bool {
    let labels = &object["metadata"]["labels"];
    selector
        .split(',')
        .filter(|term| !term.is_empty())
        .all(|term| {
            if let Some((key, value)) = term.split_once("!=") {
                labels[key.trim()].as_str() != Some(value.trim())
            } else if let Some((key, value)) = term.split_once('=') {
                labels[key.trim()].as_str() == Some(value.trim_start_matches('=').trim())
            } else {
                !labels[term.trim()].is_null()
            }
        })
}

fn list(state: &Shared, target: &Target, selector: &str) -> Response {
    let inner = state.inner.lock().unwrap();
    let items: Vec<Value> = (inner.objects.iter())
        .filter(|((resource, _), object)| {
            *resource == target.resource && selected(object, selector)
        })
        .map(|(_, object)| object.clone())
        .collect();
    let kind = format!("{}List", kind_of(&target.resource));
    json_response(
        StatusCode::OK,
        &json!({"apiVersion": target.api_version, "kind": kind,
                "metadata": {"resourceVersion": inner.version.to_string()}, "items": items}),
    )
}

fn get(state: &Shared, resource: &str, name: &str) -> Response {
    let inner = state.inner.lock().unwrap();
    match inner.objects.get(&(resource.to_string(), name.to_string())) {
        Some(object) => json_response(StatusCode::OK, object),
        None => status(StatusCode::NOT_FOUND, "NotFound", name),
    }
}

/// Server-side apply: creates the object or takes the applied fields over; a Deployment's
/// rollout completes at once.
fn apply(state: &Shared, target: &Target, name: &str, body: &Bytes) -> Response {
    let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not JSON",
        );
    };
    let mut inner = state.inner.lock().unwrap();
    inner.version += 1;
    let version = inner.version;
    let key = (target.resource.clone(), name.to_string());
    let existing = inner.objects.get(&key).cloned();
    let generation = existing
        .as_ref()
        .and_then(|old| old["metadata"]["generation"].as_i64())
        .map_or(1, |old| old + 1);
    let uid = existing.as_ref().map_or_else(
        || format!("uid-{version}"),
        |old| {
            old["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        },
    );
    let metadata = &mut object["metadata"];
    metadata["name"] = json!(name);
    metadata["uid"] = json!(uid);
    metadata["resourceVersion"] = json!(version.to_string());
    metadata["generation"] = json!(generation);
    metadata["creationTimestamp"] = json!("2026-12-06T00:00:00Z");
    if target.resource == "deployments" {
        let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
        object["status"] = json!({"observedGeneration": generation, "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas});
    }
    let kind = if existing.is_some() {
        "MODIFIED"
    } else {
        "ADDED"
    };
    if existing.is_none() {
        *inner.creates.entry(key.clone()).or_default() += 1;
    }
    *inner.applies.entry(key.clone()).or_default() += 1;
    inner.objects.insert(key, object.clone());
    record(state, &mut inner, &target.resource, kind, &object);
    let code = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    json_response(code, &object)
}

/// A create: 409 `AlreadyExists` when the name is taken.
fn create(state: &Shared, target: &Target, body: &Bytes) -> Response {
    let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not JSON",
        );
    };
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut inner = state.inner.lock().unwrap();
    let key = (target.resource.clone(), name.clone());
    if inner.objects.contains_key(&key) {
        return status(StatusCode::CONFLICT, "AlreadyExists", &name);
    }
    inner.version += 1;
    object["metadata"]["resourceVersion"] = json!(inner.version.to_string());
    *inner.creates.entry(key.clone()).or_default() += 1;
    inner.objects.insert(key, object.clone());
    record(state, &mut inner, &target.resource, "ADDED", &object);
    json_response(StatusCode::CREATED, &object)
}

/// A replace, only of the `resourceVersion` it names: 409 `Conflict` when another write came
/// first, as the API server's optimistic concurrency answers.
fn replace(state: &Shared, target: &Target, name: &str, body: &Bytes) -> Response {
    let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not JSON",
        );
    };
    let mut inner = state.inner.lock().unwrap();
    let key = (target.resource.clone(), name.to_string());
    let Some(current) = inner.objects.get(&key) else {
        return status(StatusCode::NOT_FOUND, "NotFound", name);
    };
    if current["metadata"]["resourceVersion"] != object["metadata"]["resourceVersion"] {
        return status(
            StatusCode::CONFLICT,
            "Conflict",
            "the object has been modified",
        );
    }
    inner.version += 1;
    object["metadata"]["resourceVersion"] = json!(inner.version.to_string());
    inner.objects.insert(key, object.clone());
    record(state, &mut inner, &target.resource, "MODIFIED", &object);
    json_response(StatusCode::OK, &object)
}

fn delete(state: &Shared, resource: &str, name: &str) -> Response {
    let mut inner = state.inner.lock().unwrap();
    let Some(mut object) = inner
        .objects
        .remove(&(resource.to_string(), name.to_string()))
    else {
        return status(StatusCode::NOT_FOUND, "NotFound", name);
    };
    inner.version += 1;
    object["metadata"]["resourceVersion"] = json!(inner.version.to_string());
    record(state, &mut inner, resource, "DELETED", &object);
    json_response(StatusCode::OK, &object)
}

fn record(state: &Shared, inner: &mut Inner, resource: &str, kind: &'static str, object: &Value) {
    let change = Change {
        version: inner.version,
        resource: resource.to_string(),
        kind,
        object: object.clone(),
    };
    inner.log.push(change.clone());
    let _ = state.changes.send(change);
}

/// The changes after `resourceVersion`, then the new ones as they come, one JSON line each,
/// until `timeoutSeconds`.
fn watch(
    state: &Arc<Shared>,
    target: &Target,
    selector: &str,
    query: &BTreeMap<String, String>,
) -> Response {
    let since: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(290);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1024);
    // Subscribed under the lock that the backlog is read under: nothing falls in between.
    let (backlog, mut live) = {
        let inner = state.inner.lock().unwrap();
        (inner.log.clone(), state.changes.subscribe())
    };
    let (resource, selector) = (target.resource.clone(), selector.to_string());
    let wanted = move |change: &Change| {
        change.version > since && change.resource == resource && selected(&change.object, &selector)
    };
    tokio::spawn(async move {
        let line = |change: &Change| {
            let text = json!({"type": change.kind, "object": change.object}).to_string();
            Ok(Bytes::from(text + "\n"))
        };
        for change in backlog.iter().filter(|c| wanted(c)) {
            if sender.send(line(change)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                change = live.recv() => match change {
                    Ok(change) if wanted(&change) => {
                        if sender.send(line(&change)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                },
            }
        }
    });
    let stream = tokio_stream(receiver);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

fn tokio_stream(
    mut receiver: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

fn kind_of(resource: &str) -> &'static str {
    match resource {
        "deployments" => "Deployment",
        "pods" => "Pod",
        "configmaps" => "ConfigMap",
        "secrets" => "Secret",
        "events" => "Event",
        _ => "Object",
    }
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    json_response(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code.as_u16()}),
    )
}
