//! A control group per test-invoke run, so that its memory bound covers what RLIMIT_AS cannot:
//! the private tmpfs mounts of the sandbox (`/tmp`, `/dev/shm`, charged to the cgroup that wrote
//! them) and every process the run forks, together. Its processes are placed in it before the
//! user's code runs (the first program of the command line enters it, then execs the rest), and
//! what the run left is killed and the group removed afterwards.
//!
//! cgroup v2 (`memory.max`, `pids.max`) where belt-api's own cgroup has those controllers
//! delegated; else cgroup v1 (`memory.limit_in_bytes`, `pids.max`) where those hierarchies are
//! writable; else none, and the caller falls back to sized tmpfs mounts and RLIMIT_NPROC.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub(super) mod detect;

pub use detect::CgroupSetting;

/// Which kind of hierarchy holds the runs' groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Where runs' groups are made: one directory of belt-api's own, per controller hierarchy
/// (one for v2; memory and, where mounted, pids for v1).
#[derive(Debug)]
pub struct Cgroups {
    pub version: Version,
    memory: PathBuf,
    pids: Option<PathBuf>,
    runs: AtomicU64,
}

/// The group of one run, removed by [`RunGroup::remove`] (or, failing that, when dropped).
#[derive(Debug)]
pub(super) struct RunGroup {
    version: Version,
    dirs: Vec<PathBuf>,
}

/// The shell's way to enter a group before anything else runs: each `cgroup.procs` named
/// before `--` gets the shell's own pid (`0`: the writer), then the rest is exec'ed.
const ENTER: &str =
    r#"while [ "$1" != -- ]; do echo 0 > "$1" || exit 125; shift; done; shift; exec "$@""#;
/// Its exit code when a group could not be entered (nothing was run).
pub(super) const ENTER_FAILED: i32 = 125;

impl Cgroups {
    fn new(version: Version, memory: PathBuf, pids: Option<PathBuf>) -> Cgroups {
        Cgroups {
            version,
            memory,
            pids,
            runs: AtomicU64::new(0),
        }
    }

    /// Whether a process bound comes with the memory bound.
    pub fn bounds_processes(&self) -> bool {
        self.version == Version::V2 || self.pids.is_some()
    }

    /// A fresh group limited to `memory_bytes` (no swap) and `pids` tasks.
    pub(super) fn create(&self, memory_bytes: u64, pids: u64) -> std::io::Result<RunGroup> {
        let name = format!("run-{}", self.runs.fetch_add(1, Ordering::Relaxed));
        let mut group = RunGroup {
            version: self.version,
            dirs: Vec::new(),
        };
        let memory = self.memory.join(&name);
        std::fs::create_dir(&memory)?;
        group.dirs.push(memory.clone());
        match self.version {
            Version::V2 => {
                write(&memory, "memory.max", memory_bytes)?;
                // Best effort: without swap accounting the files are missing.
                let _ = write(&memory, "memory.swap.max", 0);
                // One OOM ends the whole run rather than a random process of it.
                let _ = write(&memory, "memory.oom.group", 1);
                write(&memory, "pids.max", pids)?;
            }
            Version::V1 => {
                write(&memory, "memory.limit_in_bytes", memory_bytes)?;
                let _ = write(&memory, "memory.memsw.limit_in_bytes", memory_bytes);
                if let Some(root) = &self.pids {
                    let dir = root.join(&name);
                    std::fs::create_dir(&dir)?;
                    group.dirs.push(dir.clone());
                    write(&dir, "pids.max", pids)?;
                }
            }
        }
        Ok(group)
    }
}

/// Removes the run groups left in `dir` (a run abandoned mid-way), then `dir` itself; with
/// `kill`, what still runs in them first (else a group with members stays).
fn remove_tree(dir: &Path, kill: bool) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten().filter(|e| e.path().is_dir()) {
            if kill {
                kill_members(&entry.path());
            }
            let _ = std::fs::remove_dir(entry.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        std::iter::once(&self.memory)
            .chain(self.pids.as_ref())
            .for_each(|dir| remove_tree(dir, true));
    }
}

