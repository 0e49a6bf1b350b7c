//! Graceful shutdown of the real binary (docs/api.md#process-and-service-endpoints): SIGTERM while
//! 200 requests are in flight (open watches and log follows, slow test-invokes, and quick reads and
//! writes arriving before, during and after the signal). Every request is answered in full or
//! refused (503 with `Retry-After`, or no connection once the listener is closed); none is cut off;
//! streams end with their `end` line; the process exits 0 within its grace period. And when
//! something hangs past the grace period, the process exits anyway and says what it cut.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::Semaphore;

use crate::backend_tests;
use crate::binary::{serve_with, token, Server};
use crate::helpers::*;

backend_tests!(
    sigterm_during_200_requests_cuts_none_and_exits_within_the_grace_period,
    a_request_that_outlives_the_grace_period_is_cut_and_the_process_exits,
);

/// A replica that gets ready and then writes a line every 200 ms until it is stopped.
const REPLICA: &str = "echo 'belt-host: ready'\nwhile true; do echo tick; sleep 0.2; done\n";

/// A callback that takes `seconds` per event.
fn slow_callback(seconds: u64) -> String {
    format!(
        "import time\ndef execute(headers, event):\n    time.sleep({seconds})\n    \
         return {{'keys': [str(event['id'])], 'type': 't', 'values': [{{}}]}}\n"
    )
}

struct Fixture {
    server: Server,
    _dir: TempDir,
    editor: String,
    base: String,
    /// A belt that runs (its logs are followed).
    running: String,
    /// A belt whose callback is slow (it is test-invoked).
    slow: String,
    /// Belts to read.
    stored: Vec<String>,
}

async fn start(backend: Backend, grace: &str, invoke_seconds: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let replica = dir.path().join("replica.sh");
    std::fs::write(&replica, REPLICA).unwrap();
    let mut env = vec![
        ("BELT_SHUTDOWN_GRACE", grace.to_string()),
        (
            "BELT_LOCAL_COMMAND",
            format!("/bin/sh {}", replica.display()),
        ),
        ("BELT_LOCAL_SANDBOX", "none".into()),
        ("BELT_LOCAL_STOP_GRACE_MS", "1000".into()),
        ("BELT_RECONCILE_INTERVAL_MS", "500".into()),
        ("BELT_INVOKE_CONCURRENCY", "8".into()),
        ("BELT_INVOKE_TIMEOUT_MS", "120000".into()),
        ("BELT_STREAMS_PER_CALLER", "64".into()),
    ];
    if backend == Backend::Postgres {
        env.push(("BELT_DATABASE_URL", fresh_postgres_database().await));
    }
    let server = serve_with(dir.path(), &env);
    let editor = token(dir.path(), "editor");
    let base = server.address.clone();
    let client = reqwest::Client::new();
    let create = |body: Value| {
        let request = client.post(format!("{base}/projects/global/belts"));
        let request = request.bearer_auth(&editor).json(&body);
        async move { request.send().await.unwrap() }
    };
    let mut stored = Vec::new();
    for n in 0..20 {
        let (status, belt) = json_of(create(minimal_belt(&format!("stored-{n}"))).await).await;
        assert_eq!(status, StatusCode::OK, "{belt}");
        stored.push(belt["id"].as_str().unwrap().to_string());
    }
    let mut slow = minimal_belt("slow");
    slow["extractorFn"] = json!(slow_callback(invoke_seconds));
    let (_, slow) = json_of(create(slow).await).await;
    let (_, running) = json_of(create(minimal_belt("running")).await).await;
    let running = running["id"].as_str().unwrap().to_string();
    let state = format!("{base}/projects/global/belts/{running}/state");
    let started = client.post(&state).bearer_auth(&editor);
    let started = started.json(&json!({"action": "START"})).send().await;
    assert_eq!(started.unwrap().status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let asked = client
            .get(&state)
            .bearer_auth(&editor)
            .send()
            .await
            .unwrap();
        let (_, body) = json_of(asked).await;
        if body["status"] == "RUNNING" {
            break;
        }
        assert!(Instant::now() < deadline, "never RUNNING: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Fixture {
        server,
        _dir: dir,
        editor,
        base,
        running,
        slow: slow["id"].as_str().unwrap().to_string(),
        stored,
    }
}

/// What a request came to, when that is acceptable; why not, otherwise.
type Verdict = Result<&'static str, String>;

/// A whole answer: 2xx with a whole JSON body, or 503 with `Retry-After` and the error body.
async fn judge(response: reqwest::Response) -> Verdict {
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("{status}: body cut: {e:?}"))?;
    let json: Value = serde_json::from_slice(&body)
        .map_err(|e| format!("{status}: not a whole JSON body ({e}): {body:?}"))?;
    match status {
        s if s.is_success() => Ok("answered"),
        StatusCode::SERVICE_UNAVAILABLE if retry_after && json["type"] == "service_unavailable" => {
            Ok("refused with 503")
        }
        other => Err(format!("{other}: {json}")),
    }
}

