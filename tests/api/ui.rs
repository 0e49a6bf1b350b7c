//! The console's HTTP surface (docs/console.md): the dev sign-in session, CSRF and ETag checks on
//! its writes, a viewer's forged write, escaping, assets and the browser's `/`. The browser
//! itself drives it in tests/ui_browser.rs.

use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    a_browser_at_the_root_goes_to_the_console_and_the_api_answers_as_before,
    dev_sign_in_sets_a_strict_http_only_cookie_and_no_token,
    writes_need_the_session_csrf_token_and_the_shown_version,
    a_viewer_sees_no_write_buttons_and_a_forged_write_is_refused,
    hostile_names_are_escaped_and_the_list_filters,
    with_oidc_the_console_never_signs_in_silently,
    console_answers_say_their_server_time_and_api_answers_do_not,
    a_viewer_downloads_the_export_yaml_of_a_belt,
);

/// A signed-in browser: its session cookie (the live updates' tests, ui_live.rs, sign in so too).
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookie: String,
}

impl<'a> Browser<'a> {
    pub async fn sign_in(app: &'a TestApp, project: &str, role: &str) -> Browser<'a> {
        let response = app
            .client
            .post(format!("{}/ui/login", app.address))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("name=Ada&project={project}&role={role}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers()[LOCATION],
            format!("/ui/projects/{project}/belts")
        );
        let set = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
        let cookie = set.split(';').next().unwrap().to_string();
        Browser { app, cookie }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = (self.app.client)
            .get(format!("{}{path}", self.app.address))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    pub async fn post(&self, path: &str, form: &str) -> Response {
        (self.app.client)
            .post(format!("{}{path}", self.app.address))
            .header(COOKIE, &self.cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.to_string())
            .send()
            .await
            .unwrap()
    }
}

/// Without a session, a console route sends the browser to sign in and shows nothing else.
pub async fn assert_sent_to_sign_in(app: &TestApp, path: &str) {
    let refused = (app.client)
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SEE_OTHER, "{path}");
    assert_eq!(refused.headers()[LOCATION], "/ui/login", "{path}");
}

/// The value of the first hidden field `name` on a page.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

async fn a_browser_at_the_root_goes_to_the_console_and_the_api_answers_as_before(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let url = format!("{}/", app.address);
    let browser = app
        .client
        .get(&url)
        .header(ACCEPT, "text/html,*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), StatusCode::SEE_OTHER);
    assert_eq!(browser.headers()[LOCATION], "/ui");
    let program = app.client.get(&url).send().await.unwrap();
    assert_error(program, StatusCode::NOT_FOUND, "entity_not_found").await;
    let posted = app
        .client
        .post(&url)
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_error(posted, StatusCode::NOT_FOUND, "entity_not_found").await;
    // Not signed in: the console sends the browser to sign in.
    let home = app
        .client
        .get(format!("{}/ui", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(home.headers()[LOCATION], "/ui/login");
    let (_, login) = Browser {
        app: &app,
        cookie: String::new(),
    }
    .get("/ui/login")
    .await;
    let style = login
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let script = login
        .split("<script src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    for (path, kind) in [(style, "text/css"), (script, "text/javascript")] {
        let asset = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), StatusCode::OK, "{path}");
        assert!(asset.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with(kind));
        assert!(asset.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable"));
        assert!(!asset.bytes().await.unwrap().is_empty());
    }
}

async fn dev_sign_in_sets_a_strict_http_only_cookie_and_no_token(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let (status, login) = Browser {
        app: &app,
        cookie: String::new(),
    }
    .get("/ui/login")
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(login.contains("Local development sign-in"), "{login}");
    let response = app
        .client
        .post(format!("{}/ui/login", app.address))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("name=Ada&project=global&role=editor")
        .send()
        .await
        .unwrap();
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http: {set}");
    let cookie = set.split(';').next().unwrap().to_string();
    // The session id is no JWT: the token stays on the server.
    assert_eq!(cookie.matches('.').count(), 0, "{cookie}");
    let browser = Browser { app: &app, cookie };
    let (status, list) = browser.get("/ui/projects/global/belts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains("<main>") && list.contains("Signed in as Ada"),
        "{list}"
    );
    assert!(!list.contains("eyJ"), "a token reached the page: {list}");
    // Sign-out needs the session's CSRF token, then the session is gone.
    let csrf = hidden(&list, "csrf");
    let refused = browser.post("/ui/logout", "csrf=wrong").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let out = browser.post("/ui/logout", &format!("csrf={csrf}")).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = (app.client)
        .get(format!("{}/ui/projects/global/belts", app.address))
        .header(COOKIE, &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.headers()[LOCATION], "/ui/login");
}

async fn writes_need_the_session_csrf_token_and_the_shown_version(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let created = app
        .create_belt("global", &minimal_belt("console-csrf"))
        .await;
    let id = created["id"].as_str().unwrap();
    let browser = Browser::sign_in(&app, "global", "editor").await;
    let page_path = format!("/ui/projects/global/belts/{id}");
    let (status, page) = browser.get(&page_path).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("id=\"start\""),
        "an editor sees START: {page}"
    );
    let csrf = hidden(&page, "csrf");
    assert_eq!(hidden(&page, "version"), "1");
    let state = format!("{page_path}/state");
    let missing = browser.post(&state, "action=STOP&version=1").await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let forged = browser
        .post(&state, "action=STOP&version=1&csrf=forged")
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.text().await.unwrap().contains("CSRF"));
    // Another session's token is no good either.
    let other = Browser::sign_in(&app, "global", "editor").await;
    let (_, other_page) = other.get(&page_path).await;
    let theirs = hidden(&other_page, "csrf");
    assert_ne!(theirs, csrf);
    let crossed = browser
        .post(&state, &format!("action=STOP&version=1&csrf={theirs}"))
        .await;
    assert_eq!(crossed.status(), StatusCode::FORBIDDEN);
    // The belt changes behind the page's back: the stale form is refused, nothing is done.
    let token = app.editor();
    let body = json!({"name": "console-csrf", "eventTypes": ["test-a"], "description": "new"});
    let put = app
        .put(&format!("/projects/global/belts/{id}"), &token, &body)
        .await;
    assert_eq!(put.status(), StatusCode::OK);
    let stale = browser
        .post(&state, &format!("action=STOP&version=1&csrf={csrf}"))
        .await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert!(stale
        .text()
        .await
        .unwrap()
        .contains("changed since you loaded it"));
    // STOP of a stopped belt: the transition table's refusal, as a page that says why.
    let refused = browser
        .post(&state, &format!("action=STOP&version=2&csrf={csrf}"))
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("STOPPED"));
    let fresh = browser
        .post(&state, &format!("action=START&version=2&csrf={csrf}"))
        .await;
    assert_eq!(fresh.status(), StatusCode::SEE_OTHER);
    assert_eq!(fresh.headers()[LOCATION], format!("{page_path}?done=START"));
}

