//! The status-events controller (docs/api.md#history): records a `statusChanged` event whenever
//! the status a belt shows moves without a write, as the runtime sees it (a replica became
//! ready, exited, a pod crash-loops). It listens to `Runtime::phase_events`; `step(id)` is one
//! look at one belt, for tests. It also prunes the event log to its retention.
//!
//! Writes record their own events (the status they lead to), so a step compares the status now
//! with the `toStatus` of the belt's newest event and records only a difference; the record is
//! conditional on that event still being the newest, so a write that commits in between wins.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::domain::belt::now_millis;
use crate::domain::lifecycle::status_of;
use crate::domain::state_details::{ContainerDetails, PodDetails, StateDetails};
use crate::domain::{BeltId, BeltStatus, DesiredState, EventAction, EventDraft, EventRetention};
use crate::runtime::Runtime;
use crate::store::{BeltStore, StoreError};

/// The longest reason kept: a stderr line can be anything.
const MAX_REASON_CHARS: usize = 500;

pub struct StatusEvents {
    store: Arc<dyn BeltStore>,
    runtime: Arc<dyn Runtime>,
    /// Deadline of the runtime's `details` call that explains a change.
    call_timeout: Duration,
    retention: EventRetention,
    prune_interval: Duration,
}

impl StatusEvents {
    pub fn new(
        store: Arc<dyn BeltStore>,
        runtime: Arc<dyn Runtime>,
        call_timeout: Duration,
        retention: EventRetention,
        prune_interval: Duration,
    ) -> Self {
        StatusEvents {
            store,
            runtime,
            call_timeout,
            retention,
            prune_interval,
        }
    }

    /// Looks at one belt; answers the id of the event it recorded, if any.
    pub async fn step(&self, id: BeltId) -> Result<Option<i64>, StoreError> {
        let Some(belt) = self.store.get_any(id).await? else {
            return Ok(None);
        };
        if belt.wish.desired == DesiredState::Deleting {
            return Ok(None);
        }
        // The newest event first: a write that commits after it makes the record below a no-op.
        let newest = self.store.history(&belt.project, id, 0, 1).await?;
        let newest = newest.events.into_iter().next();
        let Some(belt) = self.store.get_any(id).await? else {
            return Ok(None);
        };
        let now = status_of(&belt, self.runtime.observe(id));
        let before = newest.as_ref().and_then(|event| event.to);
        if before == Some(now) || (before.is_none() && now == BeltStatus::Stopped) {
            return Ok(None);
        }
        let mut draft = EventDraft::observed(EventAction::StatusChanged, now_millis());
        draft.from = before;
        draft.to = Some(now);
        if let Some(explained) = self.reason(id, now).await {
            draft.reason = Some(explained.reason);
            draft.output = explained.output;
        }
        let after = newest.map_or(0, |event| event.id);
        let version = Some(belt.version);
        (self.store)
            .record_status_change(&belt.project, id, version, draft, after)
            .await
    }

    /// Why a belt is in its status, from the runtime's details: a failed replica's exit and its
    /// last line of output, or the condition that holds it back.
    async fn reason(&self, id: BeltId, status: BeltStatus) -> Option<Explanation> {
        if !matches!(status, BeltStatus::Failed | BeltStatus::Deploying) {
            return None;
        }
        let details = tokio::time::timeout(self.call_timeout, self.runtime.details(id)).await;
        match details {
            Ok(Ok(Some(details))) => reason_of(&details),
            _ => None,
        }
    }

    /// Every belt the runtime says may have changed is looked at, until the runtime stops
    /// telling; a listener that lagged looks at every belt that has runtime objects.
    pub async fn run(self: Arc<Self>) {
        let Some(mut changes) = self.runtime.phase_events() else {
            return;
        };
        loop {
            let ids = match changes.recv().await {
                Ok(id) => vec![id],
                Err(RecvError::Lagged(_)) => self.runtime.deployed(),
                Err(RecvError::Closed) => return,
            };
            for id in ids {
                if let Err(err) = self.step(id).await {
                    tracing::warn!(belt = %id, error = %err, "status change not recorded");
                }
            }
        }
    }

    /// Looks once at every belt that has runtime objects: a change that happened while no
    /// replica led (the old leader dead, the new one not yet listening) is recorded now rather
    /// than at the belt's next change. Conditional as every record is, so it never doubles one.
    pub async fn catch_up(self: Arc<Self>) {
        for id in self.runtime.deployed() {
            if let Err(err) = self.step(id).await {
                tracing::warn!(belt = %id, error = %err, "status change not recorded");
            }
        }
    }

