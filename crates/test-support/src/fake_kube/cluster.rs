//! The fake API server as a small cluster: objects kept by path, and every call answered as an
//! API server answers it (lists with a resourceVersion and label selectors, watches from a
//! resourceVersion, sent the ADDED/MODIFIED/DELETED events of their objects since then or held
//! open until there is one, 404 and 409 `Status` bodies, writes as `writes` makes them,
//! metadata-only reads, a pod's log). A test seeds it, lets the service work, then reads what is
//! stored and what was asked.

mod writes;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{json, Value};

use super::replies::{reply_json, reply_status, reply_text, send_watch_events, Reply};
use super::{pair, Access, Call, FakeKube, Recorder, Verb};

/// A running fake cluster; the client returned with it talks to it.
pub struct Cluster {
    objects: Arc<Mutex<Objects>>,
    recorder: Recorder,
}

#[derive(Default)]
struct Objects {
    /// Each object by its path (`/api/v1/namespaces/belts/pods/p1`).
    by_path: BTreeMap<String, Value>,
    /// A pod's log by the pod's path.
    logs: BTreeMap<String, String>,
    resource_version: u64,
    /// Every change: (resourceVersion, path, event type, the object), for watches that start
    /// from an older resourceVersion than the latest.
    changes: Vec<(u64, String, String, Value)>,
    /// Held watches: the collection's path, the label selector, where the events go.
    watches: Vec<(String, String, Reply)>,
    /// No Deployment controller: a written Deployment keeps the status it had (none when new).
    hold_rollouts: bool,
    /// Where accepted writes are counted.
    recorder: Recorder,
}

impl Cluster {
    /// A client for `namespace` and the cluster answering it, serving on a task until the client
    /// is dropped. Call it inside a Tokio runtime.
    pub fn start(namespace: &str) -> (kube::Client, Cluster) {
        let (client, mut fake) = pair(namespace);
        let recorder = fake.recorder();
        let objects = Arc::new(Mutex::new(Objects {
            resource_version: 50_000,
            recorder: recorder.clone(),
            ..Objects::default()
        }));
        let served = objects.clone();
        tokio::spawn(async move { serve(&mut fake, &served).await });
        (client, Cluster { objects, recorder })
    }

    /// From now on a Deployment a client writes keeps the status it had, as when no Deployment
    /// controller runs: for a test that sets the status itself (`update`). By default a written
    /// Deployment rolls out at once: its status says every replica of its generation is ready.
    pub fn hold_rollouts(&self) {
        self.lock().hold_rollouts = true;
    }

    /// Stores `object` in the collection at `collection` under its `metadata.name`, as if
    /// someone else had made it (watches are told); stored as given, with no field only the
    /// server sets but its resourceVersion.
    pub fn put(&self, collection: &str, object: Value) {
        let name = object["metadata"]["name"].as_str().expect("a named object");
        let path = format!("{collection}/{name}");
        let mut objects = self.lock();
        let kind = if objects.by_path.contains_key(&path) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        objects.store(&path, object, kind);
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.lock().by_path.get(path).cloned()
    }

    /// The names of the objects in the collection at `collection`.
    pub fn names(&self, collection: &str) -> Vec<String> {
        let objects = self.lock();
        let children = objects.children(collection, "").map(|(path, _)| path);
        children
            .map(|path| path.rsplit('/').next().unwrap_or_default().to_string())
            .collect()
    }

    /// Changes the stored object at `path` (a kubelet setting a pod's status); watches are told.
    pub fn update(&self, path: &str, change: impl FnOnce(&mut Value)) {
        let mut objects = self.lock();
        let mut object = objects.by_path.get(path).cloned().expect("a stored object");
        change(&mut object);
        objects.store(path, object, "MODIFIED");
    }

    /// What `pods/{name}/log` answers for the pod at `pod`.
    pub fn set_log(&self, pod: &str, text: &str) {
        self.lock().logs.insert(pod.to_string(), text.to_string());
    }

    /// What this cluster was asked so far, as RBAC sees it.
    pub fn observed(&self) -> std::collections::BTreeSet<Access> {
        self.recorder.observed()
    }

