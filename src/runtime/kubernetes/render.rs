//! From a `ReplicaSpec` to the two objects a belt is on Kubernetes (docs/api.md#on-kubernetes).
//! Pure, so the output can be compared with committed golden files.

use std::collections::BTreeMap;

use anyhow::Context;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, EnvVar, EnvVarSource,
    LocalObjectReference, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, SecretKeySelector, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::guard;
use super::kafka_ca;
use super::kafka_user::{self, KafkaIdentities, StrimziUsers};
use crate::domain::policy::WorkloadPolicy;
use crate::domain::replica::{EnvValue, ReplicaSpec};
use crate::domain::BeltId;

pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_ID: &str = "belt.grnry.io/id";
pub const LABEL_PROJECT: &str = "belt.grnry.io/project";
pub const ANNOTATION_VERSION: &str = "belt.grnry.io/version";
pub const ANNOTATION_GENERATION: &str = "belt.grnry.io/generation";

const NAME: &str = "belt";
/// Also the server-side-apply field manager: one fixed name, so every API replica owns the same fields.
pub const FIELD_MANAGER: &str = "belt-api";
/// What the reflectors watch: everything this service created, and nothing else.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=belt-api";

pub const CODE_VOLUME: &str = "belt-code";
pub const CODE_MOUNT_PATH: &str = "/belt";

/// Why a belt could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The objects would break the workload policy (a belt stored before it, or by hand).
    #[error("refused by the workload policy: {0}")]
    Refused(String),
    /// A stored volume/mount/extraEnv entry no longer decodes as its Kubernetes type (input
    /// validation decodes the same types, so this means a store written by another version).
    #[error(transparent)]
    Invalid(#[from] anyhow::Error),
}

/// The ConfigMap and the Deployment, both named `spec.name`, checked against `policy` as they
/// will be sent: the pods meet the restricted Pod Security Standard whatever the spec says.
pub fn render(
    spec: &ReplicaSpec,
    policy: &WorkloadPolicy,
) -> Result<(ConfigMap, Deployment), RenderError> {
    let rendered = render_for(spec, policy, &KafkaIdentities::None)?;
    Ok((rendered.config_map, rendered.deployment))
}

/// What one belt is on the cluster.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub config_map: ConfigMap,
    pub deployment: Deployment,
    /// The belt's own Kafka principal, when belt-api provisions them.
    pub kafka_user: Option<Value>,
}

/// As [`render`], with the belt's Kafka identity: its KafkaUser, and the Deployment's pods
/// taking the credentials from the KafkaUser's Secret.
pub fn render_for(
    spec: &ReplicaSpec,
    policy: &WorkloadPolicy,
    identities: &KafkaIdentities,
) -> Result<Rendered, RenderError> {
    let users = identities.strimzi();
    let (config_map, deployment) = build(spec, users)?;
    let pod = deployment
        .spec
        .as_ref()
        .and_then(|d| d.template.spec.as_ref())
        .context("the Deployment has no pod template")?;
    guard::enforce(policy, spec, pod).map_err(RenderError::Refused)?;
    let kafka_user = users.map(|users| kafka_user::render_user(spec, users, labels(spec)));
    Ok(Rendered {
        config_map,
        deployment,
        kafka_user,
    })
}

fn build(
    spec: &ReplicaSpec,
    users: Option<&StrimziUsers>,
) -> anyhow::Result<(ConfigMap, Deployment)> {
    let mut annotations = annotations(spec);
    if users.is_some() {
        annotations.insert(
            kafka_user::ANNOTATION_KAFKA_USER.to_string(),
            kafka_user::user_name(spec),
        );
    }
    let metadata = ObjectMeta {
        name: Some(spec.name.clone()),
        labels: Some(labels(spec)),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    };
    let config_map = ConfigMap {
        metadata: metadata.clone(),
        data: Some(spec.files.clone()),
        ..ConfigMap::default()
    };
    let deployment = Deployment {
        spec: Some(DeploymentSpec {
            replicas: Some(i32::try_from(spec.replicas).context("replicas")?),
            selector: LabelSelector {
                match_labels: Some(selector(spec.belt_id)),
                ..LabelSelector::default()
            },
            // A belt never runs more replicas than it asked for (docs/api.md#on-kubernetes). A
            // rolling update surges (or overlaps with terminating pods); Recreate waits until the
            // old pods are gone.
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".to_string()),
                ..DeploymentStrategy::default()
            }),
            template: PodTemplateSpec {
                // The annotations ride on the pod template so that a new generation rolls the pods
                // even when nothing else changed (START of the same version).
                metadata: Some(ObjectMeta {
                    labels: metadata.labels.clone(),
                    annotations: metadata.annotations.clone(),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec(spec, users)?),
            },
            ..DeploymentSpec::default()
        }),
        metadata,
        status: None,
    };
    Ok((config_map, deployment))
}

/// The immutable Deployment selector: only what never changes for a belt.
pub fn selector(id: BeltId) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_NAME.to_string(), NAME.to_string()),
        (LABEL_ID.to_string(), id.to_string()),
    ])
}

pub(super) fn labels(spec: &ReplicaSpec) -> BTreeMap<String, String> {
    let mut labels = selector(spec.belt_id);
    labels.insert(LABEL_MANAGED_BY.to_string(), FIELD_MANAGER.to_string());
    // Project names may hold `~` or exceed 63 characters, which a label value cannot; such a belt
    // goes without the label rather than failing to deploy (nothing here selects by project).
    if is_label_value(spec.project.as_str()) {
        labels.insert(LABEL_PROJECT.to_string(), spec.project.to_string());
    }
    labels
}

