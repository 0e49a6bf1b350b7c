//! `belt start|stop ID… [--wait]` and the bulk `belt start|stop --status S [--search T]`.

use reqwest::Method;
use serde_json::{json, Value};

use super::{belt_path, wait};
use crate::args::StateArgs;
use crate::client::{json_body, Client};
use crate::error::{code, CliError, Result};
use crate::output::{cell, Out};

pub fn change(client: &Client, action: &str, args: &StateArgs, out: Out) -> Result<i32> {
    if !args.status.is_empty() || args.search.is_some() {
        return bulk(client, action, args, out);
    }
    if args.ids.is_empty() {
        return Err(CliError::Other(
            "name the belts, or select them with --status and/or --search".into(),
        ));
    }
    let target = if action == "START" {
        "RUNNING"
    } else {
        "STOPPED"
    };
    let mut items = Vec::new();
    for id in &args.ids {
        let url = client.url(&format!("{}/state", belt_path(*id)));
        let answer = json_body(
            client.call(
                client
                    .request(Method::POST, &url, false)
                    .json(&json!({"action": action})),
            )?,
        )?;
        out.note(&format!(
            "belt {id}: {}",
            out.status(&cell(&answer["status"]))
        ));
        items.push(json!({"id": id.to_string(), "status": answer["status"]}));
    }
    if args.wait {
        for (id, item) in args.ids.iter().zip(items.iter_mut()) {
            wait::wait_for(client, *id, target, args.timeout, out)?;
            item["status"] = target.into();
        }
    }
    out.structured(&json!({"items": items}))?;
    Ok(code::OK)
}

/// One call for every matching belt; the answer says per belt what happened.
fn bulk(client: &Client, action: &str, args: &StateArgs, out: Out) -> Result<i32> {
    let mut url = reqwest::Url::parse(&client.url("/belts/state"))
        .map_err(|e| CliError::Other(e.to_string()))?;
    {
        let mut query = url.query_pairs_mut();
        if !args.status.is_empty() {
            query.append_pair("status", &args.status.join(",").to_uppercase());
        }
        if let Some(search) = &args.search {
            query.append_pair("search", search);
        }
    }
    let request = client
        .request(Method::POST, url.as_str(), false)
        .json(&json!({"action": action}));
    let answer = json_body(client.call(request)?)?;
    let results = answer["results"].as_array().cloned().unwrap_or_default();
    let refused = results.iter().filter(|r| r["outcome"] == "refused").count();
    if !out.structured(&answer)? {
        let rows: Vec<Vec<String>> = results.iter().map(row).collect();
        if rows.is_empty() {
            out.note("No belt matched.");
        } else {
            out.table(&["ID", "OUTCOME", "STATUS", "ERROR"], &rows);
        }
    }
    Ok(if refused > 0 { code::REFUSED } else { code::OK })
}

fn row(result: &Value) -> Vec<String> {
    vec![
        cell(&result["id"]),
        cell(&result["outcome"]),
        cell(&result["status"]),
        cell(&result["error"]["message"]),
    ]
}