    /// One prune: removes what the retention does not keep.
    pub async fn prune_once(&self) -> Result<u64, StoreError> {
        self.store.prune_events(self.retention).await
    }

    /// Prunes every interval, until the task is aborted.
    pub async fn prune(self: Arc<Self>) {
        loop {
            match self.prune_once().await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "event log pruned"),
                Err(err) => tracing::warn!(error = %err, "event log not pruned"),
            }
            tokio::time::sleep(self.prune_interval).await;
        }
    }
}

/// The first replica that says why it is not running: `replica NAME exited CODE: LAST LINE`, or
/// the reason and message it is waiting with; else the newest Warning Event of the first replica
/// that has one (Kubernetes); else the first failing deployment condition's message.
///
/// In that order because each is more specific than the next: a container's state is what the
/// replica is doing now, with its exit code and last line. Events explain the replicas that have
/// no container yet (a pod the scheduler cannot place, `FailedScheduling`), which is exactly when
/// the Deployment's conditions only say "does not have minimum availability".
pub fn reason_of(details: &StateDetails) -> Option<Explanation> {
    let from_pods = details.pod_status.iter().find_map(|pod| {
        (pod.container_status.iter()).find_map(|container| container_reason(&pod.name, container))
    });
    let from_events = || details.pod_status.iter().find_map(event_reason);
    let from_conditions = || {
        (details.deployment_events.iter())
            .find_map(|condition| condition.failing_message().map(str::to_owned))
    };
    let words = |reason: String| Explanation {
        reason,
        output: None,
    };
    let explained = from_pods.or_else(|| from_events().or_else(from_conditions).map(words))?;
    Some(Explanation {
        reason: explained.reason.chars().take(MAX_REASON_CHARS).collect(),
        output: (explained.output).map(|line| line.chars().take(MAX_REASON_CHARS).collect()),
    })
}

/// Why a belt is in its status: belt-api's own words, and apart from them the line a replica
/// printed that explains it, which only editors see (`domain/output.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub reason: String,
    pub output: Option<String>,
}

/// A terminated container's message is what the replica printed (its output's tail locally, its
/// termination message on Kubernetes): the output. Its `reason` (`Error`, `OOMKilled`) and a
/// waiting reason and message are the runtime's words.
fn container_reason(pod: &str, container: &ContainerDetails) -> Option<Explanation> {
    if let Some(terminated) = container.terminated() {
        let exited = format!("replica {pod} exited {}", terminated.exit_code);
        return Some(match last_line(terminated.message.as_deref()) {
            Some(line) => Explanation {
                reason: exited,
                output: Some(line),
            },
            None => Explanation {
                reason: match last_line(terminated.reason.as_deref()) {
                    Some(reason) => format!("{exited}: {reason}"),
                    None => exited,
                },
                output: None,
            },
        });
    }
    let waiting = container.waiting()?;
    let reason = waiting.reason.as_deref()?;
    let message = last_line(waiting.message.as_deref());
    let reason = match message {
        Some(message) => format!("replica {pod} waiting ({reason}): {message}"),
        None => format!("replica {pod} waiting ({reason})"),
    };
    Some(Explanation {
        reason,
        output: None,
    })
}

/// `replica NAME (REASON): MESSAGE` from the pod's newest Warning Event (its Events are oldest
/// first). Normal Events (`Scheduled`, `Pulling`, an autoscaler's `NotTriggerScaleUp`) do not
/// say what is wrong.
fn event_reason(pod: &PodDetails) -> Option<String> {
    let warning = pod.events.iter().rev().find(|event| event.is_warning())?;
    let reason = warning.reason.as_deref().unwrap_or("Warning");
    let name = &pod.name;
    Some(match last_line(warning.message.as_deref()) {
        Some(message) => format!("replica {name} ({reason}): {message}"),
        None => format!("replica {name} ({reason})"),
    })
}

