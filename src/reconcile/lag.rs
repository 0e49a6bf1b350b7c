//! The lag controller: keeps `belt_consumer_lag` current for every running belt
//! (docs/api.md#offsets). One pass (`measure_once`) measures each running belt's consumer group
//! and removes the series of belts that no longer run; `run` repeats it every interval. A belt
//! whose lag cannot be measured loses its series rather than keeping a stale number.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};

use crate::broker::GroupOffsets;
use crate::domain::offsets::{read_topics, total_lag};
use crate::domain::{BeltId, DesiredState};
use crate::metrics::Metrics;
use crate::store::{ReconcilerView, StoreError};

const MEASURED_AT_ONCE: usize = 8;

pub struct LagWatch {
    store: Arc<dyn ReconcilerView>,
    offsets: Arc<dyn GroupOffsets>,
    metrics: Arc<Metrics>,
    interval: Duration,
}

impl LagWatch {
    pub fn new(
        store: Arc<dyn ReconcilerView>,
        offsets: Arc<dyn GroupOffsets>,
        metrics: Arc<Metrics>,
        interval: Duration,
    ) -> Self {
        LagWatch {
            store,
            offsets,
            metrics,
            interval,
        }
    }

    /// One pass; answers how many belts were measured.
    pub async fn measure_once(&self) -> Result<usize, StoreError> {
        let running: Vec<_> = (self.store.wish_summaries().await?.active)
            .into_iter()
            .filter(|w| w.desired == DesiredState::Running)
            .collect();
        // A few at a time: one slow group does not hold up the others for long.
        let kept: BTreeSet<(String, String)> = stream::iter(running)
            .map(|wish| self.measure(wish.id))
            .buffer_unordered(MEASURED_AT_ONCE)
            .filter_map(|measured| async move { measured.transpose() })
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let measured = kept.len();
        for (id, project) in self.metrics.consumer_lag_belts() {
            if !kept.contains(&(id.clone(), project.clone())) {
                self.metrics.forget_consumer_lag(&id, &project);
            }
        }
        Ok(measured)
    }

    /// The belt's lag into the gauge; `None` when it is gone or its lag cannot be measured.
    async fn measure(&self, id: BeltId) -> Result<Option<(String, String)>, StoreError> {
        let Some(belt) = self.store.get_any(id).await? else {
            return Ok(None);
        };
        let group = belt.kafka_consumer_group_name();
        match self.offsets.positions(&group, &read_topics(&belt)).await {
            Ok(positions) => {
                let project = belt.project.to_string();
                (self.metrics).set_consumer_lag(belt.id, &project, total_lag(&positions));
                Ok(Some((belt.id.to_string(), project)))
            }
            Err(err) => {
                tracing::warn!(belt = %belt.id, error = %err, "lag not measured");
                Ok(None)
            }
        }
    }

    /// Measures every interval, until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        loop {
            if let Err(err) = self.measure_once().await {
                tracing::warn!(error = %err, "lag pass failed: the store did not answer");
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}
