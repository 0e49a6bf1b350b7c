//! Isolation of the processes that run user code on this machine (the replicas of belts, and
//! anything later that runs a belt's callback): the how and why are in docs/local-sandbox.md.
//!
//! With bubblewrap, a program runs in fresh PID, IPC, UTS (and, where possible, cgroup) namespaces
//! and a mount namespace in which the host's filesystem is read-only, `/tmp`, `/dev/shm` and `/run`
//! are private, and belt-api's data dir is replaced by an empty tmpfs: only the program's own work
//! dir and the paths its cell shares (the belt's virtualenv) are bound back, read-write, and the
//! files the command needs (the bundled belt host) read-only. The network stays shared: replicas
//! talk to Kafka and pip to PyPI. When belt-api runs as root, the program also runs as an
//! unprivileged uid and gid of its own (`uid_base + tenant`), without capabilities.
//!
//! bwrap ignores SIGTERM (it is started through `env --ignore-signal=TERM`), so that stopping a
//! replica's process group reaches the program, which may shut down cleanly, while bwrap stays
//! to report its exit status; the program itself gets SIGTERM's default back
//! (`env --default-signal=TERM`). `--die-with-parent` ends the sandbox when bwrap is killed, and
//! the PID namespace ends every process in it when the program exits, so nothing outlives the
//! process the supervisor waits for.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::libc;

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

/// The names of the settings, for the errors that tell an operator what to change.
/// Under the data dir while the sandbox is checked at startup.
const CHECK_DIR: &str = "sandbox-check";
const SETTING: &str = "BELT_LOCAL_SANDBOX";
const INSTALL_HINT: &str = "install bubblewrap (Debian/Ubuntu: `apt-get install -y bubblewrap`; \
    Fedora: `dnf install bubblewrap`), or set BELT_LOCAL_SANDBOX=none to run belts without \
    isolation (they can then read belt-api's data dir, its signing key and its environment)";

/// A path bound read-write into a cell besides its work dir; created when missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shared {
    Dir(PathBuf),
    File(PathBuf),
}

impl Shared {
    fn path(&self) -> &Path {
        match self {
            Shared::Dir(path) | Shared::File(path) => path,
        }
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
}

impl Cell {
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

#[derive(Debug)]
struct Bwrap {
    program: PathBuf,
    /// `env`, which sets SIGTERM's disposition around bwrap and inside the sandbox.
    env: PathBuf,
    /// `setpriv`, which drops to the tenant's uid inside the sandbox; `None` unless root.
    setpriv: Option<PathBuf>,
    uid_base: u32,
    /// Covered by an empty tmpfs: the data dir (or, under another uid, the highest of its
    /// ancestors that uid could not enter anyway), `/tmp`, `/run`.
    hidden: Vec<PathBuf>,
    /// Files bound read-only at their own path: what the command needs from hidden places.
    readable: Vec<PathBuf>,
    /// `/etc/resolv.conf` when it points into `/run` (systemd-resolved): bound back read-only so
    /// that names still resolve.
    resolver: Option<PathBuf>,
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
        let program = find_program(program).with_context(|| {
            format!(
                "{SETTING}=bwrap: bubblewrap (`{}`) was not found; {INSTALL_HINT}",
                program.display()
            )
        })?;
        let env = find_program(Path::new("env"))
            .with_context(|| format!("{SETTING}=bwrap: `env` (coreutils) was not found"))?;
        let check_dir = data_dir.join(CHECK_DIR);
        let _ = std::fs::remove_dir_all(&check_dir);
        std::fs::create_dir_all(check_dir.join("work"))
            .with_context(|| format!("creating {}", check_dir.display()))?;
        // What this process creates belongs to its filesystem uid.
        let root = std::fs::metadata(&check_dir)?.uid() == 0;
        let setpriv = if root {
            Some(find_program(Path::new("setpriv")).with_context(|| {
                format!(
                    "{SETTING}=bwrap: belt-api runs as root, so replicas run as uids of their \
                     own, which needs `setpriv` (Debian: `apt-get install -y util-linux`)"
                )
            })?)
        } else {
            None
        };
        let mut hidden = vec![PathBuf::from("/tmp"), PathBuf::from("/run")];
        hidden.push(if root {
            outermost_closed_ancestor(&data_dir).unwrap_or_else(|| data_dir.clone())
        } else {
            data_dir.clone()
        });
        let resolver = std::fs::canonicalize("/etc/resolv.conf")
            .ok()
            .filter(|path| path.starts_with("/run"));
        let shown_program = program.display().to_string();
        let sandbox = Arc::new(Sandbox {
            bwrap: Some(Bwrap {
                program,
                env,
                setpriv,
                uid_base,
                hidden,
                readable: readable.into_iter().filter(|path| path.is_file()).collect(),
                resolver,
            }),
        });
        let checked = sandbox.check(&check_dir);
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

