//! The data plane end to end: the real `belt-api serve` (SQLite, local runtime, bubblewrap sandbox,
//! the bundled belt host in its prepared Python environment) against a real Kafka-protocol broker
//! that this test binary starts (`BELT_KAFKA_BROKER_COMMAND`, e.g. nisshi), with a standard Kafka
//! client (confluent-kafka) producing events and reading what the belts produce.
//!
//! Each test runs its own belt-api with its own belt id and topics on the one broker.

#[path = "common/broker_program.rs"]
mod broker_program;
#[path = "common/host_env.rs"]
mod host_env;
#[path = "dataplane/support.rs"]
mod support;

#[path = "dataplane/at_least_once.rs"]
mod at_least_once;
#[path = "dataplane/dead_letters.rs"]
mod dead_letters;
#[path = "dataplane/lag_series.rs"]
mod lag_series;
#[path = "dataplane/offsets.rs"]
mod offsets;
#[path = "dataplane/profiles.rs"]
mod profiles;
#[path = "dataplane/throughput.rs"]
mod throughput;
