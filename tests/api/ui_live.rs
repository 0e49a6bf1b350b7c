//! The console's live streams (docs/console.md, src/http/ui/live.rs), over HTTP as the browser's
//! `EventSource` reads them: a session is needed; a START made through the API arrives as a
//! status event with the belt's id and status; the stream resumes after `Last-Event-ID`; a
//! viewer gets the status stream but a 403 for the log stream; an editor's log stream carries
//! the replica's ready line; the stream ends when the session signs out; the caller's stream
//! share holds (429 with `Retry-After`).

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use crate::ui::{hidden, Browser};

backend_tests!(
    the_status_stream_needs_a_session_and_carries_a_start_made_through_the_api,
    a_viewer_gets_statuses_but_no_logs_and_an_editor_follows_the_ready_line,
    the_stream_ends_when_the_session_signs_out,
    one_session_past_its_stream_share_gets_429,
);

/// A replica that gets ready at once, then says so every 200 ms.
const REPLICA: &str = r#"#!/bin/sh
echo "belt-host: ready"
while true; do echo "tick"; sleep 0.2; done
"#;

/// Dev sign-in (the console's), replicas of [`REPLICA`] on the local runtime, `more` flags.
pub async fn console_app(backend: Backend, more: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap().keep();
    let script = dir.join("replica.sh");
    std::fs::write(&script, REPLICA).unwrap();
    let command = format!("/bin/sh {}", script.display());
    let mut args = vec![
        ("--local-command", command.as_str()),
        ("--reconcile-interval-ms", "500"),
        ("--local-stop-grace-ms", "2000"),
    ];
    args.extend_from_slice(more);
    TestApp::spawn_dev_with_args(backend, &args).await
}

/// One server-sent event.
#[derive(Debug, Default, Clone)]
pub struct Sse {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl Sse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|_| panic!("{self:?}"))
    }
}

/// An open event stream, read event by event (ui_live_state.rs reads its streams so too).
pub struct Events {
    response: Response,
    pending: String,
}

impl Events {
    pub async fn open(browser: &Browser<'_>, path: &str, last_event_id: Option<&str>) -> Response {
        let mut request = (browser.app.client)
            .get(format!("{}{path}", browser.app.address))
            .header(COOKIE, &browser.cookie)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        request.send().await.unwrap()
    }

