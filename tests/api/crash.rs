//! kill -9 of the API while belts run or start, then a restart: every belt ends in its desired
//! state with exactly `replicas` replicas, and nothing of the killed API's replicas survives.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::binary::{serve_with, token, Server};

const SCRIPT: &str = "#!/bin/sh\necho \"belt-host: ready\"\nwhile true; do sleep 1; done\n";

/// Pids of replica shells running `script` for belt `id`.
pub(crate) fn replicas_of(script: &str, id: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.starts_with("/bin/sh") || !cmdline.contains(script) {
            continue;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let wanted = format!("BELT_ID={id}");
        if environ
            .split(|b| *b == 0)
            .any(|var| var == wanted.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

fn alive(pid: u32) -> bool {
    // A zombie is dead for our purpose: it runs nothing.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or_default()
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

struct Api {
    server: Server,
    client: reqwest::Client,
    token: String,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.address, path)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status() == StatusCode::OK,
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    async fn start(&self, id: &str) {
        let path = format!("/projects/global/belts/{id}/state");
        self.call(
            reqwest::Method::POST,
            &path,
            Some(json!({"action": "START"})),
        )
        .await;
    }

    async fn wait_for(&self, id: &str, wanted: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = self
                .call(
                    reqwest::Method::GET,
                    &format!("/projects/global/belts/{id}/state"),
                    None,
                )
                .await;
            if state["status"] == wanted {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "belt {id} never became {wanted}: {state}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn start_api(dir: &std::path::Path, script: &str) -> Api {
    let server = serve_with(
        dir,
        &[
            ("BELT_LOCAL_COMMAND", format!("/bin/sh {script}")),
            ("BELT_RECONCILE_INTERVAL_MS", "300".into()),
            // Replicas that outlive a killed API are what recovery must handle. In the bwrap
            // sandbox they die with it (`--die-with-parent`), racing this test's check that
            // they survived; without it they surely survive (tests/sandbox.rs covers bwrap).
            ("BELT_LOCAL_SANDBOX", "none".into()),
        ],
    );
    Api {
        server,
        client: reqwest::Client::new(),
        token: token(dir, "editor"),
    }
}

#[tokio::test]
async fn kill_9_then_restart_restores_each_belt_with_exactly_its_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("replica.sh");
    std::fs::write(&script, SCRIPT).unwrap();
    let script = script.display().to_string();

    let mut first = start_api(dir.path(), &script);
    let mut ids = Vec::new();
    for (name, replicas) in [("steady", 2), ("starting", 1), ("stopped", 1)] {
        let belt = first
            .call(
                reqwest::Method::POST,
                "/projects/global/belts",
                Some(json!({"name": name, "eventTypes": ["a"], "replicas": replicas})),
            )
            .await;
        ids.push(belt["id"].as_str().unwrap().to_string());
    }
    first.start(&ids[0]).await;
    first.wait_for(&ids[0], "RUNNING").await;
    let before = replicas_of(&script, &ids[0]);
    assert_eq!(before.len(), 2, "two replicas before the crash");
    // The second belt is mid-START when the API dies.
    first.start(&ids[1]).await;
    first.server.child.kill().unwrap(); // SIGKILL
    first.server.child.wait().unwrap();
    assert!(
        before.iter().any(|pid| alive(*pid)),
        "replicas outlive a killed API"
    );

    let second = start_api(dir.path(), &script);
    second.wait_for(&ids[0], "RUNNING").await;
    second.wait_for(&ids[1], "RUNNING").await;
    second.wait_for(&ids[2], "STOPPED").await;
    // Let the reconciler run a few more passes: the counts must stay exact.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        before.iter().all(|pid| !alive(*pid)),
        "the killed API's replicas were cleared"
    );
    assert_eq!(replicas_of(&script, &ids[0]).len(), 2);
    assert_eq!(replicas_of(&script, &ids[1]).len(), 1);
    assert_eq!(replicas_of(&script, &ids[2]).len(), 0);

    // SIGTERM: the API stops its replicas and exits 0.
    let mut server = second.server;
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    for id in &ids {
        assert!(
            replicas_of(&script, id).iter().all(|pid| !alive(*pid)),
            "belt {id} replicas stopped"
        );
    }
}
