//! The event-type registry (Harvester API): existence, consumer roles, the caller's token, outages.

use reqwest::StatusCode;
use serde_json::json;
use wiremock::matchers::{header_regex, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    event_types_must_exist_in_the_project_registry,
    consumer_roles_named_by_the_registry_are_required,
    a_registry_that_does_not_answer_is_503_and_nothing_is_stored,
);

async fn registry() -> MockServer {
    let server = MockServer::start().await;
    for name in ["test-a", "test-b"] {
        Mock::given(method("GET"))
            .and(path(format!("/projects/global/event-types/{name}")))
            .and(header_regex("authorization", "^Bearer .+"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"name": name, "consumer": null, "editor": null})),
            )
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/projects/global/event-types/guarded"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "guarded", "consumer": "guarded_consumer", "editor": "guarded_editor"
        })))
        .mount(&server)
        .await;
    // Anything else is unknown.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    server
}

async fn event_types_must_exist_in_the_project_registry(backend: Backend) {
    let server = registry().await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            harvester_url: Some(server.uri()),
            ..Default::default()
        },
    )
    .await;
    let token = app.editor();
    let mut body = minimal_belt("known");
    body["eventTypes"] = json!(["test-a", "test-b"]);
    assert_eq!(
        app.post("/projects/global/belts", &token, &body)
            .await
            .status(),
        StatusCode::OK
    );

    body["name"] = json!("unknown");
    body["eventTypes"] = json!(["test-a", "someUnknownEventType"]);
    let response = app.post("/projects/global/belts", &token, &body).await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert_eq!(message, "Invalid event type: someUnknownEventType");

    // The registry was asked with the caller's own token.
    let requests = server.received_requests().await.unwrap();
    let forwarded = requests[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(forwarded, format!("Bearer {token}"));
}

async fn consumer_roles_named_by_the_registry_are_required(backend: Backend) {
    let server = registry().await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            harvester_url: Some(server.uri()),
            ..Default::default()
        },
    )
    .await;
    let issuer = app.idp.as_ref().unwrap().issuer();
    let mut body = minimal_belt("guarded");
    body["eventTypes"] = json!(["guarded"]);
    let response = app
        .post("/projects/global/belts", &app.editor(), &body)
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(
        message.contains("'eventTypes'") && message.contains("guarded_consumer"),
        "{message}"
    );
    // The role as a realm role, or as a role of any client, is enough.
    let mut claims = keycloak_claims(&issuer, "global", &["editor"]);
    claims["realm_access"] = json!({"roles": ["guarded_consumer"]});
    let response = app
        .post(
            "/projects/global/belts",
            &sign_with("rsa-a", &claims),
            &body,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut claims = keycloak_claims(&issuer, "global", &["editor"]);
    claims["resource_access"]["harvester"] = json!({"roles": ["guarded_editor"]});
    body["name"] = json!("guarded-2");
    let response = app
        .post(
            "/projects/global/belts",
            &sign_with("rsa-a", &claims),
            &body,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn a_registry_that_does_not_answer_is_503_and_nothing_is_stored(backend: Backend) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(10)))
        .mount(&server)
        .await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            harvester_url: Some(server.uri()),
            ..Default::default()
        },
    )
    .await;
    let token = app.editor();
    let response = app
        .post("/projects/global/belts", &token, &minimal_belt("slow"))
        .await;
    let message = assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    assert!(message.contains("registry"), "{message}");
    let (_, list) = json_of(app.get("/projects/global/belts", &token).await).await;
    assert_eq!(list["totalCount"], 0);

    // A registry that is not there at all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = TestApp::spawn_with(
        backend,
        Options {
            harvester_url: Some(format!("http://127.0.0.1:{port}")),
            ..Default::default()
        },
    )
    .await;
    let response = app
        .post(
            "/projects/global/belts",
            &app.editor(),
            &minimal_belt("gone"),
        )
        .await;
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
}
