//! Test-invoke of a belt not saved yet (`POST /projects/{project}/belts/invoke`): the draft runs
//! in the real sandbox, under a uid leased from the pool below the belts' uids, in the project's
//! share of the slots together with its belts' runs (docs/local-sandbox.md#drafts).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    a_draft_runs_and_answers_its_updates,
    drafts_are_refused_by_role_and_naming_the_field,
    a_project_holding_its_share_gets_429_for_a_draft_too,
    concurrent_drafts_of_two_projects_run_under_uids_of_their_own,
    drafts_answer_503_where_no_uids_can_be_reserved_and_belts_still_run,
);

/// The uid base of test `n` on `backend`: belt N runs as `base + N`, drafts just below. Each
/// test (and each backend's run of it, which runs at the same time) gets a range of its own, since
/// a draft's lease skips a uid any process on the machine runs as, another test app's too.
fn base(backend: Backend, n: u64) -> u64 {
    let backend = match backend {
        Backend::Sqlite => 0,
        Backend::Postgres => 1,
    };
    1_000_000_000 + n * 10_000_000 + backend * 1_000_000
}

async fn app_with(backend: Backend, n: u64, args: &[(&str, &str)]) -> (TestApp, u64) {
    let base = base(backend, n);
    let text = base.to_string();
    let mut args = args.to_vec();
    args.push(("--local-sandbox-uid-base", &text));
    (TestApp::spawn_dev_with_args(backend, &args).await, base)
}

const CALLBACK: &str = r#"
import os
def execute(headers, event):
    print("draft", event["id"], repr(os.environ.get("BELT_ID")))
    return {"keys": [event["id"]], "type": "draft", "values": [{"uid": os.getuid()}]}
"#;

/// Sleeps first, so that runs started together overlap.
const SLOW: &str = r#"
import os, time
def execute(headers, event):
    time.sleep(2)
    return {"keys": ["k"], "values": [{"uid": os.getuid()}]}
"#;

fn draft(callback: &str) -> Value {
    json!({"events": [{"event": {"id": 7}}], "extractorFn": callback})
}

async fn run(app: &TestApp, project: &str, body: &Value) -> (StatusCode, Value) {
    let path = format!("/projects/{project}/belts/invoke");
    json_of(
        app.post(&path, &app.token(project, &["editor"]), body)
            .await,
    )
    .await
}

/// A saved belt of `project` with `callback`: its id.
async fn belt_in(app: &TestApp, project: &str, callback: &str) -> String {
    let mut belt = minimal_belt(&format!("drafts-{}", unique_suffix()));
    belt["extractorFn"] = json!(callback);
    let created = app.create_belt(project, &belt).await;
    created["id"].as_str().unwrap().to_string()
}

/// A saved belt's test-invoke, on one event.
async fn run_belt(app: &TestApp, project: &str, id: &str) -> (StatusCode, Value) {
    let path = format!("/projects/{project}/belts/{id}/invoke");
    let body = json!({"events": [{"event": {"id": 1}}]});
    json_of(
        app.post(&path, &app.token(project, &["editor"]), &body)
            .await,
    )
    .await
}

/// The uid the callback ran as, from its one update.
fn uid_of(answer: &Value) -> u64 {
    answer["results"][0]["updates"][0]["value"]["values"][0]["uid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no uid: {answer}"))
}

fn is_root() -> bool {
    // What this test process creates is owned by uid 0 when it (and so belt-api) is root.
    let probe = tempfile::tempfile().unwrap();
    std::os::unix::fs::MetadataExt::uid(&probe.metadata().unwrap()) == 0
}

async fn a_draft_runs_and_answers_its_updates(backend: Backend) {
    let (app, base) = app_with(backend, 1, &[]).await;
    let (status, answer) = run(&app, "team-a", &draft(CALLBACK)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["outcome"], "completed", "{answer}");
    let update = &answer["results"][0]["updates"][0];
    assert_eq!(update["key"], "7", "{answer}");
    // No id of any belt reaches a draft's callback.
    assert_eq!(answer["results"][0]["stdout"], "draft 7 ''\n", "{answer}");
    if is_root() {
        let uid = uid_of(&answer);
        assert!((base - 2..base).contains(&uid), "uid {uid}: {answer}");
    }
    // Nothing was stored: the project still has no belt.
    let listed = app
        .get("/projects/team-a/belts", &app.token("team-a", &["viewer"]))
        .await;
    let (_, listed) = json_of(listed).await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
}

