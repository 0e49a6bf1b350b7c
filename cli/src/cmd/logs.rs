//! `belt logs ID [-f] [--since] [--previous] [--tail N]`: each line prefixed with its replica.

use std::io::{BufRead, BufReader, Write};

use reqwest::Method;
use serde_json::Value;

use super::belt_path;
use crate::args::LogsArgs;
use crate::client::{checked, json_body, Client};
use crate::error::{code, CliError, Result};
use crate::output::{cell, Out};

pub fn logs(client: &Client, args: &LogsArgs, out: Out) -> Result<i32> {
    let mut url = reqwest::Url::parse(&client.url(&format!("{}/logs", belt_path(args.id))))
        .map_err(|e| CliError::Other(e.to_string()))?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(tail) = args.tail {
            query.append_pair("lines", &tail.to_string());
        }
        if let Some(since) = &args.since {
            query.append_pair("since", since);
        }
        if args.previous {
            query.append_pair("previous", "true");
        }
        if args.follow {
            query.append_pair("follow", "true");
        }
    }
    if args.follow {
        return follow(client, url.as_str(), out);
    }
    let answer = json_body(client.call(client.request(Method::GET, url.as_str(), false))?)?;
    print_lines(&answer, out)
}

/// The JSON answer: each replica's lines, prefixed with its name.
fn print_lines(answer: &Value, out: Out) -> Result<i32> {
    if out.structured(answer)? {
        return Ok(code::OK);
    }
    let empty = serde_json::Map::new();
    for (pod, lines) in answer["logs"].as_object().unwrap_or(&empty) {
        for line in lines.as_array().into_iter().flatten() {
            println!("{} {}", out.paint(pod, "36"), cell(line));
        }
    }
    Ok(code::OK)
}

/// The server's newline-delimited JSON, line by line as it comes, until the server ends it
/// (the belt stopped) or the user presses Ctrl-C.
fn follow(client: &Client, url: &str, out: Out) -> Result<i32> {
    let response = checked(client.send(client.request(Method::GET, url, true))?)?;
    let streamed = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-ndjson"));
    if !streamed {
        eprintln!("(this server cannot follow logs: these are its last lines)");
        return print_lines(&json_body(response)?, out);
    }
    let stdout = std::io::stdout();
    for line in BufReader::new(response).lines() {
        let line = line.map_err(|e| CliError::Unreachable(format!("the log stream broke: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        // The server ended the stream and says why (its token expired): not a log line.
        if entry["type"] == "end" && !out.machine() {
            eprintln!("(the log stream ended: {})", cell(&entry["reason"]));
            break;
        }
        let mut handle = stdout.lock();
        let written = if out.machine() {
            writeln!(handle, "{line}")
        } else {
            writeln!(
                handle,
                "{} {} {}",
                out.paint(&cell(&entry["pod"]), "36"),
                cell(&entry["time"]),
                cell(&entry["line"])
            )
        };
        // A closed pipe (`belt logs -f | head`) ends the command quietly.
        if written.and_then(|_| handle.flush()).is_err() {
            break;
        }
    }
    Ok(code::OK)
}
