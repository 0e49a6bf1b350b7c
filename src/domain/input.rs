//! From a request body to a valid `BeltSpec`: tolerant about shapes, strict about values
//! (docs/api.md#tolerant-input-canonical-output, docs/api.md#validation). Each failure is a 400
//! that names the field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::belt::{BeltSpec, FetchProfile, OutputType};
use super::defaults::{BeltDefaults, DEFAULT_PROFILE_TYPE, DEFAULT_REPLICAS};
use super::fields::{describe, Fields};
use super::ids::BeltId;
use super::invalid::Invalid;
use super::kube_lists::{self, KubeList};
use super::python::{self, ProfileArgument};
use super::requirements;

/// Kafka's limit on topic names; an event type becomes the topic `grnry_data_in_<type>`.
const MAX_TOPIC_LEN: usize = 249;
pub const INPUT_TOPIC_PREFIX: &str = "grnry_data_in_";
const MAX_MILLICPU: u64 = 256_000;
const MAX_MEMORY_MI: u64 = 4 * 1024 * 1024;

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

    let id = match f.raw("id") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(value) => Some(BeltId::parse(&describe(value), "id")?),
    };

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

    let event_types = parse_event_types(&f)?;
    let output_types = parse_output_types(&f)?;
    let kafka_destination_topic = parse_destination(&f, defaults, output_types.is_some())?;
    let partition_offsets = parse_partition_offsets(&f, &event_types)?;

    let replicas = f
        .number("replicas", 1, 50)?
        .map_or(DEFAULT_REPLICAS, |n| n as u32);
    let millicpu = f
        .number("millicpu", 1, MAX_MILLICPU)?
        .map_or(defaults.millicpu, |n| n as u32);
    let memory = f
        .number("memory", 1, MAX_MEMORY_MI)?
        .map_or(defaults.memory, |n| n as u32);
    // Without explicit requests a belt asks for the server default, capped at its own limit, as
    // Kubernetes caps requests at limits.
    let millicpu_requests = request_within_limit(
        &f,
        ("millicpuRequests", "millicpu"),
        MAX_MILLICPU,
        defaults.millicpu_requests,
        millicpu,
    )?;
    let memory_requests = request_within_limit(
        &f,
        ("memoryRequests", "memory"),
        MAX_MEMORY_MI,
        defaults.memory_requests,
        memory,
    )?;

    let fetch_profile = parse_fetch_profile(&f)?;
    let secret = f.text("secret")?;
    let secret_username = f.text("secretUsername")?;
    let secret_password = f.text("secretPassword")?;
    if fetch_profile.needs_credentials() {
        for (field, value) in [
            ("secret", &secret),
            ("secretUsername", &secret_username),
            ("secretPassword", &secret_password),
        ] {
            if value.trim().is_empty() {
                return Err(bad(
                    field,
                    format_args!(
                        "must not be empty when fetchProfile is '{}'",
                        fetch_profile.as_str()
                    ),
                ));
            }
        }
    }

    let extractor_fn = f.string_or("extractorFn", &defaults.extractor_fn)?;
    let profile_argument = if fetch_profile.hands_profile_to_execute() {
        ProfileArgument::Required
    } else {
        ProfileArgument::Optional
    };
    python::check_extractor_fn(&extractor_fn, profile_argument)
        .map_err(|message| Invalid::field_message("extractorFn", message))?;

    let requirements_py = f.text("requirementsPy")?;
    requirements::check_requirements(&requirements_py)
        .map_err(|message| Invalid::field_message("requirementsPy", message))?;

    let extractor_version = f.string_or("extractorVersion", &defaults.extractor_version)?;
    check_image_tag(&extractor_version)?;
    let image = f.string_or("image", &defaults.image)?;
    check_image_name(&image)?;
    let image_pull_secret = f.string_or("imagePullSecret", &defaults.image_pull_secret)?;
    check_dns_subdomain("imagePullSecret", &image_pull_secret)?;

    let list = |kind: KubeList, default: &Option<Vec<Value>>| -> Result<_, Invalid> {
        match f.raw(kind.field()) {
            None => Ok(default.clone()),
            Some(Value::String(s)) if s.is_empty() => Ok(default.clone()),
            Some(value) => {
                kube_lists::decode(kind, value).map_err(|reason| bad(kind.field(), reason))
            }
        }
    };

    let spec = BeltSpec {
        name,
        description: f.text("description")?,
        labels: f.string_list("labels")?,
        affected_paths: f.string_list("affectedPaths")?,
        replicas,
        millicpu,
        millicpu_requests,
        memory,
        memory_requests,
        assumed_role: f.text("assumedRole")?,
        requirements_py,
        image,
        image_pull_secret,
        extractor_version,
        extractor_fn,
        event_types,
        output_types,
        partition_offsets,
        kafka_destination_topic,
        belt_type: f.text("beltType")?,
        runtime: f.text("runtime")?,
        parameter: f.text("parameter")?,
        debug: f.boolean("debug")?.unwrap_or(false),
        fetch_profile,
        profile_type: f.string_or("profileType", DEFAULT_PROFILE_TYPE)?,
        secret,
        secret_username,
        secret_password,
        volumes: list(KubeList::Volumes, &defaults.volumes)?,
        volume_mounts: list(KubeList::VolumeMounts, &defaults.volume_mounts)?,
        extra_env: list(KubeList::ExtraEnv, &defaults.extra_env)?,
    };
    defaults.policy.check_spec(&spec)?;
    Ok(BeltInput { id, spec })
}

