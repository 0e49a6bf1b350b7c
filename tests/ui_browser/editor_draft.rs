//! The test panel of a belt not saved yet, in Chromium: open New belt, type a callback and a
//! sample, Run: the draft's update appears in the panel while the page stays the new belt's
//! editor (nothing saved, no saved samples to load), on both databases.

use crate::a11y::assert_accessible;
use crate::editor_steps::{open_new, NO_PROBLEMS};
use crate::support::{sign_in, Served, Window};

/// A draft that answers one update per event.
const UPDATING: &str = "def execute(headers, event):\n    return {\"keys\": [event[\"id\"]], \"type\": \"t\", \"values\": [{\"value\": 41}]}\n";

async fn run_a_new_belt(database_url: Option<&str>) {
    let served = Served::start(database_url);
    let address = served.address.clone();
    let window = Window::open().await;
    let browser = &window.browser;
    sign_in(browser, &address).await;
    open_new(browser).await;
    // No belt yet: nothing saved to load, nothing to save a sample with.
    assert_eq!(browser.count("#load").await, 0);
    assert_eq!(browser.count("#save-sample").await, 0);
    browser.type_into("#sample", "{\"id\": 7}").await;
    browser.type_into("#name", "never-saved").await;
    browser.type_into("#eventTypes", "test-a").await;
    browser.type_into("#extractorFn", UPDATING).await;
    // At once, while the check of what was typed is still to come: it must stay a check.
    browser.click("#run").await;
    let ran = browser
        .text_once("#ran", |ran| ran.contains("Outcome"))
        .await;
    assert!(
        ran.contains("completed") && ran.contains("Updates (1)") && ran.contains("\"value\": 41"),
        "{ran}"
    );
    assert_eq!(browser.text("h1").await, "New belt", "still the editor");
    // The check that followed the click answered as a check, not as a second run.
    browser
        .text_once("#check-message", |said| said.contains(NO_PROBLEMS))
        .await;
    assert_eq!(browser.count("#ran").await, 1);
    assert_accessible(browser, "a new belt's test panel with its answer").await;
    window.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_belt_runs_in_the_test_panel_in_chromium_on_sqlite() {
    run_a_new_belt(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_belt_runs_in_the_test_panel_in_chromium_on_postgres() {
    let database = belt_test_support::postgres::fresh_database("ui_editor_draft").await;
    run_a_new_belt(Some(&database.url)).await;
    belt_test_support::postgres::drop_database(&database.name).await;
}
