//! How the local runtime is set up: where it keeps its files, what it runs, how it restarts.

use std::path::PathBuf;
use std::time::Duration;

use super::sandbox::SandboxConfig;

#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Work dirs live under `<data_dir>/belts/`.
    pub data_dir: PathBuf,
    /// Program and arguments of each replica; `None` = the bundled Python belt host. Another
    /// command counts as ready once it prints `belt-host: ready` on a line of its own.
    pub command: Option<Vec<String>>,
    /// With the default command: the belt host's Python environment (its Kafka client), built
    /// here at startup when missing and then run by replicas. `None` (no data plane): `python3`.
    pub host_env: Option<PathBuf>,
    /// First restart delay of a replica that exited; doubles per exit until `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Failed exits in a row, without becoming ready, that make a belt FAILED (CrashLoopBackOff).
    pub failure_threshold: u32,
    /// Between SIGTERM and SIGKILL when a replica is stopped.
    pub stop_grace: Duration,
    /// A replica's log file is rotated at this size; one rotated file is kept.
    pub log_file_limit: u64,
    /// Where the running processes are listed (`/proc`); recovery refuses to go on when it
    /// cannot be read.
    pub proc_dir: PathBuf,
    /// How replicas are isolated from belt-api and from each other (docs/local-sandbox.md).
    pub sandbox: SandboxConfig,
}

impl LocalConfig {
    /// The production defaults: back-off 0.5 s doubling to 10 s, FAILED after 3 failed exits,
    /// 5 s grace, 1 MiB log files.
    pub fn new(data_dir: impl Into<PathBuf>, command: Option<Vec<String>>) -> Self {
        LocalConfig {
            data_dir: data_dir.into(),
            command,
            host_env: None,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            failure_threshold: 3,
            stop_grace: Duration::from_secs(5),
            log_file_limit: 1024 * 1024,
            proc_dir: PathBuf::from(super::recover::PROC),
            sandbox: SandboxConfig::default(),
        }
    }

    /// Short back-off and grace, so tests see crash loops and restarts within seconds.
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> Self {
        LocalConfig {
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_millis(400),
            stop_grace: Duration::from_secs(3),
            ..LocalConfig::new(data_dir, None)
        }
    }
}

impl Default for LocalConfig {
    /// `./belt-data`, the default of `BELT_DATA_DIR`.
    fn default() -> Self {
        LocalConfig::new("belt-data", None)
    }
}
