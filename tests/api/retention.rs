//! Retention per project with a floor per belt (docs/api.md#history): 10,000 writes in project
//! `alpha` prune alpha's own log, never `bravo`'s history nor its watch's resume points, and a
//! quiet belt of alpha keeps its newest events however busy its neighbours are.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use belt_api::domain::EventRetention;
use belt_api::store::StoreOptions;

use crate::backend_tests;
use crate::helpers::*;
use crate::reconciler::fakes::FakeRuntime;

backend_tests!(
    another_projects_writes_leave_history_and_resume_points_intact,
    the_store_prunes_exactly_what_the_domain_rule_does_not_keep,
);

/// Small caps keep each prune cheap; the writes are the 10,000 all the same.
const PER_PROJECT: i64 = 50;
const PER_BELT: i64 = 5;
const WRITES: usize = 10_000;
const BUSY_BELTS: usize = 8;

async fn app(backend: Backend) -> TestApp {
    let args = [
        ("--event-retention-per-project", PER_PROJECT.to_string()),
        ("--event-floor-per-belt", PER_BELT.to_string()),
        ("--event-prune-interval-ms", "100".to_string()),
    ];
    let options = Options {
        runtime: Some(Arc::new(FakeRuntime::default())),
        args: args
            .iter()
            .map(|(f, v)| (f.to_string(), v.clone()))
            .collect(),
        ..Default::default()
    };
    TestApp::spawn_with(backend, options).await
}

/// START, STOP, START… `times` times: one event each.
async fn toggle(app: &TestApp, project: &str, id: &str, times: usize) {
    let token = app.token(project, &["editor"]);
    for n in 0..times {
        let action = if n % 2 == 0 { "START" } else { "STOP" };
        let path = format!("/projects/{project}/belts/{id}/state");
        let response = app.post(&path, &token, &json!({"action": action})).await;
        assert_eq!(response.status(), StatusCode::OK, "{action} {id}");
    }
}

async fn belt(app: &TestApp, project: &str, name: &str) -> String {
    let belt = app.create_belt(project, &minimal_belt(name)).await;
    belt["id"].as_str().unwrap().to_string()
}

async fn history_page(app: &TestApp, project: &str, id: &str) -> Value {
    let path = format!("/projects/{project}/belts/{id}/history?pagesize=250");
    let token = app.token(project, &["viewer"]);
    let (status, page) = json_of(app.get(&path, &token).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

/// The ids of a belt's retained events, newest first (at most a page of them).
async fn history(app: &TestApp, project: &str, id: &str) -> Vec<i64> {
    let page = history_page(app, project, id).await;
    let ids: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(page["totalCount"], ids.len(), "{page}");
    ids
}

async fn watch(app: &TestApp, project: &str, query: &str) -> Response {
    let token = app.token(project, &["viewer"]);
    let path = format!("/projects/{project}/watch{query}");
    app.request(Method::GET, &path, Some(&token))
        .send()
        .await
        .unwrap()
}

/// The next `count` lines of a watch.
async fn lines(response: &mut Response, pending: &mut Vec<u8>, count: usize) -> Vec<Value> {
    let mut found = Vec::new();
    while found.len() < count {
        if let Some(at) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=at).collect();
            found.push(serde_json::from_slice(&line).unwrap());
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk())
            .await
            .expect("a line within 30 s")
            .unwrap()
            .expect("the stream goes on");
        pending.extend_from_slice(&chunk);
    }
    found
}

fn ids_of(lines: &[Value]) -> Vec<i64> {
    lines.iter().map(|l| l["id"].as_i64().unwrap()).collect()
}

