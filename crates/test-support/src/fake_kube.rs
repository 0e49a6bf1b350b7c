//! The one fake Kubernetes API server of the tests: a `tower_test` mock handed to
//! `kube::Client::new`, as kube-rs/controller-rs tests do, so no socket and no TLS. Two ways to
//! answer it:
//!
//! - scripted ([`FakeKube`]): a test takes each call (`next`, failing after a second when an
//!   expected call never comes) and answers it, checking method, path, query and body exactly;
//! - a small cluster ([`Cluster`]): objects kept by path and every call answered as an API server
//!   would, for tests about what the service does rather than the calls it makes.
//!
//! Either way every request is recorded as an [`Access`] (group, resource, subresource, RBAC
//! verb) before it is answered, even one that is never answered; `observed()` is what a Role
//! has to grant for the calls the test made.
//!
//! A [`Cluster`] can also be served over HTTP ([`Cluster::serve_http`]), for `belt-api` processes
//! a test spawns: they reach it through a kubeconfig, and the same cluster answers them.

mod access;
mod cluster;
mod http_api;
mod replies;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::Value;
use tokio::time::timeout;
use tower::ServiceExt;

pub use access::{Access, Verb};
pub use cluster::Cluster;
pub use http_api::HttpApi;
pub use replies::{list, reply_json, reply_status, reply_text, Reply};

/// How long a scripted test waits for a call it expects: far more than any call takes.
pub const EXPECTED_CALL: Duration = Duration::from_secs(1);

/// What the fake API server was asked, shared by the server and the test.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Recorded>>);

#[derive(Default)]
struct Recorded {
    accesses: BTreeSet<Access>,
    /// Requests that name no resource (discovery, `/version`): no namespaced Role grants them.
    non_resource: Vec<String>,
    /// Every request as `METHOD path`, in order.
    calls: Vec<String>,
    /// (`METHOD path`, `traceparent`) of every request that carried one, in order.
    traceparents: Vec<(String, String)>,
    /// Objects a [`Cluster`] created (by POST or by an apply), by (resource, name).
    creates: BTreeMap<(String, String), u32>,
    /// Server-side applies a [`Cluster`] accepted, creating or not, by (resource, name, user).
    applies: BTreeMap<(String, String, String), u32>,
}

impl Recorder {
    fn record(&self, request: &Request<Body>) {
        let (method, uri) = (request.method(), request.uri());
        let call = format!("{method} {}", uri.path());
        let mut recorded = self.lock();
        let traceparent = request.headers().get("traceparent");
        if let Some(traceparent) = traceparent.and_then(|value| value.to_str().ok()) {
            let traceparent = traceparent.to_string();
            recorded.traceparents.push((call.clone(), traceparent));
        }
        recorded.calls.push(call);
        match Access::of(method, uri) {
            Ok(access) => {
                recorded.accesses.insert(access);
            }
            Err(request) => recorded.non_resource.push(request),
        }
    }

    /// A write of `call` a [`Cluster`] accepted to the object `name` of `resource`: whether it
    /// created the object.
    pub(crate) fn wrote(&self, call: &Call, resource: &str, name: &str, created: bool) {
        let (resource, name) = (resource.to_string(), name.to_string());
        let mut recorded = self.lock();
        if created {
            let key = (resource.clone(), name.clone());
            *recorded.creates.entry(key).or_default() += 1;
        }
        if call.is_apply() {
            let key = (resource, name, call.user.clone());
            *recorded.applies.entry(key).or_default() += 1;
        }
    }

    /// An access one request needs besides the one its method and path say (a server-side apply
    /// that creates its object needs `create` too).
    pub(crate) fn also(&self, access: Access) {
        self.lock().accesses.insert(access);
    }

    /// Every kind of access asked for so far.
    pub fn observed(&self) -> BTreeSet<Access> {
        self.lock().accesses.clone()
    }

    /// Requests so far that named no resource.
    pub fn non_resource(&self) -> Vec<String> {
        self.lock().non_resource.clone()
    }

    /// Every request so far as `METHOD path`, in order.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// (`METHOD path`, `traceparent`) of every request so far that carried one, in order.
    pub fn traceparents(&self) -> Vec<(String, String)> {
        self.lock().traceparents.clone()
    }

    /// How often a [`Cluster`] created each object of `resource` (`deployments`), by name.
    pub fn creates(&self, resource: &str) -> BTreeMap<String, u32> {
        counts(&self.lock().creates, resource)
    }

    /// How often a [`Cluster`] took a server-side apply of each object of `resource`
    /// (creating or changing it), by name.
    pub fn applies(&self, resource: &str) -> BTreeMap<String, u32> {
        let mut counts = BTreeMap::new();
        for ((of, name, _), count) in &self.lock().applies {
            if of == resource {
                *counts.entry(name.clone()).or_default() += count;
            }
        }
        counts
    }

