//! Test-invoke within a fair share (issue 18): one project cannot take every slot; a run's
//! memory is bounded as a whole (tmpfs and forked children too); virtualenvs are kept per project
//! within a disk budget and go with the belts that used them.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    another_project_finds_a_slot_while_one_holds_its_share,
    memory_held_in_tmpfs_or_children_ends_memory_exceeded,
    without_a_cgroup_each_tmpfs_is_sized_to_the_limit,
    a_run_forks_no_more_than_its_processes,
);

async fn app_with(backend: Backend, args: &[(&str, &str)]) -> TestApp {
    TestApp::spawn_dev_with_args(backend, args).await
}

const CALLBACK: &str = "def execute(headers, event):\n    return {'keys': ['k']}\n";

async fn belt_in(app: &TestApp, project: &str) -> String {
    let mut body = minimal_belt(&format!("limits-{}", unique_suffix()));
    body["extractorFn"] = json!(CALLBACK);
    let created = app.create_belt(project, &body).await;
    created["id"].as_str().unwrap().to_string()
}

async fn invoke(app: &TestApp, project: &str, id: &str, body: &Value) -> (StatusCode, Value) {
    let path = format!("/projects/{project}/belts/{id}/invoke");
    let token = app.token(project, &["editor"]);
    json_of(app.post(&path, &token, body).await).await
}

