//! A belt whose replicas are all up is RUNNING only once its KafkaUser is: not before the User
//! Operator says Ready for the latest spec with the belt's own user and Secret, and FAILED when
//! it reports an error or a status this reader does not understand.

use belt_api::domain::BeltId;
use belt_api::runtime::kubernetes::{MISSING, NOT_READY, NOT_UNDERSTOOD, PENDING};
use belt_api::runtime::{Observed, Phase, Runtime};
use serde_json::{json, Value};

use crate::harness::*;

/// Belt 161 rolled out (version 2, generation 3, its one replica ready), its pods using `USER`.
fn running_deployment(annotated: bool) -> (Value, Vec<Value>) {
    let scenario = fixture("kubernetes/running.json");
    let mut deployment = scenario["deployment"].clone();
    if annotated {
        deployment["metadata"]["annotations"]["belt.grnry.io/kafka-user"] = json!(USER);
    }
    (deployment, scenario["pods"].as_array().unwrap().clone())
}

fn kafka_user(generation: i64, status: Value) -> Value {
    let mut user = json!({
        "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaUser",
        "metadata": {"name": USER, "namespace": NAMESPACE, "generation": generation,
            "resourceVersion": "9", "labels": {"belt.grnry.io/id": "161",
            "app.kubernetes.io/managed-by": "belt-api", "strimzi.io/cluster": "events"}},
        "spec": {"authentication": {"type": "scram-sha-512"}},
    });
    if !status.is_null() {
        user["status"] = status;
    }
    user
}

