//! The list's sparklines follow new lag samples in the browser (docs/console.md, ui/live.js):
//! samples stored after the page was loaded (through the store, as the lag controller stores
//! them) reach an open list page's lag and records/s sparklines without a reload, a dash turns
//! into a line in the same box, the page asks at most once per lag interval (1 s here) and not at
//! all while its tab is hidden, and axe finds nothing serious on it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use belt_api::domain::belt::now_millis;
use belt_api::domain::lag_series::LagSample;
use belt_api::domain::{Belt, BeltId, ProjectName};
use belt_api::store::{connect, BeltStore, StoreOptions};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::a11y::assert_accessible;
use crate::live::until;
use crate::support::{create_belt, sign_in, Served, Window};
use crate::webdriver::Browser;

/// The server's store, opened beside it: the SQLite file in its data dir, or its PostgreSQL.
async fn store_of(dir: &Path, database_url: Option<&str>) -> Arc<dyn BeltStore> {
    let url = database_url.map_or_else(
        || format!("sqlite://{}/belt-data/belts.db", dir.display()),
        str::to_string,
    );
    let options = StoreOptions {
        max_connections: 2,
        timeout: Duration::from_secs(10),
        revision_retention: 50,
    };
    connect(&url, options).await.unwrap()
}

async fn belt(store: &dyn BeltStore, id: &str) -> Belt {
    let project = ProjectName::parse("global").unwrap();
    let id = BeltId::new(id.parse().unwrap()).unwrap();
    store.get(&project, id).await.unwrap().expect("the belt")
}

/// Stores a sample of `belt` taken `ago` seconds before `now`, as the lag controller would.
async fn measured(
    store: &dyn BeltStore,
    belt: &Belt,
    (now, ago): (OffsetDateTime, i64),
    lag: [i64; 2],
) {
    let [total_lag, committed] = lag;
    let at = now - time::Duration::seconds(ago);
    let sample = LagSample {
        at,
        total_lag,
        committed,
    };
    store.record_lag(belt, sample).await.unwrap();
}

/// Belt `id`'s two sparklines as the page has them: what they say, their tag and their box.
async fn sparks(browser: &Browser, id: &str) -> Value {
    let script = "const seen = kind => { const e = document.getElementById(`spark-${kind}-${arguments[0]}`); \
                  const b = e.getBoundingClientRect(); \
                  return {said: e.getAttribute('aria-label'), tag: e.tagName.toLowerCase(), \
                  box: [b.left, b.top, b.width, b.height]}; }; \
                  return {lag: seen('lag'), rate: seen('rate')};";
    browser.execute(script, json!([id])).await
}

/// How many times the page has asked for its sparklines.
async fn asked(browser: &Browser) -> u64 {
    let script = "return performance.getEntriesByType('resource')\
                  .filter(e => e.name.includes('/belts/sparklines')).length";
    browser.execute(script, json!([])).await.as_u64().unwrap()
}

/// Makes the page believe its tab is hidden (or shown again), as a browser tells it.
async fn hide(browser: &Browser, hidden: bool) {
    let script = "Object.defineProperty(document, 'hidden', {configurable: true, get: () => arguments[0]}); \
                  document.dispatchEvent(new Event('visibilitychange'));";
    browser.execute(script, json!([hidden])).await;
}

async fn sparklines(database_url: Option<&str>) {
    let every = [("BELT_KAFKA_LAG_INTERVAL_MS", "1000")];
    let served = Served::start_with(database_url, &every);
    let (dir, address) = (served.dir(), served.address.clone());
    let busy = create_belt(dir, &address, "spark-busy").await;
    let fresh = create_belt(dir, &address, "spark-fresh").await;
    let store = store_of(dir, database_url).await;
    let (busy_belt, fresh_belt) = (belt(&*store, &busy).await, belt(&*store, &fresh).await);
    // One "now" for both, so that the rate between them is exactly 100 a second.
    let now = now_millis();
    measured(&*store, &busy_belt, (now, 60), [500, 0]).await;
    measured(&*store, &busy_belt, (now, 30), [400, 3_000]).await;
    let window = Window::open().await;
    let browser = &window.browser;

    sign_in(browser, &address).await;
    browser.execute("window.__noReload = 1", json!([])).await;
    let before = sparks(browser, &busy).await;
    assert_eq!(
        before["lag"]["said"], "lag 400 records, falling",
        "{before}"
    );
    let rate = "100 records consumed per second, one interval";
    assert_eq!(before["rate"]["said"], rate, "{before}");
    let empty = sparks(browser, &fresh).await;
    assert_eq!(empty["lag"]["tag"], "span", "a dash: {empty}");

    // Measured after the page was loaded: the page shows them within an interval or two.
    let now = now_millis();
    measured(&*store, &busy_belt, (now, 0), [7, 9_000]).await;
    measured(&*store, &fresh_belt, (now, 30), [20, 0]).await;
    measured(&*store, &fresh_belt, (now, 0), [10, 600]).await;
    let arrived = format!(
        "return document.getElementById('spark-lag-{busy}').getAttribute('aria-label') === \
         'lag 7 records, falling' && document.getElementById('spark-rate-{fresh}').tagName \
         .toLowerCase() === 'svg'"
    );
    until(
        browser,
        &arrived,
        Duration::from_secs(15),
        "the new samples",
    )
    .await;
    let after = sparks(browser, &busy).await;
    let rate = after["rate"]["said"].as_str().unwrap();
    assert!(
        rate.ends_with("records consumed per second, rising"),
        "{after}"
    );
    assert_eq!(after["lag"]["box"], before["lag"]["box"], "the lag moved");
    assert_eq!(
        after["rate"]["box"], before["rate"]["box"],
        "records/s moved"
    );
    let drawn = sparks(browser, &fresh).await;
    assert_eq!(drawn["lag"]["said"], "lag 10 records, falling", "{drawn}");
    assert_eq!(
        drawn["lag"]["box"], empty["lag"]["box"],
        "a dash and a line take the same box"
    );
    assert_eq!(drawn["rate"]["box"], empty["rate"]["box"]);

    // At most one ask per interval while shown, none while hidden, one at once when shown again.
    let (from, started) = (asked(browser).await, Instant::now());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (shown, took) = (asked(browser).await - from, started.elapsed().as_secs());
    assert!(shown >= 2 && shown <= took + 1, "{shown} asks in {took} s");
    hide(browser, true).await;
    // An ask already on its way when the tab was hidden may still finish.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let quiet = asked(browser).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(asked(browser).await, quiet, "asked while hidden");
    hide(browser, false).await;
    let again = format!(
        "return performance.getEntriesByType('resource')\
         .filter(e => e.name.includes('/belts/sparklines')).length > {quiet}"
    );
    until(browser, &again, Duration::from_secs(2), "an ask once shown").await;
    assert_accessible(browser, "list with live sparklines").await;
    window.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparklines_follow_samples_in_chromium_on_sqlite() {
    sparklines(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparklines_follow_samples_in_chromium_on_postgres() {
    let database = belt_test_support::postgres::fresh_database("ui_sparklines").await;
    sparklines(Some(&database.url)).await;
    belt_test_support::postgres::drop_database(&database.name).await;
}
