//! The belt document as the API shows it (v2 field order and shapes; docs/api.md#fields).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use time::format_description::well_known::iso8601::{
    Config, EncodedConfig, Iso8601, TimePrecision,
};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::belt::{Belt, FetchProfile, OutputType, Person};
use super::defaults::{BeltDefaults, DEFAULT_PROFILE_TYPE, DEFAULT_REPLICAS};
use super::kube_lists::{self, KubeList};
use super::status::BeltStatus;

const RFC3339_MILLIS: EncodedConfig = Config::DEFAULT
    .set_time_precision(TimePrecision::Second {
        decimal_digits: std::num::NonZeroU8::new(3),
    })
    .encode();

/// `2021-09-24T08:38:50.848Z`
pub fn format_timestamp(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Iso8601::<RFC3339_MILLIS>)
        .unwrap_or_default()
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Link {
    pub href: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SelfLinks {
    #[serde(rename = "self")]
    pub self_: Link,
}

/// A belt as returned by every single-belt endpoint and in list items.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BeltDocument {
    /// Counts effective updates, from "1".
    #[schema(example = "1")]
    pub version: String,
    pub name: String,
    pub project_name: String,
    #[schema(example = "grnry-belt-161")]
    pub kubernetes_name: String,
    pub description: String,
    pub labels: Vec<String>,
    pub affected_paths: Vec<String>,
    pub replicas: u32,
    pub millicpu: u32,
    pub millicpu_requests: u32,
    pub memory: u32,
    pub memory_requests: u32,
    pub created_by: Person,
    #[schema(example = "2021-09-24T08:38:50.848Z")]
    pub created_at: String,
    pub modified_by: Person,
    pub modified_at: String,
    pub assumed_role: String,
    pub requirements_py: String,
    pub image: String,
    pub image_pull_secret: String,
    pub extractor_version: String,
    pub extractor_fn: String,
    pub event_types: Vec<String>,
    pub output_types: Option<Vec<OutputType>>,
    pub partition_offsets: BTreeMap<String, Vec<u64>>,
    pub kafka_destination_topic: Option<String>,
    #[schema(example = "grnry-belt-161-1562744768164")]
    pub kafka_consumer_group_name: String,
    pub belt_type: String,
    pub runtime: String,
    pub parameter: String,
    pub debug: bool,
    pub fetch_profile: FetchProfile,
    pub profile_type: String,
    pub secret: String,
    pub secret_username: String,
    pub secret_password: String,
    /// Absent when the list was asked with `exclude=status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BeltStatus>,
    /// JSON-encoded `{"volumes": [...]}` or null.
    pub volumes: Option<String>,
    /// JSON-encoded `{"volumeMounts": [...]}` or null.
    pub volume_mounts: Option<String>,
    /// JSON-encoded `{"extraEnv": [...]}` or null.
    pub extra_env: Option<String>,
    #[schema(example = "161")]
    pub id: String,
    #[serde(rename = "_links")]
    pub links: SelfLinks,
}

fn encoded(kind: KubeList, items: &Option<Vec<Value>>) -> Option<String> {
    match kube_lists::encode(kind, items) {
        Value::String(s) => Some(s),
        _ => None,
    }
}

impl BeltDocument {
    pub fn new(belt: &Belt, status: Option<BeltStatus>, self_href: String) -> Self {
        let spec = &belt.spec;
        BeltDocument {
            version: belt.version.to_string(),
            name: spec.name.clone(),
            project_name: belt.project.to_string(),
            kubernetes_name: belt.kubernetes_name(),
            description: spec.description.clone(),
            labels: spec.labels.clone(),
            affected_paths: spec.affected_paths.clone(),
            replicas: spec.replicas,
            millicpu: spec.millicpu,
            millicpu_requests: spec.millicpu_requests,
            memory: spec.memory,
            memory_requests: spec.memory_requests,
            created_by: belt.created_by.clone(),
            created_at: format_timestamp(belt.created_at),
            modified_by: belt.modified_by.clone(),
            modified_at: format_timestamp(belt.modified_at),
            assumed_role: spec.assumed_role.clone(),
            requirements_py: spec.requirements_py.clone(),
            image: spec.image.clone(),
            image_pull_secret: spec.image_pull_secret.clone(),
            extractor_version: spec.extractor_version.clone(),
            extractor_fn: spec.extractor_fn.clone(),
            event_types: spec.event_types.clone(),
            output_types: spec.output_types.clone(),
            partition_offsets: spec.partition_offsets.clone(),
            kafka_destination_topic: spec.kafka_destination_topic.clone(),
            kafka_consumer_group_name: belt.kafka_consumer_group_name(),
            belt_type: spec.belt_type.clone(),
            runtime: spec.runtime.clone(),
            parameter: spec.parameter.clone(),
            debug: spec.debug,
            fetch_profile: spec.fetch_profile,
            profile_type: spec.profile_type.clone(),
            secret: spec.secret.clone(),
            secret_username: spec.secret_username.clone(),
            secret_password: spec.secret_password.clone(),
            status,
            volumes: encoded(KubeList::Volumes, &spec.volumes),
            volume_mounts: encoded(KubeList::VolumeMounts, &spec.volume_mounts),
            extra_env: encoded(KubeList::ExtraEnv, &spec.extra_env),
            id: belt.id.to_string(),
            links: SelfLinks {
                self_: Link { href: self_href },
            },
        }
    }
}