/// Alpha's 10,000 writes, spread over its busy belts, until alpha's own log has been pruned: a
/// resume point from before them is gone and its busy belts are down to what the caps keep.
async fn flood_alpha(app: &TestApp, busy: &[String], resume_before: i64) {
    let per_belt = WRITES / busy.len();
    let writes = busy.iter().map(|id| toggle(app, "alpha", id, per_belt));
    futures::future::join_all(writes).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let gone = watch(app, "alpha", &format!("?after={resume_before}")).await;
        let mut kept = 0;
        for id in busy {
            kept += history_page(app, "alpha", id).await["totalCount"]
                .as_i64()
                .unwrap();
        }
        if gone.status() == StatusCode::GONE && kept <= PER_PROJECT + PER_BELT * busy.len() as i64 {
            return;
        }
        assert!(Instant::now() < deadline, "alpha never pruned: {kept} kept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn another_projects_writes_leave_history_and_resume_points_intact(backend: Backend) {
    let app = app(backend).await;
    let bravo = belt(&app, "bravo", "b").await;
    toggle(&app, "bravo", &bravo, 10).await;
    let bravo_before = history(&app, "bravo", &bravo).await;
    assert_eq!(bravo_before.len(), 11);
    let bravo_first = *bravo_before.last().unwrap();
    // An open watch of bravo, from now, across all of alpha's activity.
    let mut open = watch(&app, "bravo", "").await;
    let mut pending = Vec::new();
    let bookmark = lines(&mut open, &mut pending, 1).await.remove(0);
    assert_eq!(bookmark["type"], "bookmark", "{bookmark}");

    let quiet = belt(&app, "alpha", "quiet").await;
    toggle(&app, "alpha", &quiet, 2).await;
    let quiet_before = history(&app, "alpha", &quiet).await;
    let alpha_first = *quiet_before.last().unwrap();
    let mut busy = Vec::new();
    for n in 0..BUSY_BELTS {
        busy.push(belt(&app, "alpha", &format!("busy{n}")).await);
    }
    flood_alpha(&app, &busy, alpha_first - 1).await;

    // Bravo's history is whole, and its watch resumes from before its first event.
    assert_eq!(history(&app, "bravo", &bravo).await, bravo_before);
    let mut resumed = watch(&app, "bravo", &format!("?after={}", bravo_first - 1)).await;
    assert_eq!(resumed.status(), StatusCode::OK);
    let replay = lines(&mut resumed, &mut Vec::new(), bravo_before.len()).await;
    let oldest_first: Vec<i64> = bravo_before.iter().rev().copied().collect();
    assert_eq!(ids_of(&replay), oldest_first);
    // The bookmark still resumes, and the stream open all along sees bravo's next write.
    let resume = format!("?after={}", bookmark["id"]);
    assert_eq!(watch(&app, "bravo", &resume).await.status(), StatusCode::OK);
    toggle(&app, "bravo", &bravo, 1).await;
    let next = lines(&mut open, &mut pending, 1).await.remove(0);
    assert_eq!(next["beltId"], bravo.as_str(), "{next}");
    assert_eq!(next["action"], "started", "{next}");

    // Alpha's quiet belt keeps its floor, and a watch of that belt alone still resumes.
    assert_eq!(history(&app, "alpha", &quiet).await, quiet_before);
    let one_belt = format!("?belt={quiet}&after={}", alpha_first - 1);
    let mut quiet_watch = watch(&app, "alpha", &one_belt).await;
    assert_eq!(quiet_watch.status(), StatusCode::OK);
    let replay = lines(&mut quiet_watch, &mut Vec::new(), quiet_before.len()).await;
    let oldest_first: Vec<i64> = quiet_before.iter().rev().copied().collect();
    assert_eq!(ids_of(&replay), oldest_first);
}

/// One event as the rule sees it.
#[derive(Debug, Clone, Copy)]
struct Stored {
    project: usize,
    belt: usize,
    id: i64,
}

/// What [`EventRetention::keeps`] keeps of `events`: counted by hand, newer events of the same
/// project and of the same belt.
fn kept_by_rule(events: &[Stored], retention: EventRetention) -> Vec<i64> {
    let newer = |e: &Stored, same: &dyn Fn(&Stored) -> bool| {
        events.iter().filter(|o| same(o) && o.id > e.id).count() as u64
    };
    let mut kept: Vec<i64> = events
        .iter()
        .filter(|e| {
            let in_project = newer(e, &|o| o.project == e.project);
            let in_belt = newer(e, &|o| o.project == e.project && o.belt == e.belt);
            retention.keeps(in_project, in_belt)
        })
        .map(|e| e.id)
        .collect();
    kept.sort_unstable();
    kept
}

async fn the_store_prunes_exactly_what_the_domain_rule_does_not_keep(backend: Backend) {
    // The service's own prune waits an hour: the test calls the store's.
    let options = Options {
        runtime: Some(Arc::new(FakeRuntime::default())),
        args: vec![("--event-prune-interval-ms".into(), "3600000".into())],
        ..Default::default()
    };
    let app = TestApp::spawn_with(backend, options).await;
    let projects = ["p0", "p1", "p2"];
    // Writes per belt, uneven on purpose: busy, quiet and idle belts side by side.
    let writes = [[30, 1, 7], [12, 0, 2], [3, 25, 9]];
    let mut belts = Vec::new();
    for (p, project) in projects.iter().enumerate() {
        for (b, count) in writes[p].iter().enumerate() {
            let id = belt(&app, project, &format!("b{b}")).await;
            toggle(&app, project, &id, *count).await;
            belts.push((p, b, id));
        }
    }
    let mut events = Vec::new();
    for (p, b, id) in &belts {
        for event in history(&app, projects[*p], id).await {
            events.push(Stored {
                project: *p,
                belt: *b,
                id: event,
            });
        }
    }
    let retention = EventRetention::new(12, 4);
    let expected = kept_by_rule(&events, retention);
    assert!(expected.len() < events.len(), "the caps prune some");

    let store_options = StoreOptions {
        max_connections: 2,
        timeout: Duration::from_secs(10),
        revision_retention: 50,
    };
    let store = belt_api::store::connect(&app.database_url, store_options)
        .await
        .unwrap();
    let pruned = store.prune_events(retention).await.unwrap();
    assert_eq!(pruned as usize, events.len() - expected.len());
    let mut kept = Vec::new();
    for (p, _, id) in &belts {
        kept.extend(history(&app, projects[*p], id).await);
    }
    kept.sort_unstable();
    assert_eq!(kept, expected);

    // Each belt's resume point is gone exactly below its own newest pruned event.
    for (p, b, id) in &belts {
        let project = projects[*p];
        let lost = events
            .iter()
            .filter(|e| (e.project, e.belt) == (*p, *b) && !expected.contains(&e.id))
            .map(|e| e.id)
            .max();
        let Some(lost) = lost else {
            let all = watch(&app, project, &format!("?belt={id}&after=0")).await;
            assert_eq!(
                all.status(),
                StatusCode::OK,
                "{project} belt {b} lost nothing"
            );
            continue;
        };
        let before = watch(&app, project, &format!("?belt={id}&after={}", lost - 1)).await;
        assert_eq!(before.status(), StatusCode::GONE, "{project} belt {b}");
        let after = watch(&app, project, &format!("?belt={id}&after={lost}")).await;
        assert_eq!(after.status(), StatusCode::OK, "{project} belt {b}");
    }
}
