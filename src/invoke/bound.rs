//! What bounds a run's memory and processes as a whole: a cgroup per run where this machine
//! gives belt-api one, else sized tmpfs mounts and RLIMIT_NPROC (docs/local-sandbox.md#test-invoke).
//! RLIMIT_AS and RLIMIT_CPU hold per process either way.

use super::cgroup::{self, CgroupSetting, Cgroups, RunGroup, Version};

#[derive(Debug)]
pub(super) enum Bound {
    Cgroup(Cgroups),
    /// No usable cgroup: each tmpfs is sized to the memory limit, and processes are bounded by
    /// RLIMIT_NPROC where runs have a uid of their own.
    Rlimits,
}

/// What one run is given besides RLIMIT_AS, RLIMIT_CPU and its tmpfs mounts sized to the memory
/// limit (always: with a cgroup they are charged to it anyway).
#[derive(Debug, Default)]
pub(super) struct RunBound {
    pub group: Option<RunGroup>,
    /// RLIMIT_NPROC of the run's uid.
    pub nproc: Option<u64>,
}

impl Bound {
    /// The bound this machine allows under `setting`, said once at startup.
    pub(super) fn detect(setting: &CgroupSetting, own_uid: bool) -> Bound {
        match cgroup::detect::detect(setting) {
            Ok(cgroups) => {
                let version = match cgroups.version {
                    Version::V1 => "cgroup v1 (memory.limit_in_bytes, pids.max)",
                    Version::V2 => "cgroup v2 (memory.max, pids.max)",
                };
                if !cgroups.bounds_processes() {
                    tracing::warn!(
                        "test-invoke: no writable pids cgroup; a run's processes are not bounded"
                    );
                }
                tracing::info!(
                    bound = version,
                    "test-invoke: each run's memory (its processes and its /tmp and /dev/shm \
                     together) is bounded by a cgroup of its own"
                );
                Bound::Cgroup(cgroups)
            }
            Err(why) => {
                let processes = if own_uid {
                    "RLIMIT_NPROC of the run's uid"
                } else {
                    "nothing (runs share belt-api's uid, so RLIMIT_NPROC would count belt-api's \
                     own threads)"
                };
                tracing::warn!(
                    why = %why,
                    processes,
                    "test-invoke: no usable cgroup, so a run's memory is bounded per process \
                     (RLIMIT_AS) and per tmpfs (/tmp and /dev/shm each sized to the limit), not \
                     as a whole: forked children each get the limit. Give belt-api a delegated \
                     cgroup v2 (BELT_INVOKE_CGROUP) to bound runs as a whole"
                );
                Bound::Rlimits
            }
        }
    }

    /// A run's own bound: a fresh cgroup, or the fallback's limits.
    pub(super) fn for_run(
        &self,
        memory_bytes: u64,
        pids: u64,
        own_uid: bool,
    ) -> anyhow::Result<RunBound> {
        Ok(match self {
            Bound::Cgroup(cgroups) => RunBound {
                group: Some(cgroups.create(memory_bytes, pids).map_err(|err| {
                    anyhow::anyhow!("creating a cgroup for a test-invoke run: {err}")
                })?),
                ..RunBound::default()
            },
            Bound::Rlimits => RunBound {
                group: None,
                nproc: own_uid.then_some(pids),
            },
        })
    }
}
