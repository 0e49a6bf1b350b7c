//! `get`, `describe`, `export`, `delete`: reading and removing belts.

use reqwest::Method;
use serde_json::{json, Value};

use super::{belt_path, files};
use crate::args::{ExportArgs, GetArgs};
use crate::client::{json_body, Client};
use crate::error::{code, CliError, Result};
use crate::output::{self, actor, age, cell, Out};

pub fn get(client: &Client, args: &GetArgs, out: Out) -> Result<i32> {
    let items = if args.ids.is_empty() {
        list(client, args)?
    } else {
        let mut items = Vec::new();
        for id in &args.ids {
            items.push(client.get_json(&belt_path(*id))?);
        }
        items
    };
    let single = args.ids.len() == 1;
    let document = if single {
        items[0].clone()
    } else {
        json!({"totalCount": items.len(), "items": items})
    };
    if out.structured(&document)? {
        return Ok(code::OK);
    }
    belts_table(&items, out);
    Ok(code::OK)
}

/// Every page of the listing, following `_links.next`.
fn list(client: &Client, args: &GetArgs) -> Result<Vec<Value>> {
    let mut url = reqwest::Url::parse(&client.url("/belts"))
        .map_err(|e| CliError::Other(format!("bad server URL: {e}")))?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("pagesize", &args.chunk_size.to_string());
        if let Some(search) = &args.search {
            query.append_pair("search", search);
        }
        if !args.status.is_empty() {
            query.append_pair("expand", &args.status.join(",").to_uppercase());
        }
    }
    client.all_items(url.as_str(), usize::MAX)
}

fn belts_table(items: &[Value], out: Out) {
    let mut headers = vec!["ID", "NAME", "STATUS", "VERSION", "AGE"];
    if out.wide() {
        headers.extend(["REPLICAS", "EVENT TYPES", "MODIFIED", "MODIFIED BY"]);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|belt| {
            let mut row = vec![
                cell(&belt["id"]),
                cell(&belt["name"]),
                cell(&belt["status"]),
                cell(&belt["version"]),
                age(&belt["createdAt"]),
            ];
            if out.wide() {
                row.push(cell(&belt["replicas"]));
                row.push(list_cell(&belt["eventTypes"]));
                row.push(age(&belt["modifiedAt"]));
                row.push(actor(&belt["modifiedBy"]));
            }
            row
        })
        .collect();
    if rows.is_empty() {
        out.note("No belts found.");
    } else {
        out.table(&headers, &rows);
    }
}

fn list_cell(value: &Value) -> String {
    match value.as_array() {
        Some(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        None => cell(value),
    }
}

pub fn describe(client: &Client, id: u64, out: Out) -> Result<i32> {
    let belt = client.get_json(&belt_path(id))?;
    let state = client.get_json(&format!("{}/state", belt_path(id)))?;
    let history = optional(client.get_json(&format!("{}/history?pagesize=10", belt_path(id))))?;
    let history = history.map(|h| h["items"].clone()).unwrap_or(Value::Null);
    if out.structured(&json!({"belt": belt, "state": state, "history": history}))? {
        return Ok(code::OK);
    }
    super::describe_text::print(&belt, &state, &history, out);
    Ok(code::OK)
}

/// A 404 of an endpoint this server may not have yet means "nothing to show".
pub fn optional(result: Result<Value>) -> Result<Option<Value>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(CliError::Api(api)) if api.status == 404 => Ok(None),
        Err(other) => Err(other),
    }
}

pub fn export(client: &Client, args: &ExportArgs, out: Out) -> Result<i32> {
    let ids: Vec<u64> = if args.all {
        let all = GetArgs {
            ids: vec![],
            status: vec![],
            search: None,
            chunk_size: 250,
        };
        list(client, &all)?
            .iter()
            .filter_map(|b| b["id"].as_str()?.parse().ok())
            .collect()
    } else {
        args.ids.clone()
    };
    if ids.is_empty() {
        return Err(CliError::Other(
            "name the belts to export, or give --all".into(),
        ));
    }
    let mut documents = Vec::new();
    for id in &ids {
        documents.push(client.get_json(&format!("{}?export=true", belt_path(*id)))?);
    }
    match &args.dir {
        Some(dir) => write_files(dir, &documents, out),
        None => print_documents(&documents, out),
    }
}

fn print_documents(documents: &[Value], out: Out) -> Result<i32> {
    if out.format == crate::args::Output::Json {
        let value = if documents.len() == 1 {
            documents[0].clone()
        } else {
            Value::from(documents.to_vec())
        };
        println!("{}", output::to_json(&value));
        return Ok(code::OK);
    }
    let texts: Result<Vec<String>> = documents.iter().map(output::to_yaml).collect();
    print!("{}", texts?.join("---\n"));
    Ok(code::OK)
}

/// One `<id>-<name>.yaml` per belt, so `belt apply -f DIR` recreates them elsewhere.
fn write_files(dir: &std::path::Path, documents: &[Value], out: Out) -> Result<i32> {
    std::fs::create_dir_all(dir)?;
    for document in documents {
        let id = files::file_name_part(&cell(&document["id"]), 20);
        let name = files::file_name_part(&cell(&document["name"]), 60);
        let text = output::to_yaml(document)?;
        files::write_in(dir, &format!("{id}-{name}.yaml"), text.as_bytes())?;
    }
    out.note(&format!(
        "{} belt(s) exported to {}",
        documents.len(),
        dir.display()
    ));
    Ok(code::OK)
}

pub fn delete(client: &Client, ids: &[u64], out: Out) -> Result<i32> {
    for id in ids {
        let response =
            client.call(client.request(Method::DELETE, &client.url(&belt_path(*id)), false))?;
        json_body(response)?;
        out.note(&format!("belt {id} deleted"));
    }
    Ok(code::OK)
}
