//! Clearing replicas that no supervisor of this process owns: those a crashed API left behind.
//!
//! Two ways to find them (docs/local-runtime-recovery.md):
//! - the marker: every replica is started with `BELT_REPLICA_OF=<data dir>` in its environment,
//!   which the kernel shows in `/proc/<pid>/environ` from the instant the replica program runs.
//!   A replica is therefore findable even when the API died before writing anything about it,
//!   and even after its work dir was deleted. Descendants that cleared their environment are
//!   found through the replica's process group.
//! - the state file in a work dir, for replicas started before the marker existed.
//!
//! A pid is only signalled when `/proc` shows it still is the process found (same start time),
//! so a recycled pid is never killed. A `/proc` that cannot be read is an error, never "nothing
//! runs".

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use super::process::{boot_id, replica_group, signal_group, ReplicaState};

mod marked;
mod snapshot;

pub(super) use marked::{clear_marked, Marker};
use snapshot::{snapshot, Process};

/// Work dirs of replicas are named after them; everything else in a belt dir (the venv) is not a
/// replica.
pub(super) const REPLICA_DIR_PREFIX: &str = "grnry-belt-";
/// Where the kernel lists processes.
pub(super) const PROC: &str = "/proc";
/// How often `/proc` is read while waiting for leftovers to exit.
const POLL: Duration = Duration::from_millis(50);
/// How long SIGKILLed processes may take to vanish before we give up waiting.
const KILL_WAIT: Duration = Duration::from_secs(2);
/// Reads of `/proc` that failed in a row before recovery gives up.
const SNAPSHOT_ATTEMPTS: u32 = 3;

/// The replica work dirs in `belt_dir`.
pub(super) async fn replica_dirs(belt_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let Ok(mut entries) = tokio::fs::read_dir(belt_dir).await else {
        return dirs;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let is_replica = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(REPLICA_DIR_PREFIX));
        if is_replica && entry.file_type().await.is_ok_and(|t| t.is_dir()) {
            dirs.push(entry.path());
        }
    }
    dirs
}

/// Stops whatever still runs of the replicas in `dirs` (SIGTERM, SIGKILL after `grace`), then
/// deletes the dirs. Fails, deleting nothing, when `/proc` cannot be read.
///
/// A replica can write its own work dir, so its state file is no proof: only processes that carry
/// `marker` (set by the kernel at exec, out of the replica's reach) are signalled through it.
pub(super) async fn clear(
    dirs: Vec<PathBuf>,
    grace: Duration,
    marker: &Marker,
) -> std::io::Result<()> {
    let current_boot = boot_id();
    let states: Vec<ReplicaState> = dirs
        .iter()
        .filter_map(|dir| ReplicaState::read(dir))
        // After a reboot nothing recorded can still run, and start times no longer compare.
        .filter(|state| state.boot_id == current_boot)
        .collect();
    let marker = Some(marker);
    if !states.is_empty() && signal_all(&states, Signal::SIGTERM, marker).await? {
        tracing::warn!(
            replicas = states.len(),
            "stopping belt replicas that an earlier API process left behind"
        );
        let terminated = wait_until_gone(&states, grace, marker).await?;
        if !terminated && signal_all(&states, Signal::SIGKILL, marker).await? {
            wait_until_gone(&states, KILL_WAIT, marker).await?;
        }
    }
    for dir in dirs {
        if let Err(err) = tokio::fs::remove_dir_all(&dir).await {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), %err, "could not delete a replica work dir");
            }
        }
    }
    Ok(())
}

/// Kills what the replica's reaped leader left in its group, as a container's teardown would.
/// Once the leader is reaped the group id is no proof of ownership, so members are checked
/// through `/proc` like leftovers of a crash.
pub(super) async fn kill_remains(state: &ReplicaState) {
    // Signal 0 only asks whether the group has members; usually none is left, and then the
    // `/proc` scan is not worth doing.
    let Some(group) = replica_group(state.pgid) else {
        return;
    };
    if signal::killpg(group, None).is_err() {
        return;
    }
    // The state is the supervisor's own record, not a file: no marker needed.
    if let Err(err) = signal_all(std::slice::from_ref(state), Signal::SIGKILL, None).await {
        tracing::error!(%err, pgid = state.pgid, "could not read /proc to kill what a replica left in its group");
    }
}

/// Signals what still runs of each replica; `false` when nothing did. With a `marker`, only
/// processes carrying it count (see `clear`).
async fn signal_all(
    states: &[ReplicaState],
    signal: Signal,
    marker: Option<&Marker>,
) -> std::io::Result<bool> {
    let processes = snapshot_of(marker).await?;
    let mut any = false;
    for state in states {
        let Some(target) = target(state, &processes) else {
            continue;
        };
        any = true;
        if target.leader_verified {
            // The group id is provably ours, and killpg also reaches processes forked meanwhile.
            signal_group(state.pgid, signal);
        } else {
            for pid in target.pids {
                let _ = signal::kill(Pid::from_raw(pid), signal);
            }
        }
    }
    Ok(any)
}

async fn wait_until_gone(
    states: &[ReplicaState],
    within: Duration,
    marker: Option<&Marker>,
) -> std::io::Result<bool> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let processes = snapshot_of(marker).await?;
        if states
            .iter()
            .all(|state| target(state, &processes).is_none())
        {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(POLL).await;
    }
}

struct Target {
    /// The group's leader is the recorded process, still running.
    leader_verified: bool,
    /// Live processes of the replica's group.
    pids: Vec<i32>,
}

/// Every process, or with a `marker` only those that carry it.
async fn snapshot_of(marker: Option<&Marker>) -> std::io::Result<Vec<Process>> {
    let mut processes = snapshot(Path::new(PROC), marker).await?;
    if marker.is_some() {
        processes.retain(|p| p.marked);
    }
    Ok(processes)
}

