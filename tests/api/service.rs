//! Unauthenticated service endpoints and the OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    health_ready_and_metrics_answer_without_a_token,
    openapi_is_served_and_covers_every_endpoint,
    swagger_ui_is_served_from_the_binary,
    openapi_documents_the_statuses_and_content_types_the_service_answers,
);

async fn health_ready_and_metrics_answer_without_a_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/health", "/ready"] {
        let (status, body) =
            json_of(app.request(Method::GET, path, None).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body["status"], "UP");
    }
    app.create_belt("global", &minimal_belt("counted")).await;
    let _ = app.get("/projects/global/belts/abcd", &app.editor()).await;
    let metrics = metrics_of(&app).await;
    assert!(
        metrics.contains(r#"belt_api_http_requests_total{method="POST",route="/projects/{project}/belts",status="200"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"route="/projects/{project}/belts/{id}",status="400""#));
    assert!(metrics.contains("belt_api_http_request_duration_seconds_bucket"));
    // The reconciler runs its startup pass beside the server, so the first requests may come
    // before it is counted: wait for it (bounded), then check what it counted.
    let mut metrics = metrics;
    for _ in 0..100 {
        if metrics.contains(r#"belt_api_reconciles_total{outcome="ok"}"#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        metrics = metrics_of(&app).await;
    }
    assert!(
        metrics.contains(r#"belt_api_reconciles_total{outcome="ok"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("belt_api_reconcile_duration_seconds_bucket"));
    assert!(
        metrics.contains(r#"belt_api_belts{status="STOPPED"}"#),
        "{metrics}"
    );
}

async fn metrics_of(app: &TestApp) -> String {
    let metrics = app.request(Method::GET, "/metrics", None).send().await;
    metrics.unwrap().text().await.unwrap()
}

async fn openapi_is_served_and_covers_every_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, served) = json_of(
        app.request(Method::GET, "/openapi.json", None)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    let committed: Value = serde_json::from_slice(
        &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        served, committed,
        "the served document is the committed one"
    );
    let paths = served["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/projects/{project}/belts", &["get", "post"][..]),
        (
            "/projects/{project}/belts/{id}",
            &["get", "post", "put", "delete"][..],
        ),
        ("/projects/{project}/belts/{id}/state", &["get"][..]),
        ("/belts", &["get", "post"][..]),
        ("/belts/{id}", &["get", "post", "put", "delete"][..]),
        ("/belts/{id}/state", &["get"][..]),
        ("/health", &["get"][..]),
        ("/ready", &["get"][..]),
        ("/metrics", &["get"][..]),
    ] {
        for method in methods {
            let operation = &paths[path][*method];
            assert!(operation.is_object(), "{method} {path} is documented");
            assert!(operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()));
        }
    }
    let schemas = served["components"]["schemas"].as_object().unwrap();
    for schema in ["BeltDocument", "BeltBody", "BeltList", "ErrorBody"] {
        assert!(schemas.contains_key(schema), "{schema}");
    }
}

async fn swagger_ui_is_served_from_the_binary(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .request(Method::GET, "/docs/", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("cdn."), "no CDN");
    let redirect = app
        .request(Method::GET, "/docs", None)
        .send()
        .await
        .unwrap();
    assert!(redirect.status().is_redirection() || redirect.status().is_success());
}

/// The answers the hostile run saw undocumented: a bad id on `GET …/state` and `DELETE`, and the
/// content type of `/metrics`; and, for every authenticated operation, the answers of the layers
/// in front of its handler.
async fn openapi_documents_the_statuses_and_content_types_the_service_answers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, doc) = json_of(
        app.request(Method::GET, "/openapi.json", None)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = app.editor();
    for (method, path, documented) in [
        (Method::GET, "/belts/abcd/state", "/belts/{id}/state"),
        (Method::DELETE, "/belts/abcd", "/belts/{id}"),
        (
            Method::GET,
            "/projects/global/belts/abcd/state",
            "/projects/{project}/belts/{id}/state",
        ),
        (
            Method::DELETE,
            "/projects/global/belts/abcd",
            "/projects/{project}/belts/{id}",
        ),
    ] {
        let response = app
            .request(method.clone(), path, Some(&token))
            .send()
            .await
            .unwrap();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{method} {path}"
        );
        let answer = &doc["paths"][documented][method.as_str().to_lowercase()]["responses"]["400"];
        assert!(
            answer.is_object(),
            "{method} {documented} documents its 400"
        );
        assert!(
            answer["content"][content_type.as_str()].is_object(),
            "{method} {documented}: 400 as {content_type}: {answer}"
        );
    }
    let metrics = app
        .request(Method::GET, "/metrics", None)
        .send()
        .await
        .unwrap();
    let content_type = metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    let media_type = content_type.split(';').next().unwrap().trim();
    assert_eq!(media_type, "application/openmetrics-text");
    assert!(
        doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"][media_type].is_object(),
        "/metrics documents {media_type}"
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("security").is_none() {
                continue;
            }
            let responses = operation["responses"].as_object().unwrap();
            for status in ["400", "401", "403", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} documents {status}"
                );
            }
            if path.contains("{id}") {
                assert!(
                    responses.contains_key("404"),
                    "{method} {path} documents 404"
                );
            }
            if operation.get("requestBody").is_some() {
                assert!(
                    responses.contains_key("413"),
                    "{method} {path} documents 413"
                );
            }
        }
    }
}
