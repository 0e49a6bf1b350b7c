//! Test-invoke: a belt's callback run once on sample events, in a sandboxed child process with a
//! wall-clock timeout, memory and CPU limits and capped output (docs/api.md#test-invoke,
//! docs/local-sandbox.md#test-invoke). The callback runs in the bundled `belt_invoke.py`, which
//! turns what `execute` returns into records the way a replica does (`belt_lib.py`).
//!
//! At most `concurrency` invocations run at once, and `project_concurrency` of one project; one
//! more is refused at once (`Busy`), so that sample runs never starve the API of CPU and memory,
//! nor one project the others of their runs. A run's memory is bounded as a whole (its processes
//! and its tmpfs) by a cgroup of its own where the machine allows (`bound.rs`).

mod bound;
mod cgroup;
mod drafts;
mod process;
mod remote;
mod report;
mod slots;
mod venv;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use serde_json::Value;

use crate::domain::replica::ReplicaSpec;
pub use crate::domain::samples::SampleEvent;
use crate::domain::Invalid;
use crate::runtime::local::sandbox::{Cell, Sandbox, SandboxConfig, Shared};
pub use cgroup::CgroupSetting;
pub use remote::{RemoteEnd, RemoteRun};
pub use report::{EventResult, InvokeReport, Outcome, RequirementsReport, UserError};
pub use slots::{Full, Slot, Slots};

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
    /// Memory of a run as a whole (cgroup), and of each process (RLIMIT_AS).
    pub memory_bytes: u64,
    pub cpu_seconds: u64,
    /// Processes and threads of a run at once.
    pub pids: u64,
    pub concurrency: usize,
    pub project_concurrency: usize,
    /// Where runs' cgroups are made.
    pub cgroup: CgroupSetting,
    /// Wall-clock bound of building a virtualenv from requirements.txt.
    pub requirements_timeout: Duration,
    /// Disk all virtualenvs may keep, and how long an unused one is kept.
    pub venv_disk_bytes: u64,
    pub venv_max_age: Duration,
}

/// Whose callback runs: a saved belt's, or a draft of a belt not saved yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tenant {
    /// The belt id: as root, the run gets the belt's own uid.
    Belt(u64),
    /// No id: as root, the run leases a uid of its own from the drafts' pool (`drafts.rs`).
    Draft,
}

