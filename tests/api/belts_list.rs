//! Listing: search, paging, links, expand, exclude.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    pages_are_ordered_by_id_and_linked,
    search_is_a_case_insensitive_literal_substring,
    search_results_follow_every_write,
    expand_filters_the_page_by_state,
    exclude_status_drops_the_status,
    bad_list_parameters_are_named,
    links_honour_trusted_forwarded_hosts_only,
);

fn hrefs(list: &Value) -> (String, Option<String>, Option<String>) {
    let links = &list["_links"];
    (
        links["self"]["href"].as_str().unwrap().to_string(),
        links["next"]["href"].as_str().map(str::to_string),
        links["prev"]["href"].as_str().map(str::to_string),
    )
}

async fn pages_are_ordered_by_id_and_linked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.viewer();
    for n in 0..5 {
        app.create_belt("global", &minimal_belt(&format!("belt-{n}")))
            .await;
    }
    let (status, first) = json_of(app.get("/projects/global/belts?pagesize=2", &token).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["totalCount"], 5);
    let ids: Vec<i64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1]);
    let (this, next, prev) = hrefs(&first);
    let base = format!("{}/projects/global/belts", app.address);
    assert_eq!(this, format!("{base}?offset=0&pagesize=2&expand="));
    assert_eq!(
        next.as_deref(),
        Some(format!("{base}?offset=2&pagesize=2&expand=").as_str())
    );
    assert_eq!(prev, None);

    // Follow next links to the end; every belt is seen once, in id order.
    let mut seen = ids.clone();
    let mut href = next;
    while let Some(url) = href {
        let path = url.strip_prefix(&app.address).unwrap().to_string();
        let (_, page) = json_of(app.get(&path, &token).await).await;
        assert!(hrefs(&page).2.is_some(), "a later page links back");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["id"].as_str().unwrap().parse::<i64>().unwrap()),
        );
        href = hrefs(&page).1;
    }
    assert_eq!(seen.len(), 5);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");

    let (_, last) = json_of(
        app.get("/projects/global/belts?pagesize=2&offset=4", &token)
            .await,
    )
    .await;
    let (_, next, prev) = hrefs(&last);
    assert_eq!(next, None);
    assert_eq!(
        prev.as_deref(),
        Some(format!("{base}?offset=2&pagesize=2&expand=").as_str())
    );

    let (_, beyond) = json_of(app.get("/projects/global/belts?offset=50", &token).await).await;
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["totalCount"], 5);

    let (_, default) = json_of(app.get("/projects/global/belts", &token).await).await;
    assert!(hrefs(&default).0.contains("pagesize=20"));
}

async fn search_is_a_case_insensitive_literal_substring(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.viewer();
    for name in [
        "Kafka_Reader",
        "kafkareader",
        "100% belt",
        "plain",
        "ÜBER-belt",
    ] {
        app.create_belt("global", &minimal_belt(name)).await;
    }
    let names = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, list) = json_of(app.get("/projects/global/belts?search=KAFKA", &token).await).await;
    assert_eq!(names(&list), ["Kafka_Reader", "kafkareader"]);
    assert_eq!(list["totalCount"], 2);
    // `_` and `%` are literal, not wildcards.
    let (_, list) = json_of(app.get("/projects/global/belts?search=a_r", &token).await).await;
    assert_eq!(names(&list), ["Kafka_Reader"]);
    let (_, list) = json_of(app.get("/projects/global/belts?search=0%25", &token).await).await;
    assert_eq!(names(&list), ["100% belt"]);
    let (_, list) = json_of(
        app.get("/projects/global/belts?search=%C3%BCber", &token)
            .await,
    )
    .await;
    assert_eq!(names(&list), ["ÜBER-belt"]);
    let (_, list) = json_of(
        app.get("/projects/global/belts?search=nothing", &token)
            .await,
    )
    .await;
    assert_eq!(list["totalCount"], 0);
    // The search travels in the links.
    assert!(hrefs(&list).0.contains("search=nothing"));
}

async fn expand_filters_the_page_by_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.viewer();
    app.create_belt("global", &minimal_belt("one")).await;
    app.create_belt("global", &minimal_belt("two")).await;
    let (_, list) = json_of(
        app.get("/projects/global/belts?expand=STOPPED,totalCount", &token)
            .await,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let (_, list) = json_of(
        app.get(
            "/projects/global/belts?expand=RUNNING&expand=FAILED",
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(list["items"], json!([]));
    assert!(
        hrefs(&list).0.contains("expand=RUNNING%2CFAILED"),
        "{}",
        hrefs(&list).0
    );
    let (_, list) = json_of(
        app.get("/projects/global/belts?expand=totalCount", &token)
            .await,
    )
    .await;
    assert_eq!(list["totalCount"], 2);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}

async fn exclude_status_drops_the_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_belt("global", &minimal_belt("one")).await;
    let (_, list) = json_of(
        app.get("/projects/global/belts?exclude=status", &app.viewer())
            .await,
    )
    .await;
    let item = &list["items"][0];
    assert!(item.get("status").is_none(), "{item}");
    assert_eq!(item["name"], "one");
    assert!(hrefs(&list).0.contains("exclude=status"));
}

async fn bad_list_parameters_are_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.viewer();
    for (query, message) in [
        (
            "pagesize=-1",
            "Parameter 'pagesize' must be a natural number but is '-1'.",
        ),
        (
            "pagesize=abc",
            "Parameter 'pagesize' must be a natural number but is 'abc'.",
        ),
        (
            "pagesize=251",
            "Parameter 'pagesize' must be a natural number but is '251'.",
        ),
        (
            "pagesize=0",
            "Parameter 'pagesize' must be a natural number but is '0'.",
        ),
        (
            "offset=-5",
            "Parameter 'offset' must be a natural number but is '-5'.",
        ),
    ] {
        let response = app
            .get(&format!("/projects/global/belts?{query}"), &token)
            .await;
        let actual = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert_eq!(actual, message);
    }
    for query in ["expand=SLEEPING", "exclude=name"] {
        let response = app
            .get(&format!("/projects/global/belts?{query}"), &token)
            .await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(
            message.contains(&format!("'{}'", &query[..query.find('=').unwrap()])),
            "{message}"
        );
    }
    let ok = app.get("/projects/global/belts?pagesize=250", &token).await;
    assert_eq!(ok.status(), StatusCode::OK);
}

