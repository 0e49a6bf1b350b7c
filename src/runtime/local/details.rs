//! The phase of a belt and the `details` document, in the shapes a Kubernetes Deployment and its
//! pods would show, so clients read local and cluster belts alike. Where `k8s-openapi`'s types
//! render exactly these shapes (Deployment conditions, container states) they are used.

use k8s_openapi::api::apps::v1::DeploymentCondition;
use k8s_openapi::api::core::v1::{
    ContainerState as K8sState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use time::OffsetDateTime;

use super::status::{ContainerState, ReplicaStatus, Terminated};
use crate::domain::state_details::{
    ContainerDetails, DeploymentEvent, PodConditionDetails, PodDetails, ProcessCondition,
    ProcessContainer,
};
use crate::runtime::{Phase, StateDetails};

/// Failed as soon as one replica crash-loops (one broken pod makes the belt broken), Running when
/// every replica is ready.
pub(super) fn phase(replicas: &[ReplicaStatus]) -> Phase {
    if replicas.iter().any(ReplicaStatus::crash_looping) {
        Phase::Failed
    } else if replicas.iter().all(|replica| replica.ready) {
        Phase::Running
    } else {
        Phase::Deploying
    }
}

/// What `details` describes: one generation of a belt.
pub(super) struct View<'a> {
    /// `grnry-belt-<id>`: the container name.
    pub container: &'a str,
    /// `grnry-belt-<id>-<generation>`: what Kubernetes would call the ReplicaSet.
    pub replica_set: String,
    /// The replica command, shown as the container image.
    pub image: String,
    pub created_at: OffsetDateTime,
    pub replicas: &'a [ReplicaStatus],
}

pub(super) fn render(view: &View) -> StateDetails {
    StateDetails {
        deployment_replicas: view.replicas.len().to_string(),
        deployment_events: deployment_conditions(view),
        pod_status: view
            .replicas
            .iter()
            .map(|replica| pod_status(view, replica))
            .collect(),
    }
}

/// A Deployment condition whose status last changed `at`.
fn condition(
    kind: &str,
    status: bool,
    reason: &str,
    message: String,
    at: OffsetDateTime,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: kind.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: k8s_time(at),
        last_transition_time: k8s_time(at),
    }
}

/// A time as Kubernetes shows it (whole seconds, `Z`).
fn k8s_time(at: OffsetDateTime) -> Option<Time> {
    Timestamp::from_second(at.unix_timestamp()).ok().map(Time)
}

fn deployment_conditions(view: &View) -> Vec<DeploymentEvent> {
    vec![
        DeploymentEvent::Condition(available(view)),
        DeploymentEvent::Condition(progressing(view)),
    ]
}

/// Unavailable since the earliest replica that is still not ready stopped being ready.
fn available(view: &View) -> DeploymentCondition {
    let replicas = view.replicas;
    let unready = replicas.iter().filter(|replica| !replica.ready);
    match unready.map(|r| r.ready_changed_at).min() {
        Some(since) => condition(
            "Available",
            false,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
            since,
        ),
        None => condition(
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
            replicas
                .iter()
                .map(|r| r.ready_changed_at)
                .max()
                .unwrap_or(view.created_at),
        ),
    }
}

fn progressing(view: &View) -> DeploymentCondition {
    let replica_set = &view.replica_set;
    match phase(view.replicas) {
        Phase::Running => condition(
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{replica_set}\" has successfully progressed."),
            view.created_at,
        ),
        Phase::Deploying => condition(
            "Progressing",
            true,
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{replica_set}\" is progressing."),
            view.created_at,
        ),
        Phase::Failed => crash_looping(view),
    }
}

