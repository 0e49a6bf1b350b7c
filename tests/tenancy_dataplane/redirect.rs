//! A callback that rewrites its worker's answers: the user's code shares the worker's
//! interpreter, so it can make the worker claim any topic for its updates. The trusted host checks
//! every update against the belt's own outputs (`belt_worker_link.py`) and stops the replica:
//! nothing reaches the other project's input topic.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::serve::{kafka, Api};
use super::Target;

/// Patches the worker (`belt_worker.py` runs as `__main__`) so that every update it answers
/// names `TARGET_TOPIC`, B's input, instead of the belt's destination.
const REDIRECTOR: &str = r#"
import os, sys

worker = sys.modules["__main__"]
made_records = worker.records_of

def redirected(*args, **kwargs):
    records = made_records(*args, **kwargs)
    for record in records:
        record["topic"] = os.environ["TARGET_TOPIC"]
    return records

worker.records_of = redirected

def execute(headers, event):
    return {"keys": ["stolen"], "values": [{"value": 1}]}
"#;

const BELT: &str = "/projects/proj-a/belts/803";
const A_INPUT: &str = "grnry_data_in_a-events";

/// Starts A's redirecting belt, gives it one event, and waits until its host stopped it for the
/// foreign topic. B's own check afterwards counts B's input records: one more would show there.
pub async fn a_worker_that_claims_another_topic_is_stopped(api: &Api, a: &str, target: &Target) {
    let document = json!({"id": "803", "name": "belt-803", "eventTypes": ["a-events"],
                          "extractorFn": REDIRECTOR,
                          "extraEnv": [{"name": "TARGET_TOPIC", "value": target.input}]});
    api.ok(a, Method::POST, "/projects/proj-a/belts", Some(document))
        .await;
    api.ok(
        a,
        Method::POST,
        &format!("{BELT}/state"),
        Some(json!({"action": "START"})),
    )
    .await;
    api.wait_state(a, BELT, "RUNNING", |s| s["status"] == "RUNNING")
        .await;
    let produced = kafka("produce", &target.broker, &[A_INPUT, "1000", "1", "1"]).await;
    assert_eq!(produced.len(), 1);

    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let logs = loop {
        let (_, logs): (u16, Value) = api
            .call(a, Method::GET, &format!("{BELT}/logs"), None)
            .await;
        let text = logs.to_string();
        if text.contains("which is not one of the belt's outputs")
            || std::time::Instant::now() > deadline
        {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        logs.contains(&format!("an update for the topic '{}'", target.input))
            && logs.contains("which is not one of the belt's outputs"),
        "the host did not refuse the redirected update: {logs}\n{}",
        api.log()
    );
    api.ok(
        a,
        Method::POST,
        &format!("{BELT}/state"),
        Some(json!({"action": "STOP"})),
    )
    .await;
}
