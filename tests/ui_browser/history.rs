//! History, revisions, rollback and delete in Chromium: a belt created and then replaced (a
//! changed extractorFn) through the API; in the console, open it, open its revisions, see the
//! changed line in the diff, roll back to version 1 (the belt page then shows version 3 with
//! version 1's callback), delete it with its name typed, and land on the list without it.
//! Screenshot of the revisions page on SQLite.

use std::path::Path;

use serde_json::{json, Value};

use crate::a11y::assert_accessible;
use crate::support::{editor_token, sign_in_from, Served, Window};

const NAME: &str = "history-demo";
const FIRST_FN: &str = "def execute(headers, event):\n    seen = 1\n    return []\n";
const SECOND_FN: &str = "def execute(headers, event):\n    seen = 2\n    return []\n";

/// The belt at version 2 through the API: created with FIRST_FN, replaced with SECOND_FN.
async fn belt_at_version_2(dir: &Path, address: &str) -> String {
    let token = editor_token(dir);
    let http = reqwest::Client::new();
    let mut body = json!({"name": NAME, "eventTypes": ["test-a"], "extractorFn": FIRST_FN});
    let created: Value = (http.post(format!("{address}/projects/global/belts")))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"));
    body["extractorFn"] = json!(SECOND_FN);
    let replaced = (http.put(format!("{address}/projects/global/belts/{id}")))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), reqwest::StatusCode::OK);
    id.to_string()
}

async fn history_walk(database_url: Option<&str>, screenshots: bool) {
    let served = Served::start(database_url);
    let (dir, address) = (served.dir(), served.address.clone());
    let id = belt_at_version_2(dir, &address).await;
    let window = Window::open().await;
    let browser = &window.browser;

    sign_in_from(browser, &format!("{address}/ui/login")).await;
    browser.click(&format!("a[href$='/belts/{id}']")).await;
    browser.text_once("h1", |h1| h1 == NAME).await;

    browser.click("#history-link").await;
    browser
        .text_once("main", |main| main.contains("replaced"))
        .await;
    assert_accessible(browser, "history").await;
    browser
        .go(&format!("{address}/ui/projects/global/belts/{id}"))
        .await;
    browser.text_once("h1", |h1| h1 == NAME).await;
    browser.click("#revisions-link").await;
    let title = format!("Revisions of {NAME}");
    browser.text_once("h1", |h1| h1 == title).await;
    let diff = browser.text("#diff-extractor").await;
    assert!(
        diff.contains("seen = 1") && diff.contains("seen = 2"),
        "{diff}"
    );
    assert_accessible(browser, "revisions with a diff").await;
    if screenshots {
        // The diff is what this page is for: it, not the list above it, is in view.
        let scroll = "document.getElementById('compare').scrollIntoView()";
        browser.execute(scroll, json!([])).await;
        browser.screenshots("revisions").await;
    }

    browser.click("#rollback-1").await;
    browser
        .text_once("[role=status]", |notice| notice.contains("Rolled back"))
        .await;
    let version = browser
        .execute(
            "return document.querySelectorAll('main dd')[1].textContent",
            json!([]),
        )
        .await;
    assert_eq!(version, "3", "a rollback is a new version");
    let main = browser.text("main").await;
    assert!(
        main.contains("seen = 1") && !main.contains("seen = 2"),
        "version 1's callback: {main}"
    );

    browser.click("#delete").await;
    let question = format!("Delete belt {NAME}?");
    browser.text_once("h1", |h1| h1 == question).await;
    assert_accessible(browser, "delete confirmation").await;
    browser.type_into("#confirm", NAME).await;
    browser.click("#delete-confirmed").await;
    browser
        .text_once("[role=status]", |notice| notice.contains("was deleted"))
        .await;
    assert_eq!(browser.text("h1").await, "Belts of global");
    let links = browser.count(&format!("a[href$='/belts/{id}']")).await;
    assert_eq!(links, 0, "the deleted belt is not listed");
    window.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_revisions_rollback_and_delete_in_chromium_on_sqlite() {
    history_walk(None, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_revisions_rollback_and_delete_in_chromium_on_postgres() {
    let database = belt_test_support::postgres::fresh_database("ui_browser_history").await;
    history_walk(Some(&database.url), false).await;
    belt_test_support::postgres::drop_database(&database.name).await;
}
