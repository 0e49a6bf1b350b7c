//! A client's writes as the API server and a cluster's controllers make them: a create (409
//! `AlreadyExists` when the name is taken), a replace (`PUT`, 409 `Conflict` when it names a
//! resourceVersion that is no longer the stored one: the optimistic concurrency the Lease
//! election relies on), a server-side apply (creating or replacing; its body is the whole
//! intent), a merge patch (RFC 7386) of an object that exists.
//!
//! The stored object gets what only the server sets: a uid and a creationTimestamp at creation,
//! kept by every later write; `metadata.generation` for an object with a spec, 1 at creation and
//! one more whenever the spec changes; the status it had, which a write of the object does not
//! change (the status is its controller's). A written Deployment rolls out at once, as if its
//! controller had started every pod and all were ready, unless the cluster holds rollouts.

use std::time::{SystemTime, UNIX_EPOCH};

use http::Method;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};

use super::{parent, Objects};
use crate::fake_kube::replies::{reply_failure, reply_json, reply_status, Reply};
use crate::fake_kube::{Access, Call};

impl Objects {
    pub(super) fn create(&mut self, call: &Call, reply: Reply) {
        let (collection, mut object) = (call.path.as_str(), call.json());
        if object["metadata"]["name"].is_null() {
            let prefix = object["metadata"]["generateName"]
                .as_str()
                .unwrap_or("object-");
            let prefix = prefix.to_string();
            object["metadata"]["name"] = json!(format!("{prefix}{}", self.resource_version));
        }
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let path = format!("{collection}/{name}");
        if self.by_path.contains_key(&path) {
            return reply_status(reply, 409, "AlreadyExists");
        }
        let stored = self.accept(call, &path, None, object);
        reply_json(reply, 201, &stored);
    }

    /// PUT replaces an object that exists; server-side apply creates or replaces; another PATCH
    /// merges into an object that exists.
    pub(super) fn write(&mut self, call: &Call, access: &Access, reply: Reply) {
        let path = call.path.as_str();
        let apply = call.is_apply();
        let existing = self.by_path.get(path).cloned();
        let object = match (&existing, call.method == Method::PUT, apply) {
            (None, _, false) => return reply_status(reply, 404, "NotFound"),
            (None, _, true) => {
                let stored = self.accept(call, path, None, call.json());
                return reply_json(reply, 201, &stored);
            }
            (Some(stored), true, _) if is_stale(stored, &call.json()) => {
                return reply_conflict(reply, access, path);
            }
            (Some(_), true, _) | (Some(_), _, true) => call.json(),
            (Some(stored), false, false) => {
                let mut merged = stored.clone();
                merge(&mut merged, &call.json());
                merged
            }
        };
        let stored = self.accept(call, path, existing.as_ref(), object);
        reply_json(reply, 200, &stored);
    }

    /// Stores the write of `call` at `path` with the fields only the server sets, counted in
    /// the recorder; watches are told.
    fn accept(&mut self, call: &Call, path: &str, old: Option<&Value>, mut object: Value) -> Value {
        match old {
            None => {
                object["metadata"]["uid"] = json!(format!("uid-{}", self.resource_version + 1));
                object["metadata"]["creationTimestamp"] = now();
            }
            Some(old) => keep_server_fields(old, &mut object),
        }
        set_generation(old, &mut object);
        if !self.hold_rollouts && is_deployment(path) {
            roll_out(&mut object);
        }
        let resource = parent(path).rsplit('/').next().unwrap_or_default();
        let name = path.rsplit('/').next().unwrap_or_default();
        self.recorder.wrote(call, resource, name, old.is_none());
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        self.store(path, object, kind)
    }
}

/// A replace that names the resourceVersion it read is refused when another write came since;
/// one that names none replaces whatever is stored.
fn is_stale(stored: &Value, new: &Value) -> bool {
    let named = new["metadata"]["resourceVersion"].as_str().unwrap_or("");
    !named.is_empty() && Some(named) != stored["metadata"]["resourceVersion"].as_str()
}

/// 409 `Conflict`, worded as the API server words it.
fn reply_conflict(reply: Reply, access: &Access, path: &str) {
    let resource = match access.group.as_str() {
        "" => access.resource.clone(),
        group => format!("{}.{group}", access.resource),
    };
    let name = path.rsplit('/').next().unwrap_or_default();
    let message = format!(
        "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; \
         please apply your changes to the latest version and try again"
    );
    reply_failure(reply, 409, "Conflict", &message);
}

/// The new body keeps the uid and creation time of the object it replaces, and its status when
/// it brings none.
fn keep_server_fields(old: &Value, new: &mut Value) {
    for key in ["uid", "creationTimestamp"] {
        if !old["metadata"][key].is_null() {
            new["metadata"][key] = old["metadata"][key].clone();
        }
    }
    if new.get("status").is_none() {
        if let Some(status) = old.get("status") {
            new["status"] = status.clone();
        }
    }
}

/// 1 at creation, one more when the spec changes; only objects with a spec have a generation.
fn set_generation(old: Option<&Value>, object: &mut Value) {
    if object.get("spec").is_none() {
        return;
    }
    let generation = match old {
        None => 1,
        Some(old) => {
            let was = old["metadata"]["generation"].as_i64().unwrap_or(1);
            was + i64::from(old.get("spec") != object.get("spec"))
        }
    };
    object["metadata"]["generation"] = json!(generation);
}

fn is_deployment(path: &str) -> bool {
    path.starts_with("/apis/apps/") && parent(path).ends_with("/deployments")
}

/// What the Deployment controller reports once every pod of the current generation is ready.
fn roll_out(deployment: &mut Value) {
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let generation = deployment["metadata"]["generation"].clone();
    deployment["status"] = json!({"observedGeneration": generation, "replicas": replicas,
        "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas});
}

/// Now, to the second, as the API server writes a timestamp (`2026-05-01T12:00:00Z`).
fn now() -> Value {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let now = Timestamp::from_second(seconds.as_secs() as i64).expect("a time after 1970");
    serde_json::to_value(Time(now)).expect("a timestamp as JSON")
}

/// JSON merge patch (RFC 7386).
fn merge(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().expect("made an object");
    for (key, value) in fields {
        if value.is_null() {
            object.remove(key);
        } else {
            merge(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_patch_removes_nulls_and_merges_objects() {
        let mut object = json!({"a": {"b": 1, "c": 2}, "d": 3});
        merge(&mut object, &json!({"a": {"b": null, "e": 4}, "d": [1]}));
        assert_eq!(object, json!({"a": {"c": 2, "e": 4}, "d": [1]}));
    }

    #[test]
    fn a_timestamp_reads_back_as_a_time() {
        let written = now();
        let text = written.as_str().expect("a string").to_string();
        assert!(text.ends_with('Z') && text.len() == 20, "{text}");
        let read: Time = serde_json::from_value(written).unwrap();
        let since_1970 = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let age = since_1970.as_secs() as i64 - read.0.as_second();
        assert!((0..5).contains(&age), "{text} is {age} s old");
    }
}
