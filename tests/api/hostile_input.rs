//! Input that one database accepts and the other refuses (NUL above all: PostgreSQL's text cannot
//! hold it) gets the same 400 naming the parameter on both, and never reaches the store.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    nul_in_any_query_parameter_is_a_400_naming_it,
    nul_in_any_body_field_is_a_400_naming_it_and_nothing_is_stored,
    odd_and_long_searches_answer_alike,
    a_token_name_with_nul_is_refused_before_it_is_stored,
);

async fn nul_in_any_query_parameter_is_a_400_naming_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create_belt("global", &minimal_belt("à-belt")).await;
    let id = created["id"].as_str().unwrap();
    let token = app.editor();
    for (path, parameter) in [
        // The finding: a 500 on PostgreSQL.
        (
            "/projects/global/belts?search=%C3%A0%00".to_string(),
            "search",
        ),
        ("/belts?search=%00".to_string(), "search"),
        ("/belts?search=a%00b&pagesize=5".to_string(), "search"),
        ("/belts?pagesize=1%00".to_string(), "pagesize"),
        ("/belts?offset=%00".to_string(), "offset"),
        ("/belts?expand=RUNNING%00".to_string(), "expand"),
        ("/belts?exclude=status%00".to_string(), "exclude"),
        ("/belts?unknown=%00".to_string(), "unknown"),
        (format!("/belts/{id}?export=true%00"), "export"),
        (format!("/belts/{id}/state?x=%00"), "x"),
        (format!("/belts/{id}/logs?lines=5%00"), "lines"),
    ] {
        let response = app.get(&path, &token).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert_eq!(
            message,
            format!("Parameter '{parameter}' must not contain the NUL character (\\u0000)."),
            "{path}"
        );
    }
    // The same request without NUL is fine, on both databases.
    let (status, list) = json_of(app.get("/belts?search=%C3%A0", &token).await).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["totalCount"], 1);
}

async fn nul_in_any_body_field_is_a_400_naming_it_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let existing = app.create_belt("global", &minimal_belt("kept")).await;
    let id = existing["id"].as_str().unwrap();
    let base = || minimal_belt("nul");
    let mut cases: Vec<(&str, Value)> = Vec::new();
    for field in [
        "name",
        "description",
        "extractorFn",
        "requirementsPy",
        "secret",
        "secretUsername",
        "secretPassword",
        "parameter",
        "image",
        "extractorVersion",
        "profileType",
        "kafkaDestinationTopic",
        "assumedRole",
        "beltType",
        "runtime",
        "imagePullSecret",
        "fetchProfile",
        "replicas",
        "volumes",
        "author",
    ] {
        cases.push((field, json!("x\u{0}y")));
    }
    cases.push(("eventTypes", json!(["test-a", "b\u{0}"])));
    cases.push(("labels", json!(["\u{0}"])));
    cases.push(("affectedPaths", json!(["/a\u{0}"])));
    cases.push((
        "volumes",
        json!({"volumes": [{"name": "v\u{0}", "emptyDir": {}}]}),
    ));
    cases.push((
        "extraEnv",
        json!([{"name": "A", "value": "before\u{0}after"}]),
    ));
    cases.push((
        "partitionOffsets",
        json!({"grnry_data_in_test-a\u{0}": [1]}),
    ));
    cases.push(("outputTypes", json!([{"name": "o\u{0}"}])));
    for (field, value) in cases {
        let mut body = base();
        body[field] = value;
        for (method, path) in [
            (Method::POST, "/projects/global/belts".to_string()),
            (Method::PUT, format!("/projects/global/belts/{id}")),
        ] {
            let response = app
                .request(method.clone(), &path, Some(&token))
                .json(&body)
                .send()
                .await
                .unwrap();
            let message =
                assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
            assert_eq!(
                message,
                format!("Parameter '{field}' must not contain the NUL character (\\u0000)."),
                "{method} {field}"
            );
        }
    }
    let response = app
        .post(
            &format!("/projects/global/belts/{id}/state"),
            &token,
            &json!({"action": "START\u{0}"}),
        )
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.contains("'action'"), "{message}");
    // Nothing was stored, nothing changed.
    let (_, list) = json_of(app.get("/belts", &token).await).await;
    assert_eq!(list["totalCount"], 1, "{list}");
    let (_, kept) = json_of(app.get(&format!("/belts/{id}"), &token).await).await;
    assert_eq!(kept["version"], "1");
}

async fn odd_and_long_searches_answer_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let names = [
        "back\\slash",
        "per%cent",
        "under_score",
        "quo'te",
        "ÀÉÎ accents",
        "emoji 🦀 crab",
        "İstanbul",
        "ß-strasse",
        "tab\u{ad}soft-hyphen",
    ];
    for name in names {
        app.create_belt("global", &minimal_belt(name)).await;
    }
    let long_name: String = "Ǆ".repeat(255);
    app.create_belt("global", &minimal_belt(&long_name)).await;
    for (search, expected) in [
        ("\\", 1),
        ("%", 1),
        ("_", 1),
        ("'", 1),
        ("àéî", 1),
        ("🦀", 1),
        ("i\u{307}stanbul", 1),
        ("ß", 1),
        ("\u{ad}", 1),
        ("ǆǆǆ", 1),
        ("\u{ffff}", 0),
        ("\u{10ffff}", 0),
        ("\u{1}", 0),
        ("%%__\\\\", 0),
    ] {
        let response = app
            .request(Method::GET, "/belts", Some(&token))
            .query(&[("search", search)])
            .send()
            .await
            .unwrap();
        let (status, list) = json_of(response).await;
        assert_eq!(status, StatusCode::OK, "{search:?}: {list}");
        assert_eq!(list["totalCount"], expected, "{search:?}: {list}");
    }
    let longest = "ǆ".repeat(1024);
    let response = app
        .request(Method::GET, "/belts", Some(&token))
        .query(&[("search", longest.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let too_long = "ǆ".repeat(1025);
    let response = app
        .request(Method::GET, "/belts", Some(&token))
        .query(&[("search", too_long.as_str())])
        .send()
        .await
        .unwrap();
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert_eq!(
        message,
        "Parameter 'search' must be at most 1024 characters long but has 1025."
    );
    // Numbers past every integer type are a 400 too, never a database error.
    for path in [
        "/belts?offset=99999999999999999999999",
        "/belts?offset=9223372036854775808",
        "/belts/99999999999999999999999",
        "/belts/9223372036854775808/state",
    ] {
        let response = app.get(path, &token).await;
        assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    }
    let mut body = minimal_belt("huge");
    body["replicas"] = json!(1e300);
    let response = app.post("/belts", &token, &body).await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.contains("'replicas'"), "{message}");
}

async fn a_token_name_with_nul_is_refused_before_it_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut claims = keycloak_claims(&app.idp.as_ref().unwrap().issuer(), "global", &["editor"]);
    claims["name"] = json!("Mallory\u{0}");
    let token = sign_with("rsa-a", &claims);
    let response = app.post("/belts", &token, &minimal_belt("by-nul")).await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_header_value").await;
    assert_eq!(
        message,
        "Token claim 'name' must not contain the NUL character (\\u0000)."
    );
    let (_, list) = json_of(app.get("/belts", &app.editor()).await).await;
    assert_eq!(list["totalCount"], 0);
}
