//! `belt-bench`: measures belt-api against its ceilings in one run and reports the ratios.
//! `bench/run.sh [--quick]` builds the release binaries and runs this; see bench/README.md.
#![forbid(unsafe_code)]

mod bare_http;
mod load;
mod process;
mod report;
mod run;
mod scenarios;
mod seed;
mod state;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::seed::Backend;

#[derive(Debug, Parser)]
#[command(
    name = "belt-bench",
    about = "Seeds a store, drives belt-api over HTTP with real tokens and prints each scenario \
             next to bare-HTTP and bare-database ceilings measured in the same run.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    internal: Option<Internal>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Internal {
    /// (used by the harness) Serve captured answers on the service's HTTP stack.
    #[command(hide = true)]
    BareHttp {
        #[arg(long)]
        answers: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Smoke test: 1.5 s per measurement, 1k belts only (no thresholds).
    #[arg(long)]
    pub quick: bool,
    /// Concurrent connections (and bare-database tasks) per measurement.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Recorded seconds per measurement (default 6, quick 1).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Unrecorded seconds before each measurement (default 1, quick 0.5).
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Store sizes (default 1000,100000; quick 1000). The smallest also runs create, update, state.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
    #[arg(long, value_delimiter = ',', value_enum, default_values = ["sqlite", "postgres"])]
    pub backends: Vec<Backend>,
    /// The service's database pool size; the bare-database ceiling uses the same (default: the
    /// service's own default, 4 on SQLite and 16 on PostgreSQL).
    #[arg(long)]
    pub pool_size: Option<u32>,
    /// A PostgreSQL URL allowed to create databases (default: what scripts/postgres.sh prints).
    #[arg(long, env = "BELT_BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// The release belt-api binary (default: next to belt-bench).
    #[arg(long)]
    pub belt_api: Option<PathBuf>,
    /// Seconds the state scenario waits for RUNNING before it is skipped (default 15, quick 5).
    #[arg(long)]
    pub state_timeout: Option<f64>,
    /// Scratch space for data dirs and SQLite files; removed at the end.
    #[arg(long, default_value = "target/bench-work")]
    pub work_dir: PathBuf,
    /// Where the JSON report goes (default bench/results/latest.json, quick: quick.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Measure only these scenarios (e.g. `get,list`), and skip `state` and `/ready`: for
    /// profiling one scenario at a time (bench/README.md#profiling). Default: all.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub only: Vec<scenarios::Operation>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Like belt-api's #[tokio::main]: one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.internal {
        Some(Internal::BareHttp { answers }) => runtime.block_on(bare_http::serve(&answers)),
        None => runtime.block_on(run_and_report(cli.run)),
    }
}

async fn run_and_report(args: RunArgs) -> anyhow::Result<()> {
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(if args.quick {
            "bench/results/quick.json"
        } else {
            "bench/results/latest.json"
        })
    });
    let report = run::run(args).await?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    println!();
    println!(
        "## belt-api against its ceilings ({} mode, {} connections, {} cores, load average {} → {})",
        report.mode,
        report.settings.connections,
        report.machine.cpus,
        report.machine.load_average_at_start,
        report.machine.load_average_at_end
    );
    println!();
    print!("{}", report.markdown());
    println!();
    print!("{}", report.targets_markdown());
    println!();
    println!(
        "written to {} in {:.0}s",
        out.display(),
        report.total_seconds
    );
    Ok(())
}
