//! Test-invoke: a belt's callback run once on sample events, in a sandboxed child process with a
//! wall-clock timeout, memory and CPU limits and capped output (docs/api.md#test-invoke,
//! docs/local-sandbox.md#test-invoke). The callback runs in the bundled `belt_invoke.py`, which
//! turns what `execute` returns into records the way a replica does (`belt_lib.py`).
//!
//! At most `concurrency` invocations run at once; one more is refused at once (`Busy`), so that
//! sample runs never starve the API of CPU and memory.

mod process;
mod report;
mod venv;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::runtime::local::sandbox::{Cell, Sandbox, SandboxConfig, Shared};
pub use report::{EventResult, InvokeReport, Outcome, RequirementsReport, UserError};

/// The runner, written next to the belt host by the local runtime.
const RUNNER: &str = "belt_invoke.py";
const REQUEST_FILE: &str = "invoke-request.json";
const RESULTS_FILE: &str = "invoke-results.jsonl";

/// How invocations are bounded (`BELT_INVOKE_*`).
#[derive(Debug, Clone)]
pub struct InvokeSettings {
    pub data_dir: PathBuf,
    pub sandbox: SandboxConfig,
    /// Wall-clock bound of running the events (a virtualenv build has its own).
    pub timeout: Duration,
    pub memory_bytes: u64,
    pub cpu_seconds: u64,
    pub concurrency: usize,
    /// Wall-clock bound of building a virtualenv from requirements.txt.
    pub requirements_timeout: Duration,
}

/// One sample event, as a replica would read it from a topic.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SampleEvent {
    pub headers: BTreeMap<String, String>,
    pub event: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Value>,
}

/// What to run: the callback, its requirements, the replica's environment, the events. `tenant`
/// is the belt id: as root, the run gets the belt's own uid.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    pub tenant: u64,
    pub callback: String,
    pub requirements: String,
    pub env: Vec<(String, String)>,
    pub events: Vec<SampleEvent>,
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// Every slot is taken; a slot frees within about `retry_after`.
    #[error("all {slots} test-invoke slots are busy")]
    Busy { slots: usize, retry_after: Duration },
    /// Test-invoke cannot run here (no sandbox on this machine).
    #[error("test-invoke is not available: {0}")]
    Unavailable(String),
    /// belt-api could not start or read the run; nothing about the user's code.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// The seam the use case calls; tests may hand in another.
#[async_trait]
pub trait Invoke: Send + Sync {
    async fn invoke(&self, request: InvokeRequest) -> Result<InvokeReport, InvokeError>;
}

/// Where test-invoke is not available (the sandbox could not be set up): says why.
pub struct NoInvoker(pub String);

#[async_trait]
impl Invoke for NoInvoker {
    async fn invoke(&self, _request: InvokeRequest) -> Result<InvokeReport, InvokeError> {
        Err(InvokeError::Unavailable(self.0.clone()))
    }
}

/// Runs invocations in the local sandbox.
pub struct Invoker {
    settings: InvokeSettings,
    sandbox: Arc<Sandbox>,
    host: PathBuf,
    prlimit: Option<PathBuf>,
    slots: Arc<Semaphore>,
    venvs: venv::Venvs,
    runs: AtomicU64,
}