fn write(dir: &Path, file: &str, value: u64) -> std::io::Result<()> {
    std::fs::write(dir.join(file), value.to_string())
}

fn kill_members(dir: &Path) {
    let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
        return;
    };
    for pid in procs
        .lines()
        .filter_map(|line| line.trim().parse::<i32>().ok())
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The counter in a flat-keyed file (`oom_kill 3`), 0 when absent.
fn counter(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(' ')?;
            (name == key).then(|| value.trim().parse().ok()).flatten()
        })
        .unwrap_or_default()
}

impl RunGroup {
    /// `sh -c ENTER` with the group's `cgroup.procs` files: the arguments to put before the
    /// command that runs the user's code.
    pub(super) fn entering(&self) -> Vec<String> {
        let mut argv = vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            ENTER.to_string(),
            "belt-invoke-cgroup".to_string(),
        ];
        argv.extend(
            self.dirs
                .iter()
                .map(|dir| dir.join("cgroup.procs").to_string_lossy().into_owned()),
        );
        argv.push("--".to_string());
        argv
    }

    /// Whether the kernel's OOM killer acted in the group (its memory bound ended the run).
    pub(super) fn memory_exceeded(&self) -> bool {
        let memory = &self.dirs[0];
        match self.version {
            Version::V2 => std::fs::read_to_string(memory.join("memory.events"))
                .is_ok_and(|events| counter(&events, "oom_kill") + counter(&events, "oom") > 0),
            Version::V1 => {
                let control =
                    std::fs::read_to_string(memory.join("memory.oom_control")).unwrap_or_default();
                counter(&control, "oom_kill") > 0 || counter(&control, "under_oom") > 0
            }
        }
    }

    /// Kills what is left in the group and removes it; a member that takes time to exit (its
    /// tmpfs being freed) is waited for, up to a second.
    pub(super) async fn remove(mut self) {
        for _ in 0..20 {
            self.dirs.iter().for_each(|dir| kill_members(dir));
            self.dirs.retain(|dir| std::fs::remove_dir(dir).is_err());
            if self.dirs.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for dir in &self.dirs {
            tracing::warn!(cgroup = %dir.display(), "could not remove a test-invoke cgroup");
        }
        self.dirs.clear();
    }
}

impl Drop for RunGroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            kill_members(dir);
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_by_their_key() {
        let events = "low 0\nhigh 0\nmax 12\noom 0\noom_kill 2\n";
        assert_eq!(counter(events, "oom_kill"), 2);
        assert_eq!(counter(events, "oom"), 0);
        assert_eq!(counter(events, "missing"), 0);
    }

    #[test]
    fn the_run_enters_every_group_before_the_rest_is_exec_ed() {
        let dir = tempfile::tempdir().unwrap();
        let group = RunGroup {
            version: Version::V1,
            dirs: vec![dir.path().join("a"), dir.path().join("b")],
        };
        for sub in &group.dirs {
            std::fs::create_dir(sub).unwrap();
        }
        let mut argv = group.entering();
        argv.extend(["echo".into(), "ran".into()]);
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        // A plain file stands in for cgroup.procs: the shell wrote "0" there (in a real cgroup,
        // the writer itself), and only then ran the command.
        for sub in &group.dirs {
            let written = std::fs::read_to_string(sub.join("cgroup.procs")).unwrap();
            assert_eq!(written.trim(), "0");
        }
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
        std::mem::forget(group);
    }

    #[test]
    fn a_group_that_cannot_be_entered_runs_nothing() {
        let group = RunGroup {
            version: Version::V1,
            dirs: vec![PathBuf::from("/nonexistent/belt-invoke")],
        };
        let mut argv = group.entering();
        argv.extend(["echo".into(), "ran".into()]);
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(ENTER_FAILED));
        assert!(out.stdout.is_empty());
        std::mem::forget(group);
    }
}
