//! Clearing replicas that no supervisor of this process owns: those a crashed API left behind
//! (CONTRACT §1), found through the state files in their work dirs. A pid is only signalled when
//! `/proc` shows it still is the recorded process (or was started into its group after it), so a
//! recycled pid is never killed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use super::process::{boot_id, signal_group, ProcStat, ReplicaState};

/// Work dirs of replicas are named after them; everything else in a belt dir (the venv) is not a
/// replica.
pub(super) const REPLICA_DIR_PREFIX: &str = "grnry-belt-";
/// How often `/proc` is read while waiting for leftovers to exit.
const POLL: Duration = Duration::from_millis(50);
/// How long SIGKILLed processes may take to vanish before we give up waiting.
const KILL_WAIT: Duration = Duration::from_secs(2);

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
/// deletes the dirs.
pub(super) async fn clear(dirs: Vec<PathBuf>, grace: Duration) {
    let current_boot = boot_id();
    let states: Vec<ReplicaState> = dirs
        .iter()
        .filter_map(|dir| ReplicaState::read(dir))
        // After a reboot nothing recorded can still run, and start times no longer compare.
        .filter(|state| state.boot_id == current_boot)
        .collect();
    if !states.is_empty() {
        tracing::warn!(
            replicas = states.len(),
            "stopping belt replicas that an earlier API process left behind"
        );
        if signal_all(&states, Signal::SIGTERM).await {
            let terminated = wait_until_gone(&states, grace).await;
            if !terminated && signal_all(&states, Signal::SIGKILL).await {
                wait_until_gone(&states, KILL_WAIT).await;
            }
        }
    }
    for dir in dirs {
        if let Err(err) = tokio::fs::remove_dir_all(&dir).await {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), %err, "could not delete a replica work dir");
            }
        }
    }
}

/// Kills what the replica's reaped leader left in its group, as a container's teardown would.
/// Once the leader is reaped the group id is no proof of ownership, so members are checked
/// through `/proc` like leftovers of a crash.
pub(super) async fn kill_remains(state: &ReplicaState) {
    // Signal 0 only asks whether the group has members; usually none is left, and then the
    // `/proc` scan is not worth doing.
    if signal::killpg(Pid::from_raw(state.pgid), None).is_err() {
        return;
    }
    signal_all(std::slice::from_ref(state), Signal::SIGKILL).await;
}

/// Signals what still runs of each replica; `false` when nothing did.
async fn signal_all(states: &[ReplicaState], signal: Signal) -> bool {
    let processes = snapshot().await;
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
    any
}

async fn wait_until_gone(states: &[ReplicaState], within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let processes = snapshot().await;
        if states
            .iter()
            .all(|state| target(state, &processes).is_none())
        {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
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

/// What runs of the recorded replica, or `None` when nothing does.
fn target(state: &ReplicaState, processes: &[(i32, ProcStat)]) -> Option<Target> {
    let leader = processes.iter().find(|(pid, _)| *pid == state.pgid);
    let leader_verified = match leader {
        Some((_, stat)) if stat.start_time == state.start_time => stat.alive(),
        // The id now belongs to a newer process that leads a group of its own: not ours.
        Some((_, stat)) if stat.pgrp == state.pgid => return None,
        _ => false,
    };
    // A group id cannot be reused while a member lives, so members started after the recorded
    // leader are its descendants even when the leader itself is gone.
    let pids: Vec<i32> = processes
        .iter()
        .filter(|(_, stat)| {
            stat.pgrp == state.pgid && stat.start_time >= state.start_time && stat.alive()
        })
        .map(|(pid, _)| *pid)
        .collect();
    (!pids.is_empty()).then_some(Target {
        leader_verified,
        pids,
    })
}

/// Every process in `/proc`; read on a blocking thread since it is one file per process.
async fn snapshot() -> Vec<(i32, ProcStat)> {
    tokio::task::spawn_blocking(|| {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(|pid| Some((pid, ProcStat::read(pid)?)))
            .collect()
    })
    .await
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};

    fn spawn_group(script: &str) -> Child {
        Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .unwrap()
    }

    fn alive(pid: i32) -> bool {
        ProcStat::read(pid).is_some_and(|stat| stat.alive())
    }

    fn group_members(pgid: i32) -> Vec<i32> {
        let dir = std::fs::read_dir("/proc").unwrap();
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| ProcStat::read(*pid).is_some_and(|s| s.pgrp == pgid && s.alive()))
            .collect()
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

        clear(vec![dir.clone()], Duration::from_secs(2)).await;

        child.wait().unwrap();
        assert!(
            group_members(pid).is_empty(),
            "the background sleep survived"
        );
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

        clear(vec![dir], Duration::from_secs(2)).await;

        assert!(group_members(pid).is_empty());
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

        clear(vec![dir.clone()], Duration::from_millis(200)).await;

        assert!(
            alive(stranger.id() as i32),
            "a stranger's process was killed"
        );
        assert!(!dir.exists());
        stranger.kill().unwrap();
        stranger.wait().unwrap();
    }
}
