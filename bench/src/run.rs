//! One whole run: for each backend and seed size, a fresh seeded store, the release `belt-api`
//! on it, then every scenario next to its two ceilings, each measured in this same run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use belt_api::domain::BeltSpec;
use belt_api::store::BeltStore;
use http::StatusCode;
use tokio::process::Command;

use crate::bare_http::{Answers, Captured};
use crate::load::{drive, Conn, HttpWorker, Measured, Plan, MAX_REQUESTS};
use crate::process::{cpu_seconds, Process};
use crate::report::{
    load_average, mb, Machine, ReadyResult, Report, ScenarioKey, ScenarioResult, Seeding, Settings,
    Side, StateResult,
};
use crate::scenarios::{http_requests, DbWorker, Operation, Seeded};
use crate::seed::{self, Backend, Database};
use crate::RunArgs;

const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(15);
/// Belts the `state` scenario starts and stops.
const STATE_BELTS: u64 = 100;
/// Belts 1..=connections belong to the update workers; the state scenario starts above them.
const STATE_FIRST_ID: u64 = 201;

struct Harness {
    args: RunArgs,
    plan: Plan,
    belt_api: PathBuf,
    bench: PathBuf,
    work_dir: PathBuf,
    postgres_url: Option<String>,
    local_command: String,
    template: Arc<BeltSpec>,
}

