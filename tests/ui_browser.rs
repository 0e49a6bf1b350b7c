//! The console in a real headless Chromium, driven through WebDriver (chromedriver) by a tiny
//! client of plain JSON over HTTP: sign in (dev), find the belt in the list, search for it, open
//! it, START it, see RUNNING and a log line, STOP it. Screenshots of the list and the belt page
//! at desktop and phone width go to docs/screenshots/. Without Chromium the test FAILS and says
//! how to install it: a browser test that skips proves nothing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use belt_test_support::binary::{Program, Spawn};
use serde_json::{json, Value};

const BINARY: &str = env!("CARGO_BIN_EXE_belt-api");
/// WebDriver's key for an element reference (W3C WebDriver §12.1).
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn start_driver(http: &reqwest::Client) -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run chromedriver ({e}): the console's browser test needs Debian's \
                 `chromium` and `chromium-driver` (apt-get install -y chromium chromium-driver; \
                 .ci/run installs them)"
            )
        });
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = http.get(format!("{}/status", driver.url)).send().await;
        if let Ok(status) = status {
            let body: Value = status.json().await.unwrap_or_default();
            if body["value"]["ready"] == true {
                return driver;
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not get ready within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One WebDriver session: one headless Chromium window.
struct Browser {
    http: reqwest::Client,
    session: String,
}

impl Browser {
    async fn open(http: &reqwest::Client, driver: &Driver) -> Browser {
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1280,800",
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        }}});
        let response = (http.post(format!("{}/session", driver.url)))
            .json(&capabilities)
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        let session = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("Chromium did not start through chromedriver: {body}"));
        Browser {
            http: http.clone(),
            session: format!("{}/session/{session}", driver.url),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(
            answer["value"]["error"].is_null(),
            "WebDriver {path}: {answer}"
        );
        answer["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let found = json!({"using": "css selector", "value": css});
        let element = self
            .call(reqwest::Method::POST, "/element", Some(found))
            .await;
        let id = element[ELEMENT].as_str();
        id.unwrap_or_else(|| panic!("no element {css}: {element}"))
            .to_string()
    }

    async fn count(&self, css: &str) -> usize {
        let found = json!({"using": "css selector", "value": css});
        let all = self
            .call(reqwest::Method::POST, "/elements", Some(found))
            .await;
        all.as_array().map_or(0, Vec::len)
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        let path = format!("/element/{id}/click");
        self.call(reqwest::Method::POST, &path, Some(json!({})))
            .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        let clear = format!("/element/{id}/clear");
        self.call(reqwest::Method::POST, &clear, Some(json!({})))
            .await;
        let path = format!("/element/{id}/value");
        self.call(reqwest::Method::POST, &path, Some(json!({ "text": text })))
            .await;
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        let path = format!("/element/{id}/text");
        let text = self.call(reqwest::Method::GET, &path, None).await;
        text.as_str().unwrap_or_default().to_string()
    }

    /// The text of `css` once `wanted` holds for it: a click that navigates returns before the
    /// next page is there, so what the old page says (or a stale element) is waited out.
    async fn text_once(&self, css: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = json!({"using": "css selector", "value": css});
            let path = format!("{}/element", self.session);
            let answer: Value = self
                .http
                .post(&path)
                .json(&found)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let text = match answer["value"][ELEMENT].as_str() {
                Some(id) => {
                    let path = format!("{}/element/{id}/text", self.session);
                    let answer: Value = self
                        .http
                        .get(&path)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    answer["value"].as_str().unwrap_or_default().to_string()
                }
                None => String::new(),
            };
            if wanted(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never as wanted; last: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn resize(&self, width: u32, height: u32) {
        let rect = json!({"width": width, "height": height});
        self.call(reqwest::Method::POST, "/window/rect", Some(rect))
            .await;
    }

    /// A PNG of the viewport at each width, written to `docs/screenshots/{name}-{width}.png`.
    async fn screenshots(&self, name: &str) {
        for (label, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
            self.resize(width, height).await;
            let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(png.as_str().unwrap())
                .unwrap();
            assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{name}-{label}.png")), bytes).unwrap();
        }
        self.resize(1280, 800).await;
    }

    async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

/// The server, started as a user starts it, with a belt created through the API.
fn serve(dir: &Path, database_url: Option<&str>) -> Program {
    let mut spawn = Spawn::serve(BINARY)
        .current_dir(dir)
        .env("BELT_KAFKA_BROKER", "none");
    if let Some(url) = database_url {
        spawn = spawn.env("BELT_DATABASE_URL", url);
    }
    spawn.start()
}

async fn create_belt(dir: &Path, address: &str, name: &str) -> String {
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
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let body =
        json!({"name": name, "eventTypes": ["test-a"], "description": "Shown in the console"});
    let created: Value = (reqwest::Client::new())
        .post(format!("{address}/projects/global/belts"))
        .bearer_auth(token)
        .json(&body)
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
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), database_url);
    let address = server.address().to_string();
    let id = create_belt(dir.path(), &address, "console-demo").await;
    create_belt(dir.path(), &address, "another-belt").await;
    let http = reqwest::Client::new();
    let driver = start_driver(&http).await;
    let browser = Browser::open(&http, &driver).await;

    browser.go(&format!("{address}/")).await;
    assert!(browser
        .text("h1")
        .await
        .contains("Local development sign-in"));
    browser.type_into("#name", "Ada Lovelace").await;
    browser.click("button[type=submit]").await;
    browser.text_once("h1", |h1| h1 == "Belts of global").await;
    assert!(browser.text("main").await.contains("another-belt"));
    browser.type_into("#search", "demo").await;
    browser.click(".filters button").await;
    let searched =
        |listed: &str| listed.contains("console-demo") && !listed.contains("another-belt");
    browser.text_once("tbody", searched).await;
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
        &browser,
        &page,
        Duration::from_secs(90),
        "RUNNING with a log line",
    )
    .await;
    if screenshots {
        browser.screenshots("belt").await;
    }
    browser.click("#stop").await;
    // The STOP's answer first: navigating away sooner could abort the form's POST.
    browser
        .text_once("[role=status]", |notice| notice.contains("STOP"))
        .await;
    reload_until(&browser, &page, Duration::from_secs(60), "STOPPED").await;
    browser.close().await;
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
