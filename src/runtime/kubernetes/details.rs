//! `GET …/state` details in the v2 document's shape, from the reflectors' objects. Pure; the
//! runtime adds each pod's Events, which only the API has.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use serde::Serialize;
use serde_json::{json, Value};

use crate::runtime::StateDetails;

/// The key under which a pod's Events sit next to `podEvents`. `podEvents` keeps the v2 meaning
/// (pod conditions); Events have another shape, so they get their own field, present only when a
/// pod has any.
pub const EVENTS_FIELD: &str = "events";

/// `pods` sorted by name, so the answer is stable.
pub fn details(deployment: &Deployment, pods: &[Arc<Pod>]) -> StateDetails {
    let replicas = deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.replicas)
        .unwrap_or(1);
    let conditions = deployment
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_ref());
    StateDetails {
        deployment_replicas: replicas.to_string(),
        deployment_events: to_values(conditions),
        pod_status: pods.iter().map(|pod| pod_status(pod)).collect(),
    }
}

fn pod_status(pod: &Pod) -> Value {
    let status = pod.status.as_ref();
    json!({
        "name": pod.metadata.name.as_deref().unwrap_or_default(),
        "podEvents": to_values(status.and_then(|s| s.conditions.as_ref())),
        "containerStatus": to_values(status.and_then(|s| s.container_statuses.as_ref())),
    })
}

fn to_values<T: Serialize>(items: Option<&Vec<T>>) -> Vec<Value> {
    items
        .into_iter()
        .flatten()
        .filter_map(|item| serde_json::to_value(item).ok())
        .collect()
}

/// What a user needs from an Event (`Failed: … pull access denied`, `OOMKilling`), without the
/// bookkeeping fields; oldest first.
pub fn pod_events(mut events: Vec<Event>) -> Vec<Value> {
    // Events written through events.k8s.io (a current scheduler's) carry only an eventTime:
    // ordered by it, not as the oldest.
    events.sort_by_key(|event| {
        (event.last_timestamp.as_ref().map(|t| t.0))
            .or_else(|| event.event_time.as_ref().map(|t| t.0))
    });
    events
        .into_iter()
        .filter_map(|event| {
            serde_json::to_value(PodEvent {
                type_: event.type_,
                reason: event.reason,
                message: event.message,
                count: event.count,
                first_timestamp: event.first_timestamp.map(|t| json!(t)),
                // Events written through events.k8s.io carry only an eventTime.
                last_timestamp: event
                    .last_timestamp
                    .map(|t| json!(t))
                    .or_else(|| event.event_time.map(|t| json!(t))),
            })
            .ok()
        })
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodEvent {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_timestamp: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_timestamp: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message: &str, last: Option<&str>, event_time: Option<&str>) -> Event {
        serde_json::from_value(json!({
            "metadata": {"name": message}, "involvedObject": {}, "type": "Warning",
            "message": message, "lastTimestamp": last, "eventTime": event_time,
        }))
        .unwrap()
    }

    /// A scheduler's Event written through events.k8s.io has only an eventTime: it is placed by
    /// it among the kubelet's, not first.
    #[test]
    fn events_are_ordered_by_last_timestamp_or_event_time() {
        let events = pod_events(vec![
            event("newest", None, Some("2026-01-01T10:00:03.000000Z")),
            event("middle", Some("2026-01-01T10:00:02Z"), None),
            event("oldest", Some("2026-01-01T10:00:01Z"), None),
        ]);
        let messages: Vec<&str> = events
            .iter()
            .map(|e| e["message"].as_str().unwrap())
            .collect();
        assert_eq!(messages, ["oldest", "middle", "newest"]);
    }
}
