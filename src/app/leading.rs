//! The controllers run only on the leader (docs/api.md#several-replicas): started when this
//! replica becomes the leader, stopped at once when it stops being sure it is, stopped in order
//! when the service stops. A panic of the reconciler stops the service, as on one replica.

use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tokio::task::{JoinError, JoinHandle};

use crate::metrics::Metrics;
use crate::reconcile::{LagWatch, Reconciler, StatusEvents};

/// What only the leader runs.
pub(super) struct Controllers {
    pub reconciler: Arc<Reconciler>,
    pub status_events: Arc<StatusEvents>,
    pub lag_watch: Option<Arc<LagWatch>>,
    pub metrics: Arc<Metrics>,
}

/// The controllers while they run.
struct Running {
    stop_reconciler: oneshot::Sender<()>,
    /// `None` once it ended without a panic (after its stop).
    reconciling: Option<JoinHandle<()>>,
    /// Observing, pruning, measuring: stopped by aborting.
    others: Vec<JoinHandle<()>>,
}

/// A task aborted when its holder goes, so that a service dropped without a clean stop leaves
/// nothing behind that still acts as the leader.
pub(super) struct AbortOnDrop<T>(pub JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    /// Waits for the task's answer; `None` when it was cancelled.
    pub(super) async fn finish(mut self) -> Option<T> {
        (&mut self.0).await.ok()
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Controllers {
    /// Runs the controllers while `leading` says so, until `stop` (the service stops) or the
    /// campaign ends; `Err` when the reconciler panicked.
    pub(super) async fn follow(
        self,
        mut leading: watch::Receiver<bool>,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<(), JoinError> {
        let mut running: Option<Running> = None;
        let ended = loop {
            let lead = *leading.borrow_and_update();
            running = match (lead, running) {
                (true, None) => Some(self.start()),
                (false, Some(running)) => {
                    self.step_down(running).await;
                    None
                }
                (_, running) => running,
            };
            tokio::select! {
                _ = &mut stop => break Ok(()),
                changed = leading.changed() => if changed.is_err() { break Ok(()) },
                panic = panicked(&mut running) => break Err(panic),
            }
        };
        if let Some(running) = running {
            self.stop(running).await;
        }
        ended
    }

    fn start(&self) -> Running {
        self.metrics.set_leader(true);
        let (stop_reconciler, stopped) = oneshot::channel::<()>();
        let reconciling = tokio::spawn(self.reconciler.clone().run(async {
            let _ = stopped.await;
        }));
        let mut others = vec![
            tokio::spawn(self.status_events.clone().run()),
            tokio::spawn(self.status_events.clone().catch_up()),
            tokio::spawn(self.status_events.clone().prune()),
        ];
        if let Some(watch) = &self.lag_watch {
            others.push(tokio::spawn(watch.clone().run()));
        }
        Running {
            stop_reconciler,
            reconciling: Some(reconciling),
            others,
        }
    }

    /// At once, without waiting for belts in work: another replica may lead as soon as this
    /// one's lock is gone. Those belts are queued again for when this replica leads again.
    async fn step_down(&self, running: Running) {
        for task in &running.others {
            task.abort();
        }
        if let Some(reconciling) = running.reconciling {
            reconciling.abort();
            let _ = reconciling.await;
        }
        self.reconciler.stopped_mid_work();
        self.metrics.set_leader(false);
    }

    /// The service stops: belts in work finish, each within its deadline.
    async fn stop(&self, running: Running) {
        for task in &running.others {
            task.abort();
        }
        let _ = running.stop_reconciler.send(());
        if let Some(reconciling) = running.reconciling {
            let _ = reconciling.await;
        }
        self.metrics.set_leader(false);
    }
}

/// Resolves when the running reconciler panicked; never while it runs, or when none runs.
async fn panicked(running: &mut Option<Running>) -> JoinError {
    if let Some(slot) = running.as_mut().map(|running| &mut running.reconciling) {
        if let Some(reconciling) = slot {
            let joined = reconciling.await;
            // Ended: never polled again, neither here nor by `stop`.
            *slot = None;
            if let Err(err) = joined {
                if err.is_panic() {
                    return err;
                }
            }
        }
    }
    std::future::pending().await
}
