//! The data plane's broker (docs/architecture.md#the-broker): the embedded Kafka-protocol broker
//! that belt-api runs as a supervised child process, and the admin calls belt-api makes to a
//! Kafka (the embedded one or an existing cluster).

pub mod auth;
pub mod embedded;
mod offsets;
pub mod topics;

pub use offsets::{GroupOffsets, KafkaGroupOffsets, OffsetsError};

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

/// Creates the topics a belt reads and writes before it is deployed. Behind a trait so that the
/// reconciler runs without a Kafka in tests.
#[async_trait]
pub trait TopicAdmin: Send + Sync {
    /// Creates those of `topics` that do not exist yet; the others are left as they are.
    async fn ensure_topics(&self, topics: &[String]) -> Result<(), BrokerError>;
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(
        "the embedded Kafka broker's program (nisshi) was not found (looked at {looked}): run \
         scripts/broker.sh once (it builds it) or set BELT_KAFKA_BROKER_COMMAND to its path; or \
         use an existing Kafka with BELT_KAFKA_BOOTSTRAP, or run without a data plane with \
         BELT_KAFKA_BROKER=none"
    )]
    ProgramMissing { looked: String },
    #[error("starting the embedded Kafka broker {program}: {source}")]
    Start {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("the embedded Kafka broker exited before it answered ({status}); see {}", log.display())]
    Exited { status: String, log: PathBuf },
    #[error("the embedded Kafka broker did not answer a metadata request within {waited:?}; see {}", log.display())]
    NotReady { waited: Duration, log: PathBuf },
    #[error("Kafka admin call failed: {0}")]
    Admin(String),
}
