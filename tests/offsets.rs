//! The offsets API and consumer lag (docs/api.md#offsets), against a real Kafka-protocol broker
//! (nisshi) that each test starts, on both databases. The tests play the belt's replicas: they
//! produce to the input topic and commit as the belt's consumer group. Replicas of started belts
//! are a shell script that only idles, so the group stays as the test leaves it.

#[path = "common/broker_program.rs"]
mod broker_program;
#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "offsets/kafka.rs"]
mod kafka;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use helpers::*;
use kafka::Broker;

backend_tests!(
    lag_counts_the_records_that_wait,
    writes_while_stopped_move_the_group,
    writes_while_running_are_refused_and_change_nothing,
    roles_and_bad_bodies_are_refused_naming_the_field,
    the_gauge_follows_running_belts,
    dry_runs_of_offset_writes_are_refused_and_move_nothing,
);

const TOPIC: &str = "grnry_data_in_orders";

const IDLE_REPLICA: &str = "#!/bin/sh\necho \"belt-host: ready\"\nexec sleep 100000\n";

async fn app_on(backend: Backend, bootstrap: Option<&str>) -> TestApp {
    let dir = tempfile::tempdir().unwrap().keep();
    let script = dir.join("replica.sh");
    std::fs::write(&script, IDLE_REPLICA).unwrap();
    let mut args = vec![
        (
            "--local-command".to_string(),
            format!("/bin/sh {}", script.display()),
        ),
        ("--reconcile-interval-ms".into(), "300".into()),
        ("--local-stop-grace-ms".into(), "500".into()),
        ("--kafka-lag-interval-ms".into(), "200".into()),
        ("--metrics-per-belt".into(), "true".into()),
    ];
    if let Some(bootstrap) = bootstrap {
        args.push(("--kafka-bootstrap".into(), bootstrap.into()));
    }
    TestApp::spawn_with(
        backend,
        Options {
            args,
            ..Default::default()
        },
    )
    .await
}

/// A belt on `orders` (whose topic has 3 partitions holding 5, 3 and 0 records) and `returns`
/// (whose topic does not exist), with the group at 2 and 3 in the first two partitions.
async fn belt_with_waiting_records(app: &TestApp, broker: &Broker) -> (String, String) {
    let body = json!({"name": "lagging", "eventTypes": ["orders", "returns"]});
    let belt = app.create_belt("global", &body).await;
    let id = belt["id"].as_str().unwrap().to_string();
    let group = belt["kafkaConsumerGroupName"].as_str().unwrap().to_string();
    broker.create_topic(TOPIC, 3).await;
    broker.produce(TOPIC, 0, 5).await;
    broker.produce(TOPIC, 1, 3).await;
    broker.commit(&group, &[(TOPIC, 0, 2), (TOPIC, 1, 3)]);
    (id, group)
}