/// The last non-empty line of a text: a traceback ends with the exception.
fn last_line(text: Option<&str>) -> Option<String> {
    let line = text?.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.to_owned())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::DeploymentCondition;
    use serde_json::{json, Value};

    use super::*;
    use crate::domain::state_details::{DeploymentEvent, PodEvent};

    impl Explanation {
        /// As an editor reads it.
        fn told(&self) -> String {
            let told = crate::domain::output::told(Some(&self.reason), self.output.as_deref());
            told.unwrap_or_default()
        }
    }

    /// A pod whose containers report `statuses`, as the Kubernetes API words them.
    fn pod(name: &str, statuses: Value) -> PodDetails {
        let statuses: Vec<_> = serde_json::from_value(statuses).unwrap();
        PodDetails {
            name: name.into(),
            pod_events: Vec::new(),
            container_status: statuses.into_iter().map(ContainerDetails::Pod).collect(),
            events: Vec::new(),
        }
    }

    fn condition(condition: Value) -> DeploymentEvent {
        DeploymentEvent::Condition(serde_json::from_value(condition).unwrap())
    }

    #[test]
    fn a_replica_that_exited_is_named_with_its_code_and_last_line() {
        let details = StateDetails {
            pod_status: vec![pod(
                "grnry-belt-4-1-0",
                json!([{
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                        "message": "Traceback (most recent call last):\n  x\nImportError: no numpy\n"}}
                }]),
            )],
            ..StateDetails::default()
        };
        assert_eq!(
            reason_of(&details).unwrap().told(),
            "replica grnry-belt-4-1-0 exited 1: ImportError: no numpy"
        );
        // The line is the replica's output, kept apart for editors.
        let explained = reason_of(&details).unwrap();
        assert_eq!(explained.reason, "replica grnry-belt-4-1-0 exited 1");
        assert_eq!(explained.output.unwrap(), "ImportError: no numpy");
    }

    #[test]
    fn without_an_exit_the_waiting_reason_or_a_condition_explains() {
        let waiting = StateDetails {
            pod_status: vec![pod(
                "p",
                json!([{"state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}]),
            )],
            ..StateDetails::default()
        };
        assert_eq!(
            reason_of(&waiting).unwrap().told(),
            "replica p waiting (ImagePullBackOff): not found"
        );
        let failing = StateDetails {
            deployment_events: vec![condition(json!({"type": "Progressing", "status": "False",
                "message": "ReplicaSet cannot progress"}))],
            ..StateDetails::default()
        };
        assert_eq!(
            reason_of(&failing).unwrap().told(),
            "ReplicaSet cannot progress"
        );
        assert_eq!(reason_of(&StateDetails::default()), None);
    }

    fn event(type_: &str, reason: &str, message: &str) -> PodEvent {
        PodEvent {
            type_: Some(type_.into()),
            reason: Some(reason.into()),
            message: Some(message.into()),
            count: None,
            first_timestamp: None,
            last_timestamp: None,
        }
    }

    /// A pod the scheduler cannot place has no container state; its newest Warning Event says
    /// why, ahead of the Deployment's generic condition, and a Normal Event never does.
    #[test]
    fn a_pod_without_a_container_is_explained_by_its_newest_warning_event() {
        let mut pending = pod("pending", json!([]));
        pending.events = vec![
            event("Warning", "FailedScheduling", "0/3 nodes: taint"),
            event(
                "Warning",
                "FailedScheduling",
                "0/3 nodes: Insufficient memory",
            ),
            event("Normal", "NotTriggerScaleUp", "max node group size reached"),
        ];
        let unavailable: DeploymentCondition = serde_json::from_value(json!({"type": "Available",
            "status": "False", "message": "Deployment does not have minimum availability."}))
        .unwrap();
        let mut details = StateDetails {
            deployment_events: vec![DeploymentEvent::Condition(unavailable)],
            pod_status: vec![pod("up", json!([{"state": {"running": {}}}])), pending],
            ..StateDetails::default()
        };
        assert_eq!(
            reason_of(&details).unwrap().told(),
            "replica pending (FailedScheduling): 0/3 nodes: Insufficient memory"
        );
        details.pod_status[1].events = vec![event("Normal", "Scheduled", "on worker-1")];
        assert_eq!(
            reason_of(&details).unwrap().told(),
            "Deployment does not have minimum availability."
        );
        // A container's own state stays first: it is what the replica does now.
        details.pod_status[1].events = vec![event("Warning", "BackOff", "restarting")];
        details.pod_status[0] = pod(
            "up",
            json!([{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
        );
        assert_eq!(
            reason_of(&details).unwrap().told(),
            "replica up waiting (CrashLoopBackOff)"
        );
    }
}
