//! The real binary, as the README runs it: `belt-api serve` on the embedded default (SQLite, dev
//! tokens), `belt-api token`, the curl walkthrough's calls, and a clean exit on SIGTERM.

use std::process::Command;
use std::time::Duration;

use belt_test_support::binary::{Program, Spawn};
use reqwest::StatusCode;
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_belt-api");

/// `belt-api serve` of `belt_test_support::binary`.
pub type Server = Program;

/// Starts `belt-api serve` in `dir` with no configuration but a free port.
fn serve(dir: &std::path::Path) -> Server {
    serve_with(dir, &[])
}

/// Starts `belt-api serve` in `dir` with a free port and `env`; without a data plane unless
/// `env` asks for one (tests/broker.rs runs the embedded broker). Dropped, it is killed outright:
/// the crash tests kill it at chosen moments anyway.
pub fn serve_with(dir: &std::path::Path, env: &[(&str, String)]) -> Server {
    Spawn::serve(BINARY)
        .current_dir(dir)
        .env("BELT_KAFKA_BROKER", "none")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .grace(Duration::ZERO)
        .start()
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
    let log = server.log();
    assert!(
        log.contains("dev mode"),
        "the startup log says dev mode is on"
    );
    assert!(
        !log.contains(&editor[editor.len() - 20..]),
        "no token in the log"
    );
}
