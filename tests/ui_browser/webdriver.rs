//! A tiny WebDriver client (W3C WebDriver, plain JSON over HTTP) and chromedriver started on a free
//! port: the console's browser tests drive headless Chromium through it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// WebDriver's key for an element reference (W3C WebDriver §12.1).
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver on a free port, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

pub async fn start_driver(http: &reqwest::Client) -> Driver {
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
pub struct Browser {
    http: reqwest::Client,
    session: String,
}

impl Browser {
    pub async fn open(http: &reqwest::Client, driver: &Driver) -> Browser {
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

    /// One WebDriver command; a WebDriver error fails the test with what the page showed (see
    /// [`Browser::fail`]).
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        match self.try_call(method, path, body).await {
            Ok(value) => value,
            Err(answer) => match self.fail(&format!("WebDriver {path}: {answer}")).await {},
        }
    }

    /// One WebDriver command: its value, or the whole answer when WebDriver reports an error.
    async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"]["error"].is_null() {
            Ok(answer["value"].clone())
        } else {
            // chromedriver's own stack of bare addresses says nothing to the reader of a failure.
            let mut answer = answer;
            answer["value"]
                .as_object_mut()
                .map(|v| v.remove("stacktrace"));
            Err(answer)
        }
    }

    /// Fails the test with `message`, the page's address and text, and a screenshot saved under
    /// `target/ui-browser-failures/`. Never returns (`match browser.fail(..).await {}`): a browser test that fails only now and then under load
    /// leaves what the page showed at that moment, not just the assertion.
    pub async fn fail(&self, message: &str) -> std::convert::Infallible {
        let url = self.try_call(reqwest::Method::GET, "/url", None).await;
        let script =
            json!({"script": "return document.body ? document.body.innerText : ''", "args": []});
        let text = (self.try_call(reqwest::Method::POST, "/execute/sync", Some(script))).await;
        let shot = self
            .try_call(reqwest::Method::GET, "/screenshot", None)
            .await;
        let saved = shot.ok().and_then(|png| save_failure_screenshot(&png));
        panic!(
            "{message}\n  page: {}\n  screenshot: {}\n  page text:\n{}",
            url.map_or_else(|e| e.to_string(), |u| u.to_string()),
            saved.as_deref().unwrap_or("(none)"),
            text.map_or_else(
                |e| e.to_string(),
                |t| t.as_str().unwrap_or_default().to_string()
            ),
        )
    }

    pub async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn find(&self, css: &str) -> String {
        let found = json!({"using": "css selector", "value": css});
        let element = self
            .call(reqwest::Method::POST, "/element", Some(found))
            .await;
        let id = element[ELEMENT].as_str();
        id.unwrap_or_else(|| panic!("no element {css}: {element}"))
            .to_string()
    }

    pub async fn count(&self, css: &str) -> usize {
        let found = json!({"using": "css selector", "value": css});
        let all = self
            .call(reqwest::Method::POST, "/elements", Some(found))
            .await;
        all.as_array().map_or(0, Vec::len)
    }

    pub async fn click(&self, css: &str) {
        self.on_element(css, "click", reqwest::Method::POST, Some(json!({})))
            .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, "clear", reqwest::Method::POST, Some(json!({})))
            .await;
        let text = json!({ "text": text });
        self.on_element(css, "value", reqwest::Method::POST, Some(text))
            .await;
    }

    /// `command` on the element `css` finds. A page script (the live stream, a fragment refresh)
    /// may replace the element between the find and the command: WebDriver then answers "stale
    /// element reference", and the element is found again, a few times at most.
    async fn on_element(
        &self,
        css: &str,
        command: &str,
        method: reqwest::Method,
        body: Option<Value>,
    ) -> Value {
        let mut attempts = 0;
        loop {
            let id = self.find(css).await;
            let path = format!("/element/{id}/{command}");
            match self.try_call(method.clone(), &path, body.clone()).await {
                Ok(value) => return value,
                Err(answer)
                    if answer["value"]["error"] == "stale element reference" && attempts < 5 =>
                {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(answer) => {
                    let message = format!("WebDriver {css} {command}: {answer}");
                    match self.fail(&message).await {}
                }
            }
        }
    }

    pub async fn text(&self, css: &str) -> String {
        let text = self
            .on_element(css, "text", reqwest::Method::GET, None)
            .await;
        text.as_str().unwrap_or_default().to_string()
    }

    /// The text of `css` once `wanted` holds for it: a click that navigates returns before the
    /// next page is there, so what the old page says (or a stale element) is waited out.
    pub async fn text_once(&self, css: &str, wanted: impl Fn(&str) -> bool) -> String {
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
            if Instant::now() >= deadline {
                let message = format!("{css} never as wanted; last: {text:?}");
                match self.fail(&message).await {}
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn resize(&self, width: u32, height: u32) {
        let rect = json!({"width": width, "height": height});
        self.call(reqwest::Method::POST, "/window/rect", Some(rect))
            .await;
    }

    /// A PNG of the viewport at each width, written to `docs/screenshots/{name}-{width}.png`.
    pub async fn screenshots(&self, name: &str) {
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

    /// Runs `script` in the page (W3C WebDriver "Execute Script") and answers what it returns.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        let body = json!({"script": script, "args": args});
        self.call(reqwest::Method::POST, "/execute/sync", Some(body))
            .await
    }

    /// Runs `script` in the page as W3C WebDriver "Execute Async Script": the script calls its last
    /// argument with the result.
    pub async fn execute_async(&self, script: &str, args: Value) -> Value {
        let body = json!({"script": script, "args": args});
        self.call(reqwest::Method::POST, "/execute/async", Some(body))
            .await
    }

    pub async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

/// Writes a failure's screenshot (WebDriver's base64 PNG) under `target/ui-browser-failures/`;
/// answers its path.
fn save_failure_screenshot(png: &Value) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(png.as_str()?)
        .ok()?;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-browser-failures");
    std::fs::create_dir_all(&dir).ok()?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let path = dir.join(format!("{stamp}-{}.png", std::process::id()));
    std::fs::write(&path, bytes).ok()?;
    Some(path.display().to_string())
}
