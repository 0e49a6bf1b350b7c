//! The real binary with its embedded broker, and a standard Kafka client (rdkafka) to talk to it.

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use belt_test_support::binary::{Program, Spawn};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

#[path = "../common/broker_program.rs"]
mod broker_program;
pub use broker_program::broker_program;

pub const BINARY: &str = env!("CARGO_BIN_EXE_belt-api");

/// `belt-api serve` on a free port (`belt_test_support::binary`).
pub type Service = Program;

/// The environment of a service on the embedded default, on free ports, in `data_dir`.
pub fn embedded_env(data_dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("BELT_DATA_DIR", data_dir.display().to_string()),
        ("BELT_KAFKA_LISTEN", "127.0.0.1:0".into()),
        ("BELT_KAFKA_BROKER_COMMAND", broker_program().into()),
        ("BELT_LOCAL_SANDBOX", "none".into()),
    ]
}

fn spawn(env: &[(&str, String)]) -> Spawn {
    Spawn::serve(BINARY).envs(env.iter().map(|(k, v)| (*k, v.as_str())))
}

pub fn serve(env: &[(&str, String)]) -> Service {
    spawn(env).start()
}

/// Runs `belt-api serve`, which must exit on its own within 60 s: its status and stderr.
pub fn refused(env: &[(&str, String)]) -> (ExitStatus, String) {
    spawn(env).run_to_exit()
}

/// What the service's log says about its embedded broker, and its tokens.
pub trait EmbeddedBroker {
    fn broker(&self) -> String;
    fn broker_pid(&self) -> i32;
    fn broker_line(&self) -> String;
    fn token(&self, data_dir: &Path, role: &str) -> String;
}

impl EmbeddedBroker for Service {
    /// The embedded broker's address, from the startup line.
    fn broker(&self) -> String {
        let line = self.broker_line();
        let at = line.find("listening on ").unwrap() + "listening on ".len();
        line[at..].split(',').next().unwrap().to_string()
    }

    /// The embedded broker's process id, from the startup line.
    fn broker_pid(&self) -> i32 {
        let line = self.broker_line();
        let at = line.find("pid=").unwrap() + "pid=".len();
        line[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn broker_line(&self) -> String {
        let lines = self.lines();
        let line = lines
            .iter()
            .find(|line| line.contains("embedded Kafka broker (nisshi 0.8.1) listening on "));
        line.unwrap_or_else(|| panic!("no broker line in:\n{}", lines.join("\n")))
            .clone()
    }

    fn token(&self, data_dir: &Path, role: &str) -> String {
        let output = Command::new(BINARY)
            .args(["token", "--project", "global", "--role", role])
            .env("BELT_DATA_DIR", data_dir)
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }
}

pub fn signal(pid: i32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
}

/// Whether `pid` is gone (or a zombie that nothing reaped yet: it no longer runs).
pub fn is_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

pub fn wait_until_gone(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if is_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

// ------------------------------------------------------------------------------------------------
// The Kafka client side.

fn config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config
}

pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = config(bootstrap).create().unwrap();
    let answers = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("CreateTopics");
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
}

/// Produces `count` records `record-<i>` (key `k<i>`) with acks=all.
pub async fn produce(bootstrap: &str, topic: &str, range: std::ops::Range<usize>) {
    let producer: FutureProducer = config(bootstrap)
        .set("acks", "all")
        .set("message.timeout.ms", "20000")
        .create()
        .unwrap();
    for i in range {
        let (key, value) = (format!("k{i}"), format!("record-{i}"));
        producer
            .send(
                FutureRecord::to(topic).key(&key).payload(&value),
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_else(|(err, _)| panic!("producing record {i}: {err}"));
    }
}

pub fn consumer(bootstrap: &str, group: &str) -> StreamConsumer {
    config(bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

/// Reads `count` records of `topic` in `group` from its committed offsets (or the start) and
/// commits them; their values, sorted.
pub async fn consume(bootstrap: &str, topic: &str, group: &str, count: usize) -> Vec<String> {
    let consumer = consumer(bootstrap, group);
    consumer.subscribe(&[topic]).unwrap();
    let mut values = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while values.len() < count {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} records in 60 s", values.len()))
            .expect("consuming");
        values.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
    }
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    values.sort();
    values
}

/// The sum of `group`'s committed offsets on the partitions of `topic`.
pub fn committed_total(bootstrap: &str, topic: &str, group: &str, partitions: i32) -> i64 {
    let consumer = consumer(bootstrap, group);
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("OffsetFetch");
    committed
        .elements()
        .iter()
        .map(|element| match element.offset() {
            Offset::Offset(offset) => offset,
            _ => 0,
        })
        .sum()
}

/// Partitions per topic, for the topics that exist.
pub fn topics(bootstrap: &str) -> std::collections::BTreeMap<String, usize> {
    let consumer = consumer(bootstrap, "metadata");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    metadata
        .topics()
        .iter()
        .map(|topic| (topic.name().to_string(), topic.partitions().len()))
        .collect()
}
