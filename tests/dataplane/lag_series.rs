//! A belt's lag over time against the broker: with a belt consuming events produced at a known
//! rate for a minute, the series read through `GET …/lag` matches what a Kafka client measures of
//! the belt's consumer group at the same moments, within one sample interval.

use std::time::Duration;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::support::{broker, callback, kafka, Api};

const RATE: i64 = 20;
const SECONDS: i64 = 60;
/// BELT_KAFKA_LAG_INTERVAL_MS of the test.
const INTERVAL_MS: i64 = 1000;

fn epoch_ms(time: &Value) -> i64 {
    let at = OffsetDateTime::parse(time.as_str().unwrap(), &Rfc3339).unwrap();
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The client's measurement nearest to `at`.
fn nearest(measured: &[Value], at: i64) -> &Value {
    (measured.iter())
        .min_by_key(|m| (m["at"].as_i64().unwrap() - at).abs())
        .unwrap()
}

#[tokio::test]
async fn the_lag_series_matches_what_a_kafka_client_measures() {
    let interval = INTERVAL_MS.to_string();
    let api = Api::start_with(&[("BELT_KAFKA_LAG_INTERVAL_MS", &interval)]);
    let (id, input, destination) = (109, "grnry_data_in_dp-lag", "dp-updates-109");
    let fields = json!({ "extractorFn": callback("") });
    api.create_belt(id, "dp-lag", destination, fields).await;
    api.run_belt(
        id,
        &[(input, 1), (destination, 1), ("grnry_belt_dlq_109", 1)],
    )
    .await;
    let group = api.read(&format!("/belts/{id}")).await["kafkaConsumerGroupName"]
        .as_str()
        .unwrap()
        .to_string();

    let (rate, seconds) = (RATE.to_string(), SECONDS.to_string());
    let address = &broker().address;
    let args = ["paced", address, input, &group, &rate, &seconds];
    let measured = kafka(&args).await;
    assert_eq!(measured.len(), SECONDS as usize);
    tokio::time::sleep(Duration::from_millis(2 * INTERVAL_MS as u64)).await;
    let series = api.read(&format!("/belts/{id}/lag?since=5m")).await;
    let samples = series["samples"].as_array().unwrap();
    let first = measured[0]["at"].as_i64().unwrap();
    let last = measured[SECONDS as usize - 1]["at"].as_i64().unwrap();
    let during: Vec<&Value> = (samples.iter())
        .filter(|s| (first..=last).contains(&epoch_ms(&s["time"])))
        .collect();
    // About one sample a second while the belt ran.
    assert!(during.len() as i64 >= SECONDS * 3 / 4, "{series}");

    // Each sample's lag is what the client saw at the nearest moment, within what one interval
    // of events adds.
    let slack = RATE * INTERVAL_MS / 1000 + RATE;
    for sample in &during {
        let client = nearest(&measured, epoch_ms(&sample["time"]));
        let seen = client["logEnd"].as_i64().unwrap() - client["committed"].as_i64().unwrap();
        let shown = sample["totalLag"].as_i64().unwrap();
        assert!((shown - seen).abs() <= slack, "{sample} against {client}");
    }

    // What the rates add up to is what the group committed meanwhile, within one interval.
    let consumed: f64 = during
        .windows(2)
        .map(|pair| {
            let seconds = (epoch_ms(&pair[1]["time"]) - epoch_ms(&pair[0]["time"])) as f64 / 1000.0;
            pair[1]["recordsPerSecond"].as_f64().unwrap_or(0.0) * seconds
        })
        .sum();
    let from = nearest(&measured, epoch_ms(&during[0]["time"]));
    let to = nearest(&measured, epoch_ms(&during[during.len() - 1]["time"]));
    let committed = to["committed"].as_i64().unwrap() - from["committed"].as_i64().unwrap();
    assert!(
        (consumed - committed as f64).abs() <= (2 * slack) as f64,
        "the series says {consumed:.0} records consumed, the client {committed}: {series}"
    );
    // And the rate is the rate the events came at.
    let mut rates: Vec<f64> = (during.iter())
        .filter_map(|s| s["recordsPerSecond"].as_f64())
        .collect();
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    assert!(
        (median - RATE as f64).abs() <= RATE as f64 / 2.0,
        "median {median}/s: {series}"
    );
    println!(
        "{} samples, median {median:.1} records/s, {consumed:.0} consumed (client: {committed})",
        during.len()
    );
}
