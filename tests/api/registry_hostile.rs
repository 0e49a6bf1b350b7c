//! The event-type registry as an adversary: answers in shapes the service must not take as "open
//! to all", names that would walk the registry's paths, bodies that fan out into thousands of
//! calls, and redirects that would carry the caller's token elsewhere. Every refusal leaves the
//! store as it was.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    answers_not_understood_are_refused_and_nothing_is_stored,
    restricted_types_in_every_wrapper_need_the_role,
    dot_names_never_reach_the_registry,
    fan_out_is_bounded_per_request,
    fan_out_is_bounded_overall,
    registry_redirects_are_not_followed,
);

const OPEN: &str = "test-a";

fn open(name: &str) -> Value {
    json!({"name": name, "version": 1, "consumer": null, "editor": null})
}

fn restricted(name: &str, version: u64) -> Value {
    json!({"name": name, "version": version, "consumer": "secret_consumer", "editor": "secret_editor"})
}

/// 200 answers that do not positively say "this event type exists, and these roles may consume
/// it" (each served for its own event type name).
fn malformed_answers() -> Vec<(&'static str, ResponseTemplate)> {
    let body = |value: Value| ResponseTemplate::new(200).set_body_json(value);
    vec![
        ("empty-list", body(json!([]))),
        ("empty-object", body(json!({}))),
        ("null", body(Value::Null)),
        ("string", body(json!("m-string"))),
        ("number", body(json!(7))),
        ("true", body(json!(true))),
        ("empty-wrapper", body(json!({"eventTypes": []}))),
        ("another-record", body(open("someone-else"))),
        ("another-in-list", body(json!([open("someone-else")]))),
        (
            "role-number",
            body(json!({"name": "m-role-number", "consumer": 5, "editor": null})),
        ),
        (
            "role-object",
            body(json!({"name": "m-role-object", "consumer": {"role": "x"}, "editor": null})),
        ),
        ("roles-missing", body(json!({"name": "m-roles-missing"}))),
        (
            "editor-missing",
            body(json!({"name": "m-editor-missing", "consumer": null})),
        ),
        (
            "page-not-list",
            body(json!({"content": {"name": "m-page-not-list"}})),
        ),
        (
            "not-json",
            ResponseTemplate::new(200).set_body_raw("{\"name\": ", "application/json"),
        ),
        (
            "two-wrappers",
            body(json!({"eventTypes": [open("m-two-wrappers")], "content": []})),
        ),
        ("no-content", ResponseTemplate::new(204)),
    ]
}

/// The three wrappers a registry puts records in, holding `record`s.
fn wrappers(records: Vec<Value>) -> Vec<(&'static str, Value)> {
    vec![
        ("event-types", json!({"_links": {}, "eventTypes": records})),
        ("versions", json!(records)),
        ("page", json!({"content": records, "totalElements": 1})),
    ]
}

async fn mount(server: &MockServer, name: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/projects/global/event-types/{name}")))
        .respond_with(response)
        .mount(server)
        .await;
}

/// Spawns the app against `registry` and creates belt 1 on the open event type.
async fn app_with_one_belt(backend: Backend, registry: &MockServer) -> TestApp {
    mount(
        registry,
        OPEN,
        ResponseTemplate::new(200).set_body_json(open(OPEN)),
    )
    .await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            harvester_url: Some(registry.uri()),
            ..Default::default()
        },
    )
    .await;
    let created = app
        .create_belt(
            "global",
            &json!({"id": "1", "name": "one", "eventTypes": [OPEN]}),
        )
        .await;
    assert_eq!(created["version"], "1");
    app
}

