//! The walk through the console: sign in (dev), find the belt in the list, search for it, open
//! it, START it, see RUNNING and a log line, STOP it; screenshots on SQLite.

use std::time::{Duration, Instant};

use crate::a11y::assert_accessible;
use crate::support::{create_belt, Served, Window};
use serde_json::json;

use crate::webdriver::Browser;

/// Reloads `url` until `ready` says so, up to `limit`.
async fn reload_until(browser: &Browser, url: &str, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    loop {
        browser.go(url).await;
        let badge = browser.text(".badge").await;
        let logs = browser.count("pre.log").await;
        let done = match what {
            "RUNNING with a log line" => badge == "RUNNING" && logs > 0,
            status => badge == status,
        };
        if done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not {what} within {limit:?}: badge {badge}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn walk(database_url: Option<&str>, screenshots: bool) {
    let served = Served::start(database_url);
    let (dir, address) = (served.dir(), served.address.clone());
    let id = create_belt(dir, &address, "console-demo").await;
    create_belt(dir, &address, "another-belt").await;
    let window = Window::open().await;
    let browser = &window.browser;

    browser.go(&format!("{address}/")).await;
    assert!(browser
        .text("h1")
        .await
        .contains("Local development sign-in"));
    assert_accessible(browser, "sign-in").await;
    browser.type_into("#name", "Ada Lovelace").await;
    browser.click("button[type=submit]").await;
    browser.text_once("h1", |h1| h1 == "Belts of global").await;
    // The session cookie is HttpOnly: the page's scripts never see it, nor any token.
    let cookies = browser
        .execute(
            "return document.cookie + JSON.stringify(localStorage)",
            json!([]),
        )
        .await;
    let cookies = cookies.as_str().unwrap_or_default();
    assert!(!cookies.contains("belt_session"), "{cookies}");
    assert!(
        !cookies.contains("eyJ"),
        "a token in the page's reach: {cookies}"
    );
    assert!(browser.text("main").await.contains("another-belt"));
    browser.type_into("#search", "demo").await;
    browser.click(".filters button").await;
    let searched =
        |listed: &str| listed.contains("console-demo") && !listed.contains("another-belt");
    browser.text_once("tbody", searched).await;
    assert_accessible(browser, "list").await;
    if screenshots {
        browser.screenshots("list").await;
    }

    browser.click(&format!("a[href$='/belts/{id}']")).await;
    browser.text_once("h1", |h1| h1 == "console-demo").await;
    assert_eq!(browser.text(".badge").await, "STOPPED");
    browser.click("#start").await;
    browser
        .text_once("[role=status]", |notice| notice.contains("START"))
        .await;
    let page = format!("{address}/ui/projects/global/belts/{id}");
    reload_until(
        browser,
        &page,
        Duration::from_secs(90),
        "RUNNING with a log line",
    )
    .await;
    assert_accessible(browser, "belt").await;
    if screenshots {
        browser.screenshots("belt").await;
    }
    browser.click("#stop").await;
    // The STOP's answer first: navigating away sooner could abort the form's POST.
    browser
        .text_once("[role=status]", |notice| notice.contains("STOP"))
        .await;
    reload_until(browser, &page, Duration::from_secs(60), "STOPPED").await;
    window.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium_on_sqlite() {
    walk(None, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium_on_postgres() {
    let database = belt_test_support::postgres::fresh_database("ui_browser").await;
    walk(Some(&database.url), false).await;
    belt_test_support::postgres::drop_database(&database.name).await;
}
