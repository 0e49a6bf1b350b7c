//! The uids a draft's run leases (docs/local-sandbox.md#drafts). A belt's run is `uid_base + id`;
//! a draft has no id, and must share a uid neither with any belt's runs (their signals, files,
//! RLIMIT_NPROC) nor with another draft running at the same time, which may be another
//! project's. So each draft run leases one uid of a pool below `uid_base` for its whole life.
//!
//! The pool holds as many uids as there are slots: a run holds a slot while it holds its lease,
//! so a run with a slot always finds a uid, and the per-project share of the slots
//! (`project_concurrency`), counted with the project's belt runs, is what keeps one project's
//! drafts from starving another's. A lease is given back only when the run is over: its
//! processes waited for (the PID namespace ends every one of them with the runner) and its work
//! dir removed. A run abandoned midway (the client left) gives its uid back while its runner is
//! being killed, so a uid that any process still runs as is not leased (`/proc`), and freed uids
//! go to the back of the queue.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Full, InvokeError};
use crate::runtime::local::sandbox::Sandbox;

type Free = Arc<Mutex<VecDeque<u32>>>;

pub(super) enum DraftUids {
    /// Runs get no uid of their own (belt-api is not root): every run is belt-api's user.
    Unowned,
    Pool {
        free: Free,
        size: usize,
    },
    /// The range could not be reserved safely: drafts are refused, belts keep running.
    Refused(String),
}

/// A leased uid (`None` where runs get no uid of their own), back in the pool when dropped.
pub(super) struct Lease {
    pub uid: Option<u32>,
    free: Option<Free>,
}

impl DraftUids {
    pub(super) fn new(sandbox: &Sandbox, slots: usize) -> DraftUids {
        let count = u32::try_from(slots.max(1)).unwrap_or(u32::MAX);
        match sandbox.draft_uids(count) {
            Ok(None) => DraftUids::Unowned,
            Ok(Some(range)) => DraftUids::Pool {
                size: range.len(),
                free: Arc::new(Mutex::new(range.collect())),
            },
            Err(reason) => {
                tracing::warn!(%reason, "test-invoke of drafts (belts not saved yet) is refused");
                DraftUids::Refused(reason)
            }
        }
    }

    /// Whether drafts may run here at all: answered before a slot is taken.
    pub(super) fn available(&self) -> Result<(), InvokeError> {
        match self {
            DraftUids::Refused(reason) => Err(InvokeError::Unavailable(format!(
                "test-invoke of a belt not saved yet is refused on this machine: {reason}; \
                 a saved belt's test-invoke still runs"
            ))),
            _ => Ok(()),
        }
    }

    /// A uid for one run; never one another run holds, nor one a process still runs as (refused
    /// as busy instead).
    pub(super) fn lease(&self, retry_after: std::time::Duration) -> Result<Lease, InvokeError> {
        self.lease_unless(retry_after, has_processes)
    }

    fn lease_unless(
        &self,
        retry_after: std::time::Duration,
        in_use: impl Fn(u32) -> bool,
    ) -> Result<Lease, InvokeError> {
        self.available()?;
        let DraftUids::Pool { free, size } = self else {
            return Ok(Lease {
                uid: None,
                free: None,
            });
        };
        let mut queue = free.lock().unwrap_or_else(PoisonError::into_inner);
        // A run abandoned midway gave its uid back while its processes were still being killed:
        // that uid waits until they are gone.
        let found = queue.iter().position(|uid| !in_use(*uid));
        match found.and_then(|at| queue.remove(at)) {
            Some(uid) => Ok(Lease {
                uid: Some(uid),
                free: Some(free.clone()),
            }),
            None => Err(InvokeError::Busy {
                full: Full::Server(*size),
                retry_after,
            }),
        }
    }
}

/// Whether a process runs as `uid`: `/proc/<pid>` belongs to the process's effective uid.
fn has_processes(uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let is_pid = entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit());
        is_pid && entry.metadata().is_ok_and(|meta| meta.uid() == uid)
    })
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let (Some(uid), Some(free)) = (self.uid, &self.free) {
            free.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_back(uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(uids: &[u32]) -> DraftUids {
        DraftUids::Pool {
            free: Arc::new(Mutex::new(uids.iter().copied().collect())),
            size: uids.len(),
        }
    }

    #[test]
    fn no_two_runs_hold_one_uid_and_a_freed_uid_comes_back_last() {
        let drafts = pool(&[10, 11]);
        let wait = std::time::Duration::from_secs(1);
        let a = drafts.lease(wait).unwrap();
        let b = drafts.lease(wait).unwrap();
        assert_ne!(a.uid, b.uid);
        assert!(matches!(drafts.lease(wait), Err(InvokeError::Busy { .. })));
        drop(a);
        drop(b);
        assert_eq!(drafts.lease(wait).unwrap().uid, Some(10));
        let c = drafts.lease(wait).unwrap();
        assert_eq!(c.uid, Some(11), "the uid freed last is leased last");
    }

    #[test]
    fn a_uid_a_process_still_runs_as_is_skipped_until_it_is_gone() {
        let drafts = pool(&[10, 11]);
        let wait = std::time::Duration::from_secs(1);
        let lease = drafts.lease_unless(wait, |uid| uid == 10).unwrap();
        assert_eq!(lease.uid, Some(11));
        let refused = drafts.lease_unless(wait, |uid| uid == 10);
        assert!(matches!(refused, Err(InvokeError::Busy { .. })));
        let me = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
        assert!(has_processes(me), "this test's own process runs as its uid");
        assert!(
            !has_processes(u32::MAX - 2),
            "no process runs as an unused uid"
        );
    }

    #[test]
    fn a_refused_range_refuses_drafts_as_unavailable() {
        let drafts = DraftUids::Refused("no room".into());
        let wait = std::time::Duration::from_secs(1);
        let refused = drafts.lease(wait).err().unwrap();
        assert!(matches!(refused, InvokeError::Unavailable(why) if why.contains("no room")));
        assert_eq!(DraftUids::Unowned.lease(wait).unwrap().uid, None);
    }
}