fn is_topic_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The most event types one belt may consume (docs/upstream-trust.md): each is a registry call on
/// every create and replace, and a topic every replica subscribes to.
pub const MAX_EVENT_TYPES: usize = 100;

/// The longest event type name: the topic `grnry_data_in_<name>` must fit Kafka's 249 characters.
pub const MAX_EVENT_TYPE_LEN: usize = MAX_TOPIC_LEN - INPUT_TOPIC_PREFIX.len();

/// Why `name` cannot be an event type name, or `None` when it can. A name becomes the Kafka topic
/// `grnry_data_in_<name>` and a path segment of a registry URL, so it must be a topic name and
/// must not be `.` or `..`, which a URL would read as "this" or "the parent" path.
pub fn event_type_name_problem(name: &str) -> Option<String> {
    if name.len() > MAX_EVENT_TYPE_LEN {
        return Some(format!(
            "must hold event type names of at most {MAX_EVENT_TYPE_LEN} characters but one has {}",
            name.len()
        ));
    }
    if !is_topic_safe(name) {
        return Some(format!(
            "must hold event type names of letters, digits, '.', '_' and '-' but holds '{name}'"
        ));
    }
    if name == "." || name == ".." {
        return Some(format!("must hold event type names but holds '{name}'"));
    }
    None
}

