//! `belt samples list|save|delete` (the server's `…/belts/{id}/samples`): sample events kept with
//! a belt, for `belt invoke --sample` (`invoke.rs`) and the console's test panel.

use std::path::Path;

use reqwest::Method;
use serde_json::{json, Value};

use super::belt_path;
use crate::args::SamplesCommand;
use crate::client::{json_body, Client};
use crate::error::{code, CliError, Result};
use crate::output::{actor, age, cell, Out};

pub fn samples(client: &Client, command: SamplesCommand, out: Out) -> Result<i32> {
    match command {
        SamplesCommand::List(args) => list(client, args.id, out),
        SamplesCommand::Save { id, name, file } => {
            let body = json!({ "events": events_in(&file)? });
            let url = client.url(&sample_path(id, &name));
            let response = client.call(client.request(Method::PUT, &url, false).json(&body))?;
            let created = response.status() == reqwest::StatusCode::CREATED;
            let saved = json_body(response)?;
            if !out.structured(&saved)? {
                let done = if created { "saved" } else { "replaced" };
                out.note(&format!("sample {name} of belt {id} {done}"));
            }
            Ok(code::OK)
        }
        SamplesCommand::Delete { id, name } => {
            let url = client.url(&sample_path(id, &name));
            client.call(client.request(Method::DELETE, &url, false))?;
            out.note(&format!("sample {name} of belt {id} deleted"));
            Ok(code::OK)
        }
    }
}

/// A name goes into the path as the server reads it; one it would refuse is refused there,
/// naming it, so it is only percent-encoded here.
fn sample_path(id: u64, name: &str) -> String {
    let name: String = url_segment(name);
    format!("{}/samples/{name}", belt_path(id))
}

fn url_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn list(client: &Client, id: u64, out: Out) -> Result<i32> {
    let listed = client.get_json(&format!("{}/samples", belt_path(id)))?;
    if out.structured(&listed)? {
        return Ok(code::OK);
    }
    let items = listed["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("No samples saved with belt {id}: `belt samples save {id} NAME -f FILE`.");
        return Ok(code::OK);
    }
    let rows: Vec<Vec<String>> = (items.iter())
        .map(|s| {
            let events = s["events"].as_array().map_or(0, Vec::len);
            vec![
                cell(&s["name"]),
                events.to_string(),
                actor(&s["savedBy"]),
                age(&s["savedAt"]),
            ]
        })
        .collect();
    out.table(&["NAME", "EVENTS", "SAVED BY", "AGE"], &rows);
    Ok(code::OK)
}

/// The events of a file: `events: [...]`, or a bare list.
pub(super) fn events_in(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?;
    let value: Value = serde_yaml::from_str(&text)
        .map_err(|e| CliError::Other(format!("{}: not YAML or JSON: {e}", path.display())))?;
    match value {
        Value::Array(_) => Ok(value),
        Value::Object(mut whole) if whole.get("events").is_some_and(Value::is_array) => {
            Ok(whole.remove("events").unwrap_or_default())
        }
        _ => Err(CliError::Other(format!(
            "{}: holds neither `events: [...]` nor a list of events",
            path.display()
        ))),
    }
}
