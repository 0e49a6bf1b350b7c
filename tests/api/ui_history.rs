//! The console's history, revisions (with a diff), rollback and delete-with-confirmation pages
//! (docs/console.md): what they show, what their forms need (CSRF, the shown version, the typed
//! name) and what a viewer may not do. The browser walks them in tests/ui_browser/history.rs.

use reqwest::header::LOCATION;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use crate::ui::{hidden, Browser};

backend_tests!(
    the_history_page_tells_the_events_in_words_and_pages_them,
    the_diff_shows_the_changed_line_between_two_versions,
    rollback_stores_the_old_content_as_a_new_version_and_a_stale_page_is_412,
    delete_needs_the_csrf_token_the_typed_name_and_the_shown_version,
    a_viewer_sees_no_controls_and_a_forged_rollback_or_delete_is_403,
    a_replicas_output_in_the_history_is_shown_to_editors_only,
);

const FIRST_FN: &str = "def execute(headers, event):\n    seen = 1\n    return []\n";
const SECOND_FN: &str = "def execute(headers, event):\n    seen = 2\n    return []\n";

/// A belt at version 2: created with [`FIRST_FN`], replaced with [`SECOND_FN`]. Its id.
async fn belt_at_version_2(app: &TestApp, name: &str) -> String {
    let mut body = minimal_belt(name);
    body["extractorFn"] = json!(FIRST_FN);
    let created = app.create_belt("global", &body).await;
    let id = created["id"].as_str().unwrap().to_string();
    body["extractorFn"] = json!(SECOND_FN);
    let put = app.put(&api_path(&id), &app.editor(), &body).await;
    assert_eq!(put.status(), StatusCode::OK);
    id
}

fn api_path(id: &str) -> String {
    format!("/projects/global/belts/{id}")
}

fn ui_path(id: &str) -> String {
    format!("/ui/projects/global/belts/{id}")
}

async fn api_belt(app: &TestApp, id: &str) -> (StatusCode, Value) {
    json_of(app.get(&api_path(id), &app.viewer()).await).await
}

async fn the_history_page_tells_the_events_in_words_and_pages_them(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = belt_at_version_2(&app, "told-belt").await;
    let rolled = (app.client)
        .post(format!("{}{}/rollback", app.address, api_path(&id)))
        .bearer_auth(app.editor())
        .send()
        .await
        .unwrap();
    assert_eq!(rolled.status(), StatusCode::OK);
    let browser = Browser::sign_in(&app, "global", "viewer").await;
    let (status, belt) = browser.get(&ui_path(&id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        belt.contains(&format!("{}/history\"", ui_path(&id))),
        "{belt}"
    );
    let (status, page) = browser.get(&format!("{}/history", ui_path(&id))).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("3 events, newest first."), "{page}");
    let newest = page.find("replaced the belt with version 3").expect(&page);
    let middle = page.find("replaced the belt with version 2").expect(&page);
    let oldest = page.find("created the belt at version 1").expect(&page);
    assert!(newest < middle && middle < oldest, "newest first: {page}");
    assert!(page.contains("version 3: rollback to version 1."), "{page}");
    // Paged as the API pages history: one per page, a link to the older ones.
    let (_, first) = browser
        .get(&format!("{}/history?pagesize=1", ui_path(&id)))
        .await;
    assert!(first.contains("with version 3") && !first.contains("with version 2"));
    assert!(
        first.contains("offset=1") && first.contains("Older"),
        "{first}"
    );
    let (status, bad) = browser
        .get(&format!("{}/history?pagesize=0", ui_path(&id)))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad.contains("pagesize"),
        "the refusal names the field: {bad}"
    );
}

