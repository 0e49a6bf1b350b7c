//! The state details in words: what each replica's container did last, and which deployment
//! condition does not hold, so a user reads "replica 1 exited with code 1: …" rather than JSON.

use crate::domain::state_details::{PodDetails, StateDetails};

/// One sentence per thing worth saying; empty when all is well or nothing is known.
pub fn explain(details: &StateDetails) -> Vec<String> {
    let mut said = Vec::new();
    for event in &details.deployment_events {
        if let Some(message) = event.failing_message() {
            said.push(format!("The deployment reports: {message}"));
        }
    }
    for (index, pod) in details.pod_status.iter().enumerate() {
        said.extend(explain_pod(index + 1, pod));
    }
    said
}

fn explain_pod(replica: usize, pod: &PodDetails) -> Vec<String> {
    let mut said = Vec::new();
    for container in &pod.container_status {
        if let Some(waiting) = container.waiting() {
            let reason = waiting.reason.as_deref().unwrap_or("an unnamed reason");
            let message = waiting.message.as_deref().map(|m| format!(": {m}"));
            said.push(format!(
                "Replica {replica} ({}) is waiting ({reason}){}",
                pod.name,
                message.unwrap_or_default()
            ));
        }
        if let Some(ended) = container.terminated() {
            let message = ended.message.as_deref().map(gist);
            let why = [ended.reason.as_deref(), message]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(": {why}")
            };
            said.push(format!(
                "Replica {replica} ({}) exited with code {}{why}",
                pod.name, ended.exit_code
            ));
        }
    }
    for event in &pod.events {
        if event.type_.as_deref() == Some("Warning") {
            let reason = event.reason.as_deref().unwrap_or("Warning");
            let message = event.message.as_deref().unwrap_or("");
            said.push(format!(
                "Replica {replica} ({}): {reason}: {message}",
                pod.name
            ));
        }
    }
    said
}

/// What of a replica's last output says why it ended: after a Python traceback, its exception
/// line ("RuntimeError: broken on purpose"); otherwise the output as it is. The whole output
/// stays in the page's log section.
fn gist(message: &str) -> &str {
    let Some((_, after)) = message.rsplit_once("Traceback (most recent call last):") else {
        return message.trim();
    };
    // The frames are indented; the exception is the last line that is not, and not the host's.
    after
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with(char::is_whitespace))
        .rfind(|line| !line.starts_with("belt-host:"))
        .map_or(message.trim(), str::trim)
}

#[cfg(test)]
mod tests {
    use super::gist;

    #[test]
    fn a_traceback_is_told_by_its_exception_line() {
        let output = "belt-host: starting belt 1\nTraceback (most recent call last):\n  File \"callback.py\", line 1, in <module>\n    raise RuntimeError('broken on purpose')\nRuntimeError: broken on purpose\nbelt-host: importing callback.py failed";
        assert_eq!(gist(output), "RuntimeError: broken on purpose");
        assert_eq!(gist("  killed by the kernel \n"), "killed by the kernel");
    }
}