fn parse_event_types(f: &Fields) -> Result<Vec<String>, Invalid> {
    let event_types = f.string_list("eventTypes")?;
    if event_types.is_empty() {
        return Err(bad(
            "eventTypes",
            "must be a non-empty list of event type names",
        ));
    }
    if event_types.len() > MAX_EVENT_TYPES {
        return Err(bad(
            "eventTypes",
            format_args!(
                "must list at most {MAX_EVENT_TYPES} event types but lists {}",
                event_types.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for event_type in &event_types {
        if let Some(problem) = event_type_name_problem(event_type) {
            return Err(bad("eventTypes", problem));
        }
        if !seen.insert(event_type) {
            return Err(bad(
                "eventTypes",
                format_args!("lists '{event_type}' twice"),
            ));
        }
    }
    Ok(event_types)
}

fn parse_output_types(f: &Fields) -> Result<Option<Vec<OutputType>>, Invalid> {
    let items = match f.raw("outputTypes") {
        None => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::Array(items)) if items.is_empty() => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(bad(
                "outputTypes",
                format_args!(
                    "must be a list of objects with 'name' and 'version' but is {}",
                    describe(other)
                ),
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let wrong = || {
                bad(
                    "outputTypes",
                    format_args!("item {index} must be an object with a 'name' of letters, digits, '.', '_' or '-' and a 'version'"),
                )
            };
            let object = item.as_object().ok_or_else(wrong)?;
            let name = object.get("name").and_then(Value::as_str).ok_or_else(wrong)?;
            let version = match object.get("version") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(wrong()),
            };
            if !is_topic_safe(name) {
                return Err(wrong());
            }
            Ok(OutputType {
                name: name.to_string(),
                version,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn parse_destination(
    f: &Fields,
    defaults: &BeltDefaults,
    has_output_types: bool,
) -> Result<Option<String>, Invalid> {
    let topic = f.string_or("kafkaDestinationTopic", &defaults.kafka_destination_topic)?;
    if has_output_types {
        // A document read back from GET of an older belt carries the default topic: that is not a
        // choice the user made, so only a different topic conflicts.
        if topic != defaults.kafka_destination_topic {
            return Err(bad(
                "kafkaDestinationTopic",
                "must not be set together with 'outputTypes'",
            ));
        }
        return Ok(None);
    }
    if !is_topic_safe(&topic) || topic.len() > MAX_TOPIC_LEN {
        return Err(bad(
            "kafkaDestinationTopic",
            format_args!(
                "must be a Kafka topic name (letters, digits, '.', '_', '-') but is '{topic}'"
            ),
        ));
    }
    Ok(Some(topic))
}

fn parse_partition_offsets(
    f: &Fields,
    event_types: &[String],
) -> Result<BTreeMap<String, Vec<u64>>, Invalid> {
    const FIELD: &str = "partitionOffsets";
    let parsed_from_string;
    let object = match f.raw(FIELD) {
        None => return Ok(BTreeMap::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(BTreeMap::new()),
        Some(Value::String(s)) => {
            parsed_from_string = serde_json::from_str::<Value>(s)
                .map_err(|e| bad(FIELD, format_args!("is not valid JSON: {e}")))?;
            match &parsed_from_string {
                Value::Object(map) => map,
                _ => return Err(bad(FIELD, "must be an object of topic to offsets")),
            }
        }
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(bad(
                FIELD,
                format_args!(
                    "must be an object of topic to offsets but is {}",
                    describe(other)
                ),
            ))
        }
    };
    let mut offsets = BTreeMap::new();
    for (topic, value) in object {
        let own = topic
            .strip_prefix(INPUT_TOPIC_PREFIX)
            .is_some_and(|event_type| event_types.iter().any(|e| e == event_type));
        if !own {
            return Err(bad(
                FIELD,
                format_args!(
                    "has key '{topic}' but keys must be grnry_data_in_<eventType> of the belt's own event types"
                ),
            ));
        }
        let wrong = || {
            bad(
                FIELD,
                format_args!("key '{topic}' must hold a list of non-negative integers"),
            )
        };
        let list = value.as_array().ok_or_else(wrong)?;
        let numbers = list
            .iter()
            .map(|item| match item {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            })
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(wrong)?;
        offsets.insert(topic.clone(), numbers);
    }
    Ok(offsets)
}

fn request_within_limit(
    f: &Fields,
    (field, limit_field): (&str, &str),
    max: u64,
    default: u32,
    limit: u32,
) -> Result<u32, Invalid> {
    match f.number(field, 1, max)? {
        None => Ok(default.min(limit)),
        Some(n) if n > u64::from(limit) => Err(bad(
            field,
            format_args!("must not exceed '{limit_field}' ({limit}) but is '{n}'"),
        )),
        Some(n) => Ok(n as u32),
    }
}

fn parse_fetch_profile(f: &Fields) -> Result<FetchProfile, Invalid> {
    match f.raw("fetchProfile") {
        None => Ok(FetchProfile::False),
        Some(Value::Bool(true)) => Ok(FetchProfile::True),
        Some(Value::Bool(false)) => Ok(FetchProfile::False),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(FetchProfile::False),
        Some(value) => value.as_str().and_then(FetchProfile::parse).ok_or_else(|| {
            bad(
                "fetchProfile",
                format_args!(
                    "must be one of FALSE, TRUE, LAZY, PREFETCH, PREFETCH_WITH_HISTORY but is '{}'",
                    describe(value)
                ),
            )
        }),
    }
}

/// Docker's tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_image_tag(tag: &str) -> Result<(), Invalid> {
    if tag.trim().is_empty() {
        return Err(bad("extractorVersion", "must not be empty"));
    }
    let bytes = tag.as_bytes();
    let valid = bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(bad(
            "extractorVersion",
            format_args!(
                "must be an image tag (letters, digits, '_', '.', '-'; at most 128) but is '{tag}'"
            ),
        ))
    }
}

/// An image reference without tag: registry host (with port), path components.
fn check_image_name(image: &str) -> Result<(), Invalid> {
    if image.trim().is_empty() {
        return Err(bad("image", "must not be empty"));
    }
    let valid = image.len() <= 255
        && !image.starts_with(['/', ':', '.', '-'])
        && !image.ends_with(['/', ':', '.', '-'])
        && image.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'.' | b'_' | b'-' | b'/' | b':')
        });
    if valid {
        Ok(())
    } else {
        Err(bad(
            "image",
            format_args!("must be an image name without tag (lower-case letters, digits, '.', '_', '-', '/', ':') but is '{image}'"),
        ))
    }
}

/// A Kubernetes object name (RFC 1123 subdomain); empty means none.
fn check_dns_subdomain(field: &str, name: &str) -> Result<(), Invalid> {
    if name.is_empty() {
        return Ok(());
    }
    if super::policy::is_object_name(name) {
        Ok(())
    } else {
        Err(bad(
            field,
            format_args!("must be a Kubernetes object name (lower-case letters, digits, '-', '.') but is '{name}'"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::defaults::for_tests;
    use serde_json::json;

    fn parse(body: Value) -> Result<BeltSpec, String> {
        let map = body.as_object().unwrap().clone();
        parse_spec(&map, &for_tests())
            .map(|input| input.spec)
            .map_err(|e| e.to_string())
    }

    fn minimal() -> Value {
        json!({"name": "b", "eventTypes": ["test-a"]})
    }

    fn with(field: &str, value: Value) -> Value {
        let mut body = minimal();
        body[field] = value;
        body
    }

    #[test]
    fn a_minimal_body_gets_every_default() {
        let spec = parse(minimal()).unwrap();
        assert_eq!(spec.replicas, 1);
        assert_eq!(spec.millicpu, 200);
        assert_eq!(spec.memory_requests, 512);
        assert_eq!(spec.extractor_version, "latest");
        assert_eq!(
            spec.kafka_destination_topic.as_deref(),
            Some("profile-update")
        );
        assert_eq!(spec.fetch_profile, FetchProfile::False);
        assert_eq!(spec.profile_type, "_d");
        assert_eq!(spec.image, "grnry-belt");
        assert_eq!(spec.volumes, None);
    }

    #[test]
    fn empty_strings_mean_the_default() {
        let spec = parse(with("extractorVersion", json!(""))).unwrap();
        assert_eq!(spec.extractor_version, "latest");
        let spec = parse(with("millicpu", json!(""))).unwrap();
        assert_eq!(spec.millicpu, 200);
    }

    #[test]
    fn tolerant_scalars_become_canonical() {
        let mut body = minimal();
        body["replicas"] = json!("3");
        body["debug"] = json!("true");
        body["fetchProfile"] = json!("lazy");
        body["secret"] = json!("s");
        body["secretUsername"] = json!("u");
        body["secretPassword"] = json!("p");
        let spec = parse(body).unwrap();
        assert_eq!(spec.replicas, 3);
        assert!(spec.debug);
        assert_eq!(spec.fetch_profile, FetchProfile::Lazy);
    }

    #[test]
    fn requests_default_to_at_most_the_limit() {
        let spec = parse(with("millicpu", json!(100))).unwrap();
        assert_eq!(spec.millicpu_requests, 100);
        let mut body = with("millicpu", json!(100));
        body["millicpuRequests"] = json!(150);
        assert_eq!(
            parse(body).unwrap_err(),
            "Parameter 'millicpuRequests' must not exceed 'millicpu' (100) but is '150'."
        );
    }

    #[test]
    fn each_invalid_field_is_named() {
        let cases = [
            (json!({"eventTypes": ["a"]}), "'name'"),
            (json!({"name": "b"}), "'eventTypes'"),
            (json!({"name": "b", "eventTypes": []}), "'eventTypes'"),
            (with("replicas", json!(0)), "'replicas'"),
            (with("replicas", json!(51)), "'replicas'"),
            (with("fetchProfile", json!("SOMETIMES")), "'fetchProfile'"),
            (with("fetchProfile", json!(true)), "'secret'"),
            (with("extractorVersion", json!("  ")), "'extractorVersion'"),
            (with("image", json!("Bad Image")), "'image'"),
            (with("volumes", json!("{\"volumes\": 5}")), "'volumes'"),
            (with("extraEnv", json!([{"value": "x"}])), "'extraEnv'"),
            (
                with("partitionOffsets", json!({"grnry_data_in_other": [0]})),
                "'partitionOffsets'",
            ),
            (
                with("partitionOffsets", json!({"grnry_data_in_test-a": [-1]})),
                "'partitionOffsets'",
            ),
            (with("name", json!("x".repeat(256))), "'name'"),
            (with("labels", json!("a")), "'labels'"),
            (with("debug", json!("maybe")), "'debug'"),
            (with("id", json!("abc")), "'id'"),
            (
                with("extractorFn", json!("def execute(:\n")),
                "'extractorFn'",
            ),
            (with("requirementsPy", json!("==1.0")), "'requirementsPy'"),
        ];
        for (body, field) in cases {
            let err = parse(body.clone()).unwrap_err();
            assert!(err.contains(field), "{body} gave {err}");
        }
    }

    #[test]
    fn event_types_are_names_and_bounded() {
        let longest = "e".repeat(MAX_EVENT_TYPE_LEN);
        assert_eq!(INPUT_TOPIC_PREFIX.len() + longest.len(), 249);
        let many: Vec<String> = (0..MAX_EVENT_TYPES).map(|i| format!("t{i}")).collect();
        for good in [
            json!([longest.clone()]),
            json!(["a.b", "a..b", "_-."]),
            json!(many),
        ] {
            assert!(parse(with("eventTypes", good.clone())).is_ok(), "{good}");
        }
        let too_many: Vec<String> = (0..=MAX_EVENT_TYPES).map(|i| format!("t{i}")).collect();
        for bad in [
            json!(["."]),
            json!([".."]),
            json!(["ok", ".."]),
            json!([format!("{longest}e")]),
            json!(["a/b"]),
            json!(["a%2e"]),
            json!(["a b"]),
            json!(["é"]),
            json!([""]),
            json!(["a", "a"]),
            json!(too_many),
        ] {
            let err = parse(with("eventTypes", bad.clone())).unwrap_err();
            assert!(err.contains("'eventTypes'"), "{bad} gave {err}");
        }
    }

    #[test]
    fn output_types_exclude_an_explicit_destination() {
        let mut body = with("outputTypes", json!([{"name": "out", "version": 1}]));
        let spec = parse(body.clone()).unwrap();
        assert_eq!(spec.kafka_destination_topic, None);
        assert_eq!(spec.output_types.unwrap()[0].version, "1");
        body["kafkaDestinationTopic"] = json!("elsewhere");
        assert!(parse(body.clone())
            .unwrap_err()
            .contains("'kafkaDestinationTopic'"));
        body["kafkaDestinationTopic"] = json!("profile-update");
        assert!(parse(body).is_ok());
    }

    #[test]
    fn body_id_is_read() {
        let map = with("id", json!("42")).as_object().unwrap().clone();
        assert_eq!(
            parse_spec(&map, &for_tests()).unwrap().id.unwrap().get(),
            42
        );
    }

    #[test]
    fn malformed_bodies() {
        assert!(parse_body(b"{")
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
        assert!(parse_body(b"[]")
            .unwrap_err()
            .to_string()
            .contains("a list"));
        assert!(parse_body(b"").unwrap_err().to_string().contains("missing"));
    }
}
