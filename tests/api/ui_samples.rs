//! The test panel's saved samples in the console (docs/console.md): "Save as…" saves the sample
//! through the samples use case, the select lists what the belt keeps, "Load" fills the sample's
//! textarea (htmx: the samples region; without: the whole editor, drafts kept), and "Run" runs
//! what the textarea holds, several events included. A viewer gets no save control.

use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::*;
use crate::ui::{hidden, Browser};

backend_tests!(
    the_panel_saves_a_sample_lists_it_and_loads_it_into_the_textarea,
    a_viewer_gets_no_save_control_and_a_forged_save_is_refused,
);

const CALLBACK: &str = "def execute(headers, event):\n    return {\"keys\": [event[\"id\"]], \"type\": \"t\", \"values\": [{\"value\": 1}]}\n";

async fn post(browser: &Browser<'_>, path: &str, fields: &[(&str, &str)], htmx: bool) -> Response {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut request = (browser.app.client)
        .post(format!("{}{path}", browser.app.address))
        .header(COOKIE, &browser.cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    if htmx {
        request = request.header("HX-Request", "true");
    }
    request.body(body).send().await.unwrap()
}

async fn text(response: Response) -> (StatusCode, String) {
    (response.status(), response.text().await.unwrap())
}

/// The editor's form as a browser submits it, with the test panel's fields.
fn form<'a>(
    csrf: &'a str,
    sample: &'a str,
    name: &'a str,
    saved: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("version", "1"),
        ("name", "panel"),
        ("eventTypes", "test-a"),
        ("extractorFn", CALLBACK),
        ("requirementsPy", ""),
        ("sample", sample),
        ("sampleName", name),
        ("saved", saved),
    ]
}

/// The text of the sample's textarea.
fn textarea(page: &str) -> &str {
    let start = page.find("<textarea id=\"sample\"").expect(page);
    let open = start + page[start..].find('>').unwrap() + 1;
    let close = open + page[open..].find("</textarea>").unwrap();
    &page[open..close]
}

