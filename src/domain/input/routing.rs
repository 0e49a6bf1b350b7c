//! Where a belt reads from and writes to: its event types (each the input topic
//! `grnry_data_in_<type>`), its output types or destination topic, and its start offsets.

use std::collections::BTreeMap;

use serde_json::Value;

use super::super::belt::OutputType;
use super::super::defaults::BeltDefaults;
use super::super::fields::{describe, Fields};
use super::super::invalid::Invalid;
use super::bad;

/// Kafka's limit on topic names; an event type becomes the topic `grnry_data_in_<type>`.
const MAX_TOPIC_LEN: usize = 249;
pub use super::super::topics::INPUT_TOPIC_PREFIX;

/// The routing fields of a body, parsed in this order (the first bad one is the one reported).
pub(super) struct Routing {
    pub event_types: Vec<String>,
    pub output_types: Option<Vec<OutputType>>,
    pub kafka_destination_topic: Option<String>,
    pub partition_offsets: BTreeMap<String, Vec<u64>>,
}

impl Routing {
    pub fn parse(f: &Fields, defaults: &BeltDefaults) -> Result<Self, Invalid> {
        let event_types = parse_event_types(f)?;
        let output_types = parse_output_types(f)?;
        let kafka_destination_topic = parse_destination(f, defaults, output_types.is_some())?;
        let partition_offsets = parse_partition_offsets(f, &event_types)?;
        Ok(Routing {
            event_types,
            output_types,
            kafka_destination_topic,
            partition_offsets,
        })
    }
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
        Some(Value::Array(items)) if items.len() > MAX_EVENT_TYPES => {
            return Err(bad(
                "outputTypes",
                format_args!(
                    "must list at most {MAX_EVENT_TYPES} output types but lists {}",
                    items.len()
                ),
            ))
        }
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
            // The name is a registry path segment and the topic `grnry_data_in_<name>`.
            if let Some(problem) = event_type_name_problem(name) {
                return Err(bad("outputTypes", format_args!("item {index} {problem}")));
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
    defaults
        .destination_topics
        .check(&topic)
        .map_err(|reason| bad("kafkaDestinationTopic", reason))?;
    Ok(Some(topic))
}

const OFFSETS: &str = "partitionOffsets";

fn parse_partition_offsets(
    f: &Fields,
    event_types: &[String],
) -> Result<BTreeMap<String, Vec<u64>>, Invalid> {
    let object = match f.raw(OFFSETS) {
        None => return Ok(BTreeMap::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(BTreeMap::new()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s)
            .map_err(|e| bad(OFFSETS, format_args!("is not valid JSON: {e}")))?
        {
            Value::Object(map) => map,
            _ => return Err(bad(OFFSETS, "must be an object of topic to offsets")),
        },
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(bad(
                OFFSETS,
                format_args!(
                    "must be an object of topic to offsets but is {}",
                    describe(other)
                ),
            ))
        }
    };
    object
        .iter()
        .map(|(topic, value)| Ok((topic.clone(), topic_offsets(topic, value, event_types)?)))
        .collect()
}

/// One topic's start offsets: the topic must be one of the belt's own input topics.
fn topic_offsets(topic: &str, value: &Value, event_types: &[String]) -> Result<Vec<u64>, Invalid> {
    let own = topic
        .strip_prefix(INPUT_TOPIC_PREFIX)
        .is_some_and(|event_type| event_types.iter().any(|e| e == event_type));
    if !own {
        return Err(bad(
            OFFSETS,
            format_args!(
                "has key '{topic}' but keys must be grnry_data_in_<eventType> of the belt's own event types"
            ),
        ));
    }
    let wrong = || {
        bad(
            OFFSETS,
            format_args!("key '{topic}' must hold a list of non-negative integers"),
        )
    };
    let list = value.as_array().ok_or_else(wrong)?;
    list.iter()
        .map(|item| match item {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        })
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(wrong)
}
