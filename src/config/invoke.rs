//! Test-invoke (docs/api.md#test-invoke): how long, how much memory and CPU, and how many at once
//! a sample run of a callback may take.

use std::time::Duration;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct InvokeConfig {
    /// Wall-clock bound of one test-invoke (all its events); the run is killed after it.
    #[arg(long, env = "BELT_INVOKE_TIMEOUT_MS", default_value_t = 10_000)]
    pub invoke_timeout_ms: u64,

    /// Address space a test-invoke's process may use (RLIMIT_AS), in MiB.
    #[arg(long, env = "BELT_INVOKE_MEMORY_MB", default_value_t = 512)]
    pub invoke_memory_mb: u64,

    /// CPU time a test-invoke's process may use (RLIMIT_CPU), in seconds.
    #[arg(long, env = "BELT_INVOKE_CPU_SECONDS", default_value_t = 10)]
    pub invoke_cpu_seconds: u64,

    /// Test-invokes running at once; one more is answered 429.
    #[arg(long, env = "BELT_INVOKE_CONCURRENCY", default_value_t = 2)]
    pub invoke_concurrency: usize,

    /// Wall-clock bound of building a belt's virtualenv for test-invoke (pip install).
    #[arg(
        long,
        env = "BELT_INVOKE_REQUIREMENTS_TIMEOUT_MS",
        default_value_t = 300_000
    )]
    pub invoke_requirements_timeout_ms: u64,
}

impl InvokeConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.invoke_timeout_ms.max(1))
    }

    pub fn memory_bytes(&self) -> u64 {
        self.invoke_memory_mb.max(1).saturating_mul(1024 * 1024)
    }

    pub fn requirements_timeout(&self) -> Duration {
        Duration::from_millis(self.invoke_requirements_timeout_ms.max(1))
    }
}
