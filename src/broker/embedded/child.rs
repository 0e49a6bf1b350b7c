//! One run of the broker's process: started by a thread that lives exactly as long as the
//! process, so that the parent-death signal (Linux) fires when belt-api dies and not before.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tokio::sync::oneshot;

use crate::broker::BrokerError;

/// The log is set aside (one older copy kept) once it grows past this, at the next start.
const LOG_ROTATE_BYTES: u64 = 16 * 1024 * 1024;

/// How the broker is started; the same for every run, so restarts keep address and storage.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub program: PathBuf,
    pub listen: SocketAddr,
    pub advertised: SocketAddr,
    /// The working directory: the storage file and the log are in it.
    pub dir: PathBuf,
}

impl Launch {
    pub fn log(&self) -> PathBuf {
        self.dir.join("broker.log")
    }

    /// `nisshi broker` on its embedded SQLite storage, relative to the working directory so that
    /// no character of the data dir's path needs escaping in a URL.
    fn arguments(&self) -> Vec<String> {
        vec![
            "broker".into(),
            "--listener-url".into(),
            format!("tcp://{}", self.listen),
            "--advertised-listener-url".into(),
            format!("tcp://{}", self.advertised),
            "--storage-engine".into(),
            "sqlite://nisshi.db".into(),
        ]
    }

    /// `setpriv --pdeathsig KILL` (util-linux) in front of the program when it is installed: the
    /// broker is killed with belt-api even by `kill -9`, without unsafe code in belt-api.
    fn command(&self) -> Command {
        let mut command = match find_on_path("setpriv") {
            Some(setpriv) => {
                let mut command = Command::new(setpriv);
                command
                    .args(["--pdeathsig", "KILL", "--"])
                    .arg(&self.program);
                command
            }
            None => Command::new(&self.program),
        };
        // Its own group, so a Ctrl-C in belt-api's terminal does not kill it before belt-api's
        // orderly shutdown does; a clean environment, so no variable of ours reconfigures it.
        use std::os::unix::process::CommandExt;
        command
            .args(self.arguments())
            .current_dir(&self.dir)
            .env_clear()
            .envs(std::env::vars_os().filter(|(name, _)| name == "PATH"))
            .stdin(Stdio::null())
            .process_group(0);
        command
    }
}

/// A started broker process.
#[derive(Debug)]
pub(crate) struct Running {
    pub pid: i32,
    /// Resolves with how the process ended.
    pub exited: oneshot::Receiver<String>,
}

impl Running {
    pub fn signal(&self, signal: Signal) {
        let _ = signal::kill(Pid::from_raw(self.pid), signal);
    }
}

/// Starts the broker; its stdout and stderr are appended to the log.
pub(crate) async fn spawn(launch: &Launch) -> Result<Running, BrokerError> {
    let failed = |source| BrokerError::Start {
        program: launch.program.clone(),
        source,
    };
    std::fs::create_dir_all(&launch.dir).map_err(failed)?;
    let log = open_log(&launch.log()).map_err(failed)?;
    let mut command = launch.command();
    command.stdout(log.try_clone().map_err(failed)?).stderr(log);
    let (started, pid) = oneshot::channel();
    let (ended, exited) = oneshot::channel();
    std::thread::Builder::new()
        .name("embedded-broker".into())
        .spawn(move || match command.spawn() {
            Ok(mut child) => {
                let _ = started.send(Ok(child.id()));
                let status = match child.wait() {
                    Ok(status) => status.to_string(),
                    Err(err) => format!("waiting for it failed: {err}"),
                };
                let _ = ended.send(status);
            }
            Err(err) => {
                let _ = started.send(Err(err));
            }
        })
        .map_err(failed)?;
    let pid = pid
        .await
        .map_err(|_| failed(std::io::Error::other("the starting thread ended")))?
        .map_err(failed)?;
    let pid = i32::try_from(pid).map_err(|err| failed(std::io::Error::other(err)))?;
    Ok(Running { pid, exited })
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    if std::fs::metadata(path).is_ok_and(|meta| meta.len() > LOG_ROTATE_BYTES) {
        std::fs::rename(path, path.with_extension("log.1"))?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// The first executable file named `name` in a directory of `PATH`.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}
