//! The closed loop: `concurrency` workers, each issuing its operation back-to-back for a fixed
//! time. Its rate is a ceiling; its latencies are measured from the actual send, so they leave out
//! the requests a stalled side kept the generator from sending (see the module above).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{join_all, record, start_workers, Measured, Plan, Tally, Worker};

/// Runs `plan.concurrency` workers made by `make_worker(index)` and measures them.
pub async fn drive<W, F, Fut>(plan: Plan, make_worker: F) -> anyhow::Result<Measured>
where
    W: Worker,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<W>>,
{
    let plan = plan.checked()?;
    let workers = start_workers(plan.concurrency, make_worker).await?;
    let recording_from = Instant::now() + plan.warmup;
    let window = Window {
        recording_from,
        deadline: recording_from + plan.duration,
        budget: Arc::new(AtomicU64::new(plan.max_requests)),
    };
    let mut tasks = JoinSet::new();
    for worker in workers {
        tasks.spawn(back_to_back(worker, window.clone()));
    }
    let tally = join_all(tasks, Tally::new(), Tally::add).await?;
    // The recorded stretch ends when the last worker's last request does, not at the deadline.
    let seconds = Instant::now()
        .saturating_duration_since(recording_from)
        .as_secs_f64();
    Ok(Measured::from_histogram(
        &tally.histogram,
        tally.errors,
        seconds,
        tally.first_error,
    ))
}

#[derive(Clone)]
struct Window {
    recording_from: Instant,
    deadline: Instant,
    /// Requests left over all workers.
    budget: Arc<AtomicU64>,
}

impl Window {
    /// Whether another request may start now: before the deadline and within the budget.
    fn admits(&self, now: Instant) -> bool {
        now < self.deadline
            && self
                .budget
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
    }
}

/// One worker's loop: the next request as soon as the last answer is in.
async fn back_to_back<W: Worker>(mut worker: W, window: Window) -> Tally {
    let mut tally = Tally::new();
    let mut seq = 0;
    loop {
        let before = Instant::now();
        if !window.admits(before) {
            break;
        }
        let outcome = worker.call(seq).await;
        seq += 1;
        if before < window.recording_from {
            continue;
        }
        match outcome {
            Ok(()) => record(&mut tally.histogram, before.elapsed()),
            Err(error) => tally.error(error),
        }
    }
    tally
}
