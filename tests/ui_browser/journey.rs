//! Issue 21's whole walk in Chromium, one belt from its first line to its deletion, on both
//! databases: sign in (dev); create the belt in the editor and see its syntax error marked at
//! line 3 before saving; fix it and save; START, and see the badge turn RUNNING and the ready line
//! arrive in the live log without a reload; break the callback and deploy it, and see FAILED with
//! the exception explained; roll back; STOP; delete. The screenshot `failed` (SQLite) is the belt
//! page of the failed belt.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::a11y::assert_accessible;
use crate::editor_steps::{open_edit, open_new, save, type_callback, NO_PROBLEMS};
use crate::support::{sign_in_from, Served, Window};
use crate::webdriver::Browser;

/// Slow to import, so that the page is open before the replica is ready: RUNNING can then only
/// reach it through the live stream. Line 3 does not parse.
const BROKEN: &str =
    "import time\ntime.sleep(3)\ndef execute(headers, event) -> :\n    return []\n";
const FIXED: &str = "import time\ntime.sleep(3)\ndef execute(headers, event):\n    return []\n";
/// Parses, and fails at import: the replica exits 1.
const FAILING: &str =
    "raise RuntimeError('broken on purpose')\n\ndef execute(headers, event):\n    return []\n";
const MARKER: &str = "return window.__noReload === 1";

/// Waits until `condition` (a script answering a boolean) holds; with `live`, each look also
/// asks that the page was not reloaded meanwhile.
async fn until(browser: &Browser, condition: &str, live: bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if live {
            let kept = browser.execute(MARKER, json!([])).await;
            assert_eq!(kept, json!(true), "reloaded while waiting for {what}");
        }
        if browser.execute(condition, json!([])).await == json!(true) {
            return;
        }
        if Instant::now() >= deadline {
            match browser.fail(&format!("not {what} within 90 s")).await {}
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn badge_is(status: &str) -> String {
    format!("return document.querySelector('.badge').dataset.status === '{status}'")
}

/// Reloads the belt page until its badge says `status`.
async fn reload_until(browser: &Browser, page: &str, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        browser.go(page).await;
        if browser.text(".badge").await == status {
            return;
        }
        if Instant::now() >= deadline {
            match browser.fail(&format!("not {status} within 90 s")).await {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// New belt in the editor: the error at line 3 before saving, then fixed and saved. Answers the
/// belt page's address.
async fn create(browser: &Browser, address: &str) -> String {
    open_new(browser).await;
    browser.type_into("#name", "journey").await;
    browser.type_into("#eventTypes", "test-a").await;
    let said = type_callback(browser, BROKEN, "line 3").await;
    assert!(said.starts_with("extractorFn, line 3"), "{said}");
    assert_eq!(browser.text("#bad-line .ln").await, "3");
    type_callback(browser, FIXED, NO_PROBLEMS).await;
    save(browser, "journey").await;
    let path = browser.execute("return location.pathname", json!([])).await;
    format!("{address}{}", path.as_str().unwrap())
}

/// START: RUNNING and the ready line, both without a reload.
async fn start_and_watch(browser: &Browser) {
    browser.click("#start").await;
    browser
        .text_once("[role=status]", |notice| notice.contains("START"))
        .await;
    browser.execute("window.__noReload = 1", json!([])).await;
    assert_eq!(browser.text(".badge").await, "DEPLOYING");
    until(browser, &badge_is("RUNNING"), true, "RUNNING").await;
    let ready = "return [...document.querySelectorAll('pre.log')]\
                 .some(pre => pre.textContent.includes('ready'))";
    until(browser, ready, true, "the ready line").await;
}

/// A callback that fails at import, saved and deployed: FAILED, explained.
async fn break_it(browser: &Browser, page: &str, screenshots: bool) {
    open_edit(browser, "journey").await;
    type_callback(browser, FAILING, NO_PROBLEMS).await;
    save(browser, "journey").await;
    browser.click("#start").await;
    browser
        .text_once("[role=status]", |notice| notice.contains("START"))
        .await;
    reload_until(browser, page, "FAILED").await;
    let state = browser.text("section[aria-labelledby=state]").await;
    assert!(
        state.contains("exited with code 1: Error: RuntimeError: broken on purpose"),
        "the failure in words: {state}"
    );
    assert_accessible(browser, "failed belt").await;
    if screenshots {
        let state = "document.querySelector('section[aria-labelledby=state]').scrollIntoView()";
        browser.execute(state, json!([])).await;
        browser.screenshots("failed").await;
    }
}

/// Back to version 1's content (as version 3), STOP, delete.
async fn roll_back_stop_delete(browser: &Browser, page: &str) {
    browser.click("#revisions-link").await;
    browser.click("#rollback-1").await;
    let main = browser
        .text_once("main", |main| main.contains("Rolled back"))
        .await;
    assert!(main.contains("Version\n3"), "{main}");
    assert!(
        main.contains("time.sleep(3)"),
        "version 1's callback: {main}"
    );
    browser.click("#stop").await;
    browser
        .text_once("[role=status]", |notice| notice.contains("STOP"))
        .await;
    reload_until(browser, page, "STOPPED").await;
    browser.click("#delete").await;
    browser.type_into("#confirm", "journey").await;
    browser.click("#delete-confirmed").await;
    let listed = browser
        .text_once("main", |main| main.contains("was deleted"))
        .await;
    assert!(!listed.contains("journey\n"), "{listed}");
}

async fn journey(database_url: Option<&str>, screenshots: bool) {
    let served = Served::start(database_url);
    let address = served.address.clone();
    let window = Window::open().await;
    let browser = &window.browser;
    sign_in_from(browser, &format!("{address}/ui/login")).await;

    let page = create(browser, &address).await;
    start_and_watch(browser).await;
    break_it(browser, &page, screenshots).await;
    roll_back_stop_delete(browser, &page).await;
    window.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_belt_from_the_editor_to_its_deletion_in_chromium_on_sqlite() {
    journey(None, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_belt_from_the_editor_to_its_deletion_in_chromium_on_postgres() {
    let database = belt_test_support::postgres::fresh_database("ui_journey").await;
    journey(Some(&database.url), false).await;
    belt_test_support::postgres::drop_database(&database.name).await;
}
