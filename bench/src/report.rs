//! What a run found: the JSON written to `bench/results/*.json`, the markdown table printed at
//! the end, and the targets checked against the numbers (recorded, never enforced).

use std::fmt::Write;

use serde::Serialize;

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
    /// The real service (release binary) over HTTP with real tokens.
    pub service: Side,
    pub bare_http: Side,
    pub bare_db: Side,
    /// `bare_http` or `bare_db`, whichever is lower.
    pub ceiling: &'static str,
    pub ceiling_rps: f64,
    /// service req/s ÷ min(bare HTTP, bare DB) req/s.
    pub fraction_of_ceiling: f64,
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
    pub fn new(key: ScenarioKey, service: Side, bare_http: Side, bare_db: Side) -> ScenarioResult {
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
        }
    }

    pub fn service_peak_rss_mb(&self) -> f64 {
        self.service.peak_rss_mb.unwrap_or(0.0)
    }

    pub fn errors(&self) -> u64 {
        self.service.measured.errors + self.bare_http.measured.errors + self.bare_db.measured.errors
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

impl Report {
    /// The targets, checked (recorded, not enforced).
    pub fn check_targets(&mut self) {
        let mut checks = Vec::new();
        for r in self
            .scenarios
            .iter()
            .filter(|r| r.scenario == Operation::Get && r.backend == Backend::Postgres)
        {
            checks.push(TargetCheck {
                target: format!(
                    "get on PostgreSQL ({} belts, {} connections) ≥ 50 % of its ceiling",
                    r.belts, r.connections
                ),
                measured: format!(
                    "{:.0} % ({:.0} of {:.0} req/s, {})",
                    r.fraction_of_ceiling * 100.0,
                    r.service.measured.rps,
                    r.ceiling_rps,
                    ceiling_name(r.ceiling)
                ),
                met: r.fraction_of_ceiling >= 0.5,
            });
            checks.push(TargetCheck {
                target: format!("get on PostgreSQL ({} belts): p99 ≤ 3 × p50", r.belts),
                measured: format!(
                    "p99 {:.2} ms = {:.1} × p50 {:.2} ms",
                    r.service.measured.p99_ms,
                    r.service.measured.p99_ms / r.service.measured.p50_ms.max(0.001),
                    r.service.measured.p50_ms
                ),
                met: r.service.measured.p99_ms <= 3.0 * r.service.measured.p50_ms,
            });
        }
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let list = |big: bool| {
                self.scenarios
                    .iter()
                    .filter(|r| r.scenario == Operation::List && r.backend == backend)
                    .max_by_key(|r| if big { r.belts } else { u64::MAX - r.belts })
            };
            if let (Some(small), Some(large)) = (list(false), list(true)) {
                if small.belts != large.belts {
                    let ratio =
                        large.service.measured.p50_ms / small.service.measured.p50_ms.max(0.001);
                    checks.push(TargetCheck {
                        target: format!(
                            "list on {} at {} belts ≤ 1.3 × its time at {}",
                            backend.name(),
                            large.belts,
                            small.belts
                        ),
                        measured: format!(
                            "p50 {:.2} ms vs {:.2} ms = {ratio:.1} × (req/s {:.0} vs {:.0})",
                            large.service.measured.p50_ms,
                            small.service.measured.p50_ms,
                            large.service.measured.rps,
                            small.service.measured.rps
                        ),
                        met: ratio <= 1.3,
                    });
                }
            }
        }
        let peak = self
            .scenarios
            .iter()
            .map(|r| {
                (
                    r.service_peak_rss_mb(),
                    format!("{} {} {}", r.scenario.name(), r.backend.name(), r.belts),
                )
            })
            .chain(
                self.state
                    .iter()
                    .map(|s| (s.service_peak_rss_mb, format!("state {}", s.backend.name()))),
            )
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((peak, during)) = peak {
            checks.push(TargetCheck {
                target: "service peak RSS under load ≤ 50 MB".into(),
                measured: format!("{peak:.1} MB (during {during})"),
                met: peak <= 50.0,
            });
        }
        let ready: Vec<f64> = self
            .ready
            .iter()
            .filter(|r| r.backend == Backend::Sqlite)
            .flat_map(|r| r.milliseconds.iter().copied())
            .collect();
        if let Some(worst) = ready.iter().copied().max_by(f64::total_cmp) {
            checks.push(TargetCheck {
                target: "/ready answers ≤ 100 ms after exec on SQLite".into(),
                measured: format!(
                    "worst {worst:.0} ms of {} starts ({})",
                    ready.len(),
                    self.ready
                        .iter()
                        .map(|r| format!(
                            "{}: {}",
                            r.start,
                            r.milliseconds
                                .iter()
                                .map(|ms| format!("{ms:.0}"))
                                .collect::<Vec<_>>()
                                .join("/")
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                met: worst <= 100.0,
            });
        }
        self.targets = checks;
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| scenario | backend | belts | req/s | p50 ms | p99 ms | bare HTTP req/s | bare DB req/s | fraction of ceiling | ceiling | service CPU µs/req | peak RSS MB | errors |"
        );
        let _ = writeln!(
            out,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
        );
        for r in &self.scenarios {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} % | {} | {:.0} | {:.1} | {} |",
                r.scenario.name(),
                r.backend.name(),
                thousands(r.belts),
                r.service.measured.rps,
                r.service.measured.p50_ms,
                r.service.measured.p99_ms,
                r.bare_http.measured.rps,
                r.bare_db.measured.rps,
                r.fraction_of_ceiling * 100.0,
                ceiling_name(r.ceiling),
                r.service.cpu_us_per_request,
                r.service_peak_rss_mb(),
                r.errors(),
            );
        }
        if !self.state.is_empty() {
            let _ = writeln!(
                out,
                "\n| state: START→RUNNING→STOP | backend | belts | all RUNNING after | all STOPPED after | action p50 ms | action p99 ms | peak RSS MB | note |"
            );
            let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---|");
        }
        let seconds = |s: Option<f64>| s.map_or("—".to_string(), |s| format!("{s:.2} s"));
        for s in &self.state {
            let o = &s.outcome;
            let _ = writeln!(
                out,
                "| state | {} | {} | {} | {} | {:.2} | {:.2} | {:.1} | {} |",
                s.backend.name(),
                o.belts,
                seconds(o.all_running_s),
                seconds(o.all_stopped_s),
                o.actions.p50_ms,
                o.actions.p99_ms,
                s.service_peak_rss_mb,
                o.skipped
                    .as_deref()
                    .map_or(String::new(), |why| format!("skipped: {why}")),
            );
        }
        out
    }

    pub fn targets_markdown(&self) -> String {
        let mut out = String::from("| target | measured | met |\n|---|---|---|\n");
        for t in &self.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                t.target,
                t.measured,
                if t.met { "yes" } else { "**no**" }
            );
        }
        out
    }
}

fn ceiling_name(ceiling: &str) -> &'static str {
    if ceiling == "bare_http" {
        "bare HTTP"
    } else {
        "bare DB"
    }
}

fn thousands(n: u64) -> String {
    if n >= 1000 && n % 1000 == 0 {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}
