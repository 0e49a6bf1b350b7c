//! What the supervisor knows about one replica, in memory: enough for `observe` (no I/O) and for
//! the Kubernetes-shaped `podStatus` in `details`.

use std::collections::VecDeque;
use std::time::Duration;

use time::OffsetDateTime;

/// The line the belt host prints once `callback.py` is imported and `execute` checked.
pub(super) const READY_LINE: &str = "belt-host: ready";
/// Lines of output kept for `lastState.terminated.message`, like a pod's termination log tail.
pub(super) const MESSAGE_LINES: usize = 20;

#[derive(Debug, Clone)]
pub(super) enum ContainerState {
    /// Not started yet.
    Creating,
    Running {
        pid: u32,
        started_at: OffsetDateTime,
    },
    /// Waiting out the restart back-off.
    BackOff { delay: Duration },
}

/// How one run of the replica ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Exit {
    /// The exit code, or 128 + signal as a shell (and Kubernetes) reports a killed process.
    pub exit_code: i32,
    pub signal: Option<i32>,
    /// `Completed`, `Error`, or `StartError` when the command could not be started.
    pub reason: &'static str,
}

impl Exit {
    pub(super) fn from_status(status: std::process::ExitStatus) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(0), _) => Exit {
                exit_code: 0,
                signal: None,
                reason: "Completed",
            },
            (Some(code), _) => Exit {
                exit_code: code,
                signal: None,
                reason: "Error",
            },
            (None, signal) => Exit {
                exit_code: 128 + signal.unwrap_or(0),
                signal,
                reason: "Error",
            },
        }
    }

    /// The command could not be started (missing program, no permission): what Kubernetes reports
    /// as `StartError` with exit code 128.
    pub(super) fn start_error() -> Exit {
        Exit {
            exit_code: 128,
            signal: None,
            reason: "StartError",
        }
    }

    fn failed(&self) -> bool {
        self.exit_code != 0
    }
}

#[derive(Debug, Clone)]
pub(super) struct Terminated {
    pub exit: Exit,
    /// The last `MESSAGE_LINES` lines of the run (or the start error).
    pub message: String,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub(super) struct ReplicaStatus {
    pub name: String,
    pub created_at: OffsetDateTime,
    pub state: ContainerState,
    /// The current run printed `READY_LINE`.
    pub ready: bool,
    /// When `ready` last changed (or creation), for the conditions' `lastTransitionTime`.
    pub ready_changed_at: OffsetDateTime,
    /// Starts after the first, as Kubernetes counts container restarts.
    pub restart_count: u32,
    /// Runs that failed since the replica was last ready; a clean exit breaks the row.
    pub failures_in_a_row: u32,
    /// Runs that ended since the replica was last ready: drives the back-off.
    pub exits_since_ready: u32,
    pub last_terminated: Option<Terminated>,
    /// The tail of the current run's output.
    pub recent_output: VecDeque<String>,
    failure_threshold: u32,
    starts: u32,
    /// Told when this replica starts, becomes ready or exits (the belt's phase may change).
    pub on_change: Option<(crate::runtime::PhaseEvents, crate::domain::BeltId)>,
}

impl ReplicaStatus {
    pub(super) fn new(name: String, failure_threshold: u32, now: OffsetDateTime) -> Self {
        ReplicaStatus {
            name,
            created_at: now,
            state: ContainerState::Creating,
            ready: false,
            ready_changed_at: now,
            restart_count: 0,
            failures_in_a_row: 0,
            exits_since_ready: 0,
            last_terminated: None,
            recent_output: VecDeque::with_capacity(MESSAGE_LINES),
            failure_threshold: failure_threshold.max(1),
            starts: 0,
            on_change: None,
        }
    }

    fn changed(&self) {
        if let Some((events, id)) = &self.on_change {
            events.changed(*id);
        }
    }

    /// Crash-looping: failed `failure_threshold` times in a row without becoming ready.
    pub(super) fn crash_looping(&self) -> bool {
        self.failures_in_a_row >= self.failure_threshold
    }

    /// The process of the current run, while it runs.
    pub(super) fn running_pid(&self) -> Option<u32> {
        match self.state {
            ContainerState::Running { pid, .. } => Some(pid),
            _ => None,
        }
    }

    pub(super) fn started(&mut self, pid: u32, now: OffsetDateTime) {
        self.starts += 1;
        self.restart_count = self.starts - 1;
        self.state = ContainerState::Running {
            pid,
            started_at: now,
        };
        self.recent_output.clear();
        self.changed();
    }

