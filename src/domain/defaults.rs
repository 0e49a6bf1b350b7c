//! Server-side defaults for belt fields, taken from the environment once at startup.

use super::belt::{BeltSpec, FetchProfile};
use super::kube_lists::{self, KubeList};
use super::reserved::reserved_entry;
pub use super::settings::DefaultSettings;
use super::topics::DestinationTopics;

/// The extractor function a belt gets when it names none: the v2 document's hello-world.
pub const HELLO_WORLD_EXTRACTOR_FN: &str = "from time import time\r\nfrom grnry_belt.models.update import Update\r\n\r\ndef execute(headers, event, profile=None):\r\n    update = Update(headers['grnry-correlation-id'], [\"dummy\"]).set_value(\"Hallo Belt!\", 0.5, time(), 'P1D', 'Dummy-Belt')\r\n    update.set_type('TestProfileType')\r\n    return [update]\r\n";

pub const DEFAULT_PROFILE_TYPE: &str = "_d";
pub const DEFAULT_REPLICAS: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeltDefaults {
    pub kafka_destination_topic: String,
    pub extractor_version: String,
    pub extractor_fn: String,
    pub image: String,
    pub image_pull_secret: String,
    pub millicpu: u32,
    pub millicpu_requests: u32,
    pub memory: u32,
    pub memory_requests: u32,
    pub volumes: Option<Vec<serde_json::Value>>,
    pub volume_mounts: Option<Vec<serde_json::Value>>,
    pub extra_env: Option<Vec<serde_json::Value>>,
    /// What a belt may ask of the cluster (docs/workload-policy.md).
    pub policy: super::policy::WorkloadPolicy,
    /// Where a belt may write besides its output types (`BELT_KAFKA_DESTINATION_TOPICS`).
    pub destination_topics: DestinationTopics,
}

