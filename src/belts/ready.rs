//! Readiness (docs/api.md#process-and-service-endpoints): the database answers a real round trip,
//! and the embedded Kafka broker, when belt-api runs one, serves.

use std::time::Duration;

use super::{BeltError, Belts, Dependency};

/// How long readiness waits for the database: a probe must answer well before its own deadline.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

impl Belts {
    pub async fn ready(&self) -> Result<(), BeltError> {
        match tokio::time::timeout(READY_TIMEOUT, self.store.ping()).await {
            Ok(answer) => answer?,
            Err(_) => {
                return Err(BeltError::Unavailable(Dependency::DatabaseProbe(
                    READY_TIMEOUT,
                )))
            }
        }
        let broker = &self.reconciler.settings().broker_health;
        if broker.as_ref().is_some_and(|health| !health.is_up()) {
            return Err(BeltError::Unavailable(Dependency::Runtime(
                "the embedded Kafka broker is restarting".into(),
            )));
        }
        Ok(())
    }
}
