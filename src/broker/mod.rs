//! The data plane's Kafka-protocol broker, as belt-api talks to it (docs/architecture.md).

mod offsets;

pub use offsets::{GroupOffsets, KafkaGroupOffsets, OffsetsError};
