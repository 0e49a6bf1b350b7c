//! The open loop: request `i` is due at `t0 + i / rate`, whatever the earlier answers did, and its
//! latency counts from that due time (as wrk2 and oha correct for coordinated omission). Due
//! requests are handed to `concurrency` workers (one connection each) in order; when all of them
//! are busy, the wait for a free one is part of the latency. A side that cannot keep up shows it:
//! the achieved rate falls below the offered one and the backlog's waits reach the percentiles.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{
    join_all, new_histogram, record, start_workers, Measured, Percentiles, Plan, Tally, Worker,
};

/// Below this share of the offered rate, a run says the side did not keep up.
pub const KEPT_UP_SHARE: f64 = 0.95;

/// What an open-loop run measured (recorded stretch only).
#[derive(Debug, Clone, Serialize)]
pub struct OpenMeasured {
    pub offered_rps: f64,
    /// Answered requests (of those due in the recorded stretch) per second of that stretch: equal
    /// to `offered_rps` when every due request was answered, however late.
    pub achieved_rps: f64,
    /// Whether `achieved_rps` reached `KEPT_UP_SHARE` of `offered_rps`.
    pub kept_up: bool,
    /// Requests due in the recorded stretch.
    pub scheduled: u64,
    /// From the start of the recorded stretch to the last answer: longer than the stretch by the
    /// last requests' latency, or by a backlog drained after it.
    pub finished_after_s: f64,
    /// Of those, never sent: every connection was still busy when the run ended. Each is in the
    /// corrected latencies with the time it had waited by then, a lower bound.
    pub unsent: u64,
    /// Latency from each request's due time: what this report calls latency.
    pub corrected: Measured,
    /// Latency from the actual send, as a closed loop measures it (for comparison only).
    pub from_send: Percentiles,
    /// How late requests left the generator: its timer's 1 ms tick, its own CPU, and waits for a
    /// free connection.
    pub send_lag: Percentiles,
}

impl OpenMeasured {
    /// `None` when the side kept up; else how many due requests were never sent.
    pub fn fell_behind(&self) -> Option<String> {
        (!self.kept_up).then(|| format!("{} of {} never sent", self.unsent, self.scheduled))
    }
}

/// Runs `plan.concurrency` workers made by `make_worker(index)` at `rate` requests per second.
pub async fn drive<W, F, Fut>(plan: Plan, rate: f64, make_worker: F) -> anyhow::Result<OpenMeasured>
where
    W: Worker,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<W>>,
{
    let plan = plan.checked()?;
    let shape = Shape::new(&plan, rate)?;
    let workers = start_workers(plan.concurrency, make_worker).await?;
    let schedule = Arc::new(Schedule::start(shape, Instant::now()));
    let mut tasks = JoinSet::new();
    for worker in workers {
        tasks.spawn(on_schedule(worker, schedule.clone()));
    }
    let mut tally = join_all(tasks, OpenTally::new(), OpenTally::add).await?;
    let finished_after = Instant::now().saturating_duration_since(schedule.recording_from());
    let unsent = schedule.record_unsent(&mut tally.corrected.histogram);
    Ok(tally.measured(&schedule, unsent, finished_after.as_secs_f64()))
}

/// When requests are due, in request indices.
#[derive(Debug, Clone, Copy)]
struct Shape {
    rate: f64,
    /// The first request due after the warm-up.
    first_recorded: u64,
    /// The first request due at or after the end: `0..end` are sent.
    end: u64,
}

impl Shape {
    fn new(plan: &Plan, rate: f64) -> anyhow::Result<Shape> {
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0,
            "the offered rate must be positive"
        );
        let index_at = |at: Duration| (at.as_secs_f64() * rate).ceil() as u64;
        let end = index_at(plan.warmup + plan.duration);
        anyhow::ensure!(
            end <= plan.max_requests,
            "{end} requests at {rate:.0}/s exceed the bound of {}",
            plan.max_requests
        );
        Ok(Shape {
            rate,
            first_recorded: index_at(plan.warmup),
            end,
        })
    }
}

