//! How answers are shown: tables for people (colours only on a terminal), JSON or YAML for scripts.

use std::io::IsTerminal;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::args::Output;
use crate::error::{CliError, Result};

#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub format: Output,
    pub color: bool,
}

impl Out {
    pub fn new(format: Output) -> Out {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Out { format, color }
    }

    pub fn machine(&self) -> bool {
        matches!(self.format, Output::Json | Output::Yaml)
    }

    pub fn wide(&self) -> bool {
        self.format == Output::Wide
    }

    /// Prints `value` as JSON or YAML when that was asked for; false means "print a table".
    pub fn structured(&self, value: &Value) -> Result<bool> {
        match self.format {
            Output::Json => println!("{}", to_json(value)),
            Output::Yaml => print!("{}", to_yaml(value)?),
            Output::Table | Output::Wide => return Ok(false),
        }
        Ok(true)
    }

    /// A human message; with `-o json|yaml` it goes to stderr so stdout stays machine-readable.
    pub fn note(&self, text: &str) {
        if self.machine() {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    pub fn paint(&self, text: &str, code: &str) -> String {
        if self.color && !code.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// A status in its colour: green RUNNING, yellow on the way, red FAILED.
    pub fn status(&self, status: &str) -> String {
        self.paint(status, status_colour(status))
    }

    /// Columns padded to their widest cell; a `STATUS` column is coloured.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let status_column = headers.iter().position(|h| *h == "STATUS");
        println!(
            "{}",
            self.paint(
                &pad_row(headers.iter().map(|h| h.to_string()), &widths),
                "1"
            )
        );
        for row in rows {
            let cells = row.iter().enumerate().map(|(i, cell)| {
                let padded = format!("{cell:<width$}", width = widths[i]);
                match status_column {
                    Some(c) if c == i => self.paint(&padded, status_colour(cell)),
                    _ => padded,
                }
            });
            println!("{}", cells.collect::<Vec<_>>().join("  ").trim_end());
        }
    }
}

fn pad_row(cells: impl Iterator<Item = String>, widths: &[usize]) -> String {
    let cells: Vec<String> = cells.zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
    cells.join("  ").trim_end().to_string()
}

fn status_colour(status: &str) -> &'static str {
    match status {
        "RUNNING" | "changed" => "32",
        "DEPLOYING" | "RUNNING_BUT_OUTDATED" => "33",
        "FAILED" | "refused" => "31",
        _ => "",
    }
}

pub fn to_json(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

pub fn to_yaml(value: &Value) -> Result<String> {
    serde_yaml::to_string(value).map_err(|e| CliError::Other(e.to_string()))
}

/// A JSON value as a table cell: strings bare, null empty, the rest as JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// How long ago an RFC 3339 time was, as kubectl shows it: 42s, 7m, 3h, 12d.
pub fn age(time: &Value) -> String {
    let Some(then) = time
        .as_str()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    else {
        return String::from("?");
    };
    let seconds = (OffsetDateTime::now_utc() - then).whole_seconds().max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `createdBy` / `modifiedBy` as one word: the name, else the email.
pub fn actor(value: &Value) -> String {
    match value {
        Value::Object(o) => cell(
            o.get("name")
                .filter(|n| !n.is_null())
                .or(o.get("email"))
                .unwrap_or(&Value::Null),
        ),
        other => cell(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let now = OffsetDateTime::now_utc();
        let at = |secs: i64| {
            Value::from(
                (now - time::Duration::seconds(secs))
                    .format(&Rfc3339)
                    .unwrap(),
            )
        };
        assert_eq!(age(&at(5)), "5s");
        assert_eq!(age(&at(600)), "10m");
        assert_eq!(age(&at(3 * 86_400)), "3d");
        assert_eq!(age(&Value::Null), "?");
    }

    #[test]
    fn actors_prefer_the_name() {
        assert_eq!(
            actor(&serde_json::json!({"name": "Ann", "email": "a@x"})),
            "Ann"
        );
        assert_eq!(
            actor(&serde_json::json!({"name": null, "email": "a@x"})),
            "a@x"
        );
        assert_eq!(actor(&Value::from("belt-api")), "belt-api");
    }
}
