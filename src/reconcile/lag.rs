//! The lag controller: keeps `belt_consumer_lag` current for every running belt
//! (docs/api.md#offsets) and a sample of each measurement in the store, the belt's lag over time
//! (docs/api.md#lag-over-time). One pass (`measure_once`) measures each running belt's consumer
//! group, removes the gauges of belts that no longer run and forgets samples older than a day;
//! `run` repeats it every interval. A belt whose lag cannot be measured loses its gauge rather
//! than keeping a stale number, and gets no sample.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};

use crate::broker::GroupOffsets;
use crate::domain::belt::now_millis;
use crate::domain::lag_series::{LagSample, RETENTION};
use crate::domain::offsets::read_topics;
use crate::domain::{BeltId, DesiredState};
use crate::metrics::Metrics;
use crate::store::{LagLog, ReconcilerView, StoreError};

const MEASURED_AT_ONCE: usize = 8;

pub struct LagWatch {
    store: Arc<dyn ReconcilerView>,
    samples: Arc<dyn LagLog>,
    offsets: Arc<dyn GroupOffsets>,
    metrics: Arc<Metrics>,
    interval: Duration,
}

impl LagWatch {
    pub fn new(
        store: Arc<dyn ReconcilerView>,
        samples: Arc<dyn LagLog>,
        offsets: Arc<dyn GroupOffsets>,
        metrics: Arc<Metrics>,
        interval: Duration,
    ) -> Self {
        LagWatch {
            store,
            samples,
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
        self.samples.prune_lag(now_millis() - RETENTION).await?;
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
                let sample = LagSample::measured(now_millis(), &positions);
                let project = belt.project.to_string();
                (self.metrics).set_consumer_lag(belt.id, &project, sample.total_lag);
                self.samples.record_lag(&belt, sample).await?;
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
