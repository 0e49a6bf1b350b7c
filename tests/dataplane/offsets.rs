//! `partitionOffsets` on the first start only; every later start continues from the group's
//! committed offsets.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::support::{callback, correlation_ids, ids, produce, read, Api};

#[tokio::test]
async fn partition_offsets_apply_on_the_first_start_and_later_starts_continue_from_commits() {
    let api = Api::start();
    let (id, input, destination) = (104, "grnry_data_in_dp-offsets", "dp-updates-104");
    // Events 0..20 alternate between partitions 0 and 1: offsets 0..10 on each.
    let fields = json!({
        "extractorFn": callback(""),
        "partitionOffsets": { input: [3, 7] },
    });
    api.create_belt(id, "dp-offsets", destination, fields).await;
    let topics = [(input, 2), (destination, 1), ("grnry_belt_dlq_104", 1)];
    crate::support::create_topics(&topics).await;
    let produced = produce(input, 0, 20, 2).await;
    api.run_belt(id, &topics).await;

    // Partition 0 from offset 3, partition 1 from offset 7.
    let first: Vec<u64> = produced
        .iter()
        .filter(|(_, partition, offset)| *offset >= [3, 7][*partition as usize])
        .map(|(n, _, _)| *n)
        .collect();
    assert_eq!(first.len(), 7 + 3);
    let linger = Duration::from_secs(3);
    let updates = read(destination, first.len(), Duration::from_secs(30), linger).await;
    assert_eq!(correlation_ids(&updates), expected(&first), "{}", api.log());

    api.act(id, "STOP").await;
    api.wait_for(id, "STOPPED").await;
    produce(input, 20, 10, 2).await;
    api.act(id, "START").await;
    api.wait_for(id, "RUNNING").await;

    // Only the new events: neither what partitionOffsets skipped nor what was done again.
    let mut all = first.clone();
    all.extend(20..30);
    let updates = read(destination, all.len(), Duration::from_secs(30), linger).await;
    assert_eq!(correlation_ids(&updates), expected(&all), "{}", api.log());
}

fn expected(numbers: &[u64]) -> BTreeMap<String, usize> {
    ids(numbers.iter().copied())
        .into_iter()
        .map(|id| (id, 1))
        .collect()
}