impl BeltDefaults {
    /// Fails with a message naming the variable when a default would itself be an invalid value,
    /// so a misconfigured server refuses to start instead of storing bad belts.
    pub fn from_config(settings: impl Into<DefaultSettings>) -> Result<Self, String> {
        let config = &settings.into();
        let list = |kind: KubeList, env: &str, raw: &Option<String>| {
            let value = raw
                .as_deref()
                .map(|text| serde_json::Value::String(text.to_string()))
                .unwrap_or(serde_json::Value::Null);
            kube_lists::decode(kind, &value).map_err(|reason| format!("{env}: {reason}"))
        };
        let positive = |env: &str, value: u32| {
            if value == 0 {
                Err(format!("{env} must be greater than 0"))
            } else {
                Ok(value)
            }
        };
        let defaults = BeltDefaults {
            kafka_destination_topic: config.destination_topic.clone(),
            extractor_version: config.extractor_version.clone(),
            extractor_fn: config
                .extractor_fn
                .clone()
                .unwrap_or_else(|| HELLO_WORLD_EXTRACTOR_FN.to_string()),
            image: config.image_name.clone(),
            image_pull_secret: config.pull_secret.clone(),
            millicpu: positive("BELT_MILLI_CPU", config.milli_cpu)?,
            millicpu_requests: positive("BELT_MILLI_CPU_REQUESTS", config.milli_cpu_requests)?,
            memory: positive("BELT_MEMORY", config.memory)?,
            memory_requests: positive("BELT_MEMORY_REQUESTS", config.memory_requests)?,
            volumes: list(KubeList::Volumes, "BELT_VOLUMES", &config.volumes)?,
            volume_mounts: list(
                KubeList::VolumeMounts,
                "BELT_VOLUME_MOUNTS",
                &config.volume_mounts,
            )?,
            extra_env: list(KubeList::ExtraEnv, "BELT_EXTRA_ENV", &config.extra_env)?,
            policy: super::policy::WorkloadPolicy::from_config(config.clone())?,
            destination_topics: DestinationTopics::new(&config.destination_topics)?,
        };
        defaults.check_tenancy()?;
        for (env, value) in [
            ("BELT_DESTINATION_TOPIC", &defaults.kafka_destination_topic),
            ("BELT_EXTRACTOR_VERSION", &defaults.extractor_version),
            ("BELT_IMAGE_NAME", &defaults.image),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{env} must not be empty"));
            }
        }
        super::python::check_extractor_fn(
            &defaults.extractor_fn,
            super::python::ProfileArgument::Optional,
        )
        .map_err(|reason| format!("BELT_EXTRACTOR_FN: {reason}"))?;
        Ok(defaults)
    }

    /// A default destination the operator does not allow, or a default `extraEnv` with a name the
    /// platform reserves, would make every belt that takes the default refused.
    fn check_tenancy(&self) -> Result<(), String> {
        self.destination_topics
            .check(&self.kafka_destination_topic)
            .map_err(|reason| format!("BELT_DESTINATION_TOPIC {reason}"))?;
        match reserved_entry(self.extra_env.as_deref().unwrap_or_default()) {
            None => Ok(()),
            Some((index, name)) => Err(format!(
                "BELT_EXTRA_ENV: item {index} sets '{name}', which the platform sets for every replica (reserved: {})",
                super::reserved::reserved_list()
            )),
        }
    }

    /// The spec a belt would get from a body naming only `name` and `eventTypes` (and
    /// `outputTypes`, which decide whether there is a destination topic), given its own limits:
    /// a request's default is the server's, capped at the belt's limit.
    pub fn spec_for(&self, spec: &BeltSpec) -> BeltSpec {
        BeltSpec {
            name: spec.name.clone(),
            description: String::new(),
            labels: Vec::new(),
            affected_paths: Vec::new(),
            replicas: DEFAULT_REPLICAS,
            millicpu: self.millicpu,
            millicpu_requests: self.millicpu_requests.min(spec.millicpu),
            memory: self.memory,
            memory_requests: self.memory_requests.min(spec.memory),
            assumed_role: String::new(),
            requirements_py: String::new(),
            image: self.image.clone(),
            image_pull_secret: self.image_pull_secret.clone(),
            extractor_version: self.extractor_version.clone(),
            extractor_fn: self.extractor_fn.clone(),
            event_types: spec.event_types.clone(),
            output_types: None,
            partition_offsets: Default::default(),
            kafka_destination_topic: spec
                .output_types
                .is_none()
                .then(|| self.kafka_destination_topic.clone()),
            belt_type: String::new(),
            runtime: String::new(),
            parameter: String::new(),
            debug: false,
            fetch_profile: FetchProfile::False,
            profile_type: DEFAULT_PROFILE_TYPE.to_string(),
            secret: String::new(),
            secret_username: String::new(),
            secret_password: String::new(),
            volumes: self.volumes.clone(),
            volume_mounts: self.volume_mounts.clone(),
            extra_env: self.extra_env.clone(),
        }
    }
}

/// The settings of a configuration that sets nothing (the `BELT_*` variables' defaults;
/// `src/config.rs` has a test that they agree).
#[cfg(test)]
pub fn settings_for_tests() -> DefaultSettings {
    DefaultSettings {
        destination_topic: "profile-update".into(),
        destination_topics: vec![super::topics::DEFAULT_DESTINATION_TOPICS.into()],
        extra_env: None,
        volume_mounts: None,
        volumes: None,
        extractor_version: "latest".into(),
        extractor_fn: None,
        pull_secret: "grnry-pull-secret".into(),
        image_name: "grnry-belt".into(),
        milli_cpu: 200,
        milli_cpu_requests: 200,
        memory: 512,
        memory_requests: 512,
        allowed_volume_types: super::policy::DEFAULT_VOLUME_TYPES
            .split(',')
            .map(String::from)
            .collect(),
        allowed_images: Vec::new(),
        allowed_requirement_urls: Vec::new(),
    }
}

#[cfg(test)]
pub fn for_tests() -> BeltDefaults {
    BeltDefaults::from_config(settings_for_tests()).unwrap()
}
