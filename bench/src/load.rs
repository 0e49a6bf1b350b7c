//! The load generator: `concurrency` workers, each issuing its operation back-to-back (a closed
//! loop, never a sequential client) for a fixed time, bounded in count and in time. Latencies go to
//! one HDR histogram per worker, merged at the end. HTTP workers hold one hyper HTTP/1 connection
//! each and may only talk to 127.0.0.1.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

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

/// What a run measured (recorded stretch only).
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Measured {
    pub fn from_histogram(
        histogram: &Histogram<u64>,
        errors: u64,
        seconds: f64,
        first_error: Option<String>,
    ) -> Measured {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let requests = histogram.len();
        Measured {
            requests,
            errors,
            seconds,
            rps: if seconds > 0.0 {
                requests as f64 / seconds
            } else {
                0.0
            },
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
            mean_ms: histogram.mean() / 1000.0,
            first_error,
        }
    }
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3).expect("valid histogram bounds")
}

struct WorkerTally {
    histogram: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// Runs `plan.concurrency` workers made by `make_worker(index)` and measures them.
pub async fn drive<W, F, Fut>(plan: Plan, make_worker: F) -> anyhow::Result<Measured>
where
    W: Worker,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<W>>,
{
    let plan = plan.checked()?;
    let mut workers = Vec::with_capacity(plan.concurrency);
    for index in 0..plan.concurrency {
        workers.push(
            make_worker(index)
                .await
                .with_context(|| format!("starting load worker {index}"))?,
        );
    }
    let started = Instant::now();
    let recording_from = started + plan.warmup;
    let deadline = recording_from + plan.duration;
    let budget = Arc::new(AtomicU64::new(plan.max_requests));
    let mut tasks = tokio::task::JoinSet::new();
    for mut worker in workers {
        let budget = budget.clone();
        tasks.spawn(async move {
            let mut tally = WorkerTally {
                histogram: new_histogram(),
                errors: 0,
                first_error: None,
            };
            let mut seq = 0;
            loop {
                let before = Instant::now();
                if before >= deadline
                    || budget
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_err()
                {
                    break;
                }
                let outcome = worker.call(seq).await;
                seq += 1;
                if before < recording_from {
                    continue;
                }
                match outcome {
                    Ok(()) => {
                        let micros = before.elapsed().as_micros() as u64;
                        tally.histogram.saturating_record(micros.max(1));
                    }
                    Err(error) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert(error);
                    }
                }
            }
            tally
        });
    }
    let mut histogram = new_histogram();
    let mut errors = 0;
    let mut first_error = None;
    while let Some(tally) = tasks.join_next().await {
        let tally = tally.context("a load worker panicked")?;
        histogram
            .add(&tally.histogram)
            .expect("same histogram bounds");
        errors += tally.errors;
        first_error = first_error.or(tally.first_error);
    }
    // The recorded stretch ends when the last worker's last request does, not at the deadline.
    let seconds = Instant::now()
        .saturating_duration_since(recording_from)
        .as_secs_f64();
    Ok(Measured::from_histogram(
        &histogram,
        errors,
        seconds,
        first_error,
    ))
}

// ------------------------------------------------------------------------------------------------
// HTTP

/// One HTTP/1 connection to a loopback address.
pub struct Conn {
    address: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(address: SocketAddr) -> anyhow::Result<Conn> {
        anyhow::ensure!(
            address.ip() == std::net::Ipv4Addr::LOCALHOST,
            "the load generator only talks to 127.0.0.1, not {address}"
        );
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1 handshake")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn { address, sender })
    }

    /// Sends and reads the whole answer; reconnects once when the connection was closed.
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> anyhow::Result<Response<Bytes>> {
        if self.sender.is_closed() {
            *self = Conn::open(self.address).await?;
        }
        self.sender.ready().await.context("connection not ready")?;
        let response = self
            .sender
            .send_request(request)
            .await
            .context("sending the request")?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .context("reading the answer")?
            .to_bytes();
        Ok(Response::from_parts(parts, body))
    }
}

/// Builds the `seq`-th request of worker `index` (request line, headers, body).
pub type MakeRequest = dyn Fn(usize, u64, &mut fastrand::Rng) -> Request<Full<Bytes>> + Send + Sync;

/// A worker that sends what `make` builds and expects `expect` back.
pub struct HttpWorker {
    conn: Conn,
    index: usize,
    rng: fastrand::Rng,
    make: Arc<MakeRequest>,
    expect: StatusCode,
}

impl HttpWorker {
    pub async fn open(
        address: SocketAddr,
        index: usize,
        make: Arc<MakeRequest>,
        expect: StatusCode,
    ) -> anyhow::Result<HttpWorker> {
        Ok(HttpWorker {
            conn: Conn::open(address).await?,
            index,
            rng: fastrand::Rng::with_seed(0x5eed ^ index as u64),
            make,
            expect,
        })
    }
}

impl Worker for HttpWorker {
    async fn call(&mut self, seq: u64) -> Result<(), String> {
        let request = (self.make)(self.index, seq, &mut self.rng);
        let what = format!("{} {}", request.method(), request.uri());
        match self.conn.send(request).await {
            Ok(response) if response.status() == self.expect => Ok(()),
            Ok(response) => Err(format!(
                "{what} answered {}: {}",
                response.status(),
                String::from_utf8_lossy(&response.body()[..response.body().len().min(300)])
            )),
            Err(err) => Err(format!("{what}: {err:#}")),
        }
    }
}