/// `?export=true`: only what a POST body needs to recreate this belt — the fields whose value
/// differs from the server default — plus `id`.
pub fn export(belt: &Belt, defaults: &BeltDefaults) -> Map<String, Value> {
    let spec = &belt.spec;
    let mut out = Map::new();
    let mut put = |key: &str, value: Value, is_default: bool| {
        if !is_default {
            out.insert(key.to_string(), value);
        }
    };
    put("name", Value::from(spec.name.clone()), false);
    put(
        "description",
        Value::from(spec.description.clone()),
        spec.description.is_empty(),
    );
    put(
        "labels",
        Value::from(spec.labels.clone()),
        spec.labels.is_empty(),
    );
    put(
        "affectedPaths",
        Value::from(spec.affected_paths.clone()),
        spec.affected_paths.is_empty(),
    );
    put(
        "replicas",
        Value::from(spec.replicas),
        spec.replicas == DEFAULT_REPLICAS,
    );
    put(
        "millicpu",
        Value::from(spec.millicpu),
        spec.millicpu == defaults.millicpu,
    );
    put(
        "millicpuRequests",
        Value::from(spec.millicpu_requests),
        spec.millicpu_requests == defaults.millicpu_requests.min(spec.millicpu),
    );
    put(
        "memory",
        Value::from(spec.memory),
        spec.memory == defaults.memory,
    );
    put(
        "memoryRequests",
        Value::from(spec.memory_requests),
        spec.memory_requests == defaults.memory_requests.min(spec.memory),
    );
    put(
        "assumedRole",
        Value::from(spec.assumed_role.clone()),
        spec.assumed_role.is_empty(),
    );
    put(
        "requirementsPy",
        Value::from(spec.requirements_py.clone()),
        spec.requirements_py.is_empty(),
    );
    put(
        "image",
        Value::from(spec.image.clone()),
        spec.image == defaults.image,
    );
    put(
        "imagePullSecret",
        Value::from(spec.image_pull_secret.clone()),
        spec.image_pull_secret == defaults.image_pull_secret,
    );
    put(
        "extractorVersion",
        Value::from(spec.extractor_version.clone()),
        spec.extractor_version == defaults.extractor_version,
    );
    put(
        "extractorFn",
        Value::from(spec.extractor_fn.clone()),
        spec.extractor_fn == defaults.extractor_fn,
    );
    put("eventTypes", Value::from(spec.event_types.clone()), false);
    put(
        "outputTypes",
        serde_json::to_value(&spec.output_types).unwrap_or_default(),
        spec.output_types.is_none(),
    );
    put(
        "partitionOffsets",
        serde_json::to_value(&spec.partition_offsets).unwrap_or_default(),
        spec.partition_offsets.is_empty(),
    );
    put(
        "kafkaDestinationTopic",
        Value::from(spec.kafka_destination_topic.clone()),
        spec.kafka_destination_topic.is_none()
            || spec.kafka_destination_topic.as_deref() == Some(&defaults.kafka_destination_topic),
    );
    put(
        "beltType",
        Value::from(spec.belt_type.clone()),
        spec.belt_type.is_empty(),
    );
    put(
        "runtime",
        Value::from(spec.runtime.clone()),
        spec.runtime.is_empty(),
    );
    put(
        "parameter",
        Value::from(spec.parameter.clone()),
        spec.parameter.is_empty(),
    );
    put("debug", Value::from(spec.debug), !spec.debug);
    put(
        "fetchProfile",
        Value::from(spec.fetch_profile.as_str()),
        spec.fetch_profile == FetchProfile::False,
    );
    put(
        "profileType",
        Value::from(spec.profile_type.clone()),
        spec.profile_type == DEFAULT_PROFILE_TYPE,
    );
    put(
        "secret",
        Value::from(spec.secret.clone()),
        spec.secret.is_empty(),
    );
    put(
        "secretUsername",
        Value::from(spec.secret_username.clone()),
        spec.secret_username.is_empty(),
    );
    put(
        "secretPassword",
        Value::from(spec.secret_password.clone()),
        spec.secret_password.is_empty(),
    );
    put(
        "volumes",
        kube_lists::encode(KubeList::Volumes, &spec.volumes),
        spec.volumes == defaults.volumes,
    );
    put(
        "volumeMounts",
        kube_lists::encode(KubeList::VolumeMounts, &spec.volume_mounts),
        spec.volume_mounts == defaults.volume_mounts,
    );
    put(
        "extraEnv",
        kube_lists::encode(KubeList::ExtraEnv, &spec.extra_env),
        spec.extra_env == defaults.extra_env,
    );
    out.insert("id".into(), Value::from(belt.id.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::belt::from_epoch_millis;

    #[test]
    fn timestamps_are_rfc3339_utc_with_millis() {
        assert_eq!(
            format_timestamp(from_epoch_millis(1_632_472_730_848)),
            "2021-09-24T08:38:50.848Z"
        );
        assert_eq!(
            format_timestamp(from_epoch_millis(1_632_472_730_000)),
            "2021-09-24T08:38:50.000Z"
        );
    }
}
