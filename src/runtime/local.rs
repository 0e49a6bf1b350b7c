//! The local runtime: each replica of a belt is a supervised child process on this machine
//! (docs/api.md#process-and-service-endpoints, docs/api.md#on-the-local-runtime). The API is the
//! supervisor, so it stops its replicas on shutdown and, on every start, clears what a crash of an
//! earlier API process left behind: every replica carries `BELT_REPLICA_OF=<data dir>` in its
//! environment, so the next API finds it in `/proc` whatever the moment of the crash
//! (docs/local-runtime-recovery.md).
//!
//! On disk, under `<data_dir>`:
//! - `host/`: the bundled Python belt host (`belt_host.py` runs a replica, `belt_lib.py` holds what
//!   it shares with test-invoke), rewritten at every start;
//! - `belts/<id>/<replica>/`: one work dir per replica (`callback.py`, `requirements.txt`, the log
//!   file, the state file `recover` reads);
//! - `belts/<id>/venv/`: the belt's virtualenv, shared by its replicas and kept across restarts;
//! - `host-env/` (`BELT_LOCAL_HOST_ENV`): the host's own Python environment, with a data plane
//!   (`host_env`).

mod config;
mod deployment;
mod details;
mod host_env;
mod log_bells;
mod logs;
mod logs_follow;
pub use host_env::write_host;
mod output;
mod process;
mod recover;
pub mod sandbox;
mod status;
mod supervisor;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::Context;
use async_trait::async_trait;
use tokio::task::JoinHandle;

use super::{LogQuery, LogStream, Observed, ReplicaLogs, Runtime, RuntimeError, StateDetails};
use crate::domain::replica::ReplicaSpec;
use crate::domain::BeltId;
pub use config::LocalConfig;
use deployment::{write_work_dir, Deployment};
use log_bells::LogBells;
use process::{render_env, Programs, REPLICA_MARKER};
use recover::Marker;
pub use sandbox::SandboxConfig;
use sandbox::{Sandbox, Shared};
use supervisor::{supervise, Supervision};

pub struct LocalRuntime {
    /// Absolute, since replicas run with their work dir as cwd.
    data_dir: PathBuf,
    programs: Programs,
    settings: Supervision,
    failure_threshold: u32,
    belts: Mutex<HashMap<BeltId, Deployment>>,
    /// Serialises apply/remove/shutdown per belt, so two calls never both start replicas.
    belt_locks: Mutex<HashMap<BeltId, Arc<tokio::sync::Mutex<()>>>>,
    closing: AtomicBool,
    proc_dir: PathBuf,
    sandbox: Arc<Sandbox>,
    events: super::PhaseEvents,
    log_bells: LogBells,
}