/// An open stream read to its end: its last line must say the server is shutting down.
async fn judge_stream(response: reqwest::Response) -> Verdict {
    if response.status() != StatusCode::OK {
        return judge(response).await;
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("stream cut: {e:?}"))?;
    let text = String::from_utf8_lossy(&body);
    let last = text.lines().last().unwrap_or_default();
    let last: Value = serde_json::from_str(last).map_err(|e| format!("{e}: {text}"))?;
    if !text.ends_with('\n') || last != json!({"type": "end", "reason": "server shutting down"}) {
        return Err(format!("the stream did not end with its end line: {text}"));
    }
    Ok("stream ended with its end line")
}

/// A request that found no connection is acceptable only once the signal was sent: the listener
/// was closed, and nothing had reached the server.
fn not_sent(err: reqwest::Error, signalled: &AtomicBool) -> Verdict {
    if err.is_connect() && signalled.load(Ordering::SeqCst) {
        Ok("not connected: the listener was closed")
    } else {
        Err(format!("{err:?}"))
    }
}

/// Sends SIGTERM and answers how long the process took to exit, and how.
async fn terminate(server: &mut Server, within: Duration) -> (Duration, std::process::ExitStatus) {
    let pid = server.child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(sent.unwrap().success());
    let signalled = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return (signalled.elapsed(), status);
        }
        assert!(
            signalled.elapsed() < within,
            "still running {within:?} after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stderr_of(server: &Server) -> String {
    server.log()
}

