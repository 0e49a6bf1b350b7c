//! Unauthenticated service endpoints and the OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    health_ready_and_metrics_answer_without_a_token,
    openapi_is_served_and_covers_every_endpoint,
    swagger_ui_is_served_from_the_binary,
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
    let metrics = app
        .request(Method::GET, "/metrics", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"belt_api_http_requests_total{method="POST",route="/projects/{project}/belts",status="200"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"route="/projects/{project}/belts/{id}",status="400""#));
    assert!(metrics.contains("belt_api_http_request_duration_seconds_bucket"));
    // The reconciler ran at least its startup pass and counted the belts by status.
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
