//! Readiness (docs/api.md#process-and-service-endpoints): the database answers a real round trip.

use std::time::Duration;

use super::{BeltError, Belts, Dependency};

/// How long readiness waits for the database: a probe must answer well before its own deadline.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

impl Belts {
    pub async fn ready(&self) -> Result<(), BeltError> {
        match tokio::time::timeout(READY_TIMEOUT, self.store.ping()).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(BeltError::Unavailable(Dependency::DatabaseProbe(
                READY_TIMEOUT,
            ))),
        }
    }
}
