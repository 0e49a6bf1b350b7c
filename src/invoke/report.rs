//! What an invocation answers: per event the records `execute` produced or the user's error, the
//! output, and one outcome for the whole run, read from the runner's result lines and the way the
//! process ended.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use nix::libc;
use serde::Serialize;
use serde_json::Value;

use super::process::{Captured, Finished};

/// At most this much of the result file is read: a callback may write to it too.
const RESULTS_CAP: u64 = 16 * 1024 * 1024;
/// Exit codes through bwrap, which answers 128 + the signal that ended the program.
const SIGNAL_BASE: i32 = 128;

/// How the run as a whole ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Every event ran (each may still have raised).
    Completed,
    /// requirements.txt could not be installed; no event ran.
    RequirementsFailed,
    /// callback.py did not import (syntax error, import error, raise at import) or `execute` has
    /// the wrong shape; no event ran.
    ImportFailed,
    /// The wall-clock timeout or the CPU limit ended the run.
    TimedOut,
    /// The memory limit was hit (a `MemoryError`, or the process was killed for memory).
    MemoryExceeded,
    /// The process ended otherwise before every event ran (`os._exit`, a signal, a crash).
    Crashed,
}

/// An error in the user's code.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UserError {
    /// The exception's class (`ZeroDivisionError`, `SyntaxError`), or what ended the run
    /// (`TimedOut`, `MemoryExceeded`, `Crashed`, `NotRun`).
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    /// From the first frame in callback.py on.
    pub traceback: Option<String>,
    /// The line of callback.py the error points at.
    pub line: Option<u64>,
}

/// One event's result: `updates` or `error`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventResult {
    /// The records `execute` returned, as a replica would produce them: `topic`, `key`,
    /// `headers` (name → value; the correlation id among them) and `value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub updates: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<UserError>,
    /// What the callback printed while handling this event (first 64 KiB).
    pub stdout: String,
    pub stderr: String,
    pub duration_ms: Option<u64>,
}

