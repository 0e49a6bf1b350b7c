//! Isolation of the processes that run user code on this machine (the replicas of belts, and
//! anything later that runs a belt's callback): the how and why are in docs/local-sandbox.md.
//!
//! With bubblewrap, a program runs in fresh PID, IPC, UTS (and, where possible, cgroup) namespaces
//! and a mount namespace in which the host's filesystem is read-only, `/tmp`, `/dev/shm` and `/run`
//! are private, and belt-api's data dir is replaced by an empty tmpfs: only the program's own work
//! dir and the paths its cell shares (the belt's virtualenv) are bound back, read-write, and the
//! files the command needs (the bundled belt host) read-only. An offline cell (the one that runs
//! user code: a replica's worker, test-invoke) also gets a network namespace of its own, with
//! only its own loopback: no route to the host's 127.0.0.1, where the broker, belt-api and
//! PostgreSQL listen. Other cells (the trusted belt host, pip) share the host's network. When
//! belt-api runs as root, the program also runs as an unprivileged uid and gid of its own
//! (`uid_base + tenant`), without capabilities.
//!
//! bwrap ignores SIGTERM (it is started through `env --ignore-signal=TERM`), so that stopping a
//! replica's process group reaches the program, which may shut down cleanly, while bwrap stays
//! to report its exit status; the program itself gets SIGTERM's default back
//! (`env --default-signal=TERM`). `--die-with-parent` ends the sandbox when bwrap is killed, and
//! the PID namespace ends every process in it when the program exits, so nothing outlives the
//! process the supervisor waits for.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

mod bwrap;
mod draft_uids;
mod files;
mod probe;

use bwrap::Bwrap;
use files::{find_program, prepare};
pub(super) use files::{open_private, read_private_tail};

/// The setting, as configured (`BELT_LOCAL_SANDBOX`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxConfig {
    /// No isolation: user code runs as belt-api's user and can read its data dir and secrets.
    None,
    Bwrap {
        /// `bwrap`, looked up on PATH, or a path to it.
        program: PathBuf,
        /// When belt-api runs as root, tenant `n` runs as uid and gid `uid_base + n`.
        uid_base: u32,
    },
}

/// The default `uid_base`: far above the uids and subordinate-uid ranges that distributions
/// hand out, so that a replica's uid owns nothing on the host.
pub const DEFAULT_UID_BASE: u32 = 1_000_000_000;

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig::Bwrap {
            program: PathBuf::from("bwrap"),
            uid_base: DEFAULT_UID_BASE,
        }
    }
}

/// Under the data dir while the sandbox is checked at startup.
const CHECK_DIR: &str = "sandbox-check";
/// The names of the settings, for the errors that tell an operator what to change.
const SETTING: &str = "BELT_LOCAL_SANDBOX";
const INSTALL_HINT: &str = "install bubblewrap (Debian/Ubuntu: `apt-get install -y bubblewrap`; \
    Fedora: `dnf install bubblewrap`), or set BELT_LOCAL_SANDBOX=none to run belts without \
    isolation (they can then read belt-api's data dir, its signing key and its environment)";

/// A path bound into a cell besides its work dir; created when missing. `Dir` and `File` are
/// bound read-write (and handed to the tenant's uid), `ReadOnlyDir` read-only: what a trusted
/// program of the same tenant wrote for it (the belt's virtualenv, for its worker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shared {
    Dir(PathBuf),
    File(PathBuf),
    ReadOnlyDir(PathBuf),
}

impl Shared {
    fn path(&self) -> &Path {
        match self {
            Shared::Dir(path) | Shared::File(path) | Shared::ReadOnlyDir(path) => path,
        }
    }

    fn writable(&self) -> bool {
        !matches!(self, Shared::ReadOnlyDir(_))
    }
}

/// Where a tenant's programs run: the sandbox, what they share besides their own work dir, and
/// the tenant whose uid they run as when belt-api is root. A belt's replicas are one cell (the
/// belt's id as tenant, its virtualenv shared); each run gets a work dir of its own.
#[derive(Debug, Clone)]
pub struct Cell {
    pub sandbox: Arc<Sandbox>,
    pub shared: Vec<Shared>,
    pub tenant: u64,
    /// A uid leased for this cell alone (a draft's test-invoke, which has no belt id): run as it
    /// instead of `uid_base + tenant` (docs/local-sandbox.md#drafts).
    pub leased_uid: Option<u32>,
    /// The size of the cell's private `/tmp` and `/dev/shm` (bwrap's default: half the RAM).
    pub tmpfs_bytes: Option<u64>,
    /// A network namespace of its own (bwrap `--unshare-net`): only the cell's own loopback.
    pub offline: bool,
}

impl Cell {
    /// The same cell without network: for the processes that run user code.
    pub fn offline(self) -> Cell {
        Cell {
            offline: true,
            ..self
        }
    }

    /// `program args` with `work_dir` as its cwd (readable and writable) and exactly `env` as its
    /// environment. The caller chooses stdio and the process group; the returned command is the
    /// one to wait for and to signal. Creates what the cell shares and, under another uid, hands
    /// the work dir and the shared paths to that uid.
    pub fn command<K, V>(
        &self,
        work_dir: &Path,
        program: &str,
        args: &[String],
        env: impl IntoIterator<Item = (K, V)>,
    ) -> io::Result<tokio::process::Command>
    where
        K: AsRef<std::ffi::OsStr>,
        V: AsRef<std::ffi::OsStr>,
    {
        let (executable, argv) = self.sandbox.argv(self, work_dir, program, args)?;
        let mut command = tokio::process::Command::new(executable);
        command
            .args(argv)
            .current_dir(work_dir)
            .env_clear()
            .envs(env);
        Ok(command)
    }
}

