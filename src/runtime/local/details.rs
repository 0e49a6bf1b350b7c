//! The phase of a belt and the `details` document, in the shapes a Kubernetes Deployment and its
//! pods would show, so clients read local and cluster belts alike.

use serde_json::{json, Map, Value};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use super::status::{ContainerState, ReplicaStatus, Terminated};
use crate::runtime::{Phase, StateDetails};

/// Kubernetes condition and container times have whole seconds.
const SECONDS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

fn time(at: OffsetDateTime) -> Value {
    at.format(SECONDS).map_or(Value::Null, Value::String)
}

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

fn condition(kind: &str, status: bool, reason: &str, message: String, at: OffsetDateTime) -> Value {
    json!({
        "type": kind,
        "status": if status { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "lastUpdateTime": time(at),
        "lastTransitionTime": time(at),
    })
}

fn deployment_conditions(view: &View) -> Vec<Value> {
    let replicas = view.replicas;
    let unready = replicas.iter().filter(|replica| !replica.ready);
    let available = match unready.clone().map(|r| r.ready_changed_at).min() {
        // Unavailable since the earliest replica that is still not ready stopped being ready.
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
    };
    let replica_set = &view.replica_set;
    let progressing = match phase(replicas) {
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
        Phase::Failed => {
            let failing: Vec<&ReplicaStatus> =
                replicas.iter().filter(|r| r.crash_looping()).collect();
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
                    "ReplicaSet \"{replica_set}\" cannot progress: {} keep exiting without becoming ready.",
                    names.join(", ")
                ),
                since,
            )
        }
    };
    vec![available, progressing]
}

fn pod_status(view: &View, replica: &ReplicaStatus) -> Value {
    let pod_condition = |kind: &str, ready: bool| {
        let mut condition = Map::new();
        condition.insert("type".into(), kind.into());
        condition.insert("status".into(), if ready { "True" } else { "False" }.into());
        condition.insert("lastProbeTime".into(), Value::Null);
        condition.insert("lastTransitionTime".into(), time(replica.ready_changed_at));
        if !ready {
            condition.insert("reason".into(), "ContainersNotReady".into());
            condition.insert(
                "message".into(),
                format!("containers with unready status: [{}]", view.container).into(),
            );
        }
        Value::Object(condition)
    };
    let scheduled = |kind: &str| {
        json!({
            "type": kind,
            "status": "True",
            "lastProbeTime": null,
            "lastTransitionTime": time(replica.created_at),
        })
    };
    json!({
        "name": replica.name,
        "podEvents": [
            scheduled("Initialized"),
            pod_condition("Ready", replica.ready),
            pod_condition("ContainersReady", replica.ready),
            scheduled("PodScheduled"),
        ],
        "containerStatus": [container_status(view, replica)],
    })
}

fn container_status(view: &View, replica: &ReplicaStatus) -> Value {
    let mut status = Map::new();
    status.insert("name".into(), view.container.into());
    status.insert("image".into(), view.image.clone().into());
    if let ContainerState::Running { pid, .. } = replica.state {
        status.insert("containerID".into(), format!("process://{pid}").into());
    }
    status.insert("ready".into(), replica.ready.into());
    status.insert("restartCount".into(), replica.restart_count.into());
    let started = matches!(replica.state, ContainerState::Running { .. });
    status.insert("started".into(), started.into());
    let state = match &replica.state {
        ContainerState::Creating => json!({"waiting": {"reason": "ContainerCreating"}}),
        ContainerState::Running { started_at, .. } => {
            json!({"running": {"startedAt": time(*started_at)}})
        }
        ContainerState::BackOff { delay } => json!({"waiting": {
            "reason": "CrashLoopBackOff",
            "message": format!(
                "back-off {} restarting failed container={} pod={}",
                human(*delay), view.container, replica.name
            ),
        }}),
    };
    status.insert("state".into(), state);
    let last_state = replica
        .last_terminated
        .as_ref()
        .map_or_else(|| json!({}), |t| json!({"terminated": terminated(t)}));
    status.insert("lastState".into(), last_state);
    Value::Object(status)
}

