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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use super::process::{boot_id, replica_group, signal_group, ProcStat, ReplicaState};

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

// ------------------------------------------------------------------------------------------------
// The marker.

/// `BELT_REPLICA_OF=<data dir>` as it appears in `/proc/<pid>/environ`.
#[derive(Debug, Clone)]
pub(super) struct Marker(Vec<u8>);

impl Marker {
    pub(super) fn new(name: &str, value: &str) -> Marker {
        Marker(format!("{name}={value}").into_bytes())
    }

    fn carried_by(&self, environ: &[u8]) -> bool {
        environ.split(|&b| b == 0).any(|entry| entry == self.0)
    }
}

/// Stops every process that carries `marker` and is not in one of the `supervised` process
/// groups (the replicas this process runs), with what it started: SIGTERM, SIGKILL after `grace`. Returns how many processes
/// it stopped. Fails when `/proc` cannot be read (after a few attempts) or when processes
/// survive SIGKILL: the caller must not go on as if nothing ran.
pub(super) async fn clear_marked(
    proc_dir: &Path,
    marker: &Marker,
    supervised: &HashSet<i32>,
    grace: Duration,
) -> std::io::Result<usize> {
    let me = std::process::id() as i32;
    let own_group = nix::unistd::getpgrp().as_raw();
    // pid -> start time of every process found so far.
    let mut found: HashMap<i32, u64> = HashMap::new();
    let mut processes = snapshot_retrying(proc_dir, marker).await?;
    add_marked(&mut found, &processes, supervised, me, own_group);
    if found.is_empty() {
        return Ok(0);
    }
    tracing::warn!(
        processes = found.len(),
        "stopping belt replica processes that an earlier API process left behind"
    );
    let mut terminated: HashSet<(i32, u64)> = HashSet::new();
    let terminate_until = tokio::time::Instant::now() + grace;
    let kill_until = terminate_until + KILL_WAIT;
    loop {
        let now = tokio::time::Instant::now();
        let running = still_running(&found, &processes);
        if running.is_empty() {
            return Ok(found.len());
        }
        if now >= kill_until {
            return Err(std::io::Error::other(format!(
                "{} belt replica process(es) of an earlier API survived SIGKILL: {running:?}",
                running.len()
            )));
        }
        let signal = if now < terminate_until {
            Signal::SIGTERM
        } else {
            Signal::SIGKILL
        };
        // Every round: what was forked meanwhile is found and signalled too. SIGTERM once per
        // process, so that a replica's own shutdown is not interrupted by the next one.
        for pid in running {
            let first = terminated.insert((pid, found[&pid]));
            if signal == Signal::SIGKILL || first {
                let _ = signal::kill(Pid::from_raw(pid), signal);
            }
        }
        tokio::time::sleep(POLL).await;
        processes = snapshot_retrying(proc_dir, marker).await?;
        add_marked(&mut found, &processes, supervised, me, own_group);
    }
}

/// Adds to `found` the processes that carry the marker and are not ours, and the members of
/// their process groups (descendants that cleared their environment stay in the group).
fn add_marked(
    found: &mut HashMap<i32, u64>,
    processes: &[Process],
    supervised: &HashSet<i32>,
    me: i32,
    own_group: i32,
) {
    let marked: Vec<&Process> = processes
        .iter()
        .filter(|p| p.marked && p.stat.alive() && p.pid != me)
        .filter(|p| !supervised.contains(&p.stat.pgrp))
        .collect();
    let mut groups: HashMap<i32, u64> = HashMap::new();
    for process in &marked {
        found.insert(process.pid, process.stat.start_time);
        let earliest = groups
            .entry(process.stat.pgrp)
            .or_insert(process.stat.start_time);
        *earliest = (*earliest).min(process.stat.start_time);
    }
    for (group, earliest) in groups {
        if group <= 1 || group == own_group {
            continue;
        }
        let leader = processes.iter().find(|p| p.pid == group && p.stat.alive());
        let members_since = match leader {
            // A replica leads its group: every member is the replica's.
            Some(leader) if leader.marked => 0,
            // Led by a process that is no replica (a replica moved itself into a foreign
            // group): only the marked processes are ours.
            Some(_) => continue,
            // The leader is gone; members started since the first marked one are the
            // replica's descendants (a group id is not reused while a member lives).
            None => earliest,
        };
        for member in processes.iter().filter(|p| {
            p.stat.pgrp == group
                && p.stat.alive()
                && p.pid != me
                && p.stat.start_time >= members_since
        }) {
            found.insert(member.pid, member.stat.start_time);
        }
    }
}

/// The pids of `found` that still run as the process found (not a recycled pid).
fn still_running(found: &HashMap<i32, u64>, processes: &[Process]) -> Vec<i32> {
    let mut pids: Vec<i32> = processes
        .iter()
        .filter(|p| p.stat.alive() && found.get(&p.pid) == Some(&p.stat.start_time))
        .map(|p| p.pid)
        .collect();
    pids.sort_unstable();
    pids
}

// ------------------------------------------------------------------------------------------------
// Reading /proc.

struct Process {
    pid: i32,
    stat: ProcStat,
    /// Carries the marker asked for (always `false` when none was).
    marked: bool,
}

