//! What an invoke pod's status and log say, read strictly: only a status this file understands
//! and a report line that parses lead to an answer; anything else is refused (FAIL CLOSED), since
//! a run read wrongly as a success would tell an editor that broken code works. Pure.

use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use serde_json::Value;

use super::invoke_render::{CONTAINER, REPORT_MARKER};
use crate::invoke::{RemoteEnd, RequirementsReport};

/// Waiting reasons after which the container will never start by itself.
const NEVER_STARTS: [&str; 6] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Where the pod is.
#[derive(Debug, Clone, PartialEq)]
pub enum PodState {
    /// Not started yet (scheduling, pulling, mounting).
    Starting,
    Running,
    /// The container ended; `oom_killed` when the kernel killed it for memory.
    Ended {
        exit_code: i32,
        oom_killed: bool,
    },
    /// The kubelet ended it at `activeDeadlineSeconds`.
    DeadlineExceeded,
    /// It will never run: why, for the caller (an image that cannot be pulled...).
    CannotStart(String),
    /// A status this reader does not understand.
    NotUnderstood(String),
}

fn terminated(pod: &Pod) -> Option<&ContainerStateTerminated> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    let status = statuses.iter().find(|status| status.name == CONTAINER)?;
    status.state.as_ref()?.terminated.as_ref()
}

fn waiting(pod: &Pod) -> Option<(String, String)> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    let status = statuses.iter().find(|status| status.name == CONTAINER)?;
    let waiting = status.state.as_ref()?.waiting.as_ref()?;
    Some((
        waiting.reason.clone().unwrap_or_default(),
        waiting.message.clone().unwrap_or_default(),
    ))
}

/// The pod's state from its status.
pub fn state(pod: &Pod) -> PodState {
    let Some(status) = &pod.status else {
        return PodState::Starting;
    };
    let phase = status.phase.as_deref().unwrap_or("Pending");
    match phase {
        "Pending" | "Running" => match waiting(pod) {
            Some((reason, message)) if NEVER_STARTS.contains(&reason.as_str()) => {
                PodState::CannotStart(format!("{reason}: {message}"))
            }
            _ if phase == "Running" => PodState::Running,
            _ => PodState::Starting,
        },
        "Succeeded" | "Failed" => {
            if status.reason.as_deref() == Some("DeadlineExceeded") {
                return PodState::DeadlineExceeded;
            }
            match terminated(pod) {
                Some(end) => PodState::Ended {
                    exit_code: end.exit_code,
                    oom_killed: end.reason.as_deref() == Some("OOMKilled"),
                },
                None => PodState::NotUnderstood(format!(
                    "phase {phase} without a terminated container '{CONTAINER}'"
                )),
            }
        }
        other => PodState::NotUnderstood(format!("phase '{other}'")),
    }
}

/// The bootstrap's report, from the pod's log.
#[derive(Debug, Clone)]
pub struct PodReport {
    pub requirements: RequirementsReport,
    /// `None` when the requirements failed and nothing ran.
    pub end: Option<RemoteEnd>,
    pub stdout: String,
    pub stderr: String,
    pub lines: Vec<Value>,
}

fn end_of(value: &Value) -> Result<RemoteEnd, String> {
    let int = |key: &str| (value.get(key)?.as_i64()).and_then(|n| i32::try_from(n).ok());
    if value.get("timedOut") == Some(&Value::Bool(true)) {
        return Ok(RemoteEnd::TimedOut);
    }
    match (int("exit"), int("signal")) {
        (Some(code), None) => Ok(RemoteEnd::Exited(code)),
        (None, Some(signal)) => Ok(RemoteEnd::Signalled(signal)),
        _ => Err(format!("an end not understood: {value}")),
    }
}

fn text(value: &Value, key: &str) -> Result<String, String> {
    match value.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(format!("'{key}' is not text")),
    }
}

