//! The console's callback editor (docs/console.md): create through the form, the on-the-fly check
//! that marks a syntax error at its line and writes nothing, an edit with If-Match (a stale page
//! is a 412), a viewer's forged writes, escaping, and the test panel through test-invoke. The
//! browser drives the same pages in tests/ui_browser/editor.rs.

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;
use crate::ui::Browser;

backend_tests!(
    a_belt_is_created_through_the_form_with_the_csrf_token,
    the_check_marks_a_syntax_error_at_its_line_and_writes_nothing,
    an_edit_saves_the_next_version_and_a_stale_page_gets_412,
    a_viewer_gets_no_editor_and_forged_writes_are_refused,
    hostile_input_is_escaped_in_the_editor,
    the_test_panel_runs_the_editor_draft,
);

/// A callback whose line 3 does not parse.
const BROKEN: &str = "def execute(headers, event):\n    x = 1\n    return [x +]\n";
const FIXED: &str = "def execute(headers, event):\n    x = 1\n    return [x + 1]\n";

/// A signed-in browser without JavaScript (or htmx, when `htmx` is said): tests/api/ui.rs's,
/// posting fields.
pub(crate) struct Console<'a>(Browser<'a>);

impl<'a> Console<'a> {
    pub(crate) async fn sign_in(app: &'a TestApp, role: &str) -> Console<'a> {
        Console(Browser::sign_in(app, "global", role).await)
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, String) {
        self.0.get(path).await
    }

    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)], htmx: bool) -> Response {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = (self.0.app.client)
            .post(format!("{}{path}", self.0.app.address))
            .header(COOKIE, &self.0.cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if htmx {
            request = request.header("HX-Request", "true");
        }
        request.body(body).send().await.unwrap()
    }

    /// The CSRF token of the session, from the sign-out form every page has.
    pub(crate) async fn csrf(&self) -> String {
        let (_, page) = self.get("/ui/projects/global/belts").await;
        hidden(&page, "csrf")
    }
}

/// The value of the first hidden field `name` on a page.
pub(crate) fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

pub(crate) async fn total(app: &TestApp) -> Value {
    let (_, list) = json_of(app.get("/projects/global/belts", &app.viewer()).await).await;
    list["totalCount"].clone()
}

async fn belt(app: &TestApp, id: &str) -> Value {
    let path = format!("/projects/global/belts/{id}");
    json_of(app.get(&path, &app.viewer()).await).await.1
}

/// A form as a browser submits it: line ends of textareas as `\r\n`.
pub(crate) fn form<'a>(csrf: &'a str, name: &'a str, callback: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("name", name),
        ("description", "made in the editor"),
        ("eventTypes", "test-a, test-b"),
        ("replicas", "2"),
        ("extractorFn", callback),
        ("requirementsPy", ""),
    ]
}

async fn a_belt_is_created_through_the_form_with_the_csrf_token(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let console = Console::sign_in(&app, "editor").await;
    let (_, list) = console.get("/ui/projects/global/belts").await;
    assert!(
        list.contains("href=\"/ui/projects/global/belts/new\""),
        "{list}"
    );
    let (status, page) = console.get("/ui/projects/global/belts/new").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for label in [
        "for=\"name\"",
        "for=\"extractorFn\"",
        "for=\"requirementsPy\"",
    ] {
        assert!(page.contains(label), "every control is labelled: {page}");
    }
    let csrf = hidden(&page, "csrf");
    let crlf = FIXED.replace('\n', "\r\n");
    let new = "/ui/projects/global/belts/new";
    let missing = console
        .post(new, &form("", "made", &crlf)[1..], false)
        .await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let forged = console
        .post(new, &form("forged", "made", &crlf), false)
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(total(&app).await, 0, "nothing created without the token");
    // A refused document: the same editor again, the user's text kept, the field named.
    let refused = console.post(new, &form(&csrf, "", &crlf), false).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let text = refused.text().await.unwrap();
    assert!(
        text.contains("&#39;name&#39;") && text.contains("return [x + 1]"),
        "{text}"
    );
    assert_eq!(total(&app).await, 0);
    let created = console.post(new, &form(&csrf, "made", &crlf), false).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let location = created.headers()[LOCATION].to_str().unwrap().to_string();
    let id = location.rsplit('/').next().unwrap();
    assert_eq!(location, format!("/ui/projects/global/belts/{id}"));
    let stored = belt(&app, id).await;
    assert_eq!(stored["name"], "made");
    assert_eq!(stored["description"], "made in the editor");
    assert_eq!(stored["eventTypes"], json!(["test-a", "test-b"]));
    assert_eq!(stored["replicas"], 2);
    // The browser's `\r\n` is the form's encoding, not the user's text.
    assert_eq!(stored["extractorFn"], FIXED);
    assert_eq!(stored["createdBy"]["name"], "Ada", "{stored}");
}

