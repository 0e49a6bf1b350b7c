//! Server-side defaults for belt fields, taken from the environment once at startup.

use crate::config::BeltDefaultsConfig;

use super::kube_lists::{self, KubeList};

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
}

impl BeltDefaults {
    /// Fails with a message naming the variable when a default would itself be an invalid value,
    /// so a misconfigured server refuses to start instead of storing bad belts.
    pub fn from_config(config: &BeltDefaultsConfig) -> Result<Self, String> {
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
            policy: super::policy::WorkloadPolicy::from_config(config)?,
        };
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
}

#[cfg(test)]
pub fn for_tests() -> BeltDefaults {
    use clap::Parser;
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        defaults: BeltDefaultsConfig,
    }
    BeltDefaults::from_config(&Wrapper::parse_from(["x"]).defaults).unwrap()
}
