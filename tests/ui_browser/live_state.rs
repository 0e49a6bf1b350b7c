//! The belt page's state section, live (docs/console.md, issue 21): START through htmx swaps the
//! section in without navigating (the URL stays, a marker in the page's `window` survives), and
//! when the replica gets ready the status stream has ui/live.js fetch the section again, so it
//! says RUNNING's sentence without a reload, in the space it already took. Then the log
//! options: "previous run" empties the lines and says none is followed.

use std::time::Duration;

use serde_json::json;

use crate::a11y::assert_accessible;
use crate::live::{badge, until, SLOW_CALLBACK};
use crate::support::{create_belt_from, sign_in_from, Served, Window};
use crate::webdriver::Browser;

const RUNNING_SENTENCE: &str = "Running: every replica asked for is ready.";

/// The state section's text and height, and where what follows it starts.
async fn state_section(browser: &Browser) -> serde_json::Value {
    let script = "const s = document.getElementById('state-section'); \
                  return {text: s.textContent, height: s.getBoundingClientRect().height, \
                  next: s.nextElementSibling.getBoundingClientRect().top};";
    browser.execute(script, json!([])).await
}

async fn live_state(database_url: Option<&str>) {
    let served = Served::start(database_url);
    let (dir, address) = (served.dir(), served.address.clone());
    let body =
        json!({"name": "state-demo", "eventTypes": ["test-a"], "extractorFn": SLOW_CALLBACK});
    let id = create_belt_from(dir, &address, &body).await;
    let window = Window::open().await;
    let browser = &window.browser;

    sign_in_from(browser, &format!("{address}/ui/login")).await;
    let page = format!("{address}/ui/projects/global/belts/{id}");
    browser.go(&page).await;
    browser.text_once("h1", |h1| h1 == "state-demo").await;
    let stopped = state_section(browser).await;
    assert!(
        stopped["text"].as_str().unwrap().contains("Stopped"),
        "{stopped}"
    );

    // Set before START: a navigating form would lose it.
    browser.execute("window.__noReload = 1", json!([])).await;
    browser.click("#start").await;
    browser
        .text_once("#done-notice", |notice| notice.contains("START asked for"))
        .await;
    // The DEPLOYING status event's own fetch of the section comes within this pause; RUNNING
    // cannot (the callback sleeps 3 s at import), so the next swap is RUNNING's.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deploying = state_section(browser).await;
    assert!(
        !deploying["text"].as_str().unwrap().contains("Stopped"),
        "START's answer swapped in: {deploying}"
    );
    assert_eq!(badge(browser, &id).await["text"], "DEPLOYING");
    let running = format!(
        "return document.getElementById('state-section').textContent.includes('{RUNNING_SENTENCE}')"
    );
    until(
        browser,
        &running,
        Duration::from_secs(90),
        "RUNNING's sentence",
    )
    .await;
    let shown = state_section(browser).await;
    // RUNNING says less than DEPLOYING (whose replica may still be waiting, said in words):
    // the section keeps the space it took, so what follows does not move.
    assert_eq!(
        shown["next"], deploying["next"],
        "what follows the section moved: {shown} after {deploying}"
    );
    let here = browser.execute("return location.href", json!([])).await;
    assert_eq!(here, json!(page), "START did not navigate");
    assert_accessible(browser, "belt with a live state").await;

    // "Previous run": the options restart the log stream; a replica that never restarted has
    // no previous run, and the page says that instead of following.
    browser.click("#log-previous").await;
    let none = "return document.getElementById('log-replicas').textContent\
                .includes('No replica has a previous run.')";
    until(browser, none, Duration::from_secs(10), "no previous run").await;
    let hint = browser.text("#log-previous-hint").await;
    assert!(hint.contains("not followed"), "{hint}");
    assert_accessible(browser, "belt with log options").await;
    window.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_state_in_chromium_on_sqlite() {
    live_state(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_state_in_chromium_on_postgres() {
    let database = belt_test_support::postgres::fresh_database("ui_live_state").await;
    live_state(Some(&database.url)).await;
    belt_test_support::postgres::drop_database(&database.name).await;
}