/// POST (as belt 999) and PUT (on belt 1) with `event_type`; both must answer `status`/`kind`,
/// and afterwards belt 999 does not exist and belt 1 is unchanged.
async fn refused_everywhere(
    app: &TestApp,
    token: &str,
    event_type: &str,
    status: StatusCode,
    kind: &str,
) -> Vec<String> {
    let mut messages = Vec::new();
    let body = json!({"id": "999", "name": "refused", "eventTypes": [event_type]});
    let response = app.post("/projects/global/belts", token, &body).await;
    messages.push(assert_error(response, status, kind).await);
    let response = app.get("/projects/global/belts/999", token).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "{event_type}");

    let body = json!({"name": "one", "eventTypes": [event_type]});
    let response = app.put("/projects/global/belts/1", token, &body).await;
    messages.push(assert_error(response, status, kind).await);
    let (_, belt) = json_of(app.get("/projects/global/belts/1", token).await).await;
    assert_eq!(belt["version"], "1", "{event_type}");
    assert_eq!(belt["eventTypes"], json!([OPEN]), "{event_type}");
    messages
}

async fn answers_not_understood_are_refused_and_nothing_is_stored(backend: Backend) {
    let registry = MockServer::start().await;
    let answers = malformed_answers();
    for (name, response) in &answers {
        mount(&registry, &format!("m-{name}"), response.clone()).await;
    }
    let app = app_with_one_belt(backend, &registry).await;
    let token = app.editor();
    for (name, _) in &answers {
        let event_type = format!("m-{name}");
        for message in refused_everywhere(
            &app,
            &token,
            &event_type,
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
        )
        .await
        {
            assert!(
                message.contains(&event_type) && message.contains("'eventTypes'"),
                "{message}"
            );
        }
    }
    let (_, list) = json_of(app.get("/projects/global/belts", &token).await).await;
    assert_eq!(list["totalCount"], 1, "only belt 1: {list}");
}

async fn restricted_types_in_every_wrapper_need_the_role(backend: Backend) {
    let registry = MockServer::start().await;
    for (shape, _) in wrappers(vec![]) {
        let name = format!("r-{shape}");
        let versions = vec![open(&name), restricted(&name, 2)];
        let (_, answer) = wrappers(versions)
            .into_iter()
            .find(|(s, _)| *s == shape)
            .unwrap();
        mount(
            &registry,
            &name,
            ResponseTemplate::new(200).set_body_json(answer),
        )
        .await;
        let name = format!("o-{shape}");
        let (_, answer) = wrappers(vec![open(&name)])
            .into_iter()
            .find(|(s, _)| *s == shape)
            .unwrap();
        mount(
            &registry,
            &name,
            ResponseTemplate::new(200).set_body_json(answer),
        )
        .await;
    }
    let app = app_with_one_belt(backend, &registry).await;
    let issuer = app.idp.as_ref().unwrap().issuer();
    let editor = app.editor();
    for (shape, _) in wrappers(vec![]) {
        // The latest version is restricted: an editor without its roles is refused.
        let name = format!("r-{shape}");
        for message in refused_everywhere(
            &app,
            &editor,
            &name,
            StatusCode::BAD_REQUEST,
            "bad_parameter_value",
        )
        .await
        {
            assert!(
                message.contains("'eventTypes'") && message.contains("'secret_consumer'"),
                "{message}"
            );
        }
        // The shape is understood: with the role, or for an open type, the belt is stored.
        let mut claims = keycloak_claims(&issuer, "global", &["editor"]);
        claims["realm_access"] = json!({"roles": ["secret_editor"]});
        let body = json!({"name": format!("with-role-{shape}"), "eventTypes": [name]});
        let response = app
            .post(
                "/projects/global/belts",
                &sign_with("rsa-a", &claims),
                &body,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{shape}");
        let body = json!({"name": format!("open-{shape}"), "eventTypes": [format!("o-{shape}")]});
        let response = app.post("/projects/global/belts", &editor, &body).await;
        assert_eq!(response.status(), StatusCode::OK, "{shape}");
    }
}

async fn dot_names_never_reach_the_registry(backend: Backend) {
    let registry = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(open("..")))
        .mount(&registry)
        .await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            harvester_url: Some(registry.uri()),
            ..Default::default()
        },
    )
    .await;
    let token = app.editor();
    for names in [
        json!(["."]),
        json!([".."]),
        json!(["a", ".."]),
        json!(["a/.."]),
    ] {
        let body = json!({"name": "dots", "eventTypes": names});
        let response = app.post("/projects/global/belts", &token, &body).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(message.contains("'eventTypes'"), "{message}");
    }
    assert!(registry.received_requests().await.unwrap().is_empty());
    let (_, list) = json_of(app.get("/projects/global/belts", &token).await).await;
    assert_eq!(list["totalCount"], 0);
}