struct Schedule {
    shape: Shape,
    t0: Instant,
    /// When no further request is handed out.
    deadline: Instant,
    next: AtomicU64,
}

impl Schedule {
    fn start(shape: Shape, t0: Instant) -> Schedule {
        Schedule {
            deadline: t0 + Duration::from_secs_f64(shape.end as f64 / shape.rate),
            shape,
            t0,
            next: AtomicU64::new(0),
        }
    }

    fn due(&self, index: u64) -> Instant {
        self.t0 + Duration::from_secs_f64(index as f64 / self.shape.rate)
    }

    fn recording_from(&self) -> Instant {
        self.due(self.shape.first_recorded)
    }

    /// The next request to send, unless the run is over.
    fn take(&self) -> Option<u64> {
        if Instant::now() >= self.deadline {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        (index < self.shape.end).then_some(index)
    }

    /// Records the recorded requests nobody took, each with its wait until the deadline.
    fn record_unsent(&self, histogram: &mut Histogram<u64>) -> u64 {
        let taken = self.next.load(Ordering::Relaxed).min(self.shape.end);
        let from = taken.max(self.shape.first_recorded);
        for index in from..self.shape.end {
            record(
                histogram,
                self.deadline.saturating_duration_since(self.due(index)),
            );
        }
        self.shape.end - from
    }
}

/// One worker's loop: take the next due request, wait until it is due, send it.
async fn on_schedule<W: Worker>(mut worker: W, schedule: Arc<Schedule>) -> OpenTally {
    let mut tally = OpenTally::new();
    let mut seq = 0;
    while let Some(index) = schedule.take() {
        let due = schedule.due(index);
        tokio::time::sleep_until(due).await;
        let sent = Instant::now();
        let outcome = worker.call(seq).await;
        seq += 1;
        if index >= schedule.shape.first_recorded {
            tally.record(outcome, due, sent);
        }
    }
    tally
}

struct OpenTally {
    corrected: Tally,
    answered: u64,
    from_send: Histogram<u64>,
    send_lag: Histogram<u64>,
}

impl OpenTally {
    fn new() -> OpenTally {
        OpenTally {
            corrected: Tally::new(),
            answered: 0,
            from_send: new_histogram(),
            send_lag: new_histogram(),
        }
    }

    fn record(&mut self, outcome: Result<(), String>, due: Instant, sent: Instant) {
        match outcome {
            Ok(()) => {
                let now = Instant::now();
                self.answered += 1;
                record(&mut self.corrected.histogram, now - due);
                record(&mut self.from_send, now - sent);
                record(&mut self.send_lag, sent - due);
            }
            Err(error) => self.corrected.error(error),
        }
    }

    fn add(&mut self, other: OpenTally) {
        self.corrected.add(other.corrected);
        self.answered += other.answered;
        let same = "same histogram bounds";
        self.from_send.add(&other.from_send).expect(same);
        self.send_lag.add(&other.send_lag).expect(same);
    }

    fn measured(self, schedule: &Schedule, unsent: u64, finished_after_s: f64) -> OpenMeasured {
        let shape = schedule.shape;
        let scheduled = shape.end - shape.first_recorded;
        let corrected = Measured::new(
            self.answered,
            &self.corrected.histogram,
            self.corrected.errors,
            scheduled as f64 / shape.rate,
            self.corrected.first_error,
        );
        OpenMeasured {
            offered_rps: shape.rate,
            achieved_rps: corrected.rps,
            kept_up: corrected.rps >= KEPT_UP_SHARE * shape.rate,
            scheduled,
            finished_after_s,
            unsent,
            corrected,
            from_send: Percentiles::of(&self.from_send),
            send_lag: Percentiles::of(&self.send_lag),
        }
    }
}