    /// A cell for `tenant`, sharing `shared` between its runs.
    pub fn cell(self: &Arc<Self>, tenant: u64, shared: Vec<Shared>) -> Cell {
        Cell {
            sandbox: self.clone(),
            shared,
            tenant,
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
        let uid = self.uid(cell.tenant)?;
        prepare(work_dir, &cell.shared, uid)?;
        let mut argv: Vec<OsString> = vec![
            "--ignore-signal=TERM".into(),
            bwrap.program.clone().into(),
            "--die-with-parent".into(),
            "--unshare-pid".into(),
            "--unshare-ipc".into(),
            "--unshare-uts".into(),
            "--unshare-cgroup-try".into(),
            "--ro-bind".into(),
            "/".into(),
            "/".into(),
            "--dev".into(),
            "/dev".into(),
            "--proc".into(),
            "/proc".into(),
            "--perms".into(),
            "1777".into(),
            "--tmpfs".into(),
            "/dev/shm".into(),
            // The sandbox stays in belt-api's session (so that stopping its process group reaches
            // the program): without its controlling terminal, it cannot inject input into the
            // operator's shell (TIOCSTI). A bound node is `nodev`: opening it fails.
            "--ro-bind".into(),
            "/dev/null".into(),
            "/dev/tty".into(),
        ];
        for hidden in &bwrap.hidden {
            let perms = if hidden == Path::new("/tmp") {
                "1777"
            } else {
                "0755"
            };
            argv.extend([
                "--perms".into(),
                perms.into(),
                "--tmpfs".into(),
                hidden.into(),
            ]);
        }
        let mut bound: Vec<(&str, &Path)> = Vec::new();
        if let Some(resolver) = &bwrap.resolver {
            bound.push(("--ro-bind", resolver));
        }
        bound.extend(
            bwrap
                .readable
                .iter()
                .map(|path| ("--ro-bind", path.as_path())),
        );
        bound.extend(cell.shared.iter().map(|shared| ("--bind", shared.path())));
        bound.push(("--bind", work_dir));
        // bwrap would create missing parents of a mount point 0700, which another uid cannot
        // pass through.
        let parents: BTreeSet<&Path> = bound
            .iter()
            .flat_map(|(_, path)| path.ancestors().skip(1))
            .filter(|parent| {
                bwrap
                    .hidden
                    .iter()
                    .any(|hidden| parent.starts_with(hidden) && parent != hidden)
            })
            .collect();
        for parent in parents {
            argv.extend([
                "--perms".into(),
                "0755".into(),
                "--dir".into(),
                parent.into(),
            ]);
        }
        for (how, path) in bound {
            argv.extend([how.into(), path.into(), path.into()]);
        }
        // A write next to the work dir fails instead of landing on a throwaway tmpfs.
        for hidden in bwrap
            .hidden
            .iter()
            .filter(|hidden| *hidden != Path::new("/tmp"))
        {
            argv.extend(["--remount-ro".into(), hidden.into()]);
        }
        argv.extend(["--chdir".into(), work_dir.into(), "--".into()]);
        if let (Some(setpriv), Some(uid)) = (&bwrap.setpriv, uid) {
            argv.extend([
                setpriv.into(),
                format!("--reuid={uid}").into(),
                format!("--regid={uid}").into(),
                "--clear-groups".into(),
                "--inh-caps=-all".into(),
                "--bounding-set=-all".into(),
                "--no-new-privs".into(),
                "--".into(),
            ]);
        }
        argv.extend([
            bwrap.env.clone().into(),
            "--default-signal=TERM".into(),
            "--".into(),
        ]);
        argv.push(program.into());
        argv.extend(args.iter().map(OsString::from));
        Ok((bwrap.env.clone(), argv))
    }

    /// Runs a probe in the cell `<check_dir>/work`: it must start, write its work dir, and not
    /// see a file next to that work dir.
    fn check(self: &Arc<Self>, check_dir: &Path) -> anyhow::Result<()> {
        let canary = check_dir.join("canary");
        std::fs::write(&canary, "belt-api's own file")
            .with_context(|| format!("writing {}", canary.display()))?;
        self.probe(&check_dir.join("work"), &canary)
    }

    fn probe(self: &Arc<Self>, work_dir: &Path, canary: &Path) -> anyhow::Result<()> {
        let cell = self.cell(0, Vec::new());
        // Exit codes say which promise broke; the canary's path is an argument, never code.
        let script = "test -e \"$1\" && exit 3; echo written > probe || exit 4; \
             test \"$$\" -le 2 || exit 5; echo sandbox-ok";
        let args = [
            "-c".to_string(),
            script.to_string(),
            "probe".to_string(),
            canary.to_string_lossy().into_owned(),
        ];
        let (executable, argv) = self.argv(&cell, work_dir, "/bin/sh", &args)?;
        let mut child = std::process::Command::new(&executable)
            .args(&argv)
            .current_dir(work_dir)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", executable.display()))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("the sandbox probe did not finish within 20 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let output = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let broken = match output.status.code() {
            Some(0) if stdout.trim() == "sandbox-ok" && work_dir.join("probe").is_file() => {
                return Ok(())
            }
            Some(3) => "the probe could see belt-api's data dir".to_string(),
            Some(4) => "the probe could not write its work dir".to_string(),
            Some(5) => "the probe did not run in a PID namespace of its own".to_string(),
            _ => format!("the probe failed ({})", output.status),
        };
        anyhow::bail!("{broken}: {}", stderr.trim())
    }
}

/// The work dir and what the cell shares exist and, under another uid, belong to it. A shared
/// dir that belongs to someone else (built before the sandbox, or under another uid base) is
/// handed over entirely.
fn prepare(work_dir: &Path, shared: &[Shared], uid: Option<u32>) -> io::Result<()> {
    for shared in shared {
        match shared {
            Shared::Dir(path) => std::fs::create_dir_all(path)?,
            Shared::File(path) => {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
            }
        }
    }
    let Some(uid) = uid else {
        return Ok(());
    };
    std::os::unix::fs::chown(work_dir, Some(uid), Some(uid))?;
    for shared in shared {
        let path = shared.path();
        if std::fs::symlink_metadata(path)?.uid() != uid {
            chown_tree(path, uid)?;
        }
    }
    Ok(())
}

/// `chown -R` without following symlinks.
fn chown_tree(path: &Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid)?;
        }
    }
    Ok(())
}

