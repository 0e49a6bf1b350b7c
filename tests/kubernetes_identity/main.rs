//! Each belt's own Kafka identity on Kubernetes (docs/kafka-identity.md), against a fake API
//! server: the KafkaUser belt-api applies (ACLs on exactly the belt's topics and group), the
//! Deployment taking the password from the User Operator's Secret, its removal, and a belt held
//! back from RUNNING until its KafkaUser is ready, failing when its status is not understood.

mod harness;
// The HTTP tests' `TestApp` (the real app on port 0), shared rather than copied; this binary
// uses a part of it.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
mod invoke;
mod invoke_http;
mod invoke_support;
mod invoke_sweep;
mod status;

use belt_api::domain::replica::{EnvEntry, EnvValue};
use belt_api::runtime::kubernetes::{render_for, KafkaIdentities};
use belt_api::runtime::{Phase, Runtime, RuntimeError};
use harness::*;
use http::Method;
use serde_json::{json, Value};

fn acl(kind: &str, name: &str, operations: &[&str]) -> Value {
    json!({"resource": {"type": kind, "name": name, "patternType": "literal"},
        "operations": operations, "host": "*"})
}

fn reads(topic: &str) -> Value {
    acl("topic", topic, &["Read", "Describe"])
}

fn writes(topic: &str) -> Value {
    acl("topic", topic, &["Write", "Describe"])
}

/// The env var `name` of the Deployment's only container.
fn env_var(deployment: &Value, name: &str) -> Value {
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    let matching: Vec<&Value> = env
        .as_array()
        .unwrap()
        .iter()
        .filter(|var| var["name"] == name)
        .collect();
    assert!(matching.len() <= 1, "{name} set twice: {matching:?}");
    matching.first().map_or(Value::Null, |var| (*var).clone())
}

/// Checks the KafkaUser's identity and returns its ACLs.
fn checked_user(user: &Value) -> Value {
    assert_eq!(user["apiVersion"], "kafka.strimzi.io/v1beta2");
    assert_eq!(user["kind"], "KafkaUser");
    assert_eq!(user["metadata"]["name"], USER);
    let labels = &user["metadata"]["labels"];
    assert_eq!(labels["strimzi.io/cluster"], "events");
    assert_eq!(labels["belt.grnry.io/id"], "161");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "belt-api");
    assert_eq!(
        user["spec"]["authentication"],
        json!({"type": "scram-sha-512"})
    );
    assert_eq!(user["spec"]["authorization"]["type"], "simple");
    user["spec"]["authorization"]["acls"].clone()
}

/// The pods get the identity from the Secret by reference, never as a literal password.
fn assert_credentials_by_reference(deployment: &Value) {
    assert_eq!(
        deployment["metadata"]["annotations"]["belt.grnry.io/kafka-user"],
        USER
    );
    let plain = |name: &str| env_var(deployment, name)["value"].clone();
    assert_eq!(plain("KAFKA_SECURITY_PROTOCOL"), "SASL_SSL");
    assert_eq!(plain("KAFKA_SASL_MECHANISM"), "SCRAM-SHA-512");
    assert_eq!(plain("KAFKA_SASL_USERNAME"), USER);
    let password = env_var(deployment, "KAFKA_SASL_PASSWORD");
    assert_eq!(
        password,
        json!({"name": "KAFKA_SASL_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": USER, "key": "password"}}})
    );
}

#[tokio::test]
async fn a_belt_with_output_types_gets_a_kafka_user_for_exactly_its_topics_and_group() {
    let mut body = v2_example_body();
    body["outputTypes"] = json!([{"name": "scores", "version": "1"}]);
    body.as_object_mut()
        .unwrap()
        .remove("kafkaDestinationTopic");
    let (runtime, mut fake) = runtime(strimzi());
    let applied = applied(&runtime, &mut fake, &spec_of(&body), true).await;
    let acls = checked_user(&applied[&format!("{KAFKA_USERS}/{USER}")]);
    let expected = json!([
        reads("grnry_data_in_test-a"),
        reads("grnry_data_in_test-b"),
        acl("group", USER, &["Read"]),
        writes("grnry_data_in_scores"),
        writes("grnry_belt_dlq_161"),
    ]);
    assert_eq!(acls, expected);
    assert_credentials_by_reference(&applied[&format!("{DEPLOYMENTS}/grnry-belt-161")]);
}

