//! The run loop: a few workers take belts from the queue as they come, so a slow belt holds one
//! worker, never the others; resyncs come on a timer and on `wake()`, runtime events queue the
//! belt they name. A panic in a worker ends the loop (and the service: `App::run`).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::JoinSet;

use super::{Outcome, ReconcileError, Reconciler, Report};
use crate::domain::BeltId;
use crate::store::Elsewhere;

type Finished = (BeltId, Result<Outcome, ReconcileError>);

impl Reconciler {
    /// Starts workers on due belts until `workers` are busy.
    fn dispatch(self: &Arc<Self>, workers: &mut JoinSet<Finished>) {
        while workers.len() < self.settings.workers.max(1) {
            let Some(id) = self.queue.pop() else { break };
            let this = self.clone();
            workers.spawn(async move { (id, this.work(id).await) });
        }
    }

    /// Reconciles every belt due now, then returns what was done.
    pub(super) async fn drain(self: &Arc<Self>) -> Report {
        let mut report = Report::default();
        let mut workers = JoinSet::new();
        loop {
            self.dispatch(&mut workers);
            match workers.join_next().await {
                Some(joined) => {
                    let (id, result) = finished(joined);
                    record(&mut report, id, result)
                }
                None => return report,
            }
        }
    }

    /// Runs until `shutdown` resolves; belts in flight then finish (each under its deadline).
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let _running = Running::mark(&self.running);
        tokio::pin!(shutdown);
        let mut events = self.runtime.phase_events();
        // Wishes stored through other replicas (PostgreSQL): this one is the leader.
        let mut elsewhere = self.store.elsewhere();
        let mut resync = tokio::time::interval(self.settings.interval);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut workers = JoinSet::new();
        loop {
            self.dispatch(&mut workers);
            let next_due = self.queue.next_due();
            tokio::select! {
                _ = &mut shutdown => break,
                _ = resync.tick() => self.resync_logged().await,
                _ = self.resync_wanted.notified() => self.resync_logged().await,
                _ = self.queue.notified() => {}
                Some(joined) = workers.join_next(), if !workers.is_empty() => {
                    let _ = finished(joined);
                }
                _ = sleep_until(next_due), if next_due.is_some() => {}
                event = next_event(&mut events) => match event {
                    Some(id) => self.queue.push(id),
                    None => self.resync_logged().await,
                },
                change = next_change(&mut elsewhere) => match change {
                    Some(id) => self.wake_belt(id),
                    None => self.resync_logged().await,
                },
            }
        }
        // Belts in work finish, each within its call deadline; what is left then is dropped
        // (aborted) and picked up by the next process's first resync.
        let finishing = async { while workers.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(self.settings.call_timeout, finishing).await;
    }

    /// A resync counted as a reconcile pass in `/metrics`.
    async fn resync_logged(&self) {
        let started = std::time::Instant::now();
        let result = self.resync().await;
        self.metrics
            .observe_reconcile(started.elapsed(), result.is_err());
        if let Err(err) = result {
            tracing::warn!(error = %err, "resync failed; will retry");
        }
    }
}

/// Marks the run loop as running until it ends, aborted included.
struct Running<'a>(&'a AtomicBool);

impl<'a> Running<'a> {
    fn mark(flag: &'a AtomicBool) -> Self {
        flag.store(true, Ordering::SeqCst);
        Running(flag)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Reconciler {
    /// Whether this process's run loop runs now (it leads), and tells deletions' outcomes.
    pub(super) fn runs_here(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }
}

/// A worker's result. A worker that panicked takes the reconciler down with it: the app then
/// stops fail-closed (`App::run`) instead of leaving that belt unreconciled for good.
fn finished(joined: Result<Finished, tokio::task::JoinError>) -> Finished {
    match joined {
        Ok(finished) => finished,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => panic!("a reconcile worker was cancelled: {err}"),
    }
}

fn record(report: &mut Report, id: BeltId, result: Result<Outcome, ReconcileError>) {
    match result {
        Ok(Outcome::Applied) => report.applied.push(id),
        Ok(Outcome::Removed) => report.removed.push(id),
        Ok(Outcome::Deleted) => report.deleted.push(id),
        Ok(Outcome::Unchanged | Outcome::DeletionRefused) => {}
        Err(_) => report.failed.push(id),
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next belt a runtime event names; `None` when events were missed (the caller resyncs).
/// A runtime without events, or whose events ended, is never heard from again.
async fn next_event(events: &mut Option<broadcast::Receiver<BeltId>>) -> Option<BeltId> {
    loop {
        let Some(receiver) = events else {
            return std::future::pending().await;
        };
        match receiver.recv().await {
            Ok(id) => return Some(id),
            Err(RecvError::Lagged(_)) => return None,
            Err(RecvError::Closed) => *events = None,
        }
    }
}

/// The next belt another process wrote an event of; `None` when commits went unheard (the
/// caller resyncs). Without other processes, never resolves.
async fn next_change(changes: &mut Option<broadcast::Receiver<Elsewhere>>) -> Option<BeltId> {
    loop {
        let Some(receiver) = changes else {
            return std::future::pending().await;
        };
        match receiver.recv().await {
            Ok(Elsewhere::Belt(id)) => return Some(id),
            Ok(Elsewhere::Missed) | Err(RecvError::Lagged(_)) => return None,
            Err(RecvError::Closed) => *changes = None,
        }
    }
}