/// A registry that answers every event type as open, after `delay`, and counts the calls it
/// serves at once.
#[derive(Default)]
struct Calls {
    now: AtomicUsize,
    most: AtomicUsize,
    total: AtomicUsize,
}

struct InFlight(Arc<Calls>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn counting_registry(delay: Duration) -> (String, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let counted = calls.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let calls = counted.clone();
        async move {
            let now = calls.now.fetch_add(1, Ordering::SeqCst) + 1;
            let _in_flight = InFlight(calls.clone());
            calls.most.fetch_max(now, Ordering::SeqCst);
            calls.total.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            let name = uri
                .path()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            axum::Json(open(&name))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), calls)
}

async fn fan_out_is_bounded_per_request(backend: Backend) {
    let (url, calls) = counting_registry(Duration::from_millis(20)).await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            harvester_url: Some(url),
            ..Default::default()
        },
    )
    .await;
    let token = app.editor();
    let names = |n: usize| (0..n).map(|i| format!("type-{i}")).collect::<Vec<_>>();
    // Over the documented maximum: refused before any registry call.
    let body = json!({"name": "wide", "eventTypes": names(3000)});
    let response = app.post("/projects/global/belts", &token, &body).await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(
        message.contains("'eventTypes'") && message.contains("at most 100"),
        "{message}"
    );
    assert_eq!(calls.total.load(Ordering::SeqCst), 0);
    // At the maximum: one call per type, at most 8 at once.
    let body = json!({"name": "widest", "eventTypes": names(100)});
    let response = app.post("/projects/global/belts", &token, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls.total.load(Ordering::SeqCst), 100);
    let most = calls.most.load(Ordering::SeqCst);
    assert!((2..=8).contains(&most), "{most} registry calls at once");
}

async fn fan_out_is_bounded_overall(backend: Backend) {
    let (url, calls) = counting_registry(Duration::from_millis(10)).await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            harvester_url: Some(url),
            ..Default::default()
        },
    )
    .await;
    let token = app.editor();
    // Twelve requests of 100 types could make 96 calls at once; the service makes at most 64.
    let creates = (0..12).map(|i| {
        let body = json!({
            "name": format!("wide-{i}"),
            "eventTypes": (0..100).map(|t| format!("type-{i}-{t}")).collect::<Vec<_>>(),
        });
        let (app, token) = (&app, &token);
        async move {
            app.post("/projects/global/belts", token, &body)
                .await
                .status()
        }
    });
    for status in futures::future::join_all(creates).await {
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(calls.total.load(Ordering::SeqCst), 1200);
    let most = calls.most.load(Ordering::SeqCst);
    assert!(most <= 64, "{most} registry calls at once");
}

async fn registry_redirects_are_not_followed(backend: Backend) {
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(open(OPEN)))
        .mount(&elsewhere)
        .await;
    let registry = MockServer::start().await;
    for status in [301, 302, 307, 308] {
        Mock::given(method("GET"))
            .and(path(format!("/projects/global/event-types/moved-{status}")))
            .respond_with(ResponseTemplate::new(status).insert_header(
                "location",
                format!("{}/projects/global/event-types/{OPEN}", elsewhere.uri()).as_str(),
            ))
            .mount(&registry)
            .await;
    }
    let app = app_with_one_belt(backend, &registry).await;
    let token = app.editor();
    for status in [301, 302, 307, 308] {
        refused_everywhere(
            &app,
            &token,
            &format!("moved-{status}"),
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
        )
        .await;
    }
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the caller's token went to another origin"
    );
}
