//! The callback editor in Chromium: sign in, open New belt, type a callback whose line 3 does not
//! parse and see the error at line 3 appear without submitting, fix it and see it go, save and
//! land on the belt page; then Edit, run a draft on a sample event in the test panel, change the
//! description, save: version 2. The screenshot `editor` (SQLite) shows the error at its line.

use crate::a11y::assert_accessible;
use crate::editor_steps::{open_edit, open_new, save, type_callback, NO_PROBLEMS};
use crate::support::{sign_in, Served, Window};
use crate::webdriver::Browser;

const BROKEN: &str = "def execute(headers, event):\n    x = 1\n    return [x +]\n";
const FIXED: &str = "def execute(headers, event):\n    x = 1\n    return [x + 1]\n";
/// A draft for the test panel that answers one update per event.
const UPDATING: &str = "def execute(headers, event):\n    return {\"keys\": [event[\"id\"]], \"type\": \"t\", \"values\": [{\"value\": 41}]}\n";

/// New belt: the error at line 3 while typing, gone once fixed, then saved.
async fn create(browser: &Browser, screenshots: bool) {
    open_new(browser).await;
    browser.type_into("#name", "typed-in-chromium").await;
    browser.type_into("#description", "first words").await;
    browser.type_into("#eventTypes", "test-a").await;
    // Nothing was submitted: htmx posted the form to the check and swapped in its answer.
    let said = type_callback(browser, BROKEN, "line 3").await;
    assert!(
        said.starts_with("extractorFn, line 3, column 16:"),
        "{said}"
    );
    assert_eq!(browser.text("#bad-line .ln").await, "3");
    assert!(browser.text("#bad-line .mark").await.contains("error here"));
    assert_eq!(browser.text("h1").await, "New belt", "still the editor");
    assert_accessible(browser, "editor with an error").await;
    if screenshots {
        let center = "document.getElementById('check-message').scrollIntoView({block: 'center'})";
        browser.execute(center, serde_json::json!([])).await;
        browser.screenshots("editor").await;
    }
    type_callback(browser, FIXED, NO_PROBLEMS).await;
    assert_eq!(browser.count(".line.bad").await, 0);
    save(browser, "typed-in-chromium").await;
    assert!(browser.text("main").await.contains("first words"));
}

/// Edit: a draft run in the test panel, a new description, saved as version 2.
async fn edit(browser: &Browser) {
    open_edit(browser, "typed-in-chromium").await;
    browser.type_into("#extractorFn", UPDATING).await;
    browser.type_into("#sample", "{\"id\": 7}").await;
    browser.click("#run").await;
    let ran = browser
        .text_once("#ran", |ran| ran.contains("Outcome"))
        .await;
    assert!(
        ran.contains("completed") && ran.contains("Updates (1)"),
        "{ran}"
    );
    assert_accessible(browser, "edit with the test panel's answer").await;
    browser.type_into("#description", "second words").await;
    save(browser, "typed-in-chromium").await;
    let main = browser
        .text_once("main", |main| {
            main.contains("second words") && !main.contains("Test panel")
        })
        .await;
    assert!(main.contains("Version\n2"), "{main}");
    assert!(
        main.contains("\"value\": 41"),
        "the draft was saved: {main}"
    );
}

async fn editor(database_url: Option<&str>, screenshots: bool) {
    let served = Served::start(database_url);
    let address = served.address.clone();
    let window = Window::open().await;
    let browser = &window.browser;
    sign_in(browser, &address).await;
    create(browser, screenshots).await;
    edit(browser).await;
    window.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editor_in_chromium_on_sqlite() {
    editor(None, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editor_in_chromium_on_postgres() {
    let database = belt_test_support::postgres::fresh_database("ui_editor").await;
    editor(Some(&database.url), false).await;
    belt_test_support::postgres::drop_database(&database.name).await;
}