/// A poisoned lock only means another thread panicked mid-update; the tables stay usable, and
/// the supervisor must not panic in turn.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LocalRuntime {
    /// Each replica of the belt: (name, work dir).
    fn replica_dirs(&self, id: BeltId) -> Vec<(String, PathBuf)> {
        match lock(&self.belts).get(&id) {
            Some(deployment) => deployment
                .members
                .iter()
                .map(|m| (m.name.clone(), m.dir.clone()))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Creates the data dir and writes the bundled belt host into it.
    pub fn new(config: LocalConfig) -> anyhow::Result<Self> {
        let belts = config.data_dir.join("belts");
        std::fs::create_dir_all(&belts).with_context(|| format!("creating {}", belts.display()))?;
        let data_dir = std::fs::canonicalize(&config.data_dir)
            .with_context(|| format!("resolving {}", config.data_dir.display()))?;
        let host = host_env::host_command(&config, &data_dir)?;
        let sandbox = Sandbox::new(&config.sandbox, &data_dir, host.readable)?;
        if let Some(env_dir) = &host.env_dir {
            host_env::prepare(env_dir, &sandbox, &data_dir.join("host-env-build"))?;
        }
        Ok(LocalRuntime {
            data_dir,
            programs: host.programs,
            settings: Supervision {
                backoff_initial: config.backoff_initial,
                backoff_max: config.backoff_max,
                stop_grace: config.stop_grace,
                log_file_limit: config.log_file_limit,
            },
            failure_threshold: config.failure_threshold,
            belts: Mutex::new(HashMap::new()),
            belt_locks: Mutex::new(HashMap::new()),
            closing: AtomicBool::new(false),
            proc_dir: config.proc_dir,
            sandbox,
            events: Default::default(),
            log_bells: LogBells::default(),
        })
    }

    fn belt_dir(&self, id: BeltId) -> PathBuf {
        self.data_dir.join("belts").join(id.to_string())
    }

    /// A belt's replicas share its virtualenv (and the lock that guards building it) and run as
    /// the belt's uid.
    fn cell(&self, id: BeltId) -> sandbox::Cell {
        let belt_dir = self.belt_dir(id);
        let shared = vec![
            Shared::Dir(belt_dir.join("venv")),
            Shared::File(belt_dir.join("venv.lock")),
        ];
        self.sandbox.cell(id.get().unsigned_abs(), shared)
    }

    fn belt_lock(&self, id: BeltId) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.belt_locks).entry(id).or_default().clone()
    }

    fn refuse_when_closing(&self) -> Result<(), RuntimeError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(RuntimeError::Unavailable(
                "the local runtime is shutting down".into(),
            ));
        }
        Ok(())
    }

    /// `BELT_REPLICA_OF=<data dir>`: the value every replica of this data dir carries.
    fn marker_value(&self) -> String {
        self.data_dir.to_string_lossy().into_owned()
    }

    /// Writes each replica's work dir and starts its supervisor.
    async fn start(&self, spec: &ReplicaSpec) -> anyhow::Result<()> {
        let mut env = render_env(spec);
        // Last and unique, so a belt's own `env` cannot hide its replicas from recovery.
        env.retain(|(name, _)| name != REPLICA_MARKER);
        env.push((REPLICA_MARKER.to_string(), self.marker_value()));
        let replicas = lock(&self.belts)
            .get(&spec.belt_id)
            .context("the deployment vanished while starting")?
            .replicas(
                &self.programs,
                &env,
                self.settings,
                &self.cell(spec.belt_id),
                &self.log_bells.bell(spec.belt_id),
            );
        for (replica, _) in &replicas {
            write_work_dir(&replica.launch.dir, spec).await?;
        }
        let tasks: Vec<JoinHandle<()>> = replicas
            .into_iter()
            .map(|(replica, stop)| tokio::spawn(supervise(replica, stop)))
            .collect();
        match lock(&self.belts).get_mut(&spec.belt_id) {
            Some(deployment) => deployment.attach(tasks),
            // Unreachable while the belt lock is held; never leave a supervisor without owner.
            None => tasks.iter().for_each(JoinHandle::abort),
        }
        Ok(())
    }

    async fn stop_belt(&self, id: BeltId) {
        let belt_lock = self.belt_lock(id);
        let _guard = belt_lock.lock().await;
        let taken = lock(&self.belts).remove(&id);
        if let Some(deployment) = taken {
            deployment.stop().await;
            // Announced even when no replica's status changed (one waiting to restart).
            self.events.changed(id);
        }
    }
}

