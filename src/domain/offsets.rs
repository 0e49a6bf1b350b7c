//! Where a belt's consumer group stands in its input topics, and the writes a caller may ask for
//! (docs/api.md#offsets). Offsets follow Kafka's convention: a committed offset is the next record
//! the group reads, the log-end offset is the one the next produced record gets.

use serde_json::Value;

use super::fields::refuse_nul_in_body;
use super::input::{parse_body, INPUT_TOPIC_PREFIX};
use super::{Belt, BeltSpec, DesiredState, Invalid};

/// Where a measured lag goes (the metrics): what a use case that measures one needs to know of
/// them, and no more.
pub trait LagGauge: Send + Sync {
    /// The lag of `belt` in `project`, as just measured.
    fn set_consumer_lag(&self, belt: super::BeltId, project: &str, lag: i64);
}

/// One partition of an input topic, as the broker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPosition {
    pub topic: String,
    pub partition: i32,
    /// `None`: the group has committed nothing here.
    pub committed: Option<i64>,
    /// The oldest record still kept.
    pub log_start: i64,
    pub log_end: i64,
}

impl PartitionPosition {
    /// Records the group has yet to read. Without a committed offset the group starts at the
    /// oldest record kept, and a committed offset below it (records expired) starts there too.
    pub fn lag(&self) -> i64 {
        let next = self.committed.unwrap_or(self.log_start).max(self.log_start);
        (self.log_end - next).max(0)
    }
}

pub fn total_lag(positions: &[PartitionPosition]) -> i64 {
    positions.iter().map(PartitionPosition::lag).sum()
}

/// The topics a belt reads: one per event type.
pub fn input_topics(spec: &BeltSpec) -> Vec<String> {
    spec.event_types
        .iter()
        .map(|t| format!("{INPUT_TOPIC_PREFIX}{t}"))
        .collect()
}

/// The topics a belt's consumer group reads: those of what runs while the belt runs, else those
/// of what the next START deploys.
pub fn read_topics(belt: &Belt) -> Vec<String> {
    match (&belt.wish.desired, &belt.wish.deployed) {
        (DesiredState::Running, Some(deployed)) => input_topics(&deployed.spec),
        _ => input_topics(&belt.spec),
    }
}

/// An offset to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// What `PUT …/offsets` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsWrite {
    /// Every partition to its oldest record kept: everything is read again.
    Earliest,
    /// Every partition to its end: what waits is skipped.
    Latest,
    /// The named partitions only; the others keep their offsets.
    Explicit(Vec<PartitionOffset>),
}

impl OffsetsWrite {
    /// The shape of the body: `{"reset": "earliest"|"latest"}` or `{"offsets": [{"topic",
    /// "partition", "offset"}]}`. Whether topics and partitions exist is `offsets_to_commit`'s.
    pub fn parse(body: &[u8]) -> Result<Self, Invalid> {
        let map = parse_body(body)?;
        refuse_nul_in_body(&map)?;
        match (map.get("reset"), map.get("offsets")) {
            (Some(_), Some(_)) => Err(Invalid::field(
                "reset",
                "cannot be given together with 'offsets'",
            )),
            (Some(reset), None) => parse_reset(reset),
            (None, Some(offsets)) => parse_offsets(offsets).map(OffsetsWrite::Explicit),
            (None, None) => Err(Invalid::field(
                "reset",
                "is required: 'earliest' or 'latest', unless 'offsets' names partitions",
            )),
        }
    }

