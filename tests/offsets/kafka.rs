//! A Kafka-protocol broker for one test (tests/common/broker_program.rs), and what the tests do
//! on it as a belt's replicas or producers would: create topics, produce, commit as the group,
//! count records.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::broker_program::TestBroker;

/// The broker of one test, and what the tests do on it.
pub struct Broker(TestBroker);

impl std::ops::Deref for Broker {
    type Target = TestBroker;
    fn deref(&self) -> &TestBroker {
        &self.0
    }
}

impl Broker {
    pub fn start() -> Broker {
        Broker(TestBroker::start())
    }

    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.address)
            .set("log_level", "3");
        config
    }

    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = self.config().create().unwrap();
        let created = admin
            .create_topics(
                &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .unwrap();
        assert!(created.iter().all(Result::is_ok), "{created:?}");
    }

    /// Produces `count` records to one partition, acknowledged by the broker.
    pub async fn produce(&self, topic: &str, partition: i32, count: usize) {
        let producer: FutureProducer = self.config().set("acks", "all").create().unwrap();
        for i in 0..count {
            let payload = format!("{{\"n\": {i}}}");
            producer
                .send(
                    FutureRecord::<(), _>::to(topic)
                        .partition(partition)
                        .payload(&payload),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
        }
    }

    fn group_consumer(&self, group: &str) -> BaseConsumer {
        self.config()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap()
    }

    /// Commits offsets as the belt's group would after processing, from outside the group.
    pub fn commit(&self, group: &str, offsets: &[(&str, i32, i64)]) {
        let consumer = self.group_consumer(group);
        let mut list = TopicPartitionList::new();
        for &(topic, partition, offset) in offsets {
            list.add_partition_offset(topic, partition, Offset::Offset(offset))
                .unwrap();
        }
        consumer.commit(&list, CommitMode::Sync).unwrap();
    }

    /// What the group has committed, asked of the broker directly.
    pub fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        let consumer = self.group_consumer(group);
        let mut list = TopicPartitionList::new();
        list.add_partition(topic, partition);
        let answer = consumer
            .committed_offsets(list, Duration::from_secs(10))
            .unwrap();
        match answer.elements()[0].offset() {
            Offset::Offset(n) => Some(n),
            Offset::Invalid => None,
            other => panic!("committed offset {other:?}"),
        }
    }

    /// Reads one partition from `from` to its end, counting records: what a replica starting
    /// there would process.
    pub fn count_from(&self, topic: &str, partition: i32, from: i64) -> i64 {
        let consumer = self.group_consumer("offsets-test-counter");
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Offset(from))
            .unwrap();
        consumer.assign(&list).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut count = 0;
        loop {
            assert!(
                Instant::now() < deadline,
                "never reached the end of {topic}[{partition}]"
            );
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    assert!(message.offset() >= from);
                    count += 1;
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return count,
                Some(Err(err)) => panic!("consuming {topic}[{partition}]: {err}"),
                None => {}
            }
        }
    }

    /// A consumer that joins `group` on `topic` and stays a member until dropped.
    pub fn member(&self, group: &str, topic: &str) -> BaseConsumer {
        let consumer = self.group_consumer(group);
        consumer.subscribe(&[topic]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while consumer.assignment().unwrap().count() == 0 {
            assert!(Instant::now() < deadline, "never joined {group}");
            let _ = consumer.poll(Duration::from_millis(100));
        }
        consumer
    }
}
