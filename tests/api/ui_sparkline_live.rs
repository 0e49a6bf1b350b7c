//! The list's records/s sparklines and the fragment that keeps a page's sparklines current
//! (docs/console.md, issue 21), on both databases: the rates drawn from the same samples (and the
//! same computation) as `GET …/lag`'s series, said in words; the fragment's sparklines for the
//! page's own query, a new sample in them without a reload, its roles, and never another
//! project's; a belt without samples a fixed-size dash in both columns; and the page telling its
//! script the lag controller's interval.

use belt_api::domain::belt::now_millis;
use belt_api::domain::lag_series::LagSample;
use belt_api::domain::{Belt, ProjectName};
use reqwest::header::COOKIE;
use reqwest::StatusCode;

use crate::backend_tests;
use crate::helpers::*;
use crate::ui::{assert_sent_to_sign_in, Browser};
use crate::ui_sparkline::{record_committed, row_of, second_store, stored};

backend_tests!(
    the_list_draws_records_per_second_as_the_lag_series_has_them,
    the_fragment_follows_new_samples_for_the_pages_belts_only,
    a_belt_without_samples_keeps_two_fixed_size_dashes,
);

/// The element of `html` whose id is `id`, from its tag to its end.
fn element<'p>(html: &'p str, id: &str) -> &'p str {
    let marker = format!("id=\"{id}\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} in {html}"));
    let start = html[..at].rfind('<').unwrap();
    let end = ["</svg>", "</span>"]
        .iter()
        .filter_map(|close| html[at..].find(close).map(|i| at + i + close.len()))
        .min()
        .unwrap();
    &html[start..end]
}

async fn the_list_draws_records_per_second_as_the_lag_series_has_them(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let store = second_store(&app).await;
    let busy = stored(&app, &*store, "global", "busy").await;
    let reset = stored(&app, &*store, "global", "reset").await;
    let once = stored(&app, &*store, "global", "once").await;
    // 30 s apart: 300 then 600 then 750 records committed, 10, 20 and 25 a second.
    let samples = [(90, 0), (60, 300), (50, 900), (40, 1_650)];
    record_committed(&*store, &busy, &samples).await;
    // The offsets moved back between the last two: no rate there, as in the series.
    record_committed(&*store, &reset, &[(5, 100), (5, 400), (5, 40)]).await;
    record_committed(&*store, &once, &[(7, 70)]).await;

    let browser = Browser::sign_in(&app, "global", "viewer").await;
    let (status, page) = browser.get("/ui/projects/global/belts").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Records/s</abbr>, last hour</th>"), "{page}");
    let row = row_of(&page, "busy");
    let rate = element(row, &format!("spark-rate-{}", busy.id));
    assert!(
        rate.contains("aria-label=\"25 records consumed per second, rising\""),
        "{rate}"
    );
    assert!(rate.contains("width=\"120\" height=\"24\""), "{rate}");
    // Three rates between four samples; the lowest (10/s) at the bottom, the highest (25/s) at
    // the top of the 24 px, 2 px kept free at either end.
    assert!(
        rate.contains("points=\"0.0,14.0 60.0,6.0 120.0,2.0\""),
        "{rate}"
    );
    // The same numbers as the API's series of the belt.
    let (_, series) = json_of(
        app.get(
            &format!("/projects/global/belts/{}/lag", busy.id),
            &app.viewer(),
        )
        .await,
    )
    .await;
    let rates: Vec<_> = (series["samples"].as_array().unwrap().iter())
        .map(|s| s["recordsPerSecond"].as_f64())
        .collect();
    assert_eq!(rates, [None, Some(10.0), Some(20.0), Some(25.0)]);
    let lag = element(row, &format!("spark-lag-{}", busy.id));
    assert!(lag.contains("lag 40 records, falling"), "{lag}");

    let row = row_of(&page, "reset");
    let rate = element(row, &format!("spark-rate-{}", reset.id));
    assert!(rate.contains("10 records consumed per second, one interval"));
    let row = row_of(&page, "once");
    let rate = element(row, &format!("spark-rate-{}", once.id));
    assert!(
        rate.starts_with("<span class=\"spark none\"")
            && rate.contains("records consumed per second: too few measurements"),
        "{rate}"
    );
}

