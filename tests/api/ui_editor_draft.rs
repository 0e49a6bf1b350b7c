//! The test panel of a belt not saved yet (docs/console.md): the new belt's editor shows it, without
//! saved samples (no belt keeps them yet), and "Run" posts the draft to
//! `/ui/projects/{p}/belts/invoke`, the same use case as `POST /projects/{p}/belts/invoke`.

use reqwest::StatusCode;

use crate::backend_tests;
use crate::helpers::*;
use crate::ui_editor::{form, hidden, total, Console};

backend_tests!(the_editor_of_a_new_belt_runs_its_draft_and_stores_nothing);

const DRAFT: &str = "def execute(headers, event):\n    return {\"keys\": [event[\"id\"]], \"type\": \"t\", \"values\": [{\"value\": 41}]}\n";

async fn the_editor_of_a_new_belt_runs_its_draft_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let console = Console::sign_in(&app, "editor").await;
    let (status, editor) = console.get("/ui/projects/global/belts/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        editor.contains("for=\"sample\"") && editor.contains("id=\"run\""),
        "{editor}"
    );
    assert!(
        editor.contains("/ui/projects/global/belts/invoke\""),
        "{editor}"
    );
    // No belt yet: nothing saved to load, nothing to save a sample with.
    assert!(
        !editor.contains("id=\"load\"") && !editor.contains("id=\"save-sample\""),
        "{editor}"
    );
    let csrf = hidden(&editor, "csrf");
    let run = "/ui/projects/global/belts/invoke";
    let mut fields = form(&csrf, "not saved", DRAFT);
    fields.push(("sample", "{\"id\": 7}"));
    let ran = console.post(run, &fields, true).await;
    assert_eq!(ran.status(), StatusCode::OK);
    let ran = ran.text().await.unwrap();
    assert!(ran.starts_with("<div id=\"ran\""), "{ran}");
    assert!(
        ran.contains("data-ran=\"completed\"") && ran.contains("&quot;value&quot;: 41"),
        "{ran}"
    );
    // Without htmx: the whole editor again, the draft and the run's answer in place.
    let page = console
        .post(run, &fields, false)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Updates (1)") && page.contains("not saved"),
        "{page}"
    );
    // The create's own check, named: a draft that does not parse is refused before it runs.
    let mut broken = form(&csrf, "not saved", "def execute(:\n");
    broken.push(("sample", "{\"id\": 7}"));
    let ran = console.post(run, &broken, true).await.text().await.unwrap();
    assert!(
        ran.contains("data-ran=\"refused\"") && ran.contains("extractorFn"),
        "{ran}"
    );
    let mut forged = fields.clone();
    forged[0] = ("csrf", "not-the-token");
    let refused = console.post(run, &forged, true).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(total(&app).await, 0, "a run stored a belt");
}
