//! What a belt is: the user's specification (`BeltSpec`) and the stored record around it (`Belt`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ids::{BeltId, ProjectName};

/// Everything a user chooses about a belt, with defaults applied. A `BeltSpec` only comes out of
/// [`crate::domain::input::parse_spec`] (or the store, which only holds parsed specs), so it is valid.
///
/// Serialized as-is into the store; the API document is rendered by `document.rs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BeltSpec {
    pub name: String,
    pub description: String,
    pub labels: Vec<String>,
    pub affected_paths: Vec<String>,
    pub replicas: u32,
    pub millicpu: u32,
    pub millicpu_requests: u32,
    pub memory: u32,
    pub memory_requests: u32,
    pub assumed_role: String,
    pub requirements_py: String,
    pub image: String,
    pub image_pull_secret: String,
    pub extractor_version: String,
    pub extractor_fn: String,
    pub event_types: Vec<String>,
    pub output_types: Option<Vec<OutputType>>,
    pub partition_offsets: BTreeMap<String, Vec<u64>>,
    /// `None` when the belt writes to `outputTypes` instead.
    pub kafka_destination_topic: Option<String>,
    pub belt_type: String,
    pub runtime: String,
    pub parameter: String,
    pub debug: bool,
    pub fetch_profile: FetchProfile,
    pub profile_type: String,
    pub secret: String,
    pub secret_username: String,
    pub secret_password: String,
    /// Canonical JSON of validated Kubernetes `Volume` objects; `None` = no volumes.
    pub volumes: Option<Vec<serde_json::Value>>,
    /// Canonical JSON of validated Kubernetes `VolumeMount` objects.
    pub volume_mounts: Option<Vec<serde_json::Value>>,
    /// Canonical JSON of validated Kubernetes `EnvVar` objects.
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
