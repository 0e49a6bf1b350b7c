//! A run that happened away from belt-api's machine (a Kubernetes pod): how it ended, as that
//! runtime read it, turned into the same answer as a local run through the one mapping of
//! [`super::report`], so that a timeout, a memory kill or a crash reads the same on every runtime.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use serde_json::Value;

use super::process::{Captured, Finished, OUTPUT_CAP};
use super::report::{self, InvokeReport, RequirementsReport};

/// How the runner process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteEnd {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it (SIGKILL from an OOM killer, SIGXCPU from its CPU limit).
    Signalled(i32),
    /// It was stopped at the wall-clock timeout.
    TimedOut,
}

/// What a remote run left: the runner's end, its own output, the result lines it wrote.
#[derive(Debug, Clone)]
pub struct RemoteRun {
    pub end: RemoteEnd,
    /// The run's memory bound was hit (the container was OOM-killed).
    pub memory_exceeded: bool,
    pub stdout: String,
    pub stderr: String,
    pub lines: Vec<Value>,
    pub events: usize,
    pub timeout: Duration,
    pub requirements: RequirementsReport,
}

/// At most `OUTPUT_CAP` bytes of `text`, cut on a character boundary, as a local run keeps it.
fn captured(text: String) -> Captured {
    if text.len() <= OUTPUT_CAP {
        return Captured {
            text,
            truncated: false,
        };
    }
    let mut end = OUTPUT_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Captured {
        text: text[..end].to_string(),
        truncated: true,
    }
}

impl RemoteRun {
    /// The answer, as `report::build` gives it for a local run that ended the same way.
    pub fn report(self, elapsed: Duration) -> InvokeReport {
        let status = match self.end {
            // A wait status: the exit code in the second byte, a signal in the low bits.
            RemoteEnd::Exited(code) => Some(ExitStatus::from_raw((code & 0xff) << 8)),
            RemoteEnd::Signalled(signal) => Some(ExitStatus::from_raw(signal & 0x7f)),
            RemoteEnd::TimedOut => None,
        };
        let finished = Finished {
            status,
            stdout: captured(self.stdout),
            stderr: captured(self.stderr),
            memory_exceeded: self.memory_exceeded,
        };
        let run = report::Run {
            finished,
            lines: self.lines,
            events: self.events,
            timeout: self.timeout,
            requirements: self.requirements,
        };
        report::build(run, elapsed)
    }

    /// The answer when requirements.txt could not be installed: no event ran.
    pub fn requirements_failed(
        requirements: RequirementsReport,
        events: usize,
        elapsed: Duration,
    ) -> InvokeReport {
        InvokeReport::requirements_failed(requirements, events, elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoke::Outcome;

    fn run(end: RemoteEnd, memory_exceeded: bool, lines: Vec<Value>) -> InvokeReport {
        RemoteRun {
            end,
            memory_exceeded,
            stdout: String::new(),
            stderr: String::new(),
            lines,
            events: 1,
            timeout: Duration::from_secs(10),
            requirements: RequirementsReport {
                virtualenv: "none".into(),
                duration_ms: None,
                output: None,
            },
        }
        .report(Duration::from_millis(5))
    }

    #[test]
    fn ends_map_as_a_local_run_ends() {
        let import = serde_json::json!({"import": {"stdout": "", "stderr": ""}});
        let event = serde_json::json!({"index": 0, "updates": [], "stdout": "", "stderr": ""});
        let done = vec![import.clone(), event];
        assert_eq!(
            run(RemoteEnd::Exited(0), false, done.clone()).outcome,
            Outcome::Completed
        );
        assert_eq!(
            run(RemoteEnd::Exited(0), true, done).outcome,
            Outcome::MemoryExceeded
        );
        let started = vec![import];
        assert_eq!(
            run(RemoteEnd::TimedOut, false, started.clone()).outcome,
            Outcome::TimedOut
        );
        assert_eq!(
            run(RemoteEnd::Signalled(9), false, started.clone()).outcome,
            Outcome::MemoryExceeded
        );
        assert_eq!(
            run(RemoteEnd::Signalled(24), false, started.clone()).outcome,
            Outcome::TimedOut
        );
        assert_eq!(
            run(RemoteEnd::Exited(3), false, started).outcome,
            Outcome::Crashed
        );
    }

    #[test]
    fn output_is_capped_on_a_character_boundary() {
        let text = "é".repeat(OUTPUT_CAP);
        let kept = captured(text);
        assert!(kept.truncated);
        assert!(kept.text.len() <= OUTPUT_CAP);
    }
}
