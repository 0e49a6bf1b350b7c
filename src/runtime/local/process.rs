//! Starting and stopping one replica process: its environment, its work dir, its process group,
//! and the state file that lets a later API process find it after a crash.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::process::Child;

use super::sandbox::{open_private, read_private_tail, Cell};

use crate::domain::replica::ReplicaSpec;

mod pair;
use pair::Pair;

/// Set in every replica's environment to the data dir, so that a later API finds the replicas of
/// its data dir in `/proc` even when nothing else about them was recorded.
pub(super) const REPLICA_MARKER: &str = "BELT_REPLICA_OF";

/// Written next to the replica's files once it runs; read by `recover`.
pub(super) const STATE_FILE: &str = "belt-replica.json";

/// Variables of the API's own environment a replica may see: enough to find and run Python. The
/// rest (database URLs, tokens, cloud credentials) must not reach user code.
fn inherited(name: &str) -> bool {
    matches!(name, "PATH" | "HOME" | "LANG") || name.starts_with("PYTHON")
}

/// `spec.env` as plain strings, in order (`ReplicaSpec::plain_env`).
pub(super) fn render_env(spec: &ReplicaSpec) -> Vec<(String, String)> {
    spec.plain_env()
}

/// What a replica runs: one program, or (the bundled belt host) a trusted host and a worker that
/// runs the user's code without network (`pair.rs`).
#[derive(Debug, Clone)]
pub(super) struct Programs {
    pub host: Vec<String>,
    pub worker: Option<Vec<String>>,
}

/// Everything needed to start one run of a replica.
#[derive(Debug, Clone)]
pub(super) struct Launch {
    pub name: String,
    pub dir: PathBuf,
    pub command: Vec<String>,
    pub worker: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub cell: Cell,
}

/// A started replica: its leader, and its worker when it has one.
pub(super) struct Started {
    pub leader: Child,
    pub worker: Option<Child>,
}

fn no_env() -> std::iter::Empty<(String, String)> {
    std::iter::empty()
}

impl Launch {
    /// Starts the replica in its own process group, so stopping it reaches whatever it started
    /// (its worker, pip, subprocesses of the callback) and nothing else.
    pub(super) fn spawn(&self) -> std::io::Result<Started> {
        if let Some(worker) = &self.worker {
            let Pair { host, worker } = self.spawn_pair(worker)?;
            return Ok(Started {
                leader: host,
                worker: Some(worker),
            });
        }
        let (program, args) = self.command.split_first().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the replica command is empty",
            )
        })?;
        // Isolated as docs/local-sandbox.md says; the environment is set here as before.
        let mut command = self.cell.command(&self.dir, program, args, no_env())?;
        command
            .current_dir(&self.dir)
            .env_clear()
            .envs(std::env::vars_os().filter(|(name, _)| name.to_str().is_some_and(inherited)))
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .env("BELT_REPLICA_NAME", &self.name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        Ok(Started {
            leader: command.spawn()?,
            worker: None,
        })
    }
}

/// What `recover` needs to find a replica again and to be sure it is still that process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReplicaState {
    pub pid: i32,
    pub pgid: i32,
    /// `/proc/<pid>/stat` field 22: clock ticks after boot. A recycled pid has another one.
    pub start_time: u64,
    /// Start times only compare within one boot.
    pub boot_id: String,
}

impl ReplicaState {
    /// The state of a process we just started (it leads its own group). Even if it already
    /// exited, it is an unreaped zombie whose `/proc` entry still answers.
    pub(super) fn of_child(pid: u32) -> std::io::Result<ReplicaState> {
        let pid = i32::try_from(pid).map_err(std::io::Error::other)?;
        let stat = ProcStat::read(pid)
            .ok_or_else(|| std::io::Error::other(format!("no /proc entry for pid {pid}")))?;
        Ok(ReplicaState {
            pid,
            pgid: stat.pgrp,
            start_time: stat.start_time,
            boot_id: boot_id(),
        })
    }

    pub(super) async fn write(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        let temporary = dir.join(format!("{STATE_FILE}.tmp"));
        // Never through a symlink the replica planted in its work dir.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        std::io::Write::write_all(&mut open_private(&temporary, &mut options)?, &json)?;
        tokio::fs::rename(&temporary, dir.join(STATE_FILE)).await
    }

    pub(super) fn read(dir: &Path) -> Option<ReplicaState> {
        let (bytes, cut) = read_private_tail(&dir.join(STATE_FILE), 64 * 1024).ok()?;
        if cut {
            return None;
        }
        serde_json::from_slice(&bytes).ok()
    }
}

pub(super) async fn remove_state(dir: &Path) {
    let _ = tokio::fs::remove_file(dir.join(STATE_FILE)).await;
}

