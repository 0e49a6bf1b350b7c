//! One generation of a belt in the supervisor table: its replicas' names, work dirs, statuses and
//! supervisor tasks.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::lock;
use super::process::{Launch, Programs};
use super::sandbox::Cell;
use super::status::ReplicaStatus;
use super::supervisor::{Replica, Supervision};
use crate::domain::replica::ReplicaSpec;

pub(super) struct Member {
    pub name: String,
    pub dir: PathBuf,
    pub status: Arc<Mutex<ReplicaStatus>>,
    stop: watch::Sender<bool>,
    /// `None` until the previous generation has stopped and this one is started.
    task: Option<JoinHandle<()>>,
}

pub(super) struct Deployment {
    pub version: i64,
    pub generation: i64,
    /// `grnry-belt-<id>`
    pub container: String,
    pub created_at: OffsetDateTime,
    pub members: Vec<Member>,
}

impl Deployment {
    /// The table entry for `spec`, its replicas not started yet. Replica `i` is
    /// `grnry-belt-<id>-<generation>-<i>`, working in `<belt_dir>/<that name>/`.
    pub(super) fn plan(spec: &ReplicaSpec, belt_dir: &Path, failure_threshold: u32) -> Self {
        let now = OffsetDateTime::now_utc();
        let members = (0..spec.replicas)
            .map(|i| {
                let name = format!("{}-{}-{i}", spec.name, spec.generation);
                let status = ReplicaStatus::new(name.clone(), failure_threshold, now);
                Member {
                    dir: belt_dir.join(&name),
                    status: Arc::new(Mutex::new(status)),
                    stop: watch::channel(false).0,
                    task: None,
                    name,
                }
            })
            .collect();
        Deployment {
            version: spec.version,
            generation: spec.generation,
            container: spec.name.clone(),
            created_at: now,
            members,
        }
    }

    /// Whether this already is what `spec` asks for, so applying it changes nothing.
    pub(super) fn runs(&self, spec: &ReplicaSpec) -> bool {
        self.version == spec.version
            && self.generation == spec.generation
            && self.members.len() == spec.replicas as usize
    }

    pub(super) fn statuses(&self) -> Vec<ReplicaStatus> {
        self.members
            .iter()
            .map(|m| lock(&m.status).clone())
            .collect()
    }

    /// What each replica's supervisor needs, with the receiver of its stop signal.
    pub(super) fn replicas(
        &self,
        programs: &Programs,
        env: &[(String, String)],
        settings: Supervision,
        cell: &Cell,
        bell: &watch::Sender<()>,
    ) -> Vec<(Replica, watch::Receiver<bool>)> {
        self.members
            .iter()
            .map(|member| {
                let launch = Launch {
                    name: member.name.clone(),
                    dir: member.dir.clone(),
                    command: programs.host.clone(),
                    worker: programs.worker.clone(),
                    env: env.to_vec(),
                    cell: cell.clone(),
                };
                let replica = Replica {
                    launch,
                    status: member.status.clone(),
                    settings,
                    bell: bell.clone(),
                };
                (replica, member.stop.subscribe())
            })
            .collect()
    }

    /// The supervisors started for `replicas`, in the same order.
    pub(super) fn attach(&mut self, tasks: Vec<JoinHandle<()>>) {
        for (member, task) in self.members.iter_mut().zip(tasks) {
            member.task = Some(task);
        }
    }

    /// Stops every replica (concurrently), waits for them, deletes their work dirs.
    pub(super) async fn stop(self) {
        for member in &self.members {
            member.stop.send_replace(true);
        }
        for member in self.members {
            if let Some(task) = member.task {
                if let Err(err) = task.await {
                    tracing::error!(replica = %member.name, %err, "a replica supervisor failed");
                }
            }
            if let Err(err) = tokio::fs::remove_dir_all(&member.dir).await {
                if err.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir = %member.dir.display(), %err, "could not delete a replica work dir");
                }
            }
        }
    }

    /// Ends the supervisors but leaves their processes running, as a crash of the API would.
    pub(super) fn abandon(&self) {
        for task in self.members.iter().filter_map(|m| m.task.as_ref()) {
            task.abort();
        }
    }
}

/// A fresh work dir holding the spec's files.
pub(super) async fn write_work_dir(dir: &Path, spec: &ReplicaSpec) -> anyhow::Result<()> {
    if tokio::fs::try_exists(dir).await.unwrap_or(false) {
        tokio::fs::remove_dir_all(dir)
            .await
            .with_context(|| format!("clearing {}", dir.display()))?;
    }
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("creating {}", dir.display()))?;
    for (name, content) in &spec.files {
        // File names come from the domain (`callback.py`, `requirements.txt`); a name that could
        // leave the work dir is refused rather than trusted.
        let plain = Path::new(name)
            .file_name()
            .is_some_and(|n| n == name.as_str());
        anyhow::ensure!(plain, "refusing to write the file {name:?} of a belt");
        tokio::fs::write(dir.join(name), content)
            .await
            .with_context(|| format!("writing {name} into {}", dir.display()))?;
    }
    Ok(())
}
