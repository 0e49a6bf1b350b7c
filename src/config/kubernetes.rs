//! How belts get their Kafka identity on Kubernetes (docs/kafka-identity.md): a Strimzi
//! `KafkaUser` per belt (the default), or none, which leaves every topic open to every pod.

use clap::{Args, ValueEnum};

use crate::runtime::kubernetes::{KafkaIdentities, StrimziUsers};

#[derive(Debug, Clone, Args)]
pub struct KubernetesKafkaConfig {
    /// Kubernetes runtime with a data plane: `strimzi` gives each belt its own KafkaUser (SCRAM
    /// credentials, ACLs on exactly its topics and group); `none` gives belts no credentials, so
    /// the Kafka must let every pod at every topic (a loud warning at startup).
    #[arg(long, env = "BELT_K8S_KAFKA_USERS", value_enum, default_value_t = KafkaUsers::Strimzi)]
    pub k8s_kafka_users: KafkaUsers,

    /// The Strimzi `Kafka` resource whose User Operator provisions the belts' users (the
    /// `strimzi.io/cluster` label); required with `strimzi`.
    #[arg(long, env = "BELT_K8S_STRIMZI_CLUSTER")]
    pub k8s_strimzi_cluster: Option<String>,

    /// The `security.protocol` replicas use with their credentials.
    #[arg(long, env = "BELT_K8S_KAFKA_SECURITY_PROTOCOL", default_value = "SASL_SSL",
        value_parser = ["SASL_SSL", "SASL_PLAINTEXT"])]
    pub k8s_kafka_security_protocol: String,

    /// A Secret in the belts' namespace whose `ca.crt` signs the brokers' certificates (with
    /// Strimzi: `<cluster>-cluster-ca-cert`), mounted read-only into every replica with
    /// `strimzi`, which `KAFKA_SSL_CA_LOCATION` names; unset: the image's system CAs.
    #[arg(long, env = "BELT_K8S_KAFKA_CA_SECRET")]
    pub k8s_kafka_ca_secret: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KafkaUsers {
    Strimzi,
    None,
}

impl KubernetesKafkaConfig {
    /// The CA Secret's name, refused at startup when it cannot be a Secret's.
    fn ca_secret(&self) -> anyhow::Result<Option<String>> {
        let name = self.k8s_kafka_ca_secret.as_deref().map(str::trim);
        match name.filter(|name| !name.is_empty()) {
            None => Ok(None),
            Some(name) if crate::domain::policy::is_object_name(name) => Ok(Some(name.into())),
            Some(name) => anyhow::bail!("BELT_K8S_KAFKA_CA_SECRET '{name}' is not a Secret name"),
        }
    }

    /// The identities to provision; none without a data plane, where there is nothing to guard.
    pub fn identities(&self, data_plane: bool) -> anyhow::Result<KafkaIdentities> {
        if !data_plane {
            return Ok(KafkaIdentities::None);
        }
        match self.k8s_kafka_users {
            KafkaUsers::None => {
                tracing::warn!(
                    "BELT_K8S_KAFKA_USERS=none: belts get no Kafka credentials of their own, so \
                     the Kafka must let every pod at every topic: any belt's code can read, \
                     write and delete every project's topics and consumer groups"
                );
                Ok(KafkaIdentities::None)
            }
            KafkaUsers::Strimzi => {
                let cluster = self
                    .k8s_strimzi_cluster
                    .as_deref()
                    .map(str::trim)
                    .filter(|name| !name.is_empty());
                let Some(cluster) = cluster else {
                    anyhow::bail!(
                        "BELT_K8S_KAFKA_USERS=strimzi (the default) needs BELT_K8S_STRIMZI_CLUSTER, \
                         the name of the Strimzi Kafka resource whose User Operator creates the \
                         belts' KafkaUsers; or set BELT_K8S_KAFKA_USERS=none to give belts no \
                         identity of their own (every pod then reaches every topic)"
                    );
                };
                Ok(KafkaIdentities::Strimzi(StrimziUsers {
                    cluster: cluster.to_string(),
                    security_protocol: self.k8s_kafka_security_protocol.clone(),
                    ca_secret: self.ca_secret()?,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Settings {
        #[command(flatten)]
        kafka: KubernetesKafkaConfig,
    }

    fn parse(args: &[&str]) -> KubernetesKafkaConfig {
        let args = std::iter::once("belt-api").chain(args.iter().copied());
        Settings::try_parse_from(args).unwrap().kafka
    }

    #[test]
    fn strimzi_is_the_default_and_needs_its_cluster() {
        let config = parse(&[]);
        let err = config.identities(true).unwrap_err().to_string();
        assert!(err.contains("BELT_K8S_STRIMZI_CLUSTER"), "{err}");
        assert_eq!(config.identities(false).unwrap(), KafkaIdentities::None);
        let config = parse(&["--k8s-strimzi-cluster", "events"]);
        assert_eq!(
            config.identities(true).unwrap(),
            KafkaIdentities::Strimzi(StrimziUsers {
                cluster: "events".into(),
                security_protocol: "SASL_SSL".into(),
                ca_secret: None,
            })
        );
        let none = parse(&["--k8s-kafka-users", "none"]);
        assert_eq!(none.identities(true).unwrap(), KafkaIdentities::None);
    }
}