async fn a_viewer_sees_no_write_buttons_and_a_forged_write_is_refused(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let created = app
        .create_belt("global", &minimal_belt("console-viewer"))
        .await;
    let id = created["id"].as_str().unwrap();
    let viewer = Browser::sign_in(&app, "global", "viewer").await;
    let page_path = format!("/ui/projects/global/belts/{id}");
    let (status, page) = viewer.get(&page_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !page.contains("/state\""),
        "no START/STOP form for a viewer: {page}"
    );
    assert!(page.contains("shown to editors only"), "{page}");
    // The viewer's own, valid CSRF token (from the sign-out form) on a hand-made START form.
    let csrf = hidden(&page, "csrf");
    let forged = viewer
        .post(
            &format!("{page_path}/state"),
            &format!("action=START&version=1&csrf={csrf}"),
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let state = app
        .get(&format!("/projects/global/belts/{id}/state"), &app.viewer())
        .await;
    assert_eq!(json_of(state).await.1["status"], "STOPPED");
}

async fn hostile_names_are_escaped_and_the_list_filters(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let hostile = "<script>alert(1)</script>";
    let body = json!({"name": "quiet-belt", "eventTypes": ["test-a"], "description": hostile});
    let created = app.create_belt("global", &body).await;
    app.create_belt("global", &minimal_belt("other-belt")).await;
    let browser = Browser::sign_in(&app, "global", "editor").await;
    let (_, page) = browser
        .get(&format!(
            "/ui/projects/global/belts/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert!(!page.contains(hostile), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    let (_, found) = browser.get("/ui/projects/global/belts?search=quiet").await;
    assert!(
        found.contains("quiet-belt") && !found.contains("other-belt"),
        "{found}"
    );
    let (_, running) = browser
        .get("/ui/projects/global/belts?status=RUNNING")
        .await;
    assert!(!running.contains("quiet-belt"), "{running}");
    let (status, bad) = browser
        .get("/ui/projects/global/belts?status=SLEEPING")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("status"), "the refusal names the field: {bad}");
    let (status, elsewhere) = browser.get("/ui/projects/other/belts").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{elsewhere}");
}

async fn with_oidc_the_console_never_signs_in_silently(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, login) = Browser {
        app: &app,
        cookie: String::new(),
    }
    .get("/ui/login")
    .await;
    // An issuer but no console client: the page says what is missing, and signs nobody in.
    assert_eq!(status, StatusCode::OK);
    assert!(login.contains("BELT_CONSOLE_OIDC_CLIENT_ID"), "{login}");
    assert!(!login.contains("Local development sign-in"), "{login}");
    let response = app
        .client
        .post(format!("{}/ui/login", app.address))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("name=Ada&project=global&role=editor")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(SET_COOKIE).is_none());

    // A client, but a provider whose discovery names no authorization endpoint: the sign-in
    // fails closed, with a page, and nothing is pending for the browser.
    let options = Options {
        args: vec![("--console-oidc-client-id".into(), "belt-console".into())],
        ..Options::default()
    };
    let app = TestApp::spawn_with(backend, options).await;
    let response = app
        .client
        .get(format!("{}/ui/login", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.headers().get(SET_COOKIE).is_none());
    let page = response.text().await.unwrap();
    assert!(page.contains("nobody is signed in"), "{page}");
}

async fn console_answers_say_their_server_time_and_api_answers_do_not(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let browser = Browser::sign_in(&app, "global", "viewer").await;
    let page = (app.client)
        .get(format!("{}/ui/projects/global/belts", app.address))
        .header(COOKIE, &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let timing = page.headers()["server-timing"].to_str().unwrap();
    let millis: f64 = timing
        .strip_prefix("app;dur=")
        .unwrap_or_else(|| panic!("{timing}"))
        .parse()
        .unwrap();
    assert!(millis > 0.0 && millis < 60_000.0, "{timing}");
    let token = app.token("global", &["viewer"]);
    let api = app.get("/projects/global/belts", &token).await;
    assert_eq!(api.status(), StatusCode::OK);
    assert!(api.headers().get("server-timing").is_none());
}

async fn a_viewer_downloads_the_export_yaml_of_a_belt(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let body = json!({"name": "exported", "eventTypes": ["test-a"], "description": "kept"});
    let id = app.create_belt("global", &body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let browser = Browser::sign_in(&app, "global", "viewer").await;
    let (_, page) = browser
        .get(&format!("/ui/projects/global/belts/{id}"))
        .await;
    assert!(
        page.contains(&format!("/belts/{id}/export\">Export YAML")),
        "{page}"
    );
    let answer = (app.client)
        .get(format!(
            "{}/ui/projects/global/belts/{id}/export",
            app.address
        ))
        .header(COOKIE, &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let headers = answer.headers().clone();
    assert!(headers[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/yaml"));
    let file = headers["content-disposition"].to_str().unwrap();
    assert_eq!(file, format!("attachment; filename=\"belt-{id}.yaml\""));
    let yaml = answer.text().await.unwrap();
    // Only what differs from the defaults, and the id: what `belt apply -f` needs.
    assert!(
        yaml.contains(&format!("id: '{id}'")) || yaml.contains(&format!("id: \"{id}\"")),
        "{yaml}"
    );
    assert!(
        yaml.contains("name: exported") && yaml.contains("description: kept"),
        "{yaml}"
    );
    assert!(!yaml.contains("replicas"), "a default is left out: {yaml}");
    let elsewhere = Browser::sign_in(&app, "other", "viewer").await;
    let (status, _) = elsewhere
        .get(&format!("/ui/projects/global/belts/{id}/export"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