async fn invoked(app: &TestApp, project: &str, id: &str, body: &Value) -> Value {
    let (status, answer) = invoke(app, project, id, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

fn one_event() -> Value {
    json!([{"event": {"id": 1}}])
}

async fn healthy(app: &TestApp) {
    let health = app
        .request(reqwest::Method::GET, "/health", None)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

async fn another_project_finds_a_slot_while_one_holds_its_share(backend: Backend) {
    // The defaults: 2 slots in all, so 1 per project.
    let app = app_with(backend, &[("--invoke-timeout-ms", "6000")]).await;
    let (a, b) = (belt_in(&app, "team-a").await, belt_in(&app, "team-b").await);
    let slow = "import time\ndef execute(headers, event):\n    time.sleep(3)\n    return {'keys': ['slow']}\n";
    let slow_body = json!({"events": one_event(), "extractorFn": slow});
    let held = invoke(&app, "team-a", &a, &slow_body);
    let others = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let path = format!("/projects/team-a/belts/{a}/invoke");
        let token = app.token("team-a", &["editor"]);
        let again = app
            .post(&path, &token, &json!({"events": one_event()}))
            .await;
        let retry_after = again.headers().get("retry-after").cloned();
        let message = assert_error(again, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
        let (status, answer) = invoke(&app, "team-b", &b, &json!({"events": one_event()})).await;
        (retry_after, message, status, answer)
    };
    let ((status_a, answer_a), (retry_after, message, status_b, answer_b)) =
        tokio::join!(held, others);
    assert_eq!(status_a, StatusCode::OK, "{answer_a}");
    assert_eq!(answer_a["outcome"], "completed", "{answer_a}");
    let retry_after: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=6).contains(&retry_after), "{retry_after}");
    assert!(message.contains("this project"), "{message}");
    assert_eq!(
        status_b,
        StatusCode::OK,
        "B was refused while A held its share: {answer_b}"
    );
    assert_eq!(answer_b["outcome"], "completed", "{answer_b}");
}

/// Holds ever more memory in a file of `dir` (a private tmpfs of the sandbox), far past the
/// limit, 16 MiB at a time; answers how much it wrote if nothing stopped it.
fn filling(dir: &str) -> String {
    format!(
        "def execute(headers, event):\n    chunk = b'x' * (16 << 20)\n    written = 0\n    with open('{dir}/hog', 'wb') as f:\n        while written < (1 << 30):\n            f.write(chunk)\n            f.flush()\n            written += len(chunk)\n    return {{'keys': [str(written >> 20)]}}\n"
    )
}

/// Three forked children, each under the per-process limit, past it together, at once.
const CHILDREN: &str = "import os, time\ndef execute(headers, event):\n    pids = []\n    for _ in range(3):\n        pid = os.fork()\n        if pid == 0:\n            hold = b'x' * (120 << 20)\n            time.sleep(3)\n            os._exit(0)\n        pids.append(pid)\n    codes = [os.waitpid(pid, 0)[1] for pid in pids]\n    return {'keys': [str(codes)]}\n";

async fn memory_held_in_tmpfs_or_children_ends_memory_exceeded(backend: Backend) {
    let app = app_with(backend, &[("--invoke-memory-mb", "256")]).await;
    let id = belt_in(&app, "global").await;
    for (what, draft) in [
        ("/dev/shm", filling("/dev/shm")),
        ("/tmp", filling("/tmp")),
        ("3 children", CHILDREN.to_string()),
    ] {
        let body = json!({"events": one_event(), "extractorFn": draft});
        let answer = invoked(&app, "global", &id, &body).await;
        assert_eq!(answer["outcome"], "memoryExceeded", "{what}: {answer}");
        // Whichever process the OOM killer chose: the runner (the event ends there), or one
        // child (cgroup v1: the runner sees it killed, SIGKILL, and answers).
        let result = &answer["results"][0];
        let killed_child = result["updates"][0]["key"]
            .as_str()
            .is_some_and(|codes| codes.contains('9'));
        assert!(
            result["error"]["type"] == "MemoryExceeded" || killed_child,
            "{what}: {answer}"
        );
        healthy(&app).await;
    }
    let again = invoked(&app, "global", &id, &json!({"events": one_event()})).await;
    assert_eq!(again["outcome"], "completed", "{again}");
}

async fn without_a_cgroup_each_tmpfs_is_sized_to_the_limit(backend: Backend) {
    let app = app_with(
        backend,
        &[("--invoke-memory-mb", "128"), ("--invoke-cgroup", "none")],
    )
    .await;
    let id = belt_in(&app, "global").await;
    for dir in ["/dev/shm", "/tmp"] {
        let draft = format!(
            "def execute(headers, event):\n    chunk = b'x' * (1 << 20)\n    written = 0\n    try:\n        with open('{dir}/hog', 'wb') as f:\n            while written < (512 << 20):\n                f.write(chunk)\n                f.flush()\n                written += len(chunk)\n    except OSError as error:\n        return {{'keys': [str(written >> 20)], 'errno': error.errno}}\n    return {{'keys': [str(written >> 20)]}}\n"
        );
        let body = json!({"events": one_event(), "extractorFn": draft});
        let answer = invoked(&app, "global", &id, &body).await;
        let update = &answer["results"][0]["updates"][0];
        let mib: u64 = update["key"].as_str().unwrap().parse().unwrap();
        assert!(
            (64..=128).contains(&mib),
            "{dir}: wrote {mib} MiB: {answer}"
        );
        assert_eq!(update["value"]["errno"], 28, "ENOSPC in {dir}: {answer}");
    }
    healthy(&app).await;
}

/// Forks up to 40 sleeping children, stopping at the first refusal; answers how many ran.
const FORKING: &str = "import os, time\ndef execute(headers, event):\n    pids = []\n    try:\n        for _ in range(40):\n            pid = os.fork()\n            if pid == 0:\n                time.sleep(2)\n                os._exit(0)\n            pids.append(pid)\n    except OSError:\n        pass\n    for pid in pids:\n        os.waitpid(pid, 0)\n    return {'keys': [str(len(pids))]}\n";

async fn a_run_forks_no_more_than_its_processes(backend: Backend) {
    let app = app_with(backend, &[("--invoke-pids", "16")]).await;
    let id = belt_in(&app, "global").await;
    let body = json!({"events": one_event(), "extractorFn": FORKING});
    let answer = invoked(&app, "global", &id, &body).await;
    let forked: u64 = answer["results"][0]["updates"][0]["key"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{answer}"));
    // The runner, bwrap and the shell count too.
    assert!((1..16).contains(&forked), "{forked} children: {answer}");
    healthy(&app).await;
}