async fn drafts_are_refused_by_role_and_naming_the_field(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let path = "/projects/team-a/belts/invoke";
    let body = draft(CALLBACK);
    let viewer = app
        .post(path, &app.token("team-a", &["viewer"]), &body)
        .await;
    assert_error(viewer, StatusCode::FORBIDDEN, "entity_not_accessible").await;
    let other = app
        .post(path, &app.token("team-b", &["editor"]), &body)
        .await;
    assert_error(other, StatusCode::FORBIDDEN, "entity_not_accessible").await;
    let events = json!([{"event": 1}]);
    for (body, field) in [
        (json!({"events": events}), "'extractorFn'"),
        (
            json!({"events": events, "extractorFn": "def execute(:\n"}),
            "'extractorFn'",
        ),
        (json!({"events": events, "extractorFn": 7}), "'extractorFn'"),
        (
            json!({"events": events, "extractorFn": "x = 1\n"}),
            "'extractorFn'",
        ),
        (json!({"extractorFn": CALLBACK}), "'events'"),
        (
            json!({"sample": "order-7", "extractorFn": CALLBACK}),
            "'sample'",
        ),
        (
            json!({"events": events, "extractorFn": CALLBACK, "requirementsPy": "not a requirement !!"}),
            "'requirementsPy'",
        ),
    ] {
        let response = app
            .post(path, &app.token("team-a", &["editor"]), &body)
            .await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(message.contains(field), "{body}: {message}");
    }
    let dry = app
        .post(
            &format!("{path}?dryRun=true"),
            &app.token("team-a", &["editor"]),
            &body,
        )
        .await;
    let message = assert_error(dry, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.contains("dryRun"), "{message}");
    let dry_viewer = app
        .post(
            &format!("{path}?dryRun=true"),
            &app.token("team-a", &["viewer"]),
            &body,
        )
        .await;
    assert_error(dry_viewer, StatusCode::FORBIDDEN, "entity_not_accessible").await;
}

async fn a_project_holding_its_share_gets_429_for_a_draft_too(backend: Backend) {
    // The defaults: 2 slots in all, so 1 per project. Team A's belt holds A's one slot.
    let (app, _) = app_with(backend, 2, &[("--invoke-timeout-ms", "6000")]).await;
    let id = belt_in(&app, "team-a", SLOW).await;
    let held = run_belt(&app, "team-a", &id);
    let others = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let path = "/projects/team-a/belts/invoke";
        let refused = app
            .post(path, &app.token("team-a", &["editor"]), &draft(CALLBACK))
            .await;
        assert!(refused.headers().get("retry-after").is_some());
        let message =
            assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
        (message, run(&app, "team-b", &draft(CALLBACK)).await)
    };
    let ((status_a, answer_a), (message, (status_b, answer_b))) = tokio::join!(held, others);
    assert_eq!(status_a, StatusCode::OK, "{answer_a}");
    assert!(message.contains("this project"), "{message}");
    assert_eq!(
        status_b,
        StatusCode::OK,
        "B's draft was starved: {answer_b}"
    );
    assert_eq!(answer_b["outcome"], "completed", "{answer_b}");
}

async fn concurrent_drafts_of_two_projects_run_under_uids_of_their_own(backend: Backend) {
    let limits = [
        ("--invoke-concurrency", "3"),
        ("--invoke-timeout-ms", "8000"),
    ];
    let (app, base) = app_with(backend, 3, &limits).await;
    let id = belt_in(&app, "team-c", SLOW).await;
    let belt_run = run_belt(&app, "team-c", &id);
    let slow = draft(SLOW);
    let (a, b, c) = tokio::join!(
        run(&app, "team-a", &slow),
        run(&app, "team-b", &slow),
        belt_run
    );
    for (status, answer) in [&a, &b, &c] {
        assert_eq!(*status, StatusCode::OK, "{answer}");
        assert_eq!(answer["outcome"], "completed", "{answer}");
    }
    if !is_root() {
        eprintln!("not root: every run is belt-api's own user; the lease is unit-tested");
        return;
    }
    let (uid_a, uid_b, uid_c) = (uid_of(&a.1), uid_of(&b.1), uid_of(&c.1));
    assert_ne!(uid_a, uid_b, "two projects' drafts shared a uid");
    for uid in [uid_a, uid_b] {
        assert!((base - 3..base).contains(&uid), "draft uid {uid}");
    }
    assert_eq!(
        uid_c,
        base + id.parse::<u64>().unwrap(),
        "the belt runs as its own uid"
    );
}

async fn drafts_answer_503_where_no_uids_can_be_reserved_and_belts_still_run(backend: Backend) {
    if !is_root() {
        eprintln!("not root: runs get no uid of their own, so drafts need none reserved");
        return;
    }
    // Two slots, so two uids below 65 537: the host's own uids, never leased.
    let low = [("--local-sandbox-uid-base", "65537")];
    let app = TestApp::spawn_dev_with_args(backend, &low).await;
    let refused = app
        .post(
            "/projects/team-a/belts/invoke",
            &app.token("team-a", &["editor"]),
            &draft(CALLBACK),
        )
        .await;
    let message = assert_error(
        refused,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    assert!(message.contains("BELT_LOCAL_SANDBOX_UID_BASE"), "{message}");
    let id = belt_in(&app, "team-a", CALLBACK).await;
    let (status, answer) = run_belt(&app, "team-a", &id).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        uid_of(&answer),
        65_537 + id.parse::<u64>().unwrap(),
        "{answer}"
    );
}
