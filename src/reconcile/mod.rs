//! The reconciler, a controller in the kube-rs sense (docs/architecture.md#the-reconciler): a
//! work queue of belt ids, woken by wishes, by the runtime's phase events and by a periodic
//! resync that compares wish summaries with what runs; a few workers reconcile one belt each,
//! every runtime call under a deadline, and a failing belt is retried with a growing delay.
//! `reconcile_once` (resync and drain) and `reconcile(id)` let tests drive it step by step.

mod backoff;
mod belt;
mod delete;
mod expectations;
mod lag;
mod queue;
mod resync;
mod run;
mod status_events;
mod topics;
mod wakers;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, Notify};

use crate::broker::embedded::Health;
use crate::broker::TopicAdmin;
use crate::domain::replica::{Platform, ReplicaSpec};
use crate::domain::{Belt, BeltId};
use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::store::ReconcilerView;
pub use backoff::Backoff;
pub use belt::{Outcome, ReconcileError};
pub use lag::LagWatch;
pub use status_events::StatusEvents;
pub use topics::belt_topics;

use queue::WorkQueue;

/// How the controller paces itself.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Between two resyncs.
    pub interval: Duration,
    /// Belts reconciled at the same time.
    pub workers: usize,
    /// The deadline of each runtime call (apply, remove).
    pub call_timeout: Duration,
    /// The error policy: first retry delay, doubling per failure up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// How long a DELETE waits for the reconciler to confirm before answering 503.
    pub delete_wait: Duration,
    /// The platform's addresses that replicas receive (data plane, profile store).
    pub platform: Platform,
    /// The embedded broker's health, when belt-api runs one (readiness reports it).
    pub broker_health: Option<Health>,
    /// Test-only: a wait before each teardown of a deleted belt, the DELETING wish stored and
    /// nothing removed yet, where a crash test kills the API. `None` outside such tests.
    pub pause_before_teardown: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            interval: Duration::from_secs(10),
            workers: 4,
            call_timeout: Duration::from_secs(30),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            delete_wait: Duration::from_secs(40),
            platform: Platform::default(),
            broker_health: None,
            pause_before_teardown: None,
        }
    }
}

/// How a deletion ended, for the DELETE waiting on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// Runtime objects removed, document deleted.
    Done,
    /// The runtime holds objects belt-api does not manage; the wish is back to STOPPED.
    Refused(String),
    /// The runtime failed; the reconciler keeps trying.
    Retrying(String),
}

pub struct Reconciler {
    store: Arc<dyn ReconcilerView>,
    runtime: Arc<dyn Runtime>,
    metrics: Arc<Metrics>,
    settings: Settings,
    /// Creates a belt's missing topics before it is deployed; `None` in tests and without a
    /// data plane.
    topics: Option<Arc<dyn TopicAdmin>>,
    queue: WorkQueue,
    backoff: Backoff,
    resync_wanted: Notify,
    deletions: broadcast::Sender<(BeltId, Deletion)>,
    /// While `run` runs: this process is the leader, and tells deletions' outcomes itself.
    running: AtomicBool,
    /// Who woke each queued belt: its reconcile goes in that request's trace.
    wakers: wakers::Wakers,
    /// Applies the runtime's view does not show yet (`expectations.rs`).
    expectations: expectations::Expectations,
}

/// What one `reconcile_once` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub applied: Vec<BeltId>,
    pub removed: Vec<BeltId>,
    pub deleted: Vec<BeltId>,
    pub failed: Vec<BeltId>,
}

impl Reconciler {
    pub fn new(
        store: Arc<dyn ReconcilerView>,
        runtime: Arc<dyn Runtime>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self::with_settings(store, runtime, metrics, Settings::default())
    }

    pub fn with_settings(
        store: Arc<dyn ReconcilerView>,
        runtime: Arc<dyn Runtime>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Self {
        Reconciler {
            store,
            runtime,
            metrics,
            backoff: Backoff::new(settings.backoff_initial, settings.backoff_max),
            settings,
            topics: None,
            queue: WorkQueue::default(),
            wakers: wakers::Wakers::default(),
            expectations: expectations::Expectations::default(),
            resync_wanted: Notify::new(),
            deletions: broadcast::channel(1024).0,
            running: AtomicBool::new(false),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Asks for a resync soon: every belt whose wish differs from what runs is reconciled.
    pub fn wake(&self) {
        self.resync_wanted.notify_one();
    }

    /// A wish of `id` was stored: reconcile it soon, even if it is backing off.
    pub fn wake_belt(&self, id: BeltId) {
        self.wakers.woke(id);
        self.queue.push_now(id);
        self.metrics.set_reconcile_queue_depth(self.queue.depth());
    }

    /// The run loop was stopped mid-work (this replica lost the leadership, `App::run`): the
    /// belts then in work are queued again for when it leads again.
    pub fn stopped_mid_work(&self) {
        self.queue.requeue_active();
        self.metrics.set_reconcile_queue_depth(self.queue.depth());
    }

    /// How deletions end, from now on.
    pub fn deletions(&self) -> broadcast::Receiver<(BeltId, Deletion)> {
        self.deletions.subscribe()
    }

    /// One step, for tests and tools: a resync, then every due belt reconciled (a few at a
    /// time, each runtime call under its deadline, so a hanging belt cannot hold the step).
    #[tracing::instrument(skip_all)]
    pub async fn reconcile_once(self: &Arc<Self>) -> anyhow::Result<Report> {
        let started = std::time::Instant::now();
        let resynced = self.resync().await;
        let report = self.drain().await;
        self.metrics.observe_reconcile(
            started.elapsed(),
            resynced.is_err() || !report.failed.is_empty(),
        );
        resynced?;
        Ok(report)
    }
}

/// What the runtime should run for a RUNNING wish.
pub fn replica_spec(belt: &Belt, platform: &Platform) -> Option<ReplicaSpec> {
    let deployed = belt.wish.deployed.as_ref()?;
    Some(ReplicaSpec::build(
        belt,
        &deployed.spec,
        deployed.version,
        belt.wish.generation,
        belt.wish.is_first_start(),
        platform,
    ))
}
