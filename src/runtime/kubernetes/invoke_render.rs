//! What one test-invoke is on the cluster (docs/workload-policy.md#test-invoke-pods): a Pod of
//! the belt's image and a Secret holding the request, both named `grnry-belt-invoke-<id>-<hex>`.
//! Pure. The pod's security, resources and labels come from `render.rs`, as a replica's do.
//!
//! The request (the draft code, its requirements, the sample events) rides in a Secret, not in
//! the pod's args or env: whoever may read pods in the namespace (`get pods` is granted widely,
//! to read status) would read it there, and an env is capped far below the 1 MiB body; a Secret
//! is read only by those granted Secrets, and is owned by the pod, so it goes when the pod goes.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, LocalObjectReference, Pod, PodSpec,
    ResourceRequirements, Secret, SecretVolumeSource, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::render::{self, LABEL_ID, LABEL_MANAGED_BY, LABEL_NAME};
use crate::invoke::{InvokeRequest, Tenant};

/// The `app.kubernetes.io/name` of invoke pods. Not `belt`, and without `belt.grnry.io/id`: the
/// belt's Deployment selects its pods by those two, and would adopt an invoke pod that had them
/// (and the runtime's view would count it as a replica).
pub const INVOKE_NAME: &str = "belt-invoke";
/// The belt an invoke pod runs the code of: its id, or [`DRAFT`].
pub const LABEL_INVOKE_OF: &str = "belt.grnry.io/invoke-of";
/// [`LABEL_INVOKE_OF`] (and the name's part) of a draft's pod.
pub const DRAFT: &str = "draft";
/// Unix seconds after which a pod (or Secret) of this label is a leftover any belt-api removes.
pub const LABEL_EXPIRES: &str = "belt.grnry.io/invoke-expires";
/// Every invoke pod and Secret belt-api made, and nothing else.
pub const INVOKE_SELECTOR: &str =
    "app.kubernetes.io/name=belt-invoke,app.kubernetes.io/managed-by=belt-api";
pub const CONTAINER: &str = "invoke";
/// What the pod prints, once, before its report.
pub const REPORT_MARKER: &str = "belt-invoke-pod-report ";

const REQUEST_VOLUME: &str = "belt-invoke-request";
const REQUEST_DIR: &str = "/belt-invoke";
const WORK_VOLUME: &str = "belt-invoke-work";
const WORK_DIR: &str = "/belt-invoke-work";
const BOOTSTRAP: &str = "belt_invoke_pod.py";
/// The same runner the local runtime runs, carried in the request's Secret: the image only
/// needs python3, as for its belt host.
const FILES: [(&str, &str); 3] = [
    (BOOTSTRAP, include_str!("invoke_pod.py")),
    (
        "belt_invoke.py",
        include_str!("../local/python/belt_invoke.py"),
    ),
    ("belt_lib.py", include_str!("../local/python/belt_lib.py")),
];
/// What a Secret may hold (etcd's object limit), less room for its metadata.
pub const SECRET_CAP: usize = 1_000_000;
/// Time for the image pull and the interpreter's start, within the pod's deadline.
pub const START_ALLOWANCE: Duration = Duration::from_secs(30);

/// How one invocation is bounded (`BELT_INVOKE_*`).
#[derive(Debug, Clone)]
pub struct PodLimits {
    pub timeout: Duration,
    /// The virtualenv build's own bound, when there are requirements to build.
    pub requirements_timeout: Option<Duration>,
    pub memory_bytes: u64,
    pub cpu_seconds: u64,
    /// The work dir's size (the virtualenv and whatever the run writes there).
    pub disk_bytes: u64,
}

impl PodLimits {
    /// `activeDeadlineSeconds`: the run, the build, and the start; the kubelet kills the pod then.
    pub fn deadline(&self) -> Duration {
        self.timeout + self.requirements_timeout.unwrap_or_default() + START_ALLOWANCE
    }
}

/// What a pod runs a test of, in its name and its [`LABEL_INVOKE_OF`]: the belt's id, or
/// [`DRAFT`] for a belt not saved yet. A draft has no id, and the replica it is rendered from
/// holds a stand-in that no pod may carry (it could be taken for a belt's); ids are numbers, so
/// `draft` is never one.
pub fn invoke_of(request: &InvokeRequest) -> String {
    match request.tenant {
        Tenant::Belt(_) => request.replica.belt_id.to_string(),
        Tenant::Draft => DRAFT.to_string(),
    }
}

/// The invoke pod's labels: a replica's, told apart from them (see [`INVOKE_NAME`]), and what
/// it runs a test of.
pub fn labels(request: &InvokeRequest, expires_at: u64) -> BTreeMap<String, String> {
    let mut labels = render::labels(&request.replica);
    labels.remove(LABEL_ID);
    labels.insert(LABEL_NAME.into(), INVOKE_NAME.into());
    labels.insert(LABEL_MANAGED_BY.into(), render::FIELD_MANAGER.into());
    labels.insert(LABEL_INVOKE_OF.into(), invoke_of(request));
    labels.insert(LABEL_EXPIRES.into(), expires_at.to_string());
    labels
}

/// The Secret's files: the runner and the request. Requirements only when there are some.
pub fn request_files(request: &InvokeRequest) -> anyhow::Result<BTreeMap<String, String>> {
    let mut files: BTreeMap<String, String> = FILES
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect();
    files.insert("callback.py".into(), request.callback.clone());
    let events = serde_json::json!({ "events": request.events });
    files.insert(
        "invoke-request.json".into(),
        serde_json::to_string(&events)?,
    );
    if has_requirements(&request.requirements) {
        files.insert("requirements.txt".into(), request.requirements.clone());
    }
    Ok(files)
}