async fn the_diff_shows_the_changed_line_between_two_versions(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = belt_at_version_2(&app, "diffed-belt").await;
    let browser = Browser::sign_in(&app, "global", "editor").await;
    let revisions = format!("{}/revisions", ui_path(&id));
    let (status, page) = browser.get(&revisions).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // By default the previous version against the current one, both chosen in the form.
    assert!(page.contains("<option value=\"1\" selected>"), "{page}");
    assert!(page.contains("<option value=\"2\" selected>"), "{page}");
    let marked = |marker: &str, word: &str, line: &str| {
        format!(
            "<span aria-hidden=\"true\">{marker}</span><span class=\"sr-only\">{word}</span></td><td><code>{line}"
        )
    };
    let diff = &page[page.find("id=\"diff-extractor\"").expect(&page)..];
    for (marker, word, line) in [
        ("-", "removed", "    seen = 1"),
        ("+", "added", "    seen = 2"),
        (" ", "unchanged", "    return []"),
    ] {
        let row = marked(marker, word, line) + "</code>";
        assert!(diff.contains(&row), "{row} in {diff}");
    }
    // The document's diff: its extractorFn line changed, its name did not.
    let document = &page[page.find("id=\"diff-document\"").expect(&page)..];
    let changed = "  &quot;extractorFn&quot;: &quot;def execute(headers, event):\\n    seen = 2";
    assert!(
        document.contains(&marked("+", "added", changed)),
        "{document}"
    );
    let name = "  &quot;name&quot;: &quot;diffed-belt&quot;,";
    assert!(
        document.contains(&marked(" ", "unchanged", name)),
        "{document}"
    );
    let (_, same) = browser.get(&format!("{revisions}?from=2&to=2")).await;
    assert!(same.contains("No difference."), "{same}");
    let (_, first) = browser.get(&format!("{revisions}?to=1")).await;
    assert!(first.contains("No kept version is older"), "{first}");
    let (status, bad) = browser.get(&format!("{revisions}?from=first")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("from"), "the refusal names the field: {bad}");
    let (status, gone) = browser.get(&format!("{revisions}?from=9")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
}

async fn rollback_stores_the_old_content_as_a_new_version_and_a_stale_page_is_412(
    backend: Backend,
) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = belt_at_version_2(&app, "rolled-belt").await;
    let browser = Browser::sign_in(&app, "global", "editor").await;
    let (_, page) = browser.get(&format!("{}/revisions", ui_path(&id))).await;
    assert!(page.contains("id=\"rollback-1\""), "{page}");
    assert!(
        !page.contains("id=\"rollback-2\""),
        "not to the current one"
    );
    let csrf = hidden(&page, "csrf");
    assert_eq!(hidden(&page, "version"), "2");
    assert_eq!(hidden(&page, "target"), "1");
    let action = format!("{}/rollback", ui_path(&id));
    let missing = browser.post(&action, "version=2&target=1").await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let form = format!("csrf={csrf}&version=2&target=1");
    let done = browser.post(&action, &form).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let back = format!("{}?done=ROLLBACK", ui_path(&id));
    assert_eq!(done.headers()[LOCATION], back.as_str());
    let (_, belt) = browser.get(&back).await;
    assert!(belt.contains("Rolled back"), "{belt}");
    let (_, doc) = api_belt(&app, &id).await;
    assert_eq!(doc["version"], "3");
    assert_eq!(doc["extractorFn"], FIRST_FN);
    // The same form again: the page showed version 2, the belt is at 3 now.
    let stale = browser.post(&action, &form).await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert!(stale
        .text()
        .await
        .unwrap()
        .contains("changed since you loaded it"));
    assert_eq!(api_belt(&app, &id).await.1["version"], "3");
    let bad = browser
        .post(&action, &format!("csrf={csrf}&version=3&target=none"))
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("version"));
}