fn terminated(terminated: &Terminated) -> Value {
    let mut value = Map::new();
    value.insert("exitCode".into(), terminated.exit.exit_code.into());
    if let Some(signal) = terminated.exit.signal {
        value.insert("signal".into(), signal.into());
    }
    value.insert("reason".into(), terminated.exit.reason.into());
    value.insert("message".into(), terminated.message.clone().into());
    if let Some(started_at) = terminated.started_at {
        value.insert("startedAt".into(), time(started_at));
    }
    value.insert("finishedAt".into(), time(terminated.finished_at));
    Value::Object(value)
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
mod tests {
    use super::*;
    use crate::runtime::local::status::{Exit, READY_LINE};
    use serde_json::json;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    fn view(replicas: &[ReplicaStatus]) -> StateDetails {
        render(&View {
            container: "grnry-belt-5",
            replica_set: "grnry-belt-5-2".into(),
            image: "python3 belt-host.py".into(),
            created_at: at(0),
            replicas,
        })
    }

    #[test]
    fn ready_replicas_make_an_available_deployment() {
        let mut replica = ReplicaStatus::new("grnry-belt-5-2-0".into(), 3, at(0));
        replica.started(42, at(1));
        replica.output(READY_LINE, at(2));
        let details = view(std::slice::from_ref(&replica));
        assert_eq!(phase(&[replica]), Phase::Running);
        assert_eq!(details.deployment_replicas, "1");
        assert_eq!(details.deployment_events[0]["type"], "Available");
        assert_eq!(details.deployment_events[0]["status"], "True");
        assert_eq!(
            details.deployment_events[0]["lastTransitionTime"],
            "1970-01-01T00:00:02Z"
        );
        let container = &details.pod_status[0]["containerStatus"][0];
        assert_eq!(container["ready"], true);
        assert_eq!(container["containerID"], "process://42");
        assert_eq!(
            container["state"]["running"]["startedAt"],
            "1970-01-01T00:00:01Z"
        );
    }

    #[test]
    fn a_crash_loop_shows_exit_code_and_last_output() {
        let mut replica = ReplicaStatus::new("grnry-belt-5-2-0".into(), 2, at(0));
        for run in 0..2 {
            replica.started(40 + run, at(run.into()));
            replica.output("ValueError: boom", at(run.into()));
            replica.exited(
                Exit {
                    exit_code: 1,
                    signal: None,
                    reason: "Error",
                },
                None,
                at(run.into()),
            );
        }
        replica.back_off(
            std::time::Duration::from_millis(500),
            std::time::Duration::from_secs(10),
        );
        let details = view(std::slice::from_ref(&replica));
        assert_eq!(phase(&[replica]), Phase::Failed);
        assert_eq!(
            details.deployment_events[0]["reason"],
            "MinimumReplicasUnavailable"
        );
        assert_eq!(details.deployment_events[1]["status"], "False");
        let container = &details.pod_status[0]["containerStatus"][0];
        assert_eq!(container["restartCount"], 1);
        assert_eq!(container["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(
            container["state"]["waiting"]["message"],
            "back-off 1s restarting failed container=grnry-belt-5 pod=grnry-belt-5-2-0"
        );
        let terminated = &container["lastState"]["terminated"];
        assert_eq!(terminated["exitCode"], 1);
        assert_eq!(terminated["reason"], "Error");
        assert_eq!(terminated["message"], "ValueError: boom");
        assert_eq!(
            details.pod_status[0]["podEvents"][1]["reason"],
            "ContainersNotReady"
        );
    }

    #[test]
    fn renders_the_v2_shapes_exactly() {
        let mut ready = ReplicaStatus::new("grnry-belt-5-2-0".into(), 3, at(0));
        ready.started(42, at(1));
        ready.output(READY_LINE, at(2));
        let mut looping = ReplicaStatus::new("grnry-belt-5-2-1".into(), 2, at(0));
        for run in 0..2 {
            looping.started(50 + run, at((10 + run).into()));
            looping.output("ValueError: boom", at((10 + run).into()));
            let exit = Exit {
                exit_code: 1,
                signal: Some(9),
                reason: "Error",
            };
            looping.exited(exit, None, at((11 + run).into()));
        }
        looping.back_off(
            std::time::Duration::from_millis(500),
            std::time::Duration::from_secs(10),
        );
        let details = view(&[ready, looping]);
        let t = |s: u32| format!("1970-01-01T00:00:{s:02}Z");
        assert_eq!(
            serde_json::to_value(&details.deployment_events).unwrap(),
            json!([
                {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                 "message": "Deployment does not have minimum availability.",
                 "lastUpdateTime": t(0), "lastTransitionTime": t(0)},
                {"type": "Progressing", "status": "False", "reason": "CrashLoopBackOff",
                 "message": "ReplicaSet \"grnry-belt-5-2\" cannot progress: grnry-belt-5-2-1 keep exiting without becoming ready.",
                 "lastUpdateTime": t(12), "lastTransitionTime": t(12)},
            ])
        );
        assert_eq!(
            details.pod_status[0],
            json!({
                "name": "grnry-belt-5-2-0",
                "podEvents": [
                    {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": t(0)},
                    {"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": t(2)},
                    {"type": "ContainersReady", "status": "True", "lastProbeTime": null, "lastTransitionTime": t(2)},
                    {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": t(0)},
                ],
                "containerStatus": [{
                    "name": "grnry-belt-5", "image": "python3 belt-host.py",
                    "containerID": "process://42", "ready": true, "restartCount": 0, "started": true,
                    "state": {"running": {"startedAt": t(1)}},
                    "lastState": {},
                }],
            })
        );
        assert_eq!(
            details.pod_status[1]["containerStatus"][0],
            json!({
                "name": "grnry-belt-5", "image": "python3 belt-host.py",
                "ready": false, "restartCount": 1, "started": false,
                "state": {"waiting": {"reason": "CrashLoopBackOff",
                    "message": "back-off 1s restarting failed container=grnry-belt-5 pod=grnry-belt-5-2-1"}},
                "lastState": {"terminated": {"exitCode": 1, "signal": 9, "reason": "Error",
                    "message": "ValueError: boom", "startedAt": t(11), "finishedAt": t(12)}},
            })
        );
    }

    #[test]
    fn prints_back_off_like_kubernetes() {
        use std::time::Duration;
        assert_eq!(human(Duration::from_millis(50)), "50ms");
        assert_eq!(human(Duration::from_secs(10)), "10s");
        assert_eq!(human(Duration::from_secs(80)), "1m20s");
    }
}
