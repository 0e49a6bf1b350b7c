//! The server under test, started as a user starts it, and what the tests set up through the API.

use std::path::Path;
use std::process::Command;

use belt_test_support::binary::{Program, Spawn};
use serde_json::{json, Value};

use crate::webdriver::Browser;

pub const BINARY: &str = env!("CARGO_BIN_EXE_belt-api");

/// The server, started as a user starts it, with a belt created through the API.
pub fn serve(dir: &Path, database_url: Option<&str>) -> Program {
    serve_with(dir, database_url, &[])
}

/// As [`serve`], with more of the environment (`BELT_KAFKA_LAG_INTERVAL_MS`, say).
pub fn serve_with(dir: &Path, database_url: Option<&str>, env: &[(&str, &str)]) -> Program {
    let mut spawn = Spawn::serve(BINARY)
        .current_dir(dir)
        .env("BELT_KAFKA_BROKER", "none")
        .envs(env.iter().copied());
    if let Some(url) = database_url {
        spawn = spawn.env("BELT_DATABASE_URL", url);
    }
    spawn.start()
}

pub async fn create_belt(dir: &Path, address: &str, name: &str) -> String {
    let body =
        json!({"name": name, "eventTypes": ["test-a"], "description": "Shown in the console"});
    create_belt_from(dir, address, &body).await
}

/// A belt of `body`, created through the API; its id.
pub async fn create_belt_from(dir: &Path, address: &str, body: &Value) -> String {
    let created: Value = (reqwest::Client::new())
        .post(format!("{address}/projects/global/belts"))
        .bearer_auth(editor_token(dir))
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_string()
}

/// An editor's token of project `global`, as `belt-api token` mints it in the server's dir.
pub fn editor_token(dir: &Path) -> String {
    let output = Command::new(BINARY)
        .args(["token", "--project", "global", "--role", "editor"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Signs in (dev) as an editor of `global`, from `/` as a user would, on to the list.
pub async fn sign_in(browser: &Browser, address: &str) {
    sign_in_from(browser, &format!("{address}/")).await;
}

/// Signs in (dev) as an editor of `global` from `url` (`/` or the sign-in page), on to the list.
pub async fn sign_in_from(browser: &Browser, url: &str) {
    browser.go(url).await;
    browser.type_into("#name", "Ada Lovelace").await;
    browser.click("button[type=submit]").await;
    browser.text_once("h1", |h1| h1 == "Belts of global").await;
}
