//! The targets, checked against a run's figures (recorded, not enforced). Throughput
//! targets use the closed-loop peak; latency targets use the corrected open-loop percentiles.

use super::markdown::ceiling_name;
use super::{OpenRun, Report, ScenarioResult, TargetCheck};
use crate::scenarios::Operation;
use crate::seed::Backend;

impl Report {
    pub fn check_targets(&mut self) {
        let mut checks = Vec::new();
        for r in self
            .scenarios
            .iter()
            .filter(|r| r.scenario == Operation::Get && r.backend == Backend::Postgres)
        {
            checks.push(share_of_ceiling(r));
            checks.extend(r.latency.iter().map(|run| tail_latency(r, run)));
        }
        for backend in [Backend::Sqlite, Backend::Postgres] {
            checks.extend(list_growth(&self.scenarios, backend));
        }
        checks.extend(self.peak_rss());
        checks.extend(self.ready_time());
        self.targets = checks;
    }

    fn peak_rss(&self) -> Option<TargetCheck> {
        let during_scenarios = self.scenarios.iter().map(|r| {
            (
                r.service_peak_rss_mb(),
                format!("{} {} {}", r.scenario.name(), r.backend.name(), r.belts),
            )
        });
        let during_state = self
            .state
            .iter()
            .map(|s| (s.service_peak_rss_mb, format!("state {}", s.backend.name())));
        let (peak, during) = during_scenarios
            .chain(during_state)
            .max_by(|a, b| a.0.total_cmp(&b.0))?;
        Some(TargetCheck {
            target: "service peak RSS under load ≤ 50 MB".into(),
            measured: format!("{peak:.1} MB (during {during})"),
            met: peak <= 50.0,
        })
    }

    fn ready_time(&self) -> Option<TargetCheck> {
        let sqlite = || self.ready.iter().filter(|r| r.backend == Backend::Sqlite);
        let starts = sqlite().flat_map(|r| r.milliseconds.iter().copied());
        let count = starts.clone().count();
        let worst = starts.max_by(f64::total_cmp)?;
        let each: Vec<String> = sqlite()
            .map(|r| {
                let ms: Vec<String> = r.milliseconds.iter().map(|ms| format!("{ms:.0}")).collect();
                format!("{}: {}", r.start, ms.join("/"))
            })
            .collect();
        Some(TargetCheck {
            target: "/ready answers ≤ 100 ms after exec on SQLite".into(),
            measured: format!(
                "worst {worst:.0} ms of {count} starts ({})",
                each.join("; ")
            ),
            met: worst <= 100.0,
        })
    }
}

/// The closed-loop peak against the lower ceiling.
fn share_of_ceiling(r: &ScenarioResult) -> TargetCheck {
    TargetCheck {
        target: format!(
            "get on PostgreSQL ({} belts, {} connections) ≥ 50 % of its ceiling",
            r.belts, r.connections
        ),
        measured: format!(
            "{:.0} % (peak {:.0} of {:.0} req/s, {})",
            r.fraction_of_ceiling * 100.0,
            r.service.measured.rps,
            r.ceiling_rps,
            ceiling_name(r.ceiling)
        ),
        met: r.fraction_of_ceiling >= 0.5,
    }
}

/// Corrected p99 against p50 at one offered rate; a run that fell behind does not meet it.
fn tail_latency(r: &ScenarioResult, run: &OpenRun) -> TargetCheck {
    let latency = &run.measured.corrected.latency;
    TargetCheck {
        target: format!(
            "get on PostgreSQL ({} belts) at {:.0} % of its peak: corrected p99 ≤ 3 × p50",
            r.belts,
            run.share_of_peak * 100.0
        ),
        measured: format!(
            "p99 {:.2} ms = {:.1} × p50 {:.2} ms ({:.0} of {:.0} req/s offered{})",
            latency.p99_ms,
            latency.p99_ms / latency.p50_ms.max(0.001),
            latency.p50_ms,
            run.measured.achieved_rps,
            run.measured.offered_rps,
            if run.measured.kept_up {
                ""
            } else {
                ": fell behind"
            }
        ),
        met: run.measured.kept_up && latency.p99_ms <= 3.0 * latency.p50_ms,
    }
}

/// `list` on the largest store against the smallest, each at the lowest share of its own peak.
fn list_growth(scenarios: &[ScenarioResult], backend: Backend) -> Option<TargetCheck> {
    let lists = || {
        scenarios
            .iter()
            .filter(|r| r.scenario == Operation::List && r.backend == backend)
    };
    let small = lists().min_by_key(|r| r.belts)?;
    let large = lists().max_by_key(|r| r.belts)?;
    if small.belts == large.belts {
        return None;
    }
    let (small_run, large_run) = (small.gentlest()?, large.gentlest()?);
    let p50 = |run: &OpenRun| run.measured.corrected.latency.p50_ms;
    let ratio = p50(large_run) / p50(small_run).max(0.001);
    Some(TargetCheck {
        target: format!(
            "list on {} at {} belts ≤ 1.3 × its time at {}",
            backend.name(),
            large.belts,
            small.belts
        ),
        measured: format!(
            "corrected p50 at {:.0} % of peak {:.2} ms vs {:.2} ms = {ratio:.1} × (peak req/s {:.0} \
             vs {:.0})",
            small_run.share_of_peak * 100.0,
            p50(large_run),
            p50(small_run),
            large.service.measured.rps,
            small.service.measured.rps
        ),
        met: ratio <= 1.3 && large_run.measured.kept_up,
    })
}
