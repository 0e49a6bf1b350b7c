//! What a belt is: the user's specification (`BeltSpec`) and the stored record around it (`Belt`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ids::{BeltId, ProjectName};

/// Everything a user chooses about a belt, with defaults applied: the one declaration of the
/// belt's fields (docs/api.md#fields). A `BeltSpec` only comes out of
/// [`crate::domain::input::parse_spec`] (or the store, which only holds parsed specs), so it is
/// valid.
///
/// Its serde form is the stored form and the spec part of the API document; the request body's
/// schema and the export view derive from it too (`src/http/document.rs`, `src/http/openapi.rs`).
/// Field order is the document's key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BeltSpec {
    /// 1–255 characters, unique within the project.
    pub name: String,
    pub description: String,
    pub labels: Vec<String>,
    pub affected_paths: Vec<String>,
    /// 1–50, default 1.
    pub replicas: u32,
    /// CPU limit in millicores; default `BELT_MILLI_CPU` (200).
    pub millicpu: u32,
    /// CPU request ≤ `millicpu`; default `BELT_MILLI_CPU_REQUESTS` capped at the limit.
    pub millicpu_requests: u32,
    /// Memory limit in MiB; default `BELT_MEMORY` (512).
    pub memory: u32,
    /// Memory request ≤ `memory`; default `BELT_MEMORY_REQUESTS` capped at the limit.
    pub memory_requests: u32,
    pub assumed_role: String,
    /// pip requirement specifiers, one per line.
    pub requirements_py: String,
    /// Default `BELT_IMAGE_NAME`.
    pub image: String,
    /// Default `BELT_PULL_SECRET`.
    pub image_pull_secret: String,
    /// Image tag; default `BELT_EXTRACTOR_VERSION` (`latest`).
    pub extractor_version: String,
    /// Python source defining `execute(headers, event[, profile])`; default `BELT_EXTRACTOR_FN`.
    pub extractor_fn: String,
    /// Event types to consume; each must exist in the project's registry when one is configured.
    pub event_types: Vec<String>,
    /// Mutually exclusive with an explicit `kafkaDestinationTopic`; at most 100. With an
    /// event-type registry, each must exist there and the caller must hold its editor role (or a
    /// producer role the record names): docs/api.md#reserved-names.
    pub output_types: Option<Vec<OutputType>>,
    /// `grnry_data_in_<eventType>` → start offset per partition; used on the first start only.
    /// Input may also be a JSON-encoded string of the object.
    pub partition_offsets: BTreeMap<String, Vec<u64>>,
    /// Default `BELT_DESTINATION_TOPIC` (`profile-update`); null when the belt writes to
    /// `outputTypes` instead. Must be one of `BELT_KAFKA_DESTINATION_TOPICS`, and is never a
    /// dead-letter (`grnry_belt_dlq_…`) or input (`grnry_data_in_…`) topic:
    /// docs/api.md#reserved-names.
    pub kafka_destination_topic: Option<String>,
    pub belt_type: String,
    pub runtime: String,
    pub parameter: String,
    pub debug: bool,
    /// Default `FALSE`. Input may also be a boolean (`true` → `TRUE`) or the name in any case.
    pub fetch_profile: FetchProfile,
    /// Default `_d`.
    pub profile_type: String,
    /// Required unless `fetchProfile` is FALSE.
    pub secret: String,
    pub secret_username: String,
    pub secret_password: String,
    /// Kubernetes `Volume` list, JSON-encoded: `"{\"volumes\": [...]}"`, or null.
    #[serde(with = "super::kube_lists::as_volumes")]
    #[schema(value_type = Option<String>)]
    pub volumes: Option<Vec<serde_json::Value>>,
    /// Kubernetes `VolumeMount` list, JSON-encoded: `"{\"volumeMounts\": [...]}"`, or null.
    #[serde(with = "super::kube_lists::as_volume_mounts")]
    #[schema(value_type = Option<String>)]
    pub volume_mounts: Option<Vec<serde_json::Value>>,
    /// Kubernetes `EnvVar` list, JSON-encoded: `"{\"extraEnv\": [...]}"`, or null. No name the
    /// platform reserves (`BELT_*`, `KAFKA_*`, `KEYCLOAK_*`, `PYTHON*`, `LD_*`, `PROJECT_NAME`, …):
    /// docs/api.md#reserved-names.
    #[serde(with = "super::kube_lists::as_extra_env")]
    #[schema(value_type = Option<String>)]
    pub extra_env: Option<Vec<serde_json::Value>>,
}

/// An output event type: where the belt's updates go instead of `kafkaDestinationTopic`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutputType {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FetchProfile {
    #[default]
    False,
    True,
    Lazy,
    Prefetch,
    PrefetchWithHistory,
}

