//! A consumer group's offsets through the Kafka protocol (docs/api.md#offsets): what the group
//! committed, where each partition starts and ends, commits of chosen offsets and the group's
//! deletion. The client (librdkafka) blocks, so every call runs on the blocking pool under one
//! deadline; an answer that is not understood is an error, never a guessed number.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

use super::auth::ClientAuth;
use crate::domain::offsets::{PartitionOffset, PartitionPosition};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OffsetsError {
    /// No answer in time, or one that could not be trusted; nothing is known to have changed.
    #[error("{0}")]
    Unavailable(String),
    /// The group has members (a replica still consuming or leaving): the broker keeps its offsets.
    #[error("consumer group '{0}' still has active members")]
    GroupActive(String),
}

/// A consumer group's offsets in a set of topics.
#[async_trait]
pub trait GroupOffsets: Send + Sync + 'static {
    /// Every partition of `topics` that exists, with the group's committed offset there.
    async fn positions(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Vec<PartitionPosition>, OffsetsError>;
    /// Commits `offsets` for `group`, which must have no members.
    async fn commit(&self, group: &str, offsets: &[PartitionOffset]) -> Result<(), OffsetsError>;
    /// Deletes `group` with all its committed offsets; a group that does not exist is fine.
    async fn forget(&self, group: &str) -> Result<(), OffsetsError>;
}

/// [`GroupOffsets`] on a Kafka-protocol broker.
pub struct KafkaGroupOffsets {
    bootstrap: String,
    timeout: Duration,
    auth: ClientAuth,
}

impl KafkaGroupOffsets {
    /// `timeout` bounds each of `positions`, `commit` and `forget` as a whole.
    pub fn new(bootstrap: impl Into<String>, timeout: Duration) -> Self {
        KafkaGroupOffsets {
            bootstrap: bootstrap.into(),
            timeout: timeout.max(Duration::from_millis(100)),
            auth: ClientAuth::default(),
        }
    }

    /// Connects as belt-api's own Kafka identity.
    pub fn with_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    fn config(&self, group: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("allow.auto.create.topics", "false")
            .set(
                "socket.timeout.ms",
                self.timeout.as_millis().max(10).to_string(),
            )
            .set("log_level", "3");
        self.auth.apply(&mut config);
        config
    }

    /// Runs `work` on the blocking pool with a consumer of `group`; answers by the deadline
    /// whatever the client does.
    async fn with_consumer<T, F>(&self, group: &str, work: F) -> Result<T, OffsetsError>
    where
        T: Send + 'static,
        F: FnOnce(&BaseConsumer, Instant) -> Result<T, OffsetsError> + Send + 'static,
    {
        let config = self.config(group);
        let deadline = Instant::now() + self.timeout;
        let task = tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = config.create().map_err(unavailable)?;
            work(&consumer, deadline)
        });
        match tokio::time::timeout(self.timeout + Duration::from_millis(500), task).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(failed)) => Err(OffsetsError::Unavailable(format!(
                "the broker client failed: {failed}"
            ))),
            Err(_) => Err(self.late()),
        }
    }

    fn late(&self) -> OffsetsError {
        OffsetsError::Unavailable(format!(
            "the broker at {} did not answer within {} ms",
            self.bootstrap,
            self.timeout.as_millis()
        ))
    }
}

fn unavailable(err: KafkaError) -> OffsetsError {
    OffsetsError::Unavailable(format!("the broker answered with an error: {err}"))
}

fn left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

