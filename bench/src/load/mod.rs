//! The load generator, in two shapes, both bounded in connections, requests and time:
//! - [`closed::drive`]: each worker sends its next request as soon as the last answer is read. It
//!   finds the highest rate a side sustains (a ceiling), but its latencies flatter a side that
//!   stalls: the generator stalls with it and never sends the requests it would have sent meanwhile
//!   ("coordinated omission").
//! - [`open::drive`]: requests are due at a fixed offered rate whatever the answers do, and each
//!   one's latency counts from when it was due, as wrk2 and oha do. This is the latency a steady
//!   stream of clients would see.
//!
//! Latencies go to one HDR histogram per worker, merged at the end.

pub mod closed;
mod http;
pub mod open;

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::task::JoinSet;

pub use http::{Conn, HttpWorker, MakeRequest};

/// Hard limits, whatever the command line says: a run cannot become a flood.
pub const MAX_CONCURRENCY: usize = 512;
pub const MAX_DURATION: Duration = Duration::from_secs(120);
pub const MAX_REQUESTS: u64 = 10_000_000;

/// Latencies are recorded in microseconds, 1 µs to 60 s, three significant digits.
const HISTOGRAM_MAX_MICROS: u64 = 60_000_000;

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub concurrency: usize,
    /// Requests in this first stretch are made but not recorded (connections, caches, pools).
    pub warmup: Duration,
    /// Recorded time, after the warm-up.
    pub duration: Duration,
    /// Upper bound on requests (recorded or not) over all workers.
    pub max_requests: u64,
}

impl Plan {
    fn checked(self) -> anyhow::Result<Plan> {
        anyhow::ensure!(
            (1..=MAX_CONCURRENCY).contains(&self.concurrency),
            "concurrency must be 1..={MAX_CONCURRENCY}"
        );
        anyhow::ensure!(
            self.warmup + self.duration <= MAX_DURATION,
            "a load run is limited to {}s",
            MAX_DURATION.as_secs()
        );
        Ok(Plan {
            max_requests: self.max_requests.min(MAX_REQUESTS),
            ..self
        })
    }
}

/// One worker's operation. `seq` counts this worker's calls from 0; the error is a short
/// description kept as a sample for the report.
pub trait Worker: Send + 'static {
    fn call(&mut self, seq: u64) -> impl Future<Output = Result<(), String>> + Send;
}

/// Latency percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Percentiles {
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
            mean_ms: histogram.mean() / 1000.0,
        }
    }

    /// p50, p90, p99, p99.9 and max in ms, two decimals, joined by `separator`.
    pub fn joined(&self, separator: &str) -> String {
        [
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.p999_ms,
            self.max_ms,
        ]
        .map(|ms| format!("{ms:.2}"))
        .join(separator)
    }
}

/// What a run measured (recorded stretch only).
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// Requests answered as expected.
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub rps: f64,
    #[serde(flatten)]
    pub latency: Percentiles,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Measured {
    /// `histogram` holds one value per answered request.
    pub fn from_histogram(
        histogram: &Histogram<u64>,
        errors: u64,
        seconds: f64,
        first_error: Option<String>,
    ) -> Measured {
        Measured::new(histogram.len(), histogram, errors, seconds, first_error)
    }

    fn new(
        requests: u64,
        histogram: &Histogram<u64>,
        errors: u64,
        seconds: f64,
        first_error: Option<String>,
    ) -> Measured {
        Measured {
            requests,
            errors,
            seconds,
            rps: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            latency: Percentiles::of(histogram),
            first_error,
        }
    }
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3).expect("valid histogram bounds")
}

fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    histogram.saturating_record((elapsed.as_micros() as u64).max(1));
}

/// One worker's (or, merged, all workers') recorded outcomes.
struct Tally {
    histogram: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            histogram: new_histogram(),
            errors: 0,
            first_error: None,
        }
    }

    fn error(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    fn add(&mut self, other: Tally) {
        self.histogram
            .add(&other.histogram)
            .expect("same histogram bounds");
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
    }
}

/// Makes `count` workers with `make_worker(index)`, in order.
async fn start_workers<W, F, Fut>(count: usize, make_worker: F) -> anyhow::Result<Vec<W>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<W>>,
{
    let mut workers = Vec::with_capacity(count);
    for index in 0..count {
        workers.push(
            make_worker(index)
                .await
                .with_context(|| format!("starting load worker {index}"))?,
        );
    }
    Ok(workers)
}

/// Waits for every worker task and folds their results with `merge`.
async fn join_all<T: 'static, A>(
    mut tasks: JoinSet<T>,
    mut acc: A,
    merge: impl Fn(&mut A, T),
) -> anyhow::Result<A> {
    while let Some(result) = tasks.join_next().await {
        merge(&mut acc, result.context("a load worker panicked")?);
    }
    Ok(acc)
}

#[cfg(test)]
mod tests;
