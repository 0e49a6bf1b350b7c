//! Each belt's own Kafka principal on a cluster run with Strimzi (docs/kafka-identity.md): a
//! `KafkaUser` with SCRAM-SHA-512 credentials and ACLs on exactly the belt's topics and group,
//! whose Secret (made by Strimzi's User Operator) only the belt's pods read. belt-api never sees
//! the password: the pods take it from the Secret by `secretKeyRef`. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{json, Value};

use crate::domain::kafka_access::KafkaAccess;
use crate::domain::replica::ReplicaSpec;

pub const KAFKA_USER_GROUP: &str = "kafka.strimzi.io";
pub const KAFKA_USER_VERSION: &str = "v1beta2";
pub const KAFKA_USER_KIND: &str = "KafkaUser";
const KAFKA_USER_PLURAL: &str = "kafkausers";
/// The label by which Strimzi's User Operator picks the users of its Kafka cluster.
pub const LABEL_STRIMZI_CLUSTER: &str = "strimzi.io/cluster";
/// On the Deployment: the KafkaUser whose credentials its pods use, so that the belt's phase can
/// wait for exactly that one.
pub const ANNOTATION_KAFKA_USER: &str = "belt.grnry.io/kafka-user";
/// The key of the User Operator's Secret that holds the SCRAM password.
pub const PASSWORD_KEY: &str = "password";
pub const SASL_MECHANISM: &str = "SCRAM-SHA-512";

/// The variables through which a replica gets its Kafka identity; the Python belt host reads
/// them. The platform sets them last, so no `extraEnv` entry can replace them.
pub const IDENTITY_VARIABLES: [&str; 4] = [
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
];

/// How belts get their Kafka identity on Kubernetes (`BELT_K8S_KAFKA_USERS`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KafkaIdentities {
    /// None: pods get no credentials, so the Kafka must let every pod at every topic.
    #[default]
    None,
    /// A Strimzi `KafkaUser` per belt.
    Strimzi(StrimziUsers),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrimziUsers {
    /// The Strimzi `Kafka` resource whose User Operator provisions the users
    /// (`BELT_K8S_STRIMZI_CLUSTER`).
    pub cluster: String,
    /// What replicas set as `security.protocol` (`BELT_K8S_KAFKA_SECURITY_PROTOCOL`):
    /// `SASL_SSL` or `SASL_PLAINTEXT`.
    pub security_protocol: String,
    /// The Secret holding the cluster's CA (`ca.crt`), mounted into the replicas
    /// (`BELT_K8S_KAFKA_CA_SECRET`); `None`: the image's system CAs.
    pub ca_secret: Option<String>,
}

impl KafkaIdentities {
    pub fn strimzi(&self) -> Option<&StrimziUsers> {
        match self {
            KafkaIdentities::None => None,
            KafkaIdentities::Strimzi(users) => Some(users),
        }
    }
}

/// `kafkausers.kafka.strimzi.io/v1beta2`, for the dynamic API.
pub fn api_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk(KAFKA_USER_GROUP, KAFKA_USER_VERSION, KAFKA_USER_KIND);
    ApiResource::from_gvk_with_plural(&gvk, KAFKA_USER_PLURAL)
}

/// The KafkaUser's name, which is also the Kafka principal, the SCRAM user name and the Secret's
/// name: the belt's consumer group name. It holds the belt's creation instant, so a belt that
/// later gets the same id (after a delete) never inherits a Secret or ACLs left of this one.
pub fn user_name(spec: &ReplicaSpec) -> String {
    spec.kafka.consumer_group.clone()
}

/// The KafkaUser of `spec`, labelled like the belt's other objects plus the Strimzi cluster.
pub fn render_user(
    spec: &ReplicaSpec,
    users: &StrimziUsers,
    mut labels: BTreeMap<String, String>,
) -> Value {
    labels.insert(LABEL_STRIMZI_CLUSTER.to_string(), users.cluster.clone());
    json!({
        "apiVersion": format!("{KAFKA_USER_GROUP}/{KAFKA_USER_VERSION}"),
        "kind": KAFKA_USER_KIND,
        "metadata": {"name": user_name(spec), "labels": labels},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": acls(&spec.kafka)},
        },
    })
}

/// Exactly what the belt's replicas do, on literal names: read its input topics in its own group,
/// write its outputs and its dead-letter topic. No cluster, create, delete or config operation.
pub fn acls(access: &KafkaAccess) -> Vec<Value> {
    let mut acls: Vec<Value> = access
        .input_topics
        .iter()
        .map(|topic| acl("topic", topic, &["Read", "Describe"]))
        .collect();
    acls.push(acl("group", &access.consumer_group, &["Read"]));
    acls.extend(
        access
            .written_topics()
            .iter()
            .map(|topic| acl("topic", topic, &["Write", "Describe"])),
    );
    acls
}

fn acl(kind: &str, name: &str, operations: &[&str]) -> Value {
    json!({
        "resource": {"type": kind, "name": name, "patternType": "literal"},
        "operations": operations,
        "host": "*",
    })
}

/// The identity variables: the protocol and mechanism as values, the user name (not a secret:
/// it is the principal) as a value, the password only by reference to the User Operator's Secret.
pub fn identity_env(spec: &ReplicaSpec, users: &StrimziUsers) -> Vec<EnvVar> {
    let value = |name: &str, value: String| EnvVar {
        name: name.to_string(),
        value: Some(value),
        ..EnvVar::default()
    };
    let [protocol, mechanism, username, password] = IDENTITY_VARIABLES;
    vec![
        value(protocol, users.security_protocol.clone()),
        value(mechanism, SASL_MECHANISM.to_string()),
        value(username, user_name(spec)),
        EnvVar {
            name: password.to_string(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: user_name(spec),
                    key: PASSWORD_KEY.to_string(),
                    ..SecretKeySelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acls_grant_no_cluster_or_admin_operation() {
        let access = KafkaAccess {
            input_topics: vec!["grnry_data_in_a".into()],
            consumer_group: "grnry-belt-1-5".into(),
            output_topics: vec!["profile-update".into()],
            dead_letter_topic: "grnry_belt_dlq_1".into(),
        };
        let acls = acls(&access);
        assert_eq!(acls.len(), 4);
        for acl in &acls {
            assert_ne!(acl["resource"]["type"], "cluster");
            assert_eq!(acl["resource"]["patternType"], "literal");
            for op in acl["operations"].as_array().unwrap() {
                assert!(["Read", "Write", "Describe"].contains(&op.as_str().unwrap()));
            }
        }
    }
}