impl FetchProfile {
    pub const ALL: [FetchProfile; 5] = [
        FetchProfile::False,
        FetchProfile::True,
        FetchProfile::Lazy,
        FetchProfile::Prefetch,
        FetchProfile::PrefetchWithHistory,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FetchProfile::False => "FALSE",
            FetchProfile::True => "TRUE",
            FetchProfile::Lazy => "LAZY",
            FetchProfile::Prefetch => "PREFETCH",
            FetchProfile::PrefetchWithHistory => "PREFETCH_WITH_HISTORY",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|mode| mode.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// Modes in which `execute` is always handed a profile, so it needs a third parameter.
    pub fn hands_profile_to_execute(self) -> bool {
        matches!(
            self,
            FetchProfile::True | FetchProfile::Prefetch | FetchProfile::PrefetchWithHistory
        )
    }

    /// Modes that read the Profile Store and so need its credentials.
    pub fn needs_credentials(self) -> bool {
        self != FetchProfile::False
    }
}

/// Who created or last changed a belt, from the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Person {
    pub name: String,
    pub email: String,
}

/// Whether the user wants the belt to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DesiredState {
    Running,
    #[default]
    Stopped,
    /// DELETE was asked for: the reconciler removes what runs, then the document
    /// (docs/api.md#delete).
    Deleting,
}

impl DesiredState {
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredState::Running => "RUNNING",
            DesiredState::Stopped => "STOPPED",
            DesiredState::Deleting => "DELETING",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "RUNNING" => Some(DesiredState::Running),
            "STOPPED" => Some(DesiredState::Stopped),
            "DELETING" => Some(DesiredState::Deleting),
            _ => None,
        }
    }
}

/// What the last START deployed: a PUT while running changes the belt, not this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub version: i64,
    pub spec: BeltSpec,
}

/// The stored wish the reconciler drives the runtime toward
/// (docs/api.md#the-wish-and-the-reconciler).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wish {
    pub desired: DesiredState,
    /// `None` until the first START.
    pub deployed: Option<Deployed>,
    /// Counts STARTs; 1 is the first start ever.
    pub generation: i64,
}

impl Wish {
    /// `PARTITION_OFFSETS` reach the replicas on the first start only; later starts continue from
    /// the consumer group's committed offsets.
    pub fn is_first_start(&self) -> bool {
        self.generation == 1
    }
}

/// A stored belt: the spec plus what the service decided about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Belt {
    pub id: BeltId,
    pub project: ProjectName,
    /// Counts effective updates from 1.
    pub version: i64,
    pub spec: BeltSpec,
    pub created_by: Person,
    pub created_at: OffsetDateTime,
    pub modified_by: Person,
    pub modified_at: OffsetDateTime,
    pub wish: Wish,
}

impl Belt {
    pub fn kubernetes_name(&self) -> String {
        self.id.kubernetes_name()
    }

    /// Fixed at creation: the id and the creation instant never change.
    pub fn kafka_consumer_group_name(&self) -> String {
        format!("grnry-belt-{}-{}", self.id, epoch_millis(self.created_at))
    }
}

pub fn epoch_millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn from_epoch_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Now, truncated to milliseconds: the precision the API shows and the store keeps.
pub fn now_millis() -> OffsetDateTime {
    from_epoch_millis(epoch_millis(OffsetDateTime::now_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec as the store holds it since before the spec was the one declaration: the three
    /// Kubernetes lists as bare lists of objects.
    const STORED_BEFORE: &str = r#"{"name":"b","description":"","labels":[],"affectedPaths":[],"replicas":1,"millicpu":200,"millicpuRequests":200,"memory":512,"memoryRequests":512,"assumedRole":"","requirementsPy":"","image":"grnry-belt","imagePullSecret":"grnry-pull-secret","extractorVersion":"latest","extractorFn":"def execute(headers, event):\n    return []\n","eventTypes":["test-a"],"outputTypes":null,"partitionOffsets":{"grnry_data_in_test-a":[0,5]},"kafkaDestinationTopic":"profile-update","beltType":"","runtime":"","parameter":"","debug":false,"fetchProfile":"FALSE","profileType":"_d","secret":"","secretUsername":"","secretPassword":"","volumes":[{"emptyDir":{},"name":"v"}],"volumeMounts":null,"extraEnv":[{"name":"FOO","value":"bar"}]}"#;

    #[test]
    fn specs_stored_by_earlier_versions_still_load() {
        let spec: BeltSpec = serde_json::from_str(STORED_BEFORE).unwrap();
        assert_eq!(
            spec.volumes,
            Some(vec![serde_json::json!({"name": "v", "emptyDir": {}})])
        );
        assert_eq!(spec.volume_mounts, None);
        assert_eq!(
            spec.extra_env,
            Some(vec![serde_json::json!({"name": "FOO", "value": "bar"})])
        );
        assert_eq!(spec.partition_offsets["grnry_data_in_test-a"], [0, 5]);
        let stored = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<BeltSpec>(&stored).unwrap(), spec);
    }

    #[test]
    fn the_stored_form_holds_the_lists_json_encoded() {
        let spec: BeltSpec = serde_json::from_str(STORED_BEFORE).unwrap();
        let stored = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            stored["volumes"],
            r#"{"volumes":[{"emptyDir":{},"name":"v"}]}"#
        );
        assert_eq!(stored["volumeMounts"], serde_json::Value::Null);
    }
}
