//! The Grafana dashboard (`deploy/grafana/belt-api.json`) charts only what `/metrics` exports:
//! every metric name in every panel's query is a sample name of a real `/metrics` answer, and so
//! is every label its queries group or filter by.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(every_metric_the_dashboard_charts_is_exported);

const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/belt-api.json");

/// Each panel query of the dashboard.
fn queries() -> Vec<String> {
    let dashboard: Value = serde_json::from_slice(&std::fs::read(DASHBOARD).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().expect("panels");
    let queries: Vec<String> = panels
        .iter()
        .flat_map(|panel| panel["targets"].as_array().expect("targets").iter())
        .map(|target| target["expr"].as_str().expect("expr").to_string())
        .collect();
    assert!(queries.len() >= panels.len(), "every panel has a query");
    queries
}

/// The words of `text` that `pick` keeps, split at anything but letters, digits and `_`.
fn words(text: &str, pick: impl Fn(&str) -> bool) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| pick(word))
        .map(str::to_string)
        .collect()
}

/// The sample names of an exposition (`name{labels} value` or `name value`), and its label names.
fn exported(metrics: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut names = BTreeSet::new();
    let mut labels = BTreeSet::new();
    for line in metrics.lines().filter(|line| !line.starts_with('#')) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        names.insert(line[..name_end].to_string());
        if let Some(inside) = line[name_end..].strip_prefix('{') {
            let inside = &inside[..inside.find('}').unwrap_or(inside.len())];
            for pair in inside.split(',') {
                labels.insert(pair.split('=').next().unwrap_or_default().to_string());
            }
        }
    }
    (names, labels)
}

/// The label names a query groups by (`by (a, b)`) or filters on (`{a=~"…"}`).
fn labels_used(query: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (at, _) in query.match_indices("by (") {
        let rest = &query[at + 4..];
        used.extend(words(&rest[..rest.find(')').unwrap()], |w| !w.is_empty()));
    }
    for (at, _) in query.match_indices('{') {
        let rest = &query[at + 1..];
        let inside = &rest[..rest.find('}').unwrap()];
        for pair in inside.split(',') {
            let name = pair.split(['=', '!']).next().unwrap().trim();
            used.insert(name.to_string());
        }
    }
    used
}

async fn every_metric_the_dashboard_charts_is_exported(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Traffic for every family: answers (a 200 and a 400), a belt, and the reconciler's passes.
    app.create_belt("global", &minimal_belt("charted")).await;
    let _ = app.get("/projects/global/belts/abcd", &app.editor()).await;
    let mut metrics = String::new();
    for _ in 0..100 {
        let answer = app.request(Method::GET, "/metrics", None).send().await;
        metrics = answer.unwrap().text().await.unwrap();
        if metrics.contains("belt_api_reconcile_duration_seconds_bucket")
            && metrics.contains("belt_api_belts{")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (names, labels) = exported(&metrics);
    let mut charted = BTreeSet::new();
    for query in queries() {
        let used = words(&query, |word| word.starts_with("belt_api_"));
        assert!(
            !used.is_empty(),
            "a query charts no belt-api metric: {query}"
        );
        for name in &used {
            assert!(
                names.contains(name),
                "{name} (in {query}) is not exported:\n{metrics}"
            );
        }
        for label in labels_used(&query) {
            assert!(
                labels.contains(&label),
                "label {label} (in {query}) is not exported"
            );
        }
        charted.extend(used);
    }
    assert!(charted.len() >= 8, "the dashboard charts {charted:?}");
}
