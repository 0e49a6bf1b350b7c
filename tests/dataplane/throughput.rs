//! A belt turns every event into an update that carries the event's correlation id.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{callback, correlation_ids, create_topics, ids, produce, read, Api};

#[tokio::test]
async fn a_thousand_events_become_a_thousand_updates_with_their_correlation_ids() {
    let api = Api::start();
    let (id, input, destination) = (101, "grnry_data_in_dp-thousand", "dp-updates-101");
    let fields = json!({ "extractorFn": callback("") });
    api.create_belt(id, "dp-thousand", destination, fields)
        .await;
    api.run_belt(
        id,
        &[(input, 3), (destination, 3), ("grnry_belt_dlq_101", 1)],
    )
    .await;

    let started = Instant::now();
    produce(input, 0, 1000, 3).await;
    let updates = read(destination, 1000, Duration::from_secs(30), Duration::ZERO).await;
    let took = started.elapsed();

    assert_eq!(updates.len(), 1000, "{}", api.log());
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let seen = correlation_ids(&updates);
    let wanted = ids(0..1000);
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>().len(), 1000);
    assert!(wanted.iter().all(|id| seen[id] == 1));
    for update in &updates {
        let n = update["value"]["values"][0]["value"].as_u64().unwrap();
        assert_eq!(update["headers"]["grnry-correlation-id"], format!("c-{n}"));
        assert_eq!(update["value"]["correlationId"], format!("c-{n}"));
        assert_eq!(update["key"], n.to_string());
        // Provenance is the platform's opt-in (BELT_RECORD_SOURCE_HEADER), off by default.
        assert!(update["headers"].get("grnry-source").is_none(), "{update}");
    }
    println!("1000 events → 1000 updates in {took:?}");
}

#[tokio::test]
async fn with_the_source_header_on_each_update_names_its_belt_version_and_event() {
    let api = Api::start_with(&[("BELT_RECORD_SOURCE_HEADER", "true")]);
    let (id, input, destination) = (107, "grnry_data_in_dp-source", "dp-updates-107");
    let fields = json!({ "extractorFn": callback("") });
    api.create_belt(id, "dp-source", destination, fields).await;
    api.run_belt(
        id,
        &[(input, 2), (destination, 1), ("grnry_belt_dlq_107", 1)],
    )
    .await;

    let produced = produce(input, 0, 20, 2).await;
    let updates = read(destination, 20, Duration::from_secs(30), Duration::ZERO).await;
    assert_eq!(updates.len(), 20, "{}", api.log());
    for update in &updates {
        let n = update["value"]["values"][0]["value"].as_u64().unwrap();
        let (_, partition, offset) = produced.iter().find(|(m, _, _)| *m == n).unwrap();
        assert_eq!(
            update["headers"]["grnry-source"],
            format!("{id}/1/{input}/{partition}/{offset}"),
            "{update}"
        );
    }
}

/// A backlog goes out in full batches: a fetch answers about one of the producer's record batches,
/// so a host that took only what its client held went through a backlog of small record batches in
/// batches of their size, and each batch costs the broker a produce, a flush and a commit. The
/// host's report line counts its batches.
#[tokio::test]
async fn a_backlog_of_small_record_batches_is_consumed_in_full_batches() {
    let api = Api::start();
    let (id, input, destination) = (108, "grnry_data_in_dp-backlog", "dp-updates-108");
    let fields = json!({ "extractorFn": callback("") });
    api.create_belt(id, "dp-backlog", destination, fields).await;
    create_topics(&[(input, 1), (destination, 1), ("grnry_belt_dlq_108", 1)]).await;
    // 30 producers of 100 events each: at least 30 record batches of at most 100 records.
    for round in 0..30 {
        produce(input, round * 100, 100, 1).await;
    }
    api.act(id, "START").await;
    let updates = read(destination, 3000, Duration::from_secs(60), Duration::ZERO).await;
    assert_eq!(updates.len(), 3000, "{}", api.log());
    // The host reports its counts every 10 s.
    let total = "in total: 3000 record(s) in ";
    let deadline = Instant::now() + Duration::from_secs(30);
    let logs = loop {
        let logs = api.logs(id).await.to_string();
        if logs.contains(total) || Instant::now() > deadline {
            break logs;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let at = logs
        .find(total)
        .unwrap_or_else(|| panic!("no total in {logs}"))
        + total.len();
    let batches: u32 = logs[at..].split(' ').next().unwrap().parse().unwrap();
    // Three full batches, and a few cut short by the 0.3 s a batch waits for more.
    assert!(batches <= 10, "3000 records in {batches} batches: {logs}");
    println!("3000 records in {batches} batches");
}
