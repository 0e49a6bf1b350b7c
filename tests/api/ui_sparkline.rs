//! The list page's lag sparklines (docs/console.md, issue 21): each belt's last hour of lag drawn
//! from the samples the store keeps, read for the whole page in one query
//! (`LagLog::lag_samples_of`, on both databases), said in words, capped in points, a dash for a
//! belt without samples, never another project's samples, and the read named in `Server-Timing`.

use std::time::Duration;

use belt_api::domain::belt::now_millis;
use belt_api::domain::lag_series::LagSample;
use belt_api::domain::{Belt, BeltId, ProjectName};
use belt_api::store::{connect, BeltStore, StoreOptions};
use reqwest::header::COOKIE;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::*;
use crate::ui::Browser;

backend_tests!(the_list_draws_each_belts_recent_lag_and_only_its_projects,);

pub async fn second_store(app: &TestApp) -> std::sync::Arc<dyn BeltStore> {
    let options = StoreOptions {
        max_connections: 2,
        timeout: Duration::from_secs(10),
        revision_retention: 50,
    };
    connect(&app.database_url, options).await.unwrap()
}

pub async fn stored(app: &TestApp, store: &dyn BeltStore, project: &str, name: &str) -> Belt {
    let created = app
        .create_belt(project, &json!({"name": name, "eventTypes": ["test-a"]}))
        .await;
    let project = ProjectName::parse(project).unwrap();
    let id = BeltId::new(created["id"].as_str().unwrap().parse().unwrap()).unwrap();
    store.get(&project, id).await.unwrap().expect("the belt")
}

/// Records `lags` oldest first, 30 s apart, the last one now.
async fn record(store: &dyn BeltStore, belt: &Belt, lags: &[i64]) {
    let samples: Vec<(i64, i64)> = lags.iter().map(|&lag| (lag, 0)).collect();
    record_committed(store, belt, &samples).await;
}

/// Records `(total lag, committed)` samples oldest first, 30 s apart from one "now" (so the
/// rates between them are exact), the last one now.
pub async fn record_committed(store: &dyn BeltStore, belt: &Belt, samples: &[(i64, i64)]) {
    let now = now_millis();
    for (i, &(total_lag, committed)) in samples.iter().enumerate() {
        let ago = 30 * (samples.len() - 1 - i) as i64;
        let at = now - time::Duration::seconds(ago);
        let sample = LagSample {
            at,
            total_lag,
            committed,
        };
        store.record_lag(belt, sample).await.unwrap();
    }
}

/// The page's table row of the belt named `name`.
pub fn row_of<'p>(page: &'p str, name: &str) -> &'p str {
    let link_text = format!("\">{name}</a>");
    (page.split("<tr>"))
        .find(|row| row.contains(&link_text))
        .unwrap_or_else(|| panic!("no row of {name} in {page}"))
}

async fn the_list_draws_each_belts_recent_lag_and_only_its_projects(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let store = second_store(&app).await;
    let falling = stored(&app, &*store, "global", "falling").await;
    let rising = stored(&app, &*store, "global", "rising").await;
    let quiet = stored(&app, &*store, "global", "quiet").await;
    let theirs = stored(&app, &*store, "other", "theirs").await;
    // 40 samples (20 minutes) falling to 1,234; an hour and more ago a sample the list leaves out.
    let mut lags: Vec<i64> = (0..40).map(|i| 5_000 - i * 50).collect();
    *lags.last_mut().unwrap() = 1_234;
    record(&*store, &falling, &lags).await;
    let old = LagSample {
        at: now_millis() - time::Duration::minutes(61),
        total_lag: 424_242,
        committed: 0,
    };
    store.record_lag(&falling, old).await.unwrap();
    record(&*store, &rising, &[3, 5, 8]).await;
    record(&*store, &theirs, &[777_777]).await;
    // Another project's samples under the same belt id and creation time: never this belt's.
    let impostor = Belt {
        project: ProjectName::parse("other").unwrap(),
        ..rising.clone()
    };
    record(&*store, &impostor, &[999_999]).await;

    let browser = Browser::sign_in(&app, "global", "viewer").await;
    let response = (app.client)
        .get(format!("{}/ui/projects/global/belts", app.address))
        .header(COOKIE, &browser.cookie)
        .send()
        .await
        .unwrap();
    let timings: Vec<String> = (response.headers().get_all("server-timing").iter())
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(timings[0].starts_with("app;dur="), "{timings:?}");
    assert!(
        timings.iter().any(|t| t.starts_with("lag;dur=")),
        "{timings:?}"
    );
    let page = response.text().await.unwrap();

    let row = row_of(&page, "falling");
    assert!(
        row.contains("aria-label=\"lag 1,234 records, falling\""),
        "{row}"
    );
    assert!(row.contains("width=\"120\" height=\"24\""), "{row}");
    let points = row.split("points=\"").nth(1).unwrap().split('"').next();
    let points = points.unwrap().split(' ').count();
    assert_eq!(points, 30, "40 samples drawn as at most 30 points: {row}");
    let row = row_of(&page, "rising");
    assert!(
        row.contains("aria-label=\"lag 8 records, rising\""),
        "{row}"
    );
    let row = row_of(&page, "quiet");
    assert!(
        row.contains("aria-label=\"lag: no measurement in the last hour\""),
        "{row}"
    );
    assert!(row.contains(">–</span>") && !row.contains("<svg"), "{row}");
    for elsewhere in ["theirs", "777,777", "999,999", "424,242"] {
        assert!(!page.contains(elsewhere), "{elsewhere} on {page}");
    }

    // The store's read of several belts: only the project's, each its own samples.
    let global = ProjectName::parse("global").unwrap();
    let since = now_millis() - time::Duration::hours(1);
    let belts = [&falling, &rising, &quiet, &theirs];
    let read = store.lag_samples_of(&global, &belts, since).await.unwrap();
    let mut keys: Vec<BeltId> = read.keys().copied().collect();
    keys.sort();
    let mut expected = vec![falling.id, rising.id];
    expected.sort();
    assert_eq!(keys, expected, "{read:?}");
    assert_eq!(read[&falling.id].len(), 40);
    let lags: Vec<i64> = read[&rising.id].iter().map(|s| s.total_lag).collect();
    assert_eq!(lags, [3, 5, 8]);
    let other = ProjectName::parse("other").unwrap();
    let theirs_read = store.lag_samples_of(&other, &belts, since).await.unwrap();
    let lags: Vec<i64> = theirs_read[&theirs.id]
        .iter()
        .map(|s| s.total_lag)
        .collect();
    assert_eq!(lags, [777_777]);
    assert_eq!(theirs_read.len(), 1, "{theirs_read:?}");
    assert!(store
        .lag_samples_of(&global, &[], since)
        .await
        .unwrap()
        .is_empty());
}
