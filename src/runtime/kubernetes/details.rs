//! `GET …/state` details in the v2 document's shape, from the reflectors' objects. Pure; the
//! runtime adds each pod's Events, which only the API has.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};

use crate::domain::state_details::{
    ContainerDetails, DeploymentEvent, EventTime, PodConditionDetails, PodDetails, PodEvent,
};
use crate::runtime::StateDetails;

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
        .and_then(|status| status.conditions.clone());
    StateDetails {
        deployment_replicas: replicas.to_string(),
        deployment_events: (conditions.into_iter().flatten())
            .map(DeploymentEvent::Condition)
            .collect(),
        pod_status: pods.iter().map(|pod| pod_status(pod)).collect(),
    }
}

/// The runtime adds the pod's Events afterwards.
fn pod_status(pod: &Pod) -> PodDetails {
    let status = pod.status.as_ref();
    let conditions = status.and_then(|s| s.conditions.clone());
    let containers = status.and_then(|s| s.container_statuses.clone());
    PodDetails {
        name: pod.metadata.name.clone().unwrap_or_default(),
        pod_events: (conditions.into_iter().flatten())
            .map(PodConditionDetails::Pod)
            .collect(),
        container_status: (containers.into_iter().flatten())
            .map(|c| ContainerDetails::Pod(Box::new(c)))
            .collect(),
        events: Vec::new(),
    }
}

/// What a user needs from an Event, oldest first.
pub fn pod_events(mut events: Vec<Event>) -> Vec<PodEvent> {
    // Events written through events.k8s.io (a current scheduler's) carry only an eventTime:
    // ordered by it, not as the oldest.
    events.sort_by_key(|event| {
        (event.last_timestamp.as_ref().map(|t| t.0))
            .or_else(|| event.event_time.as_ref().map(|t| t.0))
    });
    events
        .into_iter()
        .map(|event| PodEvent {
            type_: event.type_,
            reason: event.reason,
            message: event.message,
            count: event.count,
            first_timestamp: event.first_timestamp,
            // Events written through events.k8s.io carry only an eventTime.
            last_timestamp: (event.last_timestamp.map(EventTime::Last))
                .or_else(|| event.event_time.map(EventTime::Event)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
            .map(|e| e.message.as_deref().unwrap())
            .collect();
        assert_eq!(messages, ["oldest", "middle", "newest"]);
    }
}