    /// Who applied each object of `resource`: by name, the users (`Call::user`) whose
    /// server-side applies a [`Cluster`] took, with how many each.
    pub fn appliers(&self, resource: &str) -> BTreeMap<String, BTreeMap<String, u32>> {
        let mut appliers = BTreeMap::<String, BTreeMap<String, u32>>::new();
        for ((of, name, user), count) in &self.lock().applies {
            if of == resource {
                let users = appliers.entry(name.clone()).or_default();
                users.insert(user.clone(), *count);
            }
        }
        appliers
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn counts(all: &BTreeMap<(String, String), u32>, resource: &str) -> BTreeMap<String, u32> {
    (all.iter())
        .filter(|((of, _), _)| of == resource)
        .map(|((_, name), count)| (name.clone(), *count))
        .collect()
}

/// One request as the fake API server saw it.
pub struct Call {
    pub method: Method,
    /// The whole URI; `path` and `query` are its parts.
    pub uri: http::Uri,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    /// Who the API server would take the caller for: the bearer token itself (a fake needs no
    /// other directory of users), `system:anonymous` without one.
    pub user: String,
    pub body: Vec<u8>,
}

impl Call {
    /// A server-side apply (`PATCH` with the apply content type).
    pub fn is_apply(&self) -> bool {
        self.method == Method::PATCH
            && self.content_type.as_deref() == Some("application/apply-patch+yaml")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn is_watch(&self) -> bool {
        self.query.get("watch").map(String::as_str) == Some("true")
    }

    async fn read(request: Request<Body>) -> Call {
        let (parts, body) = request.into_parts();
        let query = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes());
        let query = query.into_owned().collect();
        let header = |name| {
            let value = parts.headers.get(name)?.to_str().ok()?;
            Some(value.to_string())
        };
        let authorization = header(http::header::AUTHORIZATION).unwrap_or_default();
        let user = match authorization.strip_prefix("Bearer ") {
            Some(token) => token.to_string(),
            None => "system:anonymous".to_string(),
        };
        Call {
            content_type: header(http::header::CONTENT_TYPE),
            accept: header(http::header::ACCEPT),
            user,
            method: parts.method,
            path: parts.uri.path().to_string(),
            uri: parts.uri,
            query,
            body: body.collect_bytes().await.unwrap().to_vec(),
        }
    }
}

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// A client for namespace `namespace` whose every request reaches the returned handle, recorded.
fn recorded_client(namespace: &str) -> (kube::Client, Handle, Recorder) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let recorder = Recorder::default();
    let seen = recorder.clone();
    let service = service.map_request(move |request: Request<Body>| {
        seen.record(&request);
        request
    });
    (kube::Client::new(service, namespace), handle, recorder)
}

/// The scripted fake API server: the test answers each call.
pub struct FakeKube {
    handle: Handle,
    recorder: Recorder,
    /// Watch requests held open (path, reply), as an API server holds them until something
    /// changes.
    pub watches: Vec<(String, Reply)>,
}

/// A client for `namespace` and the scripted fake API server behind it.
pub fn pair(namespace: &str) -> (kube::Client, FakeKube) {
    let (client, handle, recorder) = recorded_client(namespace);
    let watches = Vec::new();
    let fake = FakeKube {
        handle,
        recorder,
        watches,
    };
    (client, fake)
}

impl FakeKube {
    /// What this server was asked so far, as RBAC sees it.
    pub fn observed(&self) -> BTreeSet<Access> {
        self.recorder.observed()
    }

    /// The recorder, to read after the server is moved into a task.
    pub fn recorder(&self) -> Recorder {
        self.recorder.clone()
    }

    /// The next call; panics when none comes within a second.
    pub async fn next(&mut self) -> (Call, Reply) {
        self.next_within(EXPECTED_CALL).await
    }

    /// The next call; panics when none comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> (Call, Reply) {
        timeout(wait, self.next_request())
            .await
            .expect("an expected API call did not come in time")
            .expect("the client went away")
    }

    /// The next call, however long it takes; `None` once the client is gone.
    pub async fn next_request(&mut self) -> Option<(Call, Reply)> {
        let (request, reply) = self.handle.next_request().await?;
        Some((Call::read(request).await, reply))
    }

    /// Panics when a call comes within 200 ms.
    pub async fn assert_no_call(&mut self) {
        let next = timeout(Duration::from_millis(200), self.handle.next_request()).await;
        if let Ok(Some((request, _))) = next {
            panic!(
                "unexpected API call: {} {}",
                request.method(),
                request.uri()
            );
        }
    }

    /// Answers the first LIST of each path of `lists` (path → items) and holds each WATCH: two
    /// calls per path, in whichever order the reflectors make them. Each must carry
    /// `label_selector`; any other path is a failure.
    pub async fn serve_lists(&mut self, lists: &[(&str, Vec<Value>)], label_selector: &str) {
        for _ in 0..lists.len() * 2 {
            let (call, reply) = self.next().await;
            assert_eq!(call.method, Method::GET, "{}", call.path);
            assert_eq!(
                call.query.get("labelSelector").map(String::as_str),
                Some(label_selector),
                "{}",
                call.path
            );
            if call.is_watch() {
                self.watches.push((call.path, reply));
                continue;
            }
            let (_, items) = lists
                .iter()
                .find(|(path, _)| *path == call.path)
                .unwrap_or_else(|| panic!("unexpected list of {}", call.path));
            reply_json(reply, 200, &list("List", items));
        }
    }

    /// The held watch of `path`, taken out of `watches`.
    pub fn take_watch(&mut self, path: &str) -> Option<Reply> {
        let index = self.watches.iter().position(|(p, _)| p == path)?;
        Some(self.watches.remove(index).1)
    }

    /// Sends `events` (`("MODIFIED", object)`) on the held watch of `path`; the watch then ends
    /// and the reflector watches again (a call the test answers or holds).
    pub fn push(&mut self, path: &str, events: &[(&str, &Value)]) {
        let watch = self
            .take_watch(path)
            .unwrap_or_else(|| panic!("no watch of {path} held"));
        replies::send_watch_events(watch, events);
    }
}
