//! One task per replica: start it, capture its output, restart it with back-off when it exits, and
//! stop it (SIGTERM, then SIGKILL) when asked. Every child is waited for, so none is left a zombie.

use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, BufReader};
use tokio::process::Child;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::lock;
use super::output::{next_line, stamp, LogFile};
use super::process::{remove_state, signal_group, terminate, Launch, ReplicaState, Started};
use super::recover;
use super::status::{Exit, ReplicaStatus};

/// How long output may keep arriving after the replica's leader exited: a daemon that left the
/// process group could hold the pipes open forever.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
pub(super) struct Supervision {
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub stop_grace: Duration,
    pub log_file_limit: u64,
}

pub(super) struct Replica {
    pub launch: Launch,
    pub status: Arc<Mutex<ReplicaStatus>>,
    pub settings: Supervision,
    /// The belt's log bell, rung after each line of output.
    pub bell: watch::Sender<()>,
}

enum Outcome {
    Exited,
    Stopped,
}

/// Runs until `stop` turns true; returns once the replica's process is reaped.
pub(super) async fn supervise(replica: Replica, mut stop: watch::Receiver<bool>) {
    let log = LogFile::new(&replica.launch.dir, replica.settings.log_file_limit);
    let log = Arc::new(Mutex::new(log.ringing(replica.bell.clone())));
    loop {
        if *stop.borrow() {
            return;
        }
        if let Outcome::Stopped = run_once(&replica, &log, &mut stop).await {
            return;
        }
        let settings = replica.settings;
        let delay = lock(&replica.status).back_off(settings.backoff_initial, settings.backoff_max);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop_requested(&mut stop) => return,
        }
    }
}

/// Resolves when a stop is asked for. A dropped sender means the runtime was dropped without
/// `shutdown`, as when the API crashes: the process is left for the next `recover`.
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stopping| *stopping).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn run_once(
    replica: &Replica,
    log: &Arc<Mutex<LogFile>>,
    stop: &mut watch::Receiver<bool>,
) -> Outcome {
    if let Err(err) = lock(log).start_run(now()) {
        tracing::warn!(replica = %replica.launch.name, %err, "could not record the start of a run in the log");
    }
    let Some((mut child, mut worker, pid)) = start(replica).await else {
        return Outcome::Exited;
    };
    // `process_group(0)`: the replica leads its own group.
    let pgid = pid as i32;
    lock(&replica.status).started(pid, now());
    let mut output = capture_output(&mut child, worker.as_mut(), log, &replica.status);

    // Without a state file a crash of the API would leave this process unfindable: better not
    // to run it at all.
    let recorded = match ReplicaState::of_child(pid) {
        Ok(state) => state.write(&replica.launch.dir).await.map(|()| state),
        Err(err) => Err(err),
    };
    let (status, stopped) = match &recorded {
        Err(err) => {
            tracing::error!(replica = %replica.launch.name, %err, "could not write the replica's state file; stopping it");
            signal_group(pgid, Signal::SIGKILL);
            (child.wait().await, false)
        }
        Ok(_) => tokio::select! {
            status = child.wait() => (status, false),
            _ = stop_requested(stop) => {
                (terminate(&mut child, pgid, replica.settings.stop_grace).await, true)
            }
        },
    };
    if let Ok(state) = &recorded {
        recover::kill_remains(state).await;
    }
    reap_worker(replica, worker).await;

    // Read what is still in the pipes, so the last lines (a traceback) reach the status.
    let _ = tokio::time::timeout(OUTPUT_DRAIN, async {
        while output.join_next().await.is_some() {}
    })
    .await;
    output.abort_all();
    remove_state(&replica.launch.dir).await;
    report(replica, status, stopped, recorded.err());
    if stopped {
        Outcome::Stopped
    } else {
        Outcome::Exited
    }
}

