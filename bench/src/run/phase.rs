//! One phase: a seeded store, the service and the bare-HTTP server on it, then each scenario —
//! its closed-loop peak next to the two ceilings, and its corrected latencies at fixed shares of
//! that peak — and, on the smallest store, the `state` scenario.

use std::sync::Arc;
use std::time::Duration;

use belt_api::store::BeltStore;

use super::measure::{measure_db, measure_http, measure_open};
use super::processes::{capture, start_bare_http, start_service};
use super::{flush, Harness, STATE_BELTS, STATE_FIRST_ID};
use crate::process::Process;
use crate::report::{mb, OpenRun, Report, ScenarioKey, ScenarioResult, Seeding, Side, StateResult};
use crate::scenarios::{Operation, Seeded};
use crate::seed::{self, Backend, Database};

/// The offered rates of the open-loop runs, as shares of the service's closed-loop peak in the
/// same phase.
pub const OFFERED_SHARES: [f64; 2] = [0.5, 0.8];

const STOP_GRACE: Duration = Duration::from_secs(15);

/// Seeds one store, starts the service on it and measures every scenario of this phase.
pub(super) async fn phase(
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

/// What every measurement of one phase talks to.
struct Phase<'a> {
    harness: &'a Harness,
    backend: Backend,
    belts: u64,
    /// `sqlite1k`: part of every created name, so runs never collide.
    run_tag: String,
    /// `[sqlite 1k]`, for progress lines.
    tag: String,
    store: Arc<dyn BeltStore>,
    service: Process,
    bare: Process,
    token: String,
    seeded: Seeded,
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
    report
        .seeding
        .push(seed_store(store.as_ref(), harness, database, backend, belts, &tag).await?);
    let service = start_service(harness, database).await?;
    let token = seed::editor_token(&database.data_dir)?;
    let seeded = Seeded::new(belts);
    let operations = operations(smallest, &harness.args.only);
    let answers = capture(service.address(), &token, seeded, &operations).await?;
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
    let phase = Phase {
        harness,
        backend,
        belts,
        run_tag: format!("{}{label}", backend.name()),
        tag,
        store,
        service,
        bare,
        token,
        seeded,
    };
    for &operation in &operations {
        report.scenarios.push(phase.scenario(operation).await?);
    }
    if smallest && harness.args.only.is_empty() {
        report.state.push(phase.state().await?);
    }
    phase.bare.stop(STOP_GRACE).await?;
    phase.service.stop(STOP_GRACE).await
}

/// Every operation of the phase, or those of them named by `--only`.
fn operations(smallest: bool, only: &[Operation]) -> Vec<Operation> {
    let all: &[Operation] = if smallest {
        &[
            Operation::Get,
            Operation::List,
            Operation::Create,
            Operation::Update,
        ]
    } else {
        &[Operation::Get, Operation::List]
    };
    all.iter()
        .copied()
        .filter(|operation| only.is_empty() || only.contains(operation))
        .collect()
}

async fn seed_store(
    store: &dyn BeltStore,
    harness: &Harness,
    database: &Database,
    backend: Backend,
    belts: u64,
    tag: &str,
) -> anyhow::Result<Seeding> {
    print!("{tag} seeding {belts} belts… ");
    flush();
    let took = seed::seed(store, &harness.template, belts).await?;
    database.analyze().await?;
    println!("done in {:.1}s", took.as_secs_f64());
    Ok(Seeding {
        backend,
        belts,
        seconds: took.as_secs_f64(),
        belts_per_s: belts as f64 / took.as_secs_f64(),
    })
}