    pub fn of(response: Response) -> Events {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
        Events {
            response,
            pending: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped); `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let mut event = Sse::default();
                for line in block.lines() {
                    match line.split_once(':') {
                        Some(("event", value)) => event.event = value.trim().to_string(),
                        Some(("id", value)) => event.id = Some(value.trim().to_string()),
                        Some(("data", value)) => event.data.push_str(value.trim_start()),
                        _ => {}
                    }
                }
                if !event.event.is_empty() || !event.data.is_empty() {
                    return Some(event);
                }
                continue;
            }
            let chunk = self.response.chunk().await.unwrap()?;
            self.pending.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Events until one `wanted` says is it, within `limit`.
    pub async fn until(&mut self, limit: Duration, wanted: impl Fn(&Sse) -> bool) -> Sse {
        let find = async {
            loop {
                let event = self.next().await.expect("the stream ended first");
                if wanted(&event) {
                    return event;
                }
            }
        };
        tokio::time::timeout(limit, find)
            .await
            .expect("no such event in time")
    }
}

pub async fn start(app: &TestApp, id: &str) {
    let path = format!("/projects/global/belts/{id}/state");
    let response = app
        .post(&path, &app.editor(), &json!({"action": "START"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn the_status_stream_needs_a_session_and_carries_a_start_made_through_the_api(
    backend: Backend,
) {
    let app = console_app(backend, &[]).await;
    let created = app.create_belt("global", &minimal_belt("live-a")).await;
    let id = created["id"].as_str().unwrap();
    let path = "/ui/projects/global/belts/events";
    // Without a session: sent to sign in, never a stream.
    let stranger = Browser {
        app: &app,
        cookie: String::new(),
    };
    let refused = Events::open(&stranger, path, None).await;
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    assert_eq!(refused.headers()[LOCATION], "/ui/login");
    let forged = Browser {
        app: &app,
        cookie: "belt_session=forged".into(),
    };
    let refused = Events::open(&forged, path, None).await;
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);

    let browser = Browser::sign_in(&app, "global", "viewer").await;
    let mut events = Events::of(Events::open(&browser, path, None).await);
    let bookmark = events.next().await.unwrap();
    assert_eq!(bookmark.event, "bookmark", "{bookmark:?}");
    start(&app, id).await;
    let started = events
        .until(Duration::from_secs(10), |e| e.event == "status")
        .await;
    let change = started.json();
    assert_eq!(change["belt"], id, "{change}");
    assert_eq!(change["status"], "DEPLOYING", "{change}");
    assert_eq!(change["version"], 1, "{change}");
    assert_eq!(change["action"], "started", "{change}");
    // The replica gets ready: the status controller's change comes through too.
    let running = events
        .until(Duration::from_secs(30), |e| {
            e.event == "status" && e.json()["status"] == "RUNNING"
        })
        .await;
    assert_eq!(running.json()["belt"], id);
    drop(events);

    // The browser reconnects with the last id it saw: what happened since comes first.
    let stop = app
        .post(
            &format!("/projects/global/belts/{id}/state"),
            &app.editor(),
            &json!({"action": "STOP"}),
        )
        .await;
    assert_eq!(stop.status(), StatusCode::OK);
    let resumed = Events::open(&browser, path, running.id.as_deref()).await;
    let mut resumed = Events::of(resumed);
    let stopped = resumed.next().await.unwrap();
    assert_eq!(
        stopped.event, "status",
        "no bookmark on a resume: {stopped:?}"
    );
    assert_eq!(stopped.json()["action"], "stopped", "{stopped:?}");
    let after: i64 = running.id.unwrap().parse().unwrap();
    assert!(stopped.id.unwrap().parse::<i64>().unwrap() > after);
    // The watch's role check: another project's stream is refused, as its API watch is.
    let elsewhere = Events::open(&browser, "/ui/projects/other/belts/events", None).await;
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN);
    let bad = Events::open(&browser, path, Some("yesterday")).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("Last-Event-ID"));
}

async fn a_viewer_gets_statuses_but_no_logs_and_an_editor_follows_the_ready_line(backend: Backend) {
    let app = console_app(backend, &[]).await;
    let created = app.create_belt("global", &minimal_belt("live-b")).await;
    let id = created["id"].as_str().unwrap();
    let logs = format!("/ui/projects/global/belts/{id}/logs/events");
    let one_belt = format!("/ui/projects/global/belts/events?belt={id}");
    let viewer = Browser::sign_in(&app, "global", "viewer").await;
    let (_, page) = viewer.get(&format!("/ui/projects/global/belts/{id}")).await;
    assert!(page.contains("data-events="), "the page subscribes: {page}");
    assert!(
        !page.contains("data-logs="),
        "no log stream for a viewer: {page}"
    );
    // The script is ours, embedded under a name of its content, cached for good.
    let script = page
        .split("<script src=\"")
        .find(|rest| rest.starts_with("/ui/assets/live-"))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no live script: {page}"));
    let asset = (app.client)
        .get(format!("{}{script}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), StatusCode::OK);
    assert!(asset.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert!(asset.text().await.unwrap().contains("EventSource"));
    Events::of(Events::open(&viewer, &one_belt, None).await);
    let refused = Events::open(&viewer, &logs, None).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("missing roles"));

    let editor = Browser::sign_in(&app, "global", "editor").await;
    let (_, page) = editor.get(&format!("/ui/projects/global/belts/{id}")).await;
    assert!(page.contains(&format!("data-logs=\"{logs}\"")), "{page}");
    let bad = Events::open(&editor, &format!("{logs}?since=soon"), None).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("since"));
    start(&app, id).await;
    let mut lines = Events::of(Events::open(&editor, &logs, None).await);
    let ready = lines
        .until(Duration::from_secs(30), |e| {
            e.event == "line" && e.json()["line"] == "belt-host: ready"
        })
        .await;
    let ready = ready.json();
    assert!(ready["pod"].as_str().unwrap().contains(id), "{ready}");
    assert!(!ready["time"].as_str().unwrap().is_empty(), "{ready}");
    // STOP: the stream says it is over, so the browser does not reconnect.
    let stop = app
        .post(
            &format!("/projects/global/belts/{id}/state"),
            &app.editor(),
            &json!({"action": "STOP"}),
        )
        .await;
    assert_eq!(stop.status(), StatusCode::OK);
    let end = lines
        .until(Duration::from_secs(30), |e| e.event == "end")
        .await;
    assert_eq!(end.data, "no replica runs");
    assert!(lines.next().await.is_none(), "nothing after the end");
}

async fn the_stream_ends_when_the_session_signs_out(backend: Backend) {
    let app = console_app(backend, &[]).await;
    let browser = Browser::sign_in(&app, "global", "editor").await;
    let (_, list) = browser.get("/ui/projects/global/belts").await;
    let csrf = hidden(&list, "csrf");
    let path = "/ui/projects/global/belts/events";
    let mut events = Events::of(Events::open(&browser, path, None).await);
    assert_eq!(events.next().await.unwrap().event, "bookmark");
    let out = browser.post("/ui/logout", &format!("csrf={csrf}")).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let end = events
        .until(Duration::from_secs(3), |e| e.event == "end")
        .await;
    assert_eq!(end.data, "signed out");
    let closed = tokio::time::timeout(Duration::from_secs(3), events.next()).await;
    assert!(closed.expect("the stream closes").is_none());
    // Its slot is free, and the signed-out cookie opens nothing.
    let again = Events::open(&browser, path, None).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
}

async fn one_session_past_its_stream_share_gets_429(backend: Backend) {
    let app = console_app(backend, &[("--streams-per-caller", "1")]).await;
    let browser = Browser::sign_in(&app, "global", "viewer").await;
    let path = "/ui/projects/global/belts/events";
    let first = Events::of(Events::open(&browser, path, None).await);
    let refused = Events::open(&browser, path, None).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key(RETRY_AFTER));
    assert!(refused.text().await.unwrap().contains("1"));
    drop(first);
    // The closed stream's slot is freed once the server sees the reader gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let again = Events::open(&browser, path, None).await;
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slot stayed taken"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