async fn the_panel_saves_a_sample_lists_it_and_loads_it_into_the_textarea(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let mut body = minimal_belt("panel");
    body["extractorFn"] = json!(CALLBACK);
    let id = app.create_belt("global", &body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let browser = Browser::sign_in(&app, "global", "editor").await;
    let edit = format!("/ui/projects/global/belts/{id}/edit");
    let (_, editor) = browser.get(&edit).await;
    assert!(
        editor.contains("<select id=\"saved\" name=\"saved\">"),
        "{editor}"
    );
    assert!(editor.contains("(none saved yet)") && editor.contains("id=\"save-sample\""));
    let csrf = hidden(&editor, "csrf");
    let base = format!("/ui/projects/global/belts/{id}/samples");
    let (save, load) = (format!("{base}/save"), format!("{base}/load"));

    // "Save as…" with htmx: the region again, the new name selected, nothing else.
    let fields = form(&csrf, "{\"id\": 7}", "order-7", "");
    let (status, region) = text(post(&browser, &save, &fields, true).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(region.starts_with("<div id=\"samples\""), "{region}");
    assert!(
        region.contains("<option selected>order-7</option>"),
        "{region}"
    );
    assert!(region.contains("Saved &#39;order-7&#39;."), "{region}");
    let path = format!("/projects/global/belts/{id}/samples");
    let (_, listed) = json_of(app.get(&path, &app.viewer()).await).await;
    assert_eq!(
        listed["items"][0]["events"],
        json!([{"headers": {}, "event": {"id": 7}}])
    );
    assert_eq!(listed["items"][0]["savedBy"]["name"], "Ada", "{listed}");
    let again = text(post(&browser, &save, &fields, true).await).await.1;
    assert!(again.contains("Replaced &#39;order-7&#39;."), "{again}");

    // Saved through the API, with headers and two events: the select lists both.
    let two = json!({"events": [{"headers": {"grnry-correlation-id": "c-1"}, "event": {"id": 1}},
        {"event": {"id": 2}}]});
    let saved = app.put(&format!("{path}/two"), &app.editor(), &two).await;
    assert_eq!(saved.status(), StatusCode::CREATED);
    let (_, editor) = browser.get(&edit).await;
    assert!(
        editor.contains("<option>order-7</option><option>two</option>"),
        "{editor}"
    );

    // "Load" without htmx: the whole editor, the sample in the textarea, the drafts kept.
    let mut fields = form(&csrf, "{}", "", "two");
    fields[4] = ("extractorFn", "# a draft kept\n");
    let (status, page) = text(post(&browser, &load, &fields, false).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("# a draft kept") && page.contains("<option selected>two</option>"));
    let loaded = textarea(&page).replace("&quot;", "\"");
    let loaded: serde_json::Value = serde_json::from_str(&loaded).expect(&loaded);
    assert_eq!(
        loaded["events"][0]["headers"]["grnry-correlation-id"],
        "c-1"
    );
    assert_eq!(loaded["events"][1]["event"], json!({"id": 2}));
    // With htmx: the region, the one-event sample as the event alone.
    let fields = form(&csrf, "{}", "", "order-7");
    let region = text(post(&browser, &load, &fields, true).await).await.1;
    assert!(region.starts_with("<div id=\"samples\""), "{region}");
    assert_eq!(textarea(&region), "{\n  &quot;id&quot;: 7\n}");
    assert!(
        region.contains("value=\"order-7\""),
        "the name to save it back under: {region}"
    );

    // "Run" runs what the textarea holds: both events of the loaded sample.
    let sample = serde_json::to_string(&loaded).unwrap();
    let fields = form(&csrf, &sample, "", "");
    let ran = text(
        post(
            &browser,
            &format!("/ui/projects/global/belts/{id}/invoke"),
            &fields,
            true,
        )
        .await,
    )
    .await
    .1;
    assert!(ran.contains("data-ran=\"completed\""), "{ran}");
    assert_eq!(ran.matches("Updates (1)").count(), 2, "{ran}");

    // Refusals are said in the region (htmx) or on the editor (400), naming the field.
    let bad_name = form(&csrf, "{}", "no spaces", "");
    let region = text(post(&browser, &save, &bad_name, true).await).await.1;
    assert!(
        region.contains("class=\"problem\"") && region.contains("&#39;sampleName&#39;"),
        "{region}"
    );
    let (status, page) = text(post(&browser, &save, &bad_name, false).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("&#39;sampleName&#39;") && page.contains("<textarea id=\"sample\""));
    let not_json = form(&csrf, "{nope", "fine", "");
    let region = text(post(&browser, &save, &not_json, true).await).await.1;
    assert!(
        region.contains("not JSON") && textarea(&region) == "{nope",
        "{region}"
    );
    let nothing = text(post(&browser, &load, &form(&csrf, "{}", "", ""), true).await)
        .await
        .1;
    assert!(nothing.contains("Choose a saved sample"), "{nothing}");
    let (_, listed) = json_of(app.get(&path, &app.viewer()).await).await;
    assert_eq!(
        listed["totalCount"], 2,
        "nothing refused was saved: {listed}"
    );
    for route in [&save, &load] {
        let forged = post(&browser, route, &form("forged", "{}", "x", "two"), true).await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{route}");
    }
}

async fn a_viewer_gets_no_save_control_and_a_forged_save_is_refused(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = app.create_belt("global", &minimal_belt("watched")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/projects/global/belts/{id}/samples");
    let one = json!({"events": [{"event": 1}]});
    let put = app.put(&format!("{path}/kept"), &app.editor(), &one).await;
    assert_eq!(put.status(), StatusCode::CREATED);
    let viewer = Browser::sign_in(&app, "global", "viewer").await;
    let (_, list) = viewer.get("/ui/projects/global/belts").await;
    let csrf = hidden(&list, "csrf");
    let base = format!("/ui/projects/global/belts/{id}/samples");
    let forged = post(
        &viewer,
        &format!("{base}/save"),
        &form(&csrf, "2", "forged", ""),
        true,
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (_, listed) = json_of(app.get(&path, &app.viewer()).await).await;
    assert_eq!(listed["totalCount"], 1, "{listed}");
    // A viewer may read the samples, as through the API, and is offered no save.
    let region = text(
        post(
            &viewer,
            &format!("{base}/load"),
            &form(&csrf, "{}", "", "kept"),
            true,
        )
        .await,
    )
    .await
    .1;
    assert!(
        region.contains("<option selected>kept</option>"),
        "{region}"
    );
    assert_eq!(textarea(&region), "1");
    assert!(
        !region.contains("save-sample") && !region.contains("sampleName"),
        "{region}"
    );
}
