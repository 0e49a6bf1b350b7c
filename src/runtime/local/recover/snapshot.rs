//! Reading the process list from `/proc` through `procfs`, failing closed: a list that cannot be
//! read is an error, never "nothing runs".

use std::path::Path;
use std::time::Duration;

use procfs::process::all_processes_with_root;
use procfs::ProcError;

use super::SNAPSHOT_ATTEMPTS;
use crate::runtime::local::process::ProcStat;

/// `BELT_REPLICA_OF=<data dir>` as it appears in `/proc/<pid>/environ`.
#[derive(Debug, Clone)]
pub(in crate::runtime::local) struct Marker(Vec<u8>);

impl Marker {
    pub(in crate::runtime::local) fn new(name: &str, value: &str) -> Marker {
        Marker(format!("{name}={value}").into_bytes())
    }

    pub(in crate::runtime::local) fn carried_by(&self, environ: &[u8]) -> bool {
        environ.split(|&b| b == 0).any(|entry| entry == self.0)
    }
}

pub(super) struct Process {
    pub(super) pid: i32,
    pub(super) stat: ProcStat,
    /// Carries the marker asked for (always `false` when none was).
    pub(super) marked: bool,
}

pub(super) async fn snapshot_retrying(
    proc_dir: &Path,
    marker: &Marker,
) -> std::io::Result<Vec<Process>> {
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
pub(super) async fn snapshot(
    proc_dir: &Path,
    marker: Option<&Marker>,
) -> std::io::Result<Vec<Process>> {
    let proc_dir = proc_dir.to_path_buf();
    let marker = marker.cloned();
    tokio::task::spawn_blocking(move || {
        let mut processes = Vec::new();
        for process in all_processes_with_root(&proc_dir).map_err(std::io::Error::other)? {
            let process = match process {
                Ok(process) => process,
                Err(ProcError::NotFound(_)) => continue,
                Err(err) => return Err(std::io::Error::other(err)),
            };
            let Ok(stat) = process.stat() else { continue };
            let marked = marker
                .as_ref()
                .is_some_and(|marker| carries(&process, marker));
            processes.push(Process {
                pid: process.pid,
                stat: ProcStat::from(&stat),
                marked,
            });
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

/// Whether the process's environment, as the kernel shows it, holds the marker. Read raw rather
/// than through `Process::environ`, whose map would let a later entry hide an earlier one.
fn carries(process: &procfs::process::Process, marker: &Marker) -> bool {
    let mut environ = Vec::new();
    process
        .open_relative("environ")
        .and_then(|mut file| Ok(std::io::Read::read_to_end(&mut file, &mut environ)?))
        .is_ok_and(|_| marker.carried_by(&environ))
}