/// The outermost ancestor of `dir` (or `dir` itself) that others may not enter: another uid
/// cannot pass it, so it is hidden entirely and the paths under it are bound back.
fn outermost_closed_ancestor(dir: &Path) -> Option<PathBuf> {
    let mut ancestors: Vec<&Path> = dir.ancestors().collect();
    ancestors.reverse();
    ancestors
        .into_iter()
        .filter(|path| path.parent().is_some())
        .find(|path| {
            std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o001 == 0)
        })
        .map(Path::to_path_buf)
}

/// `program` as a path to an executable file: as given when it holds a `/`, else found on PATH.
fn find_program(program: &Path) -> io::Result<PathBuf> {
    let executable = |path: &Path| {
        std::fs::metadata(path)
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 || program.is_absolute() {
        return if executable(program) {
            Ok(program.to_path_buf())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not an executable file", program.display()),
            ))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} was not found on PATH", program.display()),
            )
        })
}

/// Opens a file that belt-api keeps in a work dir the replica may write (its log, its state
/// file): a symlink, FIFO or device the replica put in its place is refused, never followed, so
/// the replica cannot make belt-api read (and show in its logs) or overwrite another file.
pub(super) fn open_private(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok(file)
}

/// At most the last `limit` bytes of such a file, and whether it was longer: a huge sparse file
/// in a replica's work dir must not fill belt-api's memory.
pub(super) fn read_private_tail(path: &Path, limit: u64) -> io::Result<(Vec<u8>, bool)> {
    let mut file = open_private(path, OpenOptions::new().read(true))?;
    let length = file.metadata()?.len();
    let start = length.saturating_sub(limit);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok((bytes, start > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outermost_closed_ancestor_is_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let closed = dir.path().join("closed");
        let data = closed.join("open/data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(outermost_closed_ancestor(&data), Some(closed.clone()));
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(outermost_closed_ancestor(&data), None);
    }

    #[test]
    fn programs_are_found_on_path_or_refused() {
        assert!(find_program(Path::new("sh")).unwrap().is_absolute());
        assert!(find_program(Path::new("/bin/sh")).is_ok());
        assert_eq!(
            find_program(Path::new("/nonexistent/bwrap"))
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
        assert!(find_program(Path::new("no-such-program-anywhere")).is_err());
    }

    #[test]
    fn private_files_are_not_followed_through_symlinks_nor_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "secret\n").unwrap();
        let planted = dir.path().join("belt.log");
        std::os::unix::fs::symlink(&outside, &planted).unwrap();
        assert!(read_private_tail(&planted, 100).is_err());
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        assert!(open_private(&planted, &mut options).is_err());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "secret\n");
        assert!(read_private_tail(dir.path(), 100).is_err(), "a directory");

        let own = dir.path().join("own");
        std::fs::write(&own, "0123456789").unwrap();
        assert_eq!(
            read_private_tail(&own, 4).unwrap(),
            (b"6789".to_vec(), true)
        );
        assert_eq!(
            read_private_tail(&own, 40).unwrap(),
            (b"0123456789".to_vec(), false)
        );
    }

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