/// The one report line of `log`; none, two, or one that does not parse is refused.
pub fn report(log: &str) -> Result<PodReport, String> {
    let mut found = log
        .lines()
        .filter_map(|line| line.strip_prefix(REPORT_MARKER));
    let (Some(line), None) = (found.next(), found.next()) else {
        return Err("the pod's log holds no single report line".into());
    };
    let value: Value =
        serde_json::from_str(line).map_err(|err| format!("the report does not parse: {err}"))?;
    let requirements: RequirementsReport = serde_json::from_value(value["requirements"].clone())
        .map_err(|err| format!("the report's requirements do not parse: {err}"))?;
    let known = ["none", "built", "failed"];
    if !known.contains(&requirements.virtualenv.as_str()) {
        return Err(format!(
            "virtualenv '{}' not understood",
            requirements.virtualenv
        ));
    }
    let end = match value.get("end") {
        None if requirements.failed() => None,
        Some(end) if !requirements.failed() => Some(end_of(end)?),
        _ => return Err("the report's end does not fit its requirements".into()),
    };
    let lines = match value.get("lines") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(lines)) => lines.clone(),
        Some(_) => return Err("'lines' is not a list".into()),
    };
    Ok(PodReport {
        requirements,
        end,
        stdout: text(&value, "stdout")?,
        stderr: text(&value, "stderr")?,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "status": status})).unwrap()
    }

    fn container(state: Value) -> Value {
        json!([{"name": CONTAINER, "image": "i", "imageID": "", "ready": false,
            "restartCount": 0, "state": state}])
    }

    #[test]
    fn states_are_read_strictly() {
        let ended = |reason: &str, code: i32| {
            pod(json!({"phase": "Failed", "containerStatuses":
                container(json!({"terminated": {"exitCode": code, "reason": reason}}))}))
        };
        assert_eq!(
            state(&ended("OOMKilled", 137)),
            PodState::Ended {
                exit_code: 137,
                oom_killed: true
            }
        );
        assert_eq!(
            state(&ended("Completed", 0)),
            PodState::Ended {
                exit_code: 0,
                oom_killed: false
            }
        );
        let pull = pod(json!({"phase": "Pending", "containerStatuses":
            container(json!({"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}))}));
        assert!(
            matches!(state(&pull), PodState::CannotStart(why) if why.contains("no such image"))
        );
        let deadline = pod(json!({"phase": "Failed", "reason": "DeadlineExceeded"}));
        assert_eq!(state(&deadline), PodState::DeadlineExceeded);
        for garbled in [
            json!({"phase": "Unknown"}),
            json!({"phase": "Succeeded"}),
            json!({"phase": "Done", "containerStatuses": container(json!({"terminated": {"exitCode": 0}}))}),
        ] {
            assert!(matches!(state(&pod(garbled)), PodState::NotUnderstood(_)));
        }
        assert_eq!(state(&pod(json!({"phase": "Pending"}))), PodState::Starting);
    }

    #[test]
    fn only_one_well_formed_report_line_is_taken() {
        let line = |end: Value| {
            format!(
                "{REPORT_MARKER}{}",
                json!({"requirements": {"virtualenv": "none"},
                "end": end, "stdout": "", "stderr": "", "lines": []})
            )
        };
        let good = line(json!({"exit": 0}));
        assert_eq!(report(&good).unwrap().end, Some(RemoteEnd::Exited(0)));
        assert_eq!(
            report(&line(json!({"timedOut": true}))).unwrap().end,
            Some(RemoteEnd::TimedOut)
        );
        for bad in [
            String::new(),
            "hello".to_string(),
            format!("{good}\n{good}"),
            format!("{REPORT_MARKER}{{not json"),
            line(json!({"exit": "0"})),
            line(json!({})),
            format!(
                "{REPORT_MARKER}{}",
                json!({"requirements": {"virtualenv": "maybe"}})
            ),
            format!(
                "{REPORT_MARKER}{}",
                json!({"requirements": {"virtualenv": "none"}})
            ),
        ] {
            assert!(report(&bad).is_err(), "{bad}");
        }
    }
}