#[async_trait]
impl Runtime for LocalRuntime {
    fn name(&self) -> &'static str {
        "local"
    }

    /// First every process carrying this data dir's marker that no supervisor here owns, then
    /// the replicas recorded in state files (started before the marker existed), then the work
    /// dirs. A process list that cannot be read, or leftovers that survive SIGKILL, fail the
    /// start: going on would run belts twice.
    async fn recover(&self) -> Result<(), RuntimeError> {
        let (tracked, supervised): (HashSet<PathBuf>, HashSet<i32>) = {
            let belts = lock(&self.belts);
            let members = || belts.values().flat_map(|d| d.members.iter());
            (
                members().map(|m| m.dir.clone()).collect(),
                members()
                    .filter_map(|m| lock(&m.status).running_pid())
                    .filter_map(|pid| i32::try_from(pid).ok())
                    .collect(),
            )
        };
        let marker = Marker::new(REPLICA_MARKER, &self.marker_value());
        let stopped = recover::clear_marked(
            &self.proc_dir,
            &marker,
            &supervised,
            self.settings.stop_grace,
        )
        .await
        .context("stopping the replicas an earlier API process left behind")?;
        if stopped > 0 {
            tracing::warn!(
                processes = stopped,
                "stopped belt replica processes that an earlier API process left behind"
            );
        }
        let mut leftovers = Vec::new();
        let belts_dir = self.data_dir.join("belts");
        let mut entries = tokio::fs::read_dir(&belts_dir)
            .await
            .with_context(|| format!("listing {}", belts_dir.display()))?;
        while let Some(entry) = entries
            .next_entry()
            .await
            .with_context(|| format!("listing {}", belts_dir.display()))?
        {
            for dir in recover::replica_dirs(&entry.path()).await {
                if !tracked.contains(&dir) {
                    leftovers.push(dir);
                }
            }
        }
        recover::clear(leftovers, self.settings.stop_grace, &marker)
            .await
            .context("stopping recorded replicas that an earlier API process left behind")?;
        Ok(())
    }

    async fn apply(&self, spec: &ReplicaSpec) -> Result<(), RuntimeError> {
        self.refuse_when_closing()?;
        let id = spec.belt_id;
        let belt_lock = self.belt_lock(id);
        let _guard = belt_lock.lock().await;
        // `shutdown` may have begun while we waited for the lock.
        self.refuse_when_closing()?;
        let previous = {
            let mut belts = lock(&self.belts);
            if let Some(current) = belts.get(&id) {
                if current.runs(spec) {
                    return Ok(());
                }
            }
            // The new generation is visible (DEPLOYING) at once, its replicas not yet started.
            let planned = Deployment::plan(spec, &self.belt_dir(id), self.failure_threshold);
            for member in &planned.members {
                lock(&member.status).on_change = Some((self.events.clone(), id));
            }
            belts.insert(id, planned)
        };
        // Old replicas are gone before new ones start: never more than `replicas` at a time.
        if let Some(previous) = previous {
            previous.stop().await;
        }
        if let Err(err) = self.start(spec).await {
            let planned = lock(&self.belts).remove(&id);
            if let Some(planned) = planned {
                planned.stop().await;
            }
            return Err(RuntimeError::Other(
                err.context(format!("starting belt {id}")),
            ));
        }
        tracing::info!(belt = %id, version = spec.version, generation = spec.generation, replicas = spec.replicas, "belt replicas started");
        Ok(())
    }

    async fn remove(&self, id: BeltId) -> Result<(), RuntimeError> {
        self.stop_belt(id).await;
        let belt_lock = self.belt_lock(id);
        let _guard = belt_lock.lock().await;
        if lock(&self.belts).contains_key(&id) {
            // Re-applied in between: the newer wish wins.
            return Ok(());
        }
        // Replicas no supervisor tracks (an earlier crash not yet recovered) go too.
        let belt_dir = self.belt_dir(id);
        recover::clear(
            recover::replica_dirs(&belt_dir).await,
            self.settings.stop_grace,
            &Marker::new(REPLICA_MARKER, &self.marker_value()),
        )
        .await
        .with_context(|| format!("stopping what still runs of belt {id}"))?;
        match tokio::fs::remove_dir_all(&belt_dir).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(RuntimeError::Other(
                anyhow::Error::new(err).context(format!("deleting {}", belt_dir.display())),
            )),
        }
    }

    fn observe(&self, id: BeltId) -> Option<Observed> {
        let belts = lock(&self.belts);
        let deployment = belts.get(&id)?;
        Some(Observed {
            version: deployment.version,
            generation: deployment.generation,
            phase: details::phase(&deployment.statuses()),
        })
    }

    fn deployed(&self) -> Vec<BeltId> {
        let mut ids: Vec<BeltId> = lock(&self.belts).keys().copied().collect();
        ids.sort();
        ids
    }

    async fn details(&self, id: BeltId) -> Result<Option<StateDetails>, RuntimeError> {
        let belts = lock(&self.belts);
        let Some(deployment) = belts.get(&id) else {
            return Ok(None);
        };
        let replicas = deployment.statuses();
        Ok(Some(details::render(&details::View {
            container: &deployment.container,
            replica_set: format!("{}-{}", deployment.container, deployment.generation),
            image: self.programs.host.join(" "),
            created_at: deployment.created_at,
            replicas: &replicas,
        })))
    }

    fn phase_events(&self) -> Option<tokio::sync::broadcast::Receiver<BeltId>> {
        Some(self.events.subscribe())
    }

    async fn shutdown(&self) {
        self.closing.store(true, Ordering::SeqCst);
        // An `apply` that passed its check just before `closing` was set may still add a belt:
        // go again until none is left (new ones are refused now, so this ends).
        loop {
            let ids = self.deployed();
            if ids.is_empty() {
                return;
            }
            tracing::info!(belts = ids.len(), "stopping the local belt replicas");
            futures::future::join_all(ids.into_iter().map(|id| self.stop_belt(id))).await;
        }
    }
}

#[async_trait]
impl ReplicaLogs for LocalRuntime {
    async fn logs(
        &self,
        id: BeltId,
        lines: u32,
    ) -> Result<BTreeMap<String, Vec<String>>, RuntimeError> {
        let mut logs = BTreeMap::new();
        for (name, dir) in self.replica_dirs(id) {
            logs.insert(name, output::tail(&dir, lines as usize).await);
        }
        Ok(logs)
    }
    async fn logs_matching(
        &self,
        id: BeltId,
        query: &LogQuery,
    ) -> Result<BTreeMap<String, Vec<String>>, RuntimeError> {
        Ok(logs::select(self.replica_dirs(id), query).await)
    }
    fn follow_logs(self: Arc<Self>, id: BeltId, query: LogQuery) -> LogStream {
        let bell = self.log_bells.listen(id);
        logs_follow::follow(Box::new(move || self.replica_dirs(id)), bell, query)
    }
}

impl Drop for LocalRuntime {
    /// Dropped without `shutdown` (as in a crash): the supervisors end, the processes keep running
    /// until the next `recover`, like after `kill -9` of the API.
    fn drop(&mut self) {
        lock(&self.belts).values().for_each(Deployment::abandon);
    }
}