async fn delete_needs_the_csrf_token_the_typed_name_and_the_shown_version(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = belt_at_version_2(&app, "doomed-belt").await;
    let browser = Browser::sign_in(&app, "global", "editor").await;
    let (_, belt) = browser.get(&ui_path(&id)).await;
    assert!(belt.contains("id=\"delete\""), "{belt}");
    let confirm = format!("{}/delete", ui_path(&id));
    let (status, page) = browser.get(&confirm).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Delete belt doomed-belt?"), "{page}");
    assert!(page.contains("stops its replicas") && page.contains("history stays readable"));
    assert!(
        page.contains("<label for=\"confirm\">"),
        "the name's field is labelled"
    );
    let csrf = hidden(&page, "csrf");
    assert_eq!(hidden(&page, "version"), "2");
    let missing = browser
        .post(&confirm, "version=2&confirm=doomed-belt")
        .await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let wrong = browser
        .post(&confirm, &format!("csrf={csrf}&version=2&confirm=doomed"))
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let said = wrong.text().await.unwrap();
    assert!(
        said.contains("&#39;confirm&#39;") && said.contains("doomed-belt"),
        "{said}"
    );
    let stale = browser
        .post(
            &confirm,
            &format!("csrf={csrf}&version=1&confirm=doomed-belt"),
        )
        .await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        api_belt(&app, &id).await.0,
        StatusCode::OK,
        "nothing deleted yet"
    );
    let done = browser
        .post(
            &confirm,
            &format!("csrf={csrf}&version=2&confirm=doomed-belt"),
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let list = "/ui/projects/global/belts?deleted=doomed-belt";
    assert_eq!(done.headers()[LOCATION], list);
    let (_, listed) = browser.get(list).await;
    assert!(listed.contains("Belt doomed-belt was deleted."), "{listed}");
    assert!(!listed.contains(&format!("/belts/{id}\"")), "{listed}");
    assert_eq!(api_belt(&app, &id).await.0, StatusCode::NOT_FOUND);
}

async fn a_viewer_sees_no_controls_and_a_forged_rollback_or_delete_is_403(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = belt_at_version_2(&app, "watched-belt").await;
    let viewer = Browser::sign_in(&app, "global", "viewer").await;
    let (_, belt) = viewer.get(&ui_path(&id)).await;
    assert!(
        belt.contains("/revisions\"") && !belt.contains("id=\"delete\""),
        "{belt}"
    );
    let (status, revisions) = viewer.get(&format!("{}/revisions", ui_path(&id))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        revisions.contains("id=\"diff-extractor\""),
        "viewers see the diff"
    );
    assert!(!revisions.contains("rollback"), "{revisions}");
    let (status, _) = viewer.get(&format!("{}/delete", ui_path(&id))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The viewer's own, valid CSRF token (from the sign-out form) on hand-made forms.
    let csrf = hidden(&revisions, "csrf");
    let rollback = viewer
        .post(
            &format!("{}/rollback", ui_path(&id)),
            &format!("csrf={csrf}&version=2&target=1"),
        )
        .await;
    assert_eq!(rollback.status(), StatusCode::FORBIDDEN);
    let delete = viewer
        .post(
            &format!("{}/delete", ui_path(&id)),
            &format!("csrf={csrf}&version=2&confirm=watched-belt"),
        )
        .await;
    assert_eq!(delete.status(), StatusCode::FORBIDDEN);
    let (status, doc) = api_belt(&app, &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["version"], "2", "nothing was rolled back or deleted");
}

async fn a_replicas_output_in_the_history_is_shown_to_editors_only(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = belt_at_version_2(&app, "crashed-belt").await;
    // What the status observer stores when a replica exits: belt-api's words, and apart from
    // them the replica's last line (docs/api.md#who-sees-replica-output).
    app.execute_sql(&format!(
        "INSERT INTO belt_events (project, belt_id, at_ms, actor, action, version, from_status, \
         to_status, reason, output) VALUES ('global', {id}, {}, 'belt-api', 'statusChanged', 2, \
         'DEPLOYING', 'FAILED', 'replica grnry-belt-{id}-2-0 exited 1', \
         'ImportError: No module named numpy')",
        now() * 1000
    ))
    .await;
    let history = format!("{}/history", ui_path(&id));
    let said = "belt-api</strong> saw the status change from DEPLOYING to FAILED: replica";
    let (_, editors) = Browser::sign_in(&app, "global", "editor")
        .await
        .get(&history)
        .await;
    assert!(editors.contains(said), "{editors}");
    assert!(editors.contains("exited 1: ImportError: No module named numpy."));
    let (_, viewers) = Browser::sign_in(&app, "global", "viewer")
        .await
        .get(&history)
        .await;
    assert!(viewers.contains(said), "{viewers}");
    assert!(viewers.contains("exited 1.</li>"), "{viewers}");
    assert!(!viewers.contains("ImportError"), "{viewers}");
}