fn ready_status() -> Value {
    json!({"observedGeneration": 4, "username": USER, "secret": USER,
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2019-07-01T11:02:40Z"}]})
}

/// What the runtime observes, and the first `deploymentEvents` reason, for the running belt
/// whose KafkaUser list is `users`.
async fn seen_with(users: Vec<Value>, annotated: bool) -> (Observed, Option<String>, String) {
    let (deployment, pods) = running_deployment(annotated);
    let pod_count = pods.len();
    let lists = [
        (DEPLOYMENTS, vec![deployment]),
        (PODS, pods),
        (KAFKA_USERS, users),
    ];
    let (runtime, mut fake) = recovered(strimzi(), &lists).await;
    let id = BeltId::new(161).unwrap();
    let observed = runtime.observe(id).unwrap();
    let (details, ()) = tokio::join!(runtime.details(id), fake.serve_events(pod_count));
    let details = serde_json::to_value(details.unwrap().unwrap()).unwrap();
    let first = details["deploymentEvents"][0].clone();
    fake.assert_no_call().await;
    let reason = first["reason"].as_str().map(str::to_string);
    (
        observed,
        reason,
        first["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn a_ready_kafka_user_lets_the_belt_run() {
    let (observed, reason, _) = seen_with(vec![kafka_user(4, ready_status())], true).await;
    assert_eq!((observed.version, observed.generation), (2, 3));
    assert_eq!(observed.phase, Phase::Running);
    assert_ne!(reason.as_deref(), Some(PENDING));
    assert!(!reason.unwrap_or_default().starts_with("KafkaUser"));
}

#[tokio::test]
async fn a_kafka_user_not_ready_yet_keeps_the_belt_deploying_and_says_why() {
    let not_ready = json!({"observedGeneration": 4, "conditions": [{"type": "Ready",
        "status": "False", "message": "waiting for the cluster"}]});
    let stale = ready_status();
    for (user, expected) in [
        (kafka_user(4, Value::Null), "has no status yet"),
        (kafka_user(4, not_ready), "waiting for the cluster"),
        // Ready, but for the spec before the last apply (the ACLs of the old topics).
        (kafka_user(5, stale), "not reconciled the latest spec"),
    ] {
        let (observed, reason, message) = seen_with(vec![user], true).await;
        assert_eq!(observed.phase, Phase::Deploying, "{message}");
        assert_eq!(reason.as_deref(), Some(PENDING), "{message}");
        assert!(
            message.contains(expected) && message.contains(USER),
            "{message}"
        );
    }
}

#[tokio::test]
async fn an_operator_error_fails_the_belt_with_its_message() {
    let failed = json!({"observedGeneration": 4, "conditions": [{"type": "NotReady",
        "status": "True", "reason": "InvalidResourceException", "message": "Authorization is not enabled"}]});
    let (observed, reason, message) = seen_with(vec![kafka_user(4, failed)], true).await;
    assert_eq!(observed.phase, Phase::Failed);
    assert_eq!(reason.as_deref(), Some(NOT_READY));
    assert!(
        message.contains("Authorization is not enabled"),
        "{message}"
    );
}

fn push_condition(status: &mut Value, condition: Value) {
    status["conditions"].as_array_mut().unwrap().push(condition);
}

#[tokio::test]
async fn a_status_that_is_not_understood_is_never_taken_for_ready() {
    let ready = |edit: &dyn Fn(&mut Value)| {
        let mut status = ready_status();
        edit(&mut status);
        status
    };
    let garbage = [
        json!("Ready"),
        ready(&|s| s["conditions"] = json!("Ready")),
        ready(&|s| s["conditions"][0]["status"] = json!("Yes")),
        ready(&|s| s["conditions"][0]["status"] = json!(true)),
        ready(&|s| {
            s["conditions"][0]
                .as_object_mut()
                .unwrap()
                .remove("type")
                .map(drop)
                .unwrap()
        }),
        ready(&|s| s["observedGeneration"] = json!("4")),
        ready(&|s| s["observedGeneration"] = json!(9)),
        ready(&|s| push_condition(s, json!({"type": "Ready", "status": "False"}))),
        ready(&|s| push_condition(s, json!({"type": "NotReady", "status": "True"}))),
        ready(&|s| s["secret"] = json!("grnry-belt-7-1562744000000")),
        ready(&|s| s["username"] = json!(null)),
        ready(&|s| s["username"] = json!(["u"])),
    ];
    for status in garbage {
        let (observed, reason, message) =
            seen_with(vec![kafka_user(4, status.clone())], true).await;
        assert_eq!(observed.phase, Phase::Failed, "{status}");
        assert_eq!(
            reason.as_deref(),
            Some(NOT_UNDERSTOOD),
            "{status}: {message}"
        );
    }
}

#[tokio::test]
async fn a_missing_kafka_user_is_applied_again() {
    for (users, annotated) in [
        (Vec::new(), true),
        (vec![kafka_user(4, ready_status())], false),
    ] {
        let (observed, reason, message) = seen_with(users, annotated).await;
        // Version 0 is never current: the reconciler applies the belt, and its KafkaUser, again.
        assert_eq!((observed.version, observed.phase), (0, Phase::Deploying));
        assert_eq!(reason.as_deref(), Some(MISSING), "{message}");
    }
}

#[tokio::test]
async fn the_belt_runs_once_the_watch_sees_its_kafka_user_turn_ready() {
    let (deployment, pods) = running_deployment(true);
    let lists = [
        (DEPLOYMENTS, vec![deployment]),
        (PODS, pods),
        (KAFKA_USERS, vec![kafka_user(4, Value::Null)]),
    ];
    let (runtime, mut fake) = recovered(strimzi(), &lists).await;
    let id = BeltId::new(161).unwrap();
    let mut changes = runtime.phase_events().unwrap();
    assert_eq!(runtime.observe(id).unwrap().phase, Phase::Deploying);
    let mut ready = kafka_user(4, ready_status());
    ready["metadata"]["resourceVersion"] = json!("10");
    fake.push(KAFKA_USERS, &[("MODIFIED", &ready)]);
    let told = tokio::time::timeout(std::time::Duration::from_secs(2), changes.recv()).await;
    assert_eq!(told.expect("no phase event").unwrap(), id);
    assert_eq!(runtime.observe(id).unwrap().phase, Phase::Running);
}