async fn snapshot_retrying(proc_dir: &Path, marker: &Marker) -> std::io::Result<Vec<Process>> {
    let mut attempt = 1;
    loop {
        match snapshot(proc_dir, Some(marker)).await {
            Ok(processes) => return Ok(processes),
            Err(err) if attempt < SNAPSHOT_ATTEMPTS => {
                tracing::error!(%err, attempt, proc = %proc_dir.display(), "could not list the running processes; trying again");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => {
                return Err(std::io::Error::new(
                    err.kind(),
                    format!(
                        "listing the running processes in {}: {err}",
                        proc_dir.display()
                    ),
                ))
            }
        }
    }
}

/// Every process in `proc_dir`, read on a blocking thread since it is a file or two per process.
/// A process that vanishes while it is read is skipped; a `proc_dir` that cannot be listed is an
/// error. A process whose environment may not be read (another user's) counts as unmarked:
/// belt-api could not signal it either.
async fn snapshot(proc_dir: &Path, marker: Option<&Marker>) -> std::io::Result<Vec<Process>> {
    let proc_dir = proc_dir.to_path_buf();
    let marker = marker.cloned();
    tokio::task::spawn_blocking(move || {
        let mut processes = Vec::new();
        for entry in std::fs::read_dir(&proc_dir)? {
            let entry = entry?;
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let Some(stat) = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|text| ProcStat::parse(&text))
            else {
                continue;
            };
            let marked = marker.as_ref().is_some_and(|marker| {
                std::fs::read(entry.path().join("environ"))
                    .is_ok_and(|environ| marker.carried_by(&environ))
            });
            processes.push(Process { pid, stat, marked });
        }
        if processes.is_empty() {
            // Not even belt-api itself: this is no process list.
            return Err(std::io::Error::other(format!(
                "{} lists no process",
                proc_dir.display()
            )));
        }
        Ok(processes)
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;
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

        clear(vec![dir.clone()], Duration::from_secs(2), &marker())
            .await
            .unwrap();

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

        clear(vec![dir], Duration::from_secs(2), &marker())
            .await
            .unwrap();

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

    fn process(pid: i32, pgrp: i32, start_time: u64, marked: bool) -> Process {
        Process {
            pid,
            stat: ProcStat {
                state: 'S',
                pgrp,
                start_time,
            },
            marked,
        }
    }

    fn found_in(processes: &[Process], supervised: &[i32]) -> Vec<i32> {
        let mut found = HashMap::new();
        let supervised = supervised.iter().copied().collect();
        add_marked(&mut found, processes, &supervised, 1000, 999);
        let mut pids: Vec<i32> = found.into_keys().collect();
        pids.sort_unstable();
        pids
    }

    #[test]
    fn a_marked_leader_brings_its_whole_group() {
        let processes = [
            process(50, 50, 100, true),
            process(51, 50, 101, false), // cleared its environment
            process(60, 60, 90, false),  // a stranger
        ];
        assert_eq!(found_in(&processes, &[]), vec![50, 51]);
    }

    #[test]
    fn without_its_leader_a_group_counts_from_the_first_marked_member() {
        let processes = [
            process(51, 50, 101, true),
            process(52, 50, 105, false),
            process(53, 50, 99, false), // older than anything of the replica
        ];
        assert_eq!(found_in(&processes, &[]), vec![51, 52]);
    }

    #[test]
    fn in_a_foreign_group_only_marked_processes_count() {
        let processes = [
            process(70, 70, 10, false), // a shell's job group
            process(71, 70, 200, true), // a replica that moved itself into it
            process(72, 70, 300, false),
        ];
        assert_eq!(found_in(&processes, &[]), vec![71]);
    }

    #[test]
    fn spares_supervised_replicas_belt_api_itself_and_its_group() {
        let processes = [
            process(50, 50, 100, true),
            process(51, 50, 101, true),
            process(1000, 999, 5, true), // belt-api
            process(80, 999, 6, true),   // moved into belt-api's group
            process(81, 999, 7, false),
            process(90, 90, 5, true),
            process(1, 1, 1, false),
            process(91, 1, 6, true),
        ];
        assert_eq!(found_in(&processes, &[50]), vec![80, 90, 91]);
    }

    #[test]
    fn the_marker_is_a_whole_environment_entry() {
        let marker = Marker::new("BELT_REPLICA_OF", "/data");
        assert!(marker.carried_by(b"A=1\0BELT_REPLICA_OF=/data\0B=2\0"));
        assert!(!marker.carried_by(b"BELT_REPLICA_OF=/data/belts\0"));
        assert!(!marker.carried_by(b"X_BELT_REPLICA_OF=/data\0"));
        assert!(!marker.carried_by(b""));
    }

    #[tokio::test]
    async fn an_unreadable_process_list_is_an_error_not_an_empty_one() {
        let empty = tempfile::tempdir().unwrap();
        let marker = Marker::new("BELT_REPLICA_OF", "/data");
        for dir in [empty.path().to_path_buf(), empty.path().join("missing")] {
            let result = clear_marked(&dir, &marker, &HashSet::new(), Duration::ZERO).await;
            assert!(result.is_err(), "{}: {result:?}", dir.display());
        }
    }
}