impl Invoker {
    /// Writes the bundled runner into `<data_dir>/host/` and sets up (and checks) the sandbox.
    pub fn new(settings: InvokeSettings) -> anyhow::Result<Invoker> {
        let data_dir = std::fs::canonicalize(&settings.data_dir)
            .with_context(|| format!("resolving {}", settings.data_dir.display()))?;
        let host = crate::runtime::local::write_host(&data_dir)?;
        let runs = data_dir.join("invoke").join("runs");
        // What a crash left behind: runs are never resumed.
        let _ = std::fs::remove_dir_all(&runs);
        std::fs::create_dir_all(&runs).with_context(|| format!("creating {}", runs.display()))?;
        let sandbox = Sandbox::new(&settings.sandbox, &data_dir, vec![host.clone()])?;
        let prlimit = process::find_on_path("prlimit");
        if prlimit.is_none() {
            tracing::warn!(
                "`prlimit` (util-linux) not found: test-invoke limits are set by the runner itself"
            );
        }
        Ok(Invoker {
            slots: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            venvs: venv::Venvs::new(data_dir.join("invoke").join("venvs")),
            settings: InvokeSettings {
                data_dir,
                ..settings
            },
            sandbox,
            host,
            prlimit,
            runs: AtomicU64::new(0),
        })
    }

    fn run_dir(&self) -> PathBuf {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        (self.settings.data_dir.join("invoke").join("runs")).join(format!("{n}-{nanos:09}"))
    }

    fn runner(&self) -> String {
        self.host.join(RUNNER).to_string_lossy().into_owned()
    }

    fn cell(&self, tenant: u64, venv: Option<&Path>) -> Cell {
        let shared = venv.map(|dir| vec![Shared::Dir(dir.to_path_buf())]);
        self.sandbox.cell(tenant, shared.unwrap_or_default())
    }

    fn busy(&self) -> InvokeError {
        InvokeError::Busy {
            slots: self.settings.concurrency.max(1),
            retry_after: self.settings.timeout,
        }
    }

    /// Runs the events in a fresh work dir (removed afterwards) and reads what the runner wrote.
    async fn run_events(
        &self,
        request: &InvokeRequest,
        venv: Option<&Path>,
    ) -> anyhow::Result<(process::Finished, Vec<Value>)> {
        let dir = process::WorkDir::create(self.run_dir())?;
        let events = serde_json::json!({ "events": request.events });
        std::fs::write(dir.path().join(REQUEST_FILE), serde_json::to_vec(&events)?)?;
        std::fs::write(dir.path().join("callback.py"), &request.callback)?;
        let mut env = request.env.clone();
        env.extend(process::base_env(dir.path()));
        env.push((
            "BELT_INVOKE_MEMORY_BYTES".into(),
            self.settings.memory_bytes.to_string(),
        ));
        env.push((
            "BELT_INVOKE_CPU_SECONDS".into(),
            self.settings.cpu_seconds.to_string(),
        ));
        if let Some(venv) = venv {
            env.push(("BELT_INVOKE_VENV".into(), venv.to_string_lossy().into()));
        }
        let limits = process::Limits {
            timeout: self.settings.timeout,
            memory_bytes: Some(self.settings.memory_bytes),
            cpu_seconds: Some(self.settings.cpu_seconds),
        };
        let cell = self.cell(request.tenant, venv).offline();
        let finished = process::run(
            &cell,
            self.prlimit.as_deref(),
            dir.path(),
            &[self.runner()],
            env,
            limits,
        )
        .await?;
        let lines = report::read_results(&dir.path().join(RESULTS_FILE));
        Ok((finished, lines))
    }
}

#[async_trait]
impl Invoke for Invoker {
    async fn invoke(&self, request: InvokeRequest) -> Result<InvokeReport, InvokeError> {
        let _slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| self.busy())?;
        let started = Instant::now();
        let prepared = venv::Prepare {
            venvs: &self.venvs,
            invoker: self,
            tenant: request.tenant,
            requirements: &request.requirements,
        };
        let (venv, requirements) = prepared.run().await?;
        if requirements.failed() {
            return Ok(InvokeReport::requirements_failed(
                requirements,
                request.events.len(),
                started.elapsed(),
            ));
        }
        let (finished, lines) = self.run_events(&request, venv.as_deref()).await?;
        Ok(report::build(
            report::Run {
                finished,
                lines,
                events: request.events.len(),
                timeout: self.settings.timeout,
                requirements,
            },
            started.elapsed(),
        ))
    }
}