/// What to run: the callback, its requirements, the replica's environment, the events.
/// `project` shares the slots (with the project's drafts too) and the virtualenvs.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    pub project: String,
    pub tenant: Tenant,
    pub callback: String,
    pub requirements: String,
    pub env: Vec<(String, String)>,
    pub events: Vec<SampleEvent>,
    /// The replica the belt would run (image, pull secret, labels, CPU): what a runtime that
    /// runs the invocation as a workload of its own (a Kubernetes pod) builds it from.
    pub replica: ReplicaSpec,
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// Every slot (of the server, or the project's share) is taken; a slot frees within about
    /// `retry_after`.
    #[error("test-invoke slots are busy: {full:?}")]
    Busy { full: Full, retry_after: Duration },
    /// Test-invoke cannot run here (no sandbox on this machine).
    #[error("test-invoke is not available: {0}")]
    Unavailable(String),
    /// This belt cannot be run in the sandbox at all (its id has no uid of its own).
    #[error(transparent)]
    Refused(#[from] Invalid),
    /// belt-api could not start or read the run; nothing about the user's code.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// The seam the use case calls; tests may hand in another.
#[async_trait]
pub trait Invoke: Send + Sync {
    async fn invoke(&self, request: InvokeRequest) -> Result<InvokeReport, InvokeError>;

    /// Belt `belt` of `project` is deleted: what was kept for it alone goes.
    async fn forget(&self, _project: &str, _belt: u64) {}
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
    slots: Arc<slots::Slots>,
    bound: bound::Bound,
    venvs: venv::Venvs,
    drafts: drafts::DraftUids,
    runs: AtomicU64,
}

/// Who a run runs as: the belt's tenant (none for a draft) and a draft's leased uid.
#[derive(Debug, Clone, Copy)]
pub(super) struct RunAs {
    pub belt: Option<u64>,
    pub leased_uid: Option<u32>,
}

impl Invoker {
    /// Writes the bundled runner into `<data_dir>/host/` and sets up (and checks) the sandbox.
    pub fn new(settings: InvokeSettings) -> anyhow::Result<Invoker> {
        let data_dir = std::fs::canonicalize(&settings.data_dir)
            .with_context(|| format!("resolving {}", settings.data_dir.display()))?;
        let host = crate::runtime::local::write_host(&data_dir)?;
        let runs = data_dir.join("invoke").join("runs");
        // What a crash left behind: runs are never resumed. What cannot be removed stays, said.
        match std::fs::remove_dir_all(&runs) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(dir = %runs.display(), error = %err, "could not clear earlier test-invoke runs");
            }
            _ => {}
        }
        std::fs::create_dir_all(&runs).with_context(|| format!("creating {}", runs.display()))?;
        let sandbox = Sandbox::new(&settings.sandbox, &data_dir, vec![host.clone()])?;
        let prlimit = process::find_on_path("prlimit");
        if prlimit.is_none() {
            tracing::warn!(
                "`prlimit` (util-linux) not found: test-invoke limits are set by the runner itself"
            );
        }
        let own_uid = sandbox.uid(1).ok().flatten().is_some();
        let venvs = venv::Venvs::new(
            data_dir.join("invoke").join("venvs"),
            settings.venv_disk_bytes,
            settings.venv_max_age,
        );
        Ok(Invoker {
            drafts: drafts::DraftUids::new(&sandbox, settings.concurrency),
            slots: slots::Slots::new(settings.concurrency, settings.project_concurrency),
            bound: bound::Bound::detect(&settings.cgroup, own_uid),
            venvs,
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

    /// A cell with `venv`, read-write to build it, read-only to run with it: a run cannot
    /// change what the project's next runs import.
    fn cell(&self, run_as: RunAs, venv: Option<&Path>, building: bool) -> Cell {
        let shared = venv.map(|dir| {
            let dir = dir.to_path_buf();
            vec![if building {
                Shared::Dir(dir)
            } else {
                Shared::ReadOnlyDir(dir)
            }]
        });
        // Tenant 0 is never a belt's (ids start at 1); a draft's cell runs as its leased uid.
        let mut cell = (self.sandbox).cell(run_as.belt.unwrap_or(0), shared.unwrap_or_default());
        cell.leased_uid = run_as.leased_uid;
        cell
    }

    /// Whether runs get a uid of their own (belt-api is root), so RLIMIT_NPROC counts theirs.
    fn own_uid(&self, run_as: RunAs) -> bool {
        run_as.leased_uid.is_some()
            || (run_as.belt).is_some_and(|id| self.sandbox.uid(id).ok().flatten().is_some())
    }

    /// The environment of a run: the replica's, the base, and the limits the runner sets again
    /// itself where prlimit is missing.
    fn env_of(
        &self,
        request: &InvokeRequest,
        work_dir: &Path,
        venv: Option<&Path>,
        nproc: Option<u64>,
    ) -> Vec<(String, String)> {
        let mut env = request.env.clone();
        env.extend(process::base_env(work_dir));
        let limits = [
            ("BELT_INVOKE_MEMORY_BYTES", Some(self.settings.memory_bytes)),
            ("BELT_INVOKE_CPU_SECONDS", Some(self.settings.cpu_seconds)),
            ("BELT_INVOKE_NPROC", nproc),
        ];
        for (name, value) in limits {
            if let Some(value) = value {
                env.push((name.into(), value.to_string()));
            }
        }
        if let Some(venv) = venv {
            env.push(("BELT_INVOKE_VENV".into(), venv.to_string_lossy().into()));
        }
        env
    }

    /// Runs the events in a fresh work dir (removed afterwards), bounded as a whole, and reads
    /// what the runner wrote.
    async fn run_events(
        &self,
        request: &InvokeRequest,
        run_as: RunAs,
        venv: Option<&Path>,
    ) -> anyhow::Result<(process::Finished, Vec<Value>)> {
        let dir = process::WorkDir::create(self.run_dir())?;
        let events = serde_json::json!({ "events": request.events });
        std::fs::write(dir.path().join(REQUEST_FILE), serde_json::to_vec(&events)?)?;
        std::fs::write(dir.path().join("callback.py"), &request.callback)?;
        let own_uid = self.own_uid(run_as);
        let bound =
            (self.bound).for_run(self.settings.memory_bytes, self.settings.pids, own_uid)?;
        let env = self.env_of(request, dir.path(), venv, bound.nproc);
        let limits = process::Limits {
            timeout: self.settings.timeout,
            memory_bytes: Some(self.settings.memory_bytes),
            cpu_seconds: Some(self.settings.cpu_seconds),
            nproc: bound.nproc,
        };
        let mut cell = self.cell(run_as, venv, false).offline();
        cell.tmpfs_bytes = Some(self.settings.memory_bytes);
        let wrappers = process::Wrappers {
            prlimit: self.prlimit.as_deref(),
            cgroup: bound
                .group
                .as_ref()
                .map(|g| g.entering())
                .unwrap_or_default(),
        };
        let args = [self.runner()];
        let mut finished = process::run(&cell, wrappers, dir.path(), &args, env, limits).await?;
        let lines = report::read_results(&dir.path().join(RESULTS_FILE));
        if let Some(group) = bound.group {
            finished.memory_exceeded = group.memory_exceeded();
            group.remove().await;
            // The shell that enters the group answers 125 before anything else runs: the run
            // was never bounded, which is belt-api's failure, not the user's code's.
            let code = finished.status.and_then(|status| status.code());
            if code == Some(cgroup::ENTER_FAILED) && lines.is_empty() {
                anyhow::bail!(
                    "could not enter a test-invoke run's cgroup: {}",
                    finished.stderr.text.trim()
                );
            }
        }
        Ok((finished, lines))
    }
}

impl Invoker {
    /// The belt's tenant, or `None` for a draft; refused before anything is built when it cannot
    /// run under a uid of its own. As root a belt's run gets the belt's own uid: an id past the
    /// last one is refused, never run as another uid (docs/local-sandbox.md).
    fn runnable(&self, request: &InvokeRequest) -> Result<Option<u64>, InvokeError> {
        let Tenant::Belt(id) = request.tenant else {
            self.drafts.available()?;
            return Ok(None);
        };
        if let Err(error) = self.sandbox.uid(id) {
            let reason = format!("is {id}, which has no sandbox uid of its own ({error})");
            return Err(Invalid::field("beltId", reason).into());
        }
        Ok(Some(id))
    }
}

#[async_trait]
impl Invoke for Invoker {
    async fn invoke(&self, request: InvokeRequest) -> Result<InvokeReport, InvokeError> {
        let belt = self.runnable(&request)?;
        let _slot = self
            .slots
            .take_or_busy(&request.project, self.settings.timeout)?;
        // Held until the run is over (its processes waited for, its work dir removed): declared
        // after the slot, so it is given back before the slot is.
        let lease = match belt {
            Some(_) => None,
            None => Some(self.drafts.lease(self.settings.timeout)?),
        };
        let run_as = RunAs {
            belt,
            leased_uid: lease.as_ref().and_then(|lease| lease.uid),
        };
        let started = Instant::now();
        let prepared = venv::Prepare {
            venvs: &self.venvs,
            invoker: self,
            project: &request.project,
            run_as,
            requirements: &request.requirements,
        };
        let venv = prepared.run().await?;
        if venv.report.failed() {
            return Ok(InvokeReport::requirements_failed(
                venv.report,
                request.events.len(),
                started.elapsed(),
            ));
        }
        let (finished, lines) = self
            .run_events(&request, run_as, venv.dir.as_deref())
            .await?;
        Ok(report::build(
            report::Run {
                finished,
                lines,
                events: request.events.len(),
                timeout: self.settings.timeout,
                requirements: venv.report,
            },
            started.elapsed(),
        ))
    }

    async fn forget(&self, project: &str, belt: u64) {
        self.venvs.forget(project, belt).await;
    }
}
