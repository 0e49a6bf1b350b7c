//! One project's code never reaches the data plane or belt-api's services (issue 18, findings 2
//! and 9; docs/local-sandbox.md#two-processes). On the embedded default (belt-api's own broker,
//! the local runtime, the real bubblewrap sandbox) with an event-type registry whose record gives
//! B's event type a consumer role only B's members hold: project A's callback and A's
//! test-invoke try a Kafka consumer, producer and admin client and raw sockets against the broker,
//! belt-api's port and PostgreSQL (TCP and unix socket). Every try fails, and B's belt processes
//! every record exactly once, its lag 0, its group moved by B alone, nothing deleted.
//!
//! The same tries from outside the sandbox (the test process) reach the broker and belt-api: the
//! attack works where nothing stops it.

#[path = "common/broker_program.rs"]
mod broker_program;
#[path = "common/host_env.rs"]
mod host_env;
#[path = "tenancy_dataplane/redirect.rs"]
mod redirect;
#[path = "tenancy_dataplane/serve.rs"]
mod serve;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use serve::{kafka, registry, Api};

const ATTACKER: &str = include_str!("tenancy_dataplane/attacker.py");
const RECORDS: u64 = 50;
const A: &str = "/projects/proj-a/belts/801";
const B: &str = "/projects/proj-b/belts/802";
/// What the attacker tries from a callback, and from test-invoke with the `invoke-` prefix.
const ATTACKS: &[&str] = &[
    "socket-broker",
    "socket-api",
    "socket-postgres",
    "unix-postgres",
    "kafka-admin-list",
    "kafka-admin-delete",
    "kafka-consume",
    "kafka-produce",
];

/// What A's documents may aim at: B's topics and group, the broker, belt-api.
struct Target {
    input: String,
    group: String,
    dlq: String,
    broker: String,
    api_port: u16,
}

/// Belt documents project A may write (every field an editor can set) aimed at B's input, group
/// and dead-letter topic, each with how the API's refusal begins: it names the field, or for an
/// event type the project may not see, says so in the contract's words (issue 18,
/// "Reserved names"; docs/api.md#reserved-names). Each one accepted would be started as well.
fn hostile_documents(target: &Target) -> Vec<(&'static str, &'static str, Value)> {
    let belt_of = |extra: Value| {
        let mut document = belt(
            "0",
            "a-events",
            "def execute(headers, event):\n    return []\n".into(),
            json!([]),
        );
        for (field, value) in extra.as_object().unwrap() {
            document[field] = value.clone();
        }
        document
    };
    let env = |name: &str, value: &str| json!({"extraEnv": [{"name": name, "value": value}]});
    vec![
        (
            "B's input topic as A's input",
            "Parameter 'extraEnv[0].name' ",
            belt_of(env("KAFKA_INPUT_TOPICS", &target.input)),
        ),
        (
            "B's consumer group",
            "Parameter 'extraEnv[0].name' ",
            belt_of(env("KAFKA_CONSUMER_GROUP", &target.group)),
        ),
        (
            "B's group, in lower case",
            "Parameter 'extraEnv[0].name' ",
            belt_of(env("kafka_consumer_group", &target.group)),
        ),
        (
            "B's dead-letter topic as A's error topic",
            "Parameter 'extraEnv[0].name' ",
            belt_of(env("KAFKA_ERROR_TOPIC", &target.dlq)),
        ),
        (
            "another bootstrap",
            "Parameter 'extraEnv[0].name' ",
            belt_of(env("KAFKA_BOOTSTRAP_SERVERS", &target.broker)),
        ),
        (
            "code loaded into the trusted host",
            "Parameter 'extraEnv[0].name' ",
            belt_of(env("PYTHONPATH", "/tmp")),
        ),
        (
            "B's dead-letter topic as destination",
            "Parameter 'kafkaDestinationTopic' ",
            belt_of(json!({"kafkaDestinationTopic": target.dlq})),
        ),
        (
            "B's input topic as destination",
            "Parameter 'kafkaDestinationTopic' ",
            belt_of(json!({"kafkaDestinationTopic": target.input})),
        ),
        (
            "B's event type as an output",
            "Parameter 'outputTypes' ",
            belt_of(json!({"outputTypes": [{"name": "b-events", "version": "1"}]})),
        ),
        (
            "B's event type as an input",
            "Invalid event type: b-events",
            belt_of(json!({"eventTypes": ["b-events"]})),
        ),
    ]
}

