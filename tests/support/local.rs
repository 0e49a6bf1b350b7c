//! What the local-runtime test binaries (tests/local_runtime.rs, tests/sandbox.rs) share: belt ids,
//! replica specs and waiting for a condition.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use belt_api::domain::kafka_access::KafkaAccess;
use belt_api::domain::replica::{EnvEntry, EnvValue, ReplicaSpec};
use belt_api::domain::{BeltId, ProjectName};

pub fn belt(id: i64) -> BeltId {
    BeltId::new(id).unwrap()
}

pub fn plain(name: &str, value: &str) -> EnvEntry {
    EnvEntry {
        name: name.into(),
        value: EnvValue::Plain(value.into()),
    }
}

/// A replica spec of project `global` running `callback`, with `env` as the whole environment.
pub fn replica_spec(
    id: i64,
    generation: i64,
    replicas: u32,
    callback: &str,
    env: Vec<EnvEntry>,
) -> ReplicaSpec {
    ReplicaSpec {
        belt_id: belt(id),
        project: ProjectName::global(),
        version: 1,
        generation,
        name: format!("grnry-belt-{id}"),
        replicas,
        image: "grnry/belt:1".into(),
        image_pull_secret: None,
        millicpu: 500,
        millicpu_requests: 100,
        memory_mi: 256,
        memory_requests_mi: 128,
        files: BTreeMap::from([
            ("callback.py".to_string(), callback.to_string()),
            (
                "requirements.txt".to_string(),
                "# nothing to install\n".to_string(),
            ),
        ]),
        env,
        volumes: Vec::new(),
        volume_mounts: Vec::new(),
        kafka: KafkaAccess {
            input_topics: Vec::new(),
            consumer_group: format!("grnry-belt-{id}-0"),
            output_topics: Vec::new(),
            dead_letter_topic: format!("grnry_belt_dlq_{id}"),
        },
    }
}

/// Polls `check` every 50 ms until it gives a value; fails the test after `patience`.
pub async fn wait_until<T, F, Fut>(what: &str, patience: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
