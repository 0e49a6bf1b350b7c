//! A record whose callback raises goes to the belt's error topic, with the traceback and where it
//! came from; the others go on.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;

use crate::support::{callback, correlation_ids, ids, produce, read, Api};

#[tokio::test]
async fn every_tenth_event_raises_and_exactly_those_go_to_the_error_topic() {
    let api = Api::start();
    let (id, input, destination) = (102, "grnry_data_in_dp-raising", "dp-updates-102");
    let dlq = "grnry_belt_dlq_102";
    let raising =
        "    if event[\"n\"] % 10 == 9:\n        raise ValueError(f\"no good: {event['n']}\")\n";
    let fields = json!({ "extractorFn": callback(raising) });
    api.create_belt(id, "dp-raising", destination, fields).await;
    api.run_belt(id, &[(input, 3), (destination, 3), (dlq, 1)])
        .await;

    let produced: BTreeMap<u64, (i64, i64)> = produce(input, 0, 1000, 3)
        .await
        .into_iter()
        .map(|(n, partition, offset)| (n, (partition, offset)))
        .collect();
    let linger = Duration::from_secs(2);
    let dead = read(dlq, 100, Duration::from_secs(30), linger).await;
    let updates = read(destination, 900, Duration::from_secs(30), linger).await;

    assert_eq!(dead.len(), 100, "{}", api.log());
    assert_eq!(updates.len(), 900);
    let raised: BTreeSet<u64> = (0..1000).filter(|n| n % 10 == 9).collect();
    let kept: Vec<u64> = (0..1000).filter(|n| !raised.contains(n)).collect();
    assert_eq!(
        correlation_ids(&updates)
            .into_keys()
            .collect::<BTreeSet<_>>(),
        ids(kept).into_iter().collect()
    );
    for record in &dead {
        let value = &record["value"];
        let n: u64 = value["key"].as_str().unwrap().parse().unwrap();
        assert!(raised.contains(&n), "{record}");
        let (partition, offset) = produced[&n];
        assert_eq!(value["topic"], input);
        assert_eq!(value["partition"], partition);
        assert_eq!(value["offset"], offset);
        assert_eq!(value["headers"]["grnry-correlation-id"], format!("c-{n}"));
        assert_eq!(record["headers"]["grnry-correlation-id"], format!("c-{n}"));
        assert_eq!(value["value"], format!("{{\"n\": {n}}}"));
        assert_eq!(value["error"], format!("ValueError: no good: {n}"));
        assert_eq!(value["reason"], "execute raised");
        let traceback = value["traceback"].as_str().unwrap();
        assert!(
            traceback.contains("callback.py\", line 3, in execute"),
            "{traceback}"
        );
        assert!(
            traceback.ends_with(&format!("ValueError: no good: {n}\n")),
            "{traceback}"
        );
    }
    assert_eq!(
        correlation_ids(&dead).into_keys().collect::<BTreeSet<_>>(),
        ids(raised).into_iter().collect()
    );
}
