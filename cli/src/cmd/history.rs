//! `belt history ID`, `belt revisions ID [VERSION]`, `belt rollback ID [--to VERSION]`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::belt_path;
use crate::args::{ListArgs, RevisionsArgs, RollbackArgs};
use crate::client::{checked, json_body, Client};
use crate::diff;
use crate::error::{code, Result};
use crate::output::{actor, cell, Out};

pub fn history(client: &Client, args: &ListArgs, out: Out) -> Result<i32> {
    let first = client.url(&format!(
        "{}/history?pagesize={}",
        belt_path(args.id),
        args.limit.clamp(1, 250)
    ));
    let items = client.all_items(&first, args.limit)?;
    if out.structured(&json!({"items": items}))? {
        return Ok(code::OK);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|e| {
            let transition = match (&e["fromStatus"], &e["toStatus"]) {
                (Value::Null, Value::Null) => String::new(),
                (Value::Null, to) => cell(to),
                (from, to) => format!("{} → {}", cell(from), cell(to)),
            };
            vec![
                cell(&e["time"]),
                actor(&e["actor"]),
                cell(&e["action"]),
                cell(&e["version"]),
                transition,
                cell(&e["reason"]),
            ]
        })
        .collect();
    out.table(
        &["TIME", "ACTOR", "ACTION", "VERSION", "STATUS", "REASON"],
        &rows,
    );
    Ok(code::OK)
}

pub fn revisions(client: &Client, args: &RevisionsArgs, out: Out) -> Result<i32> {
    if let Some(version) = args.version {
        let document = client.get_json(&format!("{}/revisions/{version}", belt_path(args.id)))?;
        if out.format == crate::args::Output::Json {
            println!("{}", crate::output::to_json(&document));
        } else {
            print!("{}", crate::output::to_yaml(&document)?);
        }
        return Ok(code::OK);
    }
    let first = client.url(&format!(
        "{}/revisions?pagesize={}",
        belt_path(args.id),
        args.limit.clamp(1, 250)
    ));
    let items = client.all_items(&first, args.limit)?;
    if out.structured(&json!({"items": items}))? {
        return Ok(code::OK);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|r| {
            let rollback = if r["rollbackOf"].is_null() {
                String::new()
            } else {
                format!("rollback to {}", cell(&r["rollbackOf"]))
            };
            vec![
                cell(&r["version"]),
                cell(&r["modifiedAt"]),
                actor(&r["modifiedBy"]),
                rollback,
            ]
        })
        .collect();
    out.table(&["VERSION", "MODIFIED", "MODIFIED BY", "NOTE"], &rows);
    Ok(code::OK)
}

pub fn rollback(client: &Client, args: &RollbackArgs, out: Out) -> Result<i32> {
    let before = client.get_json(&belt_path(args.id))?;
    let url = client.url(&format!("{}/rollback", belt_path(args.id)));
    let mut request = client.request(Method::POST, &url, false);
    if let Some(version) = args.to {
        request = request.json(&json!({"version": version}));
    }
    let response = client.send(request)?;
    if response.status() == StatusCode::NOT_MODIFIED {
        out.note(&format!(
            "belt {} unchanged: that version's content is the current one (version {})",
            args.id,
            cell(&before["version"])
        ));
        out.structured(&json!({"id": args.id.to_string(), "outcome": "unchanged", "version": before["version"]}))?;
        return Ok(code::OK);
    }
    let after = json_body(checked(response)?)?;
    if out.structured(&after)? {
        return Ok(code::OK);
    }
    out.note(&format!(
        "belt {} rolled back: version {} → {}",
        args.id,
        cell(&before["version"]),
        cell(&after["version"])
    ));
    for change in diff::changes(&before, &after) {
        out.note(&format!("  {change}"));
    }
    if after["status"] == "RUNNING_BUT_OUTDATED" {
        out.note(&format!(
            "  it runs the old version until `belt start {}`",
            args.id
        ));
    }
    Ok(code::OK)
}