    /// What to commit, checked against the belt's input topics and where they stand.
    pub fn offsets_to_commit(
        self,
        topics: &[String],
        positions: &[PartitionPosition],
    ) -> Result<Vec<PartitionOffset>, Invalid> {
        let at = |p: &PartitionPosition, offset| PartitionOffset {
            topic: p.topic.clone(),
            partition: p.partition,
            offset,
        };
        match self {
            OffsetsWrite::Earliest => Ok(positions.iter().map(|p| at(p, p.log_start)).collect()),
            OffsetsWrite::Latest => Ok(positions.iter().map(|p| at(p, p.log_end)).collect()),
            OffsetsWrite::Explicit(offsets) => {
                for (i, wanted) in offsets.iter().enumerate() {
                    check_explicit(i, wanted, topics, positions)?;
                }
                Ok(offsets)
            }
        }
    }
}

fn parse_reset(reset: &Value) -> Result<OffsetsWrite, Invalid> {
    match reset.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("earliest") => Ok(OffsetsWrite::Earliest),
        Some("latest") => Ok(OffsetsWrite::Latest),
        _ => Err(Invalid::field(
            "reset",
            format!("must be 'earliest' or 'latest' but is '{}'", shown(reset)),
        )),
    }
}

fn parse_offsets(offsets: &Value) -> Result<Vec<PartitionOffset>, Invalid> {
    let Some(items) = offsets.as_array() else {
        return Err(Invalid::field(
            "offsets",
            format!("must be a list but is '{}'", shown(offsets)),
        ));
    };
    if items.is_empty() {
        return Err(Invalid::field(
            "offsets",
            "must name at least one partition",
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_one(i, item))
        .collect()
}

fn parse_one(i: usize, item: &Value) -> Result<PartitionOffset, Invalid> {
    let Some(fields) = item.as_object() else {
        return Err(Invalid::field(
            &format!("offsets[{i}]"),
            "must be an object with 'topic', 'partition' and 'offset'",
        ));
    };
    let topic = match fields.get("topic") {
        Some(Value::String(topic)) if !topic.is_empty() => topic.clone(),
        other => return Err(required(i, "topic", "a topic name", other)),
    };
    let partition = match fields.get("partition").and_then(Value::as_i64) {
        Some(p) if (0..=i64::from(i32::MAX)).contains(&p) => p as i32,
        _ => {
            let other = fields.get("partition");
            return Err(required(i, "partition", "a natural number", other));
        }
    };
    let offset = match fields.get("offset").and_then(Value::as_i64) {
        Some(o) if o >= 0 => o,
        _ => {
            let other = fields.get("offset");
            return Err(required(i, "offset", "a natural number", other));
        }
    };
    Ok(PartitionOffset {
        topic,
        partition,
        offset,
    })
}

fn required(i: usize, name: &str, what: &str, got: Option<&Value>) -> Invalid {
    let field = format!("offsets[{i}].{name}");
    match got {
        None => Invalid::field(&field, format!("is required: {what}")),
        Some(value) => Invalid::field(&field, format!("must be {what} but is '{}'", shown(value))),
    }
}

fn check_explicit(
    i: usize,
    wanted: &PartitionOffset,
    topics: &[String],
    positions: &[PartitionPosition],
) -> Result<(), Invalid> {
    if !topics.contains(&wanted.topic) {
        return Err(Invalid::field(
            &format!("offsets[{i}].topic"),
            format!(
                "must be one of the belt's input topics ({}) but is '{}'",
                topics.join(", "),
                wanted.topic
            ),
        ));
    }
    let partitions = positions.iter().filter(|p| p.topic == wanted.topic);
    let Some(position) = partitions.clone().find(|p| p.partition == wanted.partition) else {
        return Err(Invalid::field(
            &format!("offsets[{i}].partition"),
            format!(
                "must be a partition of '{}' (it has {}) but is '{}'",
                wanted.topic,
                partitions.count(),
                wanted.partition
            ),
        ));
    };
    if wanted.offset > position.log_end {
        return Err(Invalid::field(
            &format!("offsets[{i}].offset"),
            format!(
                "must be at most the partition's log-end offset {} but is '{}'",
                position.log_end, wanted.offset
            ),
        ));
    }
    Ok(())
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "offsets_tests.rs"]
mod tests;
