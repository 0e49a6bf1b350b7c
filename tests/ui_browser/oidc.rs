//! Signing in to the console through an OpenID Connect provider, in Chromium: the spawned
//! binary with the stub provider of `tests/api/stub_idp.rs` as its issuer. The browser goes to
//! the console, is sent to the provider and back, lands signed in with the role the token
//! grants, never holds a token where the page's scripts or its address bar could see it, and
//! signs out at the provider too.

use belt_test_support::binary::{Program, Spawn};
use serde_json::json;

use crate::a11y::assert_accessible;
use crate::stub_idp::{StubIdp, CLIENT_ID, CLIENT_SECRET};
use crate::support::{Window, BINARY};
use crate::webdriver::Browser;

fn serve(dir: &std::path::Path, issuer: &str, database_url: Option<&str>) -> Program {
    let mut spawn = Spawn::serve(BINARY)
        .current_dir(dir)
        .env("BELT_KAFKA_BROKER", "none")
        .env("BELT_OIDC_ISSUER", issuer)
        .env("BELT_CONSOLE_OIDC_CLIENT_ID", CLIENT_ID)
        .env("BELT_CONSOLE_OIDC_CLIENT_SECRET", CLIENT_SECRET);
    if let Some(url) = database_url {
        spawn = spawn.env("BELT_DATABASE_URL", url);
    }
    spawn.start()
}

/// What the page's scripts can reach: the address, the cookies they may read, the storage.
async fn within_the_pages_reach(browser: &Browser) -> String {
    let script = "return location.href + document.cookie + JSON.stringify(localStorage) \
                  + JSON.stringify(sessionStorage)";
    let reach = browser.execute(script, json!([])).await;
    reach.as_str().unwrap_or_default().to_string()
}

async fn sign_in_and_out(database_url: Option<&str>) {
    let idp = StubIdp::start("global", &["viewer"]).await;
    idp.behave(|b| b.also = vec![("team-b".into(), vec!["editor".into()])]);
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &idp.issuer, database_url);
    let address = server.address().to_string();
    let created = (reqwest::Client::new())
        .post(format!("{address}/projects/global/belts"))
        .bearer_auth(idp.api_token("global", &["editor"]))
        .json(&json!({"name": "seen-by-a-viewer", "eventTypes": ["test-a"]}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let window = Window::open().await;
    let browser = &window.browser;

    browser.go(&format!("{address}/")).await;
    browser.text_once("h1", |h1| h1 == "Belts of global").await;
    let header = browser.text("header").await;
    assert!(
        header.contains("Signed in as Ada Lovelace (viewer of global)"),
        "{header}"
    );
    assert!(browser.text("main").await.contains("seen-by-a-viewer"));
    // The token grants team-b too: the header leads there, and names the role there.
    assert_accessible(browser, "a list with the header's projects").await;
    browser
        .click("header nav a[href='/ui/projects/team-b/belts']")
        .await;
    browser.text_once("h1", |h1| h1 == "Belts of team-b").await;
    let header = browser.text("header").await;
    assert!(header.contains("(editor of team-b)"), "{header}");
    let current = browser.text("header nav a[aria-current=page]").await;
    assert_eq!(current, "team-b");
    browser
        .go(&format!("{address}/ui/projects/global/belts"))
        .await;
    browser.text_once("h1", |h1| h1 == "Belts of global").await;
    let reach = within_the_pages_reach(browser).await;
    assert!(
        !reach.contains("belt_session") && !reach.contains("belt_login"),
        "{reach}"
    );
    for token in idp.issued() {
        assert!(
            !reach.contains(&token),
            "a token in the page's reach: {reach}"
        );
    }

    browser.click("header button[type=submit]").await;
    browser
        .text_once("main", |main| main.contains("You are signed out"))
        .await;
    assert_accessible(browser, "signed out").await;
    assert_eq!(idp.logouts().len(), 1, "the provider's session ended too");
    browser
        .go(&format!("{address}/ui/projects/global/belts"))
        .await;
    // Signed out here: the console asks the provider again (which, a stub, approves at once).
    browser.text_once("h1", |h1| h1 == "Belts of global").await;
    assert!(idp.issued().len() >= 6, "a second sign-in, with new tokens");
    window.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_sign_in_in_chromium_on_sqlite() {
    sign_in_and_out(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_sign_in_in_chromium_on_postgres() {
    let database = belt_test_support::postgres::fresh_database("ui_oidc_browser").await;
    sign_in_and_out(Some(&database.url)).await;
    belt_test_support::postgres::drop_database(&database.name).await;
}
