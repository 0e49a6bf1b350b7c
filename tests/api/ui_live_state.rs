//! The belt page's live state and log options (docs/console.md, issue 21): the state section as
//! a fragment (its role check, another project's belt a 404), START/STOP through htmx answered
//! with that fragment and the notice or refusal swapped in place while the plain form still
//! redirects, and the log stream's `since` and `previous` (a 400 naming a bad one; the previous
//! run shown, then the end, never followed).

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::{Response, StatusCode};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::backend_tests;
use crate::helpers::*;
use crate::ui::{assert_sent_to_sign_in, hidden, Browser};
use crate::ui_live::{console_app, start, Events};

backend_tests!(
    the_state_section_is_a_fragment_with_the_pages_role_check,
    start_through_htmx_answers_the_state_section_and_the_plain_form_still_redirects,
    the_log_stream_takes_since_and_shows_the_previous_run_without_following,
);

/// A form posted as htmx posts it (its `HX-Request` header).
async fn htmx_post(browser: &Browser<'_>, path: &str, form: &str) -> Response {
    (browser.app.client)
        .post(format!("{}{path}", browser.app.address))
        .header(COOKIE, &browser.cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("hx-request", "true")
        .body(form.to_string())
        .send()
        .await
        .unwrap()
}

async fn the_state_section_is_a_fragment_with_the_pages_role_check(backend: Backend) {
    let app = console_app(backend, &[]).await;
    let created = app.create_belt("global", &minimal_belt("state-a")).await;
    let id = created["id"].as_str().unwrap();
    let elsewhere = app.create_belt("other", &minimal_belt("state-b")).await;
    let theirs = elsewhere["id"].as_str().unwrap();
    let fragment = format!("/ui/projects/global/belts/{id}/state-section");

    let viewer = Browser::sign_in(&app, "global", "viewer").await;
    let (_, page) = viewer.get(&format!("/ui/projects/global/belts/{id}")).await;
    assert!(
        page.contains(&format!("data-state=\"{fragment}\"")),
        "{page}"
    );
    assert!(page.contains("<section id=\"state-section\""), "{page}");
    let (status, section) = viewer.get(&fragment).await;
    assert_eq!(status, StatusCode::OK, "{section}");
    assert!(
        section.starts_with("<section id=\"state-section\""),
        "{section}"
    );
    assert!(
        !section.contains("<html"),
        "a fragment, not a page: {section}"
    );
    assert!(section.contains("Stopped: no replica runs."), "{section}");
    assert!(section.contains("Nothing is deployed."), "{section}");
    start(&app, id).await;
    let (_, section) = viewer.get(&fragment).await;
    assert!(
        !section.contains("Stopped"),
        "the state as it is now: {section}"
    );

    // Another project's belt under this project's path: none here.
    let (status, _) = viewer
        .get(&format!("/ui/projects/global/belts/{theirs}/state-section"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A session of another project may not read this one's belts.
    let stranger = Browser::sign_in(&app, "other", "viewer").await;
    let (status, _) = stranger.get(&fragment).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Without a session: sent to sign in.
    assert_sent_to_sign_in(&app, &fragment).await;
}

async fn start_through_htmx_answers_the_state_section_and_the_plain_form_still_redirects(
    backend: Backend,
) {
    let app = console_app(backend, &[]).await;
    let created = app.create_belt("global", &minimal_belt("state-c")).await;
    let id = created["id"].as_str().unwrap();
    let editor = Browser::sign_in(&app, "global", "editor").await;
    let page_path = format!("/ui/projects/global/belts/{id}");
    let (_, page) = editor.get(&page_path).await;
    let state = format!("{page_path}/state");
    assert!(page.contains(&format!("hx-post=\"{state}\"")), "{page}");
    assert!(page.contains("hx-target=\"#state-section\""), "{page}");
    let csrf = hidden(&page, "csrf");

    let started = htmx_post(
        &editor,
        &state,
        &format!("action=START&version=1&csrf={csrf}"),
    )
    .await;
    assert_eq!(started.status(), StatusCode::OK);
    let answer = started.text().await.unwrap();
    assert!(
        answer.starts_with("<section id=\"state-section\""),
        "{answer}"
    );
    assert!(!answer.contains("Stopped: no replica runs."), "{answer}");
    assert!(
        answer.contains("<div id=\"done-notice\" hx-swap-oob=\"true\"><p class=\"notice\" role=\"status\">START asked for.</p></div>"),
        "{answer}"
    );
    let report = app
        .get(&format!("/projects/global/belts/{id}/state"), &app.viewer())
        .await;
    assert_ne!(json_of(report).await.1["status"], "STOPPED");

    // Refusals say what the page without JavaScript says, in place.
    let stale = htmx_post(
        &editor,
        &state,
        &format!("action=STOP&version=7&csrf={csrf}"),
    )
    .await;
    assert_eq!(stale.status(), StatusCode::OK);
    let answer = stale.text().await.unwrap();
    assert!(answer.contains("<section id=\"state-section\""), "{answer}");
    assert!(answer.contains("role=\"alert\""), "{answer}");
    assert!(answer.contains("changed since you loaded it"), "{answer}");
    let forged = htmx_post(&editor, &state, "action=STOP&version=1&csrf=forged").await;
    assert!(forged.text().await.unwrap().contains("CSRF token"));
    let viewer = Browser::sign_in(&app, "global", "viewer").await;
    let (_, viewer_page) = viewer.get(&page_path).await;
    let theirs = hidden(&viewer_page, "csrf");
    let unrolled = htmx_post(
        &viewer,
        &state,
        &format!("action=STOP&version=1&csrf={theirs}"),
    )
    .await;
    assert!(unrolled.text().await.unwrap().contains("missing roles"));
    let report = app
        .get(&format!("/projects/global/belts/{id}/state"), &app.viewer())
        .await;
    assert_ne!(
        json_of(report).await.1["status"],
        "STOPPED",
        "nothing was done"
    );

    // Without JavaScript the form still navigates back to the page, exactly as before.
    let stopped = editor
        .post(&state, &format!("action=STOP&version=1&csrf={csrf}"))
        .await;
    assert_eq!(stopped.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        stopped.headers()[LOCATION],
        format!("{page_path}?done=STOP")
    );
    let (_, page) = editor.get(&format!("{page_path}?done=STOP")).await;
    assert!(page
        .contains("<div id=\"done-notice\"><p class=\"notice\" role=\"status\">STOP asked for."));
}

/// Counts its runs in its work dir: each run says so, ticks a few times and exits, so the
/// supervisor starts the next and the one before is a previous run.
const RESTARTING: &str = r#"#!/bin/sh
run=$(( $(cat runs 2>/dev/null || echo 0) + 1 ))
echo $run > runs
echo "run $run belt-host: ready"
for i in 1 2 3; do echo "run $run tick $i"; sleep 0.3; done
exit 1
"#;

fn run_of(line: &serde_json::Value) -> u32 {
    let text = line["line"].as_str().unwrap();
    (text
        .strip_prefix("run ")
        .and_then(|rest| rest.split(' ').next()))
    .and_then(|n| n.parse().ok())
    .unwrap_or_else(|| panic!("{line}"))
}

async fn the_log_stream_takes_since_and_shows_the_previous_run_without_following(backend: Backend) {
    let dir = tempfile::tempdir().unwrap().keep();
    let script = dir.join("replica.sh");
    std::fs::write(&script, RESTARTING).unwrap();
    let command = format!("/bin/sh {}", script.display());
    let args = [
        ("--local-command", command.as_str()),
        ("--reconcile-interval-ms", "500"),
        ("--local-restart-backoff-ms", "100"),
        ("--local-stop-grace-ms", "2000"),
    ];
    let app = TestApp::spawn_dev_with_args(backend, &args).await;
    let created = app.create_belt("global", &minimal_belt("state-d")).await;
    let id = created["id"].as_str().unwrap();
    let logs = format!("/ui/projects/global/belts/{id}/logs/events");
    let editor = Browser::sign_in(&app, "global", "editor").await;
    for (bad, named) in [("since=soon", "since"), ("previous=maybe", "previous")] {
        let refused = Events::open(&editor, &format!("{logs}?{bad}"), None).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
        let said = refused.text().await.unwrap();
        let quoted = format!("Parameter &#39;{named}&#39;");
        assert!(said.contains(&quoted), "{bad}: {said}");
    }
    let viewer = Browser::sign_in(&app, "global", "viewer").await;
    let refused = Events::open(&viewer, &format!("{logs}?previous=true"), None).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    start(&app, id).await;
    let mut lines = Events::of(Events::open(&editor, &format!("{logs}?since=1h"), None).await);
    let second = lines
        .until(Duration::from_secs(30), |e| {
            e.event == "line" && e.json()["line"].as_str().unwrap().starts_with("run 2 ")
        })
        .await;
    drop(lines);
    // From the second run's first line on: nothing of the first run is sent.
    let at = second.json()["time"].as_str().unwrap().to_string();
    let after = format!("{logs}?since={}", urlencoding(&at));
    let mut lines = Events::of(Events::open(&editor, &after, None).await);
    let first = lines
        .until(Duration::from_secs(10), |e| e.event == "line")
        .await;
    assert!(run_of(&first.json()) >= 2, "{first:?}");
    let from = OffsetDateTime::parse(&at, &Rfc3339).unwrap();
    let sent = first.json()["time"].as_str().unwrap().to_string();
    assert!(
        OffsetDateTime::parse(&sent, &Rfc3339).unwrap() >= from,
        "{sent} < {at}"
    );
    drop(lines);

    // The previous run: its lines, one run's only, then the end; nothing follows.
    let mut previous =
        Events::of(Events::open(&editor, &format!("{logs}?previous=true"), None).await);
    let mut runs = Vec::new();
    let end = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), previous.next())
            .await
            .expect("the previous run is sent at once")
            .expect("an end event before the stream closes");
        if event.event != "line" {
            break event;
        }
        runs.push(run_of(&event.json()));
    };
    assert_eq!(end.event, "end");
    assert_eq!(end.data, "previous run shown");
    assert!(!runs.is_empty(), "the previous run's lines");
    assert!(runs.iter().all(|run| *run == runs[0]), "one run: {runs:?}");
    let closed = tokio::time::timeout(Duration::from_secs(3), previous.next()).await;
    assert!(closed.expect("the stream closes").is_none());
}

/// An RFC 3339 time as a query value (its `+` would read as a space).
fn urlencoding(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
