//! Server-side defaults for the fields of a belt, and the workload policy.

use clap::Args;

/// Server-side defaults for belt fields (names as in the v2 document).
#[derive(Debug, Clone, Args)]
pub struct BeltDefaultsConfig {
    /// The destination topic of a belt that names none; must be one of
    /// `BELT_KAFKA_DESTINATION_TOPICS`.
    #[arg(long, env = "BELT_DESTINATION_TOPIC", default_value = "profile-update")]
    pub destination_topic: String,
    /// Topics a belt may name as `kafkaDestinationTopic` (comma list of names, and prefixes
    /// written `name*`). A dead-letter topic (`grnry_belt_dlq_…`) or input topic
    /// (`grnry_data_in_…`) is never one: belt-api refuses to start when an entry could admit one.
    #[arg(long, env = "BELT_KAFKA_DESTINATION_TOPICS", value_delimiter = ',',
        default_value = crate::domain::topics::DEFAULT_DESTINATION_TOPICS)]
    pub kafka_destination_topics: Vec<String>,
    #[arg(long, env = "BELT_EXTRA_ENV")]
    pub extra_env: Option<String>,
    #[arg(long, env = "BELT_VOLUME_MOUNTS")]
    pub volume_mounts: Option<String>,
    #[arg(long, env = "BELT_VOLUMES")]
    pub volumes: Option<String>,
    #[arg(long, env = "BELT_EXTRACTOR_VERSION", default_value = "latest")]
    pub extractor_version: String,
    /// Python source of the default extractor function; the bundled hello-world when unset.
    #[arg(long, env = "BELT_EXTRACTOR_FN")]
    pub extractor_fn: Option<String>,
    #[arg(long, env = "BELT_PULL_SECRET", default_value = "grnry-pull-secret")]
    pub pull_secret: String,
    #[arg(long, env = "BELT_IMAGE_NAME", default_value = "grnry-belt")]
    pub image_name: String,
    #[arg(long, env = "BELT_MILLI_CPU", default_value_t = 200)]
    pub milli_cpu: u32,
    #[arg(long, env = "BELT_MILLI_CPU_REQUESTS", default_value_t = 200)]
    pub milli_cpu_requests: u32,
    #[arg(long, env = "BELT_MEMORY", default_value_t = 512)]
    pub memory: u32,
    #[arg(long, env = "BELT_MEMORY_REQUESTS", default_value_t = 512)]
    pub memory_requests: u32,
    /// Workload policy: volume types a belt may use (comma list); `hostPath` is never allowed.
    #[arg(long, env = "BELT_ALLOWED_VOLUME_TYPES", value_delimiter = ',',
        default_value = crate::domain::policy::DEFAULT_VOLUME_TYPES)]
    pub allowed_volume_types: Vec<String>,
    /// Workload policy: images a belt may run (comma list of exact names, or prefixes ending in
    /// `/`); unset: only `BELT_IMAGE_NAME`.
    #[arg(long, env = "BELT_ALLOWED_IMAGES", value_delimiter = ',')]
    pub allowed_images: Vec<String>,
    /// Workload policy: URL prefixes (ending in `/`) that `name @ url` requirements may install
    /// from (comma list); unset: none.
    #[arg(long, env = "BELT_ALLOWED_REQUIREMENT_URLS", value_delimiter = ',')]
    pub allowed_requirement_urls: Vec<String>,
}

/// The domain takes its settings as plain values and never reads the configuration itself.
impl From<&BeltDefaultsConfig> for crate::domain::defaults::DefaultSettings {
    fn from(config: &BeltDefaultsConfig) -> Self {
        let config = config.clone();
        crate::domain::defaults::DefaultSettings {
            destination_topic: config.destination_topic,
            destination_topics: config.kafka_destination_topics,
            extra_env: config.extra_env,
            volume_mounts: config.volume_mounts,
            volumes: config.volumes,
            extractor_version: config.extractor_version,
            extractor_fn: config.extractor_fn,
            pull_secret: config.pull_secret,
            image_name: config.image_name,
            milli_cpu: config.milli_cpu,
            milli_cpu_requests: config.milli_cpu_requests,
            memory: config.memory,
            memory_requests: config.memory_requests,
            allowed_volume_types: config.allowed_volume_types,
            allowed_images: config.allowed_images,
            allowed_requirement_urls: config.allowed_requirement_urls,
        }
    }
}