/// Starts the replica's process (and its worker); `None` (with the exit recorded) when there is
/// none to supervise.
async fn start(replica: &Replica) -> Option<(Child, Option<Child>, u32)> {
    let launch = &replica.launch;
    let Started {
        leader: mut child,
        worker,
    } = match launch.spawn() {
        Ok(started) => started,
        Err(err) => {
            tracing::warn!(replica = %launch.name, command = ?launch.command, %err, "could not start a replica");
            let message = format!("could not start {:?}: {err}", launch.command.join(" "));
            lock(&replica.status).exited(Exit::start_error(), Some(message), now());
            return None;
        }
    };
    // `id` is only `None` once the child was reaped, which has not happened yet; should it ever,
    // there is no process to supervise, and a made-up pid 0 would make every later `killpg`
    // signal belt-api's own process group.
    if let Some(pid) = child
        .id()
        .filter(|&pid| pid > 0 && i32::try_from(pid).is_ok())
    {
        return Some((child, worker, pid));
    }
    tracing::error!(replica = %launch.name, "a started replica has no process id; treating it as exited");
    let _ = child.start_kill();
    let status = child.wait().await;
    let exit = status.map_or_else(|_| Exit::start_error(), Exit::from_status);
    let message = "belt-api lost the replica's process id".to_string();
    lock(&replica.status).exited(exit, Some(message), now());
    None
}

/// The worker is killed with the group by now (or gone with the host's pipe); reaped here.
async fn reap_worker(replica: &Replica, worker: Option<Child>) {
    if let Some(mut worker) = worker {
        if tokio::time::timeout(OUTPUT_DRAIN, worker.wait())
            .await
            .is_err()
        {
            tracing::warn!(replica = %replica.launch.name, "a replica's worker outlived its host");
        }
    }
}

/// Copies the child's stdout and stderr, and its worker's stderr, into the log file and the
/// status.
fn capture_output(
    child: &mut Child,
    worker: Option<&mut Child>,
    log: &Arc<Mutex<LogFile>>,
    status: &Arc<Mutex<ReplicaStatus>>,
) -> JoinSet<()> {
    let mut output = JoinSet::new();
    if let Some(stderr) = worker.and_then(|worker| worker.stderr.take()) {
        output.spawn(pump(stderr, log.clone(), status.clone()));
    }
    if let Some(stdout) = child.stdout.take() {
        output.spawn(pump(stdout, log.clone(), status.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        output.spawn(pump(stderr, log.clone(), status.clone()));
    }
    output
}

/// Records how the run ended. `unrecorded` is why the state file could not be written, if so.
fn report(
    replica: &Replica,
    status: std::io::Result<ExitStatus>,
    stopped: bool,
    unrecorded: Option<std::io::Error>,
) {
    let name = &replica.launch.name;
    let exit = match status {
        Ok(status) => Exit::from_status(status),
        Err(err) => {
            tracing::warn!(replica = %name, %err, "could not wait for a replica");
            Exit {
                exit_code: -1,
                signal: None,
                reason: "Error",
            }
        }
    };
    if !stopped {
        tracing::info!(replica = %name, exit_code = exit.exit_code, "replica exited");
    }
    // Not the output tail: the replica was fine, belt-api could not keep track of it.
    let message = unrecorded
        .map(|err| format!("stopped: belt-api could not write the replica's state file: {err}"));
    lock(&replica.status).exited(exit, message, now());
}

/// Copies one pipe into the log file and the status, a line at a time.
async fn pump(
    pipe: impl AsyncRead + Unpin,
    log: Arc<Mutex<LogFile>>,
    status: Arc<Mutex<ReplicaStatus>>,
) {
    let mut reader = BufReader::new(pipe);
    let mut warned = false;
    loop {
        let line = match next_line(&mut reader).await {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(%err, "could not read a replica's output");
                return;
            }
        };
        let at = now();
        if let Err(err) = lock(&log).append(&format!("{} {line}", stamp(at))) {
            // Once per pipe: a full disk would otherwise log every line.
            if !warned {
                tracing::warn!(%err, "could not write a replica's log file");
                warned = true;
            }
        }
        lock(&status).output(&line, at);
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}
