//! Streams end with their token and have a share (docs/api.md#streams): a watch and a log follow
//! opened with a token that expires in 5 s send a last `end` line and close within 1 s of its
//! `exp`; one caller's streams beyond `--streams-per-caller`, and all callers' beyond
//! `--streams-per-server`, answer 429 with `Retry-After`; a closed stream frees its slot.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use crate::running::{act, spawn_running_app, wait_for};

backend_tests!(
    a_watch_ends_within_a_second_of_its_token_expiry,
    a_log_follow_ends_within_a_second_of_its_token_expiry,
    one_caller_past_its_share_gets_429_until_a_stream_closes,
    all_callers_past_the_server_share_get_429,
);

/// A token of caller `sub` with `editor` in `global` that expires `secs` from now, and its `exp`.
fn token_of(app: &TestApp, sub: &str, secs: i64) -> (String, i64) {
    let idp = app.idp.as_ref().expect("an identity provider");
    let mut claims = keycloak_claims(&idp.issuer(), "global", &["editor"]);
    let exp = now() + secs;
    claims["sub"] = json!(sub);
    claims["exp"] = json!(exp);
    (sign_with("rsa-a", &claims), exp)
}

fn epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

async fn open(app: &TestApp, path: &str, token: &str) -> Response {
    app.request(Method::GET, path, Some(token))
        .send()
        .await
        .unwrap()
}

/// Reads the stream to its end; the lines, and when it ended (seconds since the epoch).
async fn read_to_end(mut response: Response, within: Duration) -> (Vec<Value>, f64) {
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = response.chunk().await.unwrap() {
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    tokio::time::timeout(within, read)
        .await
        .expect("the stream did not end");
    let ended = epoch_seconds();
    let lines = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (lines, ended)
}

fn assert_ends_at_expiry(lines: &[Value], ended: f64, exp: i64) {
    assert_eq!(
        lines.last(),
        Some(&json!({"type": "end", "reason": "token expired"})),
        "{lines:?}"
    );
    let late = ended - exp as f64;
    assert!((-0.05..=1.0).contains(&late), "ended {late:.3} s after exp");
}

async fn a_watch_ends_within_a_second_of_its_token_expiry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, exp) = token_of(&app, "watcher", 5);
    let response = open(&app, "/projects/global/watch", &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Events keep coming while it is open: the stream is alive, not idle-closed.
    app.create_belt("global", &minimal_belt("seen")).await;
    let (lines, ended) = read_to_end(response, Duration::from_secs(10)).await;
    assert_eq!(lines[0]["type"], "bookmark", "{lines:?}");
    assert!(
        lines.iter().any(|line| line["type"] == "event"),
        "{lines:?}"
    );
    assert_ends_at_expiry(&lines, ended, exp);
}

async fn a_log_follow_ends_within_a_second_of_its_token_expiry(backend: Backend) {
    let app = spawn_running_app(backend).await;
    let id = app.create_belt("global", &minimal_belt("talker")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    act(&app, &id, "START").await;
    wait_for(&app, &id, "RUNNING").await;
    let (token, exp) = token_of(&app, "follower", 5);
    let path = format!("/projects/global/belts/{id}/logs?follow=true&lines=1");
    let response = open(&app, &path, &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (lines, ended) = read_to_end(response, Duration::from_secs(10)).await;
    // The replica writes a line a second: the follow delivered them until the end.
    assert!(lines.len() >= 4, "{lines:?}");
    assert!(lines[0]["pod"].is_string(), "{lines:?}");
    assert_ends_at_expiry(&lines, ended, exp);
}

async fn refused_as_busy(response: Response, share: &str) {
    let retry_after = response.headers().get("retry-after").cloned();
    let message = assert_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    assert!(message.contains(share), "{message}");
    let seconds: u64 = retry_after
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(seconds >= 1, "{seconds}");
}

async fn capped_app(backend: Backend) -> TestApp {
    let args = [("--streams-per-caller", "2"), ("--streams-per-server", "3")];
    let args = args.map(|(flag, value)| (flag.to_string(), value.to_string()));
    let options = Options {
        args: args.to_vec(),
        ..Default::default()
    };
    TestApp::spawn_with(backend, options).await
}

async fn one_caller_past_its_share_gets_429_until_a_stream_closes(backend: Backend) {
    let app = capped_app(backend).await;
    let (token, _) = token_of(&app, "greedy", 600);
    let watch = "/projects/global/watch";
    let first = open(&app, watch, &token).await;
    let second = open(&app, watch, &token).await;
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    // Cap + 1, whatever the stream: a follow counts as a watch does.
    refused_as_busy(open(&app, watch, &token).await, "caller").await;
    let id = app.create_belt("global", &minimal_belt("b")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let follow = format!("/projects/global/belts/{id}/logs?follow=true");
    refused_as_busy(open(&app, &follow, &token).await, "caller").await;
    // Another caller is not held back by this one's share.
    let (other, _) = token_of(&app, "modest", 600);
    assert_eq!(open(&app, watch, &other).await.status(), StatusCode::OK);

    drop(first);
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        let again = open(&app, watch, &token).await;
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the closed stream's slot was not freed within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(second);
}

async fn all_callers_past_the_server_share_get_429(backend: Backend) {
    let app = capped_app(backend).await;
    let watch = "/projects/global/watch";
    let mut open_streams = Vec::new();
    for caller in ["a", "b", "c"] {
        let (token, _) = token_of(&app, caller, 600);
        let response = open(&app, watch, &token).await;
        assert_eq!(response.status(), StatusCode::OK, "{caller}");
        open_streams.push(response);
    }
    let (token, _) = token_of(&app, "d", 600);
    refused_as_busy(open(&app, watch, &token).await, "server").await;
    // A refused stream took no slot, and one that closes frees its own.
    open_streams.pop();
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while open(&app, watch, &token).await.status() != StatusCode::OK {
        assert!(std::time::Instant::now() < deadline, "never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