pub(super) fn boot_id() -> String {
    procfs::sys::kernel::random::boot_id()
        .map(|id| id.trim().to_string())
        .unwrap_or_default()
}

/// The fields of `/proc/<pid>/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProcStat {
    pub state: char,
    pub pgrp: i32,
    pub start_time: u64,
}

impl ProcStat {
    pub(super) fn read(pid: i32) -> Option<ProcStat> {
        Some(ProcStat::from(
            &procfs::process::Process::new(pid).ok()?.stat().ok()?,
        ))
    }

    /// A zombie has exited; only its parent's `wait` is missing.
    pub(super) fn alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

impl From<&procfs::process::Stat> for ProcStat {
    fn from(stat: &procfs::process::Stat) -> ProcStat {
        ProcStat {
            state: stat.state,
            pgrp: stat.pgrp,
            start_time: stat.starttime,
        }
    }
}

/// The group a replica may be signalled through. `killpg(0)` would signal belt-api's own group
/// and `killpg(1)` init's, so those (and belt-api's own group, which no replica leads) are refused.
pub(super) fn replica_group(pgid: i32) -> Option<Pid> {
    (pgid > 1 && pgid != nix::unistd::getpgrp().as_raw()).then(|| Pid::from_raw(pgid))
}

/// Sends `signal` to the process group; a group that is already gone is not an error.
pub(super) fn signal_group(pgid: i32, signal: Signal) {
    let Some(group) = replica_group(pgid) else {
        tracing::error!(pgid, %signal, "refusing to signal a process group that is not a replica's");
        return;
    };
    match signal::killpg(group, signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(err) => {
            tracing::warn!(pgid, %signal, %err, "could not signal a replica's process group")
        }
    }
}

/// SIGTERM to the group, SIGKILL after `grace`; returns once the leader is reaped, so no zombie is
/// left behind. Until then the unreaped leader keeps the group id ours, which makes `killpg` safe.
pub(super) async fn terminate(
    child: &mut Child,
    pgid: i32,
    grace: Duration,
) -> std::io::Result<std::process::ExitStatus> {
    signal_group(pgid, Signal::SIGTERM);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            signal_group(pgid, Signal::SIGKILL);
            child.wait().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::replica::{EnvEntry, EnvValue};

    #[test]
    fn reads_the_stat_of_a_running_process() {
        let me = ProcStat::read(std::process::id() as i32).unwrap();
        assert_eq!(me.pgrp, nix::unistd::getpgrp().as_raw());
        assert!(me.alive() && me.start_time > 0);
        assert_eq!(ProcStat::read(i32::MAX), None, "no such process");
        assert!(!boot_id().is_empty());
    }

    #[test]
    fn never_signals_belt_apis_own_group_or_init() {
        assert_eq!(replica_group(0), None, "killpg(0) is belt-api's own group");
        assert_eq!(replica_group(1), None);
        assert_eq!(replica_group(-5), None);
        assert_eq!(replica_group(nix::unistd::getpgrp().as_raw()), None);
        assert_eq!(replica_group(4242), Some(Pid::from_raw(4242)));
    }

    #[test]
    fn renders_secrets_as_key_names_and_value_from_as_empty() {
        let entry = |name: &str, value| EnvEntry {
            name: name.into(),
            value,
        };
        let spec = ReplicaSpec {
            env: vec![
                entry("A", EnvValue::Plain("1".into())),
                entry(
                    "USER",
                    EnvValue::FromSecret {
                        secret: "s".into(),
                        key: "username".into(),
                    },
                ),
                entry(
                    "X",
                    EnvValue::Kubernetes(serde_json::json!({"name": "X", "value": "x"})),
                ),
                entry(
                    "Y",
                    EnvValue::Kubernetes(serde_json::json!({
                        "name": "Y",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}
                    })),
                ),
            ],
            ..test_spec()
        };
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            render_env(&spec),
            pairs(&[("A", "1"), ("USER", "username"), ("X", "x"), ("Y", "")])
        );
    }

    fn test_spec() -> ReplicaSpec {
        ReplicaSpec {
            belt_id: crate::domain::BeltId::new(1).unwrap(),
            project: crate::domain::ProjectName::global(),
            version: 1,
            generation: 1,
            name: "grnry-belt-1".into(),
            replicas: 1,
            image: "i:1".into(),
            image_pull_secret: None,
            millicpu: 1,
            millicpu_requests: 1,
            memory_mi: 1,
            memory_requests_mi: 1,
            files: Default::default(),
            env: Vec::new(),
            volumes: Vec::new(),
            volume_mounts: Vec::new(),
            kafka: crate::domain::kafka_access::KafkaAccess {
                input_topics: Vec::new(),
                consumer_group: "g".into(),
                output_topics: Vec::new(),
                dead_letter_topic: "grnry_belt_dlq_1".into(),
            },
        }
    }
}