impl Phase<'_> {
    /// The service's closed-loop peak, both ceilings, then the open-loop runs at shares of that
    /// peak.
    async fn scenario(&self, operation: Operation) -> anyhow::Result<ScenarioResult> {
        let (harness, run_tag) = (self.harness, &self.run_tag);
        let with = |what: &str| format!("{} on {what}", operation.name());
        let service = measure_http(
            harness,
            &self.service,
            operation,
            Some(&self.token),
            self.seeded,
            &format!("api{run_tag}"),
        )
        .await
        .map_err(|err| err.context(with("belt-api")))?;
        let bare_http = measure_http(
            harness,
            &self.bare,
            operation,
            None,
            self.seeded,
            &format!("bare{run_tag}"),
        )
        .await
        .map_err(|err| err.context(with("the bare HTTP server")))?;
        let bare_db = measure_db(harness, &self.store, operation, self.seeded, run_tag).await?;
        print_closed(&self.tag, operation, &service, &bare_http, &bare_db);
        let latency = self.open_runs(operation, service.measured.rps).await?;
        let key = ScenarioKey {
            scenario: operation,
            backend: self.backend,
            belts: self.belts,
            connections: harness.args.connections,
        };
        let result = ScenarioResult::new(key, service, bare_http, bare_db, latency);
        print_errors(&result);
        Ok(result)
    }

    /// The service at each of `OFFERED_SHARES` of `peak` requests per second.
    async fn open_runs(&self, operation: Operation, peak: f64) -> anyhow::Result<Vec<OpenRun>> {
        let mut runs = Vec::new();
        if peak <= 0.0 {
            println!(
                "{} {} answered nothing: no open-loop runs",
                self.tag,
                operation.name()
            );
            return Ok(runs);
        }
        for share in OFFERED_SHARES {
            let tag = format!("o{:.0}{}", share * 100.0, self.run_tag);
            let measured = measure_open(
                self.harness,
                &self.service,
                operation,
                &self.token,
                self.seeded,
                &tag,
                share * peak,
            )
            .await
            .map_err(|err| err.context(format!("{} at {share} of its peak", operation.name())))?;
            let run = OpenRun {
                share_of_peak: share,
                measured,
            };
            print_open(&self.tag, operation, &run);
            runs.push(run);
        }
        Ok(runs)
    }

    async fn state(&self) -> anyhow::Result<StateResult> {
        print!(
            "{} state: START {STATE_BELTS} belts, wait for RUNNING, STOP… ",
            self.tag
        );
        flush();
        self.service.reset_peak_rss();
        let ids: Vec<u64> = (STATE_FIRST_ID..STATE_FIRST_ID + STATE_BELTS).collect();
        let timeout = self
            .harness
            .args
            .state_timeout
            .unwrap_or(self.harness.quick_or(5.0, 15.0));
        let outcome = crate::state::run(
            self.service.address(),
            &self.token,
            &ids,
            16,
            Duration::from_secs_f64(timeout),
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
        Ok(StateResult {
            backend: self.backend,
            service_peak_rss_mb: mb(self.service.memory()?.peak_rss_kib),
            outcome,
        })
    }
}

fn print_closed(tag: &str, operation: Operation, service: &Side, bare_http: &Side, bare_db: &Side) {
    let ceiling = bare_http.measured.rps.min(bare_db.measured.rps);
    println!(
        "{tag} {:<6} peak {:>6.0} req/s  RSS {:>4.1} MB  {:.2} cores ({:.0} µs/req), generator \
         {:.2} | bare HTTP {:>6.0} req/s, bare DB {:>6.0} req/s → {:.0} % of ceiling",
        operation.name(),
        service.measured.rps,
        service.peak_rss_mb.unwrap_or(0.0),
        service.cpu_cores,
        service.cpu_us_per_request,
        service.generator_cpu_cores,
        bare_http.measured.rps,
        bare_db.measured.rps,
        if ceiling > 0.0 {
            service.measured.rps / ceiling * 100.0
        } else {
            0.0
        },
    );
}

fn print_open(tag: &str, operation: Operation, run: &OpenRun) {
    let m = &run.measured;
    println!(
        "{tag} {:<6} at {:.0} % of peak: offered {:>6.0}, achieved {:>6.0} req/s, p50/90/99/99.9/max \
         {} ms (p99 from send {:.2} ms){}",
        operation.name(),
        run.share_of_peak * 100.0,
        m.offered_rps,
        m.achieved_rps,
        m.corrected.latency.joined(" / "),
        m.from_send.p99_ms,
        m.fell_behind()
            .map_or(String::new(), |why| format!("  FELL BEHIND: {why}"))
    );
}

fn print_errors(result: &ScenarioResult) {
    let open = result
        .latency
        .iter()
        .map(|run| ("open loop", &run.measured.corrected));
    let samples: Vec<String> = [
        ("service", &result.service.measured),
        ("bare HTTP", &result.bare_http.measured),
        ("bare DB", &result.bare_db.measured),
    ]
    .into_iter()
    .chain(open)
    .filter(|(_, m)| m.errors > 0)
    .map(|(who, m)| {
        format!(
            "{who}: {} errors, e.g. {}",
            m.errors,
            m.first_error.as_deref().unwrap_or("?")
        )
    })
    .collect();
    if !samples.is_empty() {
        println!("    ERRORS — {}", samples.join("; "));
    }
}
