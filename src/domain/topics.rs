//! The topics a belt writes besides its output types (docs/api.md#reserved-names): its own
//! dead-letter topic, and a `kafkaDestinationTopic` the operator allows
//! (`BELT_KAFKA_DESTINATION_TOPICS`). Another belt's dead-letter topic and the input topics of
//! event types are never a destination, whatever the configuration says: writing there would
//! poison another belt's input or bury its failures.

use std::collections::BTreeSet;

use super::belt::BeltSpec;
use super::ids::BeltId;

/// The input topic of event type `t` is `grnry_data_in_<t>`.
pub const INPUT_TOPIC_PREFIX: &str = "grnry_data_in_";
pub const DLQ_TOPIC_PREFIX: &str = "grnry_belt_dlq_";

/// `BELT_KAFKA_DESTINATION_TOPICS`' default: the seed's destination.
pub const DEFAULT_DESTINATION_TOPICS: &str = "profile-update";

/// The setting that lists the allowed destinations, as its errors name it.
const SETTING: &str = "BELT_KAFKA_DESTINATION_TOPICS";

/// A belt's own dead-letter topic.
pub fn dlq_topic(id: BeltId) -> String {
    format!("{DLQ_TOPIC_PREFIX}{id}")
}

/// Topic families no belt may name as its destination.
const NEVER: [(&str, &str); 2] = [
    (DLQ_TOPIC_PREFIX, "a belt's dead-letter topic"),
    (INPUT_TOPIC_PREFIX, "an event type's input topic"),
];

/// The destinations an operator allows: exact topic names, and prefixes written `name*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationTopics {
    exact: BTreeSet<String>,
    prefixes: Vec<String>,
}

impl Default for DestinationTopics {
    fn default() -> Self {
        DestinationTopics::new(&[DEFAULT_DESTINATION_TOPICS.to_string()])
            .expect("the default destination is allowed")
    }
}

impl DestinationTopics {
    /// From the setting's entries; an entry that could admit a dead-letter or input topic (or
    /// every topic, `*`) is refused, naming the setting.
    pub fn new(entries: &[String]) -> Result<Self, String> {
        let mut allowed = DestinationTopics {
            exact: BTreeSet::new(),
            prefixes: Vec::new(),
        };
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            match entry.strip_suffix('*') {
                Some(prefix) => {
                    if let Some((_, what)) = NEVER
                        .iter()
                        .find(|(never, _)| never.starts_with(prefix) || prefix.starts_with(never))
                    {
                        return Err(format!(
                            "{SETTING}: '{entry}' would allow {what} as a destination"
                        ));
                    }
                    allowed.prefixes.push(prefix.to_string());
                }
                None => {
                    if let Some(what) = never_a_destination(entry) {
                        return Err(format!("{SETTING}: '{entry}' is {what}"));
                    }
                    allowed.exact.insert(entry.to_string());
                }
            }
        }
        if allowed.exact.is_empty() && allowed.prefixes.is_empty() {
            return Err(format!("{SETTING} must name at least one topic"));
        }
        Ok(allowed)
    }

    /// Why a belt may not write `topic` as its destination, or `Ok`.
    pub fn check(&self, topic: &str) -> Result<(), String> {
        if let Some(what) = never_a_destination(topic) {
            return Err(format!(
                "is '{topic}', which is {what} and never a destination"
            ));
        }
        let allowed = self.exact.contains(topic)
            || self
                .prefixes
                .iter()
                .any(|prefix| topic.starts_with(prefix.as_str()));
        if allowed {
            return Ok(());
        }
        let listed: Vec<String> = self
            .exact
            .iter()
            .cloned()
            .chain(self.prefixes.iter().map(|p| format!("{p}*")))
            .collect();
        Err(format!(
            "is '{topic}', which the operator does not allow as a destination (allowed: {})",
            listed.join(", ")
        ))
    }
}

/// Why the replicas of `spec` would write where no belt may, whatever its document once passed.
/// Asked again before every deploy, so that a belt stored before the rule, or written to the
/// store by hand, never writes into another belt's dead-letter or input topic either.
pub fn foreign_destination(spec: &BeltSpec) -> Option<String> {
    let topic = match (&spec.output_types, &spec.kafka_destination_topic) {
        (None, Some(topic)) => topic,
        _ => return None,
    };
    never_a_destination(topic).map(|what| {
        format!("its kafkaDestinationTopic '{topic}' is {what}, which no belt may write")
    })
}

/// What `topic` is when no belt may ever name it as its destination.
fn never_a_destination(topic: &str) -> Option<&'static str> {
    NEVER
        .iter()
        .find(|(prefix, _)| topic.starts_with(prefix))
        .map(|(_, what)| *what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> Result<DestinationTopics, String> {
        DestinationTopics::new(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn by_default_only_profile_update_is_a_destination() {
        let topics = DestinationTopics::default();
        assert!(topics.check("profile-update").is_ok());
        for other in [
            "profile-updates",
            "other",
            "grnry_belt_dlq_2",
            "grnry_data_in_t",
        ] {
            assert!(topics.check(other).is_err(), "{other}");
        }
    }

    #[test]
    fn configured_names_and_prefixes_are_allowed_and_nothing_else() {
        let topics = allowed(&["profile-update", " team-a.out ", "dp-updates-*", ""]).unwrap();
        for ok in [
            "profile-update",
            "team-a.out",
            "dp-updates-",
            "dp-updates-101",
        ] {
            assert!(topics.check(ok).is_ok(), "{ok}");
        }
        let refused = topics.check("team-b.out").unwrap_err();
        assert_eq!(
            refused,
            "is 'team-b.out', which the operator does not allow as a destination (allowed: profile-update, team-a.out, dp-updates-*)"
        );
    }

    #[test]
    fn dead_letter_and_input_topics_are_never_destinations_whatever_the_configuration() {
        for entry in [
            "grnry_belt_dlq_7",
            "grnry_data_in_orders",
            "grnry_belt_dlq_*",
            "grnry_*",
            "grnry_data_in_orders*",
            "*",
            "g*",
        ] {
            let refused = allowed(&["profile-update", entry]).unwrap_err();
            assert!(
                refused.starts_with("BELT_KAFKA_DESTINATION_TOPICS: "),
                "{refused}"
            );
        }
        assert!(allowed(&[]).is_err());
        assert!(allowed(&[" ", ""]).is_err());
        // Prefixes that cannot reach them are fine.
        assert!(allowed(&["grnry-out-*", "grnry_out*"]).is_ok());
        let refused = DestinationTopics::default()
            .check("grnry_belt_dlq_2")
            .unwrap_err();
        assert!(refused.contains("dead-letter topic"), "{refused}");
    }
}
