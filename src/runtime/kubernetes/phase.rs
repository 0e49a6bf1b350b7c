//! From a Deployment and its pods, as the reflectors hold them, to `Observed`. Pure.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::render::{ANNOTATION_GENERATION, ANNOTATION_VERSION};
use crate::runtime::{Observed, Phase};

/// Waiting reasons that do not heal by waiting: the image is missing, the process keeps dying, or
/// the pod cannot even be configured.
const FAILED_WAITING_REASONS: [&str; 5] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "InvalidImageName",
];

/// `pods` are the pods labelled with the belt's id, in any order.
pub fn observed(deployment: &Deployment, pods: &[Arc<Pod>]) -> Observed {
    // A Deployment without our annotations was edited by hand: report version/generation 0, which
    // is never current, so the reconciler applies it again.
    let version = annotation(&deployment.metadata, ANNOTATION_VERSION).unwrap_or(0);
    let generation = annotation(&deployment.metadata, ANNOTATION_GENERATION).unwrap_or(0);
    let phase = if progress_deadline_exceeded(deployment)
        || pods
            .iter()
            .any(|pod| of_generation(pod, generation) && pod_failed(pod))
    {
        Phase::Failed
    } else if rolled_out(deployment) {
        Phase::Running
    } else {
        Phase::Deploying
    };
    Observed {
        version,
        generation,
        phase,
    }
}

fn annotation(metadata: &ObjectMeta, key: &str) -> Option<i64> {
    metadata.annotations.as_ref()?.get(key)?.trim().parse().ok()
}

/// Status fields describe the spec only once the controller has seen the latest generation;
/// before that they are leftovers of the previous rollout.
fn status_is_current(deployment: &Deployment) -> bool {
    let observed = deployment
        .status
        .as_ref()
        .and_then(|status| status.observed_generation);
    observed.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(0)
}

fn rolled_out(deployment: &Deployment) -> bool {
    let Some(status) = &deployment.status else {
        return false;
    };
    // Kubernetes omits zero counts, and a missing `replicas` means 1.
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|spec| spec.replicas)
        .unwrap_or(1);
    status_is_current(deployment)
        && [
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas,
        ]
        .iter()
        .all(|count| count.unwrap_or(0) == wanted)
}

fn progress_deadline_exceeded(deployment: &Deployment) -> bool {
    let conditions = deployment
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_deref())
        .unwrap_or_default();
    status_is_current(deployment)
        && conditions.iter().any(|condition| {
            condition.type_ == "Progressing"
                && condition.status == "False"
                && condition.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
}

/// Only pods of the deployed generation count: right after a START that repairs a failed belt, the
/// old pods are still crash-looping while they are replaced, and the belt is deploying, not failed.
/// Terminating pods are on their way out and count neither.
fn of_generation(pod: &Pod, generation: i64) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && annotation(&pod.metadata, ANNOTATION_GENERATION).is_none_or(|g| g == generation)
}

fn pod_failed(pod: &Pod) -> bool {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|status| status.container_statuses.as_deref())
        .unwrap_or_default();
    statuses.iter().any(container_failed)
}

fn container_failed(status: &ContainerStatus) -> bool {
    let waiting_reason = status
        .state
        .as_ref()
        .and_then(|state| state.waiting.as_ref())
        .and_then(|waiting| waiting.reason.as_deref());
    let last_terminated_reason = status
        .last_state
        .as_ref()
        .and_then(|state| state.terminated.as_ref())
        .and_then(|terminated| terminated.reason.as_deref());
    waiting_reason.is_some_and(|reason| FAILED_WAITING_REASONS.contains(&reason))
        || (last_terminated_reason == Some("OOMKilled") && status.restart_count > 0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(generation: i64, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {
                "name": "grnry-belt-7",
                "generation": generation,
                "annotations": {"belt.grnry.io/version": "3", "belt.grnry.io/generation": "2"}
            },
            "spec": {"replicas": 2},
            "status": status
        }))
        .unwrap()
    }

    fn pod(generation: &str, container_status: serde_json::Value) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "p", "annotations": {"belt.grnry.io/generation": generation}},
                "status": {"containerStatuses": [container_status]}
            }))
            .unwrap(),
        )
    }

    fn all_ready() -> serde_json::Value {
        json!({"observedGeneration": 4, "replicas": 2, "updatedReplicas": 2,
               "readyReplicas": 2, "availableReplicas": 2})
    }

    #[test]
    fn version_and_generation_come_from_the_annotations() {
        let observed = observed(&deployment(4, all_ready()), &[]);
        assert_eq!((observed.version, observed.generation), (3, 2));
        assert_eq!(observed.phase, Phase::Running);
    }

    #[test]
    fn a_status_of_an_older_spec_generation_is_not_running() {
        let observed = observed(&deployment(5, all_ready()), &[]);
        assert_eq!(observed.phase, Phase::Deploying);
    }

    #[test]
    fn a_stale_progress_deadline_does_not_fail_a_new_rollout() {
        let status = json!({"observedGeneration": 4, "conditions": [{"type": "Progressing",
            "status": "False", "reason": "ProgressDeadlineExceeded"}]});
        assert_eq!(
            observed(&deployment(4, status.clone()), &[]).phase,
            Phase::Failed
        );
        assert_eq!(
            observed(&deployment(5, status), &[]).phase,
            Phase::Deploying
        );
    }

    #[test]
    fn crash_looping_pods_of_an_older_generation_do_not_fail_the_belt() {
        let crashing = json!({"name": "c", "image": "i", "imageID": "", "ready": false,
            "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}});
        let rolling = json!({"observedGeneration": 4, "replicas": 2});
        let old = pod("1", crashing.clone());
        let current = pod("2", crashing);
        assert_eq!(
            observed(&deployment(4, rolling.clone()), &[old]).phase,
            Phase::Deploying
        );
        assert_eq!(
            observed(&deployment(4, rolling), &[current]).phase,
            Phase::Failed
        );
    }

    #[test]
    fn an_oom_kill_fails_the_belt_only_with_restarts() {
        let oom = |restarts: i32| {
            pod(
                "2",
                json!({"name": "c", "image": "i", "imageID": "", "ready": true,
                "restartCount": restarts, "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}),
            )
        };
        assert_eq!(
            observed(&deployment(4, all_ready()), &[oom(2)]).phase,
            Phase::Failed
        );
        assert_eq!(
            observed(&deployment(4, all_ready()), &[oom(0)]).phase,
            Phase::Running
        );
    }
}
