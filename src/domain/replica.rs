//! What one replica of a belt receives (docs/api.md#what-a-replica-receives), decided once here
//! and rendered by each runtime: files, environment, image, resources, volumes.

use std::collections::BTreeMap;

use serde_json::Value;

use super::belt::{Belt, BeltSpec};
use super::ids::{BeltId, ProjectName};
use super::kafka_access::KafkaAccess;
use super::reserved::is_reserved;

/// The value of one environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Plain(String),
    /// A key of a Kubernetes Secret (the profile-store credentials). The local runtime has no
    /// Secret store and passes the key name itself.
    FromSecret {
        secret: String,
        key: String,
    },
    /// An `extraEnv` entry: a validated Kubernetes `EnvVar`, passed as the user wrote it.
    Kubernetes(Value),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvEntry {
    pub name: String,
    pub value: EnvValue,
}

/// Everything a runtime needs to run a belt at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSpec {
    pub belt_id: BeltId,
    pub project: ProjectName,
    /// The belt version this deployment runs.
    pub version: i64,
    /// Bumped by every START, so a START of the same version still restarts the replicas.
    pub generation: i64,
    /// `grnry-belt-<id>`: the Deployment, ConfigMap and container name.
    pub name: String,
    pub replicas: u32,
    /// `<image>:<extractorVersion>`
    pub image: String,
    pub image_pull_secret: Option<String>,
    pub millicpu: u32,
    pub millicpu_requests: u32,
    pub memory_mi: u32,
    pub memory_requests_mi: u32,
    /// File name → content: `callback.py`, `requirements.txt`.
    pub files: BTreeMap<String, String>,
    /// In order; `extraEnv` last, without the names the platform reserves
    /// (docs/api.md#reserved-names).
    pub env: Vec<EnvEntry>,
    pub volumes: Vec<Value>,
    pub volume_mounts: Vec<Value>,
    /// The topics and group the replicas use: what a runtime that gives each belt its own Kafka
    /// principal grants it, and nothing more.
    pub kafka: KafkaAccess,
}

pub const CALLBACK_FILE: &str = "callback.py";
pub const REQUIREMENTS_FILE: &str = "requirements.txt";

/// The platform's services a replica talks to, the same for every belt of one belt-api
/// (docs/api.md#what-a-replica-receives).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Platform {
    /// The data plane's bootstrap servers (`KAFKA_BOOTSTRAP_SERVERS`), when there is one.
    pub kafka_bootstrap: Option<String>,
    /// Where profiles are fetched (`PROFILE_STORE_URL`), when one is configured.
    pub profile_store_url: Option<String>,
    /// Seconds between the bundled host's idle lines when it has no data plane
    /// (`BELT_HOST_IDLE_SECONDS`), when configured.
    pub host_idle_seconds: Option<u32>,
    /// Whether updates carry the `grnry-source` header (`BELT_SOURCE_HEADER`).
    pub source_header: bool,
}

impl ReplicaSpec {
    /// `spec` is the belt's spec at the version being deployed (which may be older than `belt`'s).
    pub fn build(
        belt: &Belt,
        spec: &BeltSpec,
        version: i64,
        generation: i64,
        with_partition_offsets: bool,
        platform: &Platform,
    ) -> ReplicaSpec {
        let id = belt.id;
        let kafka = KafkaAccess::of(belt, spec);
        let env = environment(belt, spec, version, with_partition_offsets, platform);
        ReplicaSpec {
            belt_id: id,
            project: belt.project.clone(),
            version,
            generation,
            name: id.kubernetes_name(),
            replicas: spec.replicas,
            image: format!("{}:{}", spec.image, spec.extractor_version),
            image_pull_secret: (!spec.image_pull_secret.is_empty())
                .then(|| spec.image_pull_secret.clone()),
            millicpu: spec.millicpu,
            millicpu_requests: spec.millicpu_requests,
            memory_mi: spec.memory,
            memory_requests_mi: spec.memory_requests,
            files: BTreeMap::from([
                (CALLBACK_FILE.to_string(), spec.extractor_fn.clone()),
                (REQUIREMENTS_FILE.to_string(), spec.requirements_py.clone()),
            ]),
            env,
            volumes: spec.volumes.clone().unwrap_or_default(),
            volume_mounts: spec.volume_mounts.clone().unwrap_or_default(),
            kafka,
        }
    }

    /// The environment as plain strings, in order, as a process outside Kubernetes gets it (the
    /// local runtime's replicas, test-invoke).
    pub fn plain_env(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .map(|entry| {
                let value = match &entry.value {
                    EnvValue::Plain(value) => value.clone(),
                    // There is no Secret store outside Kubernetes: the belt gets the key's name,
                    // so it can at least tell which credential it would have received.
                    EnvValue::FromSecret { key, .. } => key.clone(),
                    // An `extraEnv` entry with `valueFrom` (Secret, ConfigMap, field ref) has
                    // nothing to resolve against outside Kubernetes: it is set, but empty.
                    EnvValue::Kubernetes(var) => {
                        var["value"].as_str().unwrap_or_default().to_string()
                    }
                };
                (entry.name.clone(), value)
            })
            .collect()
    }

