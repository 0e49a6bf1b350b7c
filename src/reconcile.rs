//! Drives each runtime toward the stored wishes: on every wish (woken), periodically, and at
//! startup. `reconcile_once` is the whole step, so tests can drive it deterministically.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::domain::replica::ReplicaSpec;
use crate::domain::{Belt, BeltId, BeltStatus};
use crate::http::metrics::Metrics;
use crate::runtime::Runtime;
use crate::state::status_of;
use crate::store::BeltStore;

pub struct Reconciler {
    store: Arc<dyn BeltStore>,
    runtime: Arc<dyn Runtime>,
    metrics: Arc<Metrics>,
    wake: Notify,
}

/// What one step did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub applied: Vec<BeltId>,
    pub removed: Vec<BeltId>,
    pub failed: Vec<BeltId>,
}

impl Reconciler {
    pub fn new(
        store: Arc<dyn BeltStore>,
        runtime: Arc<dyn Runtime>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Reconciler {
            store,
            runtime,
            metrics,
            wake: Notify::new(),
        }
    }

    /// Asks for a step soon (after a wish was stored).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// One pass: apply every RUNNING wish the runtime does not run yet, remove what runs without
    /// a wish. A failure on one belt does not stop the others; it is retried next pass.
    #[tracing::instrument(skip_all)]
    pub async fn reconcile_once(&self) -> anyhow::Result<Report> {
        let started = Instant::now();
        let result = self.step().await;
        self.metrics.observe_reconcile(
            started.elapsed(),
            result.as_ref().map_or(true, |r| !r.failed.is_empty()),
        );
        result
    }

    async fn step(&self) -> anyhow::Result<Report> {
        let mut report = Report::default();
        let running = self.store.running_belts().await?;
        let wanted: HashSet<BeltId> = running.iter().map(|b| b.id).collect();
        let mut statuses = std::collections::HashMap::<BeltStatus, u64>::new();
        for belt in &running {
            if self.is_current(belt) {
                *statuses
                    .entry(status_of(belt, self.runtime.observe(belt.id)))
                    .or_default() += 1;
                continue;
            }
            let Some(spec) = replica_spec(belt) else {
                continue;
            };
            match self.runtime.apply(&spec).await {
                Ok(()) => {
                    tracing::info!(belt = %belt.id, version = spec.version, generation = spec.generation, "deployed");
                    report.applied.push(belt.id);
                }
                Err(err) => {
                    tracing::warn!(belt = %belt.id, error = %err, "deploying failed; will retry");
                    report.failed.push(belt.id);
                }
            }
            *statuses
                .entry(status_of(belt, self.runtime.observe(belt.id)))
                .or_default() += 1;
        }
        for id in self.runtime.deployed() {
            if wanted.contains(&id) {
                continue;
            }
            match self.runtime.remove(id).await {
                Ok(()) => {
                    tracing::info!(belt = %id, "removed: no longer wished to run");
                    report.removed.push(id);
                }
                Err(err) => {
                    tracing::warn!(belt = %id, error = %err, "removing failed; will retry");
                    report.failed.push(id);
                }
            }
        }
        let (_, stopped) = self.store.count_by_desired_state().await?;
        statuses.insert(BeltStatus::Stopped, stopped);
        self.metrics.set_belts_by_status(&statuses);
        Ok(report)
    }

    /// The runtime already runs exactly the wished generation and version.
    fn is_current(&self, belt: &Belt) -> bool {
        match (self.runtime.observe(belt.id), &belt.wish.deployed) {
            (Some(observed), Some(deployed)) => {
                observed.generation == belt.wish.generation && observed.version == deployed.version
            }
            _ => false,
        }
    }

    /// Steps on every wake-up and every `interval` until `shutdown` resolves.
    pub async fn run(
        self: Arc<Self>,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            if let Err(err) = self.reconcile_once().await {
                tracing::warn!(error = %err, "reconcile pass failed; will retry");
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {},
                _ = tokio::time::sleep(interval) => {},
            }
        }
    }
}

/// What the runtime should run for a RUNNING wish.
pub fn replica_spec(belt: &Belt) -> Option<ReplicaSpec> {
    let deployed = belt.wish.deployed.as_ref()?;
    Some(ReplicaSpec::build(
        belt,
        &deployed.spec,
        deployed.version,
        belt.wish.generation,
        belt.wish.is_first_start(),
    ))
}