async fn sigterm_during_200_requests_cuts_none_and_exits_within_the_grace_period(backend: Backend) {
    let grace = Duration::from_secs(10);
    let mut fixture = start(backend, "10s", 2).await;
    let fixture_ref = &fixture;
    // No reuse of idle connections: what is measured is the server's side (a client that sends on
    // an idle keep-alive connection just as a server closes it races it, whatever the server).
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let signalled = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(Semaphore::new(0));
    let (base, editor) = (fixture_ref.base.clone(), fixture_ref.editor.clone());
    let mut tasks = tokio::task::JoinSet::new();
    // 20 streams and 6 invokes of 2 s each, open before the signal.
    for n in 0..26 {
        let (client, opened, base, editor) =
            (client.clone(), opened.clone(), base.clone(), editor.clone());
        let path = match n {
            0..10 => "/projects/global/watch".to_string(),
            10..20 => format!(
                "/projects/global/belts/{}/logs?follow=true",
                fixture_ref.running
            ),
            _ => format!("/projects/global/belts/{}/invoke", fixture_ref.slow),
        };
        tasks.spawn(async move {
            let request = if n < 20 {
                client.get(format!("{base}{path}"))
            } else {
                let events = json!({"events": [{"headers": {}, "event": {"id": n}}]});
                client.post(format!("{base}{path}")).json(&events)
            };
            let response = request.bearer_auth(&editor).send().await;
            if n >= 20 {
                // An invoke's headers come with its answer: it is in flight until then.
                let answered = judge(response.map_err(|e| format!("{path}: {e:?}"))?).await?;
                return Ok(if answered == "answered" {
                    "invoke answered"
                } else {
                    answered
                });
            }
            opened.add_permits(1);
            judge_stream(response.map_err(|e| format!("{path}: {e:?}"))?).await
        });
    }
    let _ = opened.acquire_many(20).await.unwrap();
    // 174 quick reads and writes, spread over 400 ms from now: before, during and after the signal.
    for n in 0..174u64 {
        let (client, signalled, base, editor) = (
            client.clone(),
            signalled.clone(),
            base.clone(),
            editor.clone(),
        );
        let id = fixture_ref.stored[n as usize % fixture_ref.stored.len()].clone();
        tasks.spawn(async move {
            tokio::time::sleep(Duration::from_millis(n * 400 / 174)).await;
            let request = match n % 4 {
                0 => client.get(format!("{base}/projects/global/belts?pagesize=50")),
                1 => client.get(format!("{base}/projects/global/belts/{id}")),
                2 => client.get(format!("{base}/projects/global/belts/{id}/state")),
                _ => client
                    .post(format!("{base}/projects/global/belts"))
                    .json(&minimal_belt(&format!("quick-{n}"))),
            };
            match request.bearer_auth(&editor).send().await {
                Ok(response) => judge(response).await,
                Err(err) => not_sent(err, &signalled),
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    signalled.store(true, Ordering::SeqCst);
    let (took, status) = terminate(&mut fixture.server, grace + Duration::from_secs(5)).await;
    let mut verdicts = std::collections::BTreeMap::<&str, usize>::new();
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Ok(verdict) => *verdicts.entry(verdict).or_default() += 1,
            Err(why) => failures.push(why),
        }
    }
    let log = stderr_of(&fixture.server);
    eprintln!("SIGTERM with 200 requests in flight, exit after {took:?}: {verdicts:?}");
    assert!(failures.is_empty(), "{failures:#?}\n{verdicts:?}\n{log}");
    assert_eq!(verdicts.values().sum::<usize>(), 200);
    assert_eq!(
        verdicts["stream ended with its end line"], 20,
        "{verdicts:?}"
    );
    assert_eq!(verdicts["invoke answered"], 6, "{verdicts:?}");
    assert!(status.success(), "exit status {status}\n{log}");
    assert!(took < grace, "took {took:?}\n{log}");
    assert!(
        !log.contains("grace period is over"),
        "nothing was cut: {log}"
    );
}

async fn a_request_that_outlives_the_grace_period_is_cut_and_the_process_exits(backend: Backend) {
    let mut fixture = start(backend, "2", 20).await;
    let client = reqwest::Client::new();
    let path = format!(
        "{}/projects/global/belts/{}/invoke",
        fixture.base, fixture.slow
    );
    let events = json!({"events": [{"headers": {}, "event": {"id": 1}}]});
    let request = client.post(path).bearer_auth(&fixture.editor).json(&events);
    let hanging = tokio::spawn(request.send());
    // The invoke is under way (its sandbox process started) before the signal.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (took, status) = terminate(&mut fixture.server, Duration::from_secs(10)).await;
    let log = stderr_of(&fixture.server);
    assert!(status.success(), "exit status {status}\n{log}");
    // Requests get four fifths of the grace period, the replicas' stop the rest.
    assert!(
        took >= Duration::from_millis(1500),
        "it waited for the request: {took:?}"
    );
    assert!(took < Duration::from_millis(2500), "took {took:?}\n{log}");
    assert!(
        log.contains("the grace period is over"),
        "the log says what was cut: {log}"
    );
    assert!(
        hanging.await.unwrap().is_err(),
        "the hanging request was cut"
    );
}
