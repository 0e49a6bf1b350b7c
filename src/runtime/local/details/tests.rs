use super::*;
use crate::runtime::local::status::{Exit, READY_LINE};
use serde_json::json;

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap()
}

/// The details as the API renders them: the shape is what these tests pin.
fn view(replicas: &[ReplicaStatus]) -> serde_json::Value {
    serde_json::to_value(render(&View {
        container: "grnry-belt-5",
        replica_set: "grnry-belt-5-2".into(),
        image: "python3 belt-host.py".into(),
        created_at: at(0),
        replicas,
    }))
    .unwrap()
}

#[test]
fn ready_replicas_make_an_available_deployment() {
    let mut replica = ReplicaStatus::new("grnry-belt-5-2-0".into(), 3, at(0));
    replica.started(42, at(1));
    replica.output(READY_LINE, at(2));
    let details = view(std::slice::from_ref(&replica));
    assert_eq!(phase(&[replica]), Phase::Running);
    assert_eq!(details["deploymentReplicas"], "1");
    assert_eq!(details["deploymentEvents"][0]["type"], "Available");
    assert_eq!(details["deploymentEvents"][0]["status"], "True");
    assert_eq!(
        details["deploymentEvents"][0]["lastTransitionTime"],
        "1970-01-01T00:00:02Z"
    );
    let container = &details["podStatus"][0]["containerStatus"][0];
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
        details["deploymentEvents"][0]["reason"],
        "MinimumReplicasUnavailable"
    );
    assert_eq!(details["deploymentEvents"][1]["status"], "False");
    let container = &details["podStatus"][0]["containerStatus"][0];
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
        details["podStatus"][0]["podEvents"][1]["reason"],
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
        details["deploymentEvents"],
        json!([
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
             "message": "Deployment does not have minimum availability.",
             "lastUpdateTime": t(0), "lastTransitionTime": t(0)},
            {"type": "Progressing", "status": "False", "reason": "CrashLoopBackOff",
             "message": "ReplicaSet \"grnry-belt-5-2\" cannot progress: grnry-belt-5-2-1 keep exiting without becoming ready.",
             "lastUpdateTime": t(12), "lastTransitionTime": t(12)},
        ])
    );
    // Compared as text: the order of the keys is part of the answer clients have seen.
    assert_eq!(
        details["podStatus"][0].to_string(),
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
        .to_string()
    );
    assert_eq!(
        details["podStatus"][1]["containerStatus"][0].to_string(),
        json!({
            "name": "grnry-belt-5", "image": "python3 belt-host.py",
            "ready": false, "restartCount": 1, "started": false,
            "state": {"waiting": {
                "message": "back-off 1s restarting failed container=grnry-belt-5 pod=grnry-belt-5-2-1",
                "reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": t(12),
                "message": "ValueError: boom", "reason": "Error", "signal": 9, "startedAt": t(11)}},
        })
        .to_string()
    );
}

#[test]
fn prints_back_off_like_kubernetes() {
    use std::time::Duration;
    assert_eq!(human(Duration::from_millis(50)), "50ms");
    assert_eq!(human(Duration::from_secs(10)), "10s");
    assert_eq!(human(Duration::from_secs(80)), "1m20s");
}
