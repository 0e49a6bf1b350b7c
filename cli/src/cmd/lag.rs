//! `belt lag ID [--since 1h]`: a belt's lag over time (the server's `GET …/lag`), as a table of
//! its samples, oldest first; `-o json` for scripts.

use super::belt_path;
use crate::args::LagArgs;
use crate::client::Client;
use crate::error::{code, CliError, Result};
use crate::output::{cell, Out};

pub fn lag(client: &Client, args: &LagArgs, out: Out) -> Result<i32> {
    let mut url = reqwest::Url::parse(&client.url(&format!("{}/lag", belt_path(args.id))))
        .map_err(|e| CliError::Other(e.to_string()))?;
    if let Some(since) = &args.since {
        url.query_pairs_mut().append_pair("since", since);
    }
    let series = client.get_url(url.as_str())?;
    if out.structured(&series)? {
        return Ok(code::OK);
    }
    let samples = series["samples"].as_array().cloned().unwrap_or_default();
    if samples.is_empty() {
        println!(
            "No samples: belt-api measures a running belt's lag every lag interval (30 s by \
             default) when it has a data plane, and keeps a day."
        );
        return Ok(code::OK);
    }
    let rows: Vec<Vec<String>> = samples
        .iter()
        .map(|s| {
            let rate = s["recordsPerSecond"]
                .as_f64()
                .map_or_else(String::new, |r| format!("{r:.1}"));
            vec![cell(&s["time"]), cell(&s["totalLag"]), rate]
        })
        .collect();
    out.table(&["TIME", "WAITING", "RECORDS/S"], &rows);
    Ok(code::OK)
}
