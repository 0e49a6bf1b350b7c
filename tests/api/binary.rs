//! The real binary, as the README runs it: `belt-api serve` on the embedded default (SQLite, dev
//! tokens), `belt-api token`, the curl walkthrough's calls, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_belt-api");

pub struct Server {
    pub child: Child,
    pub address: String,
    pub stderr: std::sync::mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Starts `belt-api serve` in `dir` with no configuration but a free port.
fn serve(dir: &std::path::Path) -> Server {
    serve_with(dir, &[])
}

/// Starts `belt-api serve` in `dir` with a free port and `env`; without a data plane unless
/// `env` asks for one (tests/broker.rs runs the embedded broker).
pub fn serve_with(dir: &std::path::Path, env: &[(&str, String)]) -> Server {
    let mut child = Command::new(BINARY)
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BELT_LISTEN", "127.0.0.1:0")
        .env("BELT_KAFKA_BROKER", "none")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting belt-api serve");
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut address = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while address.is_none() && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(at) = line.find("address=") {
                let rest = &line[at + "address=".len()..];
                address = Some(rest.split_whitespace().next().unwrap().to_string());
            } else if let Some(at) = line.find("\"address\":\"") {
                // BELT_LOG_FORMAT=json
                let rest = &line[at + "\"address\":\"".len()..];
                address = Some(rest[..rest.find('"').unwrap()].to_string());
            }
            seen.push(line);
        }
    }
    let address =
        address.unwrap_or_else(|| panic!("no listening line; stderr:\n{}", seen.join("\n")));
    Server {
        child,
        address,
        stderr: rx,
    }
}

pub fn token(dir: &std::path::Path, role: &str) -> String {
    let output = Command::new(BINARY)
        .args(["token", "--project", "global", "--role", role])
        .current_dir(dir)
        .env_remove("BELT_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn the_readme_walkthrough_runs_on_the_embedded_default_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path());
    assert!(
        dir.path().join("belt-data/belts.db").exists(),
        "SQLite under ./belt-data"
    );
    let editor = token(dir.path(), "editor");
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{}", server.address, path);

    let ready = client.get(url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let created: serde_json::Value = client
        .post(url("/projects/global/belts"))
        .bearer_auth(&editor)
        .json(&json!({"name": "hello-belt", "eventTypes": ["test-a"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("created").to_string();
    let list: serde_json::Value = client
        .get(url("/projects/global/belts"))
        .bearer_auth(&editor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["totalCount"], 1);
    let put = client
        .put(url(&format!("/projects/global/belts/{id}")))
        .bearer_auth(&editor)
        .json(&json!({"name": "hello-belt", "eventTypes": ["test-a"], "replicas": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let deleted = client
        .delete(url(&format!("/projects/global/belts/{id}")))
        .bearer_auth(&editor)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);

    // A viewer token from the same key is accepted for reads only.
    let viewer = token(dir.path(), "viewer");
    let forbidden = client
        .post(url("/projects/global/belts"))
        .bearer_auth(&viewer)
        .json(&json!({"name": "x", "eventTypes": ["a"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);

    // SIGTERM: exit 0.
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    let log: Vec<String> = server.stderr.try_iter().collect();
    let log = log.join("\n");
    assert!(
        log.contains("dev mode"),
        "the startup log says dev mode is on"
    );
    assert!(
        !log.contains(&editor[editor.len() - 20..]),
        "no token in the log"
    );
}
