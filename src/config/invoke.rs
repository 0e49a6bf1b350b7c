//! Test-invoke (docs/api.md#test-invoke): how long, how much memory and CPU, how many at once
//! (in all and per project) a sample run of a callback may take, and how much disk its
//! virtualenvs may keep.

use std::time::Duration;

use clap::Args;

use crate::invoke::CgroupSetting;

#[derive(Debug, Clone, Args)]
pub struct InvokeConfig {
    /// Wall-clock bound of one test-invoke (all its events); the run is killed after it.
    #[arg(long, env = "BELT_INVOKE_TIMEOUT_MS", default_value_t = 10_000)]
    pub invoke_timeout_ms: u64,

    /// Memory a test-invoke may use, in MiB: all its processes and its /tmp and /dev/shm
    /// together where a cgroup is usable, else each process's address space (RLIMIT_AS) and
    /// each tmpfs's size.
    #[arg(long, env = "BELT_INVOKE_MEMORY_MB", default_value_t = 512)]
    pub invoke_memory_mb: u64,

    /// CPU time a test-invoke's process may use (RLIMIT_CPU), in seconds.
    #[arg(long, env = "BELT_INVOKE_CPU_SECONDS", default_value_t = 10)]
    pub invoke_cpu_seconds: u64,

    /// Processes (and threads) a test-invoke may have at once (cgroup pids.max, else
    /// RLIMIT_NPROC of the run's own uid).
    #[arg(long, env = "BELT_INVOKE_PIDS", default_value_t = 64)]
    pub invoke_pids: u64,

    /// Test-invokes running at once; one more is answered 429.
    #[arg(long, env = "BELT_INVOKE_CONCURRENCY", default_value_t = 2)]
    pub invoke_concurrency: usize,

    /// Test-invokes one project may run at once; one more is answered 429. Default: one less
    /// than BELT_INVOKE_CONCURRENCY (at least 1), so another project always finds a slot.
    #[arg(long, env = "BELT_INVOKE_PROJECT_CONCURRENCY")]
    pub invoke_project_concurrency: Option<usize>,

    /// Where each run's cgroup is made: `auto` (belt-api's own cgroup, v2 with memory and
    /// pids delegated, else the v1 memory and pids hierarchies), `none` (sized tmpfs mounts and
    /// RLIMIT_NPROC only), or the path of a cgroup v2 directory delegated to belt-api.
    #[arg(long, env = "BELT_INVOKE_CGROUP", default_value = "auto")]
    pub invoke_cgroup: CgroupSetting,

    /// Wall-clock bound of building a belt's virtualenv for test-invoke (pip install).
    #[arg(
        long,
        env = "BELT_INVOKE_REQUIREMENTS_TIMEOUT_MS",
        default_value_t = 300_000
    )]
    pub invoke_requirements_timeout_ms: u64,

    /// Disk all test-invoke virtualenvs may keep, in MiB; past it the least recently used are
    /// removed after each build.
    #[arg(long, env = "BELT_INVOKE_VENV_DISK_MB", default_value_t = 2048)]
    pub invoke_venv_disk_mb: u64,

    /// A test-invoke virtualenv unused for this many hours is removed.
    #[arg(long, env = "BELT_INVOKE_VENV_MAX_AGE_HOURS", default_value_t = 168)]
    pub invoke_venv_max_age_hours: u64,
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

    pub fn concurrency(&self) -> usize {
        self.invoke_concurrency.max(1)
    }

    /// Per project: as configured, never above the global cap; by default one below it.
    pub fn project_concurrency(&self) -> usize {
        let global = self.concurrency();
        self.invoke_project_concurrency
            .unwrap_or(global.saturating_sub(1))
            .clamp(1, global)
    }

    pub fn venv_disk_bytes(&self) -> u64 {
        self.invoke_venv_disk_mb.saturating_mul(1024 * 1024)
    }

    pub fn venv_max_age(&self) -> Duration {
        Duration::from_secs(self.invoke_venv_max_age_hours.max(1).saturating_mul(3600))
    }
}