#[tokio::test]
async fn a_belt_with_a_destination_topic_may_write_only_it_and_its_dead_letters() {
    let (runtime, mut fake) = runtime(strimzi());
    let applied = applied(&runtime, &mut fake, &spec_of(&v2_example_body()), true).await;
    let acls = checked_user(&applied[&format!("{KAFKA_USERS}/{USER}")]);
    let expected = json!([
        reads("grnry_data_in_test-a"),
        reads("grnry_data_in_test-b"),
        acl("group", USER, &["Read"]),
        writes("profile-update"),
        writes("grnry_belt_dlq_161"),
    ]);
    assert_eq!(acls, expected);
    assert_credentials_by_reference(&applied[&format!("{DEPLOYMENTS}/grnry-belt-161")]);
}

#[test]
fn extra_env_cannot_replace_the_identity_variables() {
    let mut spec = spec_of(&v2_example_body());
    for (name, var) in [
        (
            "KAFKA_SASL_USERNAME",
            json!({"name": "KAFKA_SASL_USERNAME", "value": "belt-api"}),
        ),
        (
            "KAFKA_SASL_PASSWORD",
            json!({"name": "KAFKA_SASL_PASSWORD", "value": "guessed"}),
        ),
        (
            "KAFKA_SECURITY_PROTOCOL",
            json!({"name": "KAFKA_SECURITY_PROTOCOL", "value": "PLAINTEXT"}),
        ),
    ] {
        spec.env.push(EnvEntry {
            name: name.into(),
            value: EnvValue::Kubernetes(var),
        });
    }
    let rendered = render_for(&spec, &policy(), &strimzi()).unwrap();
    let deployment = serde_json::to_value(&rendered.deployment).unwrap();
    assert_credentials_by_reference(&deployment);
}

#[tokio::test]
async fn a_belt_naming_another_belts_kafka_secret_is_refused_and_nothing_is_applied() {
    let mut spec = spec_of(&v2_example_body());
    let other = "grnry-belt-7-1562744000000";
    spec.env.push(EnvEntry {
        name: "STOLEN".into(),
        value: EnvValue::Kubernetes(json!({"name": "STOLEN",
            "valueFrom": {"secretKeyRef": {"name": other, "key": "password"}}})),
    });
    let (runtime, mut fake) = runtime(strimzi());
    let serve = async {
        fake.expect_lookup_of_absent_deployment().await;
        let (call, reply) = fake.next().await;
        assert_eq!(call.path, format!("{SECRETS}/{other}"));
        // As Strimzi's User Operator labels a user's Secret: for no project.
        let labels = json!({"strimzi.io/kind": "KafkaUser", "strimzi.io/cluster": "events"});
        let secret = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": {"name": other, "namespace": NAMESPACE, "labels": labels}});
        reply_json(reply, 200, &secret);
    };
    let (result, ()) = tokio::join!(runtime.apply(&spec), serve);
    assert!(matches!(result, Err(RuntimeError::Other(_))), "{result:?}");
    fake.assert_no_call().await;
    let observed = runtime.observe(spec.belt_id).unwrap();
    assert_eq!(observed.phase, Phase::Failed);
    let details =
        serde_json::to_value(runtime.details(spec.belt_id).await.unwrap().unwrap()).unwrap();
    let message = details["deploymentEvents"][0]["message"].as_str().unwrap();
    assert!(message.contains(other), "{message}");
}

#[tokio::test]
async fn remove_deletes_the_belts_kafka_users_first() {
    let (runtime, mut fake) = runtime(strimzi());
    let serve = async {
        fake.expect_lookup_of_absent_deployment().await;
        let (call, reply) = fake.next().await;
        assert_eq!(
            (&call.method, call.path.as_str()),
            (&Method::DELETE, KAFKA_USERS)
        );
        assert_eq!(
            call.query["labelSelector"],
            "belt.grnry.io/id=161,app.kubernetes.io/managed-by=belt-api"
        );
        reply_json(
            reply,
            200,
            &json!({"apiVersion": "v1", "kind": "List", "items": []}),
        );
        for path in [DEPLOYMENTS, CONFIG_MAPS] {
            let (call, reply) = fake.next().await;
            assert_eq!(call.method, Method::DELETE);
            assert_eq!(call.path, format!("{path}/grnry-belt-161"));
            reply_status(reply, 404, "NotFound");
        }
    };
    let (result, ()) = tokio::join!(
        runtime.remove(belt_api::domain::BeltId::new(161).unwrap()),
        serve
    );
    result.unwrap();
    fake.assert_no_call().await;
}

