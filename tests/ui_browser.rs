//! The console in a real headless Chromium, driven through WebDriver (chromedriver) by a tiny
//! client of plain JSON over HTTP: sign in (dev), find the belt in the list, search for it, open
//! it, START it, see RUNNING and a log line, STOP it. Screenshots of the list and the belt page
//! at desktop and phone width go to docs/screenshots/. And the sign-in through an OIDC provider
//! (`ui_browser/oidc.rs`, the stub provider of `api/stub_idp.rs`). Without Chromium the test
//! FAILS and says how to install it: a browser test that skips proves nothing.

#[path = "ui_browser/a11y.rs"]
mod a11y;
#[path = "ui_browser/editor.rs"]
mod editor;
#[path = "ui_browser/editor_draft.rs"]
mod editor_draft;
#[path = "ui_browser/editor_steps.rs"]
mod editor_steps;
#[path = "ui_browser/history.rs"]
mod history;
#[path = "ui_browser/journey.rs"]
mod journey;
#[path = "ui_browser/live.rs"]
mod live;
#[path = "ui_browser/live_state.rs"]
mod live_state;
#[path = "ui_browser/oidc.rs"]
mod oidc;
#[path = "ui_browser/sparklines.rs"]
mod sparklines;
#[path = "api/stub_idp.rs"]
mod stub_idp;
#[path = "ui_browser/support.rs"]
mod support;
#[path = "ui_browser/walk.rs"]
mod walk;
#[path = "ui_browser/webdriver.rs"]
mod webdriver;
