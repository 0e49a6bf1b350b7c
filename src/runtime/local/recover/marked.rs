//! Replicas found by the marker in their environment (see the parent module), however they were
//! left: the API may have died before it wrote anything about them.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

pub(in crate::runtime::local) use super::snapshot::Marker;
use super::snapshot::{snapshot_retrying, Process};
use super::{KILL_WAIT, POLL};

/// Stops every process that carries `marker` and is not in one of the `supervised` process
/// groups (the replicas this process runs), with what it started: SIGTERM, SIGKILL after `grace`. Returns how many processes
/// it stopped. Fails when `/proc` cannot be read (after a few attempts) or when processes
/// survive SIGKILL: the caller must not go on as if nothing ran.
pub(in crate::runtime::local) async fn clear_marked(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::local::process::ProcStat;

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
