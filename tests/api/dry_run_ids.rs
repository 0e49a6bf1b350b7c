//! Dry-run creates beside real ones, at once: a dry run reads the next id without taking it
//! (docs/api.md#dry-run), so on PostgreSQL it may try an id a real create is taking in the same
//! instant. Every real create still gets its own id, every dry run still answers 200, nothing a dry
//! run tried is kept, and the ids the real creates took leave no gap the dry runs made.

use std::collections::BTreeSet;

use reqwest::StatusCode;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(dry_runs_racing_real_creates_take_no_id_and_refuse_none);

async fn dry_runs_racing_real_creates_take_no_id_and_refuse_none(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let calls = (0..24).map(|n| {
        let (app, token) = (&app, &token);
        async move {
            let path = if n % 2 == 0 {
                "/projects/global/belts?dryRun=true"
            } else {
                "/projects/global/belts"
            };
            let response = app
                .post(path, token, &minimal_belt(&format!("belt-{n}")))
                .await;
            let (status, body) = json_of(response).await;
            (n % 2 == 0, status, body)
        }
    });
    let answers = futures::future::join_all(calls).await;
    let mut real_ids = BTreeSet::new();
    for (dry, status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "dry run {dry}: {body}");
        if !dry {
            real_ids.insert(body["id"].as_str().unwrap().parse::<i64>().unwrap());
        }
    }
    assert_eq!(real_ids, (1..=12).collect(), "twelve ids, no gap");
    let listed = app.get("/projects/global/belts?pagesize=100", &token).await;
    let (_, listed) = json_of(listed).await;
    assert_eq!(listed["totalCount"], 12, "no dry run kept: {listed}");
}
