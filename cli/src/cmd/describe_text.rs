//! `belt describe` for people: the document in short, the state with each replica explained, and
//! the recent history.

use serde_json::Value;

use crate::output::{actor, age, cell, Out};

pub fn print(belt: &Value, state: &Value, history: &Value, out: Out) {
    let field = |label: &str, value: String| println!("{:<16}{value}", format!("{label}:"));
    field("Name", cell(&belt["name"]));
    field("ID", cell(&belt["id"]));
    field("Project", cell(&belt["projectName"]));
    field("Status", out.status(&cell(&state["status"])));
    field(
        "Version",
        format!(
            "{} (modified {} ago by {})",
            cell(&belt["version"]),
            age(&belt["modifiedAt"]),
            actor(&belt["modifiedBy"])
        ),
    );
    field(
        "Created",
        format!(
            "{} ({} ago) by {}",
            cell(&belt["createdAt"]),
            age(&belt["createdAt"]),
            actor(&belt["createdBy"])
        ),
    );
    field("Event types", join(&belt["eventTypes"]));
    match belt["outputTypes"].as_array() {
        Some(types) => field(
            "Output types",
            types
                .iter()
                .map(|t| cell(&t["name"]))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        None => field("Destination", cell(&belt["kafkaDestinationTopic"])),
    }
    field(
        "Resources",
        format!(
            "{} replica(s), {}m CPU (requests {}m), {}Mi memory (requests {}Mi)",
            cell(&belt["replicas"]),
            cell(&belt["millicpu"]),
            cell(&belt["millicpuRequests"]),
            cell(&belt["memory"]),
            cell(&belt["memoryRequests"])
        ),
    );
    field("Fetch profile", cell(&belt["fetchProfile"]));
    if let Some(lag) = state.get("totalLag") {
        field("Lag", cell(lag));
    }
    replicas(state, out);
    recent_history(history, out);
}

fn join(value: &Value) -> String {
    value
        .as_array()
        .map(|v| v.iter().map(cell).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

fn replicas(state: &Value, out: Out) {
    let Some(pods) = state["podStatus"].as_array() else {
        println!("Replicas:       none deployed");
        return;
    };
    println!(
        "Replicas:       {} wished, {} present",
        cell(&state["deploymentReplicas"]),
        pods.len()
    );
    for pod in pods {
        for container in pod["containerStatus"].as_array().into_iter().flatten() {
            println!(
                "  {}  {}",
                cell(&pod["name"]),
                explain_container(container, out)
            );
        }
    }
    for condition in state["deploymentEvents"].as_array().into_iter().flatten() {
        if condition["status"] != "True" || condition["type"] == "ReplicaFailure" {
            println!(
                "  {}: {}",
                cell(&condition["type"]),
                cell(&condition["message"])
            );
        }
    }
}

/// A container status in one line: running and ready, waiting and why, how it last ended.
fn explain_container(container: &Value, out: Out) -> String {
    let state = &container["state"];
    let mut text = if state.get("running").is_some_and(|r| !r.is_null()) {
        let ready = container["ready"] == true;
        let word = if ready {
            out.paint("ready", "32")
        } else {
            out.paint("started, not ready yet", "33")
        };
        format!("{word} (since {})", cell(&state["running"]["startedAt"]))
    } else if let Some(waiting) = state.get("waiting").filter(|w| !w.is_null()) {
        let reason = cell(&waiting["reason"]);
        let colour = if reason == "CrashLoopBackOff" {
            "31"
        } else {
            "33"
        };
        format!(
            "waiting: {} {}",
            out.paint(&reason, colour),
            cell(&waiting["message"])
        )
    } else {
        "unknown".to_string()
    };
    text.push_str(&format!(", restarts {}", cell(&container["restartCount"])));
    if let Some(last) = container["lastState"]
        .get("terminated")
        .filter(|t| !t.is_null())
    {
        text.push_str(&format!(
            "\n      last exit: code {} ({}) at {}: {}",
            cell(&last["exitCode"]),
            cell(&last["reason"]),
            cell(&last["finishedAt"]),
            cell(&last["message"]).trim()
        ));
    }
    text
}

fn recent_history(history: &Value, out: Out) {
    let Some(items) = history.as_array() else {
        println!("History:        (this server keeps no history)");
        return;
    };
    println!("Recent history:");
    for event in items {
        println!("  {}", event_line(event, out));
    }
}

/// One history event: when, who, what, from → to, why.
pub fn event_line(event: &Value, out: Out) -> String {
    let mut line = format!(
        "{}  {:<10}  {:<16}",
        cell(&event["time"]),
        actor(&event["actor"]),
        cell(&event["action"])
    );
    if !event["version"].is_null() {
        line.push_str(&format!("  v{}", cell(&event["version"])));
    }
    if !event["toStatus"].is_null() {
        let from = if event["fromStatus"].is_null() {
            String::new()
        } else {
            format!("{} → ", cell(&event["fromStatus"]))
        };
        line.push_str(&format!(
            "  {from}{}",
            out.status(&cell(&event["toStatus"]))
        ));
    }
    if !event["reason"].is_null() {
        line.push_str(&format!("  {}", cell(&event["reason"])));
    }
    line
}
