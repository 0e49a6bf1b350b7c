//! `belt invoke`: a belt's callback run once on sample events in the server's sandbox (the
//! server's test-invoke; nothing is stored). With an id, the saved belt runs, its callback,
//! requirements or parameter replaced for this call by a file given; without one, a belt not
//! saved yet (a draft) runs from a Python file or a belt file, the way it will be applied.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value};

use super::{apply, belt_path, samples::events_in};
use crate::args::InvokeArgs;
use crate::client::{json_body, Client};
use crate::error::{code, CliError, Result};
use crate::output::{cell, Out};

/// What a draft may set, as the server names it: the fields a test-invoke may replace.
const DRAFT_FIELDS: [&str; 3] = ["extractorFn", "requirementsPy", "parameter"];

pub fn invoke(client: &Client, args: &InvokeArgs, out: Out) -> Result<i32> {
    let mut body = replaced_fields(args)?;
    match (&args.sample, &args.file) {
        (Some(name), _) => body.insert("sample".into(), Value::from(name.as_str())),
        (None, Some(file)) => body.insert("events".into(), events_in(file)?),
        (None, None) => return Err(CliError::Other("give --sample NAME or -f FILE".into())),
    };
    let path = match args.id {
        Some(id) => format!("{}/invoke", belt_path(id)),
        None => draft_path(args, &body)?,
    };
    let request = client.request(Method::POST, &client.url(&path), false);
    // A first run with requirements builds a virtualenv (the server allows it minutes).
    let request = request.timeout(args.timeout.max(Duration::from_secs(1)));
    let report = json_body(client.call(request.json(&Value::Object(body)))?)?;
    if !out.structured(&report)? {
        print_report(&report, out);
    }
    Ok(code::OK)
}

/// `/belts/invoke`, once the draft is known to be one the server can run: a callback to run, and
/// events given here (a belt not saved yet keeps no samples).
fn draft_path(args: &InvokeArgs, body: &Map<String, Value>) -> Result<String> {
    if args.sample.is_some() {
        return Err(CliError::Other(
            "a belt not saved yet keeps no samples: give its events with -f FILE, or the id of \
             a saved belt"
                .into(),
        ));
    }
    if !body.contains_key("extractorFn") {
        return Err(CliError::Other(
            "without a belt id, give the callback to run: --callback FILE.py, or --belt FILE \
             with its extractorFn"
                .into(),
        ));
    }
    Ok("/belts/invoke".into())
}

/// The fields this call replaces: those of `--belt`'s document, then each flag over them.
fn replaced_fields(args: &InvokeArgs) -> Result<Map<String, Value>> {
    let mut fields = match &args.belt {
        Some(path) => fields_of_belt_file(path)?,
        None => Map::new(),
    };
    if let Some(path) = &args.callback {
        fields.insert("extractorFn".into(), Value::from(read_text(path)?));
    }
    if let Some(path) = &args.requirements {
        fields.insert("requirementsPy".into(), Value::from(read_text(path)?));
    }
    if let Some(parameter) = &args.parameter {
        fields.insert("parameter".into(), Value::from(parameter.as_str()));
    }
    Ok(fields)
}

/// The draft fields of the one belt a file holds, read as `belt apply -f` reads it.
fn fields_of_belt_file(path: &Path) -> Result<Map<String, Value>> {
    let mut documents = apply::read_file(path)?;
    if documents.len() != 1 {
        return Err(CliError::Other(format!(
            "{}: holds {} belts; --belt takes a file of one",
            path.display(),
            documents.len()
        )));
    }
    let Value::Object(mut belt) = documents.remove(0) else {
        unreachable!("read_file keeps mappings only")
    };
    Ok(DRAFT_FIELDS
        .iter()
        .filter_map(|field| Some((field.to_string(), belt.remove(*field)?)))
        .collect())
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| CliError::Other(format!("{}: {e}", path.display())))
}

/// One row per event, then the outcome; an import that failed says so with its output.
fn print_report(report: &Value, out: Out) {
    let results = report["results"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = (results.iter().enumerate())
        .map(|(n, result)| {
            let answer = match (&result["updates"], &result["error"]) {
                (Value::Array(updates), _) => format!("{} updates", updates.len()),
                (_, error) if error.is_object() => {
                    format!("{}: {}", cell(&error["type"]), cell(&error["message"]))
                }
                _ => String::new(),
            };
            vec![n.to_string(), answer, cell(&result["durationMs"])]
        })
        .collect();
    out.table(&["EVENT", "RESULT", "MS"], &rows);
    let import = &report["importError"];
    if import.is_object() {
        let (kind, message) = (cell(&import["type"]), cell(&import["message"]));
        out.note(&format!("the callback did not import: {kind}: {message}"));
    }
    out.note(&format!(
        "outcome: {} in {} ms (-o json shows every update, traceback and output)",
        cell(&report["outcome"]),
        cell(&report["durationMs"])
    ));
}