#[derive(Debug)]
pub struct Sandbox {
    bwrap: Option<Bwrap>,
}

impl Sandbox {
    /// No isolation at all; what `BELT_LOCAL_SANDBOX=none` gives.
    pub fn unconfined() -> Sandbox {
        Sandbox { bwrap: None }
    }

    /// Sets up the sandbox for programs run from `data_dir` and proves it works: a probe must
    /// run in it, write its work dir, and fail to see a file of the data dir. `readable` are
    /// files the programs need (the belt host script, files named by the configured command).
    /// Errors name the setting and what to install.
    pub fn new(
        config: &SandboxConfig,
        data_dir: &Path,
        readable: Vec<PathBuf>,
    ) -> anyhow::Result<Arc<Sandbox>> {
        let (program, uid_base) = match config {
            SandboxConfig::None => {
                tracing::warn!(
                    "{SETTING}=none: belt replicas run WITHOUT isolation, as belt-api's own user; \
                     any belt can read belt-api's data dir (the database, the dev signing key), \
                     its environment and every other belt. Use it only on a machine where every \
                     editor is trusted as much as belt-api's operator."
                );
                return Ok(Arc::new(Sandbox::unconfined()));
            }
            SandboxConfig::Bwrap { program, uid_base } => (program, *uid_base),
        };
        let data_dir = std::fs::canonicalize(data_dir)
            .with_context(|| format!("resolving {}", data_dir.display()))?;
        let check_dir = data_dir.join(CHECK_DIR);
        let _ = std::fs::remove_dir_all(&check_dir);
        std::fs::create_dir_all(check_dir.join("work"))
            .with_context(|| format!("creating {}", check_dir.display()))?;
        let bwrap = Bwrap::find(program, uid_base, &data_dir, &check_dir, readable)?;
        let root = bwrap.setpriv.is_some();
        let shown_program = bwrap.program().display().to_string();
        let sandbox = Arc::new(Sandbox { bwrap: Some(bwrap) });
        let checked = sandbox.check_once(&data_dir, &check_dir);
        let _ = std::fs::remove_dir_all(&check_dir);
        checked.with_context(|| {
            format!("{SETTING}=bwrap: the sandbox for belt replicas does not work; {INSTALL_HINT}")
        })?;
        tracing::info!(
            bwrap = %shown_program,
            replica_uids = if root { "one per belt" } else { "belt-api's own (not root)" },
            "belt replicas run in a bubblewrap sandbox (docs/local-sandbox.md)"
        );
        Ok(sandbox)
    }

    pub fn is_confined(&self) -> bool {
        self.bwrap.is_some()
    }

    /// The uid a tenant's programs run as, when they run as one of their own.
    pub fn uid(&self, tenant: u64) -> io::Result<Option<u32>> {
        let Some(bwrap) = &self.bwrap else {
            return Ok(None);
        };
        if bwrap.setpriv.is_none() {
            return Ok(None);
        }
        u32::try_from(tenant)
            .ok()
            .and_then(|tenant| bwrap.uid_base.checked_add(tenant))
            // u32::MAX is "no uid" to the kernel, and the one below it is often `nobody`.
            .filter(|uid| *uid < u32::MAX - 1)
            .map(Some)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "tenant {tenant} has no uid above BELT_LOCAL_SANDBOX_UID_BASE={}",
                        bwrap.uid_base
                    ),
                )
            })
    }

    /// The `count` uids just below `uid_base`, which no belt's runs ever get (theirs are
    /// `uid_base + id`, the builds' `uid_base`), for drafts to lease; `Ok(None)` when runs get no
    /// uid of their own (not root: every run is belt-api's user anyway). Refused, saying why,
    /// where the range would reach the uids a host hands out or names an account.
    pub fn draft_uids(&self, count: u32) -> Result<Option<std::ops::Range<u32>>, String> {
        let Some(base) = self.uid(0).map_err(|error| error.to_string())? else {
            return Ok(None);
        };
        draft_uids::draft_uids(base, count).map(Some)
    }

    /// A cell for `tenant`, sharing `shared` between its runs.
    pub fn cell(self: &Arc<Self>, tenant: u64, shared: Vec<Shared>) -> Cell {
        Cell {
            sandbox: self.clone(),
            shared,
            tenant,
            leased_uid: None,
            tmpfs_bytes: None,
            offline: false,
        }
    }

    /// What to execute for `program args` in `cell`, after preparing the cell.
    fn argv(
        &self,
        cell: &Cell,
        work_dir: &Path,
        program: &str,
        args: &[String],
    ) -> io::Result<(PathBuf, Vec<OsString>)> {
        let Some(bwrap) = &self.bwrap else {
            return Ok((
                PathBuf::from(program),
                args.iter().map(OsString::from).collect(),
            ));
        };
        // Inside, a missing program only shows as bwrap's exit code 1; out here it is an error
        // of starting, as without the sandbox.
        find_program(Path::new(program))?;
        let uid = match cell.leased_uid {
            Some(leased) => self.uid(0)?.map(|_| leased),
            None => self.uid(cell.tenant)?,
        };
        prepare(work_dir, &cell.shared, uid)?;
        Ok(bwrap.argv(cell, work_dir, program, args, uid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unconfined_programs_run_as_given() {
        let sandbox = Arc::new(Sandbox::unconfined());
        let cell = sandbox.cell(1, Vec::new());
        let (program, args) = sandbox
            .argv(&cell, Path::new("/w"), "python3", &["x.py".into()])
            .unwrap();
        assert_eq!(program, PathBuf::from("python3"));
        assert_eq!(args, vec![OsString::from("x.py")]);
        assert_eq!(sandbox.uid(1).unwrap(), None);
    }
}