async fn the_check_marks_a_syntax_error_at_its_line_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let console = Console::sign_in(&app, "editor").await;
    let csrf = console.csrf().await;
    let check = "/ui/projects/global/belts/check";
    let broken = console
        .post(check, &form(&csrf, "checked", BROKEN), true)
        .await;
    assert_eq!(broken.status(), StatusCode::OK);
    let fragment = broken.text().await.unwrap();
    assert!(
        fragment.starts_with("<div id=\"check\""),
        "htmx gets the region: {fragment}"
    );
    assert!(
        fragment.contains(
            "extractorFn, line 3, column 16: Parameter &#39;extractorFn&#39; is not valid Python"
        ),
        "{fragment}"
    );
    let bad = fragment
        .split("class=\"line bad\"")
        .nth(1)
        .expect(&fragment);
    assert!(bad.contains("<span class=\"ln\">3</span>") && bad.contains("error here, column 16"));
    assert_eq!(fragment.matches("class=\"line bad\"").count(), 1);
    let fine = console
        .post(check, &form(&csrf, "checked", FIXED), true)
        .await;
    let fine = fine.text().await.unwrap();
    assert!(
        fine.contains("No problems found") && !fine.contains("line bad"),
        "{fine}"
    );
    // Another field's refusal names it.
    let unnamed = console.post(check, &form(&csrf, "", FIXED), true).await;
    assert!(unnamed.text().await.unwrap().contains("&#39;name&#39;"));
    // Without htmx: the whole editor, the user's text in place.
    let page = console
        .post(check, &form(&csrf, "checked", BROKEN), false)
        .await;
    let page = page.text().await.unwrap();
    assert!(
        page.contains("<textarea") && page.contains("line 3, column 16"),
        "{page}"
    );
    assert_eq!(total(&app).await, 0, "a check creates nothing");
    // The edit's check is a dry run of the replace: the version stays. The checks above used up
    // no id, on either database: the first belt is 1.
    let id = app.create_belt("global", &minimal_belt("kept")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(id, "1", "a check takes no id");
    let path = format!("/ui/projects/global/belts/{id}/check");
    let mut fields = form(&csrf, "kept", FIXED);
    fields.push(("version", "1"));
    let tried = console
        .post(&path, &fields, true)
        .await
        .text()
        .await
        .unwrap();
    assert!(tried.contains("saving stores a new version"), "{tried}");
    assert_eq!(belt(&app, &id).await["version"], "1");
    assert_eq!(total(&app).await, 1);
    let missing = console.post(check, &form("", "x", FIXED)[1..], true).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
}

async fn an_edit_saves_the_next_version_and_a_stale_page_gets_412(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let body = json!({"name": "edited", "eventTypes": ["test-a"], "labels": ["keep-me"],
        "extractorFn": FIXED});
    let id = app.create_belt("global", &body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let console = Console::sign_in(&app, "editor").await;
    let (_, page) = console
        .get(&format!("/ui/projects/global/belts/{id}"))
        .await;
    let edit = format!("/ui/projects/global/belts/{id}/edit");
    assert!(page.contains(&format!("href=\"{edit}\"")), "{page}");
    let (status, editor) = console.get(&edit).await;
    assert_eq!(status, StatusCode::OK, "{editor}");
    assert_eq!(hidden(&editor, "version"), "1");
    assert!(editor.contains("return [x + 1]") && editor.contains("value=\"edited\""));
    let csrf = hidden(&editor, "csrf");
    let mut fields = form(&csrf, "edited", FIXED);
    fields.push(("version", "1"));
    let saved = console.post(&edit, &fields, false).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        saved.headers()[LOCATION],
        format!("/ui/projects/global/belts/{id}")
    );
    let stored = belt(&app, &id).await;
    assert_eq!(stored["version"], "2");
    assert_eq!(stored["description"], "made in the editor");
    assert_eq!(
        stored["labels"],
        json!(["keep-me"]),
        "what the form does not show is kept"
    );
    // The same page again, still at version 1: refused, nothing written.
    let stale = console.post(&edit, &fields, false).await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert!(stale
        .text()
        .await
        .unwrap()
        .contains("changed since you loaded it"));
    let check = format!("/ui/projects/global/belts/{id}/check");
    let said = console
        .post(&check, &fields, true)
        .await
        .text()
        .await
        .unwrap();
    assert!(said.contains("changed since you loaded it"), "{said}");
    assert_eq!(belt(&app, &id).await["version"], "2");
    let missing = console.post(&edit, &fields[1..], false).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
}