    /// The value of a plain variable (tests, local rendering).
    pub fn env_value(&self, name: &str) -> Option<&EnvValue> {
        self.env.iter().find(|e| e.name == name).map(|e| &e.value)
    }
}

fn plain(name: &str, value: String) -> EnvEntry {
    EnvEntry {
        name: name.to_string(),
        value: EnvValue::Plain(value),
    }
}

/// The replica's environment, in order (docs/api.md#what-a-replica-receives); `extraEnv` last.
/// A stored `extraEnv` entry with a reserved name is left out: the platform's variables always
/// win, also for a belt stored before the names were refused at the API.
fn environment(
    belt: &Belt,
    spec: &BeltSpec,
    version: i64,
    with_partition_offsets: bool,
    platform: &Platform,
) -> Vec<EnvEntry> {
    let mut env = topic_env(belt, spec, version, platform.kafka_bootstrap.as_deref());
    env.extend(profile_env(spec, platform.profile_store_url.as_deref()));
    env.push(plain("DEBUG", spec.debug.to_string()));
    env.push(plain("PARAMETER", spec.parameter.clone()));
    if let Some(seconds) = platform.host_idle_seconds {
        env.push(plain("BELT_HOST_IDLE_SECONDS", seconds.to_string()));
    }
    if platform.source_header {
        env.push(plain("BELT_SOURCE_HEADER", "true".to_string()));
    }
    if with_partition_offsets && !spec.partition_offsets.is_empty() {
        env.push(plain(
            "PARTITION_OFFSETS",
            serde_json::to_string(&spec.partition_offsets).unwrap_or_default(),
        ));
    }
    for extra in spec.extra_env.iter().flatten() {
        let name = extra["name"].as_str().unwrap_or_default().to_string();
        if is_reserved(&name) {
            continue;
        }
        env.push(EnvEntry {
            name,
            value: EnvValue::Kubernetes(extra.clone()),
        });
    }
    env
}

/// Who the replica is and which topics it reads and writes.
fn topic_env(
    belt: &Belt,
    spec: &BeltSpec,
    version: i64,
    kafka_bootstrap: Option<&str>,
) -> Vec<EnvEntry> {
    let access = KafkaAccess::of(belt, spec);
    let mut env = vec![
        plain("BELT_ID", belt.id.to_string()),
        plain("BELT_VERSION", version.to_string()),
        plain("PROJECT_NAME", belt.project.to_string()),
        plain("EVENT_TYPES", spec.event_types.join(",")),
    ];
    if let Some(bootstrap) = kafka_bootstrap {
        env.push(plain("KAFKA_BOOTSTRAP_SERVERS", bootstrap.to_string()));
    }
    env.extend([
        plain("KAFKA_INPUT_TOPICS", access.input_topics.join(",")),
        plain("KAFKA_CONSUMER_GROUP", access.consumer_group),
    ]);
    match (&spec.output_types, &spec.kafka_destination_topic) {
        (Some(outputs), _) => env.push(plain(
            "OUTPUT_TYPES",
            serde_json::to_string(outputs).unwrap_or_default(),
        )),
        (None, Some(topic)) => env.push(plain("KAFKA_DESTINATION_TOPIC", topic.clone())),
        (None, None) => {}
    }
    env.push(plain("KAFKA_ERROR_TOPIC", access.dead_letter_topic));
    env
}

/// The Profile Store: the fetch mode and, when it fetches, the credentials from the Secret.
fn profile_env(spec: &BeltSpec, profile_store_url: Option<&str>) -> Vec<EnvEntry> {
    let mut env = vec![
        plain("FETCH_PROFILE", spec.fetch_profile.as_str().to_string()),
        plain("PROFILE_TYPE", spec.profile_type.clone()),
    ];
    if let Some(url) = profile_store_url {
        env.push(plain("PROFILE_STORE_URL", url.to_string()));
    }
    env.push(plain("KEYCLOAK_SECRET", spec.secret.clone()));
    for (name, key) in [
        ("KEYCLOAK_USER", &spec.secret_username),
        ("KEYCLOAK_PASS", &spec.secret_password),
    ] {
        let value = if spec.fetch_profile.needs_credentials() {
            EnvValue::FromSecret {
                secret: spec.secret.clone(),
                key: key.clone(),
            }
        } else {
            EnvValue::Plain(String::new())
        };
        env.push(EnvEntry {
            name: name.to_string(),
            value,
        });
    }
    env
}
