//! Live updates in the browser (docs/console.md, ui/live.js): on the belt page the badge turns
//! RUNNING and the replica's ready line appears without a reload; on the list a STOP made
//! through the API changes the badge in place. A marker set in the page's `window` survives only
//! while the page is not reloaded, so each wait checks it is still there.
//!
//! START is the page's own form (through htmx, which swaps the state section in; live_state.rs
//! checks that it does not navigate). The marker is set once START's notice shows, while the
//! badge still reads DEPLOYING: the belt's callback sleeps 3 s at import, so it cannot be ready
//! before the marker is set, and RUNNING can only arrive through the live stream.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{create_belt_from, editor_token, sign_in_from, Served, Window};
use crate::webdriver::Browser;

/// A callback that is slow to import: the replica is ready seconds after its START.
pub const SLOW_CALLBACK: &str =
    "import time\ntime.sleep(3)\n\ndef execute(headers, event, profile=None):\n    return []\n";

const MARKER: &str = "return window.__noReload === 1";

/// Evaluates `condition` (a script answering a boolean) until it holds, up to `limit`; each
/// look also asks that the page was not reloaded.
pub async fn until(browser: &Browser, condition: &str, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    loop {
        let held = browser.execute(condition, json!([])).await;
        let kept = browser.execute(MARKER, json!([])).await;
        assert_eq!(
            kept,
            json!(true),
            "the page was reloaded while waiting for {what}"
        );
        if held == json!(true) {
            return;
        }
        if Instant::now() >= deadline {
            match browser.fail(&format!("not {what} within {limit:?}")).await {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The badge of belt `id`: its text, `data-status`, class and width, as the page has them.
pub async fn badge(browser: &Browser, id: &str) -> serde_json::Value {
    let script = "const b = document.querySelector(`.badge[data-belt=\"${arguments[0]}\"]`); \
                  return {text: b.textContent, status: b.dataset.status, class: b.className, \
                  width: b.getBoundingClientRect().width, live: b.parentElement.getAttribute('aria-live')};";
    browser.execute(script, json!([id])).await
}

async fn live(database_url: Option<&str>, screenshots: bool) {
    let served = Served::start(database_url);
    let (dir, address) = (served.dir(), served.address.clone());
    let body = json!({"name": "live-demo", "eventTypes": ["test-a"], "extractorFn": SLOW_CALLBACK});
    let id = create_belt_from(dir, &address, &body).await;
    let window = Window::open().await;
    let browser = &window.browser;

    sign_in_from(browser, &format!("{address}/ui/login")).await;
    let page = format!("{address}/ui/projects/global/belts/{id}");
    browser.go(&page).await;
    browser.text_once("h1", |h1| h1 == "live-demo").await;
    let stopped = badge(browser, &id).await;
    assert_eq!(stopped["text"], "STOPPED", "{stopped}");
    assert_eq!(stopped["live"], "polite", "{stopped}");

    browser.click("#start").await;
    browser
        .text_once("[role=status]", |notice| notice.contains("START"))
        .await;
    browser.execute("window.__noReload = 1", json!([])).await;
    let deploying = badge(browser, &id).await;
    assert_eq!(
        deploying["text"], "DEPLOYING",
        "set before the belt is ready: {deploying}"
    );
    let running = "return document.querySelector('.badge').dataset.status === 'RUNNING'";
    until(browser, running, Duration::from_secs(90), "RUNNING").await;
    let shown = badge(browser, &id).await;
    assert_eq!(shown["text"], "RUNNING", "{shown}");
    assert_eq!(shown["class"], "badge RUNNING", "{shown}");
    assert_eq!(
        shown["width"], deploying["width"],
        "the badge kept its width"
    );
    let ready = "return [...document.querySelectorAll('pre.log')]\
                 .some(pre => pre.textContent.includes('ready'))";
    until(browser, ready, Duration::from_secs(30), "the ready line").await;
    // The page's own lines and the stream's overlap at the page's read: each is shown once.
    let once = "return document.querySelector('pre.log').textContent.split('\\n')\
                .filter(line => line.endsWith('belt-host: ready')).length";
    assert_eq!(browser.execute(once, json!([])).await, json!(1));
    if screenshots {
        let logs = "document.getElementById('log-lines').scrollIntoView()";
        browser.execute(logs, json!([])).await;
        browser.screenshots("live").await;
    }

    browser
        .go(&format!("{address}/ui/projects/global/belts"))
        .await;
    browser.text_once("h1", |h1| h1 == "Belts of global").await;
    browser.execute("window.__noReload = 1", json!([])).await;
    assert_eq!(badge(browser, &id).await["text"], "RUNNING");
    let stop = reqwest::Client::new()
        .post(format!("{address}/projects/global/belts/{id}/state"))
        .bearer_auth(editor_token(dir))
        .json(&json!({"action": "STOP"}))
        .send()
        .await
        .unwrap();
    assert!(stop.status().is_success(), "{}", stop.status());
    let listed_stopped = "return document.querySelector(`.badge[data-belt=\"${arguments[0]}\"]`)\
                          .textContent === 'STOPPED'";
    let condition = listed_stopped.replace("${arguments[0]}", &id);
    until(
        browser,
        &condition,
        Duration::from_secs(30),
        "STOPPED in the list",
    )
    .await;

    // Leaving a page frees its streams: a browser opens at most six connections to a host, so
    // pages that kept theirs (in the back/forward cache) would soon stall the next page.
    let list = format!("{address}/ui/projects/global/belts");
    for _ in 0..4 {
        for url in [&page, &list] {
            let started = Instant::now();
            browser.go(url).await;
            let took = started.elapsed();
            assert!(took < Duration::from_secs(10), "{url} took {took:?}");
        }
    }
    window.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_updates_in_chromium_on_sqlite() {
    live(None, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_updates_in_chromium_on_postgres() {
    let database = belt_test_support::postgres::fresh_database("ui_live").await;
    live(Some(&database.url), false).await;
    belt_test_support::postgres::drop_database(&database.name).await;
}
