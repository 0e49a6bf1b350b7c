//! Why a belt is in its phase, as `GET …/state` shows it (docs/api.md#state): the shapes a
//! Kubernetes Deployment and its pods show, for both runtimes, so clients read local and cluster
//! belts alike. Kubernetes' own objects are kept as k8s-openapi types; what the local runtime
//! words itself, and belt-api's own conditions, are typed here. Every reader (the status-events
//! controller, the output rule) goes through these types: no string key of a detail is read
//! anywhere else.
//!
//! Each type serializes to the exact JSON the API has answered so far: where the two runtimes
//! differ (Kubernetes' `ContainerStatus` has an `imageID` the local one never had, its
//! `PodCondition` drops the `"lastProbeTime": null` the local one shows), the variant keeps its
//! runtime's shape.

use k8s_openapi::api::apps::v1::DeploymentCondition;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, PodCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use serde::Serialize;

use super::output::OutputSight;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StateDetails {
    /// Replicas asked for, as a string (`"1"`).
    pub deployment_replicas: String,
    pub deployment_events: Vec<DeploymentEvent>,
    /// One per pod or process, sorted by name.
    pub pod_status: Vec<PodDetails>,
}

/// One line of `deploymentEvents`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum DeploymentEvent {
    /// A Deployment's condition as Kubernetes words it (the local runtime words its own so).
    Condition(DeploymentCondition),
    /// belt-api's own word on why what runs is not what was asked (a refused apply, a Kafka
    /// identity that is not ready).
    HeldBack(HeldBack),
}

/// A condition belt-api states itself, in the order its keys have always been shown.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HeldBack {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`, as in Kubernetes.
    pub status: String,
    pub reason: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

impl DeploymentEvent {
    /// The message of a condition that does not hold (status other than `True`).
    pub fn failing_message(&self) -> Option<&str> {
        let (status, message) = match self {
            DeploymentEvent::Condition(c) => (c.status.as_str(), c.message.as_deref()),
            DeploymentEvent::HeldBack(c) => (c.status.as_str(), Some(c.message.as_str())),
        };
        (status != "True").then_some(message).flatten()
    }
}

/// One pod (Kubernetes) or replica process (local).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodDetails {
    pub name: String,
    /// The pod's conditions: the v2 document's name for them.
    pub pod_events: Vec<PodConditionDetails>,
    pub container_status: Vec<ContainerDetails>,
    /// The pod's Events, oldest first (Kubernetes only). Their own field because they have
    /// another shape than `podEvents`; present only when the pod has any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<PodEvent>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum PodConditionDetails {
    Pod(PodCondition),
    Process(ProcessCondition),
}

/// A pod condition of the local runtime, with the `"lastProbeTime": null` k8s-openapi drops.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProcessCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub last_probe_time: Option<Time>,
    pub last_transition_time: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ContainerDetails {
    // Boxed: both are large, and a pod has few containers.
    Pod(Box<ContainerStatus>),
    Process(Box<ProcessContainer>),
}

/// A replica process shown as a container, without the `imageID` it does not have.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProcessContainer {
    pub name: String,
    /// The replica command.
    pub image: String,
    /// `process://<pid>` while it runs.
    #[serde(rename = "containerID", skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    pub ready: bool,
    pub restart_count: u32,
    pub started: bool,
    pub state: ContainerState,
    pub last_state: ContainerState,
}

impl ContainerDetails {
    /// The state now, then the last one.
    fn states(&self) -> [Option<&ContainerState>; 2] {
        match self {
            ContainerDetails::Pod(c) => [c.state.as_ref(), c.last_state.as_ref()],
            ContainerDetails::Process(c) => [Some(&c.state), Some(&c.last_state)],
        }
    }

    fn states_mut(&mut self) -> [Option<&mut ContainerState>; 2] {
        match self {
            ContainerDetails::Pod(c) => [c.state.as_mut(), c.last_state.as_mut()],
            ContainerDetails::Process(c) => [Some(&mut c.state), Some(&mut c.last_state)],
        }
    }

    /// How the container's current run, else its last one, ended.
    pub fn terminated(&self) -> Option<&ContainerStateTerminated> {
        self.states()
            .into_iter()
            .find_map(|state| state?.terminated.as_ref())
    }

    /// What the container waits for now.
    pub fn waiting(&self) -> Option<&ContainerStateWaiting> {
        self.states()[0]?.waiting.as_ref()
    }
}

/// What a user needs from an Event (`Failed: … pull access denied`, `OOMKilling`), without the
/// bookkeeping fields.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodEvent {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_timestamp: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<EventTime>,
}

impl PodEvent {
    pub fn is_warning(&self) -> bool {
        self.type_.as_deref() == Some("Warning")
    }
}

/// An Event's last time: its `lastTimestamp` (seconds), or, for Events written through
/// events.k8s.io, which carry only an `eventTime`, that (microseconds).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum EventTime {
    Last(Time),
    Event(MicroTime),
}

impl StateDetails {
    /// The details as `sight` may see them: for anyone but an editor, without what replicas
    /// printed (docs/api.md#who-sees-replica-output), which is the `message` of a container's
    /// `terminated` state, now and last (its output's tail locally, its termination message on
    /// Kubernetes).
    pub fn seen(mut self, sight: OutputSight) -> Self {
        if sight == OutputSight::Withheld {
            let containers = self
                .pod_status
                .iter_mut()
                .flat_map(|p| &mut p.container_status);
            for state in containers.flat_map(ContainerDetails::states_mut).flatten() {
                if let Some(terminated) = &mut state.terminated {
                    terminated.message = None;
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminated(message: &str) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 1,
                message: Some(message.into()),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        }
    }

    fn details(container: ContainerDetails) -> StateDetails {
        StateDetails {
            pod_status: vec![PodDetails {
                name: "p".into(),
                pod_events: Vec::new(),
                container_status: vec![container],
                events: Vec::new(),
            }],
            ..StateDetails::default()
        }
    }

    /// Both runtimes' containers lose the terminated message, now and last, and keep the rest.
    #[test]
    fn a_viewer_sees_no_terminated_message_now_or_last() {
        let pod = ContainerDetails::Pod(Box::new(ContainerStatus {
            state: Some(terminated("secret now")),
            last_state: Some(terminated("secret before")),
            ..ContainerStatus::default()
        }));
        let process = ContainerDetails::Process(Box::new(ProcessContainer {
            name: "c".into(),
            image: "python3".into(),
            container_id: None,
            ready: false,
            restart_count: 1,
            started: false,
            state: terminated("secret now"),
            last_state: terminated("secret before"),
        }));
        for container in [pod, process] {
            let shown = details(container.clone()).seen(OutputSight::Shown);
            assert_eq!(shown, details(container.clone()));
            let withheld = details(container).seen(OutputSight::Withheld);
            let json = serde_json::to_string(&withheld).unwrap();
            assert!(!json.contains("secret"), "{json}");
            let kept = &withheld.pod_status[0].container_status[0];
            assert_eq!(kept.terminated().unwrap().exit_code, 1);
        }
    }
}
