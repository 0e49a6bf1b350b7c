//! One measurement each: a closed loop against an HTTP process or the bare store (a peak rate,
//! with the CPU and memory it cost), or an open loop against the service at a fixed offered rate
//! (the corrected latencies).

use std::sync::Arc;
use std::time::Instant;

use belt_api::store::BeltStore;
use http::StatusCode;

use super::Harness;
use crate::load::open::{self, OpenMeasured};
use crate::load::{closed, HttpWorker, Measured};
use crate::process::{cpu_seconds, Process};
use crate::report::{mb, Side};
use crate::scenarios::{http_requests, DbWorker, Operation, Seeded};

/// Runs `operation` in a closed loop against `process` (the service or the bare server); `tag`
/// keeps created names apart from every other run's.
pub(super) async fn measure_http(
    harness: &Harness,
    process: &Process,
    operation: Operation,
    token: Option<&str>,
    seeded: Seeded,
    tag: &str,
) -> anyhow::Result<Side> {
    let address = process.address();
    let make = http_requests(operation, address, token.map(str::to_string), seeded, tag);
    let exact_peak = process.reset_peak_rss();
    let clocks = CpuClocks::start(Some(process.pid()))?;
    let measured = closed::drive(harness.plan, |index| {
        HttpWorker::open(address, index, make.clone(), StatusCode::OK)
    })
    .await?;
    let (answering, generator) = clocks.cores()?;
    let memory = process.memory()?;
    let peak = if exact_peak {
        memory.peak_rss_kib
    } else {
        memory.rss_kib
    };
    Ok(side(measured, Some(mb(peak)), answering, generator))
}

/// Runs `operation` against the service at `rate` requests per second, on as many connections as
/// the closed loop.
pub(super) async fn measure_open(
    harness: &Harness,
    service: &Process,
    operation: Operation,
    token: &str,
    seeded: Seeded,
    tag: &str,
    rate: f64,
) -> anyhow::Result<OpenMeasured> {
    let address = service.address();
    let make = http_requests(operation, address, Some(token.to_string()), seeded, tag);
    open::drive(harness.plan, rate, |index| {
        HttpWorker::open(address, index, make.clone(), StatusCode::OK)
    })
    .await
}

pub(super) async fn measure_db(
    harness: &Harness,
    store: &Arc<dyn BeltStore>,
    operation: Operation,
    seeded: Seeded,
    tag: &str,
) -> anyhow::Result<Side> {
    let tag: Arc<str> = Arc::from(tag);
    let clocks = CpuClocks::start(None)?;
    let measured = closed::drive(harness.plan, |index| {
        let worker = DbWorker::new(
            operation,
            store.clone(),
            harness.template.clone(),
            seeded,
            index,
            tag.clone(),
        );
        async move { Ok(worker) }
    })
    .await?;
    let (_, generator) = clocks.cores()?;
    Ok(side(measured, None, generator, generator))
}

fn side(measured: Measured, peak_rss_mb: Option<f64>, cores: f64, generator: f64) -> Side {
    Side {
        cpu_us_per_request: if measured.rps > 0.0 {
            cores * 1e6 / measured.rps
        } else {
            0.0
        },
        measured,
        peak_rss_mb,
        cpu_cores: cores,
        generator_cpu_cores: generator,
    }
}

/// CPU used by the answering process and by belt-bench itself over one measurement.
struct CpuClocks {
    pid: Option<u32>,
    wall: Instant,
    answering: f64,
    generator: f64,
}

impl CpuClocks {
    fn start(pid: Option<u32>) -> anyhow::Result<CpuClocks> {
        Ok(CpuClocks {
            pid,
            wall: Instant::now(),
            answering: pid.map(cpu_seconds).transpose()?.unwrap_or(0.0),
            generator: cpu_seconds(std::process::id())?,
        })
    }

    /// Average cores used since `start`: (answering process, belt-bench).
    fn cores(&self) -> anyhow::Result<(f64, f64)> {
        let wall = self.wall.elapsed().as_secs_f64();
        let answering = match self.pid {
            Some(pid) => (cpu_seconds(pid)? - self.answering) / wall,
            None => 0.0,
        };
        Ok((
            answering,
            (cpu_seconds(std::process::id())? - self.generator) / wall,
        ))
    }
}
