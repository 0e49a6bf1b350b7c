//! One sandboxed run: resource limits around the sandbox (`prlimit`), its own process group, a
//! wall-clock timeout after which the whole group is killed, and capped stdout and stderr.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::runtime::local::sandbox::Cell;

/// What each of stdout and stderr may keep; the rest is read and dropped.
pub(super) const OUTPUT_CAP: usize = 64 * 1024;
/// After the process ended, how long its pipes may stay open (a descendant that escaped the
/// group, without the sandbox) before reading stops.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

pub(super) struct Limits {
    pub timeout: Duration,
    pub memory_bytes: Option<u64>,
    pub cpu_seconds: Option<u64>,
    /// RLIMIT_NPROC, where no cgroup bounds the run's processes.
    pub nproc: Option<u64>,
}

/// What the sandboxed command is started through, outermost first: the arguments that enter
/// the run's cgroup (empty: none), then `prlimit`.
pub(super) struct Wrappers<'a> {
    pub prlimit: Option<&'a Path>,
    pub cgroup: Vec<String>,
}

/// Output of a stream, the first `OUTPUT_CAP` bytes of it.
#[derive(Debug, Default, Clone)]
pub(super) struct Captured {
    pub text: String,
    pub truncated: bool,
}

pub(super) struct Finished {
    /// `None` when the wall-clock timeout killed it.
    pub status: Option<ExitStatus>,
    pub stdout: Captured,
    pub stderr: Captured,
    /// The run's cgroup saw its OOM killer act.
    pub memory_exceeded: bool,
}

/// A run's work dir, removed when dropped (also when the request is abandoned midway).
pub(super) struct WorkDir(PathBuf);

impl WorkDir {
    pub(super) fn create(path: PathBuf) -> anyhow::Result<WorkDir> {
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(WorkDir(path))
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(dir = %self.0.display(), error = %err, "could not remove a test-invoke work dir");
        }
    }
}

/// The group of a started run, killed when dropped: an abandoned request leaves nothing running.
struct Group(Option<i32>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

/// The environment a run starts from, besides the replica's own: enough to find Python, and
/// nothing of belt-api's (no database URL, no secrets).
pub(super) fn base_env(work_dir: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("HOME".to_string(), work_dir.to_string_lossy().into_owned()),
        ("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string()),
        ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
    ];
    for name in ["PATH", "LANG"] {
        if let Ok(value) = std::env::var(name) {
            env.push((name.to_string(), value));
        }
    }
    env
}

pub(super) fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// `python3 args` in `cell` with exactly `env`, under `limits`.
pub(super) async fn run(
    cell: &Cell,
    wrappers: Wrappers<'_>,
    work_dir: &Path,
    args: &[String],
    env: Vec<(String, String)>,
    limits: Limits,
) -> anyhow::Result<Finished> {
    let sandboxed = cell
        .command(work_dir, "python3", args, env)
        .context("preparing the sandbox")?;
    let limited = limited(sandboxed, wrappers.prlimit, &limits);
    let mut command = match wrappers.cgroup.split_first() {
        Some((program, args)) => wrapped(limited, program.as_ref(), args),
        None => limited,
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().context("starting the test-invoke runner")?;
    let group = Group(child.id().and_then(|pid| i32::try_from(pid).ok()));
    let stdout = tokio::spawn(capture(child.stdout.take()));
    let stderr = tokio::spawn(capture(child.stderr.take()));
    let status = match tokio::time::timeout(limits.timeout, child.wait()).await {
        Ok(status) => Some(status.context("waiting for the test-invoke runner")?),
        Err(_) => None,
    };
    drop(group);
    let _ = child.wait().await;
    Ok(Finished {
        status,
        stdout: drained(stdout).await,
        stderr: drained(stderr).await,
        memory_exceeded: false,
    })
}

/// The sandboxed command behind `prlimit`, which sets the limits before the sandbox starts, so
/// that nothing inside can raise them. Without prlimit, the runner sets them itself.
fn limited(
    sandboxed: tokio::process::Command,
    prlimit: Option<&Path>,
    limits: &Limits,
) -> tokio::process::Command {
    let Some(prlimit) = prlimit else {
        return sandboxed;
    };
    let mut args = Vec::new();
    if let Some(bytes) = limits.memory_bytes {
        args.push(format!("--as={bytes}"));
    }
    if let Some(seconds) = limits.cpu_seconds {
        args.push(format!("--cpu={seconds}"));
    }
    if let Some(processes) = limits.nproc {
        args.push(format!("--nproc={processes}"));
    }
    args.push("--".to_string());
    wrapped(sandboxed, prlimit.as_os_str(), &args)
}

/// `program args` followed by `inner`'s own program and arguments, with its environment and
/// working directory: a wrapper that sets something up and then execs `inner`.
fn wrapped(
    inner: tokio::process::Command,
    program: &std::ffi::OsStr,
    args: &[String],
) -> tokio::process::Command {
    let inner = inner.as_std();
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .arg(inner.get_program())
        .args(inner.get_args());
    if let Some(dir) = inner.get_current_dir() {
        command.current_dir(dir);
    }
    command.env_clear();
    for (name, value) in inner.get_envs() {
        if let Some(value) = value {
            command.env(name, value);
        }
    }
    command
}

async fn drained(reader: tokio::task::JoinHandle<Captured>) -> Captured {
    let abort = reader.abort_handle();
    match tokio::time::timeout(DRAIN_GRACE, reader).await {
        Ok(Ok(captured)) => captured,
        _ => {
            abort.abort();
            Captured {
                text: String::new(),
                truncated: true,
            }
        }
    }
}

/// Reads a stream to its end, keeping the first `OUTPUT_CAP` bytes.
async fn capture(stream: Option<impl AsyncRead + Unpin>) -> Captured {
    let Some(mut stream) = stream else {
        return Captured::default();
    };
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buffer = [0u8; 8192];
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        let room = OUTPUT_CAP.saturating_sub(kept.len());
        truncated |= n > room;
        kept.extend_from_slice(&buffer[..n.min(room)]);
    }
    Captured {
        text: String::from_utf8_lossy(&kept).into_owned(),
        truncated,
    }
}
