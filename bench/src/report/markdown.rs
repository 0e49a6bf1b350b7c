//! The tables printed at the end of a run (and pasted into bench/README.md).

use std::fmt::Write;

use super::{Report, ScenarioResult, StateResult};

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| scenario | backend | belts | peak req/s | bare HTTP req/s | bare DB req/s | fraction of ceiling | ceiling | service CPU µs/req | peak RSS MB | errors |\n\
             |---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|\n",
        );
        for r in &self.scenarios {
            peak_row(&mut out, r);
        }
        out.push_str(
            "\n| latency from the due time | backend | belts | offered | offered req/s | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | kept up |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        );
        for r in &self.scenarios {
            latency_rows(&mut out, r);
        }
        if !self.state.is_empty() {
            out.push_str(
                "\n| state: START→RUNNING→STOP | backend | belts | all RUNNING after | all STOPPED after | action p50 ms | action p99 ms | peak RSS MB | note |\n\
                 |---|---|---:|---:|---:|---:|---:|---:|---|\n",
            );
        }
        for s in &self.state {
            state_row(&mut out, s);
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

fn peak_row(out: &mut String, r: &ScenarioResult) {
    let _ = writeln!(
        out,
        "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} % | {} | {:.0} | {:.1} | {} |",
        r.scenario.name(),
        r.backend.name(),
        thousands(r.belts),
        r.service.measured.rps,
        r.bare_http.measured.rps,
        r.bare_db.measured.rps,
        r.fraction_of_ceiling * 100.0,
        ceiling_name(r.ceiling),
        r.service.cpu_us_per_request,
        r.service_peak_rss_mb(),
        r.errors(),
    );
}

fn latency_rows(out: &mut String, r: &ScenarioResult) {
    for run in &r.latency {
        let m = &run.measured;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} % of peak | {:.0} | {:.0} | {} | {} |",
            r.scenario.name(),
            r.backend.name(),
            thousands(r.belts),
            run.share_of_peak * 100.0,
            m.offered_rps,
            m.achieved_rps,
            m.corrected.latency.joined(" | "),
            m.fell_behind()
                .map_or("yes".to_string(), |why| format!("**no**: {why}")),
        );
    }
}

fn state_row(out: &mut String, s: &StateResult) {
    let seconds = |s: Option<f64>| s.map_or("—".to_string(), |s| format!("{s:.2} s"));
    let o = &s.outcome;
    let _ = writeln!(
        out,
        "| state | {} | {} | {} | {} | {:.2} | {:.2} | {:.1} | {} |",
        s.backend.name(),
        o.belts,
        seconds(o.all_running_s),
        seconds(o.all_stopped_s),
        o.actions.latency.p50_ms,
        o.actions.latency.p99_ms,
        s.service_peak_rss_mb,
        o.skipped
            .as_deref()
            .map_or(String::new(), |why| format!("skipped: {why}")),
    );
}

pub(super) fn ceiling_name(ceiling: &str) -> &'static str {
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