async fn the_fragment_follows_new_samples_for_the_pages_belts_only(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[("--kafka-lag-interval-ms", "2000")]).await;
    let store = second_store(&app).await;
    let ours = stored(&app, &*store, "global", "ours").await;
    let other = stored(&app, &*store, "global", "other-of-ours").await;
    let theirs = stored(&app, &*store, "other", "theirs").await;
    record_committed(&*store, &ours, &[(100, 0), (90, 300)]).await;
    // Another project's samples under our belt's id and creation time: never ours.
    let impostor = Belt {
        project: ProjectName::parse("other").unwrap(),
        ..ours.clone()
    };
    record_committed(&*store, &impostor, &[(999_999, 0), (999_999, 30_000)]).await;
    record_committed(&*store, &theirs, &[(777_777, 0)]).await;

    let viewer = Browser::sign_in(&app, "global", "viewer").await;
    let (_, page) = viewer.get("/ui/projects/global/belts").await;
    assert!(
        page.contains(
            "data-sparks=\"/ui/projects/global/belts/sparklines\" data-sparks-every=\"2000\""
        ),
        "the page asks once per lag interval: {page}"
    );
    let fragment = "/ui/projects/global/belts/sparklines";
    let (status, sparks) = viewer.get(fragment).await;
    assert_eq!(status, StatusCode::OK, "{sparks}");
    assert!(
        !sparks.contains("<html"),
        "a fragment, not a page: {sparks}"
    );
    for id in [ours.id, other.id] {
        for kind in ["lag", "rate"] {
            element(&sparks, &format!("spark-{kind}-{id}"));
        }
    }
    let lag = element(&sparks, &format!("spark-lag-{}", ours.id));
    assert!(lag.contains("lag 90 records, falling"), "{lag}");
    for elsewhere in ["999,999", "1,000 records", "777,777"] {
        assert!(!sparks.contains(elsewhere), "{elsewhere} in {sparks}");
    }
    assert_eq!(sparks.matches("id=\"spark-").count(), 4, "{sparks}");

    // A sample measured after the page was loaded: the next ask draws it. (A sample at the same
    // millisecond as the last would be the same row, and kept once.)
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let sample = LagSample {
        at: now_millis(),
        total_lag: 12,
        committed: 600,
    };
    store.record_lag(&ours, sample).await.unwrap();
    let (_, sparks) = viewer.get(fragment).await;
    let lag = element(&sparks, &format!("spark-lag-{}", ours.id));
    assert!(lag.contains("lag 12 records, falling"), "{lag}");

    // The page's own query: the same belts as the page, no more.
    let (_, searched) = viewer.get(&format!("{fragment}?search=other-of")).await;
    assert!(searched.contains(&format!("spark-lag-{}", other.id)));
    assert!(!searched.contains(&format!("spark-lag-{}\"", ours.id)));
    let (status, bad) = viewer.get(&format!("{fragment}?pagesize=0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("pagesize"), "{bad}");

    // An editor reads it as the list; a session of another project reads only its own.
    let editor = Browser::sign_in(&app, "global", "editor").await;
    assert_eq!(editor.get(fragment).await.0, StatusCode::OK);
    let stranger = Browser::sign_in(&app, "other", "viewer").await;
    let (status, _) = stranger.get(fragment).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, theirs_sparks) = stranger.get("/ui/projects/other/belts/sparklines").await;
    assert!(
        theirs_sparks.contains("lag 777,777 records"),
        "{theirs_sparks}"
    );
    assert!(!theirs_sparks.contains("lag 12 records"), "{theirs_sparks}");
    // Without a session: sent to sign in, never sparklines.
    assert_sent_to_sign_in(&app, fragment).await;
}

async fn a_belt_without_samples_keeps_two_fixed_size_dashes(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[("--kafka-lag-interval-ms", "100")]).await;
    let store = second_store(&app).await;
    let quiet = stored(&app, &*store, "global", "quiet").await;
    let viewer = Browser::sign_in(&app, "global", "viewer").await;
    let (_, page) = viewer.get("/ui/projects/global/belts").await;
    // However short the interval, a page asks at most once a second.
    assert!(page.contains("data-sparks-every=\"1000\""), "{page}");
    let (_, sparks) = viewer.get("/ui/projects/global/belts/sparklines").await;
    for html in [row_of(&page, "quiet"), sparks.as_str()] {
        assert!(!html.contains("<svg"), "{html}");
        for (kind, said) in [
            ("lag", "lag: no measurement in the last hour"),
            (
                "rate",
                "records consumed per second: no measurement in the last hour",
            ),
        ] {
            let dash = element(html, &format!("spark-{kind}-{}", quiet.id));
            assert!(dash.starts_with("<span class=\"spark none\""), "{dash}");
            assert!(dash.contains(&format!("aria-label=\"{said}\"")), "{dash}");
            assert!(dash.ends_with(">–</span>"), "{dash}");
        }
    }
    // The dash is as large as a drawn sparkline: nothing moves when samples come.
    let style = page
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(1)
        .unwrap();
    let style = style.split('"').next().unwrap();
    let css = (app.client)
        .get(format!("{}{style}", app.address))
        .header(COOKIE, &viewer.cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        css.contains(".spark { display: inline-block; width: 120px; height: 24px;"),
        "{css}"
    );
}