fn annotations(spec: &ReplicaSpec) -> BTreeMap<String, String> {
    BTreeMap::from([
        (ANNOTATION_VERSION.to_string(), spec.version.to_string()),
        (
            ANNOTATION_GENERATION.to_string(),
            spec.generation.to_string(),
        ),
    ])
}

/// Kubernetes' rule for label values: at most 63 characters, alphanumerics with `-_.` inside.
pub(super) fn is_label_value(value: &str) -> bool {
    let inner_ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let bytes = value.as_bytes();
    bytes.len() <= 63
        && bytes.iter().all(|&b| inner_ok(b))
        && bytes.first().is_none_or(u8::is_ascii_alphanumeric)
        && bytes.last().is_none_or(u8::is_ascii_alphanumeric)
}

fn pod_spec(spec: &ReplicaSpec, users: Option<&StrimziUsers>) -> anyhow::Result<PodSpec> {
    let mut volumes = vec![Volume {
        name: CODE_VOLUME.to_string(),
        config_map: Some(ConfigMapVolumeSource {
            name: spec.name.clone(),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }];
    volumes.extend(decode_all::<Volume>(&spec.volumes, "volumes")?);
    let ca = users.and_then(kafka_ca::ca_of);
    let mut volume_mounts = vec![VolumeMount {
        name: CODE_VOLUME.to_string(),
        mount_path: CODE_MOUNT_PATH.to_string(),
        read_only: Some(true),
        ..VolumeMount::default()
    }];
    volume_mounts.extend(decode_all::<VolumeMount>(
        &spec.volume_mounts,
        "volumeMounts",
    )?);
    let mut env = env(spec, users)?;
    if let Some((volume, mount, var)) = ca {
        volumes.push(volume);
        volume_mounts.push(mount);
        env.retain(|entry| entry.name != kafka_ca::CA_VARIABLE);
        env.push(var);
    }
    let container = Container {
        name: spec.name.clone(),
        image: Some(spec.image.clone()),
        env: Some(env),
        resources: Some(ResourceRequirements {
            limits: Some(resources(spec.millicpu, spec.memory_mi)),
            requests: Some(resources(spec.millicpu_requests, spec.memory_requests_mi)),
            ..ResourceRequirements::default()
        }),
        volume_mounts: Some(volume_mounts),
        security_context: Some(container_security()),
        ..Container::default()
    };
    Ok(PodSpec {
        // The restricted Pod Security Standard; docs/workload-policy.md says what each buys.
        automount_service_account_token: Some(false),
        security_context: Some(pod_security()),
        containers: vec![container],
        image_pull_secrets: spec
            .image_pull_secret
            .as_ref()
            .map(|name| vec![LocalObjectReference { name: name.clone() }]),
        volumes: Some(volumes),
        ..PodSpec::default()
    })
}

/// The pod-level half of the restricted Pod Security Standard, for every pod belt-api makes.
pub(super) fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..PodSecurityContext::default()
    }
}

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_string(),
        ..SeccompProfile::default()
    }
}

pub(super) fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            ..Capabilities::default()
        }),
        privileged: Some(false),
        run_as_non_root: Some(true),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..SecurityContext::default()
    }
}

pub(super) fn resources(millicpu: u32, memory_mi: u32) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity(format!("{millicpu}m"))),
        ("memory".to_string(), Quantity(format!("{memory_mi}Mi"))),
    ])
}

/// The replica's environment; with a Kafka identity, its variables last, replacing any entry of
/// the same name (an `extraEnv` entry cannot swap in other credentials).
fn env(spec: &ReplicaSpec, users: Option<&StrimziUsers>) -> anyhow::Result<Vec<EnvVar>> {
    let mut env = spec
        .env
        .iter()
        .map(env_var)
        .collect::<anyhow::Result<Vec<EnvVar>>>()?;
    if let Some(users) = users {
        env.retain(|var| !kafka_user::IDENTITY_VARIABLES.contains(&var.name.as_str()));
        env.extend(kafka_user::identity_env(spec, users));
    }
    Ok(env)
}

fn env_var(entry: &crate::domain::replica::EnvEntry) -> anyhow::Result<EnvVar> {
    match &entry.value {
        EnvValue::Plain(value) => Ok(EnvVar {
            name: entry.name.clone(),
            value: Some(value.clone()),
            ..EnvVar::default()
        }),
        EnvValue::FromSecret { secret, key } => Ok(EnvVar {
            name: entry.name.clone(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: secret.clone(),
                    key: key.clone(),
                    ..SecretKeySelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }),
        // Never put the value in the error: extraEnv may carry credentials.
        EnvValue::Kubernetes(raw) => serde_json::from_value(raw.clone())
            .with_context(|| format!("extraEnv entry {} is not an EnvVar", entry.name)),
    }
}

fn decode_all<T: DeserializeOwned>(items: &[Value], field: &str) -> anyhow::Result<Vec<T>> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            serde_json::from_value(item.clone())
                .with_context(|| format!("{field}[{index}] is not a Kubernetes object of its kind"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_follow_the_kubernetes_rule() {
        for good in ["global", "team-a.prod_1", "a", ""] {
            assert!(is_label_value(good), "{good}");
        }
        for bad in ["team~a", "-a", "a.", &"x".repeat(64)] {
            assert!(!is_label_value(bad), "{bad}");
        }
    }
}