async fn links_honour_trusted_forwarded_hosts_only(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            trusted_hosts: vec!["api.grnry.io".into()],
            ..Default::default()
        },
    )
    .await;
    let token = app.editor();
    let belt = app.create_belt("global", &minimal_belt("linked")).await;
    let id = belt["id"].as_str().unwrap();
    let response = app
        .request(reqwest::Method::GET, "/projects/global/belts", Some(&token))
        .header("X-Forwarded-Host", "api.grnry.io")
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    let (_, list) = json_of(response).await;
    assert_eq!(
        list["items"][0]["_links"]["self"]["href"],
        format!("https://api.grnry.io/projects/global/belts/{id}")
    );
    assert!(hrefs(&list)
        .0
        .starts_with("https://api.grnry.io/projects/global/belts?"));

    let response = app
        .request(reqwest::Method::GET, "/projects/global/belts", Some(&token))
        .header("X-Forwarded-Host", "evil.example")
        .send()
        .await
        .unwrap();
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_header_value").await;
    assert!(message.contains("evil.example"), "{message}");

    let response = app
        .request(
            reqwest::Method::GET,
            &format!("/projects/global/belts/{id}"),
            Some(&token),
        )
        .header("Forwarded", "host=evil.example;proto=https")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "bad_header_value").await;
}

/// Listing remembers the ids a search matched until the project's roster revision moves; every
/// kind of write, including SQL an operator runs by hand, must move it.
async fn search_results_follow_every_write(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (viewer, editor) = (app.viewer(), app.editor());
    let mut ids = Vec::new();
    for name in ["alpha-1", "alpha-2", "beta"] {
        let belt = app.create_belt("global", &minimal_belt(name)).await;
        ids.push(belt["id"].as_str().unwrap().to_string());
    }
    let search = |term: &'static str| {
        let app = &app;
        let viewer = viewer.clone();
        async move {
            let path = format!("/projects/global/belts?search={term}&exclude=status");
            let (status, list) = json_of(app.get(&path, &viewer).await).await;
            assert_eq!(status, StatusCode::OK, "{list}");
            let names: Vec<String> = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["name"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(list["totalCount"], names.len(), "{list}");
            (names, list)
        }
    };
    assert_eq!(search("ALPHA").await.0, ["alpha-1", "alpha-2"]);

    app.create_belt("global", &minimal_belt("alpha-3")).await;
    assert_eq!(search("ALPHA").await.0, ["alpha-1", "alpha-2", "alpha-3"]);

    let renamed = app
        .put(
            &format!("/projects/global/belts/{}", ids[0]),
            &editor,
            &minimal_belt("gamma"),
        )
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(search("ALPHA").await.0, ["alpha-2", "alpha-3"]);
    assert_eq!(search("gam").await.0, ["gamma"]);

    // Changing anything but the name keeps the ids, and the page still shows the new content.
    let mut described = minimal_belt("alpha-2");
    described["description"] = json!("now described");
    let updated = app
        .put(
            &format!("/projects/global/belts/{}", ids[1]),
            &editor,
            &described,
        )
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let (names, list) = search("ALPHA").await;
    assert_eq!(names, ["alpha-2", "alpha-3"]);
    assert_eq!(list["items"][0]["description"], "now described");

    let deleted = app
        .delete(&format!("/projects/global/belts/{}", ids[1]), &editor)
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(search("ALPHA").await.0, ["alpha-3"]);

    // Another project's writes do not show here.
    app.create_belt("other", &minimal_belt("alpha-elsewhere"))
        .await;
    assert_eq!(search("ALPHA").await.0, ["alpha-3"]);

    // An operator renames and deletes by hand; the database's triggers move the revision.
    let statements = [
        format!(
            "UPDATE belts SET name = 'beta-alpha', name_folded = 'beta-alpha' WHERE id = {}",
            ids[2]
        ),
        "DELETE FROM belts WHERE name = 'alpha-3'".to_string(),
    ];
    run_sql(&app, &statements[0]).await;
    // Found by its new name_folded; the spec it answers with still says "beta".
    assert_eq!(search("ALPHA").await.0, ["beta", "alpha-3"]);
    run_sql(&app, &statements[1]).await;
    let (names, list) = search("ALPHA").await;
    assert_eq!(names, ["beta"]);
    assert_eq!(list["totalCount"], 1);
}

/// One statement straight against the test's database, as an operator would run it.
async fn run_sql(app: &TestApp, statement: &str) {
    match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
            sqlx::query(statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
            sqlx::query(statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}
