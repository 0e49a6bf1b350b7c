//! The editor steps the walks share: open the editor (new or edit), type the callback and wait
//! for the check htmx makes of it (nothing submitted), save and land on the belt page.

use crate::webdriver::Browser;

/// What the check says of a callback without problems.
pub const NO_PROBLEMS: &str = "No problems found";

/// From the list, the editor of a new belt.
pub async fn open_new(browser: &Browser) {
    browser.click("#new-belt").await;
    browser.text_once("h1", |h1| h1 == "New belt").await;
}

/// From the page of belt `name`, its editor.
pub async fn open_edit(browser: &Browser, name: &str) {
    browser.click("#edit").await;
    let title = format!("Edit {name}");
    browser.text_once("h1", |h1| h1 == title).await;
}

/// `callback` typed as the extractorFn; waits until the check's message contains `expected`,
/// and answers the message.
pub async fn type_callback(browser: &Browser, callback: &str, expected: &str) -> String {
    browser.type_into("#extractorFn", callback).await;
    browser
        .text_once("#check-message", |said| said.contains(expected))
        .await
}

/// Save; waits for the belt page of `name`.
pub async fn save(browser: &Browser, name: &str) {
    browser.click("#save").await;
    browser.text_once("h1", |h1| h1 == name).await;
}