/// Whether pip would install anything: comments and blank lines alone build nothing.
pub fn has_requirements(requirements: &str) -> bool {
    requirements.lines().any(|line| {
        !crate::domain::requirements::strip_comment(line)
            .trim()
            .is_empty()
    })
}

fn plain(name: &str, value: impl ToString) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        ..EnvVar::default()
    }
}

/// Where a replica would find the data plane and its identity: never given to an invoke pod, even
/// when the request was built with them (the use case builds it without Kafka's address).
const DATA_PLANE: [&str; 7] = [
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CA_LOCATION",
    "PROFILE_STORE_URL",
];

/// The replica's plain environment without the data plane (no identity is added either), then what the bootstrap and the runner read; those names are reserved, so
/// no `extraEnv` entry can be among them, and any that were are dropped.
fn env(request: &InvokeRequest, limits: &PodLimits) -> Vec<EnvVar> {
    let ours = [
        plain("HOME", WORK_DIR),
        plain("PYTHONDONTWRITEBYTECODE", 1),
        plain("PYTHONUNBUFFERED", 1),
        plain("BELT_INVOKE_REQUEST_DIR", REQUEST_DIR),
        plain("BELT_INVOKE_WORK_DIR", WORK_DIR),
        plain("BELT_INVOKE_TIMEOUT_SECONDS", limits.timeout.as_secs_f64()),
        plain(
            "BELT_INVOKE_REQUIREMENTS_TIMEOUT_SECONDS",
            limits
                .requirements_timeout
                .unwrap_or_default()
                .as_secs_f64(),
        ),
        plain("BELT_INVOKE_MEMORY_BYTES", limits.memory_bytes),
        plain("BELT_INVOKE_CPU_SECONDS", limits.cpu_seconds),
    ];
    let mut env: Vec<EnvVar> = (request.env.iter())
        .filter(|(name, _)| !ours.iter().any(|var| &var.name == name))
        .filter(|(name, _)| !DATA_PLANE.contains(&name.as_str()))
        .map(|(name, value)| plain(name, value))
        .collect();
    env.extend(ours);
    env
}

fn volumes(name: &str, limits: &PodLimits) -> Vec<Volume> {
    vec![
        Volume {
            name: REQUEST_VOLUME.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(name.to_string()),
                default_mode: Some(0o444),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: WORK_VOLUME.into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity(limits.disk_bytes.to_string())),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        },
    ]
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    }
}

/// The pod: the belt's image, a replica's restricted security and labels, no service-account
/// token and no service links (no cluster addresses in its env), never restarted, ended by the
/// kubelet at the deadline; memory bounded as BELT_INVOKE_MEMORY_MB says, CPU as the belt's.
pub fn pod(name: &str, request: &InvokeRequest, limits: &PodLimits, expires_at: u64) -> Pod {
    let spec = &request.replica;
    let memory_mi = u32::try_from(limits.memory_bytes.div_ceil(1024 * 1024)).unwrap_or(u32::MAX);
    let container = Container {
        name: CONTAINER.into(),
        image: Some(spec.image.clone()),
        command: Some(vec!["python3".into(), format!("{REQUEST_DIR}/{BOOTSTRAP}")]),
        working_dir: Some(WORK_DIR.into()),
        env: Some(env(request, limits)),
        resources: Some(ResourceRequirements {
            limits: Some(render::resources(spec.millicpu, memory_mi)),
            requests: Some(render::resources(spec.millicpu_requests, memory_mi)),
            ..ResourceRequirements::default()
        }),
        volume_mounts: Some(vec![
            mount(REQUEST_VOLUME, REQUEST_DIR, true),
            mount(WORK_VOLUME, WORK_DIR, false),
        ]),
        security_context: Some(render::container_security()),
        ..Container::default()
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels(request, expires_at)),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            restart_policy: Some("Never".into()),
            active_deadline_seconds: Some(
                limits.deadline().as_secs().try_into().unwrap_or(i64::MAX),
            ),
            security_context: Some(render::pod_security()),
            containers: vec![container],
            image_pull_secrets: spec
                .image_pull_secret
                .as_ref()
                .map(|name| vec![LocalObjectReference { name: name.clone() }]),
            volumes: Some(volumes(name, limits)),
            ..PodSpec::default()
        }),
        status: None,
    }
}

/// The request's Secret, owned by the pod (uid `pod_uid`): deleting the pod deletes it, also
/// when belt-api is gone before it could.
pub fn secret(pod: &Pod, pod_uid: &str, files: BTreeMap<String, String>) -> Secret {
    let name = pod.metadata.name.clone().unwrap_or_default();
    Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: pod.metadata.labels.clone(),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Pod".into(),
                name,
                uid: pod_uid.to_string(),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
        string_data: Some(files),
        type_: Some("Opaque".into()),
        ..Secret::default()
    }
}

/// The pod's security, checked as a replica's is, without the platform's own two volumes (the
/// policy speaks of what a belt asks for; these the platform sets, whatever the policy's types).
pub fn as_checked(pod: &Pod) -> PodSpec {
    let mut spec = pod.spec.clone().unwrap_or_default();
    spec.volumes = None;
    for container in &mut spec.containers {
        container.volume_mounts = None;
    }
    spec
}
