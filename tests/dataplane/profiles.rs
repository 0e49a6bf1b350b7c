//! `FETCH_PROFILE`: the event's profile comes from the profile store belt-api is configured with
//! (`BELT_PROFILE_STORE_URL`) into `execute`; a belt that needs one on a belt-api without a store
//! fails at startup, saying why.

use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{create_topics, produce, read, Api};

const PROFILE_CALLBACK: &str = "def execute(headers, event, profile):\n    \
    return {\"keys\": [str(event[\"n\"])], \"values\": [{\"value\": profile}]}\n";

#[tokio::test]
async fn a_fetched_profile_reaches_execute_and_a_missing_store_fails_the_belt_at_startup() {
    let store = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/profiles/_d/[0-9]+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tier": "gold"})))
        .mount(&store)
        .await;
    let api = Api::start_with(&[("BELT_PROFILE_STORE_URL", &store.uri())]);
    let (id, input, destination) = (105, "grnry_data_in_dp-profiles", "dp-updates-105");
    let fields = json!({
        "extractorFn": PROFILE_CALLBACK,
        "fetchProfile": "TRUE",
        "secret": "profile-store",
        "secretUsername": "user",
        "secretPassword": "password",
    });
    api.create_belt(id, "dp-profiles", destination, fields)
        .await;
    api.run_belt(
        id,
        &[(input, 1), (destination, 1), ("grnry_belt_dlq_105", 1)],
    )
    .await;
    produce(input, 0, 5, 1).await;
    let updates = read(destination, 5, Duration::from_secs(30), Duration::ZERO).await;
    assert_eq!(updates.len(), 5, "{}", api.log());
    for update in &updates {
        assert_eq!(
            update["value"]["values"][0]["value"],
            json!({"tier": "gold"})
        );
    }
    let mut asked: Vec<String> = store
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| request.url.path().to_string())
        .collect();
    asked.sort();
    asked.dedup();
    assert_eq!(
        asked,
        (0..5)
            .map(|n| format!("/profiles/_d/{n}"))
            .collect::<Vec<_>>()
    );

    drop(api);
    let api = Api::start();
    let unconfigured = json!({
        "extractorFn": PROFILE_CALLBACK,
        "fetchProfile": "TRUE",
        "secret": "profile-store",
        "secretUsername": "user",
        "secretPassword": "password",
    });
    api.create_belt(106, "dp-profiles", "dp-updates-106", unconfigured)
        .await;
    create_topics(&[("dp-updates-106", 1), ("grnry_belt_dlq_106", 1)]).await;
    api.act(106, "START").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let state = loop {
        let state = api.status(106).await;
        if state["status"] == "FAILED" {
            break state;
        }
        assert!(Instant::now() < deadline, "not FAILED: {state:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let terminated = &state["podStatus"][0]["containerStatus"][0]["lastState"]["terminated"];
    assert_eq!(terminated["exitCode"], 2, "{state:#}");
    let message = terminated["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no profile store is configured"),
        "{state:#}"
    );
}
