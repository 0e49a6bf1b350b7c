//! What a run found: the JSON written to `bench/results/*.json`, the markdown tables printed at
//! the end (`markdown.rs`), and the targets checked against the numbers (`targets.rs`;
//! recorded, never enforced).

mod markdown;
mod targets;

use serde::Serialize;

use crate::load::open::OpenMeasured;
use crate::load::Measured;
use crate::scenarios::Operation;
use crate::seed::Backend;
use crate::state::StateOutcome;

#[derive(Debug, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub mode: &'static str,
    pub command: String,
    pub machine: Machine,
    pub settings: Settings,
    pub seeding: Vec<Seeding>,
    pub scenarios: Vec<ScenarioResult>,
    pub state: Vec<StateResult>,
    pub ready: Vec<ReadyResult>,
    pub targets: Vec<TargetCheck>,
    pub total_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    /// Other work on the machine competes for the same cores; the 1-minute load average shows it.
    pub load_average_at_start: String,
    pub load_average_at_end: String,
}

impl Machine {
    pub fn probe() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let meminfo = read("/proc/meminfo");
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
                .unwrap_or_default(),
            memory_gib: meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
                .map_or(0.0, |kib| (kib / 1024.0 / 1024.0 * 10.0).round() / 10.0),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            load_average_at_start: load_average(),
            load_average_at_end: String::new(),
        }
    }
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Serialize)]
pub struct Settings {
    pub connections: usize,
    /// `None`: each backend's default (4 SQLite, 16 PostgreSQL).
    pub pool_size: Option<u32>,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// The open-loop runs' offered rates, as shares of the service's closed-loop peak.
    pub offered_shares: Vec<f64>,
    pub seeds: Vec<u64>,
    pub backends: Vec<Backend>,
}

#[derive(Debug, Serialize)]
pub struct Seeding {
    pub backend: Backend,
    pub belts: u64,
    pub seconds: f64,
    pub belts_per_s: f64,
}

/// One measurement and what it cost on the machine.
#[derive(Debug, Serialize)]
pub struct Side {
    #[serde(flatten)]
    pub measured: Measured,
    /// Peak RSS of the answering process during the measurement (VmHWM after a reset), MB;
    /// absent for the bare-database ceiling, which runs inside belt-bench.
    pub peak_rss_mb: Option<f64>,
    /// Cores the answering process used on average (for the bare-database ceiling: belt-bench,
    /// the store client and the load loop together).
    pub cpu_cores: f64,
    /// CPU time of the answering process per request, µs.
    pub cpu_us_per_request: f64,
    /// Cores the load generator (belt-bench) used meanwhile.
    pub generator_cpu_cores: f64,
}

#[derive(Debug, Serialize)]
pub struct ScenarioResult {
    pub scenario: Operation,
    pub backend: Backend,
    pub belts: u64,
    pub connections: usize,
    /// The real service (release binary) over HTTP with real tokens, in a closed loop: its peak
    /// rate. Its latencies are from the actual send and flatter it; see `latency`.
    pub service: Side,
    pub bare_http: Side,
    pub bare_db: Side,
    /// `bare_http` or `bare_db`, whichever is lower.
    pub ceiling: &'static str,
    pub ceiling_rps: f64,
    /// service req/s ÷ min(bare HTTP, bare DB) req/s.
    pub fraction_of_ceiling: f64,
    /// The service in an open loop at fixed shares of its peak: latencies from the due time.
    pub latency: Vec<OpenRun>,
}

/// One open-loop run of the service.
#[derive(Debug, Serialize)]
pub struct OpenRun {
    pub share_of_peak: f64,
    #[serde(flatten)]
    pub measured: OpenMeasured,
}

/// Which scenario a result belongs to.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioKey {
    pub scenario: Operation,
    pub backend: Backend,
    pub belts: u64,
    pub connections: usize,
}

impl ScenarioResult {
    pub fn new(
        key: ScenarioKey,
        service: Side,
        bare_http: Side,
        bare_db: Side,
        latency: Vec<OpenRun>,
    ) -> ScenarioResult {
        let (ceiling, ceiling_rps) = if bare_http.measured.rps <= bare_db.measured.rps {
            ("bare_http", bare_http.measured.rps)
        } else {
            ("bare_db", bare_db.measured.rps)
        };
        ScenarioResult {
            fraction_of_ceiling: if ceiling_rps > 0.0 {
                service.measured.rps / ceiling_rps
            } else {
                0.0
            },
            scenario: key.scenario,
            backend: key.backend,
            belts: key.belts,
            connections: key.connections,
            service,
            bare_http,
            bare_db,
            ceiling,
            ceiling_rps,
            latency,
        }
    }

    pub fn service_peak_rss_mb(&self) -> f64 {
        self.service.peak_rss_mb.unwrap_or(0.0)
    }

    pub fn errors(&self) -> u64 {
        let open: u64 = self
            .latency
            .iter()
            .map(|run| run.measured.corrected.errors)
            .sum();
        self.service.measured.errors
            + self.bare_http.measured.errors
            + self.bare_db.measured.errors
            + open
    }

    /// The open-loop run at the lowest offered share.
    pub fn gentlest(&self) -> Option<&OpenRun> {
        self.latency
            .iter()
            .min_by(|a, b| a.share_of_peak.total_cmp(&b.share_of_peak))
    }
}

#[derive(Debug, Serialize)]
pub struct StateResult {
    pub backend: Backend,
    pub outcome: StateOutcome,
    pub service_peak_rss_mb: f64,
}

#[derive(Debug, Serialize)]
pub struct ReadyResult {
    pub backend: Backend,
    /// `fresh`: empty data dir (key, database and migrations created); `existing`: a second start
    /// on the same dir.
    pub start: &'static str,
    pub milliseconds: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

pub fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1_000_000.0
}
