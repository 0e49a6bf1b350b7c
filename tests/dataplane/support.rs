//! What the data-plane tests share: one Kafka-protocol broker per test binary, a real `belt-api
//! serve` per test pointed at it, and a Kafka client (confluent-kafka in the belt host's Python
//! environment, `kafka_client.py`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use belt_test_support::binary::{Program, Spawn};
use serde_json::{json, Value};

use crate::broker_program::TestBroker;
pub use crate::host_env::kafka;
use crate::host_env::{host_env, SERVE_PATIENCE};

const BINARY: &str = env!("CARGO_BIN_EXE_belt-api");

/// The broker of this test binary, started on first use.
pub fn broker() -> &'static TestBroker {
    TestBroker::shared()
}

pub async fn create_topics(topics: &[(&str, u32)]) {
    let specs: Vec<String> = topics.iter().map(|(t, p)| format!("{t}:{p}")).collect();
    let mut args = vec!["topics", &broker().address];
    args.extend(specs.iter().map(String::as_str));
    kafka(&args).await;
}

/// Produces events `first..first+count` round-robin over `partitions`; answers `(n, partition,
/// offset)` per event.
pub async fn produce(topic: &str, first: u64, count: u64, partitions: u32) -> Vec<(u64, i64, i64)> {
    let (first, count, partitions) = (first.to_string(), count.to_string(), partitions.to_string());
    let args = [
        "produce",
        &broker().address,
        topic,
        &first,
        &count,
        &partitions,
    ];
    kafka(&args)
        .await
        .iter()
        .map(|r| {
            let field = |name: &str| r[name].as_i64().unwrap();
            (field("n") as u64, field("partition"), field("offset"))
        })
        .collect()
}

/// Reads `topic` from the start until `expected` records arrived or `timeout` passed, then
/// `linger` more for records beyond.
pub async fn read(topic: &str, expected: usize, timeout: Duration, linger: Duration) -> Vec<Value> {
    read_until(topic, expected, timeout, linger, "").await
}

/// As [`read`], until records of `expected` different correlation ids arrived.
pub async fn read_distinct(topic: &str, expected: usize, timeout: Duration) -> Vec<Value> {
    read_until(topic, expected, timeout, Duration::ZERO, "distinct").await
}

async fn read_until(
    topic: &str,
    expected: usize,
    timeout: Duration,
    linger: Duration,
    mode: &str,
) -> Vec<Value> {
    let (expected, timeout) = (expected.to_string(), timeout.as_secs_f64().to_string());
    let linger = linger.as_secs_f64().to_string();
    let args = [
        "read",
        &broker().address,
        topic,
        &expected,
        &timeout,
        &linger,
        mode,
    ];
    kafka(&args).await
}

pub async fn count(topic: &str) -> u64 {
    kafka(&["count", &broker().address, topic]).await[0]["count"]
        .as_u64()
        .unwrap()
}

/// The correlation ids of records, with how often each came.
pub fn correlation_ids(records: &[Value]) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for record in records {
        let id = record["headers"]["grnry-correlation-id"]
            .as_str()
            .unwrap_or_else(|| panic!("no correlation id: {record}"));
        *ids.entry(id.to_string()).or_default() += 1;
    }
    ids
}

pub fn ids(numbers: impl IntoIterator<Item = u64>) -> Vec<String> {
    numbers.into_iter().map(|n| format!("c-{n}")).collect()
}

/// A callback that answers one update per event; `extra` runs first (and may raise).
pub fn callback(extra: &str) -> String {
    format!(
        "def execute(headers, event):\n{extra}    return {{\"keys\": [str(event[\"n\"])], \
         \"values\": [{{\"value\": event[\"n\"]}}]}}\n"
    )
}

/// `belt-api serve` on a data dir of its own, its Kafka the shared broker; SIGTERM when
/// dropped, so that it stops its replicas, which leave their groups.
pub struct Api {
    program: Program,
    pub address: String,
    pub data_dir: PathBuf,
    token: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Api {
    pub fn start() -> Api {
        Api::start_with(&[])
    }

    /// Starts belt-api with these settings (`BELT_…` variables) on top of the tests' own.
    pub fn start_with(settings: &[(&str, &str)]) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("belt-data");
        let program = Spawn::serve(BINARY)
            .env("BELT_DATA_DIR", &data_dir)
            .env("BELT_KAFKA_BOOTSTRAP", &broker().address)
            .env("BELT_LOCAL_HOST_ENV", host_env())
            .env("BELT_LOCAL_RESTART_BACKOFF_MS", "100")
            .env("BELT_RECONCILE_INTERVAL_MS", "500")
            // Each test writes its own destination topic.
            .env(
                "BELT_KAFKA_DESTINATION_TOPICS",
                "profile-update,dp-updates-*",
            )
            .envs(settings.iter().copied())
            .patience(SERVE_PATIENCE)
            .grace(Duration::from_secs(15))
            .start();
        let token = Command::new(BINARY)
            .args(["token", "--project", "global", "--role", "editor"])
            .env("BELT_DATA_DIR", &data_dir)
            .output()
            .unwrap();
        assert!(token.status.success());
        Api {
            address: program.address.clone(),
            program,
            data_dir,
            token: String::from_utf8(token.stdout).unwrap().trim().to_string(),
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        self.program.log()
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .client
            .request(method, format!("{}/projects/global{path}", self.address))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// Creates belt `id` reading `event_type`, writing to `destination`.
    pub async fn create_belt(&self, id: i64, event_type: &str, destination: &str, fields: Value) {
        let mut body = json!({
            "id": id.to_string(),
            "name": format!("dataplane-{id}"),
            "eventTypes": [event_type],
            "kafkaDestinationTopic": destination,
        });
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        self.call(reqwest::Method::POST, "/belts", Some(body)).await;
    }

    pub async fn act(&self, id: i64, action: &str) {
        let path = format!("/belts/{id}/state");
        let body = json!({ "action": action });
        self.call(reqwest::Method::POST, &path, Some(body)).await;
    }

    pub async fn status(&self, id: i64) -> Value {
        self.call(reqwest::Method::GET, &format!("/belts/{id}/state"), None)
            .await
    }

    /// GET of `path` under the project, as JSON.
    pub async fn read(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn logs(&self, id: i64) -> Value {
        self.call(reqwest::Method::GET, &format!("/belts/{id}/logs"), None)
            .await
    }

    pub async fn wait_for(&self, id: i64, wanted: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let state = self.status(id).await;
            if state["status"] == wanted {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "belt {id} is not {wanted}: {state:#}\nlogs: {:#}",
                self.logs(id).await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates the belt's topics and starts it; answers when it is RUNNING.
    pub async fn run_belt(&self, id: i64, topics: &[(&str, u32)]) {
        create_topics(topics).await;
        self.act(id, "START").await;
        self.wait_for(id, "RUNNING").await;
    }
}