async fn a_viewer_gets_no_editor_and_forged_writes_are_refused(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = app.create_belt("global", &minimal_belt("watched")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let viewer = Console::sign_in(&app, "viewer").await;
    let (_, list) = viewer.get("/ui/projects/global/belts").await;
    assert!(!list.contains("/belts/new"), "{list}");
    let (_, page) = viewer.get(&format!("/ui/projects/global/belts/{id}")).await;
    assert!(!page.contains("/edit\""), "{page}");
    let (status, _) = viewer.get("/ui/projects/global/belts/new").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = viewer
        .get(&format!("/ui/projects/global/belts/{id}/edit"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The viewer's own valid CSRF token on hand-made forms.
    let csrf = viewer.csrf().await;
    let mut fields = form(&csrf, "forged", FIXED);
    fields.push(("version", "1"));
    fields.push(("sample", "{}"));
    let base = format!("/ui/projects/global/belts/{id}");
    for path in [
        "/ui/projects/global/belts/new".to_string(),
        "/ui/projects/global/belts/check".to_string(),
        "/ui/projects/global/belts/invoke".to_string(),
        format!("{base}/edit"),
        format!("{base}/check"),
        format!("{base}/invoke"),
    ] {
        let forged = viewer.post(&path, &fields, false).await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(total(&app).await, 1);
    let stored = belt(&app, &id).await;
    assert_eq!(
        (&stored["version"], &stored["name"]),
        (&json!("1"), &json!("watched"))
    );
}

async fn hostile_input_is_escaped_in_the_editor(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let hostile = "\"></textarea><script>alert(1)</script>";
    let callback = format!("{FIXED}# {hostile}\n");
    let console = Console::sign_in(&app, "editor").await;
    let csrf = console.csrf().await;
    let new = "/ui/projects/global/belts/new";
    let mut fields = form(&csrf, hostile, &callback);
    fields[2] = ("description", hostile);
    let created = console.post(new, &fields, false).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let location = created.headers()[LOCATION].to_str().unwrap().to_string();
    let (_, editor) = console.get(&format!("{location}/edit")).await;
    let checked = console
        .post("/ui/projects/global/belts/check", &fields, true)
        .await;
    let broken = format!("{BROKEN}{hostile}");
    let refused = console
        .post(new, &form(&csrf, hostile, &broken), false)
        .await;
    for page in [
        editor,
        checked.text().await.unwrap(),
        refused.text().await.unwrap(),
    ] {
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("</textarea><script>"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
    }
}

async fn the_test_panel_runs_the_editor_draft(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = app.create_belt("global", &minimal_belt("tried")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let console = Console::sign_in(&app, "editor").await;
    let (_, editor) = console
        .get(&format!("/ui/projects/global/belts/{id}/edit"))
        .await;
    assert!(
        editor.contains("for=\"sample\"") && editor.contains("id=\"run\""),
        "{editor}"
    );
    let csrf = hidden(&editor, "csrf");
    let run = format!("/ui/projects/global/belts/{id}/invoke");
    let draft = "def execute(headers, event):\n    return {\"keys\": [event[\"id\"]], \"type\": \"t\", \"values\": [{\"value\": 41}]}\n";
    let mut fields = form(&csrf, "tried", draft);
    fields.push(("sample", "{\"id\": 7}"));
    let ran = console.post(&run, &fields, true).await;
    assert_eq!(ran.status(), StatusCode::OK);
    let ran = ran.text().await.unwrap();
    assert!(ran.starts_with("<div id=\"ran\""), "{ran}");
    assert!(
        ran.contains("data-ran=\"completed\"") && ran.contains("Updates (1)"),
        "{ran}"
    );
    assert!(ran.contains("&quot;value&quot;: 41"), "{ran}");
    let raising = "def execute(headers, event):\n    return 1 / 0\n";
    let mut fields = form(&csrf, "tried", raising);
    fields.push(("sample", "{\"id\": 7}"));
    let ran = console
        .post(&run, &fields, true)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        ran.contains("ZeroDivisionError") && ran.contains("Traceback"),
        "{ran}"
    );
    fields.pop();
    fields.push(("sample", "{not json"));
    let ran = console
        .post(&run, &fields, false)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        ran.contains("<textarea") && ran.contains("not JSON"),
        "{ran}"
    );
    // The use case's own refusal is the panel's answer, never a 500.
    fields.pop();
    fields.push(("sample", "{}"));
    fields[6] = ("requirementsPy", "not a requirement !!");
    let ran = console.post(&run, &fields, true).await;
    assert_eq!(ran.status(), StatusCode::OK);
    let ran = ran.text().await.unwrap();
    assert!(
        ran.contains("data-ran=\"refused\"") && ran.contains("requirementsPy"),
        "{ran}"
    );
    // Nothing was stored by a run.
    assert_eq!(belt(&app, &id).await["version"], "1");
}
