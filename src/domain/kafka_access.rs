//! What a belt's replicas touch on Kafka, decided once: the topics they are told to read and write
//! (their environment), the topics belt-api creates on START, and the rights of the belt's own
//! Kafka principal where the runtime provisions one (docs/kafka-identity.md).

use super::belt::{Belt, BeltSpec};
use super::offsets::input_topics;
use super::topics::{dlq_topic, INPUT_TOPIC_PREFIX};

/// The topics and the consumer group of one belt running one spec. Each list is without repeats,
/// in the order the spec names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaAccess {
    /// `grnry_data_in_<eventType>` per event type: read.
    pub input_topics: Vec<String>,
    /// The belt's own group (`kafkaConsumerGroupName`), fixed at creation.
    pub consumer_group: String,
    /// The `outputTypes`' topics (`grnry_data_in_<name>`), else `kafkaDestinationTopic`: written.
    pub output_topics: Vec<String>,
    /// `grnry_belt_dlq_<id>`: written.
    pub dead_letter_topic: String,
}

impl KafkaAccess {
    /// `spec` is the spec being deployed (which may be older than `belt`'s).
    pub fn of(belt: &Belt, spec: &BeltSpec) -> KafkaAccess {
        let output_topics = match (&spec.output_types, &spec.kafka_destination_topic) {
            (Some(outputs), _) => outputs
                .iter()
                .map(|output| format!("{INPUT_TOPIC_PREFIX}{}", output.name))
                .collect(),
            (None, Some(destination)) => vec![destination.clone()],
            (None, None) => Vec::new(),
        };
        KafkaAccess {
            input_topics: without_repeats(input_topics(spec)),
            consumer_group: belt.kafka_consumer_group_name(),
            output_topics: without_repeats(output_topics),
            dead_letter_topic: dlq_topic(belt.id),
        }
    }

    /// The topics the replicas write: the outputs, then the dead-letter topic.
    pub fn written_topics(&self) -> Vec<String> {
        let mut topics = self.output_topics.clone();
        topics.push(self.dead_letter_topic.clone());
        without_repeats(topics)
    }

    /// Every topic the replicas name, read or written, once each.
    pub fn topics(&self) -> Vec<String> {
        let mut topics = self.input_topics.clone();
        topics.extend(self.written_topics());
        without_repeats(topics)
    }
}

fn without_repeats(mut items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items.retain(|item| seen.insert(item.clone()));
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::tests::belt;
    use crate::domain::{OutputType, Wish};

    #[test]
    fn outputs_replace_the_destination_and_repeats_go() {
        let belt = belt(1, Wish::default());
        let mut spec = belt.spec.clone();
        spec.event_types = vec!["orders".into(), "clicks".into(), "orders".into()];
        spec.output_types = Some(vec![OutputType {
            name: "scores".into(),
            version: "1".into(),
        }]);
        spec.kafka_destination_topic = Some("profile-update".into());
        let access = KafkaAccess::of(&belt, &spec);
        assert_eq!(
            access.input_topics,
            ["grnry_data_in_orders", "grnry_data_in_clicks"]
        );
        assert_eq!(access.output_topics, ["grnry_data_in_scores"]);
        let dead_letters = format!("grnry_belt_dlq_{}", belt.id);
        assert_eq!(
            access.written_topics(),
            ["grnry_data_in_scores", dead_letters.as_str()]
        );
        assert_eq!(access.consumer_group, belt.kafka_consumer_group_name());
    }
}