/// What runs of the recorded replica, or `None` when nothing does.
fn target(state: &ReplicaState, processes: &[Process]) -> Option<Target> {
    let leader = processes.iter().find(|p| p.pid == state.pgid);
    let leader_verified = match leader {
        Some(p) if p.stat.start_time == state.start_time => p.stat.alive(),
        // The id now belongs to a newer process that leads a group of its own: not ours.
        Some(p) if p.stat.pgrp == state.pgid => return None,
        _ => false,
    };
    // A group id cannot be reused while a member lives, so members started after the recorded
    // leader are its descendants even when the leader itself is gone.
    let pids: Vec<i32> = processes
        .iter()
        .filter(|p| {
            p.stat.pgrp == state.pgid && p.stat.start_time >= state.start_time && p.stat.alive()
        })
        .map(|p| p.pid)
        .collect();
    (!pids.is_empty()).then_some(Target {
        leader_verified,
        pids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::local::process::ProcStat;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};

    const TEST_MARKER_VALUE: &str = "/recover-tests";

    fn marker() -> Marker {
        Marker::new(super::super::process::REPLICA_MARKER, TEST_MARKER_VALUE)
    }

    /// A process group started as the runtime starts replicas: carrying the marker.
    fn spawn_group(script: &str) -> Child {
        Command::new("sh")
            .args(["-c", script])
            .env(super::super::process::REPLICA_MARKER, TEST_MARKER_VALUE)
            .process_group(0)
            .spawn()
            .unwrap()
    }

    fn alive(pid: i32) -> bool {
        ProcStat::read(pid).is_some_and(|stat| stat.alive())
    }

    fn group_members(pgid: i32) -> Vec<i32> {
        procfs::process::all_processes()
            .unwrap()
            .filter_map(|process| {
                let process = process.ok()?;
                Some((process.pid, ProcStat::from(&process.stat().ok()?)))
            })
            .filter(|(_, stat)| stat.pgrp == pgid && stat.alive())
            .map(|(pid, _)| pid)
            .collect()
    }

    /// Whether the group empties within two seconds. A signalled process drops its environment
    /// (and so the marker `clear` goes by) before it turns into a zombie: on a loaded machine
    /// `clear` can see it gone while `/proc` still shows it running for a moment.
    async fn empties(pgid: i32) -> bool {
        for _ in 0..100 {
            if group_members(pgid).is_empty() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    async fn wait_for_members(pgid: i32, count: usize) {
        for _ in 0..100 {
            if group_members(pgid).len() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("group {pgid} never had {count} members");
    }

    #[tokio::test]
    async fn kills_the_whole_group_of_a_recorded_replica_and_deletes_its_dir() {
        let work = tempfile::tempdir().unwrap();
        let dir = work.path().join("grnry-belt-1-1-0");
        std::fs::create_dir(&dir).unwrap();
        let mut child = spawn_group("sleep 30 & sleep 30");
        let pid = child.id() as i32;
        wait_for_members(pid, 2).await;
        ReplicaState::of_child(child.id())
            .unwrap()
            .write(&dir)
            .await
            .unwrap();

        clear(vec![dir.clone()], Duration::from_secs(2), &marker())
            .await
            .unwrap();

        child.wait().unwrap();
        assert!(empties(pid).await, "the background sleep survived");
        assert!(!dir.exists());
    }

    #[tokio::test]
    async fn finds_members_whose_leader_is_gone() {
        let work = tempfile::tempdir().unwrap();
        let dir = work.path().join("grnry-belt-1-1-0");
        std::fs::create_dir(&dir).unwrap();
        let mut child = spawn_group("sleep 30 & sleep 0.3");
        let pid = child.id() as i32;
        ReplicaState::of_child(child.id())
            .unwrap()
            .write(&dir)
            .await
            .unwrap();
        child.wait().unwrap();
        assert_eq!(
            group_members(pid).len(),
            1,
            "the background sleep should still run"
        );

        clear(vec![dir], Duration::from_secs(2), &marker())
            .await
            .unwrap();

        assert!(empties(pid).await, "the background sleep survived");
    }

    #[tokio::test]
    async fn never_kills_a_recycled_pid() {
        let work = tempfile::tempdir().unwrap();
        let dir = work.path().join("grnry-belt-1-1-0");
        std::fs::create_dir(&dir).unwrap();
        let mut stranger = spawn_group("sleep 30");
        let mut state = ReplicaState::of_child(stranger.id()).unwrap();
        // The recorded replica started earlier: this pid now names another process.
        state.start_time -= 1;
        state.write(&dir).await.unwrap();

        clear(vec![dir.clone()], Duration::from_millis(200), &marker())
            .await
            .unwrap();

        assert!(
            alive(stranger.id() as i32),
            "a stranger's process was killed"
        );
        assert!(!dir.exists());
        stranger.kill().unwrap();
        stranger.wait().unwrap();
    }

    #[tokio::test]
    async fn a_forged_state_file_never_signals_an_unmarked_process() {
        let work = tempfile::tempdir().unwrap();
        let dir = work.path().join("grnry-belt-1-1-0");
        std::fs::create_dir(&dir).unwrap();
        // What a replica could write into its own work dir: the exact record of a process that
        // is not a replica.
        let mut stranger = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        ReplicaState::of_child(stranger.id())
            .unwrap()
            .write(&dir)
            .await
            .unwrap();

        clear(vec![dir.clone()], Duration::from_millis(200), &marker())
            .await
            .unwrap();

        assert!(
            alive(stranger.id() as i32),
            "a forged state file got a process killed"
        );
        assert!(!dir.exists());
        stranger.kill().unwrap();
        stranger.wait().unwrap();
    }
}