#[tokio::test]
async fn without_identities_no_kafka_user_is_applied_listed_or_deleted() {
    let (runtime, mut fake) = recovered(
        KafkaIdentities::None,
        &[(DEPLOYMENTS, Vec::new()), (PODS, Vec::new())],
    )
    .await;
    let applied = applied(&runtime, &mut fake, &spec_of(&v2_example_body()), false).await;
    assert!(applied.keys().all(|path| !path.contains("kafkausers")));
    let deployment = &applied[&format!("{DEPLOYMENTS}/grnry-belt-161")];
    for name in belt_api::runtime::kubernetes::IDENTITY_VARIABLES {
        assert_eq!(env_var(deployment, name), Value::Null, "{name}");
    }
}

#[tokio::test]
async fn new_topics_replace_the_old_acls_on_the_next_apply() {
    let (runtime, mut fake) = runtime(strimzi());
    let mut body = v2_example_body();
    let first = applied(&runtime, &mut fake, &spec_of(&body), true).await;
    body["eventTypes"] = json!(["test-c"]);
    body["kafkaDestinationTopic"] = json!("profile-update-v2");
    let second = applied(&runtime, &mut fake, &spec_of(&body), true).await;
    let path = format!("{KAFKA_USERS}/{USER}");
    assert_ne!(first[&path], second[&path]);
    // The whole list is applied each time (an atomic list under server-side apply), so the old
    // topics' ACLs are gone, not merged.
    let expected = json!([
        reads("grnry_data_in_test-c"),
        acl("group", USER, &["Read"]),
        writes("profile-update-v2"),
        writes("grnry_belt_dlq_161"),
    ]);
    assert_eq!(checked_user(&second[&path]), expected);
}

/// With `BELT_K8S_KAFKA_CA_SECRET`, the cluster's CA is mounted read-only and named to the belt
/// host's client; an entry of the same name in the stored env never replaces it, and the CA
/// Secret, the platform's own, is applied without a project-label check (no GET of it).
#[tokio::test]
async fn a_configured_cluster_ca_is_mounted_read_only_into_the_replicas() {
    let mut identities = strimzi();
    if let KafkaIdentities::Strimzi(users) = &mut identities {
        users.ca_secret = Some("events-cluster-ca-cert".into());
    }
    let mut spec = spec_of(&v2_example_body());
    spec.env.push(EnvEntry {
        name: "KAFKA_SSL_CA_LOCATION".into(),
        value: EnvValue::Plain("/tmp/mine.pem".into()),
    });
    let (runtime, mut fake) = runtime(identities);
    let applied = applied(&runtime, &mut fake, &spec, true).await;
    let deployment = &applied[&format!("{DEPLOYMENTS}/grnry-belt-161")];
    assert_credentials_by_reference(deployment);
    assert_eq!(
        env_var(deployment, "KAFKA_SSL_CA_LOCATION"),
        json!({"name": "KAFKA_SSL_CA_LOCATION", "value": "/etc/belt/kafka-ca/ca.crt"})
    );
    let pod = &deployment["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|volume| volume["name"] == "belt-kafka-ca")
        .expect("the CA's volume");
    assert_eq!(
        volume["secret"],
        json!({"secretName": "events-cluster-ca-cert", "defaultMode": 292,
            "items": [{"key": "ca.crt", "path": "ca.crt"}]})
    );
    let mounts = &pod["containers"][0]["volumeMounts"];
    let mount = mounts
        .as_array()
        .unwrap()
        .iter()
        .find(|mount| mount["name"] == "belt-kafka-ca")
        .expect("the CA's mount");
    assert_eq!(
        mount,
        &json!({"name": "belt-kafka-ca", "mountPath": "/etc/belt/kafka-ca", "readOnly": true})
    );
    // Without the setting, nothing of it.
    let rendered = render_for(&spec_of(&v2_example_body()), &policy(), &strimzi()).unwrap();
    let plain = serde_json::to_value(&rendered.deployment).unwrap();
    assert_eq!(env_var(&plain, "KAFKA_SSL_CA_LOCATION"), Value::Null);
    assert!(!plain.to_string().contains("belt-kafka-ca"));
}