    pub fn recorder(&self) -> Recorder {
        self.recorder.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn serve(fake: &mut FakeKube, objects: &Mutex<Objects>) {
    let recorder = fake.recorder();
    while let Some((call, reply)) = fake.next_request().await {
        let Ok(access) = Access::of(&call.method, &call.uri) else {
            reply_status(reply, 404, "NotFound");
            continue;
        };
        let mut objects = objects.lock().unwrap_or_else(PoisonError::into_inner);
        // A server-side apply that creates its object is authorized as `create` as well as
        // `patch` (kubernetes.io/docs/reference/using-api/api-concepts/#patch-and-apply).
        if access.verb == Verb::Patch
            && call.is_apply()
            && !objects.by_path.contains_key(&call.path)
        {
            recorder.also(Access {
                verb: Verb::Create,
                ..access.clone()
            });
        }
        objects.answer(&call, &access, reply);
    }
}

impl Objects {
    fn answer(&mut self, call: &Call, access: &Access, reply: Reply) {
        let selector = call.query.get("labelSelector").cloned().unwrap_or_default();
        let path = call.path.as_str();
        match (access.verb, access.subresource.as_deref()) {
            (Verb::Watch, _) => self.watch(call, selector, reply),
            (Verb::List, _) => reply_json(reply, 200, &self.list(path, &selector)),
            (Verb::Get, Some("log")) => match self.by_path.get(parent(path)) {
                Some(_) => reply_text(
                    reply,
                    self.logs.get(parent(path)).map_or("", String::as_str),
                ),
                None => reply_status(reply, 404, "NotFound"),
            },
            (Verb::Get, _) => match self.by_path.get(path) {
                Some(object) if wants_metadata(call) => reply_json(reply, 200, &metadata(object)),
                Some(object) => reply_json(reply, 200, object),
                None => reply_status(reply, 404, "NotFound"),
            },
            (Verb::Create, _) => self.create(call, reply),
            (Verb::Update | Verb::Patch, _) => self.write(call, access, reply),
            (Verb::Delete, _) => match self.remove(path) {
                Some(object) => reply_json(reply, 200, &object),
                None => reply_status(reply, 404, "NotFound"),
            },
            (Verb::DeleteCollection, _) => {
                let gone = self.delete_matching(path, &selector);
                reply_json(reply, 200, &self.list_of(&gone));
            }
        }
    }

    /// Sends the events of the watch's objects since its resourceVersion, ending it, or holds it
    /// until there is one.
    fn watch(&mut self, call: &Call, selector: String, reply: Reply) {
        let since: u64 = call
            .query
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let missed: Vec<(&str, &Value)> = self
            .changes
            .iter()
            .filter(|(version, path, _, object)| {
                *version > since && parent(path) == call.path && matches_selector(object, &selector)
            })
            .map(|(_, _, kind, object)| (kind.as_str(), object))
            .collect();
        if missed.is_empty() {
            self.watches.push((call.path.clone(), selector, reply));
        } else {
            send_watch_events(reply, &missed);
        }
    }

    fn children<'a>(
        &'a self,
        collection: &'a str,
        selector: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.by_path
            .iter()
            .filter(move |(path, _)| parent(path) == collection)
            .filter(move |(_, object)| matches_selector(object, selector))
    }

    fn list(&self, collection: &str, selector: &str) -> Value {
        let items: Vec<Value> = self
            .children(collection, selector)
            .map(|(_, o)| o.clone())
            .collect();
        self.list_of(&items)
    }

    fn list_of(&self, items: &[Value]) -> Value {
        let version = self.resource_version.to_string();
        json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": version},
            "items": items})
    }

    fn delete_matching(&mut self, collection: &str, selector: &str) -> Vec<Value> {
        let paths: Vec<String> = self
            .children(collection, selector)
            .map(|(p, _)| p.clone())
            .collect();
        paths.iter().filter_map(|path| self.remove(path)).collect()
    }

    /// Removes the object at `path` (and its log) at the next resourceVersion; watches are told.
    fn remove(&mut self, path: &str) -> Option<Value> {
        let mut object = self.by_path.remove(path)?;
        self.logs.remove(path);
        // The DELETED event carries the deletion's resourceVersion, so a watch resumes after it.
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        self.tell(path, &object, "DELETED");
        Some(object)
    }

    /// Stores `object` at `path` with the next resourceVersion and tells the watches.
    fn store(&mut self, path: &str, mut object: Value, kind: &str) -> Value {
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        self.by_path.insert(path.to_string(), object.clone());
        self.tell(path, &object, kind);
        object
    }

    /// Ends each held watch the object belongs to with its event, as an API server's watch
    /// ends at its timeout; the client watches again from the new resourceVersion.
    fn tell(&mut self, path: &str, object: &Value, kind: &str) {
        let version = self.resource_version;
        let change = (version, path.to_string(), kind.to_string(), object.clone());
        self.changes.push(change);
        let (told, kept) =
            std::mem::take(&mut self.watches)
                .into_iter()
                .partition(|(collection, selector, _)| {
                    parent(path) == collection && matches_selector(object, selector)
                });
        self.watches = kept;
        for (_, _, watch) in told {
            send_watch_events(watch, &[(kind, object)]);
        }
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

fn wants_metadata(call: &Call) -> bool {
    let accept = call.accept.as_deref().unwrap_or_default();
    accept.contains("as=PartialObjectMetadata")
}

fn metadata(object: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": object["metadata"]})
}

/// An equality-based label selector: `k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated.
fn matches_selector(object: &Value, selector: &str) -> bool {
    let labels = &object["metadata"]["labels"];
    let label = |key: &str| labels[key.trim()].as_str();
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        if let Some((key, value)) = term.split_once("!=") {
            label(key) != Some(value.trim())
        } else if let Some((key, value)) = term.split_once('=') {
            label(key) == Some(value.trim_start_matches('=').trim())
        } else if let Some(key) = term.strip_prefix('!') {
            label(key).is_none()
        } else {
            label(term).is_some()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_as_the_api_server_matches_them() {
        let pod = json!({"metadata": {"labels": {"app": "belt", "id": "7"}}});
        assert!(matches_selector(&pod, ""));
        assert!(matches_selector(&pod, "app=belt,id==7"));
        assert!(matches_selector(&pod, "app,!gone,id!=8"));
        assert!(!matches_selector(&pod, "app=belt,id=8"));
        assert!(!matches_selector(&pod, "!app"));
    }
}
