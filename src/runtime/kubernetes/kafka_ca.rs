//! The Kafka cluster's CA in the replicas (docs/kafka-identity.md#the-cluster-ca): with
//! `SASL_SSL` against a cluster whose CA is its own (Strimzi's `<cluster>-cluster-ca-cert`), the
//! belt host's client trusts only the image's system CAs and would refuse the brokers. The Secret
//! `BELT_K8S_KAFKA_CA_SECRET` names (its key `ca.crt`) is mounted read-only and
//! `KAFKA_SSL_CA_LOCATION` (`ssl.ca.location` in `belt_settings.py`) points at it. A `KAFKA_*`
//! variable, so no `extraEnv` can point the client elsewhere.

use k8s_openapi::api::core::v1::{EnvVar, KeyToPath, SecretVolumeSource, Volume, VolumeMount};

use super::kafka_user::StrimziUsers;

/// The variable the belt host reads the CA file's path from.
pub const CA_VARIABLE: &str = "KAFKA_SSL_CA_LOCATION";
/// The key of the CA in its Secret, as Strimzi's cluster CA Secret has it.
pub const CA_KEY: &str = "ca.crt";
const CA_VOLUME: &str = "belt-kafka-ca";
const CA_DIR: &str = "/etc/belt/kafka-ca";

/// The CA's volume, its read-only mount and the variable, when a CA Secret is configured.
pub fn ca_of(users: &StrimziUsers) -> Option<(Volume, VolumeMount, EnvVar)> {
    let secret = users.ca_secret.as_ref()?;
    let volume = Volume {
        name: CA_VOLUME.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.clone()),
            items: Some(vec![KeyToPath {
                key: CA_KEY.into(),
                path: CA_KEY.into(),
                ..KeyToPath::default()
            }]),
            default_mode: Some(0o444),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    };
    let mount = VolumeMount {
        name: CA_VOLUME.into(),
        mount_path: CA_DIR.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    };
    let var = EnvVar {
        name: CA_VARIABLE.into(),
        value: Some(format!("{CA_DIR}/{CA_KEY}")),
        ..EnvVar::default()
    };
    Some((volume, mount, var))
}