/// `ATTEMPT <name> OK|FAILED …` lines of `text`, by name.
fn attempts(text: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for piece in text.split("ATTEMPT ").skip(1) {
        let mut words = piece.splitn(3, ' ');
        let (Some(name), Some(outcome)) = (words.next(), words.next()) else {
            continue;
        };
        let detail: String = words.next().unwrap_or_default().chars().take(160).collect();
        found.insert(name.to_string(), format!("{outcome} {detail}"));
    }
    found
}

fn assert_all_failed(found: &BTreeMap<String, String>, prefix: &str, context: &str) {
    for attack in ATTACKS {
        let name = format!("{prefix}{attack}");
        let outcome = found
            .get(&name)
            .unwrap_or_else(|| panic!("{name} was not tried: {found:#?}\n{context}"));
        assert!(
            outcome.starts_with("FAILED"),
            "{name} got through: {outcome}\n{context}"
        );
        // Stopped by the network, not by a missing client library.
        assert!(
            !outcome.contains("ImportError") && !outcome.contains("ModuleNotFound"),
            "{name}: {outcome}"
        );
    }
}

fn belt(id: &str, event_type: &str, callback: String, env: Value) -> Value {
    json!({"id": id, "name": format!("belt-{id}"), "eventTypes": [event_type],
           "extractorFn": callback, "extraEnv": env})
}

fn target_env(target: &Target) -> Value {
    json!([
        {"name": "TARGET_BROKER", "value": target.broker},
        {"name": "TARGET_TOPIC", "value": target.input},
        {"name": "TARGET_GROUP", "value": target.group},
        {"name": "TARGET_API_PORT", "value": target.api_port.to_string()},
    ])
}

/// B's belt: one update per event, so each input record shows once in `profile-update`.
const B_CALLBACK: &str = "def execute(headers, event):\n    \
    return {\"keys\": [str(event[\"n\"])], \"values\": [{\"value\": event[\"n\"]}]}\n";

#[tokio::test]
async fn project_a_code_reaches_neither_the_broker_nor_belt_api_nor_postgres_and_b_is_untouched() {
    let registry = registry().await;
    let api = Api::start(&registry.uri(), broker_program::broker_program());
    let (a, b) = (
        api.token("proj-a", &["editor"]),
        api.token("proj-b", &["editor", "data-owner"]),
    );

    let created = api
        .ok(
            &b,
            Method::POST,
            "/projects/proj-b/belts",
            Some(belt("802", "b-events", B_CALLBACK.into(), json!([]))),
        )
        .await;
    let target = Target {
        input: "grnry_data_in_b-events".into(),
        group: created["kafkaConsumerGroupName"]
            .as_str()
            .unwrap()
            .to_string(),
        dlq: "grnry_belt_dlq_802".into(),
        broker: api.broker.clone(),
        api_port: api.port(),
    };
    api.ok(
        &b,
        Method::POST,
        &format!("{B}/state"),
        Some(json!({"action": "START"})),
    )
    .await;
    api.wait_state(&b, B, "RUNNING", |s| s["status"] == "RUNNING")
        .await;

    // A's callback attacks at import: the replica becomes ready only after every try.
    let callback =
        format!("{ATTACKER}\nrun_all('')\n\ndef execute(headers, event):\n    return []\n");
    api.ok(
        &a,
        Method::POST,
        "/projects/proj-a/belts",
        Some(belt("801", "a-events", callback, target_env(&target))),
    )
    .await;
    api.ok(
        &a,
        Method::POST,
        &format!("{A}/state"),
        Some(json!({"action": "START"})),
    )
    .await;
    for (n, (what, refusal, document)) in hostile_documents(&target).into_iter().enumerate() {
        let id = format!("{}", 810 + n);
        let mut document = document;
        document["id"] = json!(id);
        let (status, answer) = api
            .call(&a, Method::POST, "/projects/proj-a/belts", Some(document))
            .await;
        assert_eq!(status, 400, "hostile document {what}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with(refusal),
            "hostile document {what} is not refused with {refusal:?}: {answer}"
        );
        let (status, _) = api
            .call(
                &a,
                Method::GET,
                &format!("/projects/proj-a/belts/{id}"),
                None,
            )
            .await;
        assert_eq!(status, 404, "hostile document {what} was stored");
    }
    let logs = wait_for_attempts(&api, &a).await;
    assert_all_failed(&attempts(&logs), "", &logs);

    // A's test-invoke, with a Kafka client of its own from requirements.
    // The attacker puts its virtualenv's packages on its path itself, whatever the runner does.
    let draft = format!(
        "import glob, os, sys\n\
         sys.path[:0] = glob.glob(os.environ['BELT_INVOKE_VENV'] + '/lib/python3*/site-packages')\n\
         {ATTACKER}\n\ndef execute(headers, event):\n    run_all('invoke-')\n    return []\n"
    );
    let body = json!({"events": [{"event": {"n": 1}}], "extractorFn": draft,
                      "requirementsPy": "confluent-kafka==2.16.1"});
    let invoked = api
        .ok(&a, Method::POST, &format!("{A}/invoke"), Some(body))
        .await;
    assert_eq!(invoked["outcome"], "completed", "{invoked:#}");
    assert_all_failed(
        &attempts(&invoked.to_string()),
        "invoke-",
        &invoked.to_string(),
    );

    // The same code outside the sandbox reaches what it aimed at: the tries can succeed.
    let control = control_attempts(&target).await;
    for name in [
        "control-socket-broker",
        "control-socket-api",
        "control-kafka-admin-list",
    ] {
        assert!(control[name].starts_with("OK"), "{name}: {control:#?}");
    }

    // A's code makes its worker name B's input as the topic of its updates.
    redirect::a_worker_that_claims_another_topic_is_stopped(&api, &a, &target).await;

    b_processed_everything_exactly_once(&api, &b, &target).await;
}