    /// One line of output (unstamped); the ready line makes the replica ready.
    pub(super) fn output(&mut self, line: &str, now: OffsetDateTime) {
        if self.recent_output.len() == MESSAGE_LINES {
            self.recent_output.pop_front();
        }
        self.recent_output.push_back(line.to_string());
        let running = matches!(self.state, ContainerState::Running { .. });
        if running && !self.ready && line.trim_end() == READY_LINE {
            self.ready = true;
            self.ready_changed_at = now;
            self.failures_in_a_row = 0;
            self.exits_since_ready = 0;
            self.changed();
        }
    }

    /// The run ended; `message` overrides the output tail (a start error has no output).
    pub(super) fn exited(&mut self, exit: Exit, message: Option<String>, now: OffsetDateTime) {
        let started_at = match self.state {
            ContainerState::Running { started_at, .. } => Some(started_at),
            _ => None,
        };
        if self.ready {
            self.ready = false;
            self.ready_changed_at = now;
        }
        if exit.failed() {
            self.failures_in_a_row += 1;
        } else {
            self.failures_in_a_row = 0;
        }
        self.exits_since_ready += 1;
        let message = message.unwrap_or_else(|| {
            let lines: Vec<&str> = self.recent_output.iter().map(String::as_str).collect();
            lines.join("\n")
        });
        self.last_terminated = Some(Terminated {
            exit,
            message,
            started_at,
            finished_at: now,
        });
        self.changed();
    }

    /// How long to wait before the next start: `initial` doubling per exit since the replica was
    /// last ready, capped at `max`; a replica that was ready restarts after `initial`.
    pub(super) fn back_off(&mut self, initial: Duration, max: Duration) -> Duration {
        let doublings = self.exits_since_ready.saturating_sub(1).min(20);
        let delay = initial.saturating_mul(1 << doublings).min(max);
        self.state = ContainerState::BackOff { delay };
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    fn error(code: i32) -> Exit {
        Exit {
            exit_code: code,
            signal: None,
            reason: "Error",
        }
    }

    #[test]
    fn crash_loops_after_the_threshold_and_recovers_when_ready() {
        let mut status = ReplicaStatus::new("r".into(), 3, at(0));
        for run in 0..3 {
            assert!(!status.crash_looping(), "run {run}");
            status.started(10 + run, at(run.into()));
            status.output("Traceback", at(run.into()));
            status.exited(error(1), None, at(run.into()));
        }
        assert!(status.crash_looping());
        assert_eq!(status.restart_count, 2);
        let last = status.last_terminated.clone().unwrap();
        assert_eq!(last.exit.exit_code, 1);
        assert_eq!(last.message, "Traceback");

        status.started(20, at(5));
        status.output(READY_LINE, at(6));
        assert!(status.ready);
        assert!(!status.crash_looping());
    }

    #[test]
    fn a_clean_exit_breaks_the_row() {
        let mut status = ReplicaStatus::new("r".into(), 2, at(0));
        status.exited(error(1), None, at(1));
        status.exited(Exit::from_status(exit_status(0)), None, at(2));
        status.exited(error(1), None, at(3));
        assert!(!status.crash_looping());
    }

    #[test]
    fn back_off_doubles_up_to_the_cap_and_resets_when_ready() {
        let mut status = ReplicaStatus::new("r".into(), 3, at(0));
        let (initial, max) = (Duration::from_millis(500), Duration::from_secs(10));
        let mut delays = Vec::new();
        for _ in 0..7 {
            status.exited(error(1), None, at(0));
            delays.push(status.back_off(initial, max).as_millis());
        }
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 10000, 10000]);
        status.started(1, at(1));
        status.output(READY_LINE, at(1));
        status.exited(error(1), None, at(2));
        assert_eq!(status.back_off(initial, max).as_millis(), 500);
    }

    #[test]
    fn keeps_the_last_lines_of_output() {
        let mut status = ReplicaStatus::new("r".into(), 3, at(0));
        status.started(1, at(0));
        for i in 0..50 {
            status.output(&format!("line {i}"), at(0));
        }
        assert_eq!(status.recent_output.len(), MESSAGE_LINES);
        assert_eq!(status.recent_output.front().unwrap(), "line 30");
    }

    #[test]
    fn a_killed_process_reports_its_signal() {
        let exit = Exit::from_status(exit_status(9)); // raw wait status 9 = killed by SIGKILL
        assert_eq!(exit.signal, Some(9));
        assert_eq!(exit.exit_code, 137);
    }

    fn exit_status(raw: i32) -> std::process::ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        std::process::ExitStatus::from_raw(raw)
    }
}
