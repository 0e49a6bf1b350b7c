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
            let why = [ended.reason.as_deref(), ended.message.as_deref()]
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