async fn wait_for_attempts(api: &Api, token: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (_, logs) = api
            .call(token, Method::GET, &format!("{A}/logs"), None)
            .await;
        let text = logs.to_string();
        if attempts(&text).len() >= ATTACKS.len() || std::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The attacker run by the test itself, with network, harmless tries only.
async fn control_attempts(target: &Target) -> BTreeMap<String, String> {
    let script = format!(
        "{ATTACKER}\nrun_all('control-', kafka=False)\nattempt('control-kafka-admin-list', kafka_admin_list)\n"
    );
    let output = tokio::process::Command::new(serve::host_env().join("bin/python"))
        .args(["-c", &script])
        .env("TARGET_BROKER", &target.broker)
        .env("TARGET_TOPIC", &target.input)
        .env("TARGET_GROUP", &target.group)
        .env("TARGET_API_PORT", target.api_port.to_string())
        .output()
        .await
        .unwrap();
    attempts(&String::from_utf8_lossy(&output.stdout))
}

async fn b_processed_everything_exactly_once(api: &Api, b: &str, target: &Target) {
    let produced = kafka(
        "produce",
        &target.broker,
        &[&target.input, "0", &RECORDS.to_string(), "3"],
    )
    .await;
    assert_eq!(produced.len() as u64, RECORDS);
    let updates = kafka(
        "read",
        &target.broker,
        &["profile-update", &RECORDS.to_string(), "90", "3", ""],
    )
    .await;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for update in &updates {
        let id = update["headers"]["grnry-correlation-id"]
            .as_str()
            .unwrap_or("-");
        *seen.entry(id.to_string()).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = (0..RECORDS).map(|n| (format!("c-{n}"), 1)).collect();
    assert_eq!(
        seen,
        expected,
        "B's updates, each exactly once\n{}",
        api.log()
    );

    let offsets = format!("{B}/offsets");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let answer = api.ok(b, Method::GET, &offsets, None).await;
        if answer["totalLag"] == 0 || std::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(answer["totalLag"], 0, "{answer:#}");
    let rows = answer["offsets"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        3,
        "B's input topic and its partitions are all there: {answer:#}"
    );
    let committed: i64 = rows
        .iter()
        .map(|row| row["committed"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(
        committed as u64, RECORDS,
        "the group moved by B's records alone: {answer:#}"
    );
    let dlq = kafka("count", &target.broker, &[&target.dlq]).await;
    assert_eq!(dlq[0]["count"], 0, "nothing in B's DLQ");
}
