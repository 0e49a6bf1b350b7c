//! From a request body to a valid `BeltSpec`: tolerant about shapes, strict about values
//! (docs/api.md#tolerant-input-canonical-output, docs/api.md#validation). Each failure is a 400
//! that names the field.

mod groups;
mod routing;

use serde_json::{Map, Value};

use super::belt::BeltSpec;
use super::defaults::{BeltDefaults, DEFAULT_PROFILE_TYPE};
use super::fields::{describe, Fields};
use super::ids::BeltId;
use super::invalid::Invalid;
use super::kube_lists::{self, KubeList};
use super::reserved::check_extra_env;
use groups::{Code, Credentials, Resources};
use routing::Routing;
pub use routing::{
    event_type_name_problem, INPUT_TOPIC_PREFIX, MAX_EVENT_TYPES, MAX_EVENT_TYPE_LEN,
};

/// A parsed create/update body.
#[derive(Debug, Clone)]
pub struct BeltInput {
    /// An `id` in the body (create uses it as the id).
    pub id: Option<BeltId>,
    pub spec: BeltSpec,
}

fn bad(field: &str, reason: impl std::fmt::Display) -> Invalid {
    Invalid::field(field, reason)
}

/// The body must be a JSON object; serde's message says where it broke.
pub fn parse_body(bytes: &[u8]) -> Result<Map<String, Value>, Invalid> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Invalid::body(
            "Request body is missing: a JSON object is required.",
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Invalid::body(format!(
            "Request body must be a JSON object but is {}.",
            match other {
                Value::Array(_) => "a list",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        ))),
        Err(err) => Err(Invalid::body(format!(
            "Request body is not valid JSON: {err}."
        ))),
    }
}

pub fn parse_spec(map: &Map<String, Value>, defaults: &BeltDefaults) -> Result<BeltInput, Invalid> {
    let f = Fields::new(map);
    // Fields are read in the order of the document; the first bad one is the one reported.
    let id = parse_id(&f)?;
    let name = parse_name(&f)?;
    let routing = Routing::parse(&f, defaults)?;
    let resources = Resources::parse(&f, defaults)?;
    let credentials = Credentials::parse(&f)?;
    let code = Code::parse(&f, defaults, credentials.fetch_profile)?;
    let spec = BeltSpec {
        name,
        description: f.text("description")?,
        labels: f.string_list("labels")?,
        affected_paths: f.string_list("affectedPaths")?,
        replicas: resources.replicas,
        millicpu: resources.millicpu,
        millicpu_requests: resources.millicpu_requests,
        memory: resources.memory,
        memory_requests: resources.memory_requests,
        assumed_role: f.text("assumedRole")?,
        requirements_py: code.requirements_py,
        image: code.image,
        image_pull_secret: code.image_pull_secret,
        extractor_version: code.extractor_version,
        extractor_fn: code.extractor_fn,
        event_types: routing.event_types,
        output_types: routing.output_types,
        partition_offsets: routing.partition_offsets,
        kafka_destination_topic: routing.kafka_destination_topic,
        belt_type: f.text("beltType")?,
        runtime: f.text("runtime")?,
        parameter: f.text("parameter")?,
        debug: f.boolean("debug")?.unwrap_or(false),
        fetch_profile: credentials.fetch_profile,
        profile_type: f.string_or("profileType", DEFAULT_PROFILE_TYPE)?,
        secret: credentials.secret,
        secret_username: credentials.secret_username,
        secret_password: credentials.secret_password,
        volumes: kube_list(&f, KubeList::Volumes, &defaults.volumes)?,
        volume_mounts: kube_list(&f, KubeList::VolumeMounts, &defaults.volume_mounts)?,
        extra_env: kube_list(&f, KubeList::ExtraEnv, &defaults.extra_env)?,
    };
    defaults.policy.check_spec(&spec)?;
    check_extra_env(spec.extra_env.as_deref().unwrap_or_default())?;
    Ok(BeltInput { id, spec })
}

fn parse_id(f: &Fields) -> Result<Option<BeltId>, Invalid> {
    match f.raw("id") {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(value) => BeltId::parse(&describe(value), "id").map(Some),
    }
}

fn parse_name(f: &Fields) -> Result<String, Invalid> {
    let name = f.text("name")?;
    if name.trim().is_empty() {
        return Err(bad("name", "must not be empty"));
    }
    let name_len = name.chars().count();
    if name_len > 255 {
        return Err(bad(
            "name",
            format_args!("must be at most 255 characters long but has {name_len}"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("name", "must not contain control characters"));
    }
    Ok(name)
}

/// `volumes`, `volumeMounts`, `extraEnv`: missing or `""` is the server default.
fn kube_list(
    f: &Fields,
    kind: KubeList,
    default: &Option<Vec<Value>>,
) -> Result<Option<Vec<Value>>, Invalid> {
    match f.raw(kind.field()) {
        None => Ok(default.clone()),
        Some(Value::String(s)) if s.is_empty() => Ok(default.clone()),
        Some(value) => kube_lists::decode(kind, value).map_err(|reason| bad(kind.field(), reason)),
    }
}

#[cfg(test)]
mod tests;