/// Whether the belt's requirements were installed, and how.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequirementsReport {
    /// `none` (no requirements), `reused` (a cached virtualenv), `built` (by this call),
    /// `failed`.
    pub virtualenv: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// pip's output, when it was built or failed (first 64 KiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl RequirementsReport {
    pub fn failed(&self) -> bool {
        self.virtualenv == "failed"
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvokeReport {
    pub outcome: Outcome,
    /// Why callback.py did not import, with `outcome` `importFailed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_error: Option<UserError>,
    /// One per event, in order.
    pub results: Vec<EventResult>,
    /// The process's own output: what the callback printed at import, and what reached the
    /// file descriptors directly (subprocesses, C code, the interpreter's last words).
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub requirements: RequirementsReport,
    pub duration_ms: u64,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn ended(kind: &str, message: impl Into<String>) -> UserError {
    UserError {
        kind: kind.to_string(),
        message: message.into(),
        traceback: None,
        line: None,
    }
}

fn not_run(message: &str) -> EventResult {
    EventResult {
        updates: None,
        error: Some(ended("NotRun", message)),
        stdout: String::new(),
        stderr: String::new(),
        duration_ms: None,
    }
}

impl InvokeReport {
    pub(super) fn requirements_failed(
        requirements: RequirementsReport,
        events: usize,
        elapsed: Duration,
    ) -> InvokeReport {
        InvokeReport {
            outcome: Outcome::RequirementsFailed,
            import_error: None,
            results: vec![not_run("the requirements could not be installed"); events],
            stdout: String::new(),
            stderr: String::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            requirements,
            duration_ms: millis(elapsed),
        }
    }
}

/// The result lines the runner wrote, as far as they parse: a line cut by a kill is dropped.
pub(super) fn read_results(path: &Path) -> Vec<Value> {
    let mut options = std::fs::OpenOptions::new();
    options
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    let mut text = String::new();
    let read = options.open(path).and_then(|file| {
        if !file.metadata()?.is_file() {
            return Ok(0);
        }
        file.take(RESULTS_CAP).read_to_string(&mut text)
    });
    if read.is_err() {
        return Vec::new();
    }
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// What the run left: the process's end, the result lines, how many events it was given.
pub(super) struct Run {
    pub finished: Finished,
    pub lines: Vec<Value>,
    pub events: usize,
    pub timeout: Duration,
    pub requirements: RequirementsReport,
}

/// The signal that ended the program, directly or as bwrap reports it (128 + signal).
fn signal_of(finished: &Finished) -> Option<i32> {
    let status = finished.status?;
    status.signal().or_else(|| {
        status
            .code()
            .filter(|code| *code > SIGNAL_BASE && *code < SIGNAL_BASE + 64)
            .map(|code| code - SIGNAL_BASE)
    })
}

fn error_of(value: &Value) -> Option<UserError> {
    serde_json::from_value(value.get("error")?.clone()).ok()
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

fn event_of(value: &Value) -> EventResult {
    EventResult {
        updates: value["updates"].as_array().cloned(),
        error: error_of(value),
        stdout: text(value, "stdout"),
        stderr: text(value, "stderr"),
        duration_ms: value["durationMs"].as_u64(),
    }
}

/// How the process ended, when it ended before every event ran, or ran out of memory.
fn early_end(run: &Run, results: &[EventResult]) -> Option<(Outcome, UserError)> {
    let failed = run.finished.status.is_none_or(|status| !status.success());
    let memory_error = run.finished.memory_exceeded
        || results
            .iter()
            .any(|r| r.error.as_ref().is_some_and(|e| e.kind == "MemoryError"))
        || (failed && run.finished.stderr.text.contains("MemoryError"));
    let timeout = format!("the run exceeded its {} ms", millis(run.timeout));
    match (run.finished.status, signal_of(&run.finished)) {
        // The cgroup's OOM killer may end a run just as the timeout does: it was memory.
        _ if run.finished.memory_exceeded => Some((
            Outcome::MemoryExceeded,
            ended("MemoryExceeded", "the run exceeded its memory limit"),
        )),
        (None, _) => Some((Outcome::TimedOut, ended("TimedOut", timeout))),
        (_, Some(signal)) if signal == libc::SIGXCPU => Some((
            Outcome::TimedOut,
            ended("TimedOut", "the run exceeded its CPU time limit"),
        )),
        (_, Some(signal)) if signal == libc::SIGKILL || memory_error => Some((
            Outcome::MemoryExceeded,
            ended("MemoryExceeded", "the run exceeded its memory limit"),
        )),
        _ if memory_error => Some((
            Outcome::MemoryExceeded,
            ended("MemoryExceeded", "the run exceeded its memory limit"),
        )),
        (Some(status), _) if !status.success() || results.len() < run.events => Some((
            Outcome::Crashed,
            ended("Crashed", format!("the runner ended early ({status})")),
        )),
        _ => None,
    }
}

pub(super) fn build(run: Run, elapsed: Duration) -> InvokeReport {
    let import = run.lines.iter().find_map(|line| line.get("import"));
    let import_error = import.and_then(error_of);
    let mut stdout = import.map(|i| text(i, "stdout")).unwrap_or_default();
    let mut stderr = import.map(|i| text(i, "stderr")).unwrap_or_default();
    let mut results: Vec<EventResult> = run
        .lines
        .iter()
        .filter(|line| line.get("index").is_some())
        .take(run.events)
        .map(event_of)
        .collect();
    let end = early_end(&run, &results);
    let outcome = match (&import_error, &end) {
        (Some(_), _) => Outcome::ImportFailed,
        (None, Some((outcome, _))) => *outcome,
        (None, None) => Outcome::Completed,
    };
    if import_error.is_none() && results.len() < run.events {
        let (_, why) =
            end.unwrap_or((Outcome::Crashed, ended("Crashed", "the runner ended early")));
        results.push(EventResult {
            error: Some(why),
            ..not_run("")
        });
    }
    let reason = if import_error.is_some() {
        "callback.py could not be imported"
    } else {
        "the run ended before this event"
    };
    results.resize_with(run.events, || not_run(reason));
    let Run {
        finished,
        requirements,
        ..
    } = run;
    let Captured {
        text: out,
        truncated: stdout_truncated,
    } = finished.stdout;
    let Captured {
        text: err,
        truncated: stderr_truncated,
    } = finished.stderr;
    stdout.push_str(&out);
    stderr.push_str(&err);
    InvokeReport {
        outcome,
        import_error,
        results,
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
        requirements,
        duration_ms: millis(elapsed),
    }
}
