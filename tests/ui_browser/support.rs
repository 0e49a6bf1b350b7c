//! The server under test, started as a user starts it, and what the tests set up through the API.

use std::path::Path;
use std::process::Command;

use belt_test_support::binary::{Program, Spawn};
use serde_json::{json, Value};

use crate::webdriver::{start_driver, Browser, Driver};

pub const BINARY: &str = env!("CARGO_BIN_EXE_belt-api");

/// belt-api on a data dir of its own (removed when this is dropped, the server killed first), as
/// every browser test starts it.
pub struct Served {
    pub address: String,
    /// Dropped before `dir` (fields drop in order): the server goes before its files.
    _server: Program,
    dir: tempfile::TempDir,
}

impl Served {
    pub fn start(database_url: Option<&str>) -> Served {
        Served::start_with(database_url, &[])
    }

    /// As [`Served::start`], with more of the environment.
    pub fn start_with(database_url: Option<&str>, env: &[(&str, &str)]) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let server = serve_with(dir.path(), database_url, env);
        Served {
            address: server.address().to_string(),
            _server: server,
            dir,
        }
    }

    /// The server's working directory, where `belt-api token` finds its key.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// chromedriver and one headless Chromium window through it.
pub struct Window {
    pub browser: Browser,
    _driver: Driver,
}

impl Window {
    pub async fn open() -> Window {
        let http = reqwest::Client::new();
        let driver = start_driver(&http).await;
        let browser = Browser::open(&http, &driver).await;
        Window {
            browser,
            _driver: driver,
        }
    }

    /// Ends the browser's session (chromedriver goes when this is dropped).
    pub async fn close(self) {
        self.browser.close().await;
    }
}

/// The server, started as a user starts it, with more of the environment
/// (`BELT_KAFKA_LAG_INTERVAL_MS`, say).
fn serve_with(dir: &Path, database_url: Option<&str>, env: &[(&str, &str)]) -> Program {
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