#[async_trait]
impl GroupOffsets for KafkaGroupOffsets {
    async fn positions(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Vec<PartitionPosition>, OffsetsError> {
        let topics = topics.to_vec();
        self.with_consumer(group, move |consumer, deadline| {
            read_positions(consumer, &topics, deadline)
        })
        .await
    }

    async fn commit(&self, group: &str, offsets: &[PartitionOffset]) -> Result<(), OffsetsError> {
        let offsets = offsets.to_vec();
        let name = group.to_string();
        self.with_consumer(group, move |consumer, deadline| {
            refuse_active_group(consumer, &name, deadline)?;
            commit_offsets(consumer, &name, &offsets, deadline)
        })
        .await
    }

    async fn forget(&self, group: &str) -> Result<(), OffsetsError> {
        let admin: AdminClient<DefaultClientContext> =
            self.config(group).create().map_err(unavailable)?;
        let options = AdminOptions::new()
            .request_timeout(Some(self.timeout))
            .operation_timeout(Some(self.timeout));
        let deleted = tokio::time::timeout(self.timeout, admin.delete_groups(&[group], &options))
            .await
            .map_err(|_| self.late())?
            .map_err(unavailable)?;
        match deleted.as_slice() {
            [Ok(_)] | [Err((_, RDKafkaErrorCode::GroupIdNotFound))] => Ok(()),
            [Err((_, RDKafkaErrorCode::NonEmptyGroup))] => {
                Err(OffsetsError::GroupActive(group.to_string()))
            }
            [Err((_, code))] => Err(OffsetsError::Unavailable(format!(
                "the broker refused to delete consumer group '{group}': {code}"
            ))),
            other => Err(OffsetsError::Unavailable(format!(
                "the broker answered {} results for deleting one group",
                other.len()
            ))),
        }
    }
}

/// The partitions of `topics`, where each starts and ends, and what the group committed.
fn read_positions(
    consumer: &BaseConsumer,
    topics: &[String],
    deadline: Instant,
) -> Result<Vec<PartitionPosition>, OffsetsError> {
    let mut partitions = TopicPartitionList::new();
    for topic in topics {
        for partition in partitions_of(consumer, topic, deadline)? {
            partitions.add_partition(topic, partition);
        }
    }
    if partitions.count() == 0 {
        return Ok(Vec::new());
    }
    let starts = log_offsets(consumer, &partitions, Offset::Beginning, deadline)?;
    let ends = log_offsets(consumer, &partitions, Offset::End, deadline)?;
    let committed = consumer
        .committed_offsets(partitions.clone(), left(deadline))
        .map_err(unavailable)?;
    let mut positions = Vec::with_capacity(partitions.count());
    for element in partitions.elements() {
        let key = (element.topic(), element.partition());
        let committed = match offset_in(&committed, key)? {
            Offset::Offset(n) if n >= 0 => Some(n),
            Offset::Invalid => None,
            other => return Err(not_understood("committed offset", key, other)),
        };
        positions.push(PartitionPosition {
            topic: key.0.to_string(),
            partition: key.1,
            committed,
            log_start: number(offset_in(&starts, key)?, "log-start offset", key)?,
            log_end: number(offset_in(&ends, key)?, "log-end offset", key)?,
        });
    }
    Ok(positions)
}

/// The partition numbers of `topic`; none when the topic does not exist (yet).
fn partitions_of(
    consumer: &BaseConsumer,
    topic: &str,
    deadline: Instant,
) -> Result<Vec<i32>, OffsetsError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), left(deadline))
        .map_err(unavailable)?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(Vec::new());
    };
    match found.error() {
        None => {}
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => return Ok(Vec::new()),
        Some(err) => {
            return Err(OffsetsError::Unavailable(format!(
                "the broker has no usable metadata for topic '{topic}': {err:?}"
            )))
        }
    }
    let mut numbers: Vec<i32> = found.partitions().iter().map(|p| p.id()).collect();
    numbers.sort_unstable();
    Ok(numbers)
}

/// One ListOffsets round for every partition: `Beginning` is the oldest record kept, `End` the
/// log end (`-2` and `-1` as the request's timestamp).
fn log_offsets(
    consumer: &BaseConsumer,
    partitions: &TopicPartitionList,
    which: Offset,
    deadline: Instant,
) -> Result<TopicPartitionList, OffsetsError> {
    let mut asked = partitions.clone();
    asked.set_all_offsets(which).map_err(unavailable)?;
    consumer
        .offsets_for_times(asked, left(deadline))
        .map_err(unavailable)
}

fn offset_in(list: &TopicPartitionList, key: (&str, i32)) -> Result<Offset, OffsetsError> {
    let element = list.find_partition(key.0, key.1).ok_or_else(|| {
        OffsetsError::Unavailable(format!(
            "the broker did not answer for {}[{}]",
            key.0, key.1
        ))
    })?;
    element.error().map_err(unavailable)?;
    Ok(element.offset())
}

fn number(offset: Offset, what: &str, key: (&str, i32)) -> Result<i64, OffsetsError> {
    match offset {
        Offset::Offset(n) if n >= 0 => Ok(n),
        other => Err(not_understood(what, key, other)),
    }
}

fn not_understood(what: &str, key: (&str, i32), offset: Offset) -> OffsetsError {
    OffsetsError::Unavailable(format!(
        "the broker answered {offset:?} as the {what} of {}[{}]",
        key.0, key.1
    ))
}

/// The broker would refuse a commit from outside an active group, but not always say why: ask.
fn refuse_active_group(
    consumer: &BaseConsumer,
    group: &str,
    deadline: Instant,
) -> Result<(), OffsetsError> {
    let groups = consumer
        .fetch_group_list(Some(group), left(deadline))
        .map_err(unavailable)?;
    let members: usize = groups
        .groups()
        .iter()
        .filter(|g| g.name() == group)
        .map(|g| g.members().len())
        .sum();
    if members > 0 {
        return Err(OffsetsError::GroupActive(group.to_string()));
    }
    Ok(())
}

/// Commits, then reads the offsets back: a commit the broker answered but did not keep is an
/// error, not a success.
fn commit_offsets(
    consumer: &BaseConsumer,
    group: &str,
    offsets: &[PartitionOffset],
    deadline: Instant,
) -> Result<(), OffsetsError> {
    let mut list = TopicPartitionList::new();
    for o in offsets {
        list.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.offset))
            .map_err(unavailable)?;
    }
    match consumer.commit(&list, CommitMode::Sync) {
        Ok(()) => {}
        Err(KafkaError::ConsumerCommit(
            RDKafkaErrorCode::UnknownMemberId
            | RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::RebalanceInProgress,
        )) => return Err(OffsetsError::GroupActive(group.to_string())),
        Err(err) => return Err(unavailable(err)),
    }
    let kept = consumer
        .committed_offsets(list.clone(), left(deadline))
        .map_err(unavailable)?;
    for o in offsets {
        let key = (o.topic.as_str(), o.partition);
        if offset_in(&kept, key)? != Offset::Offset(o.offset) {
            return Err(OffsetsError::Unavailable(format!(
                "the broker did not keep offset {} of {}[{}] for consumer group '{group}'",
                o.offset, o.topic, o.partition
            )));
        }
    }
    Ok(())
}
