//! A belt's lag over time (docs/api.md#lag-over-time): what the store keeps of the lag
//! controller's samples, on both databases, as `GET …/lag` answers it: points oldest first with
//! the records consumed per second between them, `since`, a day's retention, the roles, and a
//! belt that takes a deleted belt's id starting a series of its own. The controller measuring a
//! real broker is tested in tests/dataplane/lag_series.rs.

use std::time::Duration;

use belt_api::domain::belt::now_millis;
use belt_api::domain::lag_series::LagSample;
use belt_api::domain::{BeltId, ProjectName};
use belt_api::store::{connect, BeltStore, StoreOptions};
use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    the_series_shows_kept_samples_with_their_rates_oldest_first,
    the_series_needs_a_role_names_a_bad_since_and_is_a_belts_own,
);

async fn second_store(app: &TestApp) -> std::sync::Arc<dyn BeltStore> {
    let options = StoreOptions {
        max_connections: 2,
        timeout: Duration::from_secs(10),
        revision_retention: 50,
    };
    connect(&app.database_url, options).await.unwrap()
}

async fn record(store: &dyn BeltStore, id: &str, samples: &[(i64, i64, i64)]) {
    let project = ProjectName::parse("global").unwrap();
    let id = BeltId::new(id.parse().unwrap()).unwrap();
    let belt = store.get(&project, id).await.unwrap().expect("the belt");
    // One "now" for all: the rates between samples are then exact.
    let now = now_millis();
    for &(seconds_ago, total_lag, committed) in samples {
        let at = now - time::Duration::seconds(seconds_ago);
        let sample = LagSample {
            at,
            total_lag,
            committed,
        };
        store.record_lag(&belt, sample).await.unwrap();
    }
}

async fn series(app: &TestApp, id: &str, query: &str) -> (StatusCode, serde_json::Value) {
    let path = format!("/projects/global/belts/{id}/lag{query}");
    json_of(app.get(&path, &app.viewer()).await).await
}

/// The belt's console page, signed in (dev) as a viewer.
async fn console_page(app: &TestApp, id: &str) -> String {
    let signed_in = (app.client)
        .post(format!("{}/ui/login", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=Ada&project=global&role=viewer")
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    (app.client)
        .get(format!("{}/ui/projects/global/belts/{id}", app.address))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn the_series_shows_kept_samples_with_their_rates_oldest_first(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let belt = app
        .create_belt(
            "global",
            &json!({"name": "lagging", "eventTypes": ["test-a"]}),
        )
        .await;
    let id = belt["id"].as_str().unwrap();
    let (status, empty) = series(&app, id, "").await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty, json!({"samples": []}), "nothing measured yet");

    let store = second_store(&app).await;
    // Two days ago, 90 and 60 minutes ago, and three samples 30 s apart in the last minute.
    let kept = [
        (2 * 24 * 3600, 999, 0),
        (90 * 60, 500, 1_000),
        (60 * 60 - 1, 400, 2_000),
        (60, 300, 3_000),
        (30, 240, 3_600),
        (0, 240, 3_600),
    ];
    record(&*store, id, &kept).await;

    let (status, body) = series(&app, id, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let shown: Vec<(i64, Option<f64>)> = body["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["totalLag"].as_i64().unwrap(),
                s["recordsPerSecond"].as_f64(),
            )
        })
        .collect();
    // The default is the last hour; the first point shown has no rate.
    assert_eq!(shown[0], (400, None), "{body}");
    assert_eq!(
        &shown[2..],
        &[(240, Some(20.0)), (240, Some(0.0))],
        "{body}"
    );
    assert_eq!(shown.len(), 4, "{body}");
    // The console's belt page draws the same series, and says it in words.
    let page = console_page(&app, id).await;
    assert!(
        page.contains("Records waiting: now 240, highest 400 in the hour"),
        "{page}"
    );
    assert!(
        page.contains("Records consumed per second: now 0, highest 20"),
        "{page}"
    );
    let (_, day) = series(&app, id, "?since=24h").await;
    assert_eq!(day["samples"].as_array().unwrap().len(), 5, "{day}");

    // A day's retention: what is older goes at the controller's next pass.
    let pruned = store
        .prune_lag(now_millis() - time::Duration::hours(24))
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    let (_, all) = series(&app, id, "?since=2026-01-01T00:00:00Z").await;
    assert_eq!(all["samples"].as_array().unwrap().len(), 5, "{all}");
    let first = &all["samples"][0];
    assert_eq!(first["totalLag"], 500, "{all}");
    assert!(first["time"].as_str().unwrap().ends_with('Z'), "{all}");
}

async fn the_series_needs_a_role_names_a_bad_since_and_is_a_belts_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"id": "4711", "name": "reused", "eventTypes": ["test-a"]});
    let belt = app.create_belt("global", &body).await;
    let id = belt["id"].as_str().unwrap();
    let store = second_store(&app).await;
    record(&*store, id, &[(10, 7, 70)]).await;

    let path = format!("/projects/global/belts/{id}/lag");
    let bad = app.get(&format!("{path}?since=soon"), &app.viewer()).await;
    let message = assert_error(bad, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.contains("'since'"), "{message}");
    let elsewhere = app.token("other", &["editor"]);
    let refused = app.get(&path, &elsewhere).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let missing = app
        .get("/projects/global/belts/999999/lag", &app.viewer())
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // Deleted, and created again with the same id: a new belt, a new series.
    let editor = app.token("global", &["editor"]);
    let deleted = app.delete(&path.replace("/lag", ""), &editor).await;
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let again = app.post("/projects/global/belts", &editor, &body).await;
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", again.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, fresh) = series(&app, id, "?since=24h").await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    assert_eq!(
        fresh,
        json!({"samples": []}),
        "the old belt's samples are not the new one's"
    );
}