fn crash_looping(view: &View) -> DeploymentCondition {
    let failing: Vec<&ReplicaStatus> = view.replicas.iter().filter(|r| r.crash_looping()).collect();
    let names: Vec<&str> = failing.iter().map(|r| r.name.as_str()).collect();
    let since = failing
        .iter()
        .filter_map(|r| r.last_terminated.as_ref().map(|t| t.finished_at))
        .min()
        .unwrap_or(view.created_at);
    condition(
        "Progressing",
        false,
        "CrashLoopBackOff",
        format!(
            "ReplicaSet \"{}\" cannot progress: {} keep exiting without becoming ready.",
            view.replica_set,
            names.join(", ")
        ),
        since,
    )
}

/// Pod conditions and the container status are the project's own types: `PodCondition` drops
/// the `"lastProbeTime": null` clients see today, and `ContainerStatus` would add an empty
/// `imageID`.
fn pod_status(view: &View, replica: &ReplicaStatus) -> PodDetails {
    let pod_condition = |kind: &str, ready: bool| {
        PodConditionDetails::Process(ProcessCondition {
            type_: kind.into(),
            status: if ready { "True" } else { "False" }.into(),
            last_probe_time: None,
            last_transition_time: k8s_time(replica.ready_changed_at),
            reason: (!ready).then(|| "ContainersNotReady".into()),
            message: (!ready)
                .then(|| format!("containers with unready status: [{}]", view.container)),
        })
    };
    let scheduled = |kind: &str| {
        PodConditionDetails::Process(ProcessCondition {
            type_: kind.into(),
            status: "True".into(),
            last_probe_time: None,
            last_transition_time: k8s_time(replica.created_at),
            reason: None,
            message: None,
        })
    };
    PodDetails {
        name: replica.name.clone(),
        pod_events: vec![
            scheduled("Initialized"),
            pod_condition("Ready", replica.ready),
            pod_condition("ContainersReady", replica.ready),
            scheduled("PodScheduled"),
        ],
        container_status: vec![container_status(view, replica)],
        events: Vec::new(),
    }
}

fn container_status(view: &View, replica: &ReplicaStatus) -> ContainerDetails {
    let running = match replica.state {
        ContainerState::Running { pid, .. } => Some(pid),
        _ => None,
    };
    ContainerDetails::Process(Box::new(ProcessContainer {
        name: view.container.into(),
        image: view.image.clone(),
        container_id: running.map(|pid| format!("process://{pid}")),
        ready: replica.ready,
        restart_count: replica.restart_count,
        started: running.is_some(),
        state: state(view, replica),
        last_state: K8sState {
            terminated: replica.last_terminated.as_ref().map(terminated),
            ..K8sState::default()
        },
    }))
}

fn state(view: &View, replica: &ReplicaStatus) -> K8sState {
    let waiting = |reason: &str, message: Option<String>| K8sState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.into()),
            message,
        }),
        ..K8sState::default()
    };
    match &replica.state {
        ContainerState::Creating => waiting("ContainerCreating", None),
        ContainerState::Running { started_at, .. } => K8sState {
            running: Some(ContainerStateRunning {
                started_at: k8s_time(*started_at),
            }),
            ..K8sState::default()
        },
        ContainerState::BackOff { delay } => waiting(
            "CrashLoopBackOff",
            Some(format!(
                "back-off {} restarting failed container={} pod={}",
                human(*delay),
                view.container,
                replica.name
            )),
        ),
    }
}

fn terminated(terminated: &Terminated) -> ContainerStateTerminated {
    ContainerStateTerminated {
        exit_code: terminated.exit.exit_code,
        signal: terminated.exit.signal,
        reason: Some(terminated.exit.reason.into()),
        message: Some(terminated.message.clone()),
        started_at: terminated.started_at.and_then(k8s_time),
        finished_at: k8s_time(terminated.finished_at),
        container_id: None,
    }
}

/// `500ms`, `2s`, `1m20s`: how Kubernetes prints its back-off.
fn human(delay: std::time::Duration) -> String {
    let millis = delay.as_millis();
    if millis < 1000 {
        format!("{millis}ms")
    } else if millis < 60_000 {
        format!("{}s", millis / 1000)
    } else {
        format!("{}m{}s", millis / 60_000, millis % 60_000 / 1000)
    }
}

#[cfg(test)]
mod tests;
