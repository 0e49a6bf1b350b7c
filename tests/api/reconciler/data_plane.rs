//! The reconciler and the data plane: replicas receive an existing Kafka's address as
//! `KAFKA_BOOTSTRAP_SERVERS`, and a belt whose topics cannot be created is not deployed (the error
//! policy retries it). tests/broker/ covers the embedded broker through the real binary.

use std::sync::Arc;
use std::time::Duration;

use belt_api::domain::replica::EnvValue;

use super::fakes::FakeRuntime;
use super::{app_on, id_of, metrics_text, series, start, status};
use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    replicas_receive_the_existing_kafkas_address,
    a_belt_whose_topics_cannot_be_created_is_not_deployed,
);

/// Port 9 on loopback: nothing listens, so every Kafka call fails or hangs.
const NO_KAFKA: &str = "127.0.0.1:9";

async fn replicas_receive_the_existing_kafkas_address(backend: Backend) {
    let fake = Arc::new(FakeRuntime::default());
    let app = app_on(
        &fake,
        backend,
        &[
            ("--kafka-bootstrap", NO_KAFKA),
            ("--kafka-create-topics", "false"),
        ],
    )
    .await;
    let id = id_of(&app.create_belt("global", &minimal_belt("b")).await);
    start(&app, id).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fake.specs.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let specs = fake.specs.lock().unwrap().clone();
    let spec = specs.first().expect("the belt was deployed");
    assert!(
        matches!(spec.env_value("KAFKA_BOOTSTRAP_SERVERS"), Some(EnvValue::Plain(v)) if v == NO_KAFKA),
        "{:?}",
        spec.env_value("KAFKA_BOOTSTRAP_SERVERS")
    );
}

async fn a_belt_whose_topics_cannot_be_created_is_not_deployed(backend: Backend) {
    let fake = Arc::new(FakeRuntime::default());
    let app = app_on(
        &fake,
        backend,
        &[
            ("--kafka-bootstrap", NO_KAFKA),
            ("--reconcile-call-timeout-ms", "1000"),
            ("--reconcile-backoff-ms", "60000"),
            ("--metrics-per-belt", "true"),
        ],
    )
    .await;
    let id = id_of(&app.create_belt("global", &minimal_belt("b")).await);
    start(&app, id).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        fake.apply_times(id).is_empty(),
        "deployed without its topics"
    );
    assert_eq!(status(&app, id).await, "DEPLOYING");
    let retries = format!("belt_api_belt_reconcile_retries_total{{belt=\"{id}\"}}");
    assert_eq!(
        series(&metrics_text(&app).await, &retries),
        Some(1.0),
        "one failure, retried later"
    );
}
