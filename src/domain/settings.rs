//! What the server is told about belt defaults and the workload policy, as plain values.

/// The server's settings for belt defaults and the workload policy, as plain values: the
/// configuration (`BELT_*` variables, `src/config.rs`) hands them over, and nothing here reads
/// them itself. Field names follow the variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultSettings {
    pub destination_topic: String,
    pub destination_topics: Vec<String>,
    pub extra_env: Option<String>,
    pub volume_mounts: Option<String>,
    pub volumes: Option<String>,
    pub extractor_version: String,
    pub extractor_fn: Option<String>,
    pub pull_secret: String,
    pub image_name: String,
    pub milli_cpu: u32,
    pub milli_cpu_requests: u32,
    pub memory: u32,
    pub memory_requests: u32,
    pub allowed_volume_types: Vec<String>,
    pub allowed_images: Vec<String>,
    pub allowed_requirement_urls: Vec<String>,
}
