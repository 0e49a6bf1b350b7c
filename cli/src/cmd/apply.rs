//! `belt apply -f FILE|DIR`: create what does not exist, replace what does, leave alone what is
//! unchanged (the server answers 304 and keeps the version), and never overwrite a concurrent edit:
//! a replace carries `If-Match` with the version read just before.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::belt_path;
use crate::client::{checked, etag_version, json_body, Client};
use crate::diff;
use crate::error::{code, CliError, Result};
use crate::output::{cell, Out};

struct Outcome {
    id: String,
    name: String,
    action: &'static str,
    version: String,
    changes: Vec<String>,
}

pub fn apply(client: &Client, files: &[PathBuf], out: Out) -> Result<i32> {
    let documents = read_all(files)?;
    if documents.is_empty() {
        return Err(CliError::Other(
            "no belt documents found in the given files".into(),
        ));
    }
    let mut first_error = None;
    let mut reports = Vec::new();
    for (path, document) in &documents {
        match apply_one(client, document) {
            Ok(outcome) => {
                report(&outcome, out);
                reports.push(json!({"file": path, "id": outcome.id, "name": outcome.name,
                    "outcome": outcome.action, "version": outcome.version, "changes": outcome.changes}));
            }
            Err(error) => {
                eprintln!("error: {}: {error}", path.display());
                reports.push(
                    json!({"file": path, "outcome": "failed", "error": error.to_json()["error"]}),
                );
                first_error.get_or_insert(error);
            }
        }
    }
    if out.machine() {
        out.structured(&json!({"items": reports}))?;
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(code::OK),
    }
}

fn report(outcome: &Outcome, out: Out) {
    let what = match outcome.action {
        "unchanged" => format!(
            "belt {} ({}) unchanged (version {})",
            outcome.id, outcome.name, outcome.version
        ),
        action => format!(
            "belt {} ({}) {action} (version {})",
            outcome.id, outcome.name, outcome.version
        ),
    };
    out.note(&what);
    for change in &outcome.changes {
        out.note(&format!("  {change}"));
    }
}

fn apply_one(client: &Client, document: &Value) -> Result<Outcome> {
    let name = document["name"].as_str().unwrap_or_default().to_string();
    match find_existing(client, document, &name)? {
        None => create(client, document, name),
        Some((current, version)) => replace(client, document, current, version, name),
    }
}

/// The belt this document means: by its `id`, else by its exact `name` in the project.
fn find_existing(client: &Client, document: &Value, name: &str) -> Result<Option<(Value, String)>> {
    let id = match &document["id"] {
        Value::String(id) => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    };
    let id = match id {
        Some(id) => id,
        None => match find_by_name(client, name)? {
            Some(id) => id,
            None => return Ok(None),
        },
    };
    let response =
        client.send(client.request(Method::GET, &client.url(&format!("/belts/{id}")), false))?;
    if response.status() == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let response = checked(response)?;
    let version = etag_version(&response);
    let current = json_body(response)?;
    let version = version.unwrap_or_else(|| cell(&current["version"]));
    Ok(Some((current, version)))
}

fn find_by_name(client: &Client, name: &str) -> Result<Option<String>> {
    if name.is_empty() {
        return Ok(None);
    }
    let mut url =
        reqwest::Url::parse(&client.url("/belts")).map_err(|e| CliError::Other(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("search", name)
        .append_pair("pagesize", "250")
        .append_pair("exclude", "status");
    let items = client.all_items(url.as_str(), usize::MAX)?;
    Ok(items
        .iter()
        .find(|b| b["name"] == name)
        .map(|b| cell(&b["id"])))
}

fn create(client: &Client, document: &Value, name: String) -> Result<Outcome> {
    let request = client
        .request(Method::POST, &client.url("/belts"), false)
        .json(document);
    let created = json_body(client.call(request)?)?;
    Ok(Outcome {
        id: cell(&created["id"]),
        name,
        action: "created",
        version: cell(&created["version"]),
        changes: vec![],
    })
}

fn replace(
    client: &Client,
    document: &Value,
    current: Value,
    version: String,
    name: String,
) -> Result<Outcome> {
    let id = cell(&current["id"]);
    pause_for_tests();
    let request = client
        .request(
            Method::PUT,
            &client.url(&belt_path(id.parse().unwrap_or(0))),
            false,
        )
        .header(reqwest::header::IF_MATCH, format!("\"{version}\""))
        .json(document);
    let response = client.send(request)?;
    if response.status() == StatusCode::NOT_MODIFIED {
        return Ok(Outcome {
            id,
            name,
            action: "unchanged",
            version,
            changes: vec![],
        });
    }
    if response.status() == StatusCode::PRECONDITION_FAILED {
        return Err(CliError::Conflict(format!(
            "belt {id} was changed by someone else after it was read at version {version}; nothing was written. \
             Look at `belt get {id} -o yaml` and apply again"
        )));
    }
    let updated = json_body(checked(response)?)?;
    Ok(Outcome {
        changes: diff::changes(&current, &updated),
        version: cell(&updated["version"]),
        id,
        name,
        action: "configured",
    })
}

/// `BELT_APPLY_PAUSE_MS` (undocumented, for tests): wait between reading a belt and replacing it,
/// so a test can make another writer win that race deterministically.
fn pause_for_tests() {
    if let Some(ms) = std::env::var("BELT_APPLY_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Every document of every file; a directory means its `.yaml`, `.yml` and `.json` files, by name,
/// none of them a symlink that leads out of it.
fn read_all(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Value)>> {
    let mut documents = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("yaml" | "yml" | "json")
                    )
                })
                .map(|file| super::files::inside(path, &file))
                .collect::<Result<_>>()?;
            files.sort();
            for file in files {
                documents.extend(read_file(&file)?.into_iter().map(|d| (file.clone(), d)));
            }
        } else {
            documents.extend(read_file(path)?.into_iter().map(|d| (path.clone(), d)));
        }
    }
    Ok(documents)
}

pub(super) fn read_file(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?;
    let bad = |e: String| CliError::Other(format!("{}: {e}", path.display()));
    let mut documents = Vec::new();
    for part in serde_yaml::Deserializer::from_str(&text) {
        let value = Value::deserialize(part).map_err(|e| bad(e.to_string()))?;
        match value {
            Value::Null => {}
            Value::Object(_) => documents.push(value),
            _ => return Err(bad("each document must be a belt (a mapping)".into())),
        }
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_may_hold_several_documents_and_json() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            "name: a\neventTypes: [x]\n---\nname: b\neventTypes: [y]\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("c.json"),
            r#"{"name": "c", "eventTypes": ["z"]}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a belt").unwrap();
        let docs = read_all(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<&str> = docs
            .iter()
            .map(|(_, d)| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        std::fs::write(dir.path().join("d.yaml"), "- 1\n").unwrap();
        assert!(read_all(&[dir.path().join("d.yaml")]).is_err());
    }
}
