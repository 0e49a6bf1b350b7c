//! The embedded Kafka-protocol broker through the real binary (docs/api.md#the-data-plane): a
//! standard Kafka client (rdkafka) produces and consumes through it, records and committed group
//! offsets survive a restart of belt-api, no broker outlives a `kill -9` of belt-api, a broker
//! that dies is restarted, START creates a belt's topics, and the modes without an embedded
//! broker start none (or refuse to start).

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_client_produces_and_consumes_and_records_and_offsets_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let env = embedded_env(&data_dir);
    let mut service = serve(&env);
    let bootstrap = service.broker();
    assert!(
        bootstrap.starts_with("127.0.0.1:") && !bootstrap.ends_with(":0"),
        "{bootstrap}"
    );
    let first_pid = service.broker_pid();

    create_topic(&bootstrap, "events", 3).await;
    produce(&bootstrap, "events", 0..200).await;
    let read = consume(&bootstrap, "events", "readers", 200).await;
    let mut expected: Vec<String> = (0..200).map(|i| format!("record-{i}")).collect();
    expected.sort();
    assert_eq!(read, expected, "every produced record, once");
    assert_eq!(committed_total(&bootstrap, "events", "readers", 3), 200);

    assert!(service.terminate().success(), "SIGTERM: exit 0");
    assert!(
        wait_until_gone(first_pid, Duration::from_secs(5)),
        "the broker stops with belt-api"
    );

    let service = serve(&env);
    let bootstrap = service.broker();
    assert_eq!(
        committed_total(&bootstrap, "events", "readers", 3),
        200,
        "committed offsets kept"
    );
    produce(&bootstrap, "events", 200..210).await;
    let rest = consume(&bootstrap, "events", "readers", 10).await;
    let mut expected_rest: Vec<String> = (200..210).map(|i| format!("record-{i}")).collect();
    expected_rest.sort();
    assert_eq!(
        rest, expected_rest,
        "the group continues from its committed offsets"
    );
    let again = consume(&bootstrap, "events", "another-group", 210).await;
    assert_eq!(again.len(), 210, "every record kept");
    assert!(data_dir.join("broker/broker.log").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_of_belt_api_leaves_no_broker_running() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = serve(&embedded_env(dir.path()));
    let pid = service.broker_pid();
    assert!(!is_gone(pid), "the broker runs");
    service.child.kill().unwrap();
    let _ = service.child.wait();
    assert!(
        wait_until_gone(pid, Duration::from_secs(5)),
        "the broker {pid} outlived belt-api"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_dies_is_restarted_on_the_same_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = serve(&embedded_env(dir.path()));
    let bootstrap = service.broker();
    create_topic(&bootstrap, "kept", 1).await;
    produce(&bootstrap, "kept", 0..5).await;
    let pid = service.broker_pid();
    signal(pid, "-KILL");
    service.wait_for_line("the embedded Kafka broker exited", Duration::from_secs(10));
    service.wait_for_line("serves again", Duration::from_secs(30));
    let ready = reqwest::get(format!("{}/ready", service.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        consume(&bootstrap, "kept", "after-restart", 5).await.len(),
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_creates_the_topics_a_belt_names_and_the_replica_gets_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let script = dir.path().join("replica.sh");
    std::fs::write(
        &script,
        format!(
            "echo \"$KAFKA_BOOTSTRAP_SERVERS\" > {}/bootstrap-$BELT_ID\nexec sleep 600\n",
            out.display()
        ),
    )
    .unwrap();
    let mut env = embedded_env(&data_dir);
    env.push((
        "BELT_LOCAL_COMMAND",
        format!("/bin/sh {}", script.display()),
    ));
    env.push(("BELT_KAFKA_TOPIC_PARTITIONS", "2".into()));
    let service = serve(&env);
    let bootstrap = service.broker();
    let editor = service.token(&data_dir, "editor");
    let client = reqwest::Client::new();
    let belts = format!("{}/projects/global/belts", service.address);
    for (id, body) in [
        (
            "7",
            json!({"name": "a", "eventTypes": ["orders", "clicks"]}),
        ),
        (
            "8",
            json!({"name": "b", "eventTypes": ["orders"],
                     "outputTypes": [{"name": "scores", "version": "1"}]}),
        ),
    ] {
        let created = client
            .post(format!("{belts}/{id}"))
            .bearer_auth(&editor)
            .json(&body);
        assert!(created.send().await.unwrap().status().is_success());
        let start = client
            .post(format!("{belts}/{id}/state"))
            .bearer_auth(&editor)
            .json(&json!({"action": "START"}));
        assert!(start.send().await.unwrap().status().is_success());
    }
    let wanted = [
        "grnry_data_in_orders",
        "grnry_data_in_clicks",
        "profile-update",
        "grnry_belt_dlq_7",
        "grnry_data_in_scores",
        "grnry_belt_dlq_8",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let found = loop {
        let found = topics(&bootstrap);
        if wanted.iter().all(|t| found.contains_key(*t)) || std::time::Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for topic in wanted {
        assert_eq!(
            found.get(topic),
            Some(&2),
            "{topic} with 2 partitions in {found:?}"
        );
    }
    let told = loop {
        match std::fs::read_to_string(out.join("bootstrap-7")) {
            Ok(text) if !text.is_empty() => break text,
            _ if std::time::Instant::now() > deadline => panic!("the replica did not start"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert_eq!(told.trim(), bootstrap, "KAFKA_BOOTSTRAP_SERVERS");
}

#[test]
fn with_an_existing_kafka_nothing_is_embedded() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("BELT_DATA_DIR", dir.path().display().to_string()),
        ("BELT_KAFKA_BOOTSTRAP", "127.0.0.1:1".to_string()),
        (
            "BELT_KAFKA_BROKER_COMMAND",
            "/nonexistent/nisshi".to_string(),
        ),
        ("BELT_LOCAL_SANDBOX", "none".to_string()),
    ];
    let service = serve(&env);
    let log = service.log();
    assert!(log.contains("using an existing Kafka"), "{log}");
    assert!(!log.contains("embedded Kafka broker ("), "{log}");
    assert!(!dir.path().join("broker").exists());
}

#[test]
fn the_kubernetes_runtime_without_an_existing_kafka_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = refused(&[
        ("BELT_DATA_DIR", dir.path().display().to_string()),
        ("BELT_RUNTIME", "kubernetes".to_string()),
    ]);
    assert!(!status.success());
    assert!(stderr.contains("BELT_KAFKA_BOOTSTRAP"), "{stderr}");
}

#[test]
fn a_missing_broker_program_refuses_to_start_and_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = refused(&[
        ("BELT_DATA_DIR", dir.path().display().to_string()),
        ("BELT_KAFKA_LISTEN", "127.0.0.1:0".to_string()),
        (
            "BELT_KAFKA_BROKER_COMMAND",
            "/nonexistent/nisshi".to_string(),
        ),
    ]);
    assert!(!status.success());
    assert!(stderr.contains("scripts/broker.sh"), "{stderr}");
    assert!(stderr.contains("BELT_KAFKA_BROKER=none"), "{stderr}");
}