impl Harness {
    /// What the service and the bare-database ceiling pool for this database.
    fn pool_size(&self, database: &Database) -> u32 {
        self.args
            .pool_size
            .unwrap_or_else(|| belt_api::config::default_pool_size(&database.url))
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<Report> {
    let started = Instant::now();
    let quick = args.quick;
    let duration = args.duration.unwrap_or(if quick { 2.0 } else { 6.0 });
    let warmup = args.warmup.unwrap_or(if quick { 0.5 } else { 1.0 });
    let mut seeds = args.seeds.clone().unwrap_or_else(|| {
        if quick {
            vec![1_000]
        } else {
            vec![1_000, 100_000]
        }
    });
    seeds.sort_unstable();
    seeds.dedup();
    anyhow::ensure!(
        seeds[0] > STATE_FIRST_ID + STATE_BELTS && seeds[0] >= args.connections as u64,
        "the smallest seed must exceed {} belts and the connection count",
        STATE_FIRST_ID + STATE_BELTS
    );
    let plan = Plan {
        concurrency: args.connections,
        warmup: Duration::from_secs_f64(warmup),
        duration: Duration::from_secs_f64(duration),
        max_requests: MAX_REQUESTS,
    };

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
    let work_dir = std::path::absolute(&args.work_dir)?;
    std::fs::create_dir_all(&work_dir)?;
    let postgres_url = if args.backends.contains(&Backend::Postgres) {
        Some(match &args.postgres_url {
            Some(url) => url.clone(),
            None => postgres_from_script().await?,
        })
    } else {
        None
    };
    let local_command = write_belt_host_script(&work_dir)?;
    let defaults = seed::service_defaults()?;
    let template = Arc::new(seed::example_spec(&defaults)?);

    let mut report = Report {
        generated_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)?,
        mode: if quick { "quick" } else { "full" },
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: Machine::probe(),
        settings: Settings {
            connections: args.connections,
            pool_size: args.pool_size,
            warmup_s: warmup,
            duration_s: duration,
            seeds: seeds.clone(),
            backends: args.backends.clone(),
        },
        seeding: Vec::new(),
        scenarios: Vec::new(),
        state: Vec::new(),
        ready: Vec::new(),
        targets: Vec::new(),
        total_seconds: 0.0,
    };
    println!(
        "belt-bench ({} mode): {} connections, {warmup}s warm-up + {duration}s per measurement, \
         pool {}, {} cores, load average {}",
        report.mode,
        args.connections,
        args.pool_size.map_or(
            "4 SQLite / 16 PostgreSQL (service defaults)".to_string(),
            |n| n.to_string()
        ),
        report.machine.cpus,
        report.machine.load_average_at_start
    );
    let harness = Harness {
        args,
        plan,
        belt_api,
        bench,
        work_dir,
        postgres_url,
        local_command,
        template,
    };

    for backend in harness.args.backends.clone() {
        for (at, &belts) in seeds.iter().enumerate() {
            let smallest = at == 0;
            phase(&harness, &mut report, backend, belts, smallest)
                .await
                .with_context(|| format!("{} with {belts} belts", backend.name()))?;
        }
    }
    if harness.args.backends.contains(&Backend::Sqlite) {
        measure_ready(&harness, &mut report).await?;
    }

    report.machine.load_average_at_end = load_average();
    report.total_seconds = started.elapsed().as_secs_f64();
    report.check_targets();
    std::fs::remove_dir_all(&harness.work_dir).ok();
    Ok(report)
}

/// Seeds one store, starts the service on it and measures every scenario of this phase.
async fn phase(
    harness: &Harness,
    report: &mut Report,
    backend: Backend,
    belts: u64,
    smallest: bool,
) -> anyhow::Result<()> {
    let label = format!("{}k", belts / 1000);
    let database = Database::fresh(
        backend,
        &harness.work_dir,
        &label,
        harness.postgres_url.as_deref(),
    )
    .await?;
    // The store goes away whatever happened; the child processes die with their handles.
    let measured = measure_phase(harness, report, &database, backend, belts, smallest).await;
    let dropped = database.drop().await;
    measured.and(dropped)
}

async fn measure_phase(
    harness: &Harness,
    report: &mut Report,
    database: &Database,
    backend: Backend,
    belts: u64,
    smallest: bool,
) -> anyhow::Result<()> {
    let label = format!("{}k", belts / 1000);
    let tag = format!("[{} {label}]", backend.name());
    let store = database.open_store(harness.pool_size(database)).await?;

    print!("{tag} seeding {belts} belts… ");
    flush();
    let took = seed::seed(store.as_ref(), &harness.template, belts).await?;
    database.analyze().await?;
    println!("done in {:.1}s", took.as_secs_f64());
    report.seeding.push(Seeding {
        backend,
        belts,
        seconds: took.as_secs_f64(),
        belts_per_s: belts as f64 / took.as_secs_f64(),
    });

    let service = start_service(harness, database).await?;
    let token = seed::editor_token(&database.data_dir)?;
    let seeded = Seeded::new(belts);
    let operations: &[Operation] = if smallest {
        &[
            Operation::Get,
            Operation::List,
            Operation::Create,
            Operation::Update,
        ]
    } else {
        &[Operation::Get, Operation::List]
    };
    let answers = capture(service.address(), &token, seeded, operations).await?;
    let answers_file = harness
        .work_dir
        .join(format!("{}-{label}-answers.json", backend.name()));
    std::fs::write(&answers_file, serde_json::to_vec(&answers)?)?;
    let bare = start_bare_http(harness, &answers_file).await?;
    println!(
        "{tag} belt-api pid {} on {}, idle RSS {:.1} MB; bare HTTP pid {} on {}",
        service.pid(),
        service.address(),
        mb(service.memory()?.rss_kib),
        bare.pid(),
        bare.address()
    );

    for &operation in operations {
        let key = ScenarioKey {
            scenario: operation,
            backend,
            belts,
            connections: harness.args.connections,
        };
        let run_tag = format!("{}{label}", backend.name());
        let measured = measure_http(harness, &service, operation, Some(&token), seeded, &run_tag)
            .await
            .with_context(|| format!("{} on belt-api", operation.name()))?;
        let ceiling_http = measure_http(harness, &bare, operation, None, seeded, &run_tag)
            .await
            .with_context(|| format!("{} on the bare HTTP server", operation.name()))?;
        let ceiling_db = measure_db(harness, &store, operation, seeded, &run_tag).await?;
        let result = ScenarioResult::new(key, measured, ceiling_http, ceiling_db);
        println!(
            "{tag} {:<6} {:>6.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  RSS {:>4.1} MB  \
             {:.2} cores ({:.0} µs/req), generator {:.2} | bare HTTP {:>6.0} req/s, \
             bare DB {:>6.0} req/s → {:.0} % of ceiling{}",
            operation.name(),
            result.service.measured.rps,
            result.service.measured.p50_ms,
            result.service.measured.p99_ms,
            result.service_peak_rss_mb(),
            result.service.cpu_cores,
            result.service.cpu_us_per_request,
            result.service.generator_cpu_cores,
            result.bare_http.measured.rps,
            result.bare_db.measured.rps,
            result.fraction_of_ceiling * 100.0,
            errors_note(&result)
        );
        report.scenarios.push(result);
    }

    if smallest {
        print!("{tag} state: START {STATE_BELTS} belts, wait for RUNNING, STOP… ");
        flush();
        service.reset_peak_rss();
        let ids: Vec<u64> = (STATE_FIRST_ID..STATE_FIRST_ID + STATE_BELTS).collect();
        let outcome = crate::state::run(
            service.address(),
            &token,
            &ids,
            16,
            Duration::from_secs_f64(harness.args.state_timeout.unwrap_or(if harness.args.quick {
                5.0
            } else {
                15.0
            })),
        )
        .await?;
        match (&outcome.skipped, outcome.all_running_s) {
            (Some(why), _) => println!("skipped — {why}"),
            (None, Some(secs)) => println!(
                "all RUNNING after {secs:.2}s, all STOPPED after {:.2}s",
                outcome.all_stopped_s.unwrap_or(f64::NAN)
            ),
            (None, None) => println!("no timing"),
        }
        report.state.push(StateResult {
            backend,
            service_peak_rss_mb: mb(service.memory()?.peak_rss_kib),
            outcome,
        });
    }

    bare.stop(STOP_GRACE).await?;
    service.stop(STOP_GRACE).await?;
    Ok(())
}

fn errors_note(result: &ScenarioResult) -> String {
    let samples: Vec<String> = [
        ("service", &result.service.measured),
        ("bare HTTP", &result.bare_http.measured),
        ("bare DB", &result.bare_db.measured),
    ]
    .iter()
    .filter(|(_, m)| m.errors > 0)
    .map(|(who, m)| {
        format!(
            "{who}: {} errors, e.g. {}",
            m.errors,
            m.first_error.as_deref().unwrap_or("?")
        )
    })
    .collect();
    if samples.is_empty() {
        String::new()
    } else {
        format!("\n    ERRORS — {}", samples.join("; "))
    }
}

/// Runs `operation` against `process` (the service or the bare server).
async fn measure_http(
    harness: &Harness,
    process: &Process,
    operation: Operation,
    token: Option<&str>,
    seeded: Seeded,
    tag: &str,
) -> anyhow::Result<Side> {
    let address = process.address();
    let who = if token.is_some() { "api" } else { "bare" };
    let make = http_requests(
        operation,
        address,
        token.map(str::to_string),
        seeded,
        &format!("{who}{tag}"),
    );
    let exact_peak = process.reset_peak_rss();
    let clocks = CpuClocks::start(Some(process.pid()))?;
    let measured = drive(harness.plan, |index| {
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

async fn measure_db(
    harness: &Harness,
    store: &Arc<dyn BeltStore>,
    operation: Operation,
    seeded: Seeded,
    tag: &str,
) -> anyhow::Result<Side> {
    let tag: Arc<str> = Arc::from(tag);
    let clocks = CpuClocks::start(None)?;
    let measured = drive(harness.plan, |index| {
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

/// One real answer per operation, which the bare-HTTP server then serves byte for byte.
async fn capture(
    address: SocketAddr,
    token: &str,
    seeded: Seeded,
    operations: &[Operation],
) -> anyhow::Result<Answers> {
    let mut conn = Conn::open(address).await?;
    let mut rng = fastrand::Rng::with_seed(7);
    let mut answers = Answers::new();
    for &operation in operations {
        let make = http_requests(
            operation,
            address,
            Some(token.to_string()),
            seeded,
            "capture",
        );
        let request = make(0, 0, &mut rng);
        let what = format!("{} {}", request.method(), request.uri());
        let response = conn.send(request).await?;
        anyhow::ensure!(
            response.status() == StatusCode::OK,
            "{what} answered {}: {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        );
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| matches!(name.as_str(), "content-type" | "etag" | "location"))
            .map(|(name, value)| Ok((name.to_string(), value.to_str()?.to_string())))
            .collect::<anyhow::Result<_>>()?;
        answers.insert(
            operation.name().to_string(),
            Captured {
                status: response.status().as_u16(),
                headers,
                body: String::from_utf8(response.body().to_vec())?,
            },
        );
    }
    Ok(answers)
}

async fn start_service(harness: &Harness, database: &Database) -> anyhow::Result<Process> {
    let mut command = Command::new(&harness.belt_api);
    command
        .arg("serve")
        .env("BELT_LISTEN", "127.0.0.1:0")
        .env("BELT_DATA_DIR", &database.data_dir)
        .env("BELT_DATABASE_URL", &database.url)
        .env(
            "BELT_DATABASE_MAX_CONNECTIONS",
            harness.pool_size(database).to_string(),
        )
        .env("BELT_RUNTIME", "local")
        .env("BELT_LOCAL_COMMAND", &harness.local_command);
    Process::start("belt-api", command, START_TIMEOUT).await
}

async fn start_bare_http(harness: &Harness, answers: &Path) -> anyhow::Result<Process> {
    let mut command = Command::new(&harness.bench);
    command.arg("bare-http").arg("--answers").arg(answers);
    Process::start("bare-http", command, START_TIMEOUT).await
}

/// The local runtime's replica command: prints the readiness line, then idles.
fn write_belt_host_script(work_dir: &Path) -> anyhow::Result<String> {
    let script = work_dir.join("belt-host.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'belt-host: ready'\nexec sleep 3600\n",
    )?;
    let command = format!("/bin/sh {}", script.display());
    anyhow::ensure!(
        command.split_whitespace().count() == 2,
        "the work dir must not contain spaces (BELT_LOCAL_COMMAND is split on them): {}",
        work_dir.display()
    );
    Ok(command)
}

async fn postgres_from_script() -> anyhow::Result<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
    let output = Command::new("bash")
        .arg(script)
        .output()
        .await
        .context("running scripts/postgres.sh")?;
    anyhow::ensure!(
        output.status.success(),
        "scripts/postgres.sh failed (pass --postgres-url, or --backends sqlite):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?.trim().to_string())
}

/// `/ready` after exec: starts on an empty data dir, then again on the same (now existing) one.
async fn measure_ready(harness: &Harness, report: &mut Report) -> anyhow::Result<()> {
    let runs = if harness.args.quick { 1 } else { 3 };
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
    report.ready.push(ReadyResult {
        backend: Backend::Sqlite,
        start: "fresh",
        milliseconds: fresh,
    });
    report.ready.push(ReadyResult {
        backend: Backend::Sqlite,
        start: "existing",
        milliseconds: existing,
    });
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