async fn offsets(app: &TestApp, id: &str) -> Value {
    let (status, body) = json_of(
        app.get(
            &format!("/projects/global/belts/{id}/offsets"),
            &app.viewer(),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn put_offsets(app: &TestApp, id: &str, body: &Value) -> reqwest::Response {
    app.put(
        &format!("/projects/global/belts/{id}/offsets"),
        &app.editor(),
        body,
    )
    .await
}

/// (partition, committed, logEnd, lag) per partition of the orders topic.
fn rows(body: &Value) -> Vec<(i64, Value, i64, i64)> {
    body["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            assert_eq!(
                row["topic"], TOPIC,
                "only existing topics are listed: {body}"
            );
            (
                row["partition"].as_i64().unwrap(),
                row["committed"].clone(),
                row["logEnd"].as_i64().unwrap(),
                row["lag"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn lag_counts_the_records_that_wait(backend: Backend) {
    let broker = Broker::start();
    let app = app_on(backend, Some(&broker.address)).await;
    let (id, _) = belt_with_waiting_records(&app, &broker).await;

    let body = offsets(&app, &id).await;
    assert_eq!(
        rows(&body),
        [
            (0, json!(2), 5, 3),
            (1, json!(3), 3, 0),
            (2, Value::Null, 0, 0)
        ],
        "{body}"
    );
    assert_eq!(body["totalLag"], 3);
    // The lag is what a replica continuing from the committed offsets reads.
    let counted: i64 = [(0, 2), (1, 3), (2, 0)]
        .iter()
        .map(|&(partition, from)| broker.count_from(TOPIC, partition, from))
        .sum();
    assert_eq!(counted, 3);

    // More records wait: the lag grows by as many; without a commit a partition counts whole.
    broker.produce(TOPIC, 2, 4).await;
    let body = offsets(&app, &id).await;
    assert_eq!(rows(&body)[2], (2, Value::Null, 4, 4));
    assert_eq!(body["totalLag"], 7);
    assert_eq!(broker.count_from(TOPIC, 2, 0), 4);

    let (status, state) = json_of(
        app.get(&format!("/projects/global/belts/{id}/state"), &app.viewer())
            .await,
    )
    .await;
    assert_eq!(
        (status, &state["totalLag"]),
        (StatusCode::OK, &json!(7)),
        "{state}"
    );
}

async fn writes_while_stopped_move_the_group(backend: Backend) {
    let broker = Broker::start();
    let app = app_on(backend, Some(&broker.address)).await;
    let (id, group) = belt_with_waiting_records(&app, &broker).await;

    let (status, body) = json_of(put_offsets(&app, &id, &json!({"reset": "earliest"})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        rows(&body),
        [
            (0, json!(0), 5, 5),
            (1, json!(0), 3, 3),
            (2, json!(0), 0, 0)
        ]
    );
    assert_eq!(body["totalLag"], 8);
    assert_eq!(
        broker.committed(&group, TOPIC, 0),
        Some(0),
        "the broker keeps it"
    );
    assert_eq!(
        offsets(&app, &id).await,
        body,
        "GET shows what PUT answered"
    );

    let (status, body) = json_of(put_offsets(&app, &id, &json!({"reset": "latest"})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        rows(&body),
        [
            (0, json!(5), 5, 0),
            (1, json!(3), 3, 0),
            (2, json!(0), 0, 0)
        ]
    );
    assert_eq!(body["totalLag"], 0);

    let explicit = json!({"offsets": [{"topic": TOPIC, "partition": 0, "offset": 1}]});
    let (status, body) = json_of(put_offsets(&app, &id, &explicit).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        rows(&body),
        [
            (0, json!(1), 5, 4),
            (1, json!(3), 3, 0),
            (2, json!(0), 0, 0)
        ],
        "only the named partition moves"
    );
    assert_eq!(broker.committed(&group, TOPIC, 0), Some(1));

    let (status, body) = json_of(
        app.delete(
            &format!("/projects/global/belts/{id}/offsets"),
            &app.editor(),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        rows(&body),
        [
            (0, Value::Null, 5, 5),
            (1, Value::Null, 3, 3),
            (2, Value::Null, 0, 0)
        ]
    );
    assert_eq!(
        broker.committed(&group, TOPIC, 1),
        None,
        "the group is gone"
    );
    // Deleting what is already gone is fine.
    let again = app
        .delete(
            &format!("/projects/global/belts/{id}/offsets"),
            &app.editor(),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
}

async fn writes_while_running_are_refused_and_change_nothing(backend: Backend) {
    let broker = Broker::start();
    let app = app_on(backend, Some(&broker.address)).await;
    let (id, group) = belt_with_waiting_records(&app, &broker).await;
    let before = offsets(&app, &id).await;
    let path = format!("/projects/global/belts/{id}/state");
    let started = app
        .post(&path, &app.editor(), &json!({"action": "START"}))
        .await;
    assert_eq!(started.status(), StatusCode::OK);

    // Refused as soon as the belt is not STOPPED: while it deploys, and when it runs.
    let mut statuses = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, state) = json_of(app.get(&path, &app.viewer()).await).await;
        let status = state["status"].as_str().unwrap().to_string();
        for body in [json!({"reset": "earliest"}), json!({"reset": "latest"})] {
            let message = assert_error(
                put_offsets(&app, &id, &body).await,
                StatusCode::BAD_REQUEST,
                "bad_parameter_value",
            )
            .await;
            assert!(
                message.starts_with("Parameter 'state' must be 'STOPPED'"),
                "{message}"
            );
        }
        let deleted = app
            .delete(
                &format!("/projects/global/belts/{id}/offsets"),
                &app.editor(),
            )
            .await;
        let message = assert_error(deleted, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(
            ["DEPLOYING", "RUNNING"]
                .iter()
                .any(|s| message.ends_with(&format!("but is '{s}'."))),
            "{message}"
        );
        statuses.push(status.clone());
        if status == "RUNNING" {
            break;
        }
        assert!(Instant::now() < deadline, "never RUNNING: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // START created the belt's other topics (empty, uncommitted); what was there did not move.
    let after = offsets(&app, &id).await;
    let (kept, created): (Vec<Value>, Vec<Value>) = after["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .partition(|entry| before["offsets"].as_array().unwrap().contains(entry));
    assert_eq!(
        kept,
        *before["offsets"].as_array().unwrap(),
        "nothing moved"
    );
    assert!(
        created.iter().all(|entry| entry["committed"].is_null()),
        "{created:?}"
    );
    assert_eq!(after["totalLag"], before["totalLag"]);
    assert_eq!(broker.committed(&group, TOPIC, 0), Some(2));

    // After STOP the writes are allowed again.
    let stopped = app
        .post(&path, &app.editor(), &json!({"action": "STOP"}))
        .await;
    assert_eq!(stopped.status(), StatusCode::OK);
    let (status, body) = json_of(put_offsets(&app, &id, &json!({"reset": "earliest"})).await).await;
    assert_eq!(
        (status, &body["totalLag"]),
        (StatusCode::OK, &json!(8)),
        "{body}"
    );
}

async fn roles_and_bad_bodies_are_refused_naming_the_field(backend: Backend) {
    let broker = Broker::start();
    let app = app_on(backend, Some(&broker.address)).await;
    let (id, _) = belt_with_waiting_records(&app, &broker).await;
    let before = offsets(&app, &id).await;
    let path = format!("/projects/global/belts/{id}/offsets");

    let viewer = app.viewer();
    let put = app.put(&path, &viewer, &json!({"reset": "earliest"})).await;
    assert_error(put, StatusCode::FORBIDDEN, "entity_not_accessible").await;
    let put = app.put(&path, &viewer, &json!({"reset": "bogus"})).await;
    assert_error(put, StatusCode::FORBIDDEN, "entity_not_accessible").await;
    let delete = app.delete(&path, &viewer).await;
    assert_error(delete, StatusCode::FORBIDDEN, "entity_not_accessible").await;
    let other = app.token("elsewhere", &["editor", "viewer"]);
    let get = app.get(&path, &other).await;
    assert_error(get, StatusCode::FORBIDDEN, "entity_not_accessible").await;
    let missing = app
        .get("/projects/global/belts/999999/offsets", &viewer)
        .await;
    assert_error(missing, StatusCode::NOT_FOUND, "entity_not_found").await;

    let offset = |topic: &str, partition: Value, offset: Value| json!({"offsets": [{"topic": topic, "partition": partition, "offset": offset}]});
    let refusals = [
        (json!({}), "Parameter 'reset' is required"),
        (json!({"reset": "middle"}), "Parameter 'reset' must be 'earliest' or 'latest'"),
        (json!({"offsets": []}), "Parameter 'offsets' must name at least one partition."),
        (
            offset("grnry_data_in_other", json!(0), json!(0)),
            "Parameter 'offsets[0].topic' must be one of the belt's input topics",
        ),
        (
            offset(TOPIC, json!(3), json!(0)),
            "Parameter 'offsets[0].partition' must be a partition of 'grnry_data_in_orders' (it has 3)",
        ),
        (
            offset("grnry_data_in_returns", json!(0), json!(0)),
            "Parameter 'offsets[0].partition' must be a partition of 'grnry_data_in_returns' (it has 0)",
        ),
        (offset(TOPIC, json!(0), json!(-1)), "Parameter 'offsets[0].offset' must be a natural number"),
        (
            offset(TOPIC, json!(0), json!(6)),
            "Parameter 'offsets[0].offset' must be at most the partition's log-end offset 5",
        ),
    ];
    for (body, expected) in refusals {
        let response = app.put(&path, &app.editor(), &body).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(message.starts_with(expected), "{body}: {message}");
    }
    let not_json = app
        .request(reqwest::Method::PUT, &path, Some(&app.editor()))
        .body("{reset")
        .send()
        .await
        .unwrap();
    assert_error(not_json, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    // START created the belt's other topics (empty, uncommitted); what was there did not move.
    let after = offsets(&app, &id).await;
    let (kept, created): (Vec<Value>, Vec<Value>) = after["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .partition(|entry| before["offsets"].as_array().unwrap().contains(entry));
    assert_eq!(
        kept,
        *before["offsets"].as_array().unwrap(),
        "nothing moved"
    );
    assert!(
        created.iter().all(|entry| entry["committed"].is_null()),
        "{created:?}"
    );
    assert_eq!(after["totalLag"], before["totalLag"]);
}

/// The broker cannot try a commit or a group's deletion: `dryRun=true` is a 400 naming it (after
/// the role check), and the group keeps every offset; issue 18 found both writes made for real.
async fn dry_runs_of_offset_writes_are_refused_and_move_nothing(backend: Backend) {
    let broker = Broker::start();
    let app = app_on(backend, Some(&broker.address)).await;
    let (id, _) = belt_with_waiting_records(&app, &broker).await;
    let before = offsets(&app, &id).await;
    let path = format!("/projects/global/belts/{id}/offsets?dryRun=true");
    for body in [json!({"reset": "latest"}), json!({"reset": "earliest"})] {
        let response = app.put(&path, &app.editor(), &body).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(message.contains("'dryRun'"), "{message}");
        let viewer = app.put(&path, &app.viewer(), &body).await;
        assert_eq!(
            viewer.status(),
            StatusCode::FORBIDDEN,
            "the role answers first"
        );
    }
    let response = app.delete(&path, &app.editor()).await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.contains("'dryRun'"), "{message}");
    assert_eq!(offsets(&app, &id).await, before, "the group moved");
    // `dryRun=false` is the call itself.
    let real = app
        .delete(&path.replace("true", "false"), &app.editor())
        .await;
    assert_eq!(real.status(), StatusCode::OK);
    assert!(rows(&offsets(&app, &id).await)
        .iter()
        .all(|row| row.1.is_null()));
}

async fn the_gauge_follows_running_belts(backend: Backend) {
    let broker = Broker::start();
    let app = app_on(backend, Some(&broker.address)).await;
    let (id, _) = belt_with_waiting_records(&app, &broker).await;
    let series = format!("belt_api_belt_consumer_lag{{belt=\"{id}\",project=\"global\"}}");
    assert!(
        !metrics(&app).await.contains(&series),
        "a stopped belt has none"
    );

    let path = format!("/projects/global/belts/{id}/state");
    app.post(&path, &app.editor(), &json!({"action": "START"}))
        .await;
    wait_for_metrics(&app, &format!("{series} 3")).await;
    wait_for_metrics(&app, "belt_api_consumer_lag 3").await;
    broker.produce(TOPIC, 2, 2).await;
    wait_for_metrics(&app, &format!("{series} 5")).await;
    wait_for_metrics(&app, "belt_api_consumer_lag 5").await;

    app.post(&path, &app.editor(), &json!({"action": "STOP"}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while metrics(&app).await.contains(&series) {
        assert!(
            Instant::now() < deadline,
            "the series of a stopped belt stays"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metrics(app: &TestApp) -> String {
    let response = app
        .request(reqwest::Method::GET, "/metrics", None)
        .send()
        .await
        .unwrap();
    response.text().await.unwrap()
}

async fn wait_for_metrics(app: &TestApp, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = metrics(app).await;
        if text.lines().any(|l| l == line) {
            return;
        }
        assert!(Instant::now() < deadline, "never saw {line}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_data_plane_there_are_no_offsets() {
    let app = app_on(Backend::Sqlite, None).await;
    let belt = app.create_belt("global", &minimal_belt("planeless")).await;
    let id = belt["id"].as_str().unwrap();
    let path = format!("/projects/global/belts/{id}/offsets");
    let get = app.get(&path, &app.viewer()).await;
    let message = assert_error(get, StatusCode::NOT_FOUND, "entity_not_found").await;
    assert!(message.contains("no data plane"), "{message}");
    let put = app
        .put(&path, &app.editor(), &json!({"reset": "earliest"}))
        .await;
    assert_error(put, StatusCode::NOT_FOUND, "entity_not_found").await;
    let (_, state) = json_of(
        app.get(&format!("/projects/global/belts/{id}/state"), &app.viewer())
            .await,
    )
    .await;
    assert!(state.get("totalLag").is_none(), "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_does_not_answer_is_a_503_and_the_state_still_answers() {
    // A port that accepts nothing.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap().to_string();
    drop(closed);
    let app = app_on(Backend::Sqlite, Some(&address)).await;
    let belt = app
        .create_belt("global", &minimal_belt("unreachable"))
        .await;
    let id = belt["id"].as_str().unwrap();
    let started = Instant::now();
    let get = app
        .get(
            &format!("/projects/global/belts/{id}/offsets"),
            &app.viewer(),
        )
        .await;
    assert_error(get, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the dependency timeout"
    );
    let put = put_offsets(&app, id, &json!({"reset": "earliest"})).await;
    assert_error(put, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    let started = Instant::now();
    let (status, state) = json_of(
        app.get(&format!("/projects/global/belts/{id}/state"), &app.viewer())
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(state.get("totalLag").is_none(), "{state}");
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "the state waits at most a second for the lag"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_with_members_keeps_its_offsets() {
    let broker = Broker::start();
    let app = app_on(Backend::Sqlite, Some(&broker.address)).await;
    let (id, group) = belt_with_waiting_records(&app, &broker).await;
    // A replica that has not left yet, though the belt is STOPPED.
    let member = broker.member(&group, TOPIC);
    let put = put_offsets(&app, &id, &json!({"reset": "earliest"})).await;
    let message = assert_error(put, StatusCode::CONFLICT, "conflict").await;
    assert!(message.contains("still has active members"), "{message}");
    let delete = app
        .delete(
            &format!("/projects/global/belts/{id}/offsets"),
            &app.editor(),
        )
        .await;
    assert_error(delete, StatusCode::CONFLICT, "conflict").await;
    drop(member);
    assert_eq!(broker.committed(&group, TOPIC, 0), Some(2));
}

/// Acceptance: a reset to earliest while STOPPED makes the next START process everything again,
/// through the real belt host that consumes and produces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_to_earliest_reprocesses_everything_after_the_next_start() {
    const CALLBACK: &str = "from time import time\nfrom grnry_belt.models.update import Update\n\n\
        def execute(headers, event):\n    update = Update('c', ['dummy']).set_value('seen', 0.5, \
        time(), 'P1D', 'offsets-test')\n    update.set_type('TestProfileType')\n    return [update]\n";
    let broker = Broker::start();
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Options {
            args: vec![
                ("--kafka-bootstrap".into(), broker.address.clone()),
                ("--local-sandbox".into(), "none".into()),
                ("--reconcile-interval-ms".into(), "300".into()),
                (
                    "--kafka-destination-topics".into(),
                    "profile-update,offsets-test-out".into(),
                ),
            ],
            ..Default::default()
        },
    )
    .await;
    let body = json!({"name": "again", "eventTypes": ["orders"], "extractorFn": CALLBACK,
        "kafkaDestinationTopic": "offsets-test-out"});
    let belt = app.create_belt("global", &body).await;
    let id = belt["id"].as_str().unwrap().to_string();
    broker.create_topic(TOPIC, 2).await;
    broker.create_topic("offsets-test-out", 1).await;
    broker.produce(TOPIC, 0, 4).await;
    broker.produce(TOPIC, 1, 2).await;
    let state = format!("/projects/global/belts/{id}/state");

    app.post(&state, &app.editor(), &json!({"action": "START"}))
        .await;
    wait_until_caught_up(&app, &id).await;
    assert_eq!(broker.count_from("offsets-test-out", 0, 0), 6);
    app.post(&state, &app.editor(), &json!({"action": "STOP"}))
        .await;

    // The replica may still be leaving the group: 409 until it has.
    let deadline = Instant::now() + Duration::from_secs(30);
    let reset = loop {
        let response = put_offsets(&app, &id, &json!({"reset": "earliest"})).await;
        if response.status() != StatusCode::CONFLICT {
            break json_of(response).await;
        }
        assert!(Instant::now() < deadline, "the group never emptied");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        (reset.0, &reset.1["totalLag"]),
        (StatusCode::OK, &json!(6)),
        "{}",
        reset.1
    );

    app.post(&state, &app.editor(), &json!({"action": "START"}))
        .await;
    wait_until_caught_up(&app, &id).await;
    assert_eq!(
        broker.count_from("offsets-test-out", 0, 0),
        12,
        "every input processed a second time"
    );
}

async fn wait_until_caught_up(app: &TestApp, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = offsets(app, id).await;
        let committed_everywhere = body["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|row| row["committed"] == row["logEnd"]);
        if body["totalLag"] == 0 && committed_everywhere {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the belt never caught up: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
