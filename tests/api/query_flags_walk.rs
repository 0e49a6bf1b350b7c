//! Every boolean query parameter the app's own OpenAPI document declares, on every operation
//! and both path forms, sent as `garbage`: each answers 400 `bad_parameter_value` naming the
//! parameter (docs/api.md#query-parameters), never a silent `false`. The walk is the dry-run
//! walk's (`dry_run_walk.rs`): the same document, the same requests with their bodies, so a new
//! route or a new flag is walked without being listed here.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::backend_tests;
use crate::dry_run_walk::{
    calls_for, operations_in_the_document, send, v2_of, Belts, Call, Expect,
};
use crate::helpers::*;

backend_tests!(every_boolean_query_parameter_refuses_garbage_naming_it);

/// The names of the operation's query parameters whose schema is a boolean.
fn flags_of(operation: &Value) -> Vec<String> {
    let parameters = operation["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    parameters
        .iter()
        .filter(|parameter| parameter["in"] == "query")
        .filter(|parameter| parameter["schema"]["type"] == "boolean")
        .map(|parameter| parameter["name"].as_str().unwrap().to_string())
        .collect()
}

/// The request the walk sends for an operation: a write as the dry-run walk sends it (with its
/// body and selector), a read at the path with the belt's id and its first version filled in.
fn call_for(method: &str, template: &str, belts: &Belts) -> Call {
    if let Some(mut calls) = calls_for(method, template, belts) {
        return calls.remove(0);
    }
    assert_eq!(
        method, "get",
        "a write the dry-run walk does not know: {template}"
    );
    let path = template
        .replace("{project}", "global")
        .replace("{id}", &belts.stopped)
        .replace("{version}", "1");
    Call {
        method: reqwest::Method::GET,
        path,
        body: None,
        expect: Expect::Refuses,
    }
}

async fn every_boolean_query_parameter_refuses_garbage_naming_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create_belt("global", &minimal_belt("flagged")).await;
    let id = created["id"].as_str().unwrap().to_string();
    let belts = Belts {
        running: id.clone(),
        stopped: id.clone(),
    };
    let document = format!("/projects/global/belts/{id}");
    let (_, before) = json_of(app.get(&document, &app.editor()).await).await;

    let mut names = BTreeSet::new();
    let mut wrong = Vec::new();
    let mut walked = 0;
    for operation in operations_in_the_document(&app).await {
        let (template, prefix) = v2_of(&operation.path);
        for flag in flags_of(&operation.doc) {
            let call = call_for(&operation.method, &template, &belts);
            let (status, body) = send(&app, &call, prefix, &format!("{flag}=garbage")).await;
            let message = body["message"].as_str().unwrap_or_default();
            let named = message.contains(&format!("'{flag}'"));
            if status != StatusCode::BAD_REQUEST || body["type"] != "bad_parameter_value" || !named
            {
                let method = operation.method.to_uppercase();
                wrong.push(format!(
                    "{method} {} {flag}=garbage: {status} {body}",
                    operation.path
                ));
            }
            names.insert(flag);
            walked += 1;
        }
    }
    assert!(
        wrong.is_empty(),
        "flags not refused as 400 naming them: {wrong:#?}"
    );
    for known in ["dryRun", "export", "follow", "previous"] {
        assert!(
            names.contains(known),
            "the document declares no boolean '{known}': {names:?}"
        );
    }
    // A floor against a document that lost its parameters: each write's dryRun (10 writes on the
    // legacy paths, 12 on v2), export on a GET, previous, follow and dryRun on the logs.
    assert!(walked >= 26, "only {walked} flags walked: {names:?}");
    let (_, after) = json_of(app.get(&document, &app.editor()).await).await;
    assert_eq!(after, before, "a refused flag changed the belt");
}
