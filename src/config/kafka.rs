//! Where the belts' Kafka is: a broker belt-api runs itself under the data dir (the embedded
//! default), an existing Kafka, or none at all (docs/api.md#the-data-plane).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgAction, Args, ValueEnum};

#[derive(Debug, Clone, Args)]
pub struct KafkaConfig {
    /// An existing Kafka's bootstrap servers (`host:port,…`). When set, nothing is embedded; the
    /// Kubernetes runtime needs it.
    #[arg(long, env = "BELT_KAFKA_BOOTSTRAP")]
    pub kafka_bootstrap: Option<String>,

    /// Without `BELT_KAFKA_BOOTSTRAP`: `embedded` runs a Kafka-protocol broker under the data dir;
    /// `none` runs no data plane (replicas get no bootstrap address and only idle).
    #[arg(long, env = "BELT_KAFKA_BROKER", value_enum, default_value_t = KafkaBroker::Embedded)]
    pub kafka_broker: KafkaBroker,

    /// Where the embedded broker listens; port 0 picks a free one.
    #[arg(long, env = "BELT_KAFKA_LISTEN", default_value = "127.0.0.1:9092")]
    pub kafka_listen: SocketAddr,

    /// The embedded broker's program; default: `nisshi` on PATH, then where `scripts/broker.sh`
    /// installs it.
    #[arg(long, env = "BELT_KAFKA_BROKER_COMMAND")]
    pub kafka_broker_command: Option<PathBuf>,

    /// Create the topics a belt reads and writes on START when they are missing.
    #[arg(long, env = "BELT_KAFKA_CREATE_TOPICS", default_value_t = true, action = ArgAction::Set)]
    pub kafka_create_topics: bool,

    /// How often the lag of every running belt is measured for `belt_consumer_lag`.
    #[arg(long, env = "BELT_KAFKA_LAG_INTERVAL_MS", default_value_t = 30_000)]
    pub kafka_lag_interval_ms: u64,

    /// Partitions of a topic that belt-api creates.
    #[arg(long, env = "BELT_KAFKA_TOPIC_PARTITIONS", default_value_t = 3)]
    pub kafka_topic_partitions: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KafkaBroker {
    /// A Kafka-protocol broker run by belt-api, persistent under the data dir.
    Embedded,
    /// No data plane.
    None,
}
