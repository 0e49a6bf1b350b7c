//! One whole run: for each backend and seed size, a fresh seeded store, the release `belt-api`
//! on it, then every scenario next to its two ceilings, each measured in this same run.

mod measure;
mod phase;
mod processes;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use belt_api::domain::BeltSpec;

use crate::load::{Plan, MAX_REQUESTS};
use crate::report::{load_average, Machine, ReadyResult, Report, Settings};
use crate::seed::{self, Backend, Database};
use crate::RunArgs;

/// Belts the `state` scenario starts and stops.
const STATE_BELTS: u64 = 100;
/// Belts 1..=connections belong to the update workers; the state scenario starts above them.
const STATE_FIRST_ID: u64 = 201;

struct Harness {
    args: RunArgs,
    seeds: Vec<u64>,
    plan: Plan,
    belt_api: PathBuf,
    bench: PathBuf,
    work_dir: PathBuf,
    postgres_url: Option<String>,
    local_command: String,
    template: Arc<BeltSpec>,
}

impl Harness {
    async fn prepare(args: RunArgs) -> anyhow::Result<Harness> {
        let seeds = seeds(&args)?;
        let plan = Plan {
            concurrency: args.connections,
            warmup: Duration::from_secs_f64(warmup_s(&args)),
            duration: Duration::from_secs_f64(duration_s(&args)),
            max_requests: MAX_REQUESTS,
        };
        let (bench, belt_api) = binaries(&args)?;
        let work_dir = std::path::absolute(&args.work_dir)?;
        std::fs::create_dir_all(&work_dir)?;
        let postgres_url = match (
            &args.postgres_url,
            args.backends.contains(&Backend::Postgres),
        ) {
            (_, false) => None,
            (Some(url), true) => Some(url.clone()),
            (None, true) => Some(processes::postgres_from_script().await?),
        };
        let local_command = processes::write_belt_host_script(&work_dir)?;
        let template = Arc::new(seed::example_spec(&seed::service_defaults()?)?);
        Ok(Harness {
            args,
            seeds,
            plan,
            belt_api,
            bench,
            work_dir,
            postgres_url,
            local_command,
            template,
        })
    }

    /// What the service and the bare-database ceiling pool for this database.
    fn pool_size(&self, database: &Database) -> u32 {
        self.args
            .pool_size
            .unwrap_or_else(|| belt_api::config::default_pool_size(&database.url))
    }

    fn quick_or<T>(&self, quick: T, full: T) -> T {
        if self.args.quick {
            quick
        } else {
            full
        }
    }
}

fn duration_s(args: &RunArgs) -> f64 {
    args.duration.unwrap_or(if args.quick { 1.0 } else { 6.0 })
}

fn warmup_s(args: &RunArgs) -> f64 {
    args.warmup.unwrap_or(if args.quick { 0.5 } else { 1.0 })
}

fn seeds(args: &RunArgs) -> anyhow::Result<Vec<u64>> {
    let mut seeds = args.seeds.clone().unwrap_or_else(|| {
        if args.quick {
            vec![1_000]
        } else {
            vec![1_000, 100_000]
        }
    });
    seeds.sort_unstable();
    seeds.dedup();
    anyhow::ensure!(
        seeds
            .first()
            .is_some_and(|&smallest| smallest > STATE_FIRST_ID + STATE_BELTS
                && smallest >= args.connections as u64),
        "the smallest seed must exceed {} belts and the connection count",
        STATE_FIRST_ID + STATE_BELTS
    );
    Ok(seeds)
}

/// (belt-bench itself, the release belt-api).
fn binaries(args: &RunArgs) -> anyhow::Result<(PathBuf, PathBuf)> {
    let bench = std::env::current_exe().context("locating belt-bench")?;
    let belt_api = match &args.belt_api {
        Some(path) => path.clone(),
        None => bench.with_file_name("belt-api"),
    };
    anyhow::ensure!(
        belt_api.is_file(),
        "no belt-api binary at {} (build it with `cargo build --release`, or pass --belt-api)",
        belt_api.display()
    );
    Ok((bench, belt_api))
}

pub async fn run(args: RunArgs) -> anyhow::Result<Report> {
    let started = Instant::now();
    let harness = Harness::prepare(args).await?;
    let mut report = new_report(&harness)?;
    print_banner(&harness, &report);
    for backend in harness.args.backends.clone() {
        for (at, &belts) in harness.seeds.iter().enumerate() {
            let smallest = at == 0;
            phase::phase(&harness, &mut report, backend, belts, smallest)
                .await
                .with_context(|| format!("{} with {belts} belts", backend.name()))?;
        }
    }
    if harness.args.backends.contains(&Backend::Sqlite) && harness.args.only.is_empty() {
        measure_ready(&harness, &mut report).await?;
    }
    report.machine.load_average_at_end = load_average();
    report.total_seconds = started.elapsed().as_secs_f64();
    report.check_targets();
    std::fs::remove_dir_all(&harness.work_dir).ok();
    Ok(report)
}

fn new_report(harness: &Harness) -> anyhow::Result<Report> {
    let args = &harness.args;
    Ok(Report {
        generated_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)?,
        mode: harness.quick_or("quick", "full"),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: Machine::probe(),
        settings: Settings {
            connections: args.connections,
            pool_size: args.pool_size,
            warmup_s: warmup_s(args),
            duration_s: duration_s(args),
            offered_shares: phase::OFFERED_SHARES.to_vec(),
            seeds: harness.seeds.clone(),
            backends: args.backends.clone(),
        },
        seeding: Vec::new(),
        scenarios: Vec::new(),
        state: Vec::new(),
        ready: Vec::new(),
        targets: Vec::new(),
        total_seconds: 0.0,
    })
}

fn print_banner(harness: &Harness, report: &Report) {
    let settings = &report.settings;
    println!(
        "belt-bench ({} mode): {} connections, {}s warm-up + {}s per measurement, \
         pool {}, {} cores, load average {}",
        report.mode,
        settings.connections,
        settings.warmup_s,
        settings.duration_s,
        harness.args.pool_size.map_or(
            "4 SQLite / 16 PostgreSQL (service defaults)".to_string(),
            |n| n.to_string()
        ),
        report.machine.cpus,
        report.machine.load_average_at_start
    );
}

/// `/ready` after exec: starts on an empty data dir, then again on the same (now existing) one.
async fn measure_ready(harness: &Harness, report: &mut Report) -> anyhow::Result<()> {
    let runs = harness.quick_or(1, 3);
    let mut fresh = Vec::new();
    let mut existing = Vec::new();
    for run in 0..runs {
        let dir = harness.work_dir.join(format!("ready-{run}"));
        std::fs::remove_dir_all(&dir).ok();
        let timeout = Duration::from_secs(30);
        let first = crate::process::time_to_ready(&harness.belt_api, &dir, None, timeout).await?;
        let second = crate::process::time_to_ready(&harness.belt_api, &dir, None, timeout).await?;
        fresh.push(first.as_secs_f64() * 1000.0);
        existing.push(second.as_secs_f64() * 1000.0);
        std::fs::remove_dir_all(&dir).ok();
    }
    println!(
        "[sqlite] /ready after exec: fresh data dir {} ms; existing {} ms",
        join_ms(&fresh),
        join_ms(&existing)
    );
    for (start, milliseconds) in [("fresh", fresh), ("existing", existing)] {
        report.ready.push(ReadyResult {
            backend: Backend::Sqlite,
            start,
            milliseconds,
        });
    }
    Ok(())
}

fn join_ms(values: &[f64]) -> String {
    values
        .iter()
        .map(|ms| format!("{ms:.0}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn flush() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}
